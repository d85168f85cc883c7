//! A sender's video bitrate under loss: additive increase, multiplicative decrease on what its
//! receivers report. Every resend request names pieces that did not arrive, so the share of
//! pieces asked for again is the path's loss as the receivers saw it, one second at a time.
//! Above a few percent the path is congested (or simply bad): sending fewer bits leaves room
//! for voice on the same connection and makes each frame fewer pieces to lose. Below one
//! percent the rate climbs back to the configured target.

use std::time::{Duration, Instant};

/// How often the rate is reconsidered.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Resent share above which the rate backs off, and below which it recovers.
const BACK_OFF_ABOVE: f64 = 0.05;
const RECOVER_BELOW: f64 = 0.01;
/// Each back-off keeps this much of the rate; each recovery adds this share of the target.
const BACK_OFF_FACTOR: f64 = 0.8;
const RECOVER_STEP: f64 = 0.1;
/// Under this a 640x360 picture is mush: better a lower frame rate (the encoder drops frames
/// itself) than fewer bits.
pub const MIN_KBPS: u32 = 150;

#[derive(Debug)]
pub struct VideoRate {
    target_kbps: u32,
    current_kbps: u32,
    window_start: Option<Instant>,
    pieces_sent: u64,
    pieces_asked_again: u64,
}

impl VideoRate {
    pub fn new(target_kbps: u32) -> Self {
        Self {
            target_kbps,
            current_kbps: target_kbps,
            window_start: None,
            pieces_sent: 0,
            pieces_asked_again: 0,
        }
    }

    pub fn kbps(&self) -> u32 {
        self.current_kbps
    }

    pub fn sent(&mut self, pieces: usize) {
        self.pieces_sent += pieces as u64;
    }

    pub fn asked_again(&mut self, pieces: usize) {
        self.pieces_asked_again += pieces as u64;
    }

    /// At most once a [`RATE_WINDOW`]: the new rate, if it changed.
    pub fn update(&mut self, now: Instant) -> Option<u32> {
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) < RATE_WINDOW || self.pieces_sent == 0 {
            return None;
        }
        let lost = self.pieces_asked_again as f64 / self.pieces_sent as f64;
        self.window_start = Some(now);
        self.pieces_sent = 0;
        self.pieces_asked_again = 0;
        let before = self.current_kbps;
        if lost > BACK_OFF_ABOVE {
            self.current_kbps = ((before as f64 * BACK_OFF_FACTOR) as u32).max(MIN_KBPS);
        } else if lost < RECOVER_BELOW {
            let step = (self.target_kbps as f64 * RECOVER_STEP) as u32;
            self.current_kbps = (before + step).min(self.target_kbps);
        }
        (self.current_kbps != before).then_some(self.current_kbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One window in which `asked` of 100 pieces were asked for again.
    fn window(rate: &mut VideoRate, at: &mut Instant, asked: usize) -> Option<u32> {
        rate.sent(100);
        rate.asked_again(asked);
        *at += RATE_WINDOW;
        rate.update(*at)
    }

    #[test]
    fn loss_backs_off_to_a_floor_and_a_clean_path_climbs_back_to_the_target() {
        let mut at = Instant::now();
        let mut rate = VideoRate::new(800);
        assert_eq!(rate.update(at), None, "the first call starts the window");
        assert_eq!(window(&mut rate, &mut at, 20), Some(640));
        assert_eq!(window(&mut rate, &mut at, 20), Some(512));
        for _ in 0..20 {
            window(&mut rate, &mut at, 50);
        }
        assert_eq!(rate.kbps(), MIN_KBPS);
        assert_eq!(
            window(&mut rate, &mut at, 3),
            None,
            "between the thresholds: hold"
        );
        assert_eq!(window(&mut rate, &mut at, 0), Some(MIN_KBPS + 80));
        for _ in 0..20 {
            window(&mut rate, &mut at, 0);
        }
        assert_eq!(rate.kbps(), 800, "never above the target");
    }

    #[test]
    fn the_rate_is_reconsidered_once_a_window_and_only_with_traffic() {
        let mut at = Instant::now();
        let mut rate = VideoRate::new(800);
        rate.update(at);
        rate.sent(100);
        rate.asked_again(50);
        assert_eq!(rate.update(at + RATE_WINDOW / 2), None, "too soon");
        at += RATE_WINDOW;
        assert_eq!(rate.update(at), Some(640));
        at += RATE_WINDOW;
        assert_eq!(rate.update(at), None, "nothing sent: nothing learnt");
    }
}
