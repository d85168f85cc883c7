//! Audio: the pure, sans-IO parts (codec, jitter buffer, voice activity, mixing, resampling)
//! and the device I/O. Everything inside the engine runs at 48 kHz mono, in frames of 10 or
//! 20 ms; conversion to and from a device's or an engine's rate happens at the edges.

pub mod codec;
pub mod device;
pub mod echo_gate;
pub mod jitter;
pub mod mixer;
pub mod processing;
pub mod resample;
pub mod room;
pub mod vad;

/// The engine's sample rate: Opus's native rate, so no resampling happens inside the codec.
pub const SAMPLE_RATE: u32 = 48_000;

/// Samples in one frame of `frame_ms` milliseconds at [`SAMPLE_RATE`].
pub const fn frame_samples(frame_ms: u32) -> usize {
    (SAMPLE_RATE / 1000 * frame_ms) as usize
}
