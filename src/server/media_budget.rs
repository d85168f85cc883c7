//! Per-member media policing at the relay: a token bucket of bytes a member's datagrams draw
//! from before they are forwarded. A member may not flood a room: what one client sends beyond
//! its budget is dropped at the relay, before it costs any other member a copy, a queue slot
//! or bandwidth. The budget sits well above the fastest voice a client can send, so honest
//! members are never policed.

use std::time::{Duration, Instant};

/// How many media bytes a second one member may send through the relay, and how far above
/// that rate it may burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRateLimit {
    /// Sustained rate in bytes of datagram a second; 0 turns policing off.
    pub bytes_per_second: u32,
    /// Bytes a member may send at once above the rate (a resumed member's backlog, a burst of
    /// retransmitted voice).
    pub burst_bytes: u32,
}

impl MediaRateLimit {
    /// `kbps` kbit/s (1024 bits) as bytes a second, with half a second's worth as the burst;
    /// 0 turns policing off.
    pub fn from_kbps(kbps: u32) -> Self {
        let bytes_per_second = kbps.saturating_mul(1024) / 8;
        Self {
            bytes_per_second,
            burst_bytes: bytes_per_second / 2,
        }
    }
}

impl MediaRateLimit {
    /// 4 Mbps with a 2 Mbit (256 KB) burst: several times the 800 kbps a 640x360 stream sends,
    /// and a 1080p keyframe (tens of kilobytes) fits the burst many times over.
    pub fn video_default() -> Self {
        Self::from_kbps(4096)
    }
}

impl Default for MediaRateLimit {
    /// 512 kbps (64 KB/s) with a 32 KB burst. The fastest voice the SDK sends is 128 kbps of
    /// Opus in 10 ms frames: 100 datagrams of 160 + 8 bytes a second, 16.8 KB/s, and twice
    /// that while it repeats every datagram for a lossy room. Four times it leaves room for
    /// those repeats, FEC and backfill, and still caps a hostile member at a few times an
    /// honest one.
    fn default() -> Self {
        Self::from_kbps(512)
    }
}

/// How often a member over its budget is named in the relay's log: once when it first goes
/// over, then at most once per interval with the count dropped since, so a flood cannot flood
/// the log too.
pub const OVER_BUDGET_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// One member's bucket.
#[derive(Debug)]
pub struct MediaBudget {
    limit: MediaRateLimit,
    tokens: f64,
    refilled_at: Instant,
    /// Datagrams refused since the last log line.
    refused_unlogged: u64,
    refused_total: u64,
    logged_at: Option<Instant>,
}

/// What the log should say about a member over budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// Datagrams refused since the last line about this member.
    pub refused: u64,
    /// Datagrams refused since this member connected.
    pub refused_total: u64,
}

impl MediaBudget {
    /// A full bucket: a member starts with its burst.
    pub fn new(limit: MediaRateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst_bytes),
            refilled_at: now,
            refused_unlogged: 0,
            refused_total: 0,
            logged_at: None,
        }
    }

    /// Whether a datagram of `bytes` may be forwarded now; a refused one costs nothing, so a
    /// member that slows down to its rate is forwarded again at once.
    pub fn admit(&mut self, bytes: usize, now: Instant) -> bool {
        if self.limit.bytes_per_second == 0 {
            return true;
        }
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.refilled_at = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.bytes_per_second))
            .min(f64::from(self.limit.burst_bytes));
        let cost = bytes as f64;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            self.refused_unlogged += 1;
            self.refused_total += 1;
            false
        }
    }

    /// A log line is due: the first refusal, then one per [`OVER_BUDGET_LOG_INTERVAL`] while
    /// refusals go on. Resets the count it reports.
    pub fn take_log_due(&mut self, now: Instant) -> Option<OverBudget> {
        if self.refused_unlogged == 0 {
            return None;
        }
        let due = match self.logged_at {
            None => true,
            Some(at) => now.saturating_duration_since(at) >= OVER_BUDGET_LOG_INTERVAL,
        };
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        let report = OverBudget {
            refused: self.refused_unlogged,
            refused_total: self.refused_total,
        };
        self.refused_unlogged = 0;
        Some(report)
    }

    #[cfg(test)]
    pub fn refused_total(&self) -> u64 {
        self.refused_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: MediaRateLimit = MediaRateLimit {
        bytes_per_second: 1000,
        burst_bytes: 500,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_member_at_its_rate_is_never_refused() {
        let start = Instant::now();
        let mut budget = MediaBudget::new(LIMIT, start);
        // 100-byte datagrams every 100 ms: exactly the rate, for a minute.
        for i in 0..600 {
            assert!(budget.admit(100, start + ms(100 * i)), "datagram {i}");
        }
        assert_eq!(budget.refused_total(), 0);
        assert_eq!(budget.take_log_due(start + ms(60_000)), None);
    }

    #[test]
    fn a_burst_passes_up_to_its_size_then_the_rate_holds() {
        let start = Instant::now();
        let mut budget = MediaBudget::new(LIMIT, start);
        let at_once: Vec<bool> = (0..8).map(|_| budget.admit(100, start)).collect();
        assert_eq!(at_once, [true, true, true, true, true, false, false, false]);
        // 100 ms later the bucket holds 100 bytes again: one datagram, not two.
        assert!(budget.admit(100, start + ms(100)));
        assert!(!budget.admit(100, start + ms(100)));
        assert_eq!(budget.refused_total(), 4);
    }

    #[test]
    fn a_flood_of_ten_times_the_rate_is_held_to_the_rate() {
        let start = Instant::now();
        let mut budget = MediaBudget::new(LIMIT, start);
        let mut admitted_bytes = 0;
        // 100-byte datagrams every 10 ms for 10 s: 10 000 bytes/s against 1000.
        for i in 0..1000 {
            if budget.admit(100, start + ms(10 * i)) {
                admitted_bytes += 100;
            }
        }
        // The burst plus ten seconds at the rate, and nothing more.
        assert!(admitted_bytes <= 500 + 10 * 1000, "{admitted_bytes}");
        assert!(admitted_bytes >= 10 * 1000 - 100, "{admitted_bytes}");
    }

    #[test]
    fn the_log_names_a_flood_once_then_once_an_interval_with_the_count() {
        let start = Instant::now();
        let mut budget = MediaBudget::new(LIMIT, start);
        assert!(budget.admit(500, start));
        assert!(!budget.admit(500, start));
        assert_eq!(
            budget.take_log_due(start),
            Some(OverBudget {
                refused: 1,
                refused_total: 1
            })
        );
        for _ in 0..3 {
            assert!(!budget.admit(900, start + ms(10)));
        }
        assert_eq!(budget.take_log_due(start + ms(10)), None, "not yet: 10 ms");
        assert_eq!(
            budget.take_log_due(start + OVER_BUDGET_LOG_INTERVAL),
            Some(OverBudget {
                refused: 3,
                refused_total: 4
            })
        );
        assert_eq!(budget.take_log_due(start + ms(60_000)), None, "nothing new");
    }

    #[test]
    fn a_zero_rate_turns_policing_off() {
        let start = Instant::now();
        let off = MediaRateLimit {
            bytes_per_second: 0,
            burst_bytes: 0,
        };
        let mut budget = MediaBudget::new(off, start);
        assert!((0..10_000).all(|_| budget.admit(1200, start)));
    }
}
