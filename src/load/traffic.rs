//! What the load tool sends and how receivers account for it, shared by the QUIC run and the
//! plain-UDP baseline: who sits in which room, the probe each datagram carries, the speakers'
//! schedule, and each receiver's tally (unique frames per speaker, delay, misrouted traffic).

use std::time::{Duration, Instant};

use crate::net::media::{self, AudioHeader};

/// The probe at the start of every payload; the rest is filler up to the payload size.
///
/// ```text
/// 0..8    send time, ns since the run's epoch (same process, same monotonic clock)
/// 8..12   sender's member index
/// 12..16  sender's room index
/// 16..20  frame number, counted from 0 by each speaker
/// 20      1 if the frame is inside the measured window, 0 while warming up
/// ```
pub const PROBE_BYTES: usize = 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub sent_ns: u64,
    pub sender: u32,
    pub room: u32,
    pub frame: u32,
    pub measured: bool,
}

impl Probe {
    /// The whole uplink datagram (relay header, probe, filler) into `out`.
    pub fn uplink(&self, payload_bytes: usize, out: &mut Vec<u8>) {
        let mut payload = [0u8; media::MAX_PAYLOAD];
        let len = payload_bytes.clamp(PROBE_BYTES, media::MAX_PAYLOAD);
        self.write(&mut payload[..len]);
        let header = AudioHeader {
            speaking: true,
            backfill: false,
            repeat: false,
            seq: self.frame as u16,
            timestamp: self.frame.wrapping_mul(960),
        };
        media::encode_uplink(header, &payload[..len], out);
    }

    fn write(&self, payload: &mut [u8]) {
        payload[0..8].copy_from_slice(&self.sent_ns.to_be_bytes());
        payload[8..12].copy_from_slice(&self.sender.to_be_bytes());
        payload[12..16].copy_from_slice(&self.room.to_be_bytes());
        payload[16..20].copy_from_slice(&self.frame.to_be_bytes());
        payload[20] = u8::from(self.measured);
        for (i, b) in payload[PROBE_BYTES..].iter_mut().enumerate() {
            *b = i as u8;
        }
    }

    pub fn read(payload: &[u8]) -> Option<Probe> {
        if payload.len() < PROBE_BYTES {
            return None;
        }
        let u32_at = |at: usize| u32::from_be_bytes(payload[at..at + 4].try_into().unwrap());
        Some(Probe {
            sent_ns: u64::from_be_bytes(payload[0..8].try_into().unwrap()),
            sender: u32_at(8),
            room: u32_at(12),
            frame: u32_at(16),
            measured: payload[20] == 1,
        })
    }
}

/// Members `0..members` spread over `rooms` rooms in contiguous runs (sizes differ by at most
/// one); the first `speakers` members of each room speak.
#[derive(Debug, Clone)]
pub struct Layout {
    pub members: usize,
    pub rooms: usize,
    pub speakers_per_room: usize,
}

impl Layout {
    pub fn new(members: usize, rooms: usize, speakers_per_room: usize) -> Layout {
        Layout {
            members,
            rooms: rooms.clamp(1, members.max(1)),
            speakers_per_room,
        }
    }

    fn small(&self) -> usize {
        self.members / self.rooms
    }

    fn larger_rooms(&self) -> usize {
        self.members % self.rooms
    }

    /// The first member index of `room`, and how many members it holds.
    pub fn room(&self, room: usize) -> (usize, usize) {
        let extra = room.min(self.larger_rooms());
        let size = self.small() + usize::from(room < self.larger_rooms());
        (room * self.small() + extra, size)
    }

    pub fn room_of(&self, member: usize) -> usize {
        let big = self.larger_rooms() * (self.small() + 1);
        if member < big {
            member / (self.small() + 1)
        } else {
            self.larger_rooms() + (member - big) / self.small().max(1)
        }
    }

    /// The member's place among its room's speakers, if it speaks.
    pub fn speaker_slot(&self, member: usize) -> Option<usize> {
        let (first, size) = self.room(self.room_of(member));
        let slot = member - first;
        (slot < self.speakers_per_room.min(size)).then_some(slot)
    }

    pub fn largest_room(&self) -> usize {
        self.small() + usize::from(self.larger_rooms() > 0)
    }

    /// Speakers in the whole run.
    pub fn speakers(&self) -> usize {
        (0..self.rooms)
            .map(|r| self.speakers_per_room.min(self.room(r).1))
            .sum()
    }
}

/// When each frame of one speaker leaves: every `frame` from the speaker's phase, which spreads
/// the speakers evenly over a frame interval (real talkers are not in step).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub frame: Duration,
    pub warmup_frames: u32,
    pub measured_frames: u32,
}

impl Schedule {
    pub fn total_frames(&self) -> u32 {
        self.warmup_frames + self.measured_frames
    }

    /// The send time of `frame` for speaker number `nth` of `speakers`.
    pub fn deadline(&self, nth: usize, speakers: usize, frame: u32) -> Instant {
        let phase = self.frame.mul_f64(nth as f64 / speakers.max(1) as f64);
        self.start + phase + self.frame * frame
    }

    pub fn measured(&self, frame: u32) -> bool {
        frame >= self.warmup_frames
    }

    /// When the measured window opens and closes.
    pub fn window(&self) -> (Instant, Instant) {
        (
            self.start + self.frame * self.warmup_frames,
            self.start + self.frame * self.total_frames(),
        )
    }
}

/// A set of frame numbers, as bits.
#[derive(Debug, Clone, Default)]
struct Frames(Vec<u64>);

impl Frames {
    /// Inserts `frame`; false if it was there already.
    fn insert(&mut self, frame: u32) -> bool {
        let (word, bit) = (frame as usize / 64, frame % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let fresh = self.0[word] & (1 << bit) == 0;
        self.0[word] |= 1 << bit;
        fresh
    }

    fn len(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// One receiver's account of what reached it.
#[derive(Debug, Clone)]
pub struct Tally {
    pub member: usize,
    room: usize,
    first_of_room: usize,
    room_size: usize,
    /// Unique measured frames per speaker slot of this room.
    heard: Vec<Frames>,
    /// One-way delays of measured datagrams, in nanoseconds.
    pub delays_ns: Vec<u32>,
    /// When each of those datagrams was sent, in ms since the run's epoch (same order).
    pub sent_ms: Vec<u32>,
    pub duplicates: u64,
    /// From a member of another room: the relay must never do this.
    pub cross_room: u64,
    /// This member's own datagrams, sent back to it.
    pub self_heard: u64,
    /// Tagged with a source id other than the sender's, or not from a speaker.
    pub wrong_source: u64,
    /// Could not be decoded at all.
    pub malformed: u64,
    /// Datagrams seen, measured or not.
    pub datagrams: u64,
}

impl Tally {
    pub fn new(layout: &Layout, member: usize, expected_datagrams: usize) -> Tally {
        let room = layout.room_of(member);
        let (first_of_room, size) = layout.room(room);
        Tally {
            member,
            room,
            first_of_room,
            room_size: size,
            heard: vec![Frames::default(); layout.speakers_per_room.min(size)],
            delays_ns: Vec::with_capacity(expected_datagrams),
            sent_ms: Vec::with_capacity(expected_datagrams),
            duplicates: 0,
            cross_room: 0,
            self_heard: 0,
            wrong_source: 0,
            malformed: 0,
            datagrams: 0,
        }
    }

    /// Accounts for one relayed datagram: `source` is the id the relay tagged it with and
    /// `sources[i]` member i's id; `now_ns` is the receive time on the run's clock.
    pub fn record(&mut self, datagram: &[u8], sources: &[u32], now_ns: u64) {
        self.datagrams += 1;
        let Some((source, _, payload)) = media::decode_downlink(datagram) else {
            self.malformed += 1;
            return;
        };
        let Some(probe) = Probe::read(payload) else {
            self.malformed += 1;
            return;
        };
        let sender = probe.sender as usize;
        if sender == self.member {
            self.self_heard += 1;
            return;
        }
        let in_room = (self.first_of_room..self.first_of_room + self.room_size).contains(&sender);
        if probe.room as usize != self.room || !in_room {
            self.cross_room += 1;
            return;
        }
        let slot = sender - self.first_of_room;
        if slot >= self.heard.len() || sources.get(sender) != Some(&source) {
            self.wrong_source += 1;
            return;
        }
        let frames = &mut self.heard[slot];
        if !probe.measured {
            return;
        }
        if !frames.insert(probe.frame) {
            self.duplicates += 1;
            return;
        }
        let delay = now_ns.saturating_sub(probe.sent_ns);
        self.delays_ns.push(delay.min(u64::from(u32::MAX)) as u32);
        self.sent_ms.push((probe.sent_ns / 1_000_000) as u32);
    }

    /// Unique measured frames heard from the speaker in `slot` of this room.
    pub fn heard_from(&self, slot: usize) -> u64 {
        self.heard.get(slot).map_or(0, Frames::len)
    }

    /// Unique measured frames heard in all.
    pub fn received(&self) -> u64 {
        self.heard.iter().map(Frames::len).sum()
    }
}

/// Delivery across all receivers, checked against what every speaker sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Measured frames the speakers sent (uplink datagrams).
    pub sent: u64,
    /// sent × listeners in the speaker's room: what a perfect relay delivers.
    pub expected: u64,
    /// Unique measured datagrams received.
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub cross_room: u64,
    pub self_heard: u64,
    pub wrong_source: u64,
    pub malformed: u64,
    /// (speaker, listener) pairs in one room where the listener missed any frame.
    pub incomplete_pairs: u64,
    /// Datagrams a speaker's stack refused to queue.
    pub send_errors: u64,
}

/// Compares every receiver's tally with what each speaker sent (`sent[member]`, zero for
/// members who do not speak).
pub fn delivery(layout: &Layout, tallies: &[Tally], sent: &[u64], send_errors: u64) -> Delivery {
    let mut d = Delivery {
        sent: sent.iter().sum(),
        send_errors,
        ..Delivery::default()
    };
    for t in tallies {
        d.duplicates += t.duplicates;
        d.cross_room += t.cross_room;
        d.self_heard += t.self_heard;
        d.wrong_source += t.wrong_source;
        d.malformed += t.malformed;
        for slot in 0..t.heard.len() {
            let speaker = t.first_of_room + slot;
            if speaker == t.member {
                continue;
            }
            let expected = sent.get(speaker).copied().unwrap_or(0);
            let heard = t.heard_from(slot);
            d.expected += expected;
            d.received += heard.min(expected);
            if heard < expected {
                d.lost += expected - heard;
                d.incomplete_pairs += 1;
            }
        }
    }
    debug_assert!(layout.members >= tallies.len());
    d
}

/// Order statistics of a sample, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Spread {
    pub count: usize,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Spread {
    /// From samples in nanoseconds.
    pub fn of_ns<T: Copy + Ord + Into<u64>>(samples: &mut [T]) -> Spread {
        if samples.is_empty() {
            return Spread::default();
        }
        samples.sort_unstable();
        let us = |v: T| v.into() as f64 / 1000.0;
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            us(samples[i])
        };
        let sum: f64 = samples.iter().map(|&s| s.into() as f64).sum();
        Spread {
            count: samples.len(),
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: us(samples[samples.len() - 1]),
            mean: sum / samples.len() as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_spreads_members_evenly_and_contiguously() {
        let l = Layout::new(23, 5, 2);
        let sizes: Vec<usize> = (0..5).map(|r| l.room(r).1).collect();
        assert_eq!(sizes, [5, 5, 5, 4, 4]);
        for m in 0..23 {
            let (first, size) = l.room(l.room_of(m));
            assert!((first..first + size).contains(&m), "member {m}");
        }
        assert_eq!(l.speaker_slot(0), Some(0));
        assert_eq!(l.speaker_slot(1), Some(1));
        assert_eq!(l.speaker_slot(2), None);
        assert_eq!(l.speaker_slot(15), Some(0));
        assert_eq!(l.speakers(), 10);
        assert_eq!(l.largest_room(), 5);
        let even = Layout::new(1000, 100, 1);
        assert_eq!(even.room(99), (990, 10));
        assert_eq!(even.room_of(999), 99);
    }

    fn relayed(layout: &Layout, sender: usize, frame: u32, sources: &[u32]) -> Vec<u8> {
        let probe = Probe {
            sent_ns: 1_000,
            sender: sender as u32,
            room: layout.room_of(sender) as u32,
            frame,
            measured: true,
        };
        let mut up = Vec::new();
        probe.uplink(80, &mut up);
        assert_eq!(up.len(), media::UPLINK_HEADER + 80);
        media::relay(&up, sources[sender]).unwrap().1.to_vec()
    }

    #[test]
    fn a_tally_counts_unique_frames_and_flags_misrouting() {
        let layout = Layout::new(6, 2, 1);
        let sources: Vec<u32> = (100..106).collect();
        let mut t = Tally::new(&layout, 1, 16);
        t.record(&relayed(&layout, 0, 0, &sources), &sources, 1_500);
        t.record(&relayed(&layout, 0, 0, &sources), &sources, 1_600);
        t.record(&relayed(&layout, 0, 1, &sources), &sources, 2_000);
        t.record(&relayed(&layout, 3, 0, &sources), &sources, 2_000);
        t.record(&relayed(&layout, 1, 0, &sources), &sources, 2_000);
        t.record(b"junk", &sources, 2_000);
        assert_eq!(
            (
                t.received(),
                t.duplicates,
                t.cross_room,
                t.self_heard,
                t.malformed
            ),
            (2, 1, 1, 1, 1)
        );
        assert_eq!(t.delays_ns, [500, 1_000]);
        let listener = Tally::new(&layout, 2, 0);
        let mut sent = vec![0; 6];
        sent[0] = 3;
        sent[3] = 5;
        let d = delivery(&layout, &[t, listener], &sent, 0);
        assert_eq!(
            (d.expected, d.received, d.lost, d.incomplete_pairs),
            (6, 2, 4, 2)
        );
    }

    #[test]
    fn spread_takes_nearest_rank_percentiles() {
        let mut samples: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let s = Spread::of_ns(&mut samples);
        assert_eq!((s.median, s.p99, s.max), (500.0, 990.0, 1000.0));
    }
}
