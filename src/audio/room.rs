//! A simulated room, for judging the capture path's processing without a sound card: what the
//! speaker plays reaching the microphone through the room's impulse response, the noises of a
//! player's room, and the measures that say how much of them got through (ERLE, SI-SDR,
//! speech level). Tests and benchmarks share it so their figures mean the same thing.
//!
//! Everything is deterministic (seeded), 48 kHz mono.

use super::SAMPLE_RATE;

const RATE: f32 = SAMPLE_RATE as f32;

/// A small deterministic generator (an LCG) for the room's reflections and noises.
struct Noise(u32);

impl Noise {
    /// Uniform in -1..1.
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// A loudspeaker-to-microphone path: a bulk delay (the device buffers and the distance), a
/// direct sound, then reflections decaying exponentially.
#[derive(Debug, Clone)]
pub struct Room {
    /// Samples before the direct sound.
    pub delay: usize,
    /// The response from the direct sound on.
    pub response: Vec<f32>,
}

impl Room {
    /// `delay_ms` before the direct sound; reflections for `tail_ms` decaying at `rt60_s` (the
    /// time they take to fall 60 dB); `gain` the response's energy gain (0.5: the echo 6 dB
    /// below what was played).
    pub fn new(delay_ms: f32, rt60_s: f32, tail_ms: f32, gain: f32, seed: u32) -> Room {
        let taps = ((tail_ms / 1000.0 * RATE) as usize).max(1);
        let mut noise = Noise(seed);
        let mut response: Vec<f32> = (0..taps)
            .map(|i| {
                if i == 0 {
                    return 1.0;
                }
                let t = i as f32 / RATE;
                // ln(1000) = 6.9: the energy falls 60 dB in rt60 (amplitude 1000-fold).
                0.3 * noise.next() * (-6.9 * t / rt60_s).exp()
            })
            .collect();
        let energy = response.iter().map(|h| h * h).sum::<f32>().sqrt();
        for h in response.iter_mut() {
            *h *= gain / energy;
        }
        Room {
            delay: (delay_ms / 1000.0 * RATE) as usize,
            response,
        }
    }

    /// What the microphone picks up of `played`, `len` samples long.
    pub fn echo_of(&self, played: &[f32], len: usize) -> Vec<f32> {
        let mut out = vec![0.0; len];
        for (n, y) in out.iter_mut().enumerate().skip(self.delay) {
            let m = n - self.delay;
            let taps = self.response.len().min(m + 1);
            let mut acc = 0.0;
            for (k, h) in self.response[..taps].iter().enumerate() {
                acc += h * played.get(m - k).copied().unwrap_or(0.0);
            }
            *y = acc;
        }
        out
    }
}

/// `signal` as a microphone whose clock runs `ppm` parts per million fast relative to the
/// speaker's records it: the echo path's delay drifts by that much (linear interpolation).
pub fn drift(signal: &[f32], ppm: f32) -> Vec<f32> {
    let step = 1.0 + f64::from(ppm) * 1e-6;
    (0..signal.len())
        .map(|i| {
            let x = i as f64 / step;
            let j = x.floor() as usize;
            let frac = (x - j as f64) as f32;
            let a = signal.get(j).copied().unwrap_or(0.0);
            let b = signal.get(j + 1).copied().unwrap_or(0.0);
            a + (b - a) * frac
        })
        .collect()
}

/// A speech-like signal: a harmonic voice whose pitch glides, with a breathy noise under it
/// (speech is not only harmonics, and an echo canceller learns a room from its whole band), in
/// syllables of about 200 ms with short gaps, peaking near `peak`. Different `base_hz` make
/// voices that do not correlate.
pub fn speech_like(seconds: f32, base_hz: f32, peak: f32) -> Vec<f32> {
    let n = (seconds * RATE) as usize;
    let mut phase = 0.0f32;
    let mut breath = Noise(base_hz.to_bits());
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            let pitch = base_hz * (1.0 + 0.15 * (2.0 * std::f32::consts::PI * 0.7 * t).sin());
            phase += 2.0 * std::f32::consts::PI * pitch / RATE;
            let voice: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
            // Syllables: 4 per second, each a raised-cosine burst filling 80 % of its slot.
            let slot = (t * 4.0 + base_hz / 1000.0).fract();
            let envelope = if slot < 0.8 {
                (std::f32::consts::PI * slot / 0.8).sin().powi(2)
            } else {
                0.0
            };
            peak / 1.6 * (voice + 0.3 * breath.next()) * envelope
        })
        .collect()
}

/// The noises a player's microphone picks up besides their voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomNoise {
    /// A computer fan: broadband noise, heavier at low frequencies, with a hum of blade tones.
    Fan,
    /// Keyboard clicks: short bright bursts, five to ten a second.
    Keyboard,
    /// Other people talking at once, none of them intelligible.
    Babble,
}

impl RoomNoise {
    /// `len` samples of this noise, at an RMS of 1 (scale with [`mix_at_snr`]).
    pub fn generate(self, len: usize, seed: u32) -> Vec<f32> {
        let mut noise = Noise(seed);
        let mut out: Vec<f32> = match self {
            RoomNoise::Fan => {
                // Brownish noise (white through a one-pole low-pass) plus a 120 Hz blade tone
                // and its harmonics.
                let mut low = 0.0f32;
                (0..len)
                    .map(|i| {
                        let t = i as f32 / RATE;
                        low = 0.97 * low + 0.03 * noise.next();
                        let hum: f32 = (1..4)
                            .map(|h| (2.0 * std::f32::consts::PI * 120.0 * h as f32 * t).sin())
                            .sum();
                        low * 8.0 + 0.2 * noise.next() + 0.05 * hum
                    })
                    .collect()
            }
            RoomNoise::Keyboard => {
                let mut out = vec![0.0; len];
                let mut at = 0usize;
                while at < len {
                    // A click: 4 ms of white noise with a fast decay.
                    let click = (0.004 * RATE) as usize;
                    for k in 0..click.min(len - at) {
                        out[at + k] = noise.next() * (-(k as f32) / (click as f32 / 5.0)).exp();
                    }
                    let gap = 0.1 + 0.1 * (noise.next() + 1.0) / 2.0;
                    at += (gap * RATE) as usize;
                }
                out
            }
            RoomNoise::Babble => {
                let seconds = len as f32 / RATE;
                let mut out = vec![0.0; len];
                for (k, base) in [97.0f32, 131.0, 163.0, 211.0, 251.0, 293.0]
                    .iter()
                    .enumerate()
                {
                    let voice = speech_like(seconds, base + noise.next() * 5.0, 1.0);
                    let offset = (k * 2_203) % len.max(1);
                    for (i, o) in out.iter_mut().enumerate() {
                        *o += voice[(i + offset) % len];
                    }
                }
                out
            }
        };
        let level = rms(&out);
        if level > 0.0 {
            for x in out.iter_mut() {
                *x /= level;
            }
        }
        out
    }
}

/// `speech` plus `noise` scaled so the speech (measured where it is active) stands `snr_db`
/// above it.
pub fn mix_at_snr(speech: &[f32], noise: &[f32], snr_db: f32) -> Vec<f32> {
    let speech_level = active_rms(speech);
    let noise_level = rms(noise).max(1e-12);
    let scale = speech_level / noise_level / 10f32.powf(snr_db / 20.0);
    speech
        .iter()
        .zip(noise.iter().chain(std::iter::repeat(&0.0)))
        .map(|(s, n)| s + n * scale)
        .collect()
}

pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / x.len() as f64).sqrt() as f32
}

/// The RMS over the 10 ms blocks within 30 dB of the loudest: the level of the speech itself,
/// not of its pauses.
pub fn active_rms(x: &[f32]) -> f32 {
    let blocks: Vec<f32> = x.chunks(480).map(rms).collect();
    let loudest = blocks.iter().copied().fold(0.0f32, f32::max);
    let active: Vec<f32> = blocks.into_iter().filter(|b| *b > loudest / 31.6).collect();
    if active.is_empty() {
        return 0.0;
    }
    (active.iter().map(|b| b * b).sum::<f32>() / active.len() as f32).sqrt()
}

pub fn dbfs(level: f32) -> f32 {
    20.0 * level.max(1e-10).log10()
}

/// Echo return loss enhancement, dB: how much quieter the echo came out than it went in.
pub fn erle_db(echo_in: &[f32], echo_out: &[f32]) -> f32 {
    let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    (10.0 * (energy(echo_in) / energy(echo_out).max(1e-20)).log10()) as f32
}

/// Scale-invariant signal-to-distortion ratio, dB, of `estimate` against `reference` (same
/// alignment): how much of the estimate is the reference, at whatever gain.
pub fn si_sdr_db(reference: &[f32], estimate: &[f32]) -> f32 {
    let n = reference.len().min(estimate.len());
    let (r, e) = (&reference[..n], &estimate[..n]);
    let dot: f64 = r
        .iter()
        .zip(e)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum();
    let rr: f64 = r.iter().map(|a| f64::from(*a).powi(2)).sum();
    if rr == 0.0 {
        return f32::NEG_INFINITY;
    }
    let alpha = dot / rr;
    let (mut target, mut residual) = (0.0f64, 0.0f64);
    for (a, b) in r.iter().zip(e) {
        let t = alpha * f64::from(*a);
        target += t * t;
        residual += (f64::from(*b) - t).powi(2);
    }
    (10.0 * (target / residual.max(1e-20)).log10()) as f32
}

/// The lag (0..=`max_lag` samples) at which `output` best matches `reference`: a processing
/// chain's delay, for aligning before [`si_sdr_db`].
pub fn best_lag(reference: &[f32], output: &[f32], max_lag: usize) -> usize {
    let mut best = (0, f64::MIN);
    for lag in 0..=max_lag {
        let n = reference.len().min(output.len().saturating_sub(lag));
        let dot: f64 = reference[..n]
            .iter()
            .zip(&output[lag..lag + n])
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        if dot > best.1 {
            best = (lag, dot);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_delays_and_scales_as_asked() {
        let room = Room::new(100.0, 0.2, 50.0, 0.5, 1);
        assert_eq!(room.delay, 4800);
        let mut impulse = vec![0.0; 100];
        impulse[0] = 1.0;
        let echo = room.echo_of(&impulse, 10_000);
        assert!(echo[..4800].iter().all(|x| *x == 0.0));
        assert!(echo[4800] > 0.0);
        let energy: f32 = echo.iter().map(|x| x * x).sum();
        assert!(
            (energy.sqrt() - 0.5).abs() < 1e-3,
            "energy gain {}",
            energy.sqrt()
        );
    }

    #[test]
    fn si_sdr_ignores_gain_and_counts_what_is_added() {
        let s = speech_like(1.0, 150.0, 0.5);
        let half: Vec<f32> = s.iter().map(|x| x * 0.5).collect();
        assert!(si_sdr_db(&s, &half) > 60.0);
        let noise = RoomNoise::Fan.generate(s.len(), 3);
        let noisy = mix_at_snr(&s, &noise, 0.0);
        let sdr = si_sdr_db(&s, &noisy);
        // 0 dB over the active speech; pauses lower the whole-signal figure a little.
        assert!((-4.0..1.0).contains(&sdr), "{sdr}");
    }

    #[test]
    fn noises_are_normalised_and_differ() {
        for noise in [RoomNoise::Fan, RoomNoise::Keyboard, RoomNoise::Babble] {
            let x = noise.generate(48_000, 7);
            assert!((rms(&x) - 1.0).abs() < 1e-3, "{noise:?}");
        }
        let fan = RoomNoise::Fan.generate(48_000, 7);
        let keys = RoomNoise::Keyboard.generate(48_000, 7);
        assert!(si_sdr_db(&fan, &keys) < -10.0);
    }

    #[test]
    fn drift_stretches_time() {
        let x: Vec<f32> = (0..48_000).map(|i| i as f32).collect();
        let y = drift(&x, 1000.0);
        // 1000 ppm: the microphone takes 48 000 samples for what the speaker played in 47 952.
        assert!((y[47_999] - 47_999.0 / 1.001).abs() < 0.01);
    }
}
