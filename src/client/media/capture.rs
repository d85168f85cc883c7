//! The sending half of a call, sans-IO: 48 kHz mono samples in, media datagrams out.
//!
//! Frames are gated by voice activity, so a silent player costs no bandwidth and receivers'
//! speaker lists follow who really talks. One frame of pre-roll is kept so the first syllable
//! is not clipped by the VAD's onset confirmation, and the last frame of a talkspurt carries a
//! cleared speaking flag so receivers end it cleanly instead of concealing a loss.
//!
//! While receivers report heavy loss ([`CapturePipeline::set_repeats`]), every datagram is sent
//! a second time half a frame later, flagged as a repeat (RED-style redundancy, RFC 2198's idea
//! with the whole frame): a lost frame then comes back at full quality, not as Opus's coarser
//! in-band FEC, and a frame is lost only when both copies are.

use crate::audio::codec::{expected_loss_for, EncoderConfig, VoiceEncoder, MAX_PACKET_BYTES};
use crate::audio::vad::{Vad, VadConfig};
use crate::error::VoipError;
use crate::net::media::{encode_uplink, mark_repeat, AudioHeader};

/// What the capture side did with one frame, for statistics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub frames: u64,
    /// Datagrams sent once each (repeats not counted).
    pub packets_sent: u64,
    /// Every byte sent, repeats included: what the call costs on the wire.
    pub bytes_sent: u64,
    /// Second copies sent while repeating.
    pub repeats_sent: u64,
}

/// Receivers' loss (per mille, the room's worst report) from which every datagram is sent
/// twice. Below it Opus's in-band FEC alone is the better use of the bits; from 5 % the repeat's
/// full-quality frame, lost only with its copy (0.25 % of frames at 5 %, 1 % at 10 %), is worth
/// the second copy's bandwidth (BENCHMARKS.md, issue 18).
pub const REPEAT_FROM_PERMILLE: u16 = 50;
/// Repeating stops when the reported loss falls below this: well apart from
/// [`REPEAT_FROM_PERMILLE`], so a link near the threshold does not switch at every report.
pub const REPEAT_UNTIL_PERMILLE: u16 = 20;

/// At most this many datagrams are sent per frame: the frame, and at an onset its pre-roll.
const DATAGRAMS_PER_FRAME: usize = 2;

/// The voice activity detector looks at 10 ms at a time, whatever the frame length. It needs
/// two consecutive loud steps to start speech (rejecting clicks); counted in 20 ms frames that
/// was 40 ms of a word's onset, the first 20 ms of it only in the late pre-roll. In 10 ms
/// steps, a word that starts in a frame's first half makes that frame itself speech.
const VAD_STEP_SAMPLES: usize = 480;

/// The detector's decision at the end of `frame`, fed in [`VAD_STEP_SAMPLES`] steps.
pub fn vad_decides(vad: &mut Vad, frame: &[f32]) -> bool {
    let mut speaking = vad.is_speaking();
    for step in frame.chunks(VAD_STEP_SAMPLES) {
        speaking = vad.process(step);
    }
    speaking
}

struct Flags {
    speaking: bool,
    backfill: bool,
}

pub struct CapturePipeline {
    frame_samples: usize,
    pending: Vec<f32>,
    /// The last frame not sent, kept as pre-roll for the next onset.
    previous: Vec<f32>,
    has_previous: bool,
    vad: Vad,
    encoder: VoiceEncoder,
    seq: u16,
    /// The sender's sample clock: runs on through silence, so receivers see pauses as jumps.
    timestamp: u32,
    transmitting: bool,
    speaking: bool,
    packet: Vec<u8>,
    datagram: Vec<u8>,
    /// Whether each datagram goes out again half a frame later.
    repeating: bool,
    /// The datagrams of the frame being sent, and those of the previous frame, due once half
    /// of the next has been captured: `[0..n]` of each in use, buffers reused.
    repeat_next: [Vec<u8>; DATAGRAMS_PER_FRAME],
    repeat_next_len: usize,
    repeat_due: [Vec<u8>; DATAGRAMS_PER_FRAME],
    repeat_due_len: usize,
    stats: CaptureStats,
}

impl CapturePipeline {
    pub fn new(frame_samples: usize) -> Result<Self, VoipError> {
        let encoder = VoiceEncoder::new(EncoderConfig {
            frame_samples,
            ..EncoderConfig::default()
        })?;
        Ok(Self {
            frame_samples,
            pending: Vec::with_capacity(frame_samples * 4),
            previous: vec![0.0; frame_samples],
            has_previous: false,
            vad: Vad::new(VadConfig {
                frame_samples: VAD_STEP_SAMPLES,
                ..VadConfig::default()
            }),
            encoder,
            seq: 0,
            timestamp: 0,
            transmitting: false,
            speaking: false,
            packet: vec![0; MAX_PACKET_BYTES],
            datagram: Vec::with_capacity(MAX_PACKET_BYTES + 16),
            repeating: false,
            repeat_next: std::array::from_fn(|_| Vec::with_capacity(MAX_PACKET_BYTES + 16)),
            repeat_next_len: 0,
            repeat_due: std::array::from_fn(|_| Vec::with_capacity(MAX_PACKET_BYTES + 16)),
            repeat_due_len: 0,
            stats: CaptureStats::default(),
        })
    }

    /// Whether the user is speaking now (false while muted).
    pub fn speaking(&self) -> bool {
        self.speaking
    }

    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// Opus's expected-loss setting, from what receivers report.
    pub fn set_expected_loss(&mut self, percent: u8) {
        self.encoder.set_expected_loss(percent);
    }

    /// The expected loss the encoder spends FEC for now (0: none in the packets).
    pub fn expected_loss(&self) -> u8 {
        self.encoder.expected_loss()
    }

    /// Protection for the loss receivers report (per mille, the room's worst): a second copy of
    /// every datagram when it is heavy (see [`REPEAT_FROM_PERMILLE`]), else in-band FEC for
    /// it. While repeating, the encoder spends nothing on FEC: a frame's FEC travels in the next
    /// frame's packet, after the frame's repeat, and would repair only the frames whose both
    /// copies were lost (1 % at 10 % loss) at a coarser quality, while the receiver would have
    /// to wait a whole frame for it instead of half; its bits are better spent on the frames.
    pub fn set_reported_loss(&mut self, permille: u16) {
        let repeat = if self.repeating {
            permille >= REPEAT_UNTIL_PERMILLE
        } else {
            permille >= REPEAT_FROM_PERMILLE
        };
        self.set_repeats(repeat);
        self.set_expected_loss(if repeat {
            0
        } else {
            expected_loss_for(permille)
        });
    }

    /// Sends every datagram a second time, half a frame later, from the next frame on (or stops).
    pub fn set_repeats(&mut self, on: bool) {
        self.repeating = on;
    }

    /// Whether datagrams are being repeated.
    pub fn repeating(&self) -> bool {
        self.repeating
    }

    /// Codec delay added on the sending side, in samples (for latency budgets).
    pub fn lookahead_samples(&self) -> usize {
        self.encoder.lookahead_samples()
    }

    /// Consumes samples; `send` receives each datagram to put on the wire. While `muted`,
    /// frames are analysed for nothing and nothing is sent: no media leaves the machine.
    ///
    /// The sample clock is also the repeats' timer: the previous frame's copies go out once
    /// half of the next frame has been pushed, so a caller pushing 10 ms or less at a time
    /// (the device pump, an engine's audio thread) sends them half a frame after the originals,
    /// and one pushing whole frames sends them just before the next frame's datagrams.
    pub fn push(
        &mut self,
        samples: &[f32],
        muted: bool,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<(), VoipError> {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        loop {
            let buffered = self.pending.len() - start;
            if buffered >= self.frame_samples / 2 {
                self.send_repeats_due(muted, send);
            }
            if buffered < self.frame_samples {
                break;
            }
            let end = start + self.frame_samples;
            let frame = std::mem::take(&mut self.pending);
            let result = self.process_frame(&frame[start..end], muted, send);
            self.pending = frame;
            result?;
            start = end;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Sends the previous frame's second copies, unless muted since: then nothing leaves the
    /// machine, second copies included.
    fn send_repeats_due(&mut self, muted: bool, send: &mut dyn FnMut(&[u8])) {
        if !muted {
            for datagram in &self.repeat_due[..self.repeat_due_len] {
                self.stats.repeats_sent += 1;
                self.stats.bytes_sent += datagram.len() as u64;
                send(datagram);
            }
        }
        self.repeat_due_len = 0;
    }

    fn process_frame(
        &mut self,
        frame: &[f32],
        muted: bool,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<(), VoipError> {
        self.stats.frames += 1;
        let active = vad_decides(&mut self.vad, frame) && !muted;
        self.speaking = active;
        if active && !self.transmitting && self.has_previous {
            // Onset: send the frame before it first, so the word's start is not lost. Its
            // timestamp is the one just before this frame's.
            let previous = std::mem::take(&mut self.previous);
            let timestamp = self.timestamp.wrapping_sub(self.frame_samples as u32);
            let result = self.send_frame(
                &previous,
                timestamp,
                Flags {
                    speaking: true,
                    backfill: true,
                },
                send,
            );
            self.previous = previous;
            result?;
        }
        if active {
            self.send_frame(
                frame,
                self.timestamp,
                Flags {
                    speaking: true,
                    backfill: false,
                },
                send,
            )?;
        } else if self.transmitting && !muted {
            // End of a talkspurt: one more frame with the flag cleared.
            self.send_frame(
                frame,
                self.timestamp,
                Flags {
                    speaking: false,
                    backfill: false,
                },
                send,
            )?;
        }
        self.transmitting = active;
        if !active {
            self.previous.copy_from_slice(frame);
        }
        self.has_previous = !active;
        self.timestamp = self.timestamp.wrapping_add(self.frame_samples as u32);
        // This frame's copies are due half a frame on (`push` sent the previous frame's).
        std::mem::swap(&mut self.repeat_due, &mut self.repeat_next);
        self.repeat_due_len = self.repeat_next_len;
        self.repeat_next_len = 0;
        Ok(())
    }

    fn send_frame(
        &mut self,
        pcm: &[f32],
        timestamp: u32,
        flags: Flags,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<(), VoipError> {
        let len = self.encoder.encode(pcm, &mut self.packet)?;
        let header = AudioHeader {
            speaking: flags.speaking,
            backfill: flags.backfill,
            repeat: false,
            seq: self.seq,
            timestamp,
        };
        encode_uplink(header, &self.packet[..len], &mut self.datagram);
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += self.datagram.len() as u64;
        send(&self.datagram);
        if self.repeating && self.repeat_next_len < DATAGRAMS_PER_FRAME {
            let copy = &mut self.repeat_next[self.repeat_next_len];
            copy.clear();
            copy.extend_from_slice(&self.datagram);
            mark_repeat(copy);
            self.repeat_next_len += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::media::{FLAG_REPEAT, UPLINK_HEADER};

    const FRAME: usize = 960;

    /// A vowel-like tone: 150 Hz with harmonics, at a speaking level.
    fn voice(samples: usize, offset: usize) -> Vec<f32> {
        (0..samples)
            .map(|i| {
                let t = (i + offset) as f32 / 48_000.0;
                (1..6)
                    .map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32)
                    .sum::<f32>()
                    * 0.2
            })
            .collect()
    }

    fn run(
        pipeline: &mut CapturePipeline,
        samples: &[f32],
        muted: bool,
    ) -> Vec<(AudioHeader, usize)> {
        let mut sent = Vec::new();
        pipeline
            .push(samples, muted, &mut |d: &[u8]| {
                let header = AudioHeader {
                    speaking: d[1] & 1 != 0,
                    backfill: d[1] & 2 != 0,
                    repeat: d[1] & FLAG_REPEAT != 0,
                    seq: u16::from_be_bytes([d[2], d[3]]),
                    timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                };
                sent.push((header, d.len() - UPLINK_HEADER));
            })
            .unwrap();
        sent
    }

    #[test]
    fn silence_sends_nothing_and_speech_is_sent_with_preroll_and_an_end_marker() {
        let mut p = CapturePipeline::new(FRAME).unwrap();
        assert!(run(&mut p, &vec![0.0; FRAME * 10], false).is_empty());
        let speech = run(&mut p, &voice(FRAME * 10, 0), false);
        assert!(!speech.is_empty());
        // Pre-roll: the first packet is the (silent) frame before the onset, one frame earlier.
        let first = speech[0].0;
        assert_eq!(first.seq, 0);
        assert!(first.backfill && !speech[1].0.backfill);
        assert!(
            speech
                .windows(2)
                .all(|w| w[1].0.seq == w[0].0.seq.wrapping_add(1)),
            "consecutive seqs"
        );
        assert!(speech
            .windows(2)
            .all(|w| w[1].0.timestamp == w[0].0.timestamp + FRAME as u32));
        assert!(speech.iter().all(|(h, len)| h.speaking && *len > 0));
        assert!(p.speaking());
        // After the speech: the hold keeps sending for a while, then one frame without the flag.
        let tail = run(&mut p, &vec![0.0; FRAME * 40], false);
        let last = tail.last().unwrap().0;
        assert!(!last.speaking);
        assert!(tail[..tail.len() - 1].iter().all(|(h, _)| h.speaking));
        assert!(tail.len() < 30, "hold is bounded: {} frames", tail.len());
        assert!(!p.speaking());
        assert!(run(&mut p, &vec![0.0; FRAME * 10], false).is_empty());
    }

    /// Datagrams of one push with their payloads.
    fn run_bytes(pipeline: &mut CapturePipeline, samples: &[f32], muted: bool) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        pipeline
            .push(samples, muted, &mut |d: &[u8]| sent.push(d.to_vec()))
            .unwrap();
        sent
    }

    /// Checks that each datagram of `originals` comes again in `again`, flagged as a repeat
    /// and otherwise byte for byte.
    fn assert_repeats_of(again: &[Vec<u8>], originals: &[Vec<u8>], what: &str) {
        assert_eq!(again.len(), originals.len(), "{what}");
        for (r, o) in again.iter().zip(originals) {
            assert_eq!(r[1], o[1] | FLAG_REPEAT, "{what}");
            assert_eq!((&r[..1], &r[2..]), (&o[..1], &o[2..]), "{what}");
        }
    }

    #[test]
    fn repeating_sends_each_datagram_again_half_a_frame_later() {
        const HALF: usize = FRAME / 2;
        let mut p = CapturePipeline::new(FRAME).unwrap();
        run(&mut p, &vec![0.0; FRAME * 10], false);
        p.set_repeats(true);
        assert!(p.repeating());
        let speech = voice(FRAME * 10, 0);
        // Pushed half a frame at a time: the pushes completing a frame send its datagrams, the
        // ones after them those datagrams again, flagged, and nothing else.
        let steps: Vec<Vec<Vec<u8>>> = speech
            .chunks(HALF)
            .map(|f| run_bytes(&mut p, f, false))
            .collect();
        let onset = steps.iter().position(|s| !s.is_empty()).unwrap();
        assert_eq!(onset % 2, 1, "originals go out when a frame is complete");
        assert_eq!(steps[onset].len(), 2, "pre-roll and frame");
        for k in (onset..steps.len()).step_by(2) {
            assert!(steps[k].iter().all(|d| d[1] & FLAG_REPEAT == 0), "step {k}");
            if k + 1 < steps.len() {
                assert_repeats_of(&steps[k + 1], &steps[k], &format!("step {k}"));
            }
        }
        let before = p.stats();
        assert_eq!(
            before.repeats_sent,
            before.packets_sent - 1,
            "the last one is due"
        );
        // The talkspurt's last datagram is repeated half a frame on, and then nothing.
        let mut tail = Vec::new();
        for f in vec![0.0; FRAME * 40].chunks(HALF) {
            tail.push(run_bytes(&mut p, f, false));
        }
        let end = tail
            .iter()
            .rposition(|s| s.iter().any(|d| d[1] & FLAG_REPEAT == 0))
            .unwrap();
        assert_repeats_of(&tail[end + 1], &tail[end], "the end marker");
        assert!(tail[end + 2..].iter().all(|s| s.is_empty()));
        assert_eq!(p.stats().repeats_sent, p.stats().packets_sent);

        // Off again: no more second copies (the last frame's goes, then none).
        p.set_repeats(false);
        let mut after = 0;
        for f in voice(FRAME * 10, 0).chunks(HALF) {
            after += repeats(&run_bytes(&mut p, f, false));
        }
        assert_eq!(after, 0);
    }

    #[test]
    fn pushed_in_whole_frames_the_repeats_go_just_before_the_next_frame() {
        let mut p = CapturePipeline::new(FRAME).unwrap();
        run(&mut p, &vec![0.0; FRAME * 10], false);
        p.set_repeats(true);
        let steps: Vec<Vec<Vec<u8>>> = voice(FRAME * 10, 0)
            .chunks(FRAME)
            .map(|f| run_bytes(&mut p, f, false))
            .collect();
        let onset = steps.iter().position(|s| !s.is_empty()).unwrap();
        for k in onset + 1..steps.len() {
            let originals = &steps[k - 1][repeats(&steps[k - 1])..];
            let (again, own) = steps[k].split_at(originals.len());
            assert_repeats_of(again, originals, &format!("step {k}"));
            assert_eq!(own.len(), 1, "step {k}: then the new frame");
            assert_eq!(own[0][1] & FLAG_REPEAT, 0);
        }
    }

    fn repeats(datagrams: &[Vec<u8>]) -> usize {
        datagrams.iter().filter(|d| d[1] & FLAG_REPEAT != 0).count()
    }

    #[test]
    fn heavy_reported_loss_turns_repeats_on_with_hysteresis_and_fec_off_while_they_run() {
        let mut p = CapturePipeline::new(FRAME).unwrap();
        p.set_reported_loss(30);
        assert!(!p.repeating());
        assert_eq!(p.expected_loss(), expected_loss_for(30));
        assert!(p.expected_loss() > 0, "FEC below the repeat threshold");
        p.set_reported_loss(REPEAT_FROM_PERMILLE);
        assert!(p.repeating());
        assert_eq!(p.expected_loss(), 0);
        // A receiver told the truth about its originals reports the same loss while repeats
        // repair it; somewhat less keeps them on, a clean link turns them off.
        p.set_reported_loss(REPEAT_UNTIL_PERMILLE);
        assert!(p.repeating());
        p.set_reported_loss(REPEAT_UNTIL_PERMILLE - 1);
        assert!(!p.repeating());
        assert_eq!(
            p.expected_loss(),
            expected_loss_for(REPEAT_UNTIL_PERMILLE - 1)
        );
    }

    #[test]
    fn a_repeat_due_while_muted_is_not_sent() {
        let mut p = CapturePipeline::new(FRAME).unwrap();
        run(&mut p, &vec![0.0; FRAME * 10], false);
        p.set_repeats(true);
        let speech = voice(FRAME * 10, 0);
        let (first, second) = speech.split_at(FRAME * 5);
        assert!(!run_bytes(&mut p, first, false).is_empty());
        assert!(run_bytes(&mut p, &second[..FRAME], true).is_empty());
    }

    #[test]
    fn muted_sends_nothing_at_all() {
        let mut p = CapturePipeline::new(FRAME).unwrap();
        assert!(run(&mut p, &voice(FRAME * 50, 0), true).is_empty());
        assert!(!p.speaking());
        assert_eq!(p.stats().packets_sent, 0);
        assert_eq!(p.stats().frames, 50);
    }

    #[test]
    fn odd_sized_pushes_are_framed_exactly() {
        let mut p = CapturePipeline::new(480).unwrap();
        // Silence first: an energy VAD takes a sound present from the very start for noise.
        let mut signal = vec![0.0; 480 * 10];
        signal.extend(voice(480 * 30, 0));
        let mut sent = 0;
        for chunk in signal.chunks(137) {
            sent += run(&mut p, chunk, false).len();
        }
        assert_eq!(p.stats().frames, 40);
        assert!(sent > 20, "{sent} frames sent");
    }
}
