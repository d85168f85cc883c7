//! The arithmetic of moving audio between Godot and the SDK once per frame, kept apart from the
//! engine types so it is tested without one.
//!
//! The binding moves audio in `_process`, on the main thread: Godot objects are touched only
//! there, and the SDK's `push_capture` / `pull_playback` never wait on the network. The cost is
//! latency. Capture waits up to one frame (about 17 ms at 60 fps) in the `AudioEffectCapture`
//! before it is sent; playback keeps a little more than one frame's worth queued in the
//! `AudioStreamGenerator` (by default 60 ms, and at least two frame times, so a slow frame does
//! not starve the audio thread).

/// Frames of `rate` Hz in `ms` milliseconds.
pub fn frames_in(ms: f64, rate: f64) -> usize {
    if !(ms.is_finite() && rate.is_finite()) || ms <= 0.0 || rate <= 0.0 {
        return 0;
    }
    (ms * rate / 1000.0).round() as usize
}

/// Keeps an `AudioStreamGeneratorPlayback` about `target` frames ahead of the audio thread.
///
/// Godot only tells how much room is left (`get_frames_available`), and rounds the generator's
/// buffer up to a power of two; the capacity is the most room ever seen (the buffer starts
/// empty).
#[derive(Debug, Default, Clone)]
pub struct GeneratorFill {
    capacity: usize,
}

impl GeneratorFill {
    /// How many frames to push now, given the room left and the frame's duration.
    ///
    /// The target is `latency_ms`, raised to two frame times when the game runs slower than
    /// that, and never more than the buffer holds.
    pub fn frames_to_push(
        &mut self,
        free: usize,
        rate: f64,
        latency_ms: f64,
        delta_s: f64,
    ) -> usize {
        self.capacity = self.capacity.max(free);
        let frame_time_ms = if delta_s.is_finite() {
            delta_s * 2000.0
        } else {
            0.0
        };
        let target = frames_in(latency_ms.max(frame_time_ms), rate).min(self.capacity);
        let queued = self.capacity - free;
        target.saturating_sub(queued).min(free)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Stereo frames (Godot's `Vector2` per frame) into interleaved samples.
pub fn interleave(frames: impl IntoIterator<Item = (f32, f32)>, out: &mut Vec<f32>) {
    out.clear();
    for (left, right) in frames {
        out.push(left);
        out.push(right);
    }
}

/// Interleaved stereo samples into `(left, right)` frames.
pub fn frames(samples: &[f32]) -> impl Iterator<Item = (f32, f32)> + '_ {
    samples.chunks_exact(2).map(|f| (f[0], f[1]))
}

/// Mono samples into `(s, s)` frames: one member's voice, for a positional player.
pub fn mono_frames(samples: &[f32]) -> impl Iterator<Item = (f32, f32)> + '_ {
    samples.iter().map(|&s| (s, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_rounds_and_rejects_nonsense() {
        assert_eq!(frames_in(60.0, 48_000.0), 2880);
        assert_eq!(frames_in(10.0, 44_100.0), 441);
        assert_eq!(frames_in(-5.0, 48_000.0), 0);
        assert_eq!(frames_in(f64::NAN, 48_000.0), 0);
        assert_eq!(frames_in(10.0, 0.0), 0);
    }

    #[test]
    fn the_generator_is_filled_to_the_target_and_no_further() {
        let mut fill = GeneratorFill::default();
        // An empty 8192-frame buffer (Godot's rounding of 0.1 s at 48 kHz, less one).
        assert_eq!(fill.frames_to_push(8191, 48_000.0, 60.0, 1.0 / 60.0), 2880);
        assert_eq!(fill.capacity(), 8191);
        // The audio thread took 800 frames; 2080 are queued, so 800 more are wanted.
        assert_eq!(
            fill.frames_to_push(8191 - 2080, 48_000.0, 60.0, 1.0 / 60.0),
            800
        );
        // Already at (or past) the target: nothing.
        assert_eq!(
            fill.frames_to_push(8191 - 2880, 48_000.0, 60.0, 1.0 / 60.0),
            0
        );
        assert_eq!(fill.frames_to_push(0, 48_000.0, 60.0, 1.0 / 60.0), 0);
    }

    #[test]
    fn a_slow_frame_raises_the_target_up_to_the_capacity() {
        let mut fill = GeneratorFill::default();
        // 10 fps: two frames are 200 ms, more than the 60 ms asked for.
        assert_eq!(fill.frames_to_push(16383, 48_000.0, 60.0, 0.1), 9600);
        // 2 fps: capped by the buffer.
        let mut fill = GeneratorFill::default();
        assert_eq!(fill.frames_to_push(4095, 48_000.0, 60.0, 0.5), 4095);
        // A non-finite delta is ignored rather than trusted.
        let mut fill = GeneratorFill::default();
        assert_eq!(
            fill.frames_to_push(8191, 48_000.0, 60.0, f64::INFINITY),
            2880
        );
    }

    #[test]
    fn interleaving_round_trips() {
        let mut out = vec![9.0];
        interleave([(0.1, 0.2), (0.3, 0.4)], &mut out);
        assert_eq!(out, vec![0.1, 0.2, 0.3, 0.4]);
        assert_eq!(
            frames(&out).collect::<Vec<_>>(),
            vec![(0.1, 0.2), (0.3, 0.4)]
        );
        assert_eq!(mono_frames(&[0.5]).collect::<Vec<_>>(), vec![(0.5, 0.5)]);
    }
}
