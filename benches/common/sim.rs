//! The voice pipeline offline, with a simulated clock: what one client sends and what another
//! plays, through the code a call runs: `client::media::CapturePipeline` (VAD, pre-roll, Opus),
//! the relay's rewrite (`net::media::relay`), and `client::media::Playback` (jitter buffer,
//! decoder, mix), with the loss feedback of the session and the relay (a reception report every
//! second; a hint when the room's worst figure moves by 1 %) and the engine-format output tap.
//!
//! One part is a copy, because the original has no such switch: [`Sender`], a copy of
//! `CapturePipeline` whose VAD can be forced on for a diagnostic. [`check_sender_mirror`]
//! proves the copy sends exactly what `CapturePipeline` sends.
//!
//! Plus the baseline of the quality comparison: plain Opus with in-band FEC, no jitter buffer.

use std::collections::VecDeque;

use voipchat::audio::codec::{
    expected_loss_for, EncoderConfig, VoiceDecoder, VoiceEncoder, VoiceEnhancement,
    MAX_PACKET_BYTES,
};
use voipchat::audio::jitter::JitterStats;
use voipchat::audio::resample::CaptureConverter;
use voipchat::audio::vad::{Vad, VadConfig};
use voipchat::client::media::{vad_decides, CapturePipeline, OutputTap, Playback};
use voipchat::net::media::{decode_downlink, encode_uplink, relay, AudioHeader};

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// A copy of `CapturePipeline` (src/client/media/capture.rs), line for line, with a switch that
/// forces its VAD on: used only for that diagnostic.
pub struct Sender {
    frame_samples: usize,
    pending: Vec<f32>,
    previous: Vec<f32>,
    has_previous: bool,
    vad: Vad,
    encoder: VoiceEncoder,
    seq: u16,
    timestamp: u32,
    transmitting: bool,
    packet: Vec<u8>,
    datagram: Vec<u8>,
    pub frames: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Diagnostics only: treat every frame as speech (no VAD gating, one endless talkspurt).
    pub always_on: bool,
}

impl Sender {
    pub fn new(frame_samples: usize) -> Sender {
        Sender {
            frame_samples,
            pending: Vec::with_capacity(frame_samples * 4),
            previous: vec![0.0; frame_samples],
            has_previous: false,
            vad: Vad::new(VadConfig::default()),
            encoder: VoiceEncoder::new(EncoderConfig {
                frame_samples,
                ..EncoderConfig::default()
            })
            .expect("encoder"),
            seq: 0,
            timestamp: 0,
            transmitting: false,
            packet: vec![0; MAX_PACKET_BYTES],
            datagram: Vec::with_capacity(MAX_PACKET_BYTES + 16),
            frames: 0,
            packets_sent: 0,
            bytes_sent: 0,
            always_on: false,
        }
    }

    pub fn lookahead_samples(&self) -> usize {
        self.encoder.lookahead_samples()
    }

    pub fn set_expected_loss(&mut self, percent: u8) {
        self.encoder.set_expected_loss(percent);
    }

    pub fn expected_loss(&self) -> u8 {
        self.encoder.expected_loss()
    }

    /// Consumes samples; `send` gets each uplink datagram and the index of the frame it carries
    /// (its timestamp in frames), by which a loss pattern decides its fate.
    pub fn push(&mut self, samples: &[f32], send: &mut dyn FnMut(&[u8], u64)) {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= self.frame_samples {
            let end = start + self.frame_samples;
            let frame = std::mem::take(&mut self.pending);
            self.process_frame(&frame[start..end], send);
            self.pending = frame;
            start = end;
        }
        self.pending.drain(..start);
    }

    fn process_frame(&mut self, frame: &[f32], send: &mut dyn FnMut(&[u8], u64)) {
        self.frames += 1;
        let active = vad_decides(&mut self.vad, frame) || self.always_on;
        if active && !self.transmitting && self.has_previous {
            let previous = std::mem::take(&mut self.previous);
            let timestamp = self.timestamp.wrapping_sub(self.frame_samples as u32);
            self.send_frame(&previous, timestamp, true, true, send);
            self.previous = previous;
        }
        if active {
            self.send_frame(frame, self.timestamp, true, false, send);
        } else if self.transmitting {
            self.send_frame(frame, self.timestamp, false, false, send);
        }
        self.transmitting = active;
        if !active {
            self.previous.copy_from_slice(frame);
        }
        self.has_previous = !active;
        self.timestamp = self.timestamp.wrapping_add(self.frame_samples as u32);
    }

    fn send_frame(
        &mut self,
        pcm: &[f32],
        timestamp: u32,
        speaking: bool,
        backfill: bool,
        send: &mut dyn FnMut(&[u8], u64),
    ) {
        let len = self.encoder.encode(pcm, &mut self.packet).expect("encode");
        let header = AudioHeader {
            speaking,
            backfill,
            repeat: false,
            seq: self.seq,
            timestamp,
        };
        encode_uplink(header, &self.packet[..len], &mut self.datagram);
        self.seq = self.seq.wrapping_add(1);
        self.packets_sent += 1;
        self.bytes_sent += self.datagram.len() as u64;
        send(
            &self.datagram,
            u64::from(timestamp) / self.frame_samples as u64,
        );
    }
}

/// Runs `signal` (10 ms pushes) through `CapturePipeline` and the copy, and panics unless they
/// send the same datagrams: the copy's diagnostic stays honest if the original changes.
pub fn check_sender_mirror(signal: &[f32], frame_samples: usize) {
    let mut real = CapturePipeline::new(frame_samples).expect("capture pipeline");
    let mut copy = Sender::new(frame_samples);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for chunk in signal.chunks(480) {
        real.push(chunk, false, &mut |d| a.push(d.to_vec()))
            .expect("push");
        copy.push(chunk, &mut |d, _| b.push(d.to_vec()));
    }
    assert!(!a.is_empty(), "the check signal was sent");
    assert!(
        a == b,
        "benches/common/sim.rs: Sender no longer matches CapturePipeline ({} vs {} datagrams); update the copy",
        a.len(),
        b.len()
    );
}

/// The sending client: the real `CapturePipeline`, or the copy with its VAD forced on.
pub enum Capture {
    Real {
        pipeline: CapturePipeline,
        frame_samples: u64,
        /// What the pipeline was last told (it does not say).
        expected_loss: u8,
    },
    AlwaysOn(Sender),
}

impl Capture {
    pub fn new(frame_samples: usize, always_on: bool) -> Capture {
        if always_on {
            let mut s = Sender::new(frame_samples);
            s.always_on = true;
            Capture::AlwaysOn(s)
        } else {
            Capture::Real {
                pipeline: CapturePipeline::new(frame_samples).expect("capture pipeline"),
                frame_samples: frame_samples as u64,
                expected_loss: EncoderConfig::default().expected_loss_pct,
            }
        }
    }

    /// `send` gets each uplink datagram and the index of the frame it carries (its timestamp
    /// in frames), by which a loss pattern decides its fate.
    pub fn push(&mut self, samples: &[f32], send: &mut dyn FnMut(&[u8], u64)) {
        match self {
            Capture::Real {
                pipeline,
                frame_samples,
                ..
            } => {
                let frame = *frame_samples;
                pipeline
                    .push(samples, false, &mut |d| {
                        let ts = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                        send(d, u64::from(ts) / frame);
                    })
                    .expect("push");
            }
            Capture::AlwaysOn(s) => s.push(samples, send),
        }
    }

    pub fn set_expected_loss(&mut self, percent: u8) {
        match self {
            Capture::Real {
                pipeline,
                expected_loss,
                ..
            } => {
                pipeline.set_expected_loss(percent);
                *expected_loss = percent.min(100);
            }
            Capture::AlwaysOn(s) => s.set_expected_loss(percent),
        }
    }

    pub fn expected_loss(&self) -> u8 {
        match self {
            Capture::Real { expected_loss, .. } => *expected_loss,
            Capture::AlwaysOn(s) => s.expected_loss(),
        }
    }

    pub fn packets_sent(&self) -> u64 {
        match self {
            Capture::Real { pipeline, .. } => pipeline.stats().packets_sent,
            Capture::AlwaysOn(s) => s.packets_sent,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Receiving: the real Playback
// ---------------------------------------------------------------------------------------------

/// One listener's `Playback` with `members` remote members (source ids 1..=members).
pub struct Listener {
    pub playback: Playback,
}

impl Listener {
    pub fn new(members: usize) -> Listener {
        let mut playback = Playback::new();
        let list: Vec<(u32, String)> = (1..=members as u32)
            .map(|i| (i, format!("member{i}")))
            .collect();
        playback.set_members(&list, None);
        Listener { playback }
    }

    /// A datagram as the relay delivers it, filed as `Media::receive` files it.
    pub fn receive(&mut self, downlink: &[u8], now_us: u64) {
        if let Some((source, header, payload)) = decode_downlink(downlink) {
            self.playback.insert(source, header, payload, now_us);
        }
    }

    pub fn render_mix(&mut self, out: &mut [f32], now_us: u64) {
        self.playback.render_mix(out, now_us);
    }

    /// What the session reports: the worst member's recent loss, in per mille.
    pub fn loss_permille(&self) -> u16 {
        (self.playback.loss_fraction().clamp(0.0, 1.0) * 1000.0).round() as u16
    }

    /// The jitter buffer figures of each member, in source order.
    pub fn stats(&self) -> Vec<JitterStats> {
        self.playback
            .stats()
            .into_iter()
            .map(|m| m.jitter)
            .collect()
    }
}

/// The crate's `OutputTap` (one output at an engine's rate and channel count, rendering
/// 48 kHz mono as needed and converting it) with the scratch buffers it needs.
pub struct Tap {
    tap: OutputTap,
    mono: Vec<f32>,
    converted: Vec<f32>,
}

impl Tap {
    pub fn new(rate: u32, channels: u16) -> Tap {
        Tap {
            tap: OutputTap::new(rate, channels).expect("tap"),
            mono: Vec::new(),
            converted: Vec::new(),
        }
    }

    pub fn fill(&mut self, out: &mut [f32], render: impl FnMut(&mut [f32])) {
        self.tap
            .fill(out, &mut self.mono, &mut self.converted, render);
    }
}

/// A two-member call offline at an engine's format: A pushes `signal` (mono at `rate`, copied
/// to every channel) 10 ms at a time through a capture converter and the sender; B pulls
/// 10 ms at a time `phase_us` after each push, through the listener and a tap at the same
/// format. Datagrams arrive `transit_us` after they are sent. Returns B's first channel.
pub fn call(
    signal: &[f32],
    rate: u32,
    channels: u16,
    frame_samples: usize,
    phase_us: u64,
    transit_us: u64,
    enhancement: VoiceEnhancement,
) -> Vec<f32> {
    const EPOCH_US: u64 = 1_000_000;
    let ch = usize::from(channels);
    let chunk = rate as usize / 100;
    let mut capture = CaptureConverter::new(rate, channels).expect("converter");
    let mut sender = Capture::new(frame_samples, false);
    let mut listener = Listener::new(1);
    listener
        .playback
        .set_enhancement(enhancement)
        .expect("enhancement");
    let mut tap = Tap::new(rate, channels);
    let mut in_flight: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let (mut input, mut out, mut mono) = (
        vec![0.0f32; chunk * ch],
        vec![0.0f32; chunk * ch],
        Vec::new(),
    );
    let mut heard = Vec::with_capacity(signal.len());
    for step in 0..signal.len() / chunk {
        let push_at = EPOCH_US + step as u64 * 10_000;
        for (f, frame) in input.chunks_exact_mut(ch).enumerate() {
            frame.fill(signal[step * chunk + f]);
        }
        mono.clear();
        capture.push(&input, &mut mono);
        sender.push(&mono, &mut |d, _| {
            in_flight.push_back((push_at + transit_us, downlink(d, 1)));
        });
        let pull_at = push_at + phase_us;
        while in_flight.front().is_some_and(|(t, _)| *t <= pull_at) {
            let (t, d) = in_flight.pop_front().expect("front");
            listener.receive(&d, t);
        }
        tap.fill(&mut out, |m| listener.render_mix(m, pull_at));
        heard.extend(out.chunks_exact(ch).map(|f| f[0]));
    }
    heard
}

/// The relay's rewrite of an uplink datagram for receivers.
pub fn downlink(uplink: &[u8], source: u32) -> Vec<u8> {
    relay(uplink, source)
        .expect("well-formed uplink")
        .1
        .to_vec()
}

// ---------------------------------------------------------------------------------------------
// Loss patterns and the two pipelines under test
// ---------------------------------------------------------------------------------------------

/// Independent random loss, as a pure function of the frame index: the same frames are lost
/// whoever carries them (our pipeline and the baseline see the identical pattern).
#[derive(Debug, Clone, Copy)]
pub struct LossPattern {
    pub rate: f64,
    pub seed: u64,
}

impl LossPattern {
    pub fn lost(&self, frame: u64) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        // splitmix64 of (seed, frame)
        let mut z = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(frame.wrapping_mul(0xD1B5_4A32_D192_ED03));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub audio: Vec<f32>,
    pub packets_sent: u64,
    pub packets_lost: u64,
    pub stats: JitterStats,
    pub final_expected_loss: u8,
}

/// How [`ours`] runs: the real pipeline by default; the other settings are diagnostics that
/// take one of its mechanisms out.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Delay of every datagram not lost.
    pub transit_us: u64,
    /// Treat every frame as speech (no VAD gating, one endless talkspurt).
    pub always_on: bool,
    /// Fix the encoder's expected loss instead of following the listener's reports.
    pub fixed_expected_loss: Option<u8>,
    /// The listener's speech enhancer (a game's setting; off by default).
    pub enhancement: VoiceEnhancement,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            transit_us: 1_000,
            always_on: false,
            fixed_expected_loss: None,
            enhancement: VoiceEnhancement::Off,
        }
    }
}

/// Our pipeline offline: the sender pushes `signal` 10 ms at a time and the listener pulls 10 ms
/// at the same instants (as the real-time loop of the tests and the latency bench does); each
/// datagram not lost by `pattern` arrives `transit_us` after it was sent. The listener's loss
/// reports reach the sender's encoder once a second, as through the session and the relay.
pub fn ours(
    signal: &[f32],
    frame_samples: usize,
    pattern: LossPattern,
    options: Options,
) -> Outcome {
    const CHUNK: usize = 480;
    const EPOCH_US: u64 = 1_000_000;
    let mut sender = Capture::new(frame_samples, options.always_on);
    if let Some(percent) = options.fixed_expected_loss {
        sender.set_expected_loss(percent);
    }
    let transit_us = options.transit_us;
    let mut listener = Listener::new(1);
    listener
        .playback
        .set_enhancement(options.enhancement)
        .expect("enhancement");
    let mut in_flight: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let steps = signal.len().div_ceil(CHUNK) + 100; // one more second to play out the tail
    let mut audio = Vec::with_capacity(steps * CHUNK);
    let mut out = vec![0.0f32; CHUNK];
    let mut chunk = vec![0.0f32; CHUNK];
    let (mut announced, mut lost) = (0u16, 0u64);
    for step in 0..steps {
        let now = EPOCH_US + step as u64 * 10_000;
        while in_flight.front().is_some_and(|(t, _)| *t <= now) {
            let (t, d) = in_flight.pop_front().expect("front");
            listener.receive(&d, t);
        }
        chunk.fill(0.0);
        if let Some(s) = signal.get(step * CHUNK..) {
            let n = s.len().min(CHUNK);
            chunk[..n].copy_from_slice(&s[..n]);
        }
        sender.push(&chunk, &mut |datagram, frame| {
            if pattern.lost(frame) {
                lost += 1;
            } else {
                in_flight.push_back((now + transit_us, downlink(datagram, 1)));
            }
        });
        listener.render_mix(&mut out, now);
        audio.extend_from_slice(&out);
        if step % 100 == 99 && options.fixed_expected_loss.is_none() {
            // Session: report every second; relay: hint on a change of at least 1 %.
            let worst = listener.loss_permille();
            if worst.abs_diff(announced) >= 10 {
                announced = worst;
                sender.set_expected_loss(expected_loss_for(worst));
            }
        }
    }
    Outcome {
        audio,
        packets_sent: sender.packets_sent(),
        packets_lost: lost,
        stats: listener.stats()[0],
        final_expected_loss: sender.expected_loss(),
    }
}

/// The baseline: plain libopus with in-band FEC at the same settings, every frame encoded (no
/// VAD), the same frames lost; a lost frame is decoded from the next packet's FEC when that
/// packet arrived, else concealed. No jitter buffer: decoding is in frame order with the next
/// packet always at hand, i.e. an ideal one-frame look-ahead. `decoder_complexity` 0 is libopus's
/// default decoder (plain libopus); `DECODER_COMPLEXITY` is ours, with the neural concealment.
pub fn baseline(
    signal: &[f32],
    config: EncoderConfig,
    pattern: LossPattern,
    decoder_complexity: u8,
) -> Outcome {
    let f = config.frame_samples;
    let mut encoder = VoiceEncoder::new(config).expect("encoder");
    let mut padded = signal.to_vec();
    padded.resize(signal.len().div_ceil(f) * f + f, 0.0);
    let mut buf = vec![0u8; MAX_PACKET_BYTES];
    let packets: Vec<Vec<u8>> = padded
        .chunks_exact(f)
        .map(|frame| {
            let n = encoder.encode(frame, &mut buf).expect("encode");
            buf[..n].to_vec()
        })
        .collect();
    let mut decoder = VoiceDecoder::with_complexity(f, decoder_complexity).expect("decoder");
    let mut frame = vec![0.0f32; f];
    let mut audio = Vec::with_capacity(padded.len());
    let mut lost = 0;
    for k in 0..packets.len() {
        let n = if !pattern.lost(k as u64) {
            decoder.decode(&packets[k], &mut frame)
        } else {
            lost += 1;
            match packets.get(k + 1) {
                Some(next) if !pattern.lost(k as u64 + 1) => decoder.decode_fec(next, &mut frame),
                _ => decoder.conceal(&mut frame),
            }
        }
        .expect("decode");
        audio.extend_from_slice(&frame[..n]);
    }
    Outcome {
        audio,
        packets_sent: packets.len() as u64,
        packets_lost: lost,
        stats: JitterStats::default(),
        final_expected_loss: config.expected_loss_pct,
    }
}
