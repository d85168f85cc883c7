//! The sending half of a call, sans-IO: 48 kHz mono samples in, media datagrams out.
//!
//! Frames are gated by voice activity, so a silent player costs no bandwidth and receivers'
//! speaker lists follow who really talks. One frame of pre-roll is kept so the first syllable
//! is not clipped by the VAD's onset confirmation, and the last frame of a talkspurt carries a
//! cleared speaking flag so receivers end it cleanly instead of concealing a loss.

use crate::audio::codec::{EncoderConfig, VoiceEncoder, MAX_PACKET_BYTES};
use crate::audio::vad::{Vad, VadConfig};
use crate::error::VoipError;
use crate::net::media::{encode_uplink, AudioHeader};

/// What the capture side did with one frame, for statistics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub frames: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
}

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

    /// Codec delay added on the sending side, in samples (for latency budgets).
    pub fn lookahead_samples(&self) -> usize {
        self.encoder.lookahead_samples()
    }

    /// Consumes samples; `send` receives each datagram to put on the wire. While `muted`,
    /// frames are analysed for nothing and nothing is sent: no media leaves the machine.
    pub fn push(
        &mut self,
        samples: &[f32],
        muted: bool,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<(), VoipError> {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= self.frame_samples {
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
            seq: self.seq,
            timestamp,
        };
        encode_uplink(header, &self.packet[..len], &mut self.datagram);
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += self.datagram.len() as u64;
        send(&self.datagram);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::media::UPLINK_HEADER;

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
