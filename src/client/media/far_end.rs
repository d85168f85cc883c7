//! The echo canceller's reference: what the SDK handed out to be played, summed on one 48 kHz
//! timeline and released to the capture side in 10 ms blocks.
//!
//! An engine may pull the mix and, for 3D voice, some members alone, each on its own schedule;
//! the speaker plays their sum, so the reference is their sum. Each consumer writes on from
//! where its previous pull ended (so irregular pull timing never tears its audio), placed by
//! wall clock only when it starts or has stopped for a while. A block is released once every
//! consumer still pulling has written past it: then nothing more will be added to it.

use std::collections::VecDeque;

use crate::audio::processing::BLOCK_SAMPLES;
use crate::audio::SAMPLE_RATE;

/// Who pulled: the mix, or one member alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Consumer<'a> {
    Mix,
    Member(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
enum Key {
    Mix,
    Member(String),
}

impl Key {
    fn is(&self, consumer: Consumer<'_>) -> bool {
        match (self, consumer) {
            (Key::Mix, Consumer::Mix) => true,
            (Key::Member(a), Consumer::Member(b)) => a == b,
            _ => false,
        }
    }
}

struct Writer {
    key: Key,
    /// Where its next samples go, in samples since the media epoch.
    cursor: u64,
    last_pull_us: u64,
}

/// A consumer that has not pulled for this long no longer holds blocks back (a member no
/// longer pulled alone, or an engine that stopped pulling the mix).
const STALE_US: u64 = 100_000;
/// A consumer whose cursor strays this far from the clock (it paused, or fell behind) is
/// placed by the clock again.
const RESYNC_SAMPLES: u64 = SAMPLE_RATE as u64 / 10;
/// At most this much reference is kept (1 s) when nothing captures to take it.
const MAX_PENDING: usize = SAMPLE_RATE as usize;

#[derive(Default)]
pub(super) struct FarEnd {
    /// The sum so far, from timeline sample `base` on.
    pending: VecDeque<f32>,
    base: u64,
    writers: Vec<Writer>,
}

fn samples_at(now_us: u64) -> u64 {
    now_us * u64::from(SAMPLE_RATE) / 1_000_000
}

impl FarEnd {
    /// `samples` (48 kHz mono) were just handed to `consumer` to play.
    pub fn add(&mut self, consumer: Consumer<'_>, samples: &[f32], now_us: u64) {
        let now = samples_at(now_us);
        let index = match self.writers.iter().position(|w| w.key.is(consumer)) {
            Some(index) => index,
            None => {
                let key = match consumer {
                    Consumer::Mix => Key::Mix,
                    Consumer::Member(id) => Key::Member(id.to_string()),
                };
                self.writers.push(Writer {
                    key,
                    cursor: now,
                    last_pull_us: now_us,
                });
                self.writers.len() - 1
            }
        };
        let writer = &mut self.writers[index];
        if writer.cursor.abs_diff(now) > RESYNC_SAMPLES {
            writer.cursor = now;
        }
        let start = writer.cursor;
        writer.cursor += samples.len() as u64;
        writer.last_pull_us = now_us;
        if self.pending.is_empty() && self.base < start {
            self.base = start;
        }
        // Samples for time already released are too late to matter: drop them.
        let skip = self.base.saturating_sub(start) as usize;
        if skip >= samples.len() {
            return;
        }
        let offset = (start + skip as u64 - self.base) as usize;
        let end = offset + samples.len() - skip;
        if self.pending.len() < end {
            self.pending.resize(end, 0.0);
        }
        for (slot, x) in self.pending.range_mut(offset..end).zip(&samples[skip..]) {
            *slot += x;
        }
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
            self.base += excess as u64;
        }
    }

    /// Hands each complete 10 ms block no consumer will add to any more to `take`, oldest
    /// first.
    pub fn release(&mut self, now_us: u64, mut take: impl FnMut(&[f32])) {
        self.writers
            .retain(|w| now_us.saturating_sub(w.last_pull_us) < STALE_US);
        let Some(written) = self.writers.iter().map(|w| w.cursor).min() else {
            // Nobody pulls: what is pending has all been written.
            self.release_until(u64::MAX, &mut take);
            return;
        };
        self.release_until(written, &mut take);
    }

    fn release_until(&mut self, limit: u64, take: &mut impl FnMut(&[f32])) {
        let mut block = [0.0f32; BLOCK_SAMPLES];
        while self.pending.len() >= BLOCK_SAMPLES && self.base + BLOCK_SAMPLES as u64 <= limit {
            for (b, x) in block.iter_mut().zip(self.pending.drain(..BLOCK_SAMPLES)) {
                *b = x;
            }
            self.base += BLOCK_SAMPLES as u64;
            take(&block);
        }
    }

    /// Forgets everything (a new call).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.writers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released(far: &mut FarEnd, now_us: u64) -> Vec<f32> {
        let mut out = Vec::new();
        far.release(now_us, |block| out.extend_from_slice(block));
        out
    }

    #[test]
    fn one_consumer_is_released_in_whole_blocks_in_order() {
        let mut far = FarEnd::default();
        let audio: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        // Pulls of odd sizes at irregular times: the audio stays contiguous.
        far.add(Consumer::Mix, &audio[..300], 1_000_000);
        far.add(Consumer::Mix, &audio[300..700], 1_007_300);
        far.add(Consumer::Mix, &audio[700..], 1_015_100);
        let out = released(&mut far, 1_016_000);
        assert_eq!(out, audio[..960].to_vec());
        assert!(released(&mut far, 1_016_000).is_empty(), "40 samples wait");
    }

    #[test]
    fn the_mix_and_members_pulled_alone_are_summed_in_time() {
        let mut far = FarEnd::default();
        let now = 2_000_000;
        // One engine callback pulls the mix and alice alone: the speaker plays their sum.
        far.add(Consumer::Mix, &[1.0; 480], now);
        far.add(Consumer::Member("alice"), &[2.0; 480], now);
        let out = released(&mut far, now);
        assert_eq!(out.len(), 480);
        assert!(out.iter().all(|x| *x == 3.0), "summed: {:?}", &out[..4]);
        // The next mix block waits for alice's part of it.
        far.add(Consumer::Mix, &[1.0; 480], now + 10_000);
        assert!(released(&mut far, now + 10_000).is_empty());
        far.add(Consumer::Member("alice"), &[0.5; 480], now + 10_000);
        let out = released(&mut far, now + 10_000);
        assert!(out.len() == 480 && out.iter().all(|x| *x == 1.5));
    }

    #[test]
    fn a_consumer_that_stops_does_not_hold_the_reference_back() {
        let mut far = FarEnd::default();
        let now = 3_000_000;
        far.add(Consumer::Member("bob"), &[1.0; 10], now);
        far.add(Consumer::Mix, &[1.0; 960], now);
        assert!(released(&mut far, now).is_empty(), "bob holds it");
        assert_eq!(released(&mut far, now + STALE_US).len(), 960);
    }

    #[test]
    fn reference_is_bounded_when_nobody_captures() {
        let mut far = FarEnd::default();
        for i in 0..500u64 {
            far.add(Consumer::Mix, &[0.5; 480], 1_000_000 + i * 10_000);
        }
        assert!(far.pending.len() <= MAX_PENDING);
    }
}
