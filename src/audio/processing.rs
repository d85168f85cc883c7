//! The capture path's voice processing, sans-IO: a rumble filter, acoustic echo cancellation,
//! noise suppression and automatic gain control, in the order WebRTC's audio processing module
//! runs them, on 10 ms blocks of 48 kHz mono.
//!
//! The algorithms are WebRTC's (AEC3, its noise suppressor, AGC2), as ported to Rust by the
//! `aec3` crate. The C++ original (crate `webrtc-audio-processing` 2.x, bundled) needs abseil
//! 20240722 or later, which this project's build machines cannot get (Debian bookworm ships
//! 20220623); its 0.x line links WebRTC's 2016 module, whose echo canceller measured 17-28 dB
//! of echo reduction against AEC3's 38-43 dB on the same simulated room (BENCHMARKS.md).
//!
//! The chain is driven here rather than through the crate's graph runtime because each of its
//! nodes splits and merges the three frequency bands on its own: one split and one merge per
//! block, as in WebRTC itself, is what keeps the cost within a game's budget.
//!
//! The far end (what the speaker plays) goes in through [`VoiceProcessor::analyze_render`]
//! before the capture that contains its echo; the echo canceller finds the delay itself (up to
//! about half a second) and follows it as it drifts.

use aec3::api::config::EchoCanceller3Config;
use aec3::api::control::EchoControl;
use aec3::audio_processing::aec3::echo_canceller3::EchoCanceller3;
use aec3::audio_processing::agc2::input_volume_controller::Config as InputVolumeConfig;
use aec3::audio_processing::audio_buffer::AudioBuffer;
use aec3::audio_processing::gain_controller2::{
    GainController2, GainController2Config, InputVolumeControllerRuntimeConfig,
};
use aec3::audio_processing::ns::noise_suppressor::NoiseSuppressor;
use aec3::audio_processing::ns::ns_config::{NsConfig, SuppressionLevel};
use aec3::audio_processing::stream_config::StreamConfig;
use aec3::audio_processing::utility::cascaded_biquad_filter::{
    BiQuadCoefficients, CascadedBiQuadFilter,
};

use super::echo_gate::{EchoGate, BAND_SAMPLES};
use super::SAMPLE_RATE;

/// The processing unit: 10 ms at 48 kHz. Capture frames of 10 and 20 ms are one and two.
pub const BLOCK_SAMPLES: usize = (SAMPLE_RATE / 100) as usize;
/// The rate of the lowest of the three bands, where the rumble filter and AEC3's linear filter
/// run.
const LOW_BAND_RATE: f32 = 16_000.0;
/// Where the rumble filter starts to cut. WebRTC's high-pass filter sits at 100 Hz (-3 dB),
/// on the fundamental of low voices, and libopus in VoIP mode high-passes again (60-100 Hz,
/// following the pitch) before it encodes: the two together cost clean speech 0.15-0.2 PESQ
/// (issue 18's probe). What the chain itself needs gone is DC and subsonic rumble, which
/// would cost the echo canceller precision and the noise estimate its lowest bins.
const RUMBLE_CUTOFF_HZ: f32 = 40.0;
/// The gain control's gain before it has measured the talker. WebRTC starts at 15 dB, for
/// browsers whose microphones arrive quiet; on a talker already at a usual level (-25 to
/// -18 dBFS) that drives the first sentence into the limiter (-0.2 PESQ on it). From 6 dB, a
/// -40 dBFS talker still reaches the target level within 3 dB from the fourth second on.
const INITIAL_GAIN_DB: f32 = 6.0;

/// How hard the noise suppressor works: how far down it may take the noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseSuppression {
    Off,
    /// Up to 6 dB.
    Low,
    /// Up to 12 dB: WebRTC's default.
    #[default]
    Moderate,
    /// Up to 18 dB.
    High,
    /// Up to 21 dB.
    VeryHigh,
}

impl NoiseSuppression {
    /// The C ABI's numbering: 0 off, 1 low, 2 moderate, 3 high, 4 very high.
    pub fn from_level(level: i32) -> Option<Self> {
        Some(match level {
            0 => Self::Off,
            1 => Self::Low,
            2 => Self::Moderate,
            3 => Self::High,
            4 => Self::VeryHigh,
            _ => return None,
        })
    }

    pub fn level(self) -> i32 {
        match self {
            Self::Off => 0,
            Self::Low => 1,
            Self::Moderate => 2,
            Self::High => 3,
            Self::VeryHigh => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Low => "low",
            Self::Moderate => "moderate",
            Self::High => "high",
            Self::VeryHigh => "veryHigh",
        }
    }

    fn target(self) -> Option<SuppressionLevel> {
        match self {
            Self::Off => None,
            Self::Low => Some(SuppressionLevel::K6dB),
            Self::Moderate => Some(SuppressionLevel::K12dB),
            Self::High => Some(SuppressionLevel::K18dB),
            Self::VeryHigh => Some(SuppressionLevel::K21dB),
        }
    }
}

/// What runs on the microphone before voice activity detection and encoding. On by default,
/// as every voice chat ships it: a player on laptop speakers otherwise makes the room hear
/// itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioProcessing {
    pub echo_cancellation: bool,
    pub noise_suppression: NoiseSuppression,
    pub gain_control: bool,
}

impl Default for AudioProcessing {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: NoiseSuppression::default(),
            gain_control: true,
        }
    }
}

impl AudioProcessing {
    /// The raw microphone, untouched (the rumble filter is off too).
    pub const OFF: AudioProcessing = AudioProcessing {
        echo_cancellation: false,
        noise_suppression: NoiseSuppression::Off,
        gain_control: false,
    };

    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }
}

/// What the echo canceller reports about itself, for the call statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoMetrics {
    /// The delay from render to its echo in the capture, as estimated.
    pub delay_ms: i32,
    /// AEC3's own estimate of its echo return loss enhancement, in dB.
    pub erle_db: f64,
    /// Whether its output is what goes on: only while the far end may still echo
    /// (echo_gate.rs); otherwise the voice skips the canceller's 8 ms.
    pub in_path: bool,
}

/// The processing chain of one capture stream.
pub struct VoiceProcessor {
    settings: AudioProcessing,
    stream: StreamConfig,
    capture: AudioBuffer,
    render: AudioBuffer,
    rumble: CascadedBiQuadFilter,
    echo: Option<EchoCanceller3>,
    /// Whether the canceller's output or the signal before it goes on (echo_gate.rs).
    echo_gate: EchoGate,
    /// The bands before the canceller, for the gate's bypass: the low, middle and high band.
    before_echo: [[f32; BAND_SAMPLES]; 3],
    noise: Option<NoiseSuppressor>,
    /// State of the dither the suppressor's input gets (see [`LSB_DITHER`]).
    dither: u32,
    gain: Option<GainController2>,
}

/// One least significant bit of 16-bit audio, the scale the suppressor models. Its input gets
/// triangular dither of this amplitude (about -98 dBFS, below any microphone's own noise). On
/// exact digital zeros (a virtual device, an engine's noise gate, synthesised speech) its noise
/// model degenerates, and on noiseless speech after them it took the speech for noise: 4 to
/// 10 dB off from the second second on, 0.9 PESQ off the first sentence (0.4 on average over
/// six, BENCHMARKS.md). With the dither it learns the floor during the zeros and takes off
/// about 0.5 dB, as over a real microphone's noise floor.
const LSB_DITHER: f32 = 1.0 / 32_768.0;

/// Next state of a 32-bit xorshift generator: cheap, allocation-free noise for the dither.
fn xorshift(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^ (x << 5)
}

/// A second-order Butterworth high-pass at [`RUMBLE_CUTOFF_HZ`] for the low band (bilinear
/// transform, in the filter's `y = b·x - a·y` sign convention).
fn rumble_filter() -> CascadedBiQuadFilter {
    use std::f32::consts::{PI, SQRT_2};
    let k = (PI * RUMBLE_CUTOFF_HZ / LOW_BAND_RATE).tan();
    let norm = 1.0 / (1.0 + SQRT_2 * k + k * k);
    let coefficients = BiQuadCoefficients {
        b: [norm, -2.0 * norm, norm],
        a: [
            2.0 * (k * k - 1.0) * norm,
            (1.0 - SQRT_2 * k + k * k) * norm,
        ],
    };
    CascadedBiQuadFilter::with_coefficients(coefficients, 1)
}

fn new_buffer() -> AudioBuffer {
    let rate = SAMPLE_RATE as usize;
    AudioBuffer::from_sample_rates(rate, 1, rate, 1, rate)
}

fn new_echo_canceller() -> EchoCanceller3 {
    let mut config = EchoCanceller3Config::default();
    // Until it has measured the room, AEC3 takes the echo to be as loud as what is played
    // (gain 1) and suppresses the microphone whenever the far end talks. Game players mostly
    // wear headsets, where no echo comes back at all; assuming -20 dB (a laptop's coupling)
    // keeps their voices through the double talk of a call's first seconds, and the room's
    // own figures replace it as soon as the canceller has them.
    config.ep_strength.default_gain = 0.1;
    EchoCanceller3::new(config, SAMPLE_RATE as i32, 1, 1)
}

fn new_noise_suppressor(level: SuppressionLevel) -> NoiseSuppressor {
    let config = NsConfig {
        target_level: level,
        analyze_linear_aec_output_when_available: false,
    };
    NoiseSuppressor::new(config, SAMPLE_RATE as usize, 1)
}

fn new_gain_controller() -> GainController2 {
    let config = GainController2Config {
        // The SDK cannot move the operating system's microphone volume, so only the digital
        // gain adapts.
        input_volume_controller: InputVolumeControllerRuntimeConfig { enabled: false },
        ..GainController2Config::default()
    };
    let mut config = config;
    // WebRTC lets the gain lift a room's noise (and what little echo is left) up to -50 dBFS,
    // above the voice detector's absolute floor (-55 dBFS): a silent player would then send
    // noise and light up the speakers list. 10 dB under that floor keeps a quiet room quiet.
    config.adaptive_digital.max_output_noise_level_dbfs = -65.0;
    config.adaptive_digital.initial_gain_db = INITIAL_GAIN_DB;
    GainController2::new(
        config,
        InputVolumeConfig::default(),
        SAMPLE_RATE as usize,
        1,
        true,
    )
}

impl VoiceProcessor {
    pub fn new(settings: AudioProcessing) -> Self {
        let mut processor = Self {
            settings: AudioProcessing::OFF,
            stream: StreamConfig::new(SAMPLE_RATE as usize, 1, false),
            capture: new_buffer(),
            render: new_buffer(),
            rumble: rumble_filter(),
            echo: None,
            echo_gate: EchoGate::default(),
            before_echo: [[0.0; BAND_SAMPLES]; 3],
            noise: None,
            dither: 0x9e37_79b9,
            gain: None,
        };
        processor.set_settings(settings);
        processor
    }

    pub fn settings(&self) -> AudioProcessing {
        self.settings
    }

    /// Switches stages on or off from the next block on. A stage switched on starts afresh
    /// (an echo canceller converges again, within about a second of far-end speech); one that
    /// stays on keeps its state.
    pub fn set_settings(&mut self, settings: AudioProcessing) {
        if settings.echo_cancellation != self.echo.is_some() {
            self.echo = settings.echo_cancellation.then(new_echo_canceller);
            self.echo_gate = EchoGate::default();
        }
        if settings.noise_suppression != self.settings.noise_suppression {
            self.noise = settings
                .noise_suppression
                .target()
                .map(new_noise_suppressor);
        }
        if settings.gain_control != self.gain.is_some() {
            self.gain = settings.gain_control.then(new_gain_controller);
        }
        if self.settings.is_off() && !settings.is_off() {
            self.rumble.reset();
        }
        self.settings = settings;
    }

    /// Whether far-end audio is wanted at all (only the echo canceller uses it).
    pub fn wants_render(&self) -> bool {
        self.echo.is_some()
    }

    /// One block of what the speaker plays, as soon as it is handed to the output (before its
    /// echo can reach the microphone).
    pub fn analyze_render(&mut self, block: &[f32]) {
        assert_eq!(block.len(), BLOCK_SAMPLES, "render blocks are 10 ms");
        let Some(echo) = self.echo.as_mut() else {
            return;
        };
        self.echo_gate.on_render(block);
        self.render.copy_from(&[block], &self.stream);
        self.render.split_into_frequency_bands();
        echo.analyze_render(&mut self.render);
    }

    /// Processes one 10 ms block of microphone audio in place.
    pub fn process_capture(&mut self, block: &mut [f32]) {
        assert_eq!(block.len(), BLOCK_SAMPLES, "capture blocks are 10 ms");
        if self.settings.is_off() {
            return;
        }
        // Digital silence (a virtual or muted device) stays silence: the chain runs on it, to
        // keep its timing with the far end, but its comfort noise, raised by the gain control,
        // would otherwise make a silent microphone talk.
        let silent = block.iter().all(|x| *x == 0.0);
        if self.noise.is_some() {
            for x in block.iter_mut() {
                // Triangular: the sum of two uniform values, each of half an LSB either way.
                let a = self.dither;
                let b = xorshift(a);
                self.dither = xorshift(b);
                let uniform = |v: u32| v as f32 / u32::MAX as f32 - 0.5;
                *x += (uniform(a) + uniform(b)) * LSB_DITHER;
            }
        }
        let buffer = &mut self.capture;
        buffer.copy_from(&[&*block], &self.stream);
        if let Some(echo) = self.echo.as_mut() {
            echo.analyze_capture(buffer);
        }
        buffer.split_into_frequency_bands();
        // Rumble and DC go before the echo canceller models the room: neither is echo.
        self.rumble.process_in_place(buffer.split_band_mut(0, 0));
        // The noise estimate comes from the signal before echo removal, as in WebRTC.
        if let Some(noise) = self.noise.as_mut() {
            noise.analyze(buffer);
        }
        if let Some(echo) = self.echo.as_mut() {
            let bands = buffer.num_bands();
            for (band, before) in self.before_echo.iter_mut().enumerate().take(bands) {
                before.copy_from_slice(buffer.split_band(0, band));
            }
            echo.process_capture(buffer, false);
            let path = self.echo_gate.next_block(block);
            for (band, before) in self.before_echo.iter().enumerate().take(bands) {
                path.apply(before, buffer.split_band_mut(0, band));
            }
        }
        if let Some(noise) = self.noise.as_mut() {
            noise.process(buffer);
        }
        buffer.merge_frequency_bands();
        // Gain last, on the cleaned full band: amplifying echo or noise would undo the rest.
        if let Some(gain) = self.gain.as_mut() {
            gain.process(false, buffer);
        }
        buffer.copy_to_stream(&self.stream, &mut [block]);
        if silent {
            block.fill(0.0);
        }
    }

    /// The echo canceller's view of itself, while it runs.
    pub fn echo_metrics(&self) -> Option<EchoMetrics> {
        self.echo.as_ref().map(|echo| {
            let metrics = echo.metrics();
            EchoMetrics {
                delay_ms: metrics.delay_ms,
                erle_db: metrics.echo_return_loss_enhancement,
                in_path: self.echo_gate.in_path(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::room::{
        active_rms, best_lag, dbfs, drift, erle_db, mix_at_snr, si_sdr_db, speech_like, Room,
        RoomNoise,
    };

    const SECOND: usize = SAMPLE_RATE as usize;

    fn only(
        echo_cancellation: bool,
        noise: NoiseSuppression,
        gain_control: bool,
    ) -> AudioProcessing {
        AudioProcessing {
            echo_cancellation,
            noise_suppression: noise,
            gain_control,
        }
    }

    /// Runs `mic` through `processor` block by block, each capture block after the render block
    /// of the same 10 ms of `played` (the far end as the speaker got it).
    fn run(processor: &mut VoiceProcessor, played: &[f32], mic: &[f32]) -> Vec<f32> {
        let mut out = mic.to_vec();
        for (i, block) in out.chunks_exact_mut(BLOCK_SAMPLES).enumerate() {
            let start = i * BLOCK_SAMPLES;
            let mut render = [0.0f32; BLOCK_SAMPLES];
            for (k, r) in render.iter_mut().enumerate() {
                *r = played.get(start + k).copied().unwrap_or(0.0);
            }
            processor.analyze_render(&render);
            processor.process_capture(block);
        }
        out
    }

    /// A far-end talker heard through a room 150 ms away (with 3 ms of the speaker's buffering
    /// on top, and a microphone clock 50 ppm off the speaker's), and what the microphone got.
    fn far_end_in_a_room(seconds: f32) -> (Vec<f32>, Vec<f32>) {
        let far = speech_like(seconds, 140.0, 0.5);
        let room = Room::new(153.0, 0.25, 30.0, 0.5, 11);
        let echo = drift(&room.echo_of(&far, far.len()), 50.0);
        (far, echo)
    }

    #[test]
    fn echo_in_a_room_is_cancelled_once_converged() {
        let (far, echo) = far_end_in_a_room(8.0);
        let mut processor = VoiceProcessor::new(only(true, NoiseSuppression::Off, false));
        let out = run(&mut processor, &far, &echo);
        let converged = 2 * SECOND..;
        let erle = erle_db(&echo[converged.clone()], &out[converged]);
        assert!(erle >= 20.0, "ERLE after 2 s: {erle:.1} dB");
        let metrics = processor.echo_metrics().unwrap();
        assert!(
            (140..=165).contains(&metrics.delay_ms),
            "found the room's delay: {metrics:?}"
        );
        let mut off = VoiceProcessor::new(AudioProcessing::OFF);
        assert_eq!(
            run(&mut off, &far, &echo),
            echo,
            "off is the raw microphone"
        );
    }

    #[test]
    fn the_near_end_is_kept_through_double_talk() {
        let (far, echo) = far_end_in_a_room(8.0);
        let near = speech_like(8.0, 230.0, 0.5);
        let mic: Vec<f32> = echo.iter().zip(&near).map(|(e, n)| e + n).collect();
        let settings = only(true, NoiseSuppression::Off, false);
        let out = run(&mut VoiceProcessor::new(settings), &far, &mic);
        let alone = run(&mut VoiceProcessor::new(settings), &[], &near);
        // Both talk from the start; judged after the canceller's first 3 s.
        let talk = 3 * SECOND..;
        let kept = dbfs(active_rms(&out[talk.clone()])) - dbfs(active_rms(&alone[talk.clone()]));
        assert!(kept > -6.0, "the near end lost {:.1} dB", -kept);
        // What comes out follows the near end (as processed alone) more than the raw
        // microphone's echo does.
        let heard = si_sdr_db(&alone[talk.clone()], &out[talk.clone()]);
        let echo_share = si_sdr_db(&echo[talk.clone()], &out[talk]);
        assert!(
            heard > echo_share + 10.0,
            "near {heard:.1} dB, echo {echo_share:.1} dB"
        );
    }

    #[test]
    fn steady_noises_are_suppressed() {
        let speech = speech_like(6.0, 180.0, 0.5);
        let settings = only(false, NoiseSuppression::High, false);
        // The reference is the clean speech through the same chain, so the filters' phase
        // (rumble filter, band split) is not counted as distortion.
        let reference = run(&mut VoiceProcessor::new(settings), &[], &speech);
        let judged = 2 * SECOND..;
        for noise in [RoomNoise::Fan, RoomNoise::Keyboard, RoomNoise::Babble] {
            for snr in [0.0, 5.0, 10.0] {
                let noisy = mix_at_snr(&speech, &noise.generate(speech.len(), 5), snr);
                let out = run(&mut VoiceProcessor::new(settings), &[], &noisy);
                let before = si_sdr_db(&speech[judged.clone()], &noisy[judged.clone()]);
                let after = si_sdr_db(&reference[judged.clone()], &out[judged.clone()]);
                // Babble is speech: a noise suppressor is not meant to take it out, only not
                // to make it worse.
                let least = if noise == RoomNoise::Babble {
                    -0.5
                } else {
                    1.5
                };
                assert!(
                    after - before >= least,
                    "{noise:?} at {snr} dB SNR: SI-SDR {before:.1} -> {after:.1} dB"
                );
            }
        }
    }

    #[test]
    fn a_quiet_talker_is_brought_to_the_target_level() {
        let speech = speech_like(8.0, 160.0, 0.5);
        let at = |dbfs_level: f32| {
            let scale = 10f32.powf(dbfs_level / 20.0) / active_rms(&speech);
            speech.iter().map(|x| x * scale).collect::<Vec<f32>>()
        };
        let settings = only(false, NoiseSuppression::Off, true);
        let quiet = run(&mut VoiceProcessor::new(settings), &[], &at(-40.0));
        // AGC2 brings speech to about -21.6 dBFS (active RMS): within 3 dB of it from the
        // fourth second on (it starts at INITIAL_GAIN_DB and climbs about 3.5 dB a second).
        for second in 3..8 {
            let level = dbfs(active_rms(&quiet[second * SECOND..(second + 1) * SECOND]));
            assert!(
                (-24.6..=-18.6).contains(&level),
                "second {second}: {level:.1} dBFS"
            );
        }
        // A loud talker is not pushed into clipping.
        let loud = run(&mut VoiceProcessor::new(settings), &[], &at(-10.0));
        let peak = loud.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak < 1.0, "peak {peak}");
    }

    #[test]
    fn the_noise_suppressor_leaves_clean_speech_at_its_level() {
        // aec3 0.4.0's suppressor doubled its low band (vendor/aec3/PATCHES.md): 5.5 dB too
        // loud for the first 2 s, before its overall gain adjustment starts.
        let speech = speech_like(6.0, 150.0, 0.5);
        let settings = only(false, NoiseSuppression::Moderate, false);
        let out = run(&mut VoiceProcessor::new(settings), &[], &speech);
        for second in 0..6 {
            let at = second * SECOND..(second + 1) * SECOND;
            let change = dbfs(active_rms(&out[at.clone()])) - dbfs(active_rms(&speech[at]));
            assert!(
                (-2.0..=0.5).contains(&change),
                "second {second}: {change:+.1} dB"
            );
        }
    }

    /// A 16 kHz 16-bit mono WAV's samples at 48 kHz.
    fn wav_at_48k(wav: &[u8]) -> Vec<f32> {
        let data = wav
            .windows(4)
            .position(|w| w == b"data")
            .expect("data chunk")
            + 8;
        let pcm: Vec<f32> = wav[data..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
            .collect();
        let mut converter = crate::audio::resample::CaptureConverter::new(16_000, 1).unwrap();
        let mut out = Vec::new();
        converter.push(&pcm, &mut out);
        converter.push(&[0.0; 1_600], &mut out);
        out
    }

    #[test]
    fn speech_without_any_noise_after_digital_silence_keeps_its_level_through_the_suppressor() {
        // Natural speech with no noise in it at all (flite), after 0.6 s of exact zeros, as a
        // virtual device or synthesised speech gives it. On the zeros the suppressor's noise
        // model degenerated and then took the speech for noise: from the second second on it
        // cut 4 to 10 dB (0.9 PESQ off the first sentence of the live bench). The dither on its
        // input keeps it at what a real microphone's noise floor gives: about -0.5 dB.
        let speech = wav_at_48k(include_bytes!(
            "../../tests/data/flite-slt-two-sentences.wav"
        ));
        let lead = 6 * SECOND / 10;
        let mut mic = vec![0.0; lead];
        mic.extend(&speech);
        let settings = only(false, NoiseSuppression::Moderate, false);
        let out = run(&mut VoiceProcessor::new(settings), &[], &mic);
        let lag = best_lag(&mic, &out, SECOND / 50);
        let energy = |x: &[f32]| x.iter().map(|v| f64::from(v * v)).sum::<f64>();
        let half = SECOND / 2;
        for k in 0..speech.len() / half - 1 {
            let at = lead + k * half..lead + (k + 1) * half;
            let change = 10.0
                * (energy(&out[at.start + lag..at.end + lag]) / energy(&mic[at.clone()])).log10();
            assert!(
                change >= -2.0,
                "{:.1}-{:.1} s into the speech: {change:+.1} dB",
                k as f32 / 2.0,
                (k + 1) as f32 / 2.0
            );
        }
    }

    #[test]
    fn the_rumble_filter_keeps_low_voices_and_takes_out_dc() {
        let rate = LOW_BAND_RATE;
        let through = |hz: f32, offset: f32| {
            let mut filter = rumble_filter();
            let mut x: Vec<f32> = (0..rate as usize * 2)
                .map(|n| offset + (2.0 * std::f32::consts::PI * hz * n as f32 / rate).sin())
                .collect();
            filter.process_in_place(&mut x);
            // The second second, once the filter has settled.
            x.split_off(rate as usize)
        };
        let gain_db = |hz: f32| {
            let rms = active_rms(&through(hz, 0.0));
            dbfs(rms) - dbfs(std::f32::consts::FRAC_1_SQRT_2)
        };
        // A low male voice's fundamental (85-100 Hz) passes nearly whole: WebRTC's filter
        // took 3 dB off at 100 Hz.
        assert!(gain_db(100.0) > -0.5, "100 Hz: {:.2} dB", gain_db(100.0));
        assert!(gain_db(85.0) > -1.0, "85 Hz: {:.2} dB", gain_db(85.0));
        assert!(gain_db(20.0) < -6.0, "20 Hz: {:.2} dB", gain_db(20.0));
        let settled = through(300.0, 0.25);
        let dc = settled.iter().sum::<f32>() / settled.len() as f32;
        assert!(dc.abs() < 1e-3, "DC left: {dc}");
    }

    #[test]
    fn the_chain_delays_the_voice_by_less_than_a_20_ms_frame() {
        // AEC3's block framing and the noise suppressor's overlap add a fixed delay (measured
        // stage by stage in BENCHMARKS.md); it must stay well inside the mouth-to-ear budget.
        let speech = speech_like(2.0, 170.0, 0.5);
        let out = run(
            &mut VoiceProcessor::new(AudioProcessing::default()),
            &[],
            &speech,
        );
        let lag = best_lag(&speech, &out, 4 * BLOCK_SAMPLES);
        assert!(lag < 2 * BLOCK_SAMPLES, "{lag} samples");
        let aec_only = only(true, NoiseSuppression::Off, false);
        let out = run(&mut VoiceProcessor::new(aec_only), &[], &speech);
        let lag = best_lag(&speech, &out, 4 * BLOCK_SAMPLES);
        assert!(lag < BLOCK_SAMPLES, "echo canceller alone: {lag} samples");
    }

    #[test]
    fn the_echo_still_in_the_room_when_the_far_end_stops_is_cancelled() {
        // The far end talks for 6 s, then stops; its echo comes back 153 ms later and rings
        // for 50 ms more. The canceller must still be in the path for all of it.
        let (mut far, _) = far_end_in_a_room(6.0);
        far.resize(8 * SECOND, 0.0);
        let room = Room::new(153.0, 0.25, 30.0, 0.5, 11);
        let echo = room.echo_of(&far, far.len());
        let mut processor = VoiceProcessor::new(only(true, NoiseSuppression::Off, false));
        let out = run(&mut processor, &far, &echo);
        let tail = 6 * SECOND..6 * SECOND + SECOND / 2;
        let erle = erle_db(&echo[tail.clone()], &out[tail]);
        // Measured 38 dB; with the canceller leaving at the far end's last word, 17 dB.
        assert!(
            erle >= 30.0,
            "the echo after the far end stopped: {erle:.1} dB"
        );
        // 2 s of silence later, nothing can echo: the voice skips the canceller again.
        assert!(!processor.echo_metrics().unwrap().in_path);
    }

    #[test]
    fn the_echo_cancellers_delay_is_paid_only_while_the_far_end_may_echo() {
        let speech = speech_like(3.0, 170.0, 0.5);
        let aec_only = only(true, NoiseSuppression::Off, false);
        let lag_ms = |played: &[f32]| {
            let mut processor = VoiceProcessor::new(aec_only);
            let out = run(&mut processor, played, &speech);
            let in_path = processor.echo_metrics().unwrap().in_path;
            let lag = best_lag(&speech, &out, 4 * BLOCK_SAMPLES);
            (lag as f32 / 48.0, in_path)
        };
        // Nobody else talks: the voice skips the canceller (band split and filter: ~1 ms).
        let (alone, in_path) = lag_ms(&[]);
        assert!(
            alone < 2.0 && !in_path,
            "no far end: {alone} ms, in path {in_path}"
        );
        // The far end plays (in the speaker only, no echo in this microphone): the canceller
        // is in the path, with its 8 ms.
        let far = speech_like(3.0, 120.0, 0.5);
        let (with_far, in_path) = lag_ms(&far);
        assert!(
            (7.0..11.0).contains(&with_far) && in_path,
            "far end playing: {with_far} ms, in path {in_path}"
        );
    }

    #[test]
    fn stages_switch_mid_stream() {
        let (far, echo) = far_end_in_a_room(8.0);
        let mut processor = VoiceProcessor::new(AudioProcessing::OFF);
        let half = 4 * SECOND;
        let first = run(&mut processor, &far[..half], &echo[..half]);
        assert_eq!(first, echo[..half], "off is untouched");
        processor.set_settings(only(true, NoiseSuppression::Off, false));
        assert!(processor.wants_render());
        let second = run(&mut processor, &far[half..], &echo[half..]);
        let settled = 2 * SECOND..;
        let erle = erle_db(&echo[half..][settled.clone()], &second[settled]);
        assert!(erle >= 15.0, "switched on mid-stream: {erle:.1} dB");
        processor.set_settings(AudioProcessing::OFF);
        assert!(!processor.wants_render() && processor.echo_metrics().is_none());
    }
}
