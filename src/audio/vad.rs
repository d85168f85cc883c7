//! Voice activity detection: decides, frame by frame, whether the local member is speaking.
//!
//! The decision drives two things that users notice: whether we send audio at all (bandwidth,
//! and nobody wants to hear a fan) and the `onVoIPChatSpeakersChanged` event (the "who is
//! talking" indicator in a game's UI). Both punish a detector that flaps on and off between
//! words far more than one that is a little late or a little long, so the design favours
//! stability:
//!
//! 1. **High-pass before energy.** A 2nd-order Butterworth high-pass (120 Hz by default) removes
//!    DC offset (common on cheap USB microphones) and most mains hum and handling rumble, none of
//!    which is speech. Its state is primed with the first sample, so a device that starts with a
//!    DC offset does not produce a step transient that looks like an onset.
//! 2. **Adaptive noise floor by minimum statistics.** The floor is the minimum frame level seen
//!    over a sliding window (~2 s, kept as a fixed ring of sub-window minima, so no allocation).
//!    It follows the noise *down* immediately (a quieter frame is proof the floor is lower) and
//!    *up* only slowly, when the whole window has been louder (a fan switched on, a car engine):
//!    speech always has pauses within a couple of seconds, so it never drags the floor up.
//! 3. **Hysteresis.** Speech starts only when the level clears the floor by `onset_db` (for
//!    `onset_frames` consecutive frames, which rejects single clicks), but once speaking it
//!    continues while the level clears the lower `release_db`, so a decaying syllable does not
//!    cut off early.
//! 4. **Absolute minimum.** Nothing below `min_level_db` is ever speech: digital silence, a muted
//!    device, or a very quiet room would otherwise let the relative thresholds fire on noise.
//! 5. **Hold.** After the last active frame the decision stays `true` for `hold_ms`, bridging the
//!    150-250 ms pauses between words so the speaker indicator and the stream do not flap.
//!
//! The detector is sans-IO: it sees only sample frames and counts time in samples, so it is
//! deterministic and unit-tested without a clock or a device. [`Vad::process`] never allocates
//! and is cheap enough (one biquad and a sum of squares per sample) to run on the capture path.

use super::{frame_samples, SAMPLE_RATE};

/// The level reported for digital silence (and the lowest level ever reported), in dBFS.
pub const SILENCE_DB: f32 = -120.0;

/// Number of sub-windows in the noise-floor minimum tracker. More sub-windows make the floor
/// rise more smoothly after a noise increase; 8 keeps the state a small fixed array.
const FLOOR_BLOCKS: usize = 8;

/// Tuning for [`Vad`]. All levels are dBFS of the high-passed signal's mean square, so a
/// full-scale sine reads about -3 dB.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Nominal samples per frame at 48 kHz (480 for 10 ms, 960 for 20 ms). `process` accepts
    /// other lengths too: time (hold, noise window) is counted in samples, not in frames.
    pub frame_samples: usize,
    /// How long the decision stays `true` after the last active frame. 300 ms bridges the pauses
    /// between words without holding on noticeably after the end of a sentence.
    pub hold_ms: u32,
    /// Level above the noise floor needed to *start* speech. 10 dB is well above the frame to
    /// frame fluctuation of steady noise, well below normal speech over room noise.
    pub onset_db: f32,
    /// Level above the noise floor needed to *continue* speech (hysteresis; lower than onset).
    pub release_db: f32,
    /// Absolute level below which a frame is never speech, whatever the floor says.
    pub min_level_db: f32,
    /// Consecutive frames above the onset threshold needed to start speech. 2 rejects single
    /// clicks and keys at the cost of one frame of onset delay.
    pub onset_frames: u32,
    /// Length of the noise-floor minimum window. The floor rises to a new, louder noise level
    /// after at most this long (plus one sub-window); it must be longer than any stretch of
    /// speech without a pause.
    pub floor_window_ms: u32,
    /// Cut-off of the high-pass applied before measuring energy.
    pub highpass_hz: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            frame_samples: frame_samples(10),
            hold_ms: 300,
            onset_db: 10.0,
            release_db: 5.0,
            min_level_db: -55.0,
            onset_frames: 2,
            floor_window_ms: 2_000,
            highpass_hz: 120.0,
        }
    }
}

impl VadConfig {
    /// The default tuning for frames of `frame_ms` milliseconds at 48 kHz.
    pub fn for_frame_ms(frame_ms: u32) -> Self {
        VadConfig {
            frame_samples: frame_samples(frame_ms),
            ..VadConfig::default()
        }
    }
}

/// Energy-based voice activity detector with an adaptive noise floor, hysteresis and hold.
/// See the module documentation for the reasoning behind each stage.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    highpass: HighPass,
    floor: FloorTracker,
    hold_samples: usize,
    hold_left: usize,
    onset_count: u32,
    speaking: bool,
    level_db: f32,
}

impl Vad {
    /// A detector in the "not speaking" state with no noise estimate yet (the first frame
    /// becomes the initial floor, so steady noise present from the start never triggers).
    pub fn new(config: VadConfig) -> Self {
        let sample_rate = SAMPLE_RATE as usize;
        let hold_samples = sample_rate * config.hold_ms as usize / 1000;
        let window_samples = (sample_rate * config.floor_window_ms as usize / 1000).max(1);
        Vad {
            highpass: HighPass::new(config.highpass_hz, SAMPLE_RATE as f32),
            floor: FloorTracker::new((window_samples / FLOOR_BLOCKS).max(1)),
            hold_samples,
            hold_left: 0,
            onset_count: 0,
            speaking: false,
            level_db: SILENCE_DB,
            config,
        }
    }

    /// Feed one frame of 48 kHz mono audio; returns whether the member is speaking now, after
    /// hysteresis and hold. Non-finite samples count as silence. An empty frame changes nothing.
    pub fn process(&mut self, frame: &[f32]) -> bool {
        if frame.is_empty() {
            return self.speaking;
        }
        let n = frame.len();
        let mut sum_sq = 0.0f64;
        for &x in frame {
            let x = if x.is_finite() { x } else { 0.0 };
            let y = self.highpass.run(x as f64);
            sum_sq += y * y;
        }
        self.highpass.flush_denormals();
        let mean_sq = sum_sq / n as f64;
        let level = (10.0 * mean_sq.max(1e-12).log10()) as f32;
        self.level_db = level.max(SILENCE_DB);

        // Include this frame before deciding: if it is the quietest yet, it *is* the floor.
        self.floor.update(self.level_db, n);
        let floor = self.floor.floor();
        let audible = self.level_db >= self.config.min_level_db;
        let above_onset = audible && self.level_db >= floor + self.config.onset_db;
        let above_release = audible && self.level_db >= floor + self.config.release_db;

        if self.speaking {
            if above_release {
                self.hold_left = self.hold_samples;
            } else if self.hold_left > 0 {
                self.hold_left = self.hold_left.saturating_sub(n);
            } else {
                self.speaking = false;
            }
        } else if above_onset {
            self.onset_count += 1;
            if self.onset_count >= self.config.onset_frames.max(1) {
                self.speaking = true;
                self.hold_left = self.hold_samples;
                self.onset_count = 0;
            }
        } else {
            self.onset_count = 0;
        }
        self.speaking
    }

    /// Level of the last frame, in dBFS of its high-passed mean square (a full-scale sine reads
    /// about -3 dB; silence reads [`SILENCE_DB`]). Useful for a microphone meter.
    pub fn level_db(&self) -> f32 {
        self.level_db
    }

    /// The current noise-floor estimate in dBFS ([`SILENCE_DB`] before the first frame).
    pub fn noise_floor_db(&self) -> f32 {
        let floor = self.floor.floor();
        if floor.is_finite() {
            floor
        } else {
            SILENCE_DB
        }
    }

    /// The last decision returned by [`Vad::process`].
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// The configuration this detector runs with.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Forget everything (floor, filter state, decision), e.g. when the capture device changes.
    pub fn reset(&mut self) {
        *self = Vad::new(self.config.clone());
    }
}

/// 2nd-order Butterworth high-pass (RBJ cookbook biquad, direct form I). State is f64 because
/// a 120 Hz pole at 48 kHz sits close to the unit circle, where f32 state loses precision.
#[derive(Debug, Clone)]
struct HighPass {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
    primed: bool,
}

impl HighPass {
    fn new(cutoff_hz: f32, sample_rate: f32) -> Self {
        // Keep the cut-off sane even for odd configurations (0 Hz or above Nyquist).
        let fc = (cutoff_hz as f64).clamp(1.0, sample_rate as f64 * 0.45);
        let w0 = 2.0 * std::f64::consts::PI * fc / sample_rate as f64;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        HighPass {
            b0: (1.0 + cos) / 2.0 / a0,
            b1: -(1.0 + cos) / a0,
            b2: (1.0 + cos) / 2.0 / a0,
            a1: -2.0 * cos / a0,
            a2: (1.0 - alpha) / a0,
            x1: 0.0,
            x2: 0.0,
            y1: 0.0,
            y2: 0.0,
            primed: false,
        }
    }

    #[inline]
    fn run(&mut self, x: f64) -> f64 {
        if !self.primed {
            // Pretend the input has always been at its first value: the steady state of a
            // high-pass for a constant input is zero output, so a DC offset present from the
            // start produces no transient at all.
            self.x1 = x;
            self.x2 = x;
            self.primed = true;
        }
        let y = self.b0 * x + self.b1 * self.x1 + self.b2 * self.x2
            - self.a1 * self.y1
            - self.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }

    /// After a long silence the decaying state would reach subnormal numbers, which are very
    /// slow on x86; round them to zero (far below anything audible).
    fn flush_denormals(&mut self) {
        for v in [&mut self.y1, &mut self.y2] {
            if v.abs() < 1e-30 {
                *v = 0.0;
            }
        }
    }
}

/// Minimum of frame levels over a sliding window, as a ring of per-sub-window minima. The
/// minimum over the ring plus the sub-window in progress covers between one window and one
/// window plus one sub-window of history.
#[derive(Debug, Clone)]
struct FloorTracker {
    blocks: [f32; FLOOR_BLOCKS],
    next: usize,
    current_min: f32,
    current_samples: usize,
    block_samples: usize,
}

impl FloorTracker {
    fn new(block_samples: usize) -> Self {
        FloorTracker {
            blocks: [f32::INFINITY; FLOOR_BLOCKS],
            next: 0,
            current_min: f32::INFINITY,
            current_samples: 0,
            block_samples,
        }
    }

    fn update(&mut self, level_db: f32, samples: usize) {
        self.current_min = self.current_min.min(level_db);
        self.current_samples += samples;
        if self.current_samples >= self.block_samples {
            self.blocks[self.next] = self.current_min;
            self.next = (self.next + 1) % FLOOR_BLOCKS;
            self.current_min = f32::INFINITY;
            self.current_samples = 0;
        }
    }

    /// The floor: infinite only before the first frame.
    fn floor(&self) -> f32 {
        self.blocks.iter().fold(self.current_min, |m, &b| m.min(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const RATE: f32 = SAMPLE_RATE as f32;

    /// Deterministic white noise (xorshift), uniform in [-amplitude, amplitude].
    struct Noise(u64);
    impl Noise {
        fn next(&mut self, amplitude: f32) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let unit = (self.0 >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            (unit * 2.0 - 1.0) * amplitude
        }
    }

    /// Amplitude of uniform noise whose RMS is `db` dBFS (uniform RMS = amplitude / sqrt 3).
    fn noise_amplitude(db: f32) -> f32 {
        10f32.powf(db / 20.0) * 3f32.sqrt()
    }

    fn run(vad: &mut Vad, signal: &[f32], frame: usize) -> Vec<bool> {
        signal.chunks(frame).map(|f| vad.process(f)).collect()
    }

    /// A voiced-speech stand-in: 200 Hz fundamental with 10 harmonics falling at 1/k, scaled to
    /// `rms_db`.
    fn voiced(i: usize, rms_db: f32) -> f32 {
        let t = i as f32 / RATE;
        let mut s = 0.0;
        let mut power = 0.0;
        for k in 1..=10 {
            let a = 1.0 / k as f32;
            s += a * (2.0 * PI * 200.0 * k as f32 * t).sin();
            power += a * a / 2.0;
        }
        s / power.sqrt() * 10f32.powf(rms_db / 20.0)
    }

    #[test]
    fn digital_silence_is_never_speech() {
        let mut vad = Vad::new(VadConfig::default());
        let decisions = run(&mut vad, &vec![0.0; 48_000 * 3], 480);
        assert!(decisions.iter().all(|&d| !d));
        assert_eq!(vad.level_db(), SILENCE_DB);
    }

    #[test]
    fn steady_white_noise_is_not_speech() {
        // -45 dBFS is above the absolute minimum, so only the adaptive floor keeps it out.
        let mut vad = Vad::new(VadConfig::default());
        let mut noise = Noise(0x1234_5678);
        let amp = noise_amplitude(-45.0);
        let signal: Vec<f32> = (0..48_000 * 5).map(|_| noise.next(amp)).collect();
        let decisions = run(&mut vad, &signal, 480);
        assert!(
            decisions.iter().all(|&d| !d),
            "noise from the start never triggers"
        );
        assert!(
            (vad.noise_floor_db() - -45.0).abs() < 3.0,
            "floor {}",
            vad.noise_floor_db()
        );
    }

    #[test]
    fn noise_that_switches_on_is_learned_within_the_floor_window() {
        // A fan switching on is "speech" at first (nothing can tell yet), but the floor rises to
        // it after the minimum window, and the decision then drops after the hold.
        let config = VadConfig::default();
        let limit_ms = config.floor_window_ms
            + config.floor_window_ms / FLOOR_BLOCKS as u32
            + config.hold_ms
            + 50;
        let mut vad = Vad::new(config);
        let mut noise = Noise(42);
        let quiet = noise_amplitude(-70.0);
        let loud = noise_amplitude(-40.0);
        let mut signal: Vec<f32> = (0..48_000).map(|_| noise.next(quiet)).collect();
        signal.extend((0..48_000 * 6).map(|_| noise.next(loud)));
        let decisions = run(&mut vad, &signal, 480);
        let switch_frame = 100;
        let settled = switch_frame + limit_ms as usize / 10;
        assert!(decisions[settled..].iter().all(|&d| !d));
    }

    #[test]
    fn dc_offset_alone_is_not_speech() {
        let mut vad = Vad::new(VadConfig::default());
        let decisions = run(&mut vad, &vec![0.4; 48_000 * 2], 480);
        assert!(decisions.iter().all(|&d| !d));
        assert_eq!(
            vad.level_db(),
            SILENCE_DB,
            "the high-pass removes DC exactly"
        );

        // DC on top of low noise: the offset must not lift the measured level.
        let mut vad = Vad::new(VadConfig::default());
        let mut noise = Noise(7);
        let amp = noise_amplitude(-65.0);
        let signal: Vec<f32> = (0..48_000 * 2).map(|_| 0.3 + noise.next(amp)).collect();
        let decisions = run(&mut vad, &signal, 480);
        assert!(decisions.iter().all(|&d| !d));
        assert!(vad.level_db() < -60.0, "level {}", vad.level_db());
    }

    #[test]
    fn mains_hum_is_not_speech() {
        let mut vad = Vad::new(VadConfig::default());
        let signal: Vec<f32> = (0..48_000 * 3)
            .map(|i| 0.1 * (2.0 * PI * 50.0 * i as f32 / RATE).sin())
            .collect();
        let decisions = run(&mut vad, &signal, 480);
        assert!(decisions.iter().all(|&d| !d));
    }

    /// Noise floor at -60 dBFS; from 1 s, 2 s of 100 ms syllables every 250 ms (4 Hz, so 150 ms
    /// gaps) at -25 dBFS; then noise again.
    fn speech_scene() -> (Vec<f32>, usize, usize) {
        let mut noise = Noise(99);
        let amp = noise_amplitude(-60.0);
        let start = 48_000;
        let end = start + 48_000 * 2 - 7_200; // the last syllable ends 150 ms before 3 s
        let signal = (0..48_000 * 5)
            .map(|i| {
                let mut s = noise.next(amp);
                if (start..end).contains(&i) && (i - start) % 12_000 < 4_800 {
                    s += voiced(i, -25.0);
                }
                s
            })
            .collect();
        (signal, start, end)
    }

    fn check_speech_scene(frame: usize) {
        let config = VadConfig::for_frame_ms((frame / 48) as u32);
        let hold_frames = (config.hold_ms as usize * 48).div_ceil(frame);
        let mut vad = Vad::new(config);
        let (signal, start, end) = speech_scene();
        let decisions = run(&mut vad, &signal, frame);
        let onset = start / frame;
        let last = (end - 1) / frame;

        assert!(
            decisions[..onset].iter().all(|&d| !d),
            "no speech before onset"
        );
        assert!(decisions[onset + 1], "speaking within 2 frames of onset");
        assert!(
            decisions[onset + 1..=last].iter().all(|&d| d),
            "the 150 ms gaps between syllables are held"
        );
        let off = last + hold_frames + 3;
        assert!(
            decisions[off..].iter().all(|&d| !d),
            "silent within hold + 3 frames of the end"
        );
        assert!(decisions[last + hold_frames - 1], "the hold is honoured");
    }

    #[test]
    fn speech_bursts_over_noise_with_10ms_frames() {
        check_speech_scene(480);
    }

    #[test]
    fn speech_bursts_over_noise_with_20ms_frames() {
        check_speech_scene(960);
    }

    #[test]
    fn quiet_signal_below_the_absolute_minimum_is_not_speech() {
        // +30 dB over digital-silence-like noise, but at -70 dBFS: never speech.
        let mut vad = Vad::new(VadConfig::default());
        let mut noise = Noise(5);
        let amp = noise_amplitude(-100.0);
        let signal: Vec<f32> = (0..48_000 * 2)
            .map(|i| noise.next(amp) + if i > 24_000 { voiced(i, -70.0) } else { 0.0 })
            .collect();
        assert!(run(&mut vad, &signal, 480).iter().all(|&d| !d));
    }

    #[test]
    fn single_click_does_not_trigger() {
        let mut vad = Vad::new(VadConfig::default());
        let mut noise = Noise(11);
        let amp = noise_amplitude(-60.0);
        let mut signal: Vec<f32> = (0..48_000 * 2).map(|_| noise.next(amp)).collect();
        // A 2 ms broadband click (a key, a mouse button) inside one frame: one frame over the
        // onset threshold, not two.
        let mut click = Noise(3);
        for s in &mut signal[48_000 + 48..48_000 + 144] {
            *s += click.next(0.5);
        }
        let decisions = run(&mut vad, &signal, 480);
        assert!(vad.level_db() < -50.0);
        assert!(decisions.iter().all(|&d| !d));
    }

    #[test]
    fn level_reads_dbfs_of_mean_square() {
        let mut vad = Vad::new(VadConfig::default());
        let signal: Vec<f32> = (0..4_800)
            .map(|i| 0.1 * (2.0 * PI * 1_000.0 * i as f32 / RATE).sin())
            .collect();
        run(&mut vad, &signal, 480);
        let expected = 20.0 * (0.1f32 / 2f32.sqrt()).log10(); // -23 dB
        assert!(
            (vad.level_db() - expected).abs() < 0.3,
            "{}",
            vad.level_db()
        );
    }

    #[test]
    fn non_finite_samples_are_silence_and_empty_frames_change_nothing() {
        let mut vad = Vad::new(VadConfig::default());
        let mut frame = vec![f32::NAN; 480];
        frame[3] = f32::INFINITY;
        frame[4] = f32::NEG_INFINITY;
        for _ in 0..100 {
            assert!(!vad.process(&frame));
        }
        assert!(vad.level_db().is_finite());
        assert!(!vad.process(&[]));
    }

    #[test]
    fn reset_forgets_the_state() {
        let mut vad = Vad::new(VadConfig::default());
        let (signal, start, _) = speech_scene();
        run(&mut vad, &signal[..start + 9_600], 480);
        assert!(vad.is_speaking());
        vad.reset();
        assert!(!vad.is_speaking());
        assert_eq!(vad.level_db(), SILENCE_DB);
        assert_eq!(vad.noise_floor_db(), SILENCE_DB);
    }
}
