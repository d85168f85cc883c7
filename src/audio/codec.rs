//! Opus for 48 kHz mono voice: one [`VoiceEncoder`] per local microphone, one [`VoiceDecoder`]
//! per remote speaker.
//!
//! The settings are the ones a voice chat over a lossy network wants:
//!
//! - `Application::Voip` and `Signal::Voice`: bias the mode decision towards SILK / hybrid, the
//!   speech-tuned layers, and enable the speech enhancements (pre-filtering, noise shaping) that
//!   `Audio` leaves out.
//! - Constrained VBR: quiet frames cost fewer bytes, yet no frame bursts far above the target,
//!   so a congested uplink sees a steady rate.
//! - In-band FEC (SILK's LBRR): each packet also carries a coarse copy of the *previous* frame,
//!   which [`VoiceDecoder::decode_fec`] uses when that previous packet was lost. Opus only spends
//!   bits on it while the expected loss ([`VoiceEncoder::set_expected_loss`]) is above zero, and
//!   only in SILK / hybrid mode; CELT-only packets carry none.
//! - DTX off: the jitter buffer and the voice-activity logic want one packet per frame; silence
//!   is cheap enough at these bitrates, and a gap in the stream then always means loss.
//! - The decoder at complexity [`DECODER_COMPLEXITY`]: libopus's neural deep PLC conceals a
//!   frame no FEC can bring back, where classic concealment repeats the last pitch period and
//!   buzzes. It is in libopus 1.5 and later, built from source here with its model
//!   (Cargo.toml); a plain libopus decoder runs at complexity 0. A game may also turn on a
//!   speech enhancer that runs over every decoded frame ([`VoiceEnhancement`]), at a CPU cost.
//!
//! Everything here is sans-IO and runs on the engine's processing thread, never in the audio
//! device callback (decoding is forbidden there: see `design.md`). Neither type allocates after
//! construction. The encoder is the `opus` crate's; the decoder is `opusic_c`'s, over the same
//! libopus, because only that one sets the decoder's complexity. Both are safe APIs, so this
//! module contains no `unsafe`.

use super::SAMPLE_RATE;
use crate::error::{ErrorCode, VoipError};
use opus::{Application, Bitrate, Channels, Signal};

/// Decoder complexity [`VoiceDecoder::new`] uses. libopus (1.5+, built with its neural models)
/// reads it as: 5 and above conceal a lost frame no FEC covers with the deep PLC model instead
/// of pitch repetition; 6 also runs LACE, a small speech enhancer, over every decoded SILK
/// frame; 7 runs the larger NoLACE instead (see [`VoiceEnhancement`], which picks those).
///
/// 5, measured side by side (BENCHMARKS.md, PESQ-WB and `voice_cpu`): deep PLC costs no CPU we
/// can measure over complexity 0 (the model runs only for lost frames) and lifts speech under
/// loss. The enhancers run on every frame and cost more than the 1 % per speaker and 5 % per
/// full-room client budgets allow on this machine, so they are a game's choice, not the default.
pub const DECODER_COMPLEXITY: u8 = 5;

/// Speech enhancement a receiver runs over every decoded frame: libopus's OSCE post-filters
/// (LACE and NoLACE), small neural networks trained to undo SILK's coding artefacts. They make
/// speech clearer on a clean link and under loss alike (PESQ-WB, BENCHMARKS.md), at a CPU cost
/// per remote speaker paid on every frame, not only on lost ones; so the default is
/// [`Off`](Self::Off) and a game turns them on where it can afford them: one-to-one calls,
/// small squads, machines with cores to spare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoiceEnhancement {
    /// No enhancer; lost frames still get deep PLC ([`DECODER_COMPLEXITY`]).
    #[default]
    Off = 0,
    /// LACE: about one and a half times the receive CPU; clearer on a clean link and at
    /// heavy loss.
    Light = 1,
    /// NoLACE: the larger model, about two and a half times the receive CPU; the clearest
    /// speech at every loss rate.
    Strong = 2,
}

impl VoiceEnhancement {
    /// Every level, in the order of their C ABI numbers (`VOIP_ENHANCEMENT_*`).
    pub const ALL: [VoiceEnhancement; 3] = [Self::Off, Self::Light, Self::Strong];

    /// The level a C ABI number names; `InvalidArgument` for any other number.
    pub fn from_level(level: i32) -> Result<Self, VoipError> {
        usize::try_from(level)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or_else(|| {
                VoipError::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "voice enhancement {level} is not a level: 0 (off), 1 (light) or 2 (strong)"
                    ),
                )
            })
    }

    /// The name statistics and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Light => "light",
            Self::Strong => "strong",
        }
    }

    /// The libopus decoder complexity that runs this level (deep PLC included in each).
    pub fn decoder_complexity(self) -> u8 {
        match self {
            Self::Off => DECODER_COMPLEXITY,
            Self::Light => 6,
            Self::Strong => 7,
        }
    }
}

/// Measured loss (per mille) from which the encoder spends bits on FEC.
const FEC_FROM_PERMILLE: u16 = 10;
/// The least expected loss the encoder is told once it spends bits on FEC.
const FEC_MIN_EXPECTED_LOSS_PCT: u16 = 10;
/// Above that minimum the encoder is told this much more than measured (numerator / 4).
const FEC_OVERSTATE_QUARTERS: u16 = 5;

/// The expected-loss setting for the encoder ([`VoiceEncoder::set_expected_loss`]) given the
/// loss its listeners measure (the room's worst, per mille).
///
/// Not the measured figure itself (libopus 1.6, 28 kbps, 20 ms, PESQ-WB; BENCHMARKS.md):
/// - on a clean link any FEC costs quality (told 10 % at 0 % loss: 3.81 against 4.03), so
///   none below 1 % loss;
/// - told 5 % or less libopus puts almost no FEC in the packets, so a link losing 5 % got
///   none: told 10 % it scores 3.38 there against 2.71, the best of 10, 15, 20 and 25 %;
/// - at 10 % loss 10 to 25 % score alike; at 20 % loss more is better (told 10, 15, 20, 25 %:
///   2.30, 2.34, 2.36, 2.38), the FEC copy being worth more than the bits it takes.
///
/// So: none below 1 %, then at least 10 %, and a quarter more than measured above that (25 %
/// at 20 % loss). Beyond 20 % loss nothing was measured; the rule carries on.
pub fn expected_loss_for(loss_permille: u16) -> u8 {
    if loss_permille < FEC_FROM_PERMILLE {
        return 0;
    }
    let overstated_pct = u32::from(loss_permille) * u32::from(FEC_OVERSTATE_QUARTERS);
    let overstated_pct = overstated_pct.div_ceil(40);
    overstated_pct.clamp(u32::from(FEC_MIN_EXPECTED_LOSS_PCT), 100) as u8
}

/// The largest packet [`VoiceEncoder::encode`] produces: the size to give its `out` buffer and
/// the size a receiver may reject anything above.
///
/// Opus allows up to 1275 bytes per frame, but that is for 510 kbps stereo music. At
/// [`MAX_BITRATE_BPS`] a 20 ms frame averages 320 bytes, and constrained VBR keeps single frames
/// near the average; 400 leaves headroom without letting one packet need IP fragmentation on a
/// tunnelled link. The encoder is told this cap, so it never produces more.
pub const MAX_PACKET_BYTES: usize = 400;

/// Lowest accepted bitrate: below this Opus falls to narrowband and speech smears.
pub const MIN_BITRATE_BPS: i32 = 6_000;

/// Highest accepted bitrate: well above transparent mono speech, and it keeps every 20 ms packet
/// below [`MAX_PACKET_BYTES`].
pub const MAX_BITRATE_BPS: i32 = 128_000;

/// Frame lengths the codec accepts, in samples at 48 kHz: 10 ms and 20 ms, the engine's
/// processing frames. (Opus allows 2.5 to 120 ms; shorter frames waste bytes on headers and
/// longer ones add latency, so the engine uses neither.)
pub const SUPPORTED_FRAME_SAMPLES: [usize; 2] =
    [super::frame_samples(10), super::frame_samples(20)];

/// How a [`VoiceEncoder`] is set up. `Default` is 20 ms frames at 28 kbps with FEC on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Samples per frame at 48 kHz: 480 (10 ms) or 960 (20 ms).
    pub frame_samples: usize,
    /// Target bitrate, [`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`]. 28 kbps is wideband-to-super-
    /// wideband speech with room for FEC.
    pub bitrate_bps: i32,
    /// In-band forward error correction (SILK LBRR). Effective only while the expected loss is
    /// above zero.
    pub fec: bool,
    /// Expected packet loss in percent (values above 100 are clamped). Opus uses it to size the
    /// FEC copy and to make frames less dependent on their predecessors; the session should feed
    /// it the measured loss through [`VoiceEncoder::set_expected_loss`].
    pub expected_loss_pct: u8,
    /// Encoder complexity, 0..=10: CPU against quality. 9 is near-best quality at a fraction of
    /// a core for one mono stream; a game on a weak mobile CPU may want 5.
    pub complexity: u8,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            frame_samples: super::frame_samples(20),
            bitrate_bps: 28_000,
            fec: true,
            // A call starts clean: FEC bits come out of the frame's own, and the first loss
            // report (within about a second of the first losses) turns them on. See
            // [`expected_loss_for`].
            expected_loss_pct: 0,
            complexity: 9,
        }
    }
}

fn check_frame_samples(frame_samples: usize) -> Result<(), VoipError> {
    if SUPPORTED_FRAME_SAMPLES.contains(&frame_samples) {
        Ok(())
    } else {
        Err(VoipError::new(
            ErrorCode::InvalidArgument,
            format!("opus frame of {frame_samples} samples: expected 480 (10 ms) or 960 (20 ms)"),
        ))
    }
}

/// Maps an Opus error: a corrupt packet or a bad argument is the caller's input (-1001); anything
/// else (allocation, internal state) is ours (-1000).
fn opus_error(context: &str, err: opus::Error) -> VoipError {
    let code = match err.code() {
        opus::ErrorCode::InvalidPacket
        | opus::ErrorCode::BadArg
        | opus::ErrorCode::BufferTooSmall => ErrorCode::InvalidArgument,
        _ => ErrorCode::System,
    };
    VoipError::new(code, format!("{context}: {err}"))
}

/// The same mapping for the decoder's errors (`opusic_c`, see [`VoiceDecoder`]).
fn decoder_error(context: &str, err: opusic_c::ErrorCode) -> VoipError {
    use opusic_c::ErrorCode as E;
    let code = match err {
        E::InvalidPacket | E::BadArg | E::BufferTooSmall => ErrorCode::InvalidArgument,
        _ => ErrorCode::System,
    };
    VoipError::new(
        code,
        format!("{context}: {} ({})", err.message(), err as i32),
    )
}

/// The number of 48 kHz samples an Opus packet decodes to, if it is a well-formed packet of a
/// frame size this codec handles. Receivers use it to follow each sender's frame length (a
/// member may run 10 ms frames while another runs 20 ms).
pub fn packet_frame_samples(packet: &[u8]) -> Option<usize> {
    opus::packet::get_nb_samples(packet, super::SAMPLE_RATE)
        .ok()
        .filter(|n| SUPPORTED_FRAME_SAMPLES.contains(n))
}

/// An Opus encoder for one mono 48 kHz voice stream.
///
/// `Send` but not `Sync`: one encoder belongs to one processing thread at a time.
pub struct VoiceEncoder {
    enc: opus::Encoder,
    cfg: EncoderConfig,
    lookahead: usize,
    /// Where non-finite input is cleaned before it reaches Opus. Allocated once here so `encode`
    /// never allocates.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for VoiceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceEncoder")
            .field("cfg", &self.cfg)
            .field("lookahead", &self.lookahead)
            .finish()
    }
}

impl VoiceEncoder {
    /// Creates an encoder; `InvalidArgument` for a frame size, bitrate or complexity out of range.
    pub fn new(cfg: EncoderConfig) -> Result<Self, VoipError> {
        check_frame_samples(cfg.frame_samples)?;
        if !(MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&cfg.bitrate_bps) {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "opus bitrate {} bps outside {MIN_BITRATE_BPS}..={MAX_BITRATE_BPS}",
                    cfg.bitrate_bps
                ),
            ));
        }
        if cfg.complexity > 10 {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("opus complexity {} outside 0..=10", cfg.complexity),
            ));
        }
        let cfg = EncoderConfig {
            expected_loss_pct: cfg.expected_loss_pct.min(100),
            ..cfg
        };
        let setup = |what: &str, e| opus_error(&format!("opus encoder {what}"), e);
        let mut enc = opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(|e| setup("create", e))?;
        enc.set_signal(Signal::Voice)
            .map_err(|e| setup("signal", e))?;
        enc.set_bitrate(Bitrate::Bits(cfg.bitrate_bps))
            .map_err(|e| setup("bitrate", e))?;
        enc.set_vbr(true).map_err(|e| setup("vbr", e))?;
        enc.set_vbr_constraint(true)
            .map_err(|e| setup("vbr constraint", e))?;
        enc.set_complexity(i32::from(cfg.complexity))
            .map_err(|e| setup("complexity", e))?;
        enc.set_inband_fec(cfg.fec).map_err(|e| setup("fec", e))?;
        enc.set_packet_loss_perc(i32::from(cfg.expected_loss_pct))
            .map_err(|e| setup("packet loss", e))?;
        enc.set_dtx(false).map_err(|e| setup("dtx", e))?;
        // Asked after the settings: the lookahead depends on the application mode.
        let lookahead = enc
            .get_lookahead()
            .map_err(|e| setup("lookahead", e))?
            .max(0) as usize;
        Ok(Self {
            enc,
            cfg,
            lookahead,
            scratch: vec![0.0; cfg.frame_samples],
        })
    }

    /// Encodes exactly one frame (`cfg.frame_samples` samples, nominally in -1.0..=1.0) into
    /// `out` and returns the packet's length. `out` should hold [`MAX_PACKET_BYTES`]; a shorter
    /// buffer caps the packet (Opus lowers the quality to fit).
    ///
    /// A frame of the wrong length is `InvalidArgument`. NaN or infinite samples are encoded as
    /// silence rather than passed on: one such sample would poison the encoder's filter state
    /// for good.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, VoipError> {
        if pcm.len() != self.cfg.frame_samples {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "opus encode: frame of {} samples, the encoder was set up for {}",
                    pcm.len(),
                    self.cfg.frame_samples
                ),
            ));
        }
        let out_len = out.len().min(MAX_PACKET_BYTES);
        let out = &mut out[..out_len];
        let input: &[f32] = if pcm.iter().all(|s| s.is_finite()) {
            pcm
        } else {
            for (dst, &src) in self.scratch.iter_mut().zip(pcm) {
                *dst = if src.is_finite() { src } else { 0.0 };
            }
            &self.scratch
        };
        self.enc
            .encode_float(input, out)
            .map_err(|e| opus_error("opus encode", e))
    }

    /// Sets the expected packet loss in percent (clamped to 100). Higher values make Opus spend
    /// more of the bitrate on the FEC copy and less on the current frame.
    pub fn set_expected_loss(&mut self, pct: u8) {
        let pct = pct.min(100);
        // Cannot fail for 0..=100 on a live encoder; ignoring the result keeps this infallible.
        let ok = self.enc.set_packet_loss_perc(i32::from(pct)).is_ok();
        debug_assert!(ok, "OPUS_SET_PACKET_LOSS_PERC({pct}) failed");
        self.cfg.expected_loss_pct = pct;
    }

    /// The expected packet loss currently set, in percent.
    pub fn expected_loss(&self) -> u8 {
        self.cfg.expected_loss_pct
    }

    /// The encoder's algorithmic delay in samples at 48 kHz (312, i.e. 6.5 ms, for VoIP mode):
    /// decoded audio lags the encoded input by this much. Latency budgets and tests that line
    /// up input and output need it.
    pub fn lookahead_samples(&self) -> usize {
        self.lookahead
    }

    /// The configuration in force (with the expected loss as last set).
    pub fn config(&self) -> EncoderConfig {
        self.cfg
    }
}

/// An Opus decoder for one remote mono 48 kHz voice stream, with loss concealment.
///
/// For each frame slot the jitter buffer calls exactly one of:
/// - [`decode`](Self::decode) when the packet arrived,
/// - [`decode_fec`](Self::decode_fec) when it was lost but the *next* packet is already here
///   (then call `decode` with that next packet for the following slot),
/// - [`conceal`](Self::conceal) when neither is available.
pub struct VoiceDecoder {
    dec: opusic_c::Decoder,
    frame_samples: usize,
}

impl std::fmt::Debug for VoiceDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceDecoder")
            .field("frame_samples", &self.frame_samples)
            .finish()
    }
}

impl VoiceDecoder {
    /// Creates a decoder whose concealment and FEC produce `frame_samples` (480 or 960) per call.
    /// `decode` itself accepts packets of any duration that fits its output buffer.
    /// The decoder runs at [`DECODER_COMPLEXITY`].
    pub fn new(frame_samples: usize) -> Result<Self, VoipError> {
        Self::with_complexity(frame_samples, DECODER_COMPLEXITY)
    }

    /// A decoder at a chosen complexity, 0..=10: 0 to 4 is libopus's classic decoder (its
    /// default is 0), 5 and above add deep PLC (see [`DECODER_COMPLEXITY`]).
    pub fn with_complexity(frame_samples: usize, complexity: u8) -> Result<Self, VoipError> {
        check_frame_samples(frame_samples)?;
        if complexity > 10 {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("opus decoder complexity {complexity} outside 0..=10"),
            ));
        }
        let mut dec =
            opusic_c::Decoder::new(opusic_c::Channels::Mono, opusic_c::SampleRate::Hz48000)
                .map_err(|e| decoder_error("opus decoder create", e))?;
        dec.set_complexity(complexity)
            .map_err(|e| decoder_error("opus decoder complexity", e))?;
        Ok(Self { dec, frame_samples })
    }

    /// Switches the enhancer on the next decoded frame; the stream's history is kept, so there
    /// is no gap or click.
    pub fn set_enhancement(&mut self, enhancement: VoiceEnhancement) -> Result<(), VoipError> {
        self.dec
            .set_complexity(enhancement.decoder_complexity())
            .map_err(|e| decoder_error("opus decoder complexity", e))
    }

    /// Samples per concealed or FEC-recovered frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    fn check_out(&self, what: &str, out: &[f32]) -> Result<(), VoipError> {
        if out.len() < self.frame_samples {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "opus {what}: output of {} samples, needs at least {}",
                    out.len(),
                    self.frame_samples
                ),
            ));
        }
        Ok(())
    }

    fn check_packet(what: &str, packet: &[u8]) -> Result<(), VoipError> {
        // Opus reads an empty packet as "lost" and conceals; the caller meant something else,
        // so say so instead of silently running PLC.
        if packet.is_empty() {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("opus {what}: empty packet (use conceal() for a lost frame)"),
            ));
        }
        Ok(())
    }

    /// Decodes one packet into `out` (at least `frame_samples` long) and returns the samples
    /// written. A corrupt packet, or one longer than `out`, is `InvalidArgument`; the decoder
    /// state is left usable.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, VoipError> {
        Self::check_packet("decode", packet)?;
        self.check_out("decode", out)?;
        self.dec
            .decode_float_to_slice(packet, out, false)
            .map_err(|e| decoder_error("opus decode", e))
    }

    /// Recovers the lost frame *before* `next_packet` from the FEC copy that packet carries,
    /// writing `frame_samples` samples. When `next_packet` has no FEC (CELT mode, FEC off, first
    /// packet of a talk spurt) Opus falls back to concealment, so the output is always usable.
    /// `next_packet` must still be passed to [`decode`](Self::decode) for its own slot.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [f32]) -> Result<usize, VoipError> {
        Self::check_packet("decode_fec", next_packet)?;
        self.check_out("decode_fec", out)?;
        self.dec
            .decode_float_to_slice(next_packet, &mut out[..self.frame_samples], true)
            .map_err(|e| decoder_error("opus decode_fec", e))
    }

    /// Packet loss concealment: synthesizes `frame_samples` samples continuing the last decoded
    /// audio (pitch-extrapolated, fading towards silence over consecutive losses).
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<usize, VoipError> {
        self.conceal_part(out, self.frame_samples)
    }

    /// Concealment of `samples` only (a multiple of 2.5 ms, at most a frame), for a receiver
    /// waiting for a packet that is due within less than a frame.
    pub fn conceal_part(&mut self, out: &mut [f32], samples: usize) -> Result<usize, VoipError> {
        self.check_out("conceal", out)?;
        let samples = samples.min(self.frame_samples);
        if samples % (SAMPLE_RATE as usize / 400) != 0 {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("opus conceal: {samples} samples is not a multiple of 2.5 ms"),
            ));
        }
        self.dec
            .decode_float_to_slice(&[], &mut out[..samples], false)
            .map_err(|e| decoder_error("opus conceal", e))
    }

    /// Forgets all history, as after a new talk spurt from a different encoder (a member who
    /// rejoined): concealment then starts from silence instead of the old voice.
    pub fn reset(&mut self) {
        let ok = self.dec.reset().is_ok();
        debug_assert!(ok, "OPUS_RESET_STATE failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 960;

    /// One second of something speech-shaped: a harmonic series on a gliding fundamental
    /// (110..180 Hz, vibrato), harmonics rolling off like a glottal source, shaped into
    /// 4 syllables a second with short gaps between them.
    fn speech_like(samples: usize) -> Vec<f32> {
        let sr = SAMPLE_RATE as f32;
        let mut phase = 0.0f32;
        (0..samples)
            .map(|i| {
                let t = i as f32 / sr;
                let f0 = 145.0
                    + 35.0 * (2.0 * std::f32::consts::PI * 1.3 * t).sin()
                    + 6.0 * (2.0 * std::f32::consts::PI * 5.5 * t).sin();
                phase += 2.0 * std::f32::consts::PI * f0 / sr;
                let mut s = 0.0;
                let mut k = 1;
                while (k as f32) * f0 < 3_800.0 {
                    // A crude formant around 500 Hz over a 1/k roll-off.
                    let fk = k as f32 * f0;
                    let formant = 1.0 + 2.0 * (-((fk - 500.0) / 300.0).powi(2)).exp();
                    s += formant / k as f32 * (k as f32 * phase).sin();
                    k += 1;
                }
                // Syllables: 250 ms each, voiced for the first 200 ms with a raised-sine shape.
                let pos = (t * 4.0).fract();
                let env = if pos < 0.8 {
                    (std::f32::consts::PI * pos / 0.8).sin().powf(0.7)
                } else {
                    0.0
                };
                0.12 * env * s
            })
            .collect()
    }

    /// Normalized correlation of `a` and `b` (same length).
    fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for (&x, &y) in a.iter().zip(b) {
            ab += f64::from(x) * f64::from(y);
            aa += f64::from(x) * f64::from(x);
            bb += f64::from(y) * f64::from(y);
        }
        if aa == 0.0 || bb == 0.0 {
            return 0.0;
        }
        ab / (aa * bb).sqrt()
    }

    /// The largest sample-by-sample difference of `a` and `b` (same length).
    fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn encode_all(enc: &mut VoiceEncoder, pcm: &[f32]) -> Vec<Vec<u8>> {
        let mut out = [0u8; MAX_PACKET_BYTES];
        pcm.chunks_exact(enc.config().frame_samples)
            .map(|frame| {
                let n = enc.encode(frame, &mut out).expect("encode");
                out[..n].to_vec()
            })
            .collect()
    }

    #[test]
    fn fec_setting_from_measured_loss() {
        // Clean: no FEC. From 1 %: at least 10 %, the lowest setting at which libopus puts FEC
        // in 28 kbps packets. Above 8 %: a quarter more than measured.
        assert_eq!(expected_loss_for(0), 0);
        assert_eq!(expected_loss_for(9), 0);
        assert_eq!(expected_loss_for(10), 10);
        assert_eq!(expected_loss_for(50), 10);
        assert_eq!(expected_loss_for(80), 10);
        assert_eq!(expected_loss_for(100), 13);
        assert_eq!(expected_loss_for(200), 25);
        assert_eq!(expected_loss_for(800), 100);
        assert_eq!(expected_loss_for(1000), 100);
        assert_eq!(expected_loss_for(u16::MAX), 100);
        assert_eq!(
            EncoderConfig::default().expected_loss_pct,
            expected_loss_for(0)
        );
    }

    #[test]
    fn round_trip_correlates_after_the_codec_delay() {
        let input = speech_like(SAMPLE_RATE as usize);
        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let lookahead = enc.lookahead_samples();
        assert!(
            (100..1_000).contains(&lookahead),
            "unexpected lookahead {lookahead}"
        );
        let packets = encode_all(&mut enc, &input);
        let mut dec = VoiceDecoder::new(FRAME).unwrap();
        let mut output = Vec::new();
        let mut buf = [0.0f32; FRAME];
        for p in &packets {
            let n = dec.decode(p, &mut buf).unwrap();
            assert_eq!(n, FRAME);
            output.extend_from_slice(&buf[..n]);
        }
        // The decoded signal lags by the lookahead, give or take a few samples: SILK's internal
        // resampler and filters do not shift every frequency by exactly the same amount.
        // Measured best lag 306 for lookahead 312, correlation 0.92 (0.87 at exactly 312).
        let (lag, c) = (lookahead - 24..=lookahead + 24)
            .map(|lag| {
                let aligned = &output[lag..];
                (lag, correlation(&input[..aligned.len()], aligned))
            })
            .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best });
        assert!(
            c > 0.9,
            "best correlation {c:.3} at {lag} samples delay (lookahead {lookahead})"
        );
    }

    #[test]
    fn packets_average_near_the_target_bitrate() {
        let input = speech_like(SAMPLE_RATE as usize);
        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let packets = encode_all(&mut enc, &input);
        assert_eq!(packets.len(), 50);
        let total: usize = packets.iter().map(Vec::len).sum();
        let avg = total as f64 / packets.len() as f64;
        // 28 kbps * 20 ms / 8 = 70 bytes; VBR spends less on the gaps between syllables.
        assert!(
            (45.0..=90.0).contains(&avg),
            "average packet {avg:.1} bytes"
        );
        assert!(packets.iter().all(|p| p.len() <= MAX_PACKET_BYTES));
    }

    #[test]
    fn fec_recovers_a_lost_frame_better_than_concealment() {
        let input = speech_like(SAMPLE_RATE as usize);
        let mut enc = VoiceEncoder::new(EncoderConfig {
            expected_loss_pct: 10,
            ..EncoderConfig::default()
        })
        .unwrap();
        let lookahead = enc.lookahead_samples();
        let packets = encode_all(&mut enc, &input);
        let mut buf = [0.0f32; FRAME];

        let (mut fec_sum, mut plc_sum, mut trials, mut wins) = (0.0, 0.0, 0, 0);
        // Lose one frame at a time, every voiced frame in turn. Concealment extrapolates the last
        // pitch period, so it does well in the steady middle of a syllable and badly at onsets
        // and pitch glides; FEC carries the real (coarser) frame, so it does well everywhere.
        for lost in 1..packets.len() - 1 {
            let start = lost * FRAME - lookahead;
            let original = &input[start..start + FRAME];
            let energy = original.iter().map(|x| x * x).sum::<f32>() / FRAME as f32;
            if energy.sqrt() < 0.01 {
                continue; // a gap between syllables: nothing to recover
            }
            let mut recover = |use_fec: bool| {
                let mut dec = VoiceDecoder::new(FRAME).unwrap();
                for p in &packets[..lost] {
                    dec.decode(p, &mut buf).unwrap();
                }
                let n = if use_fec {
                    dec.decode_fec(&packets[lost + 1], &mut buf).unwrap()
                } else {
                    dec.conceal(&mut buf).unwrap()
                };
                assert_eq!(n, FRAME);
                assert!(buf.iter().all(|s| s.is_finite()));
                correlation(original, &buf)
            };
            let (fec, plc) = (recover(true), recover(false));
            wins += usize::from(fec >= plc);
            fec_sum += fec;
            plc_sum += plc;
            trials += 1;
        }
        let (fec, plc) = (fec_sum / trials as f64, plc_sum / trials as f64);
        // Measured (libopus 1.6.1, our decoder at complexity 5): FEC 0.80 against PLC 0.68 over
        // 41 frames, FEC ahead in 28 of them (libopus 1.3 at complexity 0: 0.82 against 0.67,
        // 32 of 41). Deep PLC's continuation is not phase-locked to the original, so waveform
        // correlation undersells it; PESQ (BENCHMARKS.md) judges what it is worth.
        assert!(trials >= 30, "only {trials} voiced frames");
        assert!(
            fec > plc + 0.08 && fec > 0.7 && wins * 3 >= trials * 2,
            "FEC {fec:.3} vs PLC {plc:.3} mean correlation; FEC ahead in {wins} of {trials}"
        );
    }

    #[test]
    fn the_neural_concealment_is_built_in() {
        // libopus takes any decoder complexity, but without its models compiled in (a system
        // libopus, or one built without them) it conceals exactly as at 0. Ours must not.
        let input = speech_like(SAMPLE_RATE as usize);
        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let packets = encode_all(&mut enc, &input);
        let conceal_after_30_frames = |complexity: u8| {
            let mut dec = VoiceDecoder::with_complexity(FRAME, complexity).unwrap();
            let mut buf = [0.0f32; FRAME];
            // Frame 30 is mid-syllable, where a continuation has something to continue.
            for p in &packets[..30] {
                assert_eq!(dec.decode(p, &mut buf).unwrap(), FRAME);
            }
            let mut concealed = Vec::new();
            for _ in 0..3 {
                assert_eq!(dec.conceal(&mut buf).unwrap(), FRAME);
                concealed.extend_from_slice(&buf);
            }
            assert!(concealed.iter().all(|s| s.is_finite() && s.abs() <= 2.0));
            concealed
        };
        let plain = conceal_after_30_frames(0);
        let ours = conceal_after_30_frames(DECODER_COMPLEXITY);
        let largest_difference = largest_difference(&plain, &ours);
        assert!(
            largest_difference > 1e-3,
            "complexity {DECODER_COMPLEXITY} conceals like complexity 0 (largest difference \
             {largest_difference}): is libopus built with its models?"
        );
    }

    #[test]
    fn each_enhancer_is_built_in_and_can_be_switched_mid_stream() {
        // Without the OSCE models compiled in (the `osce` feature), libopus decodes at 6 and 7
        // exactly as at 5: then a game's setting would do nothing, silently.
        let input = speech_like(SAMPLE_RATE as usize);
        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let packets = encode_all(&mut enc, &input);
        let decode_switching_at_10 = |to: VoiceEnhancement| {
            let mut dec = VoiceDecoder::new(FRAME).unwrap();
            let mut buf = [0.0f32; FRAME];
            let mut out = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                if i == 10 {
                    dec.set_enhancement(to).unwrap();
                }
                assert_eq!(dec.decode(p, &mut buf).unwrap(), FRAME);
                out.extend_from_slice(&buf);
            }
            assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 2.0));
            out
        };
        let decoded = VoiceEnhancement::ALL.map(decode_switching_at_10);
        for (i, a) in decoded.iter().enumerate() {
            for (j, b) in decoded.iter().enumerate().skip(i + 1) {
                assert_eq!(
                    largest_difference(&a[..10 * FRAME], &b[..10 * FRAME]),
                    0.0,
                    "levels {i} and {j} differ before the switch"
                );
                let largest_difference = largest_difference(&a[10 * FRAME..], &b[10 * FRAME..]);
                assert!(
                    largest_difference > 1e-3,
                    "enhancement levels {i} and {j} decode alike (largest difference \
                     {largest_difference}): is libopus built with its OSCE models?"
                );
                // An enhancer reshapes detail; it does not change what was said.
                let similar = correlation(&a[10 * FRAME..], &b[10 * FRAME..]);
                assert!(similar > 0.8, "levels {i} and {j}: correlation {similar}");
            }
        }
    }

    #[test]
    fn enhancement_levels_from_the_c_abi() {
        assert_eq!(
            VoiceEnhancement::from_level(0).unwrap(),
            VoiceEnhancement::Off
        );
        assert_eq!(
            VoiceEnhancement::from_level(1).unwrap(),
            VoiceEnhancement::Light
        );
        assert_eq!(
            VoiceEnhancement::from_level(2).unwrap(),
            VoiceEnhancement::Strong
        );
        for bad in [-1, 3, i32::MAX, i32::MIN] {
            let e = VoiceEnhancement::from_level(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument);
            assert!(e.reason.contains(&bad.to_string()), "{}", e.reason);
        }
        assert_eq!(VoiceEnhancement::default(), VoiceEnhancement::Off);
        assert_eq!(
            VoiceEnhancement::Off.decoder_complexity(),
            DECODER_COMPLEXITY
        );
    }

    #[test]
    fn decoder_complexity_above_ten_is_an_error() {
        assert_eq!(
            VoiceDecoder::with_complexity(FRAME, 11).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert!(VoiceDecoder::with_complexity(FRAME, 10).is_ok());
    }

    #[test]
    fn conceal_produces_finite_samples() {
        let input = speech_like(FRAME * 10);
        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let packets = encode_all(&mut enc, &input);
        let mut dec = VoiceDecoder::new(FRAME).unwrap();
        let mut buf = [0.0f32; FRAME];
        // Concealing before any packet, after packets, and many times in a row.
        assert_eq!(dec.conceal(&mut buf).unwrap(), FRAME);
        for p in &packets {
            dec.decode(p, &mut buf).unwrap();
        }
        for _ in 0..20 {
            assert_eq!(dec.conceal(&mut buf).unwrap(), FRAME);
            assert!(buf.iter().all(|s| s.is_finite() && s.abs() <= 2.0));
        }
        dec.reset();
        assert_eq!(dec.decode(&packets[0], &mut buf).unwrap(), FRAME);
    }

    #[test]
    fn ten_ms_frames_work_too() {
        let input = speech_like(4_800);
        let mut enc = VoiceEncoder::new(EncoderConfig {
            frame_samples: 480,
            ..EncoderConfig::default()
        })
        .unwrap();
        let packets = encode_all(&mut enc, &input);
        assert_eq!(packets.len(), 10);
        let mut dec = VoiceDecoder::new(480).unwrap();
        let mut buf = [0.0f32; 480];
        for p in &packets {
            assert_eq!(dec.decode(p, &mut buf).unwrap(), 480);
        }
        assert_eq!(dec.decode_fec(&packets[3], &mut buf).unwrap(), 480);
    }

    #[test]
    fn wrong_sizes_and_settings_are_errors() {
        for bad in [0, 441, 959, 961, 1920] {
            let cfg = EncoderConfig {
                frame_samples: bad,
                ..EncoderConfig::default()
            };
            assert_eq!(
                VoiceEncoder::new(cfg).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
            assert_eq!(
                VoiceDecoder::new(bad).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        for (bitrate_bps, complexity) in [(500, 9), (1_000_000, 9), (28_000, 11)] {
            let cfg = EncoderConfig {
                bitrate_bps,
                complexity,
                ..EncoderConfig::default()
            };
            assert_eq!(
                VoiceEncoder::new(cfg).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }

        let mut enc = VoiceEncoder::new(EncoderConfig::default()).unwrap();
        let mut out = [0u8; MAX_PACKET_BYTES];
        for len in [0, 480, 959, 961] {
            let err = enc.encode(&vec![0.0; len], &mut out).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
        }
        // Non-finite input is encoded as silence, not an error and not a poisoned encoder.
        let mut frame = vec![0.1f32; FRAME];
        frame[5] = f32::NAN;
        frame[6] = f32::INFINITY;
        assert!(enc.encode(&frame, &mut out).unwrap() > 0);
        // A buffer too small for any packet is an error, not a panic.
        assert!(enc.encode(&[0.0; FRAME], &mut []).is_err());

        let mut dec = VoiceDecoder::new(FRAME).unwrap();
        let packet = {
            let n = enc.encode(&[0.0; FRAME], &mut out).unwrap();
            out[..n].to_vec()
        };
        let mut short = [0.0f32; 480];
        assert_eq!(
            dec.decode(&packet, &mut short).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert!(dec.decode_fec(&packet, &mut short).is_err());
        assert!(dec.conceal(&mut short).is_err());
        let mut buf = [0.0f32; FRAME];
        assert!(dec.decode(&[], &mut buf).is_err());
        assert!(dec.decode_fec(&[], &mut buf).is_err());
        assert_eq!(dec.decode(&packet, &mut buf).unwrap(), FRAME);

        // Part of a frame, in 2.5 ms steps only.
        assert_eq!(dec.conceal_part(&mut buf, 240).unwrap(), 240);
        assert!(dec.conceal_part(&mut buf, 100).is_err());

        enc.set_expected_loss(250);
        assert_eq!(enc.expected_loss(), 100);
    }

    #[test]
    fn garbage_packets_are_errors_not_panics() {
        let mut dec = VoiceDecoder::new(FRAME).unwrap();
        let mut buf = [0.0f32; FRAME];
        // Malformed by the framing rules of RFC 6716 section 3.2, so Opus must reject them:
        let malformed: [&[u8]; 4] = [
            &[0x03, 0x00],             // code 3 with zero frames
            &[0x01, 0x00, 0x00, 0x00], // code 1 (two equal frames) with an odd payload
            &[0x02, 0xff],             // code 2 whose first frame length runs past the end
            &[0x03, 0x30],             // code 3 asking for 48 frames (2.4 s > 120 ms)
        ];
        for p in malformed {
            let err = dec.decode(p, &mut buf).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{p:?}: {err}");
        }
        // Random bytes: each either decodes to finite audio or is an error; never a panic.
        let mut x = 0x1234_5678u32;
        for len in 1..200 {
            let p: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if let Ok(n) = dec.decode(&p, &mut buf) {
                assert!(buf[..n].iter().all(|s| s.is_finite()));
            }
            let _ = dec.decode_fec(&p, &mut buf);
        }
        // Still a working decoder afterwards.
        assert_eq!(dec.conceal(&mut buf).unwrap(), FRAME);
    }
}
