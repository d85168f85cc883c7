//! The jitter buffer fed what a network can deliver: any sequence numbers, timestamps and
//! talkspurt markers, duplicates, pre-roll frames, gaps, stalls, in any order, against a
//! playout that asks for whole frames or for parts of them.
//!
//! Input: one byte choosing 10 or 20 ms frames, then operations (`fuzz/src/jitter_ops.rs`
//! decodes them; the seed corpus writes them from a simulated call). Beyond "no panic": every
//! packet played is one that was inserted, a partial frame is what the playout type promises,
//! the target delay stays within its configured bounds, and the counters never go back.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use voipchat::audio::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use voipchat_fuzz::jitter_ops::{self, Op};

/// Partial frames are multiples of 2.5 ms at 48 kHz.
const STEP_SAMPLES: usize = 120;

fuzz_target!(|data: &[u8]| {
    let Some((frame_ms, ops)) = jitter_ops::decode(data) else {
        return;
    };
    let config = JitterConfig {
        frame_samples: voipchat::audio::frame_samples(frame_ms),
        ..JitterConfig::default()
    };
    let mut buffer = JitterBuffer::new(config);
    let mut inserted: HashSet<u32> = HashSet::new();
    let mut next_id: u32 = 0;
    let mut now_us: u64 = 1_000_000;
    let mut last = buffer.stats();

    for op in ops {
        now_us += op.after_us();
        match op {
            Op::Insert {
                seq,
                timestamp,
                speaking,
                extra,
                ..
            } => {
                let payload = jitter_ops::payload(next_id, extra);
                inserted.insert(next_id);
                next_id += 1;
                buffer.insert(seq, timestamp, speaking, &payload, now_us);
            }
            Op::PreRoll { seq, timestamp, .. } => {
                let payload = jitter_ops::payload(next_id, 0);
                inserted.insert(next_id);
                next_id += 1;
                buffer.insert_pre_roll(seq, timestamp, &payload, now_us);
            }
            Op::Next { .. } => {
                let playout = buffer.next_frame(now_us);
                check_playout(
                    &playout,
                    &inserted,
                    config.frame_samples,
                    config.frame_samples,
                );
                recycle(&mut buffer, playout);
            }
            Op::NextFor {
                lead_us, needed, ..
            } => {
                let needed = 1 + usize::from(needed) % config.frame_samples;
                let playout = buffer.next_frame_for(now_us, u64::from(lead_us), needed);
                check_playout(&playout, &inserted, config.frame_samples, needed);
                recycle(&mut buffer, playout);
            }
            Op::Pause { .. } => {}
            Op::Reset => buffer.reset(),
        }
        let stats = buffer.stats();
        check_stats(&last, &stats, &config);
        last = stats;
    }
});

fn check_playout(playout: &Playout, inserted: &HashSet<u32>, frame: usize, needed: usize) {
    let played = |packet: &[u8]| {
        let id = jitter_ops::payload_id(packet).expect("a played packet is one of ours");
        assert!(
            inserted.contains(&id),
            "played packet {id} was never inserted"
        );
    };
    match playout {
        Playout::Packet(packet) | Playout::Fec(packet) => played(packet),
        Playout::Tail { packet, samples } => {
            played(packet);
            assert!(
                *samples <= frame,
                "a tail of {samples} samples, frame {frame}"
            );
        }
        Playout::Wait { samples } => {
            assert!(
                *samples > 0 && *samples < frame,
                "a wait of {samples}, frame {frame}"
            );
            assert_eq!(samples % STEP_SAMPLES, 0, "a wait of {samples}");
            assert!(
                *samples >= needed.min(frame),
                "a wait of {samples} for {needed} needed"
            );
        }
        Playout::Conceal | Playout::Silence => {}
    }
}

fn recycle(buffer: &mut JitterBuffer, playout: Playout) {
    match playout {
        Playout::Packet(packet) | Playout::Fec(packet) | Playout::Tail { packet, .. } => {
            buffer.recycle(packet)
        }
        _ => {}
    }
}

fn check_stats(before: &JitterStats, now: &JitterStats, config: &JitterConfig) {
    let counters = |s: &JitterStats| {
        [
            s.received,
            s.lost,
            s.recovered,
            s.late,
            s.duplicate,
            s.concealed,
            s.dropped_for_drift,
        ]
    };
    for (b, n) in counters(before).iter().zip(counters(now)) {
        assert!(n >= *b, "a counter went back: {before:?} -> {now:?}");
    }
    assert!(now.recovered <= now.lost, "{now:?}");
    assert!(
        now.target_delay_us >= config.min_delay_us && now.target_delay_us <= config.max_delay_us,
        "target {} outside {}..={}",
        now.target_delay_us,
        config.min_delay_us,
        config.max_delay_us
    );
}
