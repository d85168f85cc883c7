//! Test signals and the measurements the voice tests make on what comes out.

/// A speech-like signal: a harmonic voice whose pitch glides, shaped into syllables of about
/// 200 ms with short gaps, at a talking level. Deterministic, so runs compare.
pub fn speech_like(seconds: f32, base_hz: f32, rate: u32) -> Vec<f32> {
    let n = (seconds * rate as f32) as usize;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let pitch = base_hz * (1.0 + 0.15 * (2.0 * std::f32::consts::PI * 0.7 * t).sin());
            phase += 2.0 * std::f32::consts::PI * pitch / rate as f32;
            let voice: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
            // Syllables: 4 per second, each a raised-cosine burst filling 80% of its slot.
            let slot = (t * 4.0).fract();
            let envelope = if slot < 0.8 {
                (std::f32::consts::PI * slot / 0.8).sin().powi(2)
            } else {
                0.0
            };
            0.25 * voice * envelope
        })
        .collect()
}

pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

/// Normalised cross-correlation of `output` against `reference` at `lag` (output delayed).
fn correlation_at(reference: &[f32], output: &[f32], lag: usize) -> f32 {
    let n = reference.len().min(output.len().saturating_sub(lag));
    if n == 0 {
        return 0.0;
    }
    let (r, o) = (&reference[..n], &output[lag..lag + n]);
    let dot: f32 = r.iter().zip(o).map(|(a, b)| a * b).sum();
    let energy =
        (r.iter().map(|a| a * a).sum::<f32>() * o.iter().map(|b| b * b).sum::<f32>()).sqrt();
    if energy == 0.0 {
        0.0
    } else {
        dot / energy
    }
}

/// The delay (in samples, up to `max_lag`) at which `output` best matches `reference`, and
/// the normalised correlation there. Searched coarsely on an envelope, then exactly.
pub fn align(reference: &[f32], output: &[f32], max_lag: usize) -> (usize, f32) {
    let mut best = (0, f32::MIN);
    for lag in (0..=max_lag).step_by(8) {
        let c = correlation_at(reference, output, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    let (coarse, _) = best;
    for lag in coarse.saturating_sub(8)..=(coarse + 8).min(max_lag) {
        let c = correlation_at(reference, output, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

/// [`align`] for the part of `reference` from sample `start` on: what steady state sounds like,
/// after a talkspurt's first frame of pre-roll has been absorbed.
pub fn align_from(reference: &[f32], output: &[f32], start: usize, max_lag: usize) -> (usize, f32) {
    align(
        &reference[start..],
        output.get(start..).unwrap_or(&[]),
        max_lag,
    )
}

/// Energy of `x` at `hz` (Goertzel), normalised by length.
pub fn tone_power(x: &[f32], hz: f32, rate: u32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * hz / rate as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f32).powi(2)
}

/// 10 ms windows where the reference is clearly voiced but the aligned output is (nearly)
/// silent: audible gaps.
pub fn dropouts(reference: &[f32], output: &[f32], lag: usize, rate: u32) -> usize {
    let w = rate as usize / 100;
    reference
        .chunks(w)
        .enumerate()
        .filter(|(i, r)| {
            let start = i * w + lag;
            let Some(o) = output.get(start..start + r.len()) else {
                return false;
            };
            rms(r) > 0.05 && rms(o) < 0.1 * rms(r)
        })
        .count()
}

/// [`dropouts`] for an output whose playout delay adapts (jitter, FEC headroom): each `window`
/// of the reference is aligned on its own, within `max_lag` of `base_lag`, as
/// [`windowed_correlation`] does. With one lag for the whole recording, a stretch played a
/// frame later than the rest reads as a gap at every syllable onset; a silent stretch is a gap
/// at any alignment.
pub fn dropouts_windowed(
    reference: &[f32],
    output: &[f32],
    base_lag: usize,
    window: usize,
    max_lag: usize,
    rate: u32,
) -> usize {
    reference
        .chunks(window)
        .enumerate()
        .map(|(i, r)| {
            let start = (i * window + base_lag).saturating_sub(max_lag);
            let Some(o) = output.get(start..(start + window + 2 * max_lag).min(output.len()))
            else {
                return 0;
            };
            let (lag, _) = align(r, o, 2 * max_lag);
            dropouts(r, o, lag, rate)
        })
        .sum()
}

/// Correlation of `output` with `reference` in consecutive windows, each aligned on its own
/// (within `max_lag` of `base_lag`): under jitter the playout delay adapts, so one lag cannot
/// fit a whole impaired recording, but every stretch should still match.
pub fn windowed_correlation(
    reference: &[f32],
    output: &[f32],
    base_lag: usize,
    window: usize,
    max_lag: usize,
) -> Vec<f32> {
    reference
        .chunks(window)
        .enumerate()
        .filter(|(_, r)| r.len() == window && rms(r) > 0.05)
        .map(|(i, r)| {
            let start = (i * window + base_lag).saturating_sub(max_lag);
            let Some(o) = output.get(start..(start + window + 2 * max_lag).min(output.len()))
            else {
                return 0.0;
            };
            align(r, o, 2 * max_lag).1
        })
        .collect()
}

pub fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Sample-to-sample jumps larger than `threshold`: clicks. Smooth speech at a talking level
/// moves a few hundredths per sample at 48 kHz.
pub fn clicks(x: &[f32], threshold: f32) -> usize {
    x.windows(2)
        .filter(|w| (w[1] - w[0]).abs() > threshold)
        .count()
}
