//! Whether the echo canceller's output is in the capture path: only while there can be echo.
//!
//! AEC3 delays what it outputs by 8 ms (its 64-sample block framing and its suppressor's
//! overlap-add, both at 16 kHz), a cost worth paying only while something the far end said may
//! still be coming back through the room. Most of a game's voice is one talker at a time: a
//! player who speaks after the others have been quiet for a while has no echo to lose, and
//! gets the 8 ms back. The canceller itself runs on every block either way, so it stays
//! aligned with the far end and converged; the gate only chooses which signal goes on.
//!
//! Switching moves the voice by those 8 ms, so it happens where it cannot be heard: into the
//! canceller at once (the far end's first sound is analysed before its echo can reach the
//! microphone), out of it only once the far end has been silent longer than any echo lasts and
//! the microphone has been quiet for a pause between sentences, not just between syllables.
//! Each switch crossfades over one 10 ms block.

/// The far end counts as silent below this (RMS of a block, full scale 1): about -80 dBFS,
/// under any loudspeaker's audible output but above the rounding of digital silence.
const AUDIBLE_FAR_END_RMS: f32 = 1e-4;
/// The microphone counts as quiet below this: about -50 dBFS, under speech, above a room's
/// noise floor, so a switch never falls inside a word.
const QUIET_CAPTURE_RMS: f32 = 3e-3;
/// How long the microphone must have been quiet before the canceller leaves: longer than the
/// gaps between a talker's syllables (up to about 100 ms), so the voice does not move by 8 ms
/// in the middle of a sentence. In 10 ms blocks.
const QUIET_BEFORE_LEAVING_BLOCKS: u32 = 25;
/// How long the canceller stays in the path after the far end's last audible block: its
/// delay range (about 0.5 s) plus a reverberant tail, with margin. In 10 ms blocks.
const ECHO_HOLD_BLOCKS: u32 = 150;

/// Samples in one split band of a 10 ms block (16 kHz).
pub const BAND_SAMPLES: usize = 160;

/// What goes on for one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoPath {
    /// The canceller's output.
    Cancelled,
    /// The signal before the canceller.
    Bypassed,
    /// From the bypass to the canceller's output, over the block.
    FadeIn,
    /// From the canceller's output to the bypass, over the block.
    FadeOut,
}

impl EchoPath {
    /// Leaves in `cancelled` (one band of the canceller's output) what goes on.
    pub fn apply(self, bypass: &[f32], cancelled: &mut [f32]) {
        let n = cancelled.len() as f32;
        let fade = |out: &mut [f32], into_canceller: bool| {
            for (i, (o, b)) in out.iter_mut().zip(bypass).enumerate() {
                let towards = (i as f32 + 0.5) / n;
                let w = if into_canceller {
                    towards
                } else {
                    1.0 - towards
                };
                *o = w * *o + (1.0 - w) * b;
            }
        };
        match self {
            Self::Cancelled => {}
            Self::Bypassed => cancelled.copy_from_slice(&bypass[..cancelled.len()]),
            Self::FadeIn => fade(cancelled, true),
            Self::FadeOut => fade(cancelled, false),
        }
    }
}

#[derive(Debug, Default)]
pub struct EchoGate {
    /// Blocks left before the far end has been silent long enough.
    hold: u32,
    /// Whether the canceller's output goes on (after the current block's crossfade).
    in_path: bool,
    /// Capture blocks in a row that were quiet.
    quiet: u32,
}

fn rms(block: &[f32]) -> f32 {
    (block.iter().map(|x| x * x).sum::<f32>() / block.len().max(1) as f32).sqrt()
}

impl EchoGate {
    /// One block of what the speaker plays.
    pub fn on_render(&mut self, block: &[f32]) {
        if rms(block) > AUDIBLE_FAR_END_RMS {
            self.hold = ECHO_HOLD_BLOCKS;
        }
    }

    /// Whether the canceller's output is in the path now.
    pub fn in_path(&self) -> bool {
        self.in_path
    }

    /// The path for the next capture block; `capture` is that block as it came from the
    /// microphone, to judge whether it is quiet.
    pub fn next_block(&mut self, capture: &[f32]) -> EchoPath {
        let wanted = self.hold > 0;
        self.hold = self.hold.saturating_sub(1);
        self.quiet = if rms(capture) < QUIET_CAPTURE_RMS {
            self.quiet.saturating_add(1)
        } else {
            0
        };
        match (wanted, self.in_path) {
            (true, false) => {
                self.in_path = true;
                EchoPath::FadeIn
            }
            (false, true) if self.quiet >= QUIET_BEFORE_LEAVING_BLOCKS => {
                self.in_path = false;
                EchoPath::FadeOut
            }
            (_, true) => EchoPath::Cancelled,
            (false, false) => EchoPath::Bypassed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One capture block through the gate: the bypass holds 1.0, the canceller's output 2.0.
    fn step(gate: &mut EchoGate, capture_rms: f32) -> Vec<f32> {
        let mut out = vec![2.0; BAND_SAMPLES];
        gate.next_block(&[capture_rms; 480])
            .apply(&[1.0; BAND_SAMPLES], &mut out);
        out
    }

    #[test]
    fn the_canceller_comes_in_with_the_far_end_and_leaves_after_its_echo_in_a_quiet_moment() {
        let mut gate = EchoGate::default();
        assert!(
            step(&mut gate, 0.0).iter().all(|x| *x == 1.0),
            "no far end: bypass"
        );
        gate.on_render(&[0.1; 480]);
        let first = step(&mut gate, 0.0);
        assert!(
            first[0] < 1.1 && first[159] > 1.9,
            "crossfades in: {first:?}"
        );
        for _ in 1..ECHO_HOLD_BLOCKS {
            gate.on_render(&[0.0; 480]);
            assert!(step(&mut gate, 0.0).iter().all(|x| *x == 2.0));
        }
        // The hold is over, but the near end talks, with pauses between syllables: the
        // canceller stays until a longer pause.
        for _ in 0..10 {
            assert!(step(&mut gate, 0.1).iter().all(|x| *x == 2.0));
            for _ in 0..QUIET_BEFORE_LEAVING_BLOCKS - 1 {
                assert!(step(&mut gate, 0.0).iter().all(|x| *x == 2.0));
            }
        }
        let out = step(&mut gate, 0.0);
        assert!(out[0] > 1.9 && out[159] < 1.1, "crossfades out: {out:?}");
        assert!(!gate.in_path());
        assert!(step(&mut gate, 0.0).iter().all(|x| *x == 1.0));
    }

    #[test]
    fn digital_silence_and_hiss_under_80_dbfs_are_no_far_end() {
        let mut gate = EchoGate::default();
        gate.on_render(&[0.0; 480]);
        gate.on_render(&[5e-5; 480]);
        step(&mut gate, 0.0);
        assert!(!gate.in_path());
    }
}
