//! Mixing the members' decoded streams into the one stream the speaker plays.
//!
//! Summing N voices can exceed full scale whenever two people talk at once; a hard clip at
//! ±1.0 then produces harsh, wide-band distortion exactly when the conversation is busiest. Two
//! tools keep the sum inside [-1, 1]:
//!
//! - [`Limiter`] (used by [`Mixer`]) is the one to use on a stream. It is a peak limiter without
//!   look-ahead (look-ahead would add latency to every call): an envelope follower with instant
//!   attack, a short hold and a slow release drives a gain with a soft knee. Below the knee
//!   (0.9) the gain is exactly 1, so normal levels pass bit-exact; above it the *gain* changes,
//!   not the waveform, so a loud sum comes out quieter but with its shape intact. The hold
//!   (longer than one period of any voice fundamental) keeps the gain from rippling between the
//!   peaks of a steady tone, which would otherwise be audible as distortion.
//! - [`soft_clip`] is a memoryless safety net: identity below the knee, a smooth tanh curve
//!   above it that approaches but never exceeds ±1. It distorts loud input (it is a waveshaper)
//!   but never clicks, and it needs no state, so the free [`mix_into`] uses it.
//!
//! A non-finite sample (NaN or ±inf from a broken decoder or a buggy engine callback) is
//! treated as silence everywhere here: one bad member must not turn everyone's speaker into
//! noise, and a NaN that reached the limiter's envelope would mute the output forever.
//!
//! Nothing here allocates, locks or blocks, so all of it may run in the device callback.

/// Where the soft knee starts: below this magnitude, signals pass unchanged. 0.9 leaves 1 dB of
/// headroom for the knee to bend over in, while normal speech levels (peaks well under -3 dBFS)
/// are never touched.
pub const KNEE: f32 = 0.9;

/// Peak envelope hold: 20 ms is longer than one period of any voice fundamental (>= 50 Hz), so a
/// steady loud passage sees a constant gain rather than one that breathes every cycle.
const HOLD_MS: f32 = 20.0;

/// Release time constant: slow enough that the gain does not pump between syllables, fast
/// enough that a quiet member after a loud one is back at full level within about a second.
const RELEASE_MS: f32 = 250.0;

/// The soft-knee curve: identity for |x| <= [`KNEE`], then `KNEE + (1 - KNEE) * tanh(..)`, which
/// has slope 1 at the knee (no kink) and approaches ±1 without reaching past it. Non-finite
/// input yields 0 (see the module documentation).
#[inline]
pub fn soft_clip(x: f32) -> f32 {
    if !x.is_finite() {
        return 0.0;
    }
    let magnitude = x.abs();
    if magnitude <= KNEE {
        return x;
    }
    let headroom = 1.0 - KNEE;
    let bent = KNEE + headroom * ((magnitude - KNEE) / headroom).tanh();
    // tanh can round to exactly 1.0 in f32; the clamp is a guard against any further rounding.
    bent.min(1.0).copysign(x)
}

/// Sum `inputs` into `out` (overwriting it) and soft-clip the result into [-1, 1].
///
/// `out.len()` sets the length: shorter inputs count as silence past their end, longer ones are
/// cut. No inputs gives silence. A single input below the knee passes unchanged.
///
/// This is the stateless convenience: for a continuous stream prefer [`Mixer::mix_into`], whose
/// limiter lowers the gain of a loud sum instead of bending its waveform.
pub fn mix_into(out: &mut [f32], inputs: &[&[f32]]) {
    sum_into(out, inputs);
    for sample in out.iter_mut() {
        *sample = soft_clip(*sample);
    }
}

/// Sum `inputs` into `out` (overwriting it) with no limiting; non-finite samples count as 0.
/// The sum of finite samples can still overflow to infinity; both limiting stages treat that
/// as 0 too.
pub fn sum_into(out: &mut [f32], inputs: &[&[f32]]) {
    out.fill(0.0);
    for input in inputs {
        for (o, &x) in out.iter_mut().zip(input.iter()) {
            if x.is_finite() {
                *o += x;
            }
        }
    }
}

/// Stateful mixer: sums the members' frames and runs the sum through a [`Limiter`], so loud
/// overlaps come out quieter but undistorted. Keep one per output stream.
#[derive(Debug, Clone)]
pub struct Mixer {
    limiter: Limiter,
}

impl Mixer {
    /// A mixer for a stream at `sample_rate` (the engine's rate is [`super::SAMPLE_RATE`]).
    pub fn new(sample_rate: u32) -> Self {
        Mixer {
            limiter: Limiter::new(sample_rate),
        }
    }

    /// Sum `inputs` into `out` (overwriting it; same length rules as the free [`mix_into`]) and
    /// limit the result into [-1, 1].
    pub fn mix_into(&mut self, out: &mut [f32], inputs: &[&[f32]]) {
        sum_into(out, inputs);
        self.limiter.process(out);
    }

    /// The limiter, e.g. to read its current gain for a meter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

/// Look-ahead-free peak limiter with a soft knee: instant attack, [`HOLD_MS`] hold, then an
/// exponential release of the peak envelope. The gain is `soft_clip(env) / env`, so the output
/// peak follows the soft-knee curve of the envelope: unity below [`KNEE`], never above 1.0.
#[derive(Debug, Clone)]
pub struct Limiter {
    envelope: f32,
    hold_samples: u32,
    hold_left: u32,
    release: f32,
}

impl Limiter {
    /// A limiter for a stream at `sample_rate` Hz (the time constants are set from it).
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(1) as f32;
        Limiter {
            envelope: 0.0,
            hold_samples: (rate * HOLD_MS / 1000.0) as u32,
            hold_left: 0,
            release: (-1.0 / (rate * RELEASE_MS / 1000.0)).exp(),
        }
    }

    /// Limit `buf` in place. Non-finite samples become 0. Never allocates.
    pub fn process(&mut self, buf: &mut [f32]) {
        for sample in buf.iter_mut() {
            let x = if sample.is_finite() { *sample } else { 0.0 };
            let magnitude = x.abs();
            if magnitude >= self.envelope {
                // Instant attack: without look-ahead, the only way to keep this very sample
                // within range is to take the gain down now.
                self.envelope = magnitude;
                self.hold_left = self.hold_samples;
            } else if self.hold_left > 0 {
                self.hold_left -= 1;
            } else {
                self.envelope *= self.release;
            }
            let y = x * gain_for(self.envelope);
            // Mathematically |y| <= soft_clip(envelope) < 1; the clamp only guards rounding.
            *sample = y.clamp(-1.0, 1.0);
        }
        if self.envelope < 1e-20 {
            // Keep the decaying envelope out of the (slow) subnormal range.
            self.envelope = 0.0;
        }
    }

    /// The gain applied to the most recent sample (1.0 when not limiting).
    pub fn gain(&self) -> f32 {
        gain_for(self.envelope)
    }

    /// Return to unity gain, e.g. after the output device restarts.
    pub fn reset(&mut self) {
        self.envelope = 0.0;
        self.hold_left = 0;
    }
}

/// Gain that maps a peak envelope onto the soft-knee curve.
#[inline]
fn gain_for(envelope: f32) -> f32 {
    if envelope <= KNEE {
        1.0
    } else {
        soft_clip(envelope) / envelope
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const RATE: u32 = 48_000;

    fn sine(freq: f32, amplitude: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| amplitude * (2.0 * PI * freq * i as f32 / RATE as f32).sin())
            .collect()
    }

    fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for (&x, &y) in a.iter().zip(b) {
            ab += x as f64 * y as f64;
            aa += x as f64 * x as f64;
            bb += y as f64 * y as f64;
        }
        ab / (aa.sqrt() * bb.sqrt())
    }

    #[test]
    fn single_quiet_input_passes_unchanged() {
        let input = sine(440.0, 0.8, 4_800);
        let mut out = vec![1.0; input.len()];
        mix_into(&mut out, &[&input]);
        assert_eq!(out, input, "free mix_into is bit-exact below the knee");

        let mut mixer = Mixer::new(RATE);
        let mut out = vec![0.0; 480];
        for frame in input.chunks(480) {
            mixer.mix_into(&mut out, &[frame]);
            assert_eq!(out, frame, "limited mix is bit-exact below the knee");
        }
        assert_eq!(mixer.limiter().gain(), 1.0);
    }

    #[test]
    fn two_quiet_inputs_sum_exactly() {
        let a = sine(300.0, 0.3, 960);
        let b = sine(500.0, 0.3, 960);
        let mut out = vec![0.0; 960];
        Mixer::new(RATE).mix_into(&mut out, &[&a, &b]);
        for i in 0..960 {
            assert!((out[i] - (a[i] + b[i])).abs() <= 1e-6);
        }
    }

    #[test]
    fn three_full_scale_sines_stay_in_range_and_keep_their_shape() {
        let len = RATE as usize; // one second
        let a = sine(220.0, 1.0, len);
        let b = sine(330.0, 1.0, len);
        let c = sine(550.0, 1.0, len);
        let ideal: Vec<f32> = (0..len).map(|i| a[i] + b[i] + c[i]).collect();

        // Stream through the stateful mixer in 10 ms frames, as the playback path does.
        let mut mixer = Mixer::new(RATE);
        let mut out = vec![0.0; len];
        for (k, frame) in out.chunks_mut(480).enumerate() {
            let r = k * 480..(k + 1) * 480;
            mixer.mix_into(frame, &[&a[r.clone()], &b[r.clone()], &c[r]]);
        }
        assert!(out.iter().all(|s| s.abs() <= 1.0));
        let corr = correlation(&out, &ideal);
        assert!(corr > 0.99, "correlation {corr}");
        // After the first peaks the gain is steady: the tail is an exact scaled copy.
        let tail = len / 2..len;
        let corr_tail = correlation(&out[tail.clone()], &ideal[tail]);
        assert!(corr_tail > 0.9999, "tail correlation {corr_tail}");
        assert!(mixer.limiter().gain() < 0.5);

        // The stateless path also stays in range (it bends the waveform instead).
        let mut out = vec![0.0; len];
        mix_into(&mut out, &[&a, &b, &c]);
        assert!(out.iter().all(|s| s.abs() <= 1.0));
    }

    #[test]
    fn gain_recovers_after_a_loud_passage() {
        let mut limiter = Limiter::new(RATE);
        let mut loud = sine(200.0, 2.0, 4_800);
        limiter.process(&mut loud);
        assert!(limiter.gain() < 0.6);
        let mut quiet = sine(200.0, 0.2, RATE as usize * 2);
        limiter.process(&mut quiet);
        assert_eq!(limiter.gain(), 1.0);
        let expected = sine(200.0, 0.2, RATE as usize * 2);
        let tail = RATE as usize..RATE as usize * 2;
        assert_eq!(quiet[tail.clone()], expected[tail]);
    }

    #[test]
    fn non_finite_inputs_never_propagate() {
        let bad = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.5,
            f32::NAN,
            -0.25,
        ];
        let good = [0.1; 6];
        let mut out = [0.0; 6];
        mix_into(&mut out, &[&bad, &good]);
        let expected = [0.1, 0.1, 0.1, 0.6, 0.1, -0.15];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() <= 1e-6, "{out:?}");
        }

        let mut mixer = Mixer::new(RATE);
        mixer.mix_into(&mut out, &[&bad, &good]);
        assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
        // The limiter state is not poisoned: a normal frame afterwards passes unchanged.
        let frame = sine(440.0, 0.5, 480);
        let mut out = vec![0.0; 480];
        mixer.mix_into(&mut out, &[&frame]);
        assert_eq!(out, frame);

        // Finite samples whose sum overflows are silenced, not propagated.
        let huge = [f32::MAX; 2];
        let mut out = [0.0; 2];
        mix_into(&mut out, &[&huge, &huge]);
        assert_eq!(out, [0.0, 0.0]);
        mixer.mix_into(&mut out, &[&huge, &huge]);
        assert_eq!(out, [0.0, 0.0]);

        let mut buf = [f32::NAN; 4];
        Limiter::new(RATE).process(&mut buf);
        assert_eq!(buf, [0.0; 4]);
    }

    #[test]
    fn empty_inputs_give_silence() {
        let mut out = [0.7; 8];
        mix_into(&mut out, &[]);
        assert_eq!(out, [0.0; 8]);
        let mut out = [0.7; 8];
        Mixer::new(RATE).mix_into(&mut out, &[&[]]);
        assert_eq!(out, [0.0; 8]);
        mix_into(&mut [], &[&[1.0, 2.0]]);
    }

    #[test]
    fn inputs_of_different_lengths() {
        let mut out = [9.0; 4];
        mix_into(&mut out, &[&[0.1, 0.1], &[0.2, 0.2, 0.2, 0.2, 0.2, 0.2]]);
        let expected = [0.3, 0.3, 0.2, 0.2];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() <= 1e-6);
        }
    }

    #[test]
    fn soft_clip_curve() {
        assert_eq!(soft_clip(0.0), 0.0);
        assert_eq!(soft_clip(0.9), 0.9);
        assert_eq!(soft_clip(-0.5), -0.5);
        assert_eq!(soft_clip(f32::NAN), 0.0);
        assert_eq!(soft_clip(f32::INFINITY), 0.0);
        let mut previous = 0.0;
        for i in 0..10_000 {
            let x = i as f32 * 0.001;
            let y = soft_clip(x);
            assert!(y <= 1.0 && y >= previous, "monotonic and bounded at {x}");
            assert_eq!(soft_clip(-x), -y, "odd");
            previous = y;
        }
        // Smooth at the knee: the slope just above it is still ~1.
        let slope = (soft_clip(KNEE + 1e-3) - soft_clip(KNEE)) / 1e-3;
        assert!((slope - 1.0).abs() < 0.02, "slope {slope}");
        assert!(soft_clip(1.0) < 1.0 && soft_clip(3.0) > 0.99);
    }
}
