//! Format conversion at the edges: whatever a sound card or a game engine uses (any rate from
//! 8 to 192 kHz, 1 to 8 interleaved channels) to and from the engine's 48 kHz mono.
//!
//! Everything between capture and playback (VAD, Opus, jitter buffer, mixer) runs at 48 kHz mono
//! so that it is written, tuned and tested once. These converters are the only place where other
//! formats exist.
//!
//! Design choices, and why:
//!
//! - **Channels are folded before resampling and spread after it.** Capture averages the
//!   channels of each frame (averaging, not summing, so a stereo device with the same signal on
//!   both sides keeps its level and a sum cannot overflow); playback copies the mono sample to
//!   every channel. Resampling then always runs on one channel, whatever the device has.
//! - **48 kHz is a bypass.** Most devices run at 48 kHz; for them the converters only fold or
//!   spread channels, with zero added delay and bit-exact samples.
//! - **A short windowed-sinc filter for everything else.** rubato's [`SincFixedIn`] with a
//!   Blackman-Harris sinc 64 taps long at the lower of the two rates: band-limited (it filters before decimating, so 48 kHz to 16 kHz
//!   playback does not alias), exact in pitch (the ratio is the exact rate ratio, kept in f64,
//!   so there is no drift however long the call), and short: it adds under a millisecond at
//!   44.1 kHz and above. A filter's delay is set by the narrower of the two bands, so 8 and
//!   16 kHz devices (Bluetooth headsets) cost 2 to 4 ms either way; a longer filter would buy a
//!   flatter top of the band, which voice does not need, at the price of delay in every call.
//! - **Small fixed chunks.** The sinc resampler consumes fixed-size input chunks; we collect
//!   input in a pre-sized accumulator and resample each chunk as soon as it is full. The chunk is
//!   about 1 ms, chosen to divide the usual 10 ms device period (441 frames at 44.1 kHz is 9
//!   chunks of 49), so pushing whole periods leaves nothing waiting. (rubato can shrink the chunk
//!   per call, but its history buffer then shifts by the wrong amount, so a varying chunk is not
//!   an option.)
//!
//! # Delay
//!
//! [`latency_samples`] reports the delay the filter adds, in output samples, when input arrives
//! in whole chunks (any multiple of 10 ms at the common rates). It is about 34 samples of the
//! lower rate (half the filter plus the resampler's look-ahead), expressed at the output rate:
//!
//! | conversion              | added delay                 |
//! |-------------------------|-----------------------------|
//! | capture 44.1 kHz -> 48  | 38 samples @48k = 0.79 ms   |
//! | capture 16 kHz -> 48    | 103 samples @48k = 2.15 ms  |
//! | playback 48 -> 44.1 kHz | 37 samples @44.1k = 0.84 ms |
//! | playback 48 -> 16 kHz   | 34 samples @16k = 2.13 ms   |
//! | anything at 48 kHz      | 0                           |
//!
//! Input pushed in pieces that are not whole chunks waits for the rest of its chunk, at most
//! `chunk_frames() - 1` input frames (under 1.1 ms); `max_latency_samples()` includes that.
//!
//! # Real-time use
//!
//! Construction allocates (filter tables, buffers). After that, `push` never allocates except
//! to grow the caller's `out` vector: reserve `max_output_len(n)` once and it will not. It
//! never locks or blocks, so a converter can live inside the device callback.

use rubato::{
    calculate_cutoff, Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::SAMPLE_RATE;

/// Lowest device or engine rate accepted.
pub const MIN_RATE: u32 = 8_000;
/// Highest device or engine rate accepted.
pub const MAX_RATE: u32 = 192_000;
/// Most interleaved channels accepted (7.1).
pub const MAX_CHANNELS: u16 = 8;

/// Sinc filter length in samples *of the lower of the two rates*: the latency/quality knob
/// (the delay is about half of it). 64 keeps the response flat (within 0.3 dB) to 70% of the
/// lower rate's Nyquist frequency and rejects aliases by 40 to 80 dB.
const SINC_TAPS_AT_LOWER_RATE: usize = 64;
/// Sinc table oversampling; with linear interpolation between table entries, 256 keeps the
/// interpolation error far below 16-bit noise for little memory.
const OVERSAMPLING: usize = 256;
/// Window with high stop-band rejection for its length.
const WINDOW: WindowFunction = WindowFunction::BlackmanHarris2;

/// Delay added by converting a stream from `input_rate` to `output_rate`, in output samples,
/// when input is pushed in whole chunks. 0 when the rates are equal (bypass). Rates outside
/// [`MIN_RATE`]..=[`MAX_RATE`] are not checked here.
pub fn latency_samples(input_rate: u32, output_rate: u32) -> usize {
    if input_rate == output_rate {
        return 0;
    }
    let ratio = output_rate as f64 / input_rate as f64;
    let sinc_len = sinc_len(input_rate, output_rate);
    // rubato emits an output sample once the input reaches half the filter, plus one, plus one
    // output step (rounded up to whole input samples), past that sample's own time; half an
    // output sample more covers the fractional phase between the two clocks. Checked against
    // an impulse measurement in the tests.
    let step = (1.0 / ratio).ceil();
    (ratio * ((sinc_len / 2 + 1) as f64 + step) + 0.5).ceil() as usize
}

/// rubato's sinc length is counted in input samples. When decimating, the band to keep is the
/// output's, so the filter must be as long *in time* as 64 output samples: a 64-tap filter at
/// 48 kHz for 8 kHz output would roll off from 1 kHz and let aliases through at -17 dB.
fn sinc_len(input_rate: u32, output_rate: u32) -> usize {
    let decimation = (input_rate as f64 / output_rate as f64).max(1.0);
    let taps = (SINC_TAPS_AT_LOWER_RATE as f64 * decimation).ceil() as usize;
    taps.div_ceil(8) * 8 // rubato rounds up to a multiple of 8 anyway; do it here so the
                         // latency computation uses the length actually built
}

/// Input frames per resampler chunk for a stream at `rate`: about 1 ms, preferably a divisor of
/// a 10, 20 or 40 ms period so that whole periods leave nothing waiting in the accumulator.
fn chunk_frames_for(rate: u32) -> usize {
    let target = rate.div_ceil(1_000) as usize;
    for period_ms in [10u32, 20, 40] {
        if (rate * period_ms) % 1_000 == 0 {
            let period = (rate * period_ms / 1_000) as usize;
            if let Some(d) = (target..=2 * target).find(|d| period % d == 0) {
                return d;
            }
        }
    }
    target
}

fn check_format(direction: &str, rate: u32, channels: u16) -> Result<(), String> {
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(format!(
            "{direction} sample rate {rate} Hz is not supported (must be {MIN_RATE}..={MAX_RATE} Hz)"
        ));
    }
    if !(1..=MAX_CHANNELS).contains(&channels) {
        return Err(format!(
            "{direction} channel count {channels} is not supported (must be 1..={MAX_CHANNELS})"
        ));
    }
    Ok(())
}

#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Mono streaming resampler: a fixed-chunk sinc resampler behind a pre-sized accumulator.
struct MonoResampler {
    inner: SincFixedIn<f32>,
    chunk: Vec<f32>,
    filled: usize,
    output: Vec<f32>,
    latency: usize,
    max_latency: usize,
}

impl MonoResampler {
    fn new(input_rate: u32, output_rate: u32) -> Result<Self, String> {
        let ratio = output_rate as f64 / input_rate as f64;
        let chunk = chunk_frames_for(input_rate);
        let parameters = SincInterpolationParameters {
            sinc_len: sinc_len(input_rate, output_rate),
            f_cutoff: calculate_cutoff(sinc_len(input_rate, output_rate), WINDOW),
            oversampling_factor: OVERSAMPLING,
            interpolation: SincInterpolationType::Linear,
            window: WINDOW,
        };
        let inner = SincFixedIn::<f32>::new(ratio, 1.0, parameters, chunk, 1).map_err(|e| {
            format!("cannot build a {input_rate} Hz -> {output_rate} Hz resampler: {e}")
        })?;
        let output = vec![0.0; inner.output_frames_max()];
        let latency = latency_samples(input_rate, output_rate);
        Ok(MonoResampler {
            inner,
            chunk: vec![0.0; chunk],
            filled: 0,
            output,
            latency,
            max_latency: latency + ((chunk - 1) as f64 * ratio).ceil() as usize,
        })
    }

    /// Add one input sample; when that completes a chunk, resample it and pass the output to
    /// `emit`. No allocation: both buffers were sized at construction.
    #[inline]
    fn push(&mut self, x: f32, mut emit: impl FnMut(&[f32])) {
        self.chunk[self.filled] = x;
        self.filled += 1;
        if self.filled < self.chunk.len() {
            return;
        }
        self.filled = 0;
        let input = [&self.chunk[..]];
        let mut output = [&mut self.output[..]];
        match self.inner.process_into_buffer(&input, &mut output, None) {
            Ok((_, written)) => emit(&self.output[..written]),
            // Unreachable: one channel and buffers of the sizes rubato asked for. Dropping a
            // chunk is the least bad thing a real-time path can do if it ever happened.
            Err(e) => debug_assert!(false, "resampler rejected its own buffer sizes: {e}"),
        }
    }

    /// Upper bound on output samples produced by pushing `input_frames` more samples.
    fn max_output(&self, input_frames: usize) -> usize {
        (self.filled + input_frames) / self.chunk.len() * self.output.len()
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.filled = 0;
    }
}

/// Converts captured audio (interleaved f32 at the device's rate and channel count) into the
/// engine's 48 kHz mono. See the module documentation for the method and its delay.
pub struct CaptureConverter {
    input_rate: u32,
    channels: u16,
    resampler: Option<MonoResampler>,
    /// Samples of a frame split across two `push` calls.
    partial: [f32; MAX_CHANNELS as usize],
    partial_len: usize,
    /// Silence still to be emitted ahead of the first output (see [`Self::push`]).
    lead_in: usize,
}

impl CaptureConverter {
    /// A converter from `input_rate` Hz, `channels` interleaved channels, to 48 kHz mono.
    /// Errors (with a message naming the bad value) outside 8..=192 kHz or 1..=8 channels.
    pub fn new(input_rate: u32, channels: u16) -> Result<Self, String> {
        check_format("capture", input_rate, channels)?;
        let resampler = if input_rate == SAMPLE_RATE {
            None
        } else {
            Some(MonoResampler::new(input_rate, SAMPLE_RATE)?)
        };
        let lead_in = resampler.as_ref().map_or(0, |r| r.latency);
        Ok(CaptureConverter {
            input_rate,
            channels,
            resampler,
            partial: [0.0; MAX_CHANNELS as usize],
            partial_len: 0,
            lead_in,
        })
    }

    /// Convert `interleaved` and append the 48 kHz mono result to `out`. Input need not be
    /// whole frames: a trailing partial frame is kept for the next call. Non-finite samples
    /// become 0. Allocates only if `out` lacks capacity (see [`Self::max_output_len`]).
    ///
    /// The output starts with the filter's delay in silence. The audio is no later for it (a
    /// sample still comes out `latency_samples` after it went in), but the count of output
    /// samples then keeps pace with the input: after pushing 10 ms at 44.1 kHz, 480 samples
    /// have come out rather than 443, so a 20 ms frame cut from the output is complete at the
    /// push that ends its 20 ms, not one push (10 ms of mouth-to-ear delay) later.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        if self.lead_in > 0 {
            out.resize(out.len() + self.lead_in, 0.0);
            self.lead_in = 0;
        }
        let channels = self.channels as usize;
        let mut rest = interleaved;
        if self.partial_len > 0 {
            let take = (channels - self.partial_len).min(rest.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&rest[..take]);
            self.partial_len += take;
            rest = &rest[take..];
            if self.partial_len < channels {
                return;
            }
            self.partial_len = 0;
            let frame = self.partial;
            self.push_mono(downmix(&frame[..channels]), out);
        }
        let mut frames = rest.chunks_exact(channels);
        for frame in &mut frames {
            self.push_mono(downmix(frame), out);
        }
        let tail = frames.remainder();
        self.partial[..tail.len()].copy_from_slice(tail);
        self.partial_len = tail.len();
    }

    #[inline]
    fn push_mono(&mut self, x: f32, out: &mut Vec<f32>) {
        match &mut self.resampler {
            None => out.push(x),
            Some(resampler) => resampler.push(x, |samples| out.extend_from_slice(samples)),
        }
    }

    /// The device rate this converter reads.
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    /// The device channel count this converter reads.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// True when the device already runs at 48 kHz: no resampling, no delay.
    pub fn is_passthrough(&self) -> bool {
        self.resampler.is_none()
    }

    /// Added delay in 48 kHz output samples when input arrives in whole chunks (see
    /// [`latency_samples`]); 0 in passthrough.
    pub fn latency_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.latency)
    }

    /// Worst-case added delay in 48 kHz output samples, for input pushed in arbitrary pieces.
    pub fn max_latency_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.max_latency)
    }

    /// Input frames per resampler chunk (1 in passthrough). Pushing multiples of this leaves
    /// nothing waiting.
    pub fn chunk_frames(&self) -> usize {
        self.resampler.as_ref().map_or(1, |r| r.chunk.len())
    }

    /// Most samples one `push` of `input_samples` interleaved samples can append; reserve this
    /// in `out` to keep `push` allocation-free.
    pub fn max_output_len(&self, input_samples: usize) -> usize {
        let frames = (self.partial_len + input_samples) / self.channels as usize;
        self.lead_in
            + self
                .resampler
                .as_ref()
                .map_or(frames, |r| r.max_output(frames))
    }

    /// Drop buffered input and filter history, e.g. after the device restarts.
    pub fn reset(&mut self) {
        if let Some(resampler) = &mut self.resampler {
            resampler.reset();
            self.lead_in = resampler.latency;
        }
        self.partial_len = 0;
    }
}

impl std::fmt::Debug for CaptureConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureConverter")
            .field("input_rate", &self.input_rate)
            .field("channels", &self.channels)
            .field("latency_samples", &self.latency_samples())
            .finish_non_exhaustive()
    }
}

/// Average one interleaved frame into a mono sample, non-finite samples counting as 0.
#[inline]
fn downmix(frame: &[f32]) -> f32 {
    if let [x] = frame {
        return sanitize(*x);
    }
    frame.iter().map(|&x| sanitize(x)).sum::<f32>() / frame.len() as f32
}

/// Converts the engine's 48 kHz mono into interleaved f32 at the device's rate and channel
/// count. See the module documentation for the method and its delay.
pub struct PlaybackConverter {
    output_rate: u32,
    channels: u16,
    resampler: Option<MonoResampler>,
}

impl PlaybackConverter {
    /// A converter from 48 kHz mono to `output_rate` Hz with `channels` interleaved channels.
    /// Errors (with a message naming the bad value) outside 8..=192 kHz or 1..=8 channels.
    pub fn new(output_rate: u32, channels: u16) -> Result<Self, String> {
        check_format("playback", output_rate, channels)?;
        let resampler = if output_rate == SAMPLE_RATE {
            None
        } else {
            Some(MonoResampler::new(SAMPLE_RATE, output_rate)?)
        };
        Ok(PlaybackConverter {
            output_rate,
            channels,
            resampler,
        })
    }

    /// Convert `mono48k` and append the interleaved result (every channel the same) to `out`.
    /// Non-finite samples become 0. Allocates only if `out` lacks capacity (see
    /// [`Self::max_output_len`]).
    pub fn push(&mut self, mono48k: &[f32], out: &mut Vec<f32>) {
        let channels = self.channels as usize;
        match &mut self.resampler {
            None => {
                for &x in mono48k {
                    upmix(sanitize(x), channels, out);
                }
            }
            Some(resampler) => {
                for &x in mono48k {
                    resampler.push(sanitize(x), |samples| {
                        for &y in samples {
                            upmix(y, channels, out);
                        }
                    });
                }
            }
        }
    }

    /// The device rate this converter writes.
    pub fn output_rate(&self) -> u32 {
        self.output_rate
    }

    /// The device channel count this converter writes.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// True when the device already runs at 48 kHz: no resampling, no delay.
    pub fn is_passthrough(&self) -> bool {
        self.resampler.is_none()
    }

    /// Added delay in output frames (at the device rate) when input arrives in whole chunks
    /// (see [`latency_samples`]); 0 in passthrough.
    pub fn latency_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.latency)
    }

    /// Worst-case added delay in output frames, for input pushed in arbitrary pieces.
    pub fn max_latency_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.max_latency)
    }

    /// 48 kHz input samples per resampler chunk (1 in passthrough).
    pub fn chunk_frames(&self) -> usize {
        self.resampler.as_ref().map_or(1, |r| r.chunk.len())
    }

    /// Most samples (frames times channels) one `push` of `input_samples` can append; reserve
    /// this in `out` to keep `push` allocation-free.
    pub fn max_output_len(&self, input_samples: usize) -> usize {
        let frames = self
            .resampler
            .as_ref()
            .map_or(input_samples, |r| r.max_output(input_samples));
        frames * self.channels as usize
    }

    /// Drop buffered input and filter history, e.g. after the device restarts.
    pub fn reset(&mut self) {
        if let Some(resampler) = &mut self.resampler {
            resampler.reset();
        }
    }
}

impl std::fmt::Debug for PlaybackConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackConverter")
            .field("output_rate", &self.output_rate)
            .field("channels", &self.channels)
            .field("latency_samples", &self.latency_samples())
            .finish_non_exhaustive()
    }
}

#[inline]
fn upmix(x: f32, channels: usize, out: &mut Vec<f32>) {
    for _ in 0..channels {
        out.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// A sine of `freq` Hz at `rate` Hz, the same on every one of `channels`, `frames` long.
    fn sine(freq: f64, amplitude: f32, rate: u32, channels: u16, frames: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(frames * channels as usize);
        for i in 0..frames {
            let s = amplitude * (2.0 * PI * freq * i as f64 / rate as f64).sin() as f32;
            v.extend(std::iter::repeat(s).take(channels as usize));
        }
        v
    }

    /// Frequency from upward zero crossings, interpolated to sub-sample precision.
    fn frequency(x: &[f32], rate: u32) -> f64 {
        let mut first = None;
        let mut last = 0.0;
        let mut count = 0usize;
        for i in 1..x.len() {
            let (a, b) = (x[i - 1] as f64, x[i] as f64);
            if a < 0.0 && b >= 0.0 {
                let t = (i - 1) as f64 + -a / (b - a);
                if first.is_none() {
                    first = Some(t);
                } else {
                    count += 1;
                }
                last = t;
            }
        }
        count as f64 / (last - first.expect("no zero crossing")) * rate as f64
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| s as f64 * s as f64).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn channel(interleaved: &[f32], channels: u16, index: usize) -> Vec<f32> {
        interleaved
            .iter()
            .skip(index)
            .step_by(channels as usize)
            .copied()
            .collect()
    }

    /// Push `input` in 10 ms periods (or the given block) and collect everything.
    fn capture_all(conv: &mut CaptureConverter, input: &[f32], block: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for piece in input.chunks(block) {
            conv.push(piece, &mut out);
        }
        out
    }

    fn playback_all(conv: &mut PlaybackConverter, input: &[f32], block: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for piece in input.chunks(block) {
            conv.push(piece, &mut out);
        }
        out
    }

    fn assert_close_hz(measured: f64, expected: f64) {
        assert!(
            (measured - expected).abs() <= expected * 0.001,
            "measured {measured} Hz, expected {expected} Hz"
        );
    }

    fn check_capture(rate: u32, channels: u16) {
        let mut conv = CaptureConverter::new(rate, channels).unwrap();
        assert_eq!((conv.input_rate(), conv.channels()), (rate, channels));
        let frames = rate as usize; // one second
        let input = sine(1_000.0, 0.5, rate, channels, frames);
        let period = (rate / 100) as usize * channels as usize;
        let out = capture_all(&mut conv, &input, period);
        let steady = &out[1_000..];
        assert_close_hz(frequency(steady, SAMPLE_RATE), 1_000.0);
        let expected_rms = 0.5 / 2f64.sqrt();
        assert!(
            (rms(steady) - expected_rms).abs() < expected_rms * 0.01,
            "{rate} Hz: level {} vs {expected_rms}",
            rms(steady)
        );
        // Length: everything in (the filter's delay is emitted up front as silence, so what it
        // still holds does not make the output fall behind the input's count).
        let ideal = frames as f64 * SAMPLE_RATE as f64 / rate as f64;
        let deficit = ideal - out.len() as f64;
        let chunk_out = conv.chunk_frames() as f64 * SAMPLE_RATE as f64 / rate as f64;
        assert!(
            deficit.abs() <= chunk_out,
            "{rate} Hz: {} out for {ideal:.1} ideal, latency {}",
            out.len(),
            conv.latency_samples()
        );
    }

    #[test]
    fn capture_44100_stereo_keeps_pitch_level_and_length() {
        check_capture(44_100, 2);
    }

    #[test]
    fn capture_other_rates_and_layouts() {
        check_capture(16_000, 1);
        check_capture(8_000, 1);
        check_capture(22_050, 2);
        check_capture(96_000, 2);
        check_capture(192_000, 6);
    }

    fn check_playback(rate: u32, channels: u16) {
        let mut conv = PlaybackConverter::new(rate, channels).unwrap();
        assert_eq!((conv.output_rate(), conv.channels()), (rate, channels));
        let input = sine(1_000.0, 0.5, SAMPLE_RATE, 1, SAMPLE_RATE as usize);
        let out = playback_all(&mut conv, &input, 480);
        assert_eq!(out.len() % channels as usize, 0);
        let first = channel(&out, channels, 0);
        for c in 1..channels as usize {
            assert_eq!(channel(&out, channels, c), first, "channels are identical");
        }
        let steady = &first[(rate / 50) as usize..];
        assert_close_hz(frequency(steady, rate), 1_000.0);
        let expected_rms = 0.5 / 2f64.sqrt();
        assert!(
            (rms(steady) - expected_rms).abs() < expected_rms * 0.01,
            "{rate} Hz: level {} vs {expected_rms}",
            rms(steady)
        );
        let ideal = rate as f64;
        let deficit = ideal - first.len() as f64;
        let chunk_out = conv.chunk_frames() as f64 * rate as f64 / SAMPLE_RATE as f64;
        assert!(
            (deficit - conv.latency_samples() as f64).abs() <= chunk_out,
            "{rate} Hz: {} out for {ideal} ideal, latency {}",
            first.len(),
            conv.latency_samples()
        );
    }

    #[test]
    fn playback_44100_stereo_keeps_pitch_and_channels_equal() {
        check_playback(44_100, 2);
    }

    #[test]
    fn playback_other_rates_and_layouts() {
        check_playback(16_000, 1);
        check_playback(96_000, 2);
        check_playback(8_000, 2);
        check_playback(11_025, 1);
    }

    #[test]
    fn no_drift_over_a_long_run_with_irregular_pushes() {
        // 6 s at 44.1 kHz stereo, pushed in awkward sizes (including split frames): the gap
        // between ideal and actual output length must stay bounded by the converter's own
        // worst-case delay, never grow.
        let mut conv = CaptureConverter::new(44_100, 2).unwrap();
        let input = sine(440.0, 0.3, 44_100, 2, 44_100 * 6);
        let ratio = SAMPLE_RATE as f64 / 44_100.0;
        let sizes = [1usize, 7, 882, 100, 1_999, 333, 4_410];
        let (mut pos, mut k) = (0, 0);
        let mut out = Vec::new();
        while pos < input.len() {
            let end = (pos + sizes[k % sizes.len()]).min(input.len());
            conv.push(&input[pos..end], &mut out);
            pos = end;
            k += 1;
            // Capture emits its filter delay up front: the count stays within a chunk of the
            // input's, a sample or two ahead at most.
            let deficit = (pos / 2) as f64 * ratio - out.len() as f64;
            let chunk_out = conv.chunk_frames() as f64 * ratio;
            if pos > 2 * 44_100 / 10 {
                assert!(
                    deficit >= -3.0 && deficit <= chunk_out + 1.0,
                    "deficit {deficit} at input sample {pos}"
                );
            }
        }

        let mut conv = PlaybackConverter::new(44_100, 2).unwrap();
        let input = sine(440.0, 0.3, SAMPLE_RATE, 1, SAMPLE_RATE as usize * 6);
        let ratio = 44_100.0 / SAMPLE_RATE as f64;
        let (mut pos, mut k) = (0, 0);
        let mut out = Vec::new();
        while pos < input.len() {
            let end = (pos + sizes[k % sizes.len()]).min(input.len());
            conv.push(&input[pos..end], &mut out);
            pos = end;
            k += 1;
            let deficit = pos as f64 * ratio - (out.len() / 2) as f64;
            if pos > 4_800 {
                assert!(
                    deficit >= -1.0 && deficit <= conv.max_latency_samples() as f64 + 1.0,
                    "deficit {deficit} at input sample {pos}"
                );
            }
        }
    }

    #[test]
    fn capture_keeps_count_with_the_input_so_frames_complete_on_time() {
        // 10 ms pushes at 44.1 kHz: a 20 ms frame (960 samples) is complete at the push that
        // ends its 20 ms, not one push later while the filter still holds its last samples.
        let mut conv = CaptureConverter::new(44_100, 2).unwrap();
        let period = sine(300.0, 0.3, 44_100, 2, 441);
        let mut out = Vec::new();
        for pushes in 1..=200 {
            conv.push(&period, &mut out);
            assert!(
                out.len() >= 480 * pushes,
                "{} after {pushes} pushes",
                out.len()
            );
        }
        assert!(out.len() <= 480 * 200 + 2, "{}", out.len());
    }

    #[test]
    fn push_granularity_does_not_change_the_output() {
        let input = sine(700.0, 0.4, 44_100, 2, 4_410);
        let whole = capture_all(
            &mut CaptureConverter::new(44_100, 2).unwrap(),
            &input,
            8_820,
        );
        let bytes = capture_all(&mut CaptureConverter::new(44_100, 2).unwrap(), &input, 1);
        let odd = capture_all(&mut CaptureConverter::new(44_100, 2).unwrap(), &input, 13);
        assert_eq!(whole, bytes);
        assert_eq!(whole, odd);

        let input = sine(700.0, 0.4, SAMPLE_RATE, 1, 4_800);
        let whole = playback_all(
            &mut PlaybackConverter::new(16_000, 2).unwrap(),
            &input,
            4_800,
        );
        let odd = playback_all(&mut PlaybackConverter::new(16_000, 2).unwrap(), &input, 17);
        assert_eq!(whole, odd);
    }

    #[test]
    fn passthrough_at_48k() {
        let mut conv = CaptureConverter::new(48_000, 1).unwrap();
        assert!(conv.is_passthrough());
        assert_eq!(conv.latency_samples(), 0);
        assert_eq!(conv.max_latency_samples(), 0);
        let input = sine(1_000.0, 0.9, 48_000, 1, 960);
        assert_eq!(capture_all(&mut conv, &input, 480), input, "bit-exact");

        let mut conv = CaptureConverter::new(48_000, 2).unwrap();
        let mut out = Vec::new();
        conv.push(&[0.2, 0.6, -1.0, 1.0, 0.5], &mut out);
        assert_eq!(out, [0.4, 0.0]);
        conv.push(&[0.25, f32::NAN, 0.5], &mut out); // completes (0.5, 0.25); NaN frame -> 0.25
        assert_eq!(out, [0.4, 0.0, 0.375, 0.25]);

        let mut conv = PlaybackConverter::new(48_000, 3).unwrap();
        assert!(conv.is_passthrough());
        assert_eq!(conv.latency_samples(), 0);
        let mut out = Vec::new();
        conv.push(&[0.1, f32::INFINITY, -0.3], &mut out);
        assert_eq!(out, [0.1, 0.1, 0.1, 0.0, 0.0, 0.0, -0.3, -0.3, -0.3]);
    }

    #[test]
    fn rejects_unsupported_formats_with_clear_messages() {
        for (rate, channels, needle) in [
            (7_999, 1, "7999 Hz"),
            (192_001, 2, "192001 Hz"),
            (0, 2, "0 Hz"),
            (48_000, 0, "channel count 0"),
            (44_100, 9, "channel count 9"),
        ] {
            let capture = CaptureConverter::new(rate, channels).unwrap_err();
            assert!(
                capture.contains(needle) && capture.contains("capture"),
                "{capture}"
            );
            let playback = PlaybackConverter::new(rate, channels).unwrap_err();
            assert!(
                playback.contains(needle) && playback.contains("playback"),
                "{playback}"
            );
        }
        assert!(CaptureConverter::new(8_000, 8).is_ok());
        assert!(PlaybackConverter::new(192_000, 1).is_ok());
    }

    #[test]
    fn non_finite_samples_become_silence() {
        let mut conv = CaptureConverter::new(44_100, 2).unwrap();
        let mut input = sine(1_000.0, 0.5, 44_100, 2, 4_410);
        for i in (0..input.len()).step_by(37) {
            input[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let out = capture_all(&mut conv, &input, 441 * 2);
        assert!(!out.is_empty() && out.iter().all(|s| s.is_finite() && s.abs() < 1.0));

        let mut conv = PlaybackConverter::new(16_000, 1).unwrap();
        let out = playback_all(&mut conv, &[f32::NAN; 4_800], 480);
        assert!(!out.is_empty() && out.iter().all(|&s| s == 0.0));
    }

    /// Impulse measurement of the delay: push whole chunks, put an impulse at the end of one,
    /// and count output samples from the last one available then to the impulse's peak.
    fn measured_latency(chunk: usize, mut push: impl FnMut(&[f32], &mut Vec<f32>)) -> f64 {
        let impulse_at = chunk * 40 - 1;
        let mut input = vec![0.0f32; chunk * 80];
        input[impulse_at] = 1.0;
        let mut out = Vec::new();
        let mut available = 0;
        for (i, piece) in input.chunks(chunk).enumerate() {
            push(piece, &mut out);
            if i == impulse_at / chunk {
                available = out.len();
            }
        }
        let (peak, _) =
            out.iter().enumerate().fold(
                (0, 0.0f32),
                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
            );
        let (a, b, c) = (out[peak - 1], out[peak], out[peak + 1]);
        let fraction = 0.5 * (a - c) / (a - 2.0 * b + c);
        peak as f64 + fraction as f64 - (available as f64 - 1.0)
    }

    #[test]
    fn reported_latency_matches_an_impulse_measurement() {
        for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 96_000, 192_000] {
            let mut capture = CaptureConverter::new(rate, 1).unwrap();
            let chunk = capture.chunk_frames();
            let reported = capture.latency_samples() as f64;
            let measured = measured_latency(chunk, |i, o| capture.push(i, o));
            assert!(
                measured <= reported && reported <= measured + 2.5,
                "capture {rate} Hz: measured {measured}, reported {reported}"
            );

            let mut playback = PlaybackConverter::new(rate, 1).unwrap();
            let chunk = playback.chunk_frames();
            let reported = playback.latency_samples() as f64;
            let measured = measured_latency(chunk, |i, o| playback.push(i, o));
            assert!(
                measured <= reported && reported <= measured + 2.5,
                "playback {rate} Hz: measured {measured}, reported {reported}"
            );
        }
        assert_eq!(latency_samples(48_000, 48_000), 0);
    }

    #[test]
    fn downsampling_filters_out_what_the_new_rate_cannot_carry() {
        // 12 kHz is above 16 kHz playback's 8 kHz Nyquist: it must not alias back in.
        let mut conv = PlaybackConverter::new(16_000, 1).unwrap();
        let out = playback_all(&mut conv, &sine(12_000.0, 0.5, SAMPLE_RATE, 1, 48_000), 480);
        assert!(
            rms(&out[320..]) < 0.5 / 2f64.sqrt() * 0.01,
            "{}",
            rms(&out[320..])
        );

        // 30 kHz captured at 96 kHz is above 48 kHz's 24 kHz Nyquist.
        let mut conv = CaptureConverter::new(96_000, 1).unwrap();
        let out = capture_all(&mut conv, &sine(30_000.0, 0.5, 96_000, 1, 96_000), 960);
        assert!(
            rms(&out[480..]) < 0.5 / 2f64.sqrt() * 0.01,
            "{}",
            rms(&out[480..])
        );
    }

    #[test]
    fn reserved_output_is_enough() {
        let mut capture = CaptureConverter::new(44_100, 2).unwrap();
        let mut playback = PlaybackConverter::new(22_050, 6).unwrap();
        let input = sine(500.0, 0.5, 44_100, 2, 44_100);
        let mono = sine(500.0, 0.5, SAMPLE_RATE, 1, 48_000);
        let mut out = Vec::new();
        for (k, piece) in input.chunks(881).enumerate() {
            out.clear();
            out.reserve(capture.max_output_len(piece.len()));
            let capacity = out.capacity();
            capture.push(piece, &mut out);
            assert_eq!(out.capacity(), capacity, "capture push {k} reallocated");

            let mono_piece = &mono[k * 480 % 47_520..][..480];
            out.clear();
            out.reserve(playback.max_output_len(mono_piece.len()));
            let capacity = out.capacity();
            playback.push(mono_piece, &mut out);
            assert_eq!(out.capacity(), capacity, "playback push {k} reallocated");
        }
    }

    #[test]
    fn reset_starts_over() {
        let input = sine(1_000.0, 0.5, 16_000, 1, 1_600);
        let mut conv = CaptureConverter::new(16_000, 1).unwrap();
        let first = capture_all(&mut conv, &input, 160);
        conv.push(&[0.3; 5], &mut Vec::new());
        conv.reset();
        assert_eq!(capture_all(&mut conv, &input, 160), first);
    }

    #[test]
    fn chunks_divide_common_device_periods() {
        for (rate, chunk) in [
            (44_100, 49),
            (16_000, 16),
            (8_000, 8),
            (96_000, 96),
            (22_050, 42),
        ] {
            assert_eq!(chunk_frames_for(rate), chunk);
        }
        for rate in [11_025, 32_000, 88_200, 176_400, 192_000] {
            let chunk = chunk_frames_for(rate);
            assert!(chunk * 1_000 >= rate as usize && chunk * 500 <= rate as usize + 500);
        }
        assert!(format!("{:?}", CaptureConverter::new(44_100, 2).unwrap()).contains("44100"));
    }
}
