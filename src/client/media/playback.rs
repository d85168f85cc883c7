//! The receiving half of a call, sans-IO: datagrams in, 48 kHz mono audio out, one stream per
//! remote member (jitter buffer, decoder) mixed on demand.
//!
//! Audio is decoded when the output asks for it, not ahead: the only buffering between a
//! packet's arrival and its playout is the jitter buffer's adaptive target, which is what
//! keeps mouth-to-ear latency at its floor on a clean link.

use std::collections::VecDeque;

use crate::audio::codec::{packet_frame_samples, VoiceDecoder, VoiceEnhancement};
use crate::audio::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::audio::mixer::Limiter;
use crate::audio::SAMPLE_RATE;
use crate::error::VoipError;
use crate::net::media::AudioHeader;

/// A member counts as speaking for this long after their last packet flagged as speech, so
/// jitter between packets does not flap the speaker list.
const SPEAKING_HOLD_US: u64 = 300_000;
/// A member pulled on their own within this long is left out of the mix, so a game that
/// spatialises some members hears each of them once.
const PULLED_ALONE_US: u64 = 1_000_000;

/// One remote member's stream: decoded at the member's own frame length, learned from their
/// packets (members may use 10 or 20 ms frames independently).
struct MemberStream {
    source: u32,
    open_id: String,
    decoding: Option<Decoding>,
    /// Decoded samples not yet played: less than one frame between calls.
    decoded: VecDeque<f32>,
    /// The time of the latest render call and the samples rendered at that time so far: an
    /// output converter filling one block may call several times with the same time, and
    /// each call's audio is heard after the previous one's.
    render_time: (u64, usize),
    last_speech_us: Option<u64>,
    pulled_alone_us: Option<u64>,
    decode_errors: u64,
    /// Figures of decoders replaced when the member changed frame length.
    earlier: JitterStats,
}

struct Decoding {
    jitter: JitterBuffer,
    decoder: VoiceDecoder,
    frame: Vec<f32>,
}

impl Decoding {
    fn new(frame_samples: usize, enhancement: VoiceEnhancement) -> Option<Self> {
        let decoder =
            VoiceDecoder::with_complexity(frame_samples, enhancement.decoder_complexity()).ok()?;
        Some(Self {
            jitter: JitterBuffer::new(JitterConfig {
                frame_samples,
                ..JitterConfig::default()
            }),
            decoder,
            frame: vec![0.0; frame_samples],
        })
    }

    fn frame_samples(&self) -> usize {
        self.frame.len()
    }
}

impl MemberStream {
    fn new(source: u32, open_id: String) -> Self {
        Self {
            source,
            open_id,
            decoding: None,
            decoded: VecDeque::with_capacity(2 * 960),
            render_time: (0, 0),
            last_speech_us: None,
            pulled_alone_us: None,
            decode_errors: 0,
            earlier: JitterStats::default(),
        }
    }

    fn insert(
        &mut self,
        header: AudioHeader,
        payload: &[u8],
        now_us: u64,
        enhancement: VoiceEnhancement,
    ) {
        let Some(frame_samples) = packet_frame_samples(payload) else {
            self.decode_errors += 1;
            return;
        };
        if self.decoding.as_ref().map(Decoding::frame_samples) != Some(frame_samples) {
            if let Some(old) = self.decoding.take() {
                self.earlier = add_stats(self.earlier, old.jitter.stats());
            }
            self.decoding = Decoding::new(frame_samples, enhancement);
        }
        let Some(decoding) = self.decoding.as_mut() else {
            return;
        };
        if header.speaking && !header.repeat {
            self.last_speech_us = Some(now_us);
        }
        if header.repeat {
            // A second copy, up to a frame later (of a pre-roll too): stands in for a lost
            // original.
            decoding.jitter.insert_repeat(
                header.seq,
                header.timestamp,
                header.speaking,
                payload,
                now_us,
            );
        } else if header.backfill {
            // The sender's pre-roll, a frame after its time: played only as far as it fits.
            decoding
                .jitter
                .insert_pre_roll(header.seq, header.timestamp, payload, now_us);
        } else {
            decoding.jitter.insert(
                header.seq,
                header.timestamp,
                header.speaking,
                payload,
                now_us,
            );
        }
    }

    /// Appends `n` samples of this member's audio to `out` (cleared first).
    fn render(&mut self, n: usize, now_us: u64, out: &mut Vec<f32>) {
        out.clear();
        let Some(d) = self.decoding.as_mut() else {
            out.resize(n, 0.0);
            return;
        };
        if self.render_time.0 != now_us {
            self.render_time = (now_us, 0);
        }
        let earlier_calls = self.render_time.1;
        self.render_time.1 += n;
        while self.decoded.len() < n {
            // The frame asked for is heard after what is already decoded, and after what
            // earlier calls at this same time rendered. (Rounded up, like the pre-roll tail, so
            // exact timing never reads as a deficit.)
            let ahead = (earlier_calls + self.decoded.len()) as u64;
            let lead_us = (ahead * 1_000_000).div_ceil(u64::from(SAMPLE_RATE));
            let mut skip = 0;
            let needed = n - self.decoded.len();
            let produced = match d.jitter.next_frame_for(now_us, lead_us, needed) {
                Playout::Packet(packet) => {
                    let result = d.decoder.decode(&packet, &mut d.frame);
                    d.jitter.recycle(packet);
                    result
                }
                Playout::Tail { packet, samples } => {
                    let result = d.decoder.decode(&packet, &mut d.frame);
                    d.jitter.recycle(packet);
                    match result {
                        Ok(produced) => {
                            skip = produced.saturating_sub(samples);
                            fade_in(&mut d.frame[skip..produced]);
                        }
                        // A frame of silence replaces what failed to decode: still only the
                        // tail's length of it, so the talkspurt keeps its timing.
                        Err(_) => skip = d.frame.len().saturating_sub(samples),
                    }
                    result
                }
                Playout::Fec(next) => {
                    let result = d.decoder.decode_fec(&next, &mut d.frame);
                    d.jitter.recycle(next);
                    result
                }
                Playout::Conceal => d.decoder.conceal(&mut d.frame),
                Playout::Wait { samples } => d.decoder.conceal_part(&mut d.frame, samples),
                Playout::Silence => {
                    // Only what this call needs: a whole frame of silence would hold a
                    // talkspurt that arrives meanwhile back until the caller's next block.
                    let samples = needed.min(d.frame.len());
                    d.frame[..samples].fill(0.0);
                    Ok(samples)
                }
            };
            let produced = produced.unwrap_or_else(|_| {
                self.decode_errors += 1;
                d.frame.fill(0.0);
                d.frame.len()
            });
            // Held to full scale: noise sent as Opus decoded to samples far outside it (RMS 5
            // from a hostile member's flood, tests/hostile.rs), which would blast a game that
            // plays the member alone and duck everyone else under the mix's limiter.
            self.decoded.extend(
                d.frame[skip..produced]
                    .iter()
                    .map(|sample| sample.clamp(-1.0, 1.0)),
            );
        }
        out.extend(self.decoded.drain(..n));
    }

    fn stats(&self) -> JitterStats {
        match &self.decoding {
            Some(d) => add_stats(self.earlier, d.jitter.stats()),
            None => self.earlier,
        }
    }
}

/// Samples over which a pre-roll tail fades in (2 ms): it starts mid-frame, and starting
/// abruptly would click.
const TAIL_FADE_SAMPLES: usize = 96;

/// Ramps the start of `samples` up from silence.
fn fade_in(samples: &mut [f32]) {
    let n = samples.len().min(TAIL_FADE_SAMPLES);
    for (i, x) in samples[..n].iter_mut().enumerate() {
        *x *= i as f32 / n as f32;
    }
}

/// Counters add up across a member's decoders; the delay figures are the current decoder's.
fn add_stats(earlier: JitterStats, now: JitterStats) -> JitterStats {
    JitterStats {
        received: earlier.received + now.received,
        lost: earlier.lost + now.lost,
        recovered: earlier.recovered + now.recovered,
        late: earlier.late + now.late,
        duplicate: earlier.duplicate + now.duplicate,
        repaired: earlier.repaired + now.repaired,
        repeats_late: earlier.repeats_late + now.repeats_late,
        concealed: earlier.concealed + now.concealed,
        dropped_for_drift: earlier.dropped_for_drift + now.dropped_for_drift,
        ..now
    }
}

/// Per-member figures for the statistics a game shows or logs.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberStats {
    pub open_id: String,
    pub jitter: JitterStats,
    pub decode_errors: u64,
}

pub struct Playback {
    members: Vec<MemberStream>,
    limiter: Limiter,
    member_audio: Vec<f32>,
    enhancement: VoiceEnhancement,
}

impl Playback {
    pub fn new() -> Self {
        Self {
            members: Vec::new(),
            limiter: Limiter::new(SAMPLE_RATE),
            member_audio: Vec::with_capacity(4 * 960),
            enhancement: VoiceEnhancement::default(),
        }
    }

    /// Runs `enhancement` on every member's stream from their next frame on, and on streams
    /// that start later.
    pub fn set_enhancement(&mut self, enhancement: VoiceEnhancement) -> Result<(), VoipError> {
        self.enhancement = enhancement;
        for decoding in self.members.iter_mut().filter_map(|m| m.decoding.as_mut()) {
            decoding.decoder.set_enhancement(enhancement)?;
        }
        Ok(())
    }

    /// Follows the room's member list: new members get a stream, departed ones lose theirs,
    /// and `me` (whose audio never comes back to us) has none.
    pub fn set_members(&mut self, members: &[(u32, String)], me: Option<u32>) {
        self.members
            .retain(|m| members.iter().any(|(source, _)| *source == m.source));
        for (source, open_id) in members {
            if Some(*source) == me || self.members.iter().any(|m| m.source == *source) {
                continue;
            }
            self.members
                .push(MemberStream::new(*source, open_id.clone()));
        }
    }

    /// Files a received frame with its member's jitter buffer; unknown sources are ignored.
    pub fn insert(&mut self, source: u32, header: AudioHeader, payload: &[u8], now_us: u64) {
        if let Some(member) = self.members.iter_mut().find(|m| m.source == source) {
            member.insert(header, payload, now_us, self.enhancement);
        }
    }

    /// Fills `out` with the mix of every member not being pulled on their own. The sum goes
    /// through a limiter, so several loud members come out quieter, never clipped.
    pub fn render_mix(&mut self, out: &mut [f32], now_us: u64) {
        out.fill(0.0);
        for member in self.members.iter_mut() {
            if member
                .pulled_alone_us
                .is_some_and(|t| now_us.saturating_sub(t) < PULLED_ALONE_US)
            {
                continue;
            }
            member.render(out.len(), now_us, &mut self.member_audio);
            for (o, &x) in out.iter_mut().zip(&self.member_audio) {
                *o += x;
            }
        }
        self.limiter.process(out);
    }

    /// Fills `out` with one member's audio alone (for engine-side 3D voice); false if there is
    /// no such member (then `out` is silence).
    pub fn render_member(&mut self, open_id: &str, out: &mut [f32], now_us: u64) -> bool {
        let Some(member) = self.members.iter_mut().find(|m| m.open_id == open_id) else {
            out.fill(0.0);
            return false;
        };
        member.pulled_alone_us = Some(now_us);
        member.render(out.len(), now_us, &mut self.member_audio);
        out.copy_from_slice(&self.member_audio);
        true
    }

    /// Members whose speech arrived within the hold.
    pub fn speakers(&self, now_us: u64) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| {
                m.last_speech_us
                    .is_some_and(|t| now_us.saturating_sub(t) < SPEAKING_HOLD_US)
            })
            .map(|m| m.open_id.clone())
            .collect()
    }

    /// The share of packets lost lately, over all members: what this client reports.
    pub fn loss_fraction(&self) -> f32 {
        self.members
            .iter()
            .filter_map(|m| m.decoding.as_ref())
            .map(|d| d.jitter.loss_fraction())
            .fold(0.0, f32::max)
    }

    pub fn stats(&self) -> Vec<MemberStats> {
        self.members
            .iter()
            .map(|m| MemberStats {
                open_id: m.open_id.clone(),
                jitter: m.stats(),
                decode_errors: m.decode_errors,
            })
            .collect()
    }
}

impl Default for Playback {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::codec::{EncoderConfig, VoiceEncoder, MAX_PACKET_BYTES};

    const FRAME: usize = 960;

    /// One second of a voiced sound (a 140 Hz harmonic series), as 20 ms Opus packets.
    fn voiced_packets() -> Vec<Vec<u8>> {
        let mut encoder = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let mut out = [0u8; MAX_PACKET_BYTES];
        (0..50)
            .map(|f| {
                let frame: Vec<f32> = (0..FRAME)
                    .map(|i| {
                        let t = (f * FRAME + i) as f32 / SAMPLE_RATE as f32;
                        (1..=8)
                            .map(|k| {
                                let w = 2.0 * std::f32::consts::PI * 140.0 * k as f32;
                                0.1 * (w * t).sin() / k as f32
                            })
                            .sum()
                    })
                    .collect();
                let n = encoder.encode(&frame, &mut out).unwrap();
                out[..n].to_vec()
            })
            .collect()
    }

    /// Member 1's packets through a `Playback` set to `before` ahead of the stream's first
    /// packet and to `after` half-way, pulled 10 ms at a time.
    fn heard(packets: &[Vec<u8>], before: VoiceEnhancement, after: VoiceEnhancement) -> Vec<f32> {
        let mut playback = Playback::new();
        playback.set_enhancement(before).unwrap();
        playback.set_members(&[(1, "alice".to_string())], None);
        let mut heard = Vec::new();
        let mut out = [0.0f32; FRAME / 2];
        for step in 0..2 * packets.len() {
            let now_us = 1_000_000 + step as u64 * 10_000;
            if step % 2 == 0 {
                let frame = step / 2;
                let header = AudioHeader {
                    speaking: true,
                    backfill: false,
                    repeat: false,
                    seq: frame as u16,
                    timestamp: (frame * FRAME) as u32,
                };
                playback.insert(1, header, &packets[frame], now_us);
            }
            if step == packets.len() {
                playback.set_enhancement(after).unwrap();
            }
            playback.render_mix(&mut out, now_us);
            heard.extend_from_slice(&out);
        }
        heard
    }

    fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn the_enhancement_reaches_streams_that_start_later_and_running_ones() {
        use VoiceEnhancement::{Off, Strong};
        let packets = voiced_packets();
        // Samples pulled before the switch: one 10 ms pull per step, a frame every two steps.
        let half = packets.len() * FRAME / 2;
        let plain = heard(&packets, Off, Off);
        assert!(plain.iter().any(|s| s.abs() > 0.01), "the voice is heard");

        // Set before the member's first packet: their decoder is made with it.
        let from_the_start = heard(&packets, Strong, Strong);
        assert!(largest_difference(&plain[..half], &from_the_start[..half]) > 1e-3);

        // Set mid-stream: the running decoder switches, from then on only.
        let switched = heard(&packets, Off, Strong);
        assert_eq!(largest_difference(&plain[..half], &switched[..half]), 0.0);
        assert!(largest_difference(&plain[half..], &switched[half..]) > 1e-3);
    }
}
