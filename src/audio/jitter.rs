//! Adaptive jitter buffer for one remote member's voice.
//!
//! Sans-IO: no clock, no thread, no socket. The caller hands in every received packet with its
//! arrival time ([`JitterBuffer::insert`]) and asks, once per frame of playout at the receiver's
//! steady rate, what to decode next ([`JitterBuffer::next_frame`]). Both take `now_us` from the
//! caller's clock, so tests drive the buffer with a simulated clock and an hour-long call runs in
//! a second.
//!
//! # Model
//!
//! * **Slots.** Playout walks the sender's timeline one frame (one `seq`, `frame_samples` of
//!   `timestamp`) per call. A slot is answered with the packet, with FEC from the *next* packet,
//!   with PLC, or with silence. Packets are stored in a fixed ring keyed by extended (unwrapped)
//!   sequence number, so reordering costs nothing and nothing is allocated per packet beyond the
//!   payload copy (whose buffers are recycled, see [`JitterBuffer::recycle`]).
//! * **Delay is measured, not counted.** Each arrival gives a *transit* = arrival time − sender
//!   timestamp (in µs; the two clocks have an unknown offset that cancels out). The minimum transit
//!   over the last ~2 s of packets is the *base*: what the fastest packet takes. A packet's
//!   *relative delay* is its transit − base (its jitter), and the buffer's *delay* is how long after
//!   that fastest-possible arrival a slot is played: `now − (sender time of slot + base)`. A packet
//!   is in time exactly when its relative delay is below the buffer's delay. Measuring it this way
//!   (rather than counting buffered packets, which itself jitters) gives a precise, smooth signal
//!   for the drift controller and works even while no packet is buffered. A new talkspurt that
//!   arrives already far past its due time by that base (a sender whose capture paused stamps
//!   its next talkspurt less far ahead than the pause lasted) re-learns the base from itself:
//!   a jump of the sender's clock is not jitter.
//! * **Target.** The target delay is a high quantile (97 %) of recent relative delays, from a
//!   histogram with exponential forgetting (~2 s memory, primed with zero-jitter packets so the
//!   first packets of a call do not decide alone), clamped to `[min, max]`. A quantile ignores
//!   one-off spikes (they cost one FEC/PLC frame, not a permanent 100 ms), rises within a few
//!   packets when jitter appears (a few percent of the recent mass is enough) and falls back
//!   slowly: the histogram has to forget, and the target itself decays with a 1 s time constant.
//!   When isolated losses are frequent (≥ 2 % of slots over 10 s, or over the first 2 s of a
//!   call's audio until 10 s have been played), one frame of headroom is added
//!   so that the next packet, which carries the Opus in-band FEC for a lost one, is usually already
//!   here: one frame of latency buys FEC instead of PLC. Bursts do not count (FEC cannot repair
//!   them), and the headroom goes again when such losses fall below 0.5 %. While the sender
//!   repeats every packet (heavy loss reported), the headroom is instead what its repeats need
//!   to arrive (a high quantile of their delay): half a frame when they trail by half a frame.
//! * **Control band.** Playout starts when the first packet of a talkspurt has been held for the
//!   target; as calls happen on a frame grid, the delay then sits in `[target, target + frame)`.
//!   While playing, if the smoothed delay persistently exceeds `target + 1 frame + 1 ms`, one frame is
//!   dropped (a quiet one when there is a choice); if it falls below the target, one concealed
//!   frame is inserted without advancing (preferably after a quiet frame, or right away where a
//!   packet is missing anyway, which is the underflow of a slow sender). After a drop the delay is
//!   still above the target, so a drop never triggers an insert or vice versa. This one loop absorbs target changes
//!   and clock drift (±100 ppm is 0.36 s an hour) alike, so delay stays bounded.
//! * **Talkspurts.** After a packet with `speaking == false` is played, a missing next slot is
//!   silence, not PLC (no synthetic tails). If packets stop while speaking, at most ~100 ms are
//!   concealed, then silence. A later packet starts a new talkspurt, which prebuffers again: this
//!   is also where the delay snaps back to the current target for free. (When the end marker
//!   was lost, the next talkspurt often arrives during that concealment, numbered below the
//!   slots concealed, which counted on as if the sender had gone on; its timestamp, jumped
//!   ahead of its sequence number, says it is new, not late.) A talkspurt's first
//!   packet is often the sender's *pre-roll* (the frame before the voice activity detector
//!   fired, sent with the next one, so a frame after its time): it is kept out of the delay
//!   statistics, and when it is too late to be played whole only its end is played
//!   ([`Playout::Tail`]), so that the talkspurt starts at the target delay rather than a frame
//!   behind it.
//! * **Accounting.** Every non-duplicate arrival counts once: `received` (stored in time), or
//!   `late` (its slot was already decided), or is a `duplicate`. A slot is `lost` when it had to be
//!   played without its packet; a packet declared lost that shows up later is `late` as well, never
//!   `received`. Slots concealed because the sender simply stopped are not counted lost unless a
//!   later packet proves (by its sequence number) that they were sent.

use super::SAMPLE_RATE;

// ---------------------------------------------------------------------------------------------
// Tuning. Times in µs. Each constant says why it has its value.
// ---------------------------------------------------------------------------------------------

/// Width of a delay-histogram bucket. 1 ms is well below what a listener or the target needs;
/// widened when `max_delay_us` is huge so the histogram stays at most [`HIST_MAX_BUCKETS`] long.
const HIST_BUCKET_US: u64 = 1_000;
/// Upper bound on histogram length: each arrival touches every bucket once.
const HIST_MAX_BUCKETS: u64 = 1_024;
/// Memory of the delay histogram. Long enough for a stable 97th percentile (~100 packets at
/// 20 ms), short enough that the target returns towards `min` within ~10 s once jitter is gone.
const HIST_MEMORY_US: f64 = 2_000_000.0;
/// Quantile of relative delay the target covers: ~3 % of packets may arrive after their slot
/// when jitter is at its worst; most of those are recovered through FEC.
const TARGET_QUANTILE: f64 = 0.97;
/// Time constant with which the target follows a *lower* quantile (higher ones apply at once).
const TARGET_DECAY_US: f64 = 1_000_000.0;
/// Smoothing of the measured delay: removes the jitter of the caller's own call times while
/// following ±100 ppm drift (0.1 ms/s) with negligible lag.
const DELAY_SMOOTH_US: f64 = 500_000.0;
/// The base (minimum transit) is the minimum over this many sub-windows...
const BASE_SUBWINDOWS: usize = 4;
/// ...of this much audio each (counted in packets, so silence between talkspurts does not expire
/// it and the next talkspurt starts from a good base).
const BASE_SUBWINDOW_US: u64 = 500_000;
/// How far above `target + one frame` the delay must be before a frame is dropped. Small: after
/// a drop the delay is still above the target by this much, so the insert rule (below target)
/// cannot fire in answer, and a talkspurt that started a frame late (the sender's pre-roll)
/// gets back to the bottom of the band instead of playing a frame behind for its whole length.
const DROP_MARGIN_US: f64 = 1_000.0;
/// How long the delay must stay above the band before a frame is dropped.
const DROP_HOLD_US: i64 = 500_000;
/// After this long above the band, drop even a loud frame (a CBR stream never looks quiet).
const DROP_FORCE_US: i64 = 2_000_000;
/// After this long below the target, insert even after a loud frame.
const INSERT_FORCE_US: i64 = 1_000_000;
/// A wait conceals a multiple of this (2.5 ms at 48 kHz: the shortest frame Opus
/// concealment produces).
const WAIT_STEP_SAMPLES: usize = 120;
/// Most PLC in a row. Past ~100 ms PLC turns into an audible drone; silence is better.
const MAX_CONCEAL_US: u64 = 100_000;
/// Delay this far above the band (sustained for [`CATCHUP_HOLD_US`]) means playout stalled
/// (the game froze, the device stopped): skip ahead to the target at once instead of dropping
/// one frame per second for a minute.
const CATCHUP_EXCESS_US: f64 = 100_000.0;
/// A caller catching up after a hiccup calls several times in a row with nearly the same time;
/// the excess it sees then vanishes within those calls, so only a sustained excess counts.
const CATCHUP_HOLD_US: i64 = 100_000;
/// Window of recent slots for [`JitterBuffer::loss_fraction`].
const LOSS_WINDOW_US: u64 = 3_000_000;
/// Window of recent slots for the FEC-headroom decision: longer, so that a few late packets in a
/// row do not switch one frame of delay on and, three seconds later, off again (each switch costs
/// an inserted or a dropped frame).
const LOSS_EVENT_WINDOW_US: u64 = 10_000_000;
/// Until the FEC-headroom window has seen this much audio, its rate is taken over this much
/// (as if the rest had been clean): enough that one early loss does not look like a lossy
/// link, little enough that a lossy one gets the headroom within its first two seconds of
/// speech. Over the whole window instead, a call whose member talks in talkspurts waited for
/// ten losses (two to five seconds of speech at 10-20 % loss), and every loss until then was
/// concealed although the next packet, a frame later, carried its FEC.
const LOSS_EVENT_MIN_US: u64 = 2_000_000;
/// Capacity of a loss window's bit set.
const LOSS_WINDOW_MAX: usize = 1_024;
/// Rate of loss events (runs of lost slots) at which one frame of FEC headroom is added to the
/// target...
const FEC_HEADROOM_ON: f64 = 0.02;
/// ...and below which it is removed again (hysteresis: no flapping of the target).
const FEC_HEADROOM_OFF: f64 = 0.005;
/// The sender counts as repeating while a repeat came among this many arrivals (a second of
/// a talkspurt at 20 ms frames): counted in packets, not time, so a pause between talkspurts
/// does not forget it and start the next one waiting a whole frame for FEC.
const REPEATS_SEEN_WITHIN_ARRIVALS: u32 = 50;
/// This many late packets in a row, spread over at least [`RESYNC_LATE_SPAN_US`], mean the
/// sender restarted with a new sequence/timestamp origin: forget the stream and start afresh. A
/// flood of late packets after a network stall arrives at once and does not qualify.
const RESYNC_LATE_PACKETS: u32 = 16;
/// See [`RESYNC_LATE_PACKETS`].
const RESYNC_LATE_SPAN_US: i64 = 500_000;
/// A `speaking == false` packet contiguous with, and at most this many packets after, the end of
/// a finished talkspurt is a straggler of its tail, not a new talkspurt.
const STRAGGLER_WINDOW: u64 = 8;
/// Origin of extended sequence numbers: far from zero so that unwrapping backwards never
/// underflows; a multiple of 2^16 so the low bits are the wire value.
const SEQ_ORIGIN: u64 = 1 << 32;
/// Origin of extended timestamps (a multiple of 2^32, same reasons).
const TS_ORIGIN: u64 = 1 << 34;
/// Payload buffers kept for reuse.
const SPARE_MAX: usize = 32;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// How the buffer is set up. `frame_samples` must match what the sender puts in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Samples per packet at 48 kHz: 480 (10 ms) or 960 (20 ms).
    pub frame_samples: usize,
    /// Lowest target delay. A little above zero so that a perfectly regular link still has
    /// margin for the caller's and the network's sub-millisecond wobble.
    pub min_delay_us: u64,
    /// Highest target delay: beyond ~300 ms conversation breaks down, so late packets are
    /// preferable to more delay.
    pub max_delay_us: u64,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            frame_samples: super::frame_samples(20),
            min_delay_us: 2_000,
            max_delay_us: 300_000,
        }
    }
}

/// What the playout side should do for the frame it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode these Opus bytes normally.
    Packet(Vec<u8>),
    /// A talkspurt's pre-roll frame that arrived too late to be played whole: decode `packet`
    /// normally but play only its last `samples` samples (possibly none), faded in. They end
    /// exactly when the next frame is due, so the sender's pre-roll keeps what it can of the
    /// word's onset without pushing the whole talkspurt a frame late.
    Tail { packet: Vec<u8>, samples: usize },
    /// The packet for this frame is missing but the *next* one is here: decode these bytes (the
    /// next packet's) with `fec = true` to recover the missing frame from its in-band FEC. The
    /// next call returns the same packet as [`Playout::Packet`].
    Fec(Vec<u8>),
    /// Nothing to decode: run Opus packet-loss concealment for one frame.
    Conceal,
    /// The frame's packet is not here yet but is not overdue either: conceal just `samples`
    /// (a multiple of 2.5 ms, less than a frame: what the caller said it still needs), then ask
    /// again. Only returned by [`JitterBuffer::next_frame_for`] to a caller that needs less
    /// than a frame; waiting a whole frame would add a frame of delay for a packet that is due
    /// within the caller's block.
    Wait { samples: usize },
    /// Nothing to play (before the first packet, between talkspurts): output silence and do not
    /// run PLC. A caller of [`JitterBuffer::next_frame_for`] outputs only the samples it needs,
    /// so that a talkspurt arriving meanwhile starts at its next call.
    Silence,
}

/// Counters and current estimates. See the module doc for how packets are accounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored in time for playout.
    pub received: u64,
    /// Slots played without their packet (recovered, concealed, or silenced after a burst).
    pub lost: u64,
    /// Lost slots recovered through the next packet's in-band FEC.
    pub recovered: u64,
    /// Packets that arrived after their slot had been decided (discarded).
    pub late: u64,
    /// Packets received more than once (discarded). The sender's repeats of packets that
    /// arrived are not counted here: that is what most of them are for nothing, by design.
    pub duplicate: u64,
    /// Slots played from the sender's repeat (see [`JitterBuffer::insert_repeat`]) because the
    /// original was lost. Counted in `received`, not in `lost`; but
    /// [`loss_fraction`](JitterBuffer::loss_fraction) counts them, so that the sender, told the
    /// loss its originals suffer, goes on repeating.
    pub repaired: u64,
    /// Repeats of lost packets that came after their slot had been decided (discarded).
    pub repeats_late: u64,
    /// [`Playout::Conceal`] frames returned (lost slots and frames inserted to add delay).
    pub concealed: u64,
    /// Received packets skipped to keep the delay bounded (clock drift, target shrinking, stalled
    /// playout).
    pub dropped_for_drift: u64,
    /// Current buffering delay: how long after the fastest-possible arrival a frame is played
    /// (smoothed; the last value is kept between talkspurts).
    pub delay_us: u64,
    /// Delay the buffer is steering to.
    pub target_delay_us: u64,
    /// RFC 3550 interarrival jitter, in µs.
    pub jitter_us: u64,
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/// A stored packet.
#[derive(Debug)]
struct Stored {
    seq: u64,
    ts: u64,
    speaking: bool,
    /// Sent after its time: the sender's pre-roll at the start of a talkspurt (a frame), or a
    /// repeat standing in for a lost original (up to a frame; a talkspurt may start on either).
    pre_roll: bool,
    /// Arrived only as the sender's repeat: its original was lost.
    repeat: bool,
    payload: Vec<u8>,
}

/// A slot on the sender's timeline (extended sequence number and timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    seq: u64,
    ts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing to play; the ring is empty.
    Idle,
    /// A talkspurt's first packet is held until its delay reaches the target. `resume` is set
    /// when it continues a timeline that was interrupted (burst loss, stall): then packets whose
    /// slot time has passed are late, as they would have been had playout gone on.
    Prebuffering { first: Slot, resume: bool },
    /// Each call plays slot `next`.
    Playing { next: Slot },
}

/// What the ring holds at the slot being played.
#[derive(Debug, Clone, Copy)]
enum Head {
    /// Nothing at or after the slot.
    Empty,
    /// The slot's packet.
    Present,
    /// The slot's packet is missing but a later one of the same talkspurt is here; `fec` when
    /// it is the very next one.
    Missing { fec: bool },
    /// The next packet does not continue this timeline: a new talkspurt (or a sender glitch).
    Boundary(Slot),
}

/// Minimum over the last `BASE_SUBWINDOWS` windows of `per` values each.
#[derive(Debug)]
struct MinWindow {
    mins: [i64; BASE_SUBWINDOWS],
    cur: usize,
    count: u32,
    per: u32,
}

impl MinWindow {
    fn new(per: u32) -> Self {
        Self {
            mins: [i64::MAX; BASE_SUBWINDOWS],
            cur: 0,
            count: 0,
            per: per.max(1),
        }
    }

    fn reset(&mut self) {
        *self = Self::new(self.per);
    }

    fn push(&mut self, x: i64) {
        if self.count >= self.per {
            self.cur = (self.cur + 1) % BASE_SUBWINDOWS;
            self.mins[self.cur] = x;
            self.count = 1;
        } else {
            self.mins[self.cur] = self.mins[self.cur].min(x);
            self.count += 1;
        }
    }

    fn get(&self) -> Option<i64> {
        let m = self.mins.iter().copied().min().unwrap_or(i64::MAX);
        (m != i64::MAX).then_some(m)
    }
}

/// Histogram of relative delays with exponential forgetting (per packet, so silence does not
/// erase what was learned about the path).
#[derive(Debug)]
struct DelayHistogram {
    buckets: Vec<f64>,
    bucket_us: u64,
    forget: f64,
    total: f64,
}

impl DelayHistogram {
    fn new(max_delay_us: u64, frame_us: i64) -> Self {
        let bucket_us = HIST_BUCKET_US.max(max_delay_us.div_ceil(HIST_MAX_BUCKETS - 2));
        let n = (max_delay_us / bucket_us + 2) as usize;
        let forget = (-(frame_us as f64) / HIST_MEMORY_US).exp();
        // Prior: a full memory's worth of zero-jitter packets. Without it the first few packets
        // of a call *are* the distribution, and one early outlier would set a 200 ms target; with
        // it, the estimator behaves from the start as it does in steady state (a few percent of
        // recent packets must be slow before the target moves), and real jitter still shows
        // within a fraction of a second.
        let prior = 1.0 / (1.0 - forget);
        let mut buckets = vec![0.0; n];
        buckets[0] = prior;
        Self {
            buckets,
            bucket_us,
            forget,
            total: prior,
        }
    }

    fn add(&mut self, d_us: u64) {
        for b in &mut self.buckets {
            *b *= self.forget;
        }
        self.total *= self.forget;
        let i = ((d_us / self.bucket_us) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1.0;
        self.total += 1.0;
    }

    /// Upper edge of the bucket holding quantile `q` (so the answer carries up to one bucket of
    /// margin), or 0 when empty.
    fn quantile(&self, q: f64) -> u64 {
        if self.total <= 0.0 {
            return 0;
        }
        let want = q * self.total;
        let mut cum = 0.0;
        for (i, b) in self.buckets.iter().enumerate() {
            cum += b;
            if cum >= want {
                return (i as u64 + 1) * self.bucket_us;
            }
        }
        self.buckets.len() as u64 * self.bucket_us
    }
}

/// Outcome (lost or not) of the last `len` decided slots, as a bit ring.
#[derive(Debug)]
struct LossWindow {
    bits: [u64; LOSS_WINDOW_MAX / 64],
    len: usize,
    pos: usize,
    filled: usize,
    lost: u32,
}

impl LossWindow {
    fn new(len: usize) -> Self {
        Self {
            bits: [0; LOSS_WINDOW_MAX / 64],
            len: len.clamp(1, LOSS_WINDOW_MAX),
            pos: 0,
            filled: 0,
            lost: 0,
        }
    }

    fn push(&mut self, lost: bool) {
        let (w, b) = (self.pos / 64, self.pos % 64);
        if self.filled == self.len {
            if (self.bits[w] >> b) & 1 == 1 {
                self.lost -= 1;
            }
        } else {
            self.filled += 1;
        }
        if lost {
            self.bits[w] |= 1 << b;
            self.lost += 1;
        } else {
            self.bits[w] &= !(1 << b);
        }
        self.pos = (self.pos + 1) % self.len;
    }

    fn fraction(&self) -> f64 {
        if self.filled == 0 {
            0.0
        } else {
            f64::from(self.lost) / self.filled as f64
        }
    }
}

/// Where an arriving packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Stored,
    Late,
}

/// How an arriving packet came: the sender sends each frame once, the pre-roll a frame late,
/// and while receivers report heavy loss each frame again up to a frame later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Original,
    PreRoll,
    Repeat,
}

/// What a stored packet is marked with.
#[derive(Debug, Clone, Copy)]
struct StoreAs {
    speaking: bool,
    /// Sent after its time (the pre-roll, or a repeat): see [`Stored::pre_roll`].
    pre_roll: bool,
    repeat: bool,
}

/// Adaptive jitter buffer for one remote member. See the module documentation.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    /// Frame duration in µs.
    frame_us: i64,
    /// Most consecutive [`Playout::Conceal`] frames.
    max_conceal: u32,

    // Unwrapping and duplicate detection.
    anchored: bool,
    hi_seq: u64,
    hi_ts: u64,
    /// Bit i set: extended sequence `hi_seq - i` was received.
    seen: u128,

    // Storage: `ring[seq & mask]`; every stored seq lies in `[floor, floor + ring.len())` where
    // floor is the first/next slot of the current state.
    ring: Vec<Option<Stored>>,
    mask: u64,
    stored: usize,
    spare: Vec<Vec<u8>>,

    // Playout state.
    state: State,
    /// First slot not yet decided when not playing: older packets are late.
    mark: Option<Slot>,
    /// Idle because a `speaking == false` packet ended the talkspurt.
    ended_by_eos: bool,
    /// Last slot played from real data (packet or FEC).
    last_played: Option<Slot>,
    /// Slots concealed with nothing at all buffered (count, from slot): maybe lost, maybe the
    /// sender stopped. Counted lost only once a later packet of the same timeline shows up.
    unconfirmed: Option<(Slot, u64)>,
    /// Samples of a late pre-roll frame to play when the talkspurt that just started plays its
    /// first slot (see [`Playout::Tail`]).
    pre_roll_tail: Option<usize>,
    /// The current call's lead and need (see [`JitterBuffer::next_frame_for`]).
    lead_us: i64,
    needed_samples: usize,
    /// Smoothed delay, µs.
    delay_s: f64,
    delay_alpha: f64,
    consec_conceal: u32,
    last_was_insert: bool,
    last_quiet: bool,
    /// The last played packet had `speaking == false`.
    ending: bool,
    over_since: Option<i64>,
    under_since: Option<i64>,
    excess_since: Option<i64>,

    // Network estimates.
    base: MinWindow,
    hist: DelayHistogram,
    /// Target delay, µs.
    target: f64,
    target_alpha: f64,
    /// RFC 3550 jitter, µs.
    jitter: f64,
    prev_transit: Option<i64>,
    /// Running mean payload length: Opus VBR spends few bytes on quiet frames, so a short packet
    /// is a cheap, decode-free hint of low energy.
    avg_len: f64,
    fec_headroom: bool,
    /// Relative delays of the sender's repeats (redundant ones included): while it repeats,
    /// the headroom a loss needs is what it takes the repeat to come, not a frame for FEC.
    repeat_hist: DelayHistogram,
    /// Original arrivals since the last repeat (saturating).
    arrivals_since_repeat: u32,
    losses: LossWindow,
    /// Starts of loss runs over the same window, for the FEC headroom.
    loss_events: LossWindow,
    /// Slots over which the FEC-headroom rate is taken at least ([`LOSS_EVENT_MIN_US`]).
    loss_event_min: usize,
    prev_lost: bool,
    late_run: u32,
    late_run_start: i64,

    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for one sender. Nonsensical configurations are repaired (frame of at least one
    /// sample, `max >= min`) rather than rejected: this sits on the audio path.
    pub fn new(config: JitterConfig) -> Self {
        let frame_samples = config.frame_samples.max(1);
        let min_delay_us = config.min_delay_us;
        let max_delay_us = config.max_delay_us.max(min_delay_us);
        let cfg = JitterConfig {
            frame_samples,
            min_delay_us,
            max_delay_us,
        };
        let rate = u64::from(SAMPLE_RATE);
        let frame_us = ((frame_samples as u64 * 1_000_000 + rate / 2) / rate).max(1);
        let frames_in = |us: u64| (us / frame_us).max(1);
        let cap = (2 * frames_in(max_delay_us) + 16)
            .min(8_192)
            .next_power_of_two() as usize;
        let frame_us = frame_us as i64;
        let mut ring = Vec::with_capacity(cap);
        ring.resize_with(cap, || None);
        Self {
            cfg,
            frame_us,
            max_conceal: frames_in(MAX_CONCEAL_US) as u32,
            anchored: false,
            hi_seq: 0,
            hi_ts: 0,
            seen: 0,
            ring,
            mask: cap as u64 - 1,
            stored: 0,
            spare: Vec::with_capacity(SPARE_MAX),
            state: State::Idle,
            mark: None,
            ended_by_eos: false,
            last_played: None,
            unconfirmed: None,
            pre_roll_tail: None,
            lead_us: 0,
            needed_samples: frame_samples,
            delay_s: 0.0,
            delay_alpha: 1.0 - (-(frame_us as f64) / DELAY_SMOOTH_US).exp(),
            consec_conceal: 0,
            last_was_insert: false,
            last_quiet: false,
            ending: false,
            over_since: None,
            under_since: None,
            excess_since: None,
            base: MinWindow::new(frames_in(BASE_SUBWINDOW_US) as u32),
            hist: DelayHistogram::new(max_delay_us, frame_us),
            target: min_delay_us as f64,
            target_alpha: 1.0 - (-(frame_us as f64) / TARGET_DECAY_US).exp(),
            jitter: 0.0,
            prev_transit: None,
            avg_len: 0.0,
            fec_headroom: false,
            repeat_hist: DelayHistogram::new(max_delay_us, frame_us),
            arrivals_since_repeat: u32::MAX,
            losses: LossWindow::new(frames_in(LOSS_WINDOW_US) as usize),
            loss_events: LossWindow::new(frames_in(LOSS_EVENT_WINDOW_US) as usize),
            loss_event_min: frames_in(LOSS_EVENT_MIN_US) as usize,
            prev_lost: false,
            late_run: 0,
            late_run_start: 0,
            stats: JitterStats::default(),
        }
    }

    /// The configuration in use (after repair).
    pub fn config(&self) -> JitterConfig {
        self.cfg
    }

    /// Hands one received packet to the buffer. `now_us` is its arrival time on the same clock
    /// that [`next_frame`](Self::next_frame) uses. Never fails: duplicates, late and
    /// nonsensical packets are counted and dropped.
    pub fn insert(
        &mut self,
        seq: u16,
        timestamp: u32,
        speaking: bool,
        payload: &[u8],
        now_us: u64,
    ) {
        self.insert_packet(seq, timestamp, speaking, Arrival::Original, payload, now_us);
    }

    /// Hands over the sender's repeat of a packet: a second copy sent up to a frame after the
    /// first (half a frame when its audio comes in 10 ms pieces) while receivers report heavy
    /// loss. It fills the slot only if the original was lost (a repeat of a packet already here
    /// is dropped uncounted), and like the pre-roll it is late by design, so its arrival is no
    /// evidence of network jitter. A slot played from a repeat still counts in
    /// [`loss_fraction`](Self::loss_fraction) and in the decision to keep loss headroom; while
    /// repeats come, that headroom is the repeats' own delay (a high quantile of it, every
    /// repeat counted), so it is half a frame when they are half a frame behind.
    pub fn insert_repeat(
        &mut self,
        seq: u16,
        timestamp: u32,
        speaking: bool,
        payload: &[u8],
        now_us: u64,
    ) {
        self.insert_packet(seq, timestamp, speaking, Arrival::Repeat, payload, now_us);
    }

    /// Hands over the sender's pre-roll: the frame before a talkspurt's first, sent together
    /// with it, a frame after its own time. It is played if there is time for it (or the part
    /// of it there is time for, see [`Playout::Tail`]) and never taken as evidence of network
    /// jitter: counted like any other packet, it would add a frame-long outlier per talkspurt
    /// to the delay statistics, and with talkspurts of under a second that is enough to raise
    /// the target by a whole frame.
    pub fn insert_pre_roll(&mut self, seq: u16, timestamp: u32, payload: &[u8], now_us: u64) {
        self.insert_packet(seq, timestamp, true, Arrival::PreRoll, payload, now_us);
    }

    fn insert_packet(
        &mut self,
        seq: u16,
        timestamp: u32,
        speaking: bool,
        arrival: Arrival,
        payload: &[u8],
        now_us: u64,
    ) {
        let repeat = arrival == Arrival::Repeat;
        // Both are sent after their time: placed and started alike (a talkspurt whose
        // first original was lost starts on its repeat as it would on a late pre-roll).
        let pre_roll = arrival != Arrival::Original;
        let now = clamp_time(now_us);
        if !self.anchored {
            self.anchored = true;
            self.hi_seq = SEQ_ORIGIN + u64::from(seq);
            self.hi_ts = TS_ORIGIN + u64::from(timestamp);
            self.seen = 0;
        }
        let seq = self.unwrap_seq(seq);
        let ts = self.unwrap_ts(timestamp);
        if repeat {
            // Before the duplicate check: on a clean link every repeat is redundant, and the
            // lag is learned from them before the first loss needs it.
            self.note_repeat_delay(now - self.ts_us(ts));
        } else if arrival == Arrival::Original {
            self.arrivals_since_repeat = self.arrivals_since_repeat.saturating_add(1);
        }
        if self.check_seen(seq, ts) {
            if !repeat {
                self.stats.duplicate += 1;
            }
            return;
        }
        self.hi_ts = self.hi_ts.max(ts);

        let transit = now - self.ts_us(ts);
        if !pre_roll {
            if let Some(prev) = self.prev_transit {
                let dd = transit.abs_diff(prev) as f64;
                self.jitter += (dd - self.jitter) / 16.0;
            }
            self.prev_transit = Some(transit);
        }

        self.confirm_losses(Slot { seq, ts });

        let placed = self.place(
            Slot { seq, ts },
            StoreAs {
                speaking,
                pre_roll,
                repeat,
            },
            payload,
            now,
            transit,
        );

        // Late packets feed the estimators too: they are the very evidence that the target is
        // too small. The pre-roll is late by design and says nothing about the network.
        if !pre_roll {
            self.base.push(transit);
            let d = (transit - self.base.get().unwrap_or(transit)).max(0) as u64;
            // A delay beyond the largest allowed target is a discontinuity (sender clock jump,
            // route change, restart) or hopeless either way: no target could serve it, so it
            // says nothing about which target to choose.
            if d <= self.cfg.max_delay_us {
                self.hist.add(d);
            }
            self.update_target();
        }

        match placed {
            Placed::Stored => {
                self.stats.received += 1;
                self.late_run = 0;
                let len = payload.len() as f64;
                self.avg_len = if self.avg_len == 0.0 {
                    len
                } else {
                    self.avg_len + (len - self.avg_len) / 64.0
                };
            }
            Placed::Late if repeat => {
                // Its original was lost and the slot decided without it: a loss the repeat
                // could not repair, not a sign that the network is late.
                self.stats.repeats_late += 1;
            }
            Placed::Late => {
                self.stats.late += 1;
                if self.late_run == 0 {
                    self.late_run_start = now;
                }
                self.late_run += 1;
                if self.late_run >= RESYNC_LATE_PACKETS
                    && now - self.late_run_start >= RESYNC_LATE_SPAN_US
                {
                    self.reset();
                }
            }
        }
    }

    /// What to play for the next frame. Call once per frame of playout (`frame_samples`, or a
    /// [`Playout::Tail`]'s samples), at the receiver's steady rate, with the current time: for a
    /// caller that plays each frame as it asks for it. A caller that renders in blocks which are
    /// not whole frames uses [`next_frame_for`](Self::next_frame_for).
    pub fn next_frame(&mut self, now_us: u64) -> Playout {
        self.next_frame_for(now_us, 0, self.cfg.frame_samples)
    }

    /// [`next_frame`](Self::next_frame) for a caller that renders in blocks which are not whole
    /// frames (an engine pulling 441 or 1024 samples at a time, a resampler reading ahead):
    /// `now_us` is the time of the call, `lead_us` how much audio the caller has already decoded
    /// ahead of this frame (so the frame is heard at `now_us + lead_us`), and `needed_samples`
    /// how many samples of it the caller needs to finish its block. Delay is measured at the
    /// time the frame is heard; whether a missing packet can still be waited for is judged at
    /// the time of the call, when the packet has to be here; and a wait for it conceals only
    /// what the caller needs ([`Playout::Wait`]).
    pub fn next_frame_for(&mut self, now_us: u64, lead_us: u64, needed_samples: usize) -> Playout {
        self.lead_us = lead_us.min(1 << 40) as i64;
        self.needed_samples = needed_samples;
        let now = clamp_time(now_us).saturating_add(self.lead_us);
        // A transition out of Playing (new talkspurt, catch-up) may start the next talkspurt in
        // the same call; each pass makes progress, four are enough (Playing -> Prebuffering ->
        // Playing -> decided).
        for _ in 0..4 {
            match self.state {
                State::Idle => return Playout::Silence,
                State::Prebuffering { .. } => {
                    if !self.try_start(now) {
                        return Playout::Silence;
                    }
                }
                State::Playing { next } => {
                    if let Some(p) = self.play(next, now) {
                        return p;
                    }
                }
            }
        }
        Playout::Silence
    }

    /// Counters and current estimates.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            delay_us: self.delay_s.max(0.0) as u64,
            target_delay_us: self.target as u64,
            jitter_us: self.jitter as u64,
            ..self.stats
        }
    }

    /// Fraction of the last ~3 s of slots that had to be played without their packet (lost in
    /// the network or late). Feed it to the sender's Opus `packet_loss_perc` so it spends FEC bits
    /// in proportion to what is really lost.
    pub fn loss_fraction(&self) -> f32 {
        self.losses.fraction() as f32
    }

    /// Returns a payload buffer handed out in [`Playout`] for reuse. Optional: without it, each
    /// stored packet costs one allocation for its copy.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_MAX {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Forgets the stream (a sender restarted with new sequence and timestamp origins) while
    /// keeping the counters and what was learned about the path's jitter. Also done on its own
    /// when a long run of packets is consistently late.
    pub fn reset(&mut self) {
        for i in 0..self.ring.len() {
            if let Some(e) = self.ring[i].take() {
                self.recycle(e.payload);
            }
        }
        self.stored = 0;
        self.anchored = false;
        self.seen = 0;
        self.state = State::Idle;
        self.mark = None;
        self.ended_by_eos = false;
        self.last_played = None;
        self.unconfirmed = None;
        self.pre_roll_tail = None;
        self.base.reset();
        self.prev_transit = None;
        self.late_run = 0;
    }

    // ---- arrival side -------------------------------------------------------------------------

    fn unwrap_seq(&self, seq: u16) -> u64 {
        let diff = i64::from(seq.wrapping_sub(self.hi_seq as u16) as i16);
        (self.hi_seq as i64 + diff) as u64
    }

    fn unwrap_ts(&self, ts: u32) -> u64 {
        let diff = i64::from(ts.wrapping_sub(self.hi_ts as u32) as i32);
        (self.hi_ts as i64 + diff) as u64
    }

    /// Records `seq` as seen; true if it had been seen before. A repeated sequence number with a
    /// *newer* timestamp than anything seen is a restarted sender, not a duplicate.
    fn check_seen(&mut self, seq: u64, ts: u64) -> bool {
        if seq > self.hi_seq {
            let shift = seq - self.hi_seq;
            self.seen = if shift >= 128 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.hi_seq = seq;
            return false;
        }
        let i = self.hi_seq - seq;
        if i >= 128 {
            return false;
        }
        let bit = 1u128 << i;
        let dup = self.seen & bit != 0 && ts <= self.hi_ts;
        self.seen |= bit;
        dup
    }

    /// Sender time of an extended timestamp, µs.
    fn ts_us(&self, ts: u64) -> i64 {
        (i128::from(ts) * 1_000_000 / i128::from(SAMPLE_RATE)) as i64
    }

    /// `b` continues `a`'s timeline: one frame of timestamp per sequence number.
    fn contiguous(&self, a: Slot, b: Slot) -> bool {
        let dseq = b.seq as i64 - a.seq as i64;
        let dts = b.ts as i64 - a.ts as i64;
        dts == dseq * self.cfg.frame_samples as i64
    }

    fn target_us(&self) -> i64 {
        self.target as i64
    }

    /// When the slot with timestamp `ts` is due for its delay to equal the target.
    fn play_at(&self, ts: u64) -> Option<i64> {
        self.base
            .get()
            .map(|b| self.ts_us(ts) + b + self.target_us())
    }

    fn note_repeat_delay(&mut self, transit: i64) {
        self.arrivals_since_repeat = 0;
        if let Some(b) = self.base.get() {
            let d = (transit - b).max(0) as u64;
            if d <= self.cfg.max_delay_us {
                self.repeat_hist.add(d);
            }
        }
    }

    fn update_target(&mut self) {
        let network = self.hist.quantile(TARGET_QUANTILE) as f64;
        // Headroom for losses: until the repeat of a lost packet comes (the sender repeats
        // half a frame behind when it can), else until the next packet with its FEC.
        let wanted = if !self.fec_headroom {
            network
        } else if self.arrivals_since_repeat < REPEATS_SEEN_WITHIN_ARRIVALS {
            network.max(self.repeat_hist.quantile(TARGET_QUANTILE) as f64)
        } else {
            network + self.frame_us as f64
        };
        let raw = wanted.clamp(self.cfg.min_delay_us as f64, self.cfg.max_delay_us as f64);
        if raw > self.target {
            self.target = raw;
        } else {
            self.target += (raw - self.target) * self.target_alpha;
        }
    }

    fn push_loss(&mut self, lost: bool) {
        self.losses.push(lost);
        // FEC repairs isolated losses only: a burst of ten is one event here, and buys no
        // headroom. The rate is over at least `loss_event_min` slots (not just the slots seen
        // so far), so the first loss of a call does not look like 100 % loss.
        self.loss_events.push(lost && !self.prev_lost);
        self.prev_lost = lost;
        let seen = self.loss_events.filled.max(self.loss_event_min);
        let rate = f64::from(self.loss_events.lost) / seen as f64;
        if rate >= FEC_HEADROOM_ON {
            self.fec_headroom = true;
        } else if rate < FEC_HEADROOM_OFF {
            self.fec_headroom = false;
        }
    }

    fn push_unconfirmed(&mut self, slot: Slot) {
        match &mut self.unconfirmed {
            Some((_, n)) => *n += 1,
            None => self.unconfirmed = Some((slot, 1)),
        }
    }

    /// A packet of the same timeline at or after slots concealed on an empty buffer proves that
    /// those slots were sent: count them lost now.
    fn confirm_losses(&mut self, pkt: Slot) {
        let Some((start, n)) = self.unconfirmed else {
            return;
        };
        if pkt.seq < start.seq || !self.contiguous(start, pkt) {
            return;
        }
        let k = if pkt.seq >= start.seq + n {
            n
        } else {
            pkt.seq - start.seq + 1
        };
        self.stats.lost += k;
        for _ in 0..k.min(self.losses.len as u64) {
            self.push_loss(true);
        }
        self.unconfirmed = (k < n).then(|| {
            (
                Slot {
                    seq: start.seq + k,
                    ts: start.ts + k * self.cfg.frame_samples as u64,
                },
                n - k,
            )
        });
    }

    /// Packet `pkt` arrives while its slot may or may not still be ahead: store it, or say late.
    fn place(&mut self, pkt: Slot, how: StoreAs, payload: &[u8], now: i64, transit: i64) -> Placed {
        match self.state {
            State::Idle => {
                // After concealment that gave up on an empty buffer, the mark is only a guess.
                let after_end = self.after_concealed_end(pkt);
                if let Some(m) = self.mark {
                    if pkt.ts < m.ts && after_end.is_none() {
                        return Placed::Late;
                    }
                    if self.ended_by_eos && !how.speaking {
                        if let Some(lp) = self.last_played {
                            if pkt.seq > lp.seq
                                && pkt.seq - lp.seq <= STRAGGLER_WINDOW
                                && self.contiguous(lp, pkt)
                            {
                                return Placed::Late;
                            }
                        }
                    }
                }
                let resume =
                    after_end.is_none() && self.mark.is_some_and(|m| self.contiguous(m, pkt));
                if resume {
                    if self.play_at(pkt.ts).is_some_and(|t| now > t) {
                        return Placed::Late;
                    }
                } else {
                    // A new talkspurt. If it comes after a jump of the sender's clock,
                    // re-learn the base rather than declare everything late.
                    if let Some(start) = after_end {
                        self.count_lost(pkt.seq - start.seq);
                    }
                    self.unconfirmed = None;
                    self.rebase_if_jumped(transit, how.pre_roll);
                }
                self.state = State::Prebuffering { first: pkt, resume };
                self.store(pkt, how, payload);
                Placed::Stored
            }
            State::Prebuffering { first, resume } => {
                if pkt.seq < first.seq {
                    // An earlier packet of the same talkspurt overtaken on the way: it becomes
                    // the start, unless it belongs to an older timeline or its slot has passed.
                    let ok = self.contiguous(first, pkt)
                        && self.mark.map_or(true, |m| pkt.ts >= m.ts)
                        && !(resume && self.play_at(pkt.ts).is_some_and(|t| now > t))
                        && self.fits(pkt.seq);
                    if !ok {
                        return Placed::Late;
                    }
                    self.state = State::Prebuffering { first: pkt, resume };
                    self.store(pkt, how, payload);
                    Placed::Stored
                } else if pkt.seq == first.seq {
                    // Same sequence number, different timestamp: inconsistent, keep the first.
                    Placed::Late
                } else {
                    if pkt.seq >= first.seq + self.ring.len() as u64 {
                        self.overflow(pkt);
                    }
                    self.store(pkt, how, payload);
                    Placed::Stored
                }
            }
            State::Playing { next } => {
                if let Some(start) = self.after_concealed_end(pkt).filter(|_| pkt.seq < next.seq) {
                    // The slots concealed on an empty buffer were the silence after a
                    // talkspurt whose end (the packet with `speaking == false`) was lost, and
                    // `pkt` starts the next talkspurt. Concealment numbered those slots as if
                    // the sender had gone on sending, so `pkt`'s sequence number looks
                    // overdue; it is not: it is the first of a new timeline. Judged late,
                    // the new talkspurt's first frames (the onset of a word) would be thrown
                    // away and replaced by concealment. Only the sequence numbers between the
                    // last packet played and `pkt` were really sent and lost.
                    self.count_lost(pkt.seq - start.seq);
                    self.prebuffer(pkt, false, next);
                    self.store(pkt, how, payload);
                    return Placed::Stored;
                }
                if pkt.seq < next.seq || pkt.ts < next.ts {
                    return Placed::Late;
                }
                if self.ending && !self.contiguous(next, pkt) {
                    // The next talkspurt, while the end of this one is still to be heard
                    // (nothing of it is left to play): a new start, judged as in Idle.
                    self.rebase_if_jumped(transit, how.pre_roll);
                }
                if pkt.seq >= next.seq + self.ring.len() as u64 {
                    self.overflow(pkt);
                }
                self.store(pkt, how, payload);
                Placed::Stored
            }
        }
    }

    /// A new talkspurt's first packet (`transit` as measured on arrival) that looks later than
    /// the largest delay we would ever buffer, or already so far past its due time that
    /// starting it would count as a stalled playout (see `try_start`), means the sender's clock
    /// jumped or the route changed: the base is re-learned from this talkspurt. (A sender whose
    /// capture stopped for a while stamps its next talkspurt less far ahead than the pause
    /// lasted.) Kept, that stale base made the start skip the talkspurt's first packets as
    /// stalled, judge the next ones late as a resumed timeline, and take the jump for jitter:
    /// a target the jump's size (270 ms after a 640 ms pause) for seconds. The pre-roll is
    /// judged at its own time, a frame before it was sent.
    fn rebase_if_jumped(&mut self, transit: i64, pre_roll: bool) {
        let sent_transit = if pre_roll {
            transit - self.frame_us
        } else {
            transit
        };
        if self.base.get().is_some_and(|b| {
            transit - b > self.cfg.max_delay_us as i64
                || (sent_transit - b - self.target_us()) as f64 > CATCHUP_EXCESS_US
        }) {
            self.base.reset();
        }
    }

    /// If the slots since the last packet were concealed on an empty buffer and `pkt` does not
    /// continue their timeline (its timestamp jumped ahead of its sequence number: the sender
    /// paused), the first of those slots. Then `pkt` opens a new talkspurt, whatever numbers
    /// the concealment gave the slots it played, and only the sequence numbers between that
    /// slot and `pkt` were really sent (and lost).
    fn after_concealed_end(&self, pkt: Slot) -> Option<Slot> {
        let (start, _) = self.unconfirmed?;
        (pkt.seq >= start.seq && pkt.ts > start.ts && !self.contiguous(start, pkt)).then_some(start)
    }

    /// `n` slots that were sent were never played from their packet.
    fn count_lost(&mut self, n: u64) {
        self.stats.lost += n;
        for _ in 0..n.min(self.losses.len as u64) {
            self.push_loss(true);
        }
    }

    /// True if storing `seq` keeps every stored packet within one ring length of it.
    fn fits(&self, seq: u64) -> bool {
        self.max_stored_seq()
            .map_or(true, |m| m < seq + self.ring.len() as u64)
    }

    /// `pkt` lies beyond the ring: playout has fallen far behind (a stalled caller). Discard the
    /// oldest packets to make room and re-anchor playout; the catch-up on the next call skips to
    /// the target delay.
    fn overflow(&mut self, pkt: Slot) {
        let floor = pkt.seq + 1 - self.ring.len() as u64;
        for i in 0..self.ring.len() {
            if self.ring[i].as_ref().is_some_and(|e| e.seq < floor) {
                if let Some(e) = self.ring[i].take() {
                    self.stored -= 1;
                    self.stats.dropped_for_drift += 1;
                    self.recycle(e.payload);
                }
            }
        }
        let first = self
            .lowest_stored()
            .filter(|s| s.seq < pkt.seq)
            .unwrap_or(pkt);
        self.unconfirmed = None;
        self.mark = Some(first);
        self.state = State::Prebuffering {
            first,
            resume: true,
        };
    }

    fn store(&mut self, pkt: Slot, how: StoreAs, payload: &[u8]) {
        let idx = (pkt.seq & self.mask) as usize;
        if let Some(old) = self.ring[idx].take() {
            self.stored -= 1;
            self.recycle(old.payload);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        self.ring[idx] = Some(Stored {
            seq: pkt.seq,
            ts: pkt.ts,
            speaking: how.speaking,
            pre_roll: how.pre_roll,
            repeat: how.repeat,
            payload: buf,
        });
        self.stored += 1;
    }

    // ---- ring access ------------------------------------------------------------------------

    fn get(&self, seq: u64) -> Option<&Stored> {
        self.ring[(seq & self.mask) as usize]
            .as_ref()
            .filter(|e| e.seq == seq)
    }

    fn take(&mut self, seq: u64) -> Option<Stored> {
        let idx = (seq & self.mask) as usize;
        if self.ring[idx].as_ref().is_some_and(|e| e.seq == seq) {
            self.stored -= 1;
            self.ring[idx].take()
        } else {
            None
        }
    }

    /// First stored packet at or after `from`.
    fn head_from(&self, from: u64) -> Option<Slot> {
        if self.stored == 0 {
            return None;
        }
        (from..from + self.ring.len() as u64).find_map(|s| {
            self.get(s).map(|e| Slot {
                seq: e.seq,
                ts: e.ts,
            })
        })
    }

    fn lowest_stored(&self) -> Option<Slot> {
        self.ring
            .iter()
            .flatten()
            .map(|e| Slot {
                seq: e.seq,
                ts: e.ts,
            })
            .min_by_key(|s| s.seq)
    }

    fn max_stored_seq(&self) -> Option<u64> {
        self.ring.iter().flatten().map(|e| e.seq).max()
    }

    fn is_quiet(e: &Stored, avg_len: f64) -> bool {
        !e.speaking || (avg_len > 0.0 && e.payload.len() as f64 <= 0.75 * avg_len)
    }

    // ---- playout side -------------------------------------------------------------------------

    /// Prebuffering: start playing once the first packet is due. Returns true if now Playing.
    fn try_start(&mut self, now: i64) -> bool {
        let State::Prebuffering { mut first, resume } = self.state else {
            return false;
        };
        let Some(due) = self.play_at(first.ts) else {
            return false;
        };
        if now < due {
            return false;
        }
        if resume || (now - due) as f64 > CATCHUP_EXCESS_US {
            // Continuing an interrupted timeline, or far behind: skip packets whose slot passed
            // more than a frame ago instead of carrying their delay into the talkspurt.
            while self
                .play_at(first.ts)
                .is_some_and(|t| now - t > self.frame_us)
            {
                if let Some(e) = self.take(first.seq) {
                    self.stats.dropped_for_drift += 1;
                    self.recycle(e.payload);
                }
                self.mark = Some(Slot {
                    seq: first.seq + 1,
                    ts: first.ts + self.cfg.frame_samples as u64,
                });
                match self.head_from(first.seq + 1) {
                    Some(s) => first = s,
                    None => {
                        self.state = State::Idle;
                        self.ended_by_eos = false;
                        return false;
                    }
                }
            }
            // Slots skipped between the interruption and here were sent (the numbering says
            // so) but never arrived in time.
            if let Some(m) = self.mark {
                if first.seq > m.seq && self.contiguous(m, first) {
                    let gap = first.seq - m.seq;
                    self.stats.lost += gap;
                    for _ in 0..gap.min(self.losses.len as u64) {
                        self.push_loss(true);
                    }
                }
            }
        }
        let base = self.base.get().unwrap_or(0);
        self.state = State::Playing { next: first };
        self.delay_s = (now - self.ts_us(first.ts) - base) as f64;
        self.pre_roll_tail = None;
        if self.get(first.seq).is_some_and(|e| e.pre_roll) {
            // The pre-roll was sent a frame after its time. Played whole it would push the
            // talkspurt, and every frame of it, a frame later than the network requires, unless
            // the next frame is not due before the caller's next call anyway. So: nothing of it
            // if the next frame is due now; what finishes the caller's block if the next frame
            // is due by the next call; else all of it. (Cut to end exactly when the next frame is
            // due, that frame would be asked for within a call before it is due: the talkspurt
            // would run short of the target's margin, and wait on every loss instead of using
            // the next packet's FEC: PESQ 0.2 lower at 5-10 % loss.)
            let frame = self.cfg.frame_samples as i64;
            let call_time = now - self.lead_us;
            if let Some(due) = self.play_at(first.ts + frame as u64) {
                let room_us = due - call_time;
                let needed = self.needed_samples as i64;
                let samples = if room_us <= 0 {
                    0
                } else if room_us * frame <= needed * self.frame_us {
                    needed.min(frame)
                } else {
                    frame
                };
                if samples < frame {
                    self.pre_roll_tail = Some(samples as usize);
                    // The delay of the frames that follow, which start as the tail ends.
                    self.delay_s -= ((frame - samples) * self.frame_us / frame) as f64;
                }
            }
        }
        self.unconfirmed = None;
        self.consec_conceal = 0;
        self.last_was_insert = false;
        self.last_quiet = false;
        self.ending = false;
        self.over_since = None;
        self.under_since = None;
        self.excess_since = None;
        true
    }

    fn classify(&self, next: Slot) -> Head {
        match self.head_from(next.seq) {
            None => Head::Empty,
            Some(h) if h == next => Head::Present,
            Some(h) if h.seq > next.seq && self.contiguous(next, h) => Head::Missing {
                fec: h.seq == next.seq + 1,
            },
            Some(h) => Head::Boundary(h),
        }
    }

    fn advance(&mut self, next: Slot) -> Slot {
        if let Some(e) = self.take(next.seq) {
            self.recycle(e.payload);
        }
        let n = Slot {
            seq: next.seq + 1,
            ts: next.ts + self.cfg.frame_samples as u64,
        };
        self.state = State::Playing { next: n };
        n
    }

    /// Leaves Playing for a new talkspurt (or a resumed timeline) starting at `first`.
    fn prebuffer(&mut self, first: Slot, resume: bool, mark: Slot) {
        self.state = State::Prebuffering { first, resume };
        self.mark = Some(mark);
        self.unconfirmed = if resume { self.unconfirmed } else { None };
    }

    fn go_idle(&mut self, next: Slot, ended_by_eos: bool) {
        self.state = State::Idle;
        self.mark = Some(Slot {
            seq: next.seq + 1,
            ts: next.ts + self.cfg.frame_samples as u64,
        });
        self.ended_by_eos = ended_by_eos;
    }

    /// One frame while Playing at slot `next`. `None` means the state changed without deciding
    /// the frame; the caller loops.
    fn play(&mut self, next: Slot, now: i64) -> Option<Playout> {
        if let Some(samples) = self.pre_roll_tail.take() {
            if matches!(self.classify(next), Head::Present) {
                return Some(self.emit_tail(next, samples));
            }
        }
        let base = self.base.get().unwrap_or(0);
        let frame = self.frame_us as f64;
        let d_now = (now - self.ts_us(next.ts) - base) as f64;
        self.delay_s += (d_now - self.delay_s) * self.delay_alpha;
        let head = self.classify(next);

        // Stalled playout: far more delay than the band allows, for a while. Skip ahead.
        if d_now > self.target + frame + CATCHUP_EXCESS_US {
            let since = *self.excess_since.get_or_insert(now);
            if now - since >= CATCHUP_HOLD_US {
                if let Some(first) = self.head_from(next.seq) {
                    self.prebuffer(first, true, next);
                    return None;
                }
            }
        } else {
            self.excess_since = None;
        }

        let deficit = self.target - self.delay_s;
        // A missing packet can be waited for while it is not overdue at the time of the call
        // (when it has to be here), which is `lead` earlier than the time the frame is heard.
        let wait_deficit = deficit + self.lead_us as f64;
        let can_hold = wait_deficit > 0.0 && !self.ending && self.consec_conceal < self.max_conceal;

        match head {
            Head::Empty if self.ending => {
                // The talkspurt ended: silence, not a synthetic tail.
                self.go_idle(next, true);
                Some(Playout::Silence)
            }
            Head::Boundary(first) => {
                // A new talkspurt is queued behind a talkspurt whose end was lost. Silence until
                // it is due (it may be due right now: the loop tries). Sequence numbers skipped
                // on the way were sent and never arrived.
                let gap = first.seq.saturating_sub(next.seq);
                self.stats.lost += gap;
                for _ in 0..gap.min(self.losses.len as u64) {
                    self.push_loss(true);
                }
                self.prebuffer(first, false, next);
                None
            }
            Head::Empty => {
                if self.consec_conceal >= self.max_conceal {
                    // Packets stopped while speaking: give up after ~100 ms of PLC.
                    self.push_unconfirmed(next);
                    self.go_idle(next, false);
                    return Some(Playout::Silence);
                }
                if can_hold {
                    // Underflow while below target (slow sender, target just rose): keep the slot
                    // and conceal, which adds one frame of delay; the packet may still come.
                    Some(self.wait())
                } else {
                    self.push_unconfirmed(next);
                    self.advance(next);
                    Some(self.conceal())
                }
            }
            Head::Missing { fec } => {
                // Below target the packet may just be late: keep the slot and conceal (adds the
                // frame of delay we want anyway). But if FEC can repair it now, that sounds better
                // than PLC; then only a large deficit justifies waiting, and a small one is made up
                // later at a quiet moment.
                if can_hold && (!fec || wait_deficit >= frame / 2.0) {
                    Some(self.wait())
                } else if fec {
                    let mut out = self.spare.pop().unwrap_or_default();
                    out.clear();
                    if let Some(e) = self.get(next.seq + 1) {
                        out.extend_from_slice(&e.payload);
                    }
                    self.advance(next);
                    self.stats.lost += 1;
                    self.stats.recovered += 1;
                    self.push_loss(true);
                    self.consec_conceal = 0;
                    self.last_was_insert = false;
                    self.last_played = Some(next);
                    Some(Playout::Fec(out))
                } else if self.consec_conceal < self.max_conceal {
                    self.advance(next);
                    self.stats.lost += 1;
                    self.push_loss(true);
                    Some(self.conceal())
                } else {
                    // Burst loss longer than PLC should cover: silence, then resume the timeline
                    // at the first packet that is still in time.
                    self.stats.lost += 1;
                    self.push_loss(true);
                    let first = self.head_from(next.seq + 1).unwrap_or(next);
                    self.advance(next);
                    self.prebuffer(
                        first,
                        true,
                        Slot {
                            seq: next.seq + 1,
                            ts: next.ts + self.cfg.frame_samples as u64,
                        },
                    );
                    self.unconfirmed = None;
                    Some(Playout::Silence)
                }
            }
            Head::Present => Some(self.play_present(next, now, deficit)),
        }
    }

    /// The slot's packet is here: play it, or drop it, or insert a frame before it, depending on
    /// where the delay is relative to the control band.
    fn play_present(&mut self, next: Slot, now: i64, deficit: f64) -> Playout {
        let frame = self.frame_us as f64;
        if self.delay_s > self.target + frame + DROP_MARGIN_US {
            let since = *self.over_since.get_or_insert(now);
            let held = now - since;
            let quiet = self
                .get(next.seq)
                .is_some_and(|e| Self::is_quiet(e, self.avg_len));
            let after = Slot {
                seq: next.seq + 1,
                ts: next.ts + self.cfg.frame_samples as u64,
            };
            if held >= DROP_HOLD_US
                && (quiet || held >= DROP_FORCE_US)
                && self.get(after.seq).is_some_and(|e| e.ts == after.ts)
            {
                // Too much delay for long enough: skip this frame. Opus copes with a missing
                // frame as with a lost one (no state to repair), and a quiet one is inaudible.
                if let Some(e) = self.take(next.seq) {
                    self.recycle(e.payload);
                }
                self.stats.dropped_for_drift += 1;
                self.delay_s -= frame;
                self.over_since = None;
                let after = self.advance(next);
                return self.emit_packet(after);
            }
        } else {
            self.over_since = None;
        }

        if deficit > 0.0 {
            let since = *self.under_since.get_or_insert(now);
            let urgent = deficit >= frame / 2.0 || now - since >= INSERT_FORCE_US;
            if !self.last_was_insert
                && !self.ending
                && self.consec_conceal < self.max_conceal
                && (self.last_quiet || urgent)
            {
                // Too little delay: conceal one frame without advancing. After a quiet frame PLC
                // is inaudible; when far below target, late packets would cost more than PLC.
                return self.hold();
            }
        } else {
            self.under_since = None;
        }
        self.emit_packet(next)
    }

    fn emit_packet(&mut self, slot: Slot) -> Playout {
        let Some(e) = self.take(slot.seq) else {
            // Unreachable by construction (callers checked), but never panic on the audio path.
            self.advance(slot);
            return self.conceal();
        };
        self.last_quiet = Self::is_quiet(&e, self.avg_len);
        self.ending = !e.speaking;
        self.advance(slot);
        self.consec_conceal = 0;
        self.last_was_insert = false;
        self.last_played = Some(slot);
        // Played from the sender's repeat, the original lost: a loss all the same for the
        // report (the sender must go on repeating) and for the headroom the repeat needs.
        if e.repeat {
            self.stats.repaired += 1;
        }
        self.push_loss(e.repeat);
        Playout::Packet(e.payload)
    }

    /// The first slot of a talkspurt that starts on a late pre-roll: its last `samples` only.
    fn emit_tail(&mut self, slot: Slot, samples: usize) -> Playout {
        match self.emit_packet(slot) {
            Playout::Packet(packet) => Playout::Tail { packet, samples },
            other => other,
        }
    }

    /// PLC for a slot that has been given up (the caller already advanced).
    fn conceal(&mut self) -> Playout {
        self.stats.concealed += 1;
        self.consec_conceal += 1;
        self.last_was_insert = false;
        Playout::Conceal
    }

    /// The slot's packet may still come: conceal without advancing, as little as the caller
    /// needs (a frame when it needs a frame). A caller reading a few samples ahead of a packet
    /// that is on its way (an engine at 44.1 kHz) then pays 2.5 ms, not 20.
    fn wait(&mut self) -> Playout {
        let samples = self.needed_samples.max(1).div_ceil(WAIT_STEP_SAMPLES) * WAIT_STEP_SAMPLES;
        if samples >= self.cfg.frame_samples {
            return self.hold();
        }
        self.stats.concealed += 1;
        self.last_was_insert = true;
        self.delay_s += (samples as i64 * self.frame_us / self.cfg.frame_samples as i64) as f64;
        self.under_since = None;
        Playout::Wait { samples }
    }

    /// PLC without advancing: one more frame of delay.
    fn hold(&mut self) -> Playout {
        self.stats.concealed += 1;
        self.consec_conceal += 1;
        self.last_was_insert = true;
        self.delay_s += self.frame_us as f64;
        self.under_since = None;
        Playout::Conceal
    }
}

/// Caller times are clamped to 2^62 µs (146 000 years) so that no difference of two times,
/// transits or timestamps can overflow, whatever a buggy caller passes.
fn clamp_time(now_us: u64) -> i64 {
    now_us.min(1 << 62) as i64
}

#[cfg(test)]
mod tests {
    //! Everything runs on a simulated clock: a sender model stamps packets, a link model delays,
    //! drops and reorders them deterministically (seeded xorshift), and the receiver calls
    //! `next_frame` on its own schedule. No test looks at the wall clock.

    use super::*;

    const F20: usize = 960;
    const F10: usize = 480;

    /// xorshift64*: deterministic and good enough for jitter and loss draws.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A packet on the wire: what the sender put in it and when it arrives.
    #[derive(Clone, Debug)]
    struct Pkt {
        seq: u16,
        ts: u32,
        speaking: bool,
        id: u64,
        len: usize,
        at: u64,
    }

    /// A network path.
    #[derive(Clone, Copy, Debug)]
    struct Link {
        latency_us: u64,
        /// Extra delay, uniform in [0, jitter_us).
        jitter_us: u64,
        loss: f64,
        /// Sender clock error: +100 means the sender's clock runs 100 ppm fast.
        ppm: f64,
    }

    impl Link {
        fn clean() -> Self {
            Self {
                latency_us: 30_000,
                jitter_us: 0,
                loss: 0.0,
                ppm: 0.0,
            }
        }
    }

    /// The sending side: sequence numbers, a 48 kHz sample clock, and a payload id per frame
    /// (ids count frames, so a missing id is a frame that was never played).
    struct Sender {
        frame_samples: usize,
        seq: u16,
        ts: u32,
        /// Sender clock, µs.
        clock_us: f64,
        id: u64,
        /// Payload length for frame id -> bytes (default 80).
        len_of: fn(u64) -> usize,
        /// Frames the link dropped.
        dropped: u64,
    }

    impl Sender {
        fn new(frame_samples: usize, seq: u16, ts: u32) -> Self {
            Self {
                frame_samples,
                seq,
                ts,
                clock_us: 0.0,
                id: 0,
                len_of: |_| 80,
                dropped: 0,
            }
        }

        fn frame_us(&self) -> f64 {
            self.frame_samples as f64 * 1e6 / 48_000.0
        }

        /// One talkspurt of `n` frames; the last is marked `speaking = false` if `eos`.
        fn talk(&mut self, n: usize, eos: bool, link: Link, rng: &mut Rng, out: &mut Vec<Pkt>) {
            for i in 0..n {
                let sent = self.clock_us / (1.0 + link.ppm * 1e-6);
                let jitter = rng.unit() * link.jitter_us as f64;
                let lost = rng.unit() < link.loss;
                if lost {
                    self.dropped += 1;
                } else {
                    out.push(Pkt {
                        seq: self.seq,
                        ts: self.ts,
                        speaking: !(eos && i == n - 1),
                        id: self.id,
                        len: (self.len_of)(self.id),
                        at: (sent + link.latency_us as f64 + jitter) as u64,
                    });
                }
                self.seq = self.seq.wrapping_add(1);
                self.ts = self.ts.wrapping_add(self.frame_samples as u32);
                self.clock_us += self.frame_us();
                self.id += 1;
            }
        }

        /// Stop sending for `us` (the sample clock keeps running).
        fn pause(&mut self, us: u64) {
            self.clock_us += us as f64;
            self.ts = self.ts.wrapping_add((us * 48_000 / 1_000_000) as u32);
        }
    }

    /// What was played, compactly: payload ids instead of bytes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Out {
        P(u64),
        F(u64),
        C,
        S,
    }

    fn payload(id: u64, len: usize) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.resize(len.max(8), 0x5A);
        v
    }

    fn id_of(p: &[u8]) -> u64 {
        u64::from_le_bytes(p[..8].try_into().unwrap())
    }

    fn compact(jb: &mut JitterBuffer, p: Playout) -> Out {
        match p {
            Playout::Packet(v) | Playout::Tail { packet: v, .. } => {
                let id = id_of(&v);
                jb.recycle(v);
                Out::P(id)
            }
            Playout::Fec(v) => {
                let id = id_of(&v);
                jb.recycle(v);
                Out::F(id)
            }
            Playout::Conceal | Playout::Wait { .. } => Out::C,
            Playout::Silence => Out::S,
        }
    }

    fn frame_us_of(jb: &JitterBuffer) -> u64 {
        jb.config().frame_samples as u64 * 1_000_000 / 48_000
    }

    /// The receiver: call `j` happens at `clock(j)`; every packet that has arrived by then is
    /// inserted first (with its own arrival time), in arrival order. `probe` sees the buffer
    /// after each call.
    fn run_with(
        jb: &mut JitterBuffer,
        pkts: &[Pkt],
        calls: usize,
        clock: impl Fn(usize) -> u64,
        mut probe: impl FnMut(usize, &JitterBuffer),
    ) -> Vec<Out> {
        let mut order: Vec<&Pkt> = pkts.iter().collect();
        order.sort_by_key(|p| p.at);
        let mut k = 0;
        let mut outs = Vec::with_capacity(calls);
        for j in 0..calls {
            let now = clock(j);
            while k < order.len() && order[k].at <= now {
                let p = order[k];
                jb.insert(p.seq, p.ts, p.speaking, &payload(p.id, p.len), p.at);
                k += 1;
            }
            let o = jb.next_frame(now);
            outs.push(compact(jb, o));
            probe(j, jb);
        }
        outs
    }

    /// Steady receiver: call `j` at `t0 + j * frame`.
    fn run(
        jb: &mut JitterBuffer,
        pkts: &[Pkt],
        t0: u64,
        calls: usize,
        probe: impl FnMut(usize, &JitterBuffer),
    ) -> Vec<Out> {
        let f = frame_us_of(jb);
        run_with(jb, pkts, calls, |j| t0 + j as u64 * f, probe)
    }

    fn played(outs: &[Out]) -> Vec<u64> {
        outs.iter()
            .filter_map(|o| if let Out::P(id) = o { Some(*id) } else { None })
            .collect()
    }

    fn count(outs: &[Out], what: fn(&Out) -> bool) -> usize {
        outs.iter().filter(|o| what(o)).count()
    }

    fn assert_increasing(ids: &[u64]) {
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "out of order: {} then {}", w[0], w[1]);
        }
    }

    fn longest_conceal_run(outs: &[Out]) -> usize {
        let (mut best, mut cur) = (0, 0);
        for o in outs {
            cur = if *o == Out::C { cur + 1 } else { 0 };
            best = best.max(cur);
        }
        best
    }

    fn cfg(frame_samples: usize) -> JitterConfig {
        JitterConfig {
            frame_samples,
            ..JitterConfig::default()
        }
    }

    // ---- clean link ----------------------------------------------------------------------

    fn clean_link(frame_samples: usize) {
        let c = cfg(frame_samples);
        let f = frame_samples as u64 * 1_000_000 / 48_000;
        let mut jb = JitterBuffer::new(c);
        let mut s = Sender::new(frame_samples, 1_000, 12_345);
        let mut pkts = Vec::new();
        s.talk(500, true, Link::clean(), &mut Rng::new(1), &mut pkts);
        let mut max_delay = 0;
        let outs = run(&mut jb, &pkts, f / 4, 540, |j, jb| {
            if j > 20 && j < 500 {
                max_delay = max_delay.max(jb.stats().delay_us);
            }
        });
        // Silence while prebuffering, then every frame exactly once, then silence.
        let first = outs.iter().position(|o| *o != Out::S).unwrap();
        assert!(first <= 3, "started after {first} frames");
        assert_eq!(played(&outs), (0..500).collect::<Vec<_>>());
        assert!(outs[first..first + 500]
            .iter()
            .all(|o| matches!(o, Out::P(_))));
        assert!(outs[first + 500..].iter().all(|o| *o == Out::S));
        let st = jb.stats();
        assert_eq!(
            (
                st.received,
                st.lost,
                st.late,
                st.concealed,
                st.dropped_for_drift
            ),
            (500, 0, 0, 0, 0)
        );
        assert_eq!(st.target_delay_us, c.min_delay_us);
        assert!(
            max_delay <= c.min_delay_us + f,
            "delay {max_delay} on a clean link"
        );
        assert_eq!(jb.loss_fraction(), 0.0);
    }

    #[test]
    fn clean_link_20ms_plays_every_packet_at_min_delay() {
        clean_link(F20);
    }

    #[test]
    fn clean_link_10ms_plays_every_packet_at_min_delay() {
        clean_link(F10);
    }

    #[test]
    fn silence_before_first_packet() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for j in 0..10 {
            assert_eq!(jb.next_frame(j * 20_000), Playout::Silence);
        }
        assert_eq!(jb.stats().concealed, 0);
    }

    // ---- reordering, duplicates, late packets ------------------------------------------------

    #[test]
    fn scrambled_batch_plays_in_order() {
        // All ten arrive at once, so the first was 180 ms slower than the last: a target that
        // covers that plays them all, in order (a smaller one would rightly skip ahead).
        let c = JitterConfig {
            min_delay_us: 200_000,
            ..JitterConfig::default()
        };
        let mut jb = JitterBuffer::new(c);
        let order = [3u64, 0, 2, 1, 5, 4, 7, 6, 9, 8];
        for (k, &i) in order.iter().enumerate() {
            let speaking = i != 9;
            jb.insert(
                500 + i as u16,
                9_000 + i as u32 * 960,
                speaking,
                &payload(i, 40),
                100_000 + k as u64,
            );
        }
        let mut outs = Vec::new();
        for j in 0..20u64 {
            let o = jb.next_frame(140_000 + j * 20_000);
            outs.push(compact(&mut jb, o));
        }
        assert_eq!(
            played(&outs),
            (0..10).collect::<Vec<_>>(),
            "{outs:?} {:?}",
            jb.stats()
        );
        assert_eq!(count(&outs, |o| *o == Out::C), 0);
        assert_eq!(jb.stats().received, 10);
    }

    #[test]
    fn adjacent_reordering_on_the_wire_adapts_after_the_first_swap() {
        let mut s = Sender::new(F20, 7, 0);
        let mut pkts = Vec::new();
        s.talk(3_000, true, Link::clean(), &mut Rng::new(2), &mut pkts);
        // Every 10th pair swaps: packet 10k+5 arrives 1 ms after packet 10k+6.
        for k in 0..299 {
            let i = 10 * k + 5;
            pkts[i].at = pkts[i + 1].at + 1_000;
        }
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 3_050, |_, _| {});
        let ids = played(&outs);
        assert_increasing(&ids);
        let st = jb.stats();
        // The first few swaps are lost: one slow packet in a hundred is an outlier, not jitter,
        // until a few percent of recent packets are slow. Lost ones are then late, not received.
        // Once the target covers a one-frame swap, nothing more is lost or concealed.
        let odd: Vec<(usize, Out)> = outs
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, o)| !matches!(o, Out::P(_)))
            .collect();
        assert!(st.lost <= 5 && st.late <= 5, "{odd:?} {st:?}");
        assert_eq!(st.received + st.late, 3_000);
        assert!(ids.len() as u64 >= 2_995, "{odd:?} {st:?}");
        assert!(
            outs[150..3_000].iter().all(|o| matches!(o, Out::P(_))),
            "{odd:?}"
        );
        assert!(
            st.target_delay_us > 20_000,
            "target must cover a one-frame swap: {st:?}"
        );
    }

    #[test]
    fn duplicates_are_counted_and_ignored() {
        let mut s = Sender::new(F20, 100, 0);
        let mut pkts = Vec::new();
        s.talk(200, true, Link::clean(), &mut Rng::new(3), &mut pkts);
        let mut dup: Vec<Pkt> = pkts
            .iter()
            .cloned()
            .map(|mut p| {
                p.at += 1_000;
                p
            })
            .collect();
        // And one copy of an early packet long after it was played.
        let mut very_late = pkts[10].clone();
        very_late.at += 1_000_000;
        dup.push(very_late);
        pkts.extend(dup);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 230, |_, _| {});
        assert_eq!(played(&outs), (0..200).collect::<Vec<_>>());
        let st = jb.stats();
        assert_eq!(
            (st.received, st.duplicate, st.late, st.lost),
            (200, 201, 0, 0)
        );
    }

    #[test]
    fn late_packet_counts_as_lost_then_late_not_received() {
        let mut s = Sender::new(F20, 100, 0);
        let mut pkts = Vec::new();
        s.talk(200, true, Link::clean(), &mut Rng::new(4), &mut pkts);
        pkts[20].at += 200_000;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 230, |_, _| {});
        let ids = played(&outs);
        assert_increasing(&ids);
        assert!(!ids.contains(&20));
        assert_eq!(ids.len(), 199);
        let st = jb.stats();
        assert_eq!(
            (st.received, st.late, st.lost, st.concealed),
            (199, 1, 1, 1),
            "{st:?}"
        );
        // One outlier does not drag the target up.
        assert!(st.target_delay_us < 10_000, "{st:?}");
    }

    #[test]
    fn fec_recovers_a_single_loss_when_the_next_packet_is_here() {
        // A target above one frame means the next packet is always buffered.
        let c = JitterConfig {
            min_delay_us: 25_000,
            ..JitterConfig::default()
        };
        let mut s = Sender::new(F20, 100, 0);
        let mut pkts = Vec::new();
        s.talk(100, true, Link::clean(), &mut Rng::new(5), &mut pkts);
        pkts.retain(|p| p.id != 30);
        let mut jb = JitterBuffer::new(c);
        let outs = run(&mut jb, &pkts, 5_000, 130, |_, _| {});
        let at = outs
            .iter()
            .position(|o| *o == Out::F(31))
            .expect("FEC from packet 31");
        assert_eq!(outs[at - 1], Out::P(29));
        assert_eq!(outs[at + 1], Out::P(31));
        let st = jb.stats();
        assert_eq!((st.lost, st.recovered, st.concealed), (1, 1, 0));
    }

    /// A talkspurt sent with every packet repeated `lag_us` later (`None`: not repeated), each
    /// copy lost at random with probability `loss`: played, how many frames lost their
    /// original but not the repeat, and the ids of the frames whose original was lost.
    fn repeated_talkspurt(
        jb: &mut JitterBuffer,
        frames: usize,
        loss: f64,
        lag_us: Option<u64>,
    ) -> (Vec<Out>, u64, Vec<u64>) {
        let mut s = Sender::new(F20, 65_000, 0);
        let mut originals = Vec::new();
        s.talk(
            frames,
            true,
            Link::clean(),
            &mut Rng::new(0),
            &mut originals,
        );
        let f = frame_us_of(jb);
        let mut rng = Rng::new(41);
        // (arrival, repeat, packet): a repeat one frame behind goes out right after the next
        // frame's original.
        let mut wire = Vec::new();
        let mut repairable = 0;
        let mut originals_lost = Vec::new();
        for p in originals {
            let original_lost = rng.unit() < loss;
            let repeat_lost = rng.unit() < loss;
            if original_lost {
                originals_lost.push(p.id);
            }
            if !original_lost {
                wire.push((p.at, false, p.clone()));
            }
            if let (false, Some(lag)) = (repeat_lost, lag_us) {
                repairable += u64::from(original_lost);
                wire.push((p.at + lag, true, p));
            }
        }
        wire.sort_by_key(|(at, repeat, _)| (*at, *repeat));
        let mut k = 0;
        let mut outs = Vec::new();
        for j in 0..frames + 30 {
            let now = 5_000 + j as u64 * f;
            while k < wire.len() && wire[k].0 <= now {
                let (at, repeat, p) = &wire[k];
                let data = payload(p.id, p.len);
                if *repeat {
                    jb.insert_repeat(p.seq, p.ts, p.speaking, &data, *at);
                } else {
                    jb.insert(p.seq, p.ts, p.speaking, &data, *at);
                }
                k += 1;
            }
            let o = jb.next_frame(now);
            outs.push(compact(jb, o));
        }
        (outs, repairable, originals_lost)
    }

    #[test]
    fn repeats_stand_in_for_lost_originals_and_the_loss_is_still_reported() {
        let mut jb = JitterBuffer::new(cfg(F20));
        let (outs, repairable, originals_lost) =
            repeated_talkspurt(&mut jb, 1_500, 0.1, Some(20_000));
        let st = jb.stats();
        // Each lost original whose repeat came was played from it, or (before the headroom
        // came, in the first seconds) was too late for its slot: nothing else.
        assert!(repairable > 100, "{repairable}");
        assert_eq!(st.repaired + st.repeats_late, repairable, "{st:?}");
        assert!(st.repaired >= repairable * 9 / 10, "{st:?}");
        // Repeats of packets that arrived are dropped without being taken for duplicates or
        // network lateness.
        assert_eq!((st.duplicate, st.late), (0, 0), "{st:?}");
        // Only frames both copies of which were lost go without a packet (about 1 %).
        let played = played(&outs);
        assert_increasing(&played);
        assert!(
            played.len() >= 1_500 - 40,
            "{} of 1500 played",
            played.len()
        );
        // The receiver reports what its originals lose over its window (the last 150 frames),
        // not what is left after repair: the sender must go on repeating.
        let recent = originals_lost.iter().filter(|&&id| id >= 1_350).count();
        let expected = recent as f32 / 150.0;
        assert!(
            (jb.loss_fraction() - expected).abs() <= 1.5 / 150.0,
            "{} reported, {expected} of the originals lost",
            jb.loss_fraction()
        );
        // And keeps the frame of headroom the repeat, a frame behind, needs.
        assert!(st.target_delay_us >= 20_000, "{st:?}");
    }

    #[test]
    fn repeats_half_a_frame_behind_need_only_half_a_frame_of_headroom() {
        let mut jb = JitterBuffer::new(cfg(F20));
        let (outs, repairable, _) = repeated_talkspurt(&mut jb, 1_500, 0.1, Some(10_000));
        let st = jb.stats();
        assert!(repairable > 100, "{repairable}");
        assert!(st.repaired >= repairable * 9 / 10, "{st:?}");
        assert_increasing(&played(&outs));
        // The headroom covers the repeats' 10 ms, not the frame FEC would need.
        assert!((10_000..16_000).contains(&st.target_delay_us), "{st:?}");
    }

    #[test]
    fn without_repeats_the_loss_headroom_is_a_frame_for_fec() {
        // The same loss with no repeats at all: the next packet's FEC is what repairs, and
        // the headroom is the frame it takes to come.
        let mut jb = JitterBuffer::new(cfg(F20));
        let (_, repairable, originals_lost) = repeated_talkspurt(&mut jb, 1_500, 0.1, None);
        assert_eq!(repairable, 0);
        assert!(originals_lost.len() > 100);
        let st = jb.stats();
        assert!(st.target_delay_us >= 20_000, "{st:?}");
    }

    #[test]
    fn repeats_on_a_clean_link_change_nothing() {
        let mut jb = JitterBuffer::new(cfg(F20));
        let (outs, repairable, _) = repeated_talkspurt(&mut jb, 500, 0.0, Some(10_000));
        assert_eq!(repairable, 0);
        assert_eq!(played(&outs), (0..500).collect::<Vec<_>>());
        let st = jb.stats();
        assert_eq!(
            (st.received, st.repaired, st.duplicate, st.lost),
            (500, 0, 0, 0)
        );
        // Late by design, repeats are no evidence of jitter: the target stays at a clean
        // link's.
        assert!(st.target_delay_us < 10_000, "{st:?}");
        assert_eq!(jb.loss_fraction(), 0.0);
    }

    // ---- talkspurts ------------------------------------------------------------------------

    #[test]
    fn talkspurt_end_is_silence_not_conceal_and_next_talkspurt_prebuffers() {
        let c = JitterConfig::default();
        let mut s = Sender::new(F20, 60_000, 0);
        let mut rng = Rng::new(6);
        let mut pkts = Vec::new();
        s.talk(100, true, Link::clean(), &mut rng, &mut pkts);
        s.pause(2_000_000);
        s.talk(100, true, Link::clean(), &mut rng, &mut pkts);
        let mut jb = JitterBuffer::new(c);
        let mut delays = Vec::new();
        let outs = run(&mut jb, &pkts, 5_000, 350, |j, jb| {
            if j == 150 || j == 280 {
                delays.push(jb.stats().delay_us);
            }
        });
        assert_eq!(played(&outs), (0..200).collect::<Vec<_>>());
        assert_eq!(count(&outs, |o| *o == Out::C), 0);
        let first_end = outs.iter().position(|o| *o == Out::P(99)).unwrap();
        let second_start = outs.iter().position(|o| *o == Out::P(100)).unwrap();
        assert!(outs[first_end + 1..second_start]
            .iter()
            .all(|o| *o == Out::S));
        assert!(second_start - first_end >= 100, "the pause is 2 s");
        let st = jb.stats();
        assert_eq!((st.lost, st.concealed, st.late), (0, 0, 0));
        // The second talkspurt re-prebuffered to the target, it did not inherit anything.
        assert!(delays[1] <= c.min_delay_us + 20_000, "{delays:?}");
    }

    #[test]
    fn lost_end_of_talkspurt_with_next_talkspurt_already_buffered() {
        // A large target, a short pause, and the speaking=false packet lost: the next talkspurt
        // is already queued when the lost slot comes up. It must start on its own schedule,
        // without PLC in between, and the lost packet is counted.
        let c = JitterConfig {
            min_delay_us: 100_000,
            ..JitterConfig::default()
        };
        let mut rng = Rng::new(21);
        let mut s = Sender::new(F20, 65_530, 0);
        let mut pkts = Vec::new();
        s.talk(50, true, Link::clean(), &mut rng, &mut pkts);
        s.pause(60_000);
        s.talk(50, true, Link::clean(), &mut rng, &mut pkts);
        pkts.retain(|p| p.id != 49);
        let mut jb = JitterBuffer::new(c);
        let outs = run(&mut jb, &pkts, 5_000, 130, |_, _| {});
        assert_eq!(played(&outs), (0..49).chain(50..100).collect::<Vec<_>>());
        assert_eq!(count(&outs, |o| *o == Out::C), 0);
        let p48 = outs.iter().position(|o| *o == Out::P(48)).unwrap();
        let p50 = outs.iter().position(|o| *o == Out::P(50)).unwrap();
        // Slot 49, then the 60 ms pause, then packet 50.
        assert_eq!(p50 - p48, 5, "{:?}", &outs[p48..=p50]);
        let st = jb.stats();
        assert_eq!((st.lost, st.late, st.concealed), (1, 0, 0), "{st:?}");
    }

    #[test]
    fn tail_straggler_after_talkspurt_end_is_late_not_a_new_talkspurt() {
        // The sender marks its last three packets speaking = false; the last one is very late.
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut outs = Vec::new();
        for i in 0..49u64 {
            jb.insert(
                i as u16,
                i as u32 * 960,
                i < 47,
                &payload(i, 80),
                30_000 + i * 20_000,
            );
            let o = jb.next_frame(45_000 + i * 20_000);
            outs.push(compact(&mut jb, o));
        }
        // Packet 49 is held back: the slot after 48 is silence, then 49 shows up.
        for j in 49..60u64 {
            let o = jb.next_frame(45_000 + j * 20_000);
            outs.push(compact(&mut jb, o));
        }
        jb.insert(49, 49 * 960, false, &payload(49, 80), 45_000 + 61 * 20_000);
        for j in 60..70u64 {
            let o = jb.next_frame(45_000 + j * 20_000);
            outs.push(compact(&mut jb, o));
        }
        assert_eq!(played(&outs), (0..49).collect::<Vec<_>>());
        assert_eq!(count(&outs, |o| *o == Out::C), 0);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn sender_vanishing_conceals_briefly_then_silence_and_restarts_cleanly() {
        let mut s = Sender::new(F20, 65_000, 77);
        let mut rng = Rng::new(7);
        let mut pkts = Vec::new();
        s.talk(100, false, Link::clean(), &mut rng, &mut pkts); // no speaking=false: just stops
        s.pause(3_000_000);
        s.talk(50, true, Link::clean(), &mut rng, &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 320, |_, _| {});
        let last = outs.iter().position(|o| *o == Out::P(99)).unwrap();
        let resume = outs.iter().position(|o| *o == Out::P(100)).unwrap();
        let gap = &outs[last + 1..resume];
        let conceals = count(gap, |o| *o == Out::C);
        assert!(
            (1..=5).contains(&conceals),
            "{conceals} frames of PLC after the sender vanished"
        );
        assert!(
            gap[..conceals].iter().all(|o| *o == Out::C)
                && gap[conceals..].iter().all(|o| *o == Out::S)
        );
        assert_eq!(played(&outs), (0..150).collect::<Vec<_>>());
        let st = jb.stats();
        // Nothing was lost: the sender stopped, and its next packet says so (no gap in seq
        // continuity with a jump in timestamp).
        assert_eq!((st.lost, st.late), (0, 0), "{st:?}");
    }

    #[test]
    fn burst_loss_conceals_at_most_100ms_then_resumes_on_time() {
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        s.talk(200, true, Link::clean(), &mut Rng::new(8), &mut pkts);
        pkts.retain(|p| !(50..60).contains(&p.id));
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut delay_after = 0;
        let outs = run(&mut jb, &pkts, 5_000, 230, |j, jb| {
            if j == 150 {
                delay_after = jb.stats().delay_us;
            }
        });
        assert!(longest_conceal_run(&outs) <= 5);
        let ids = played(&outs);
        assert_eq!(ids, (0..50).chain(60..200).collect::<Vec<_>>());
        let p49 = outs.iter().position(|o| *o == Out::P(49)).unwrap();
        let p60 = outs.iter().position(|o| *o == Out::P(60)).unwrap();
        assert_eq!(
            p60 - p49,
            11,
            "the timeline continues: packet 60 plays in its own slot"
        );
        let st = jb.stats();
        assert_eq!((st.lost, st.concealed), (10, 5), "{st:?}");
        assert!(delay_after <= 22_000);
    }

    // ---- wrap-around -----------------------------------------------------------------------

    #[test]
    fn sequence_and_timestamp_wrap() {
        let mut s = Sender::new(F20, 65_400, u32::MAX - 200 * 960 + 1);
        let mut pkts = Vec::new();
        s.talk(400, true, Link::clean(), &mut Rng::new(9), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 420, |_, _| {});
        assert_eq!(played(&outs), (0..400).collect::<Vec<_>>());
        assert_eq!(count(&outs, |o| *o == Out::C), 0);
    }

    #[test]
    fn wrap_with_jitter_and_reordering() {
        let link = Link {
            jitter_us: 45_000,
            ..Link::clean()
        };
        let mut s = Sender::new(F20, 65_500, u32::MAX - 30 * 960);
        let mut pkts = Vec::new();
        s.talk(1_000, true, link, &mut Rng::new(10), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 1_050, |_, _| {});
        let ids = played(&outs);
        assert_increasing(&ids);
        let st = jb.stats();
        assert!(st.lost < 30, "{st:?}");
        assert_eq!(st.received + st.late, 1_000);
    }

    // ---- adaptation ------------------------------------------------------------------------

    #[test]
    fn loss_and_jitter_target_grows_fec_recovers_then_shrinks_back() {
        let c = JitterConfig::default();
        let bad = Link {
            jitter_us: 30_000,
            loss: 0.10,
            ..Link::clean()
        };
        let mut rng = Rng::new(11);
        let mut s = Sender::new(F20, 4_000, 1);
        let mut pkts = Vec::new();
        s.talk(3_000, false, bad, &mut rng, &mut pkts); // 60 s of a bad link
        let raw_lost = s.dropped;
        s.talk(1_500, true, Link::clean(), &mut rng, &mut pkts); // then 30 s of a clean one
        let mut jb = JitterBuffer::new(c);
        let mut at_60s = JitterStats::default();
        let mut loss_at_60s = 0.0;
        let outs = run(&mut jb, &pkts, 5_000, 4_560, |j, jb| {
            if j == 3_000 {
                at_60s = jb.stats();
                loss_at_60s = jb.loss_fraction();
            }
        });
        assert_increasing(&played(&outs));
        let end = jb.stats();
        let bad_frames = 3_000.0;
        assert!(
            at_60s.recovered > 50,
            "FEC must recover a good share: {at_60s:?}"
        );
        // Concealment beyond what the network lost stays within a few percent.
        let concealed_beyond = at_60s.concealed as f64 - raw_lost as f64;
        assert!(
            concealed_beyond / bad_frames < 0.03,
            "raw lost {raw_lost}, {at_60s:?}"
        );
        assert!(
            at_60s.concealed < raw_lost,
            "FEC must beat PLC alone: raw {raw_lost}, {at_60s:?}"
        );
        // Late packets (arrived after their slot) are rare after adaptation.
        assert!((at_60s.late as f64) / bad_frames < 0.02, "{at_60s:?}");
        assert!(at_60s.target_delay_us > 20_000, "{at_60s:?}");
        assert!(
            (0.05..0.2).contains(&loss_at_60s),
            "loss fraction {loss_at_60s}"
        );
        // 30 s after the link cleaned up: back near the minimum, and the delay followed.
        assert!(end.target_delay_us <= c.min_delay_us + 3_000, "{end:?}");
        assert!(end.delay_us <= end.target_delay_us + 26_000, "{end:?}");
        assert_eq!(jb.loss_fraction(), 0.0);
    }

    #[test]
    fn thirty_ms_jitter_loses_under_one_percent_after_adaptation() {
        let link = Link {
            jitter_us: 30_000,
            ..Link::clean()
        };
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        s.talk(3_000, true, link, &mut Rng::new(12), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut lost_at_5s = 0;
        let outs = run(&mut jb, &pkts, 5_000, 3_050, |j, jb| {
            if j == 250 {
                lost_at_5s = jb.stats().lost;
            }
        });
        assert_increasing(&played(&outs));
        let st = jb.stats();
        let lost_after = st.lost - lost_at_5s;
        assert!(
            (lost_after as f64) / 2_750.0 < 0.01,
            "lost {lost_after} after adaptation: {st:?}"
        );
        assert!(
            st.target_delay_us >= 25_000 && st.target_delay_us <= 60_000,
            "{st:?}"
        );
    }

    #[test]
    fn ten_ms_frames_with_jitter_and_loss() {
        let c = cfg(F10);
        let link = Link {
            jitter_us: 20_000,
            loss: 0.05,
            ..Link::clean()
        };
        let mut s = Sender::new(F10, 123, 456);
        let mut pkts = Vec::new();
        s.talk(3_000, true, link, &mut Rng::new(13), &mut pkts); // 30 s
        let raw = s.dropped;
        let mut jb = JitterBuffer::new(c);
        let outs = run(&mut jb, &pkts, 2_500, 3_100, |_, _| {});
        assert_increasing(&played(&outs));
        let st = jb.stats();
        assert!(st.recovered > 0, "{st:?}");
        assert!(
            (st.concealed as f64 - raw as f64) / 3_000.0 < 0.03,
            "raw {raw}: {st:?}"
        );
        assert!(st.target_delay_us > 10_000, "{st:?}");
        assert!(longest_conceal_run(&outs) <= 10);
    }

    #[test]
    fn loss_fraction_tracks_recent_loss() {
        let c = JitterConfig {
            min_delay_us: 25_000,
            ..JitterConfig::default()
        };
        let mut rng = Rng::new(14);
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        s.talk(
            1_500,
            false,
            Link {
                loss: 0.10,
                ..Link::clean()
            },
            &mut rng,
            &mut pkts,
        );
        s.talk(500, true, Link::clean(), &mut rng, &mut pkts);
        let mut jb = JitterBuffer::new(c);
        let mut mid = 0.0;
        run(&mut jb, &pkts, 5_000, 2_030, |j, jb| {
            if j == 1_500 {
                mid = jb.loss_fraction();
            }
        });
        assert!((0.04..0.18).contains(&mid), "{mid}");
        assert_eq!(jb.loss_fraction(), 0.0);
    }

    // ---- clock drift and stalls ------------------------------------------------------------

    /// One hour of continuous speech with the sender's clock off by `ppm`. Returns (delay after
    /// the first minute, delay at the end, stats).
    fn hour_of_drift(ppm: f64) -> (u64, u64, JitterStats, Vec<Out>) {
        let link = Link {
            latency_us: 40_000,
            jitter_us: 5_000,
            loss: 0.0,
            ppm,
        };
        let calls = 3_600 * 50;
        let mut s = Sender::new(F20, 31_000, 99);
        let mut pkts = Vec::new();
        s.talk(calls + 100, false, link, &mut Rng::new(15), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut first_minute = 0;
        let outs = run(&mut jb, &pkts, 7_000, calls, |j, jb| {
            if j == 60 * 50 {
                first_minute = jb.stats().delay_us;
            }
        });
        (first_minute, jb.stats().delay_us, jb.stats(), outs)
    }

    #[test]
    fn fast_sender_100ppm_for_an_hour_keeps_its_delay() {
        let (first, end, st, outs) = hour_of_drift(100.0);
        assert!(st.dropped_for_drift > 0, "{st:?}");
        assert!(
            end.abs_diff(first) <= 26_000,
            "delay after 1 min {first}, after 1 h {end}: {st:?}"
        );
        assert!(end <= st.target_delay_us + 26_000, "{st:?}");
        // 0.36 s of surplus removed ~18 frames at a time, not by losing packets.
        assert!((10..=40).contains(&st.dropped_for_drift), "{st:?}");
        assert!(st.lost < 200, "{st:?}");
        assert_increasing(&played(&outs));
    }

    #[test]
    fn slow_sender_100ppm_for_an_hour_keeps_its_delay() {
        let (first, end, st, outs) = hour_of_drift(-100.0);
        assert_eq!(st.dropped_for_drift, 0, "{st:?}");
        assert!(
            end.abs_diff(first) <= 26_000,
            "delay after 1 min {first}, after 1 h {end}: {st:?}"
        );
        assert!(end + 1_000 >= st.target_delay_us, "{st:?}");
        // The deficit is made up by ~18 inserted frames, not by a growing pile of late packets.
        assert!(st.concealed >= 10 && st.concealed < 200, "{st:?}");
        assert!(st.late < 200, "{st:?}");
        assert_increasing(&played(&outs));
    }

    #[test]
    fn drift_with_talkspurts_is_absorbed_by_prebuffering() {
        // An hour of 4 s talkspurts with 1 s pauses, sender 100 ppm fast: each talkspurt
        // starts at the target again, so nothing needs dropping and nothing creeps.
        let link = Link {
            latency_us: 40_000,
            jitter_us: 5_000,
            loss: 0.0,
            ppm: 100.0,
        };
        let mut rng = Rng::new(19);
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        for _ in 0..720 {
            s.talk(200, true, link, &mut rng, &mut pkts);
            s.pause(1_000_000);
        }
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut max_delay = 0;
        let outs = run(&mut jb, &pkts, 3_000, 3_600 * 50, |j, jb| {
            if j > 50 * 60 {
                max_delay = max_delay.max(jb.stats().delay_us);
            }
        });
        let st = jb.stats();
        assert_eq!(played(&outs).len() as u64 + st.late, 144_000, "{st:?}");
        assert!(
            max_delay <= st.target_delay_us + 26_000,
            "max delay {max_delay}: {st:?}"
        );
        assert!(st.dropped_for_drift <= 2, "{st:?}");
        assert!(st.late < 100, "{st:?}");
        assert_increasing(&played(&outs));
    }

    #[test]
    fn thousand_ppm_either_way_stays_bounded() {
        for ppm in [1_000.0, -1_000.0] {
            let link = Link {
                latency_us: 40_000,
                jitter_us: 5_000,
                loss: 0.0,
                ppm,
            };
            let calls = 600 * 50;
            let mut s = Sender::new(F10, 0, 0);
            let mut pkts = Vec::new();
            s.talk(2 * calls + 200, false, link, &mut Rng::new(20), &mut pkts);
            let mut jb = JitterBuffer::new(cfg(F10));
            let mut delays = Vec::new();
            let outs = run(&mut jb, &pkts, 1_000, 2 * calls, |j, jb| {
                if j % 1_000 == 0 && j >= 6_000 {
                    delays.push(jb.stats().delay_us);
                }
            });
            let st = jb.stats();
            // 0.6 s of drift in ten minutes, held within the band all along.
            let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
            assert!(
                hi - lo <= 15_000,
                "ppm {ppm}: delay ranged {lo}..{hi}: {st:?}"
            );
            if ppm > 0.0 {
                assert!(st.dropped_for_drift >= 40, "{st:?}");
            } else {
                assert!(st.concealed >= 40 && st.dropped_for_drift == 0, "{st:?}");
            }
            assert!(st.late < 300, "ppm {ppm}: {st:?}");
            assert_increasing(&played(&outs));
        }
    }

    #[test]
    fn drops_for_drift_prefer_quiet_frames() {
        // 1000 ppm fast for two minutes; every 10th frame is short (a quiet VBR frame).
        let link = Link {
            ppm: 1_000.0,
            ..Link::clean()
        };
        let mut s = Sender::new(F20, 0, 0);
        s.len_of = |id| if id % 10 == 0 { 12 } else { 90 };
        let mut pkts = Vec::new();
        s.talk(6_100, false, link, &mut Rng::new(16), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 6_000, |_, _| {});
        let ids = played(&outs);
        assert_increasing(&ids);
        let st = jb.stats();
        assert!(st.dropped_for_drift >= 3, "{st:?}");
        let last = *ids.last().unwrap();
        let mut it = ids.iter().peekable();
        let mut skipped = Vec::new();
        for id in 0..last {
            if it.peek() == Some(&&id) {
                it.next();
            } else {
                skipped.push(id);
            }
        }
        assert_eq!(skipped.len() as u64, st.dropped_for_drift, "{st:?}");
        assert!(
            skipped.iter().all(|id| id % 10 == 0),
            "dropped loud frames: {skipped:?}"
        );
    }

    fn stall(stall_us: u64) {
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        s.talk(1_000, false, Link::clean(), &mut Rng::new(17), &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut delays = Vec::new();
        // The receiver's calls stop for `stall_us` at 5 s, then go on at the normal rate.
        let clock = |j: usize| 5_000 + j as u64 * 20_000 + if j >= 250 { stall_us } else { 0 };
        let outs = run_with(
            &mut jb,
            &pkts,
            1_000 - stall_us as usize / 20_000,
            clock,
            |j, jb| {
                delays.push((j, jb.stats().delay_us));
            },
        );
        assert_increasing(&played(&outs));
        let before = delays[240].1;
        let after = delays[270].1;
        assert!(
            after <= before + 20_000,
            "delay {before} before the stall, {after} 20 frames after"
        );
        let st = jb.stats();
        assert!(st.dropped_for_drift > 0, "{st:?}");
        assert_eq!(st.lost, 0, "{st:?}");
    }

    #[test]
    fn playout_stall_of_two_seconds_skips_back_to_target() {
        stall(2_000_000);
    }

    #[test]
    fn playout_stall_of_300ms_skips_back_to_target() {
        stall(300_000);
    }

    #[test]
    fn restarted_sender_with_older_numbers_is_resynced() {
        let mut rng = Rng::new(18);
        let mut a = Sender::new(F20, 30_000, 2_000_000_000);
        let mut pkts = Vec::new();
        a.talk(250, true, Link::clean(), &mut rng, &mut pkts);
        // The sender restarts 1 s later with a fresh, lower sequence number and timestamp.
        let mut b = Sender::new(F20, 100, 5);
        b.clock_us = a.clock_us + 1_000_000.0;
        b.id = 1_000;
        b.talk(500, true, Link::clean(), &mut rng, &mut pkts);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let outs = run(&mut jb, &pkts, 5_000, 820, |_, _| {});
        let ids = played(&outs);
        assert_eq!(ids.iter().filter(|&&id| id < 1_000).count(), 250);
        let from_b = ids.iter().filter(|&&id| id >= 1_000).count();
        assert!(
            from_b >= 450,
            "only {from_b} of the restarted stream played"
        );
        assert_increasing(&ids);
    }

    /// Checks the accounting identities that hold whatever the input.
    fn check_invariants(jb: &JitterBuffer, inserts: u64, outs: &[Out]) {
        let st = jb.stats();
        assert_eq!(st.received + st.late + st.duplicate, inserts, "{st:?}");
        let actually_stored = jb.ring.iter().flatten().count();
        assert_eq!(jb.stored, actually_stored);
        let packets = count(outs, |o| matches!(o, Out::P(_))) as u64;
        assert!(packets + st.dropped_for_drift <= st.received, "{st:?}");
        assert_eq!(count(outs, |o| *o == Out::C) as u64, st.concealed);
        assert_eq!(count(outs, |o| matches!(o, Out::F(_))) as u64, st.recovered);
        assert!(st.recovered <= st.lost);
        assert!(longest_conceal_run(outs) <= jb.max_conceal as usize);
        assert!(st.target_delay_us >= jb.config().min_delay_us);
        assert!(st.target_delay_us <= jb.config().max_delay_us);
        assert!((0.0..=1.0).contains(&jb.loss_fraction()));
    }

    #[test]
    fn garbage_input_never_panics_and_accounting_holds() {
        for seed in 1..=4u64 {
            let mut rng = Rng::new(100 + seed);
            let mut jb = JitterBuffer::new(cfg(if seed % 2 == 0 { F10 } else { F20 }));
            let (mut now, mut inserts, mut outs) = (0u64, 0u64, Vec::new());
            for _ in 0..30_000 {
                now += rng.next_u64() % 30_000;
                if rng.unit() < 0.5 {
                    let seq = rng.next_u64() as u16;
                    let ts = rng.next_u64() as u32;
                    let len = (rng.next_u64() % 100) as usize;
                    let at = now.saturating_sub(rng.next_u64() % 1_000_000);
                    jb.insert(seq, ts, rng.unit() < 0.8, &payload(inserts, len.max(8)), at);
                    inserts += 1;
                } else {
                    let o = jb.next_frame(now);
                    outs.push(compact(&mut jb, o));
                }
            }
            // Absurd clock values as well.
            jb.insert(1, 2, true, &payload(inserts, 8), u64::MAX);
            let o = jb.next_frame(u64::MAX);
            outs.push(compact(&mut jb, o));
            check_invariants(&jb, inserts + 1, &outs);
        }
    }

    #[test]
    fn hostile_network_never_panics_and_plays_in_order() {
        // Heavy loss, jitter far beyond max delay, duplicates, bursts and a sender restart.
        for seed in 1..=3u64 {
            let mut rng = Rng::new(200 + seed);
            let link = Link {
                latency_us: 50_000,
                jitter_us: 600_000,
                loss: 0.3,
                ppm: 500.0,
            };
            let mut s = Sender::new(F20, rng.next_u64() as u16, rng.next_u64() as u32);
            let mut pkts = Vec::new();
            for _ in 0..20 {
                s.talk(
                    100 + (rng.next_u64() % 200) as usize,
                    rng.unit() < 0.5,
                    link,
                    &mut rng,
                    &mut pkts,
                );
                s.pause(rng.next_u64() % 3_000_000 / 20_000 * 20_000);
            }
            let mut dups = Vec::new();
            for p in &pkts {
                if rng.unit() < 0.1 {
                    let mut d = p.clone();
                    d.at += rng.next_u64() % 500_000;
                    dups.push(d);
                }
            }
            pkts.extend(dups);
            let inserts = pkts.len() as u64;
            let mut jb = JitterBuffer::new(JitterConfig::default());
            let calls = (s.clock_us / 20_000.0) as usize + 200;
            let outs = run(&mut jb, &pkts, 0, calls, |_, _| {});
            assert_increasing(&played(&outs));
            check_invariants(&jb, inserts, &outs);
        }
    }

    #[test]
    fn nonsensical_config_is_repaired() {
        let mut jb = JitterBuffer::new(JitterConfig {
            frame_samples: 0,
            min_delay_us: 50_000,
            max_delay_us: 10,
        });
        let c = jb.config();
        assert!(c.frame_samples >= 1 && c.max_delay_us >= c.min_delay_us);
        jb.insert(0, 0, true, &[1, 2, 3], 0);
        let _ = jb.next_frame(1_000_000);
    }

    /// Arrival of frame `seq` on a clean link: 30 ms after its sender time.
    fn clean_arrival(seq: u64) -> u64 {
        30_000 + seq * 20_000
    }

    /// An engine's audio thread: every 10 ms it needs 480 samples, asking for frames as its
    /// decoded audio runs short (as `Playback` does); returns what each call was given.
    struct BlockCaller {
        decoded: usize,
    }

    impl BlockCaller {
        const BLOCK: usize = 480;

        fn call(&mut self, jb: &mut JitterBuffer, now_us: u64) -> Vec<Playout> {
            let mut outs = Vec::new();
            while self.decoded < Self::BLOCK {
                let needed = Self::BLOCK - self.decoded;
                let lead_us = (self.decoded as u64 * 1_000_000).div_ceil(48_000);
                let out = jb.next_frame_for(now_us, lead_us, needed);
                self.decoded += match &out {
                    Playout::Packet(_) | Playout::Fec(_) | Playout::Conceal => F20,
                    Playout::Tail { samples, .. } | Playout::Wait { samples } => *samples,
                    Playout::Silence => needed,
                };
                outs.push(out);
            }
            self.decoded -= Self::BLOCK;
            outs
        }
    }

    /// A talkspurt of `frames` whose first packet is the sender's pre-roll (the frame before
    /// `start`, sent a frame late together with frame `start`), heard by a [`BlockCaller`]
    /// whose calls come `phase_us` after each arrival and halfway between. Sequence numbers
    /// run on from `seq` (they count packets sent, so they do not jump over a pause as the
    /// timestamps do). Returns what was played, call by call.
    fn talkspurt_with_pre_roll(
        jb: &mut JitterBuffer,
        caller: &mut BlockCaller,
        seq: &mut u16,
        start: u64,
        frames: u64,
        phase_us: u64,
    ) -> Vec<Vec<Playout>> {
        let pre = start - 1;
        jb.insert_pre_roll(
            *seq,
            (pre * 960) as u32,
            &payload(pre, 80),
            clean_arrival(start),
        );
        *seq = seq.wrapping_add(1);
        let mut calls = Vec::new();
        for k in 0..frames {
            let frame = start + k;
            let (ts, at) = ((frame * 960) as u32, clean_arrival(frame));
            jb.insert(*seq, ts, k + 1 < frames, &payload(frame, 80), at);
            *seq = seq.wrapping_add(1);
            calls.push(caller.call(jb, at + phase_us));
            calls.push(caller.call(jb, at + phase_us + 10_000));
        }
        calls
    }

    #[test]
    fn late_pre_roll_plays_only_what_fits_and_never_raises_the_target() {
        let mut jb = JitterBuffer::new(cfg(F20));
        let mut caller = BlockCaller { decoded: 0 };
        let (mut seq, mut start) = (0u16, 1);
        for spurt in 0..30 {
            // Calls 1 ms after arrivals: frame `start` is due (2 ms of target) before the
            // caller's next call, so the pre-roll's last 10 ms finish this call's block.
            let calls = talkspurt_with_pre_roll(&mut jb, &mut caller, &mut seq, start, 10, 1_000);
            match calls[0].as_slice() {
                [Playout::Tail { packet, samples }] => {
                    assert_eq!(id_of(packet), start - 1, "talkspurt {spurt}");
                    assert_eq!(*samples, 480, "talkspurt {spurt}");
                }
                other => panic!("talkspurt {spurt}: expected the pre-roll's tail, got {other:?}"),
            }
            // Then every frame in order, one per two calls, nothing concealed.
            let played: Vec<&Playout> = calls[1..].iter().flatten().collect();
            let expected: Vec<Playout> = (0..10)
                .map(|k| Playout::Packet(payload(start + k, 80)))
                .collect();
            assert_eq!(
                played,
                expected.iter().collect::<Vec<_>>(),
                "talkspurt {spurt}"
            );
            // A pause of 11 frames: silence, the buffer idle on the end-of-talkspurt marker.
            for k in 0..11 {
                let t = clean_arrival(start + 10 + k) + 1_000;
                for out in caller
                    .call(&mut jb, t)
                    .into_iter()
                    .chain(caller.call(&mut jb, t + 10_000))
                {
                    assert_eq!(out, Playout::Silence, "talkspurt {spurt}, pause");
                }
            }
            start += 22;
        }
        // Thirty talkspurts, each opened by a packet a whole frame late: none of it is jitter.
        let stats = jb.stats();
        assert_eq!(stats.target_delay_us, 2_000, "{stats:?}");
        assert_eq!(
            (stats.lost, stats.late, stats.concealed),
            (0, 0, 0),
            "{stats:?}"
        );
        assert!(stats.jitter_us < 100, "{stats:?}");
    }

    #[test]
    fn pre_roll_plays_whole_when_the_next_frame_is_not_due_by_the_next_call() {
        // 15 ms of target: called 1 ms after arrival, frame `start` is due in 14 ms, after the
        // caller's next call; the pre-roll costs no delay then and is played whole.
        let mut jb = JitterBuffer::new(JitterConfig {
            min_delay_us: 15_000,
            ..cfg(F20)
        });
        let mut caller = BlockCaller { decoded: 0 };
        let mut seq = 0;
        let calls = talkspurt_with_pre_roll(&mut jb, &mut caller, &mut seq, 5, 3, 1_000);
        let played: Vec<Playout> = calls.into_iter().flatten().collect();
        // The pre-roll whole, then the talkspurt a frame later (its last frame comes after the
        // calls made here).
        let expected: Vec<Playout> = (4..7).map(|id| Playout::Packet(payload(id, 80))).collect();
        assert_eq!(played, expected);
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn pre_roll_is_skipped_when_the_next_frame_is_already_due() {
        // Calls 3 ms after arrivals: frame `start` is due now, so none of the pre-roll fits.
        let mut jb = JitterBuffer::new(cfg(F20));
        let mut caller = BlockCaller { decoded: 0 };
        let mut seq = 0;
        let calls = talkspurt_with_pre_roll(&mut jb, &mut caller, &mut seq, 5, 3, 3_000);
        assert_eq!(
            calls[0],
            [
                Playout::Tail {
                    packet: payload(4, 80),
                    samples: 0
                },
                Playout::Packet(payload(5, 80))
            ]
        );
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn pre_roll_in_time_plays_whole() {
        // With 30 ms of target (a jittery path) the pre-roll, a frame late, is still in time.
        let mut jb = JitterBuffer::new(JitterConfig {
            min_delay_us: 30_000,
            ..cfg(F20)
        });
        let at = clean_arrival(5);
        jb.insert_pre_roll(4, 4 * 960, &payload(4, 80), at);
        jb.insert(5, 5 * 960, true, &payload(5, 80), at);
        // Due 30 ms after its sender time + 30 ms transit: 10 ms after it arrived.
        assert_eq!(jb.next_frame(at + 10_000), Playout::Packet(payload(4, 80)));
        assert_eq!(jb.next_frame(at + 30_000), Playout::Packet(payload(5, 80)));
    }

    #[test]
    fn a_caller_short_of_a_few_samples_waits_briefly_instead_of_a_frame() {
        // A caller whose blocks do not divide into frames (an engine at 44.1 kHz reading a
        // little ahead) needs the next frame's first samples one block before the frame is
        // heard, sometimes before its packet is here. Waiting costs a 2.5 ms step, not a frame.
        let mut jb = JitterBuffer::new(cfg(F20));
        for seq in 0..20u64 {
            jb.insert(
                seq as u16,
                (seq * 960) as u32,
                true,
                &payload(seq, 80),
                clean_arrival(seq),
            );
            let out = jb.next_frame_for(clean_arrival(seq) + 3_000, 0, 960);
            assert_eq!(out, Playout::Packet(payload(seq, 80)), "frame {seq}");
        }
        // Frame 20 is heard at its arrival + 3 ms, but the caller asks 10 ms before that, with
        // 9.75 ms decoded ahead and 39 samples short.
        let heard_at = clean_arrival(20) + 3_000;
        assert_eq!(
            jb.next_frame_for(heard_at - 10_000, 9_750, 39),
            Playout::Wait { samples: 120 }
        );
        jb.insert(20, 20 * 960, true, &payload(20, 80), clean_arrival(20));
        assert_eq!(
            jb.next_frame_for(heard_at, 2_500, 471),
            Playout::Packet(payload(20, 80))
        );
        let stats = jb.stats();
        assert_eq!(
            (stats.lost, stats.late, stats.concealed),
            (0, 0, 1),
            "{stats:?}"
        );
        // The same caller needing a whole frame waits a whole frame, as `next_frame` does.
        let early = clean_arrival(21) - 5_000;
        assert_eq!(jb.next_frame_for(early, 0, 960), Playout::Conceal);
    }

    /// Two talkspurts as `CapturePipeline` sends them (each opened by its pre-roll, sent a
    /// frame late with the first frame; sequence numbers running on across the pause, which
    /// only the timestamps skip), the first one's closing `speaking == false` packet lost,
    /// heard by a [`BlockCaller`] 1 ms after each arrival and halfway between. The first
    /// talkspurt is frames `1..=20` (pre-roll 0, frame 20 the lost end), the second opens with
    /// pre-roll `second - 1` and runs to frame `second + 19`. Returns the ids played (from
    /// packets and tails with samples) and the buffer.
    fn lost_end_then_talkspurt(second: u64) -> (Vec<u64>, JitterBuffer) {
        let mut pkts = Vec::new(); // (seq, frame, speaking, pre_roll, arrival)
        let mut seq = 0u16;
        for (pre, last) in [(0, 20), (second - 1, second + 19)] {
            for frame in pre..=last {
                let at = clean_arrival(frame.max(pre + 1));
                let lost = frame == 20;
                if !lost {
                    pkts.push((seq, frame, frame != last, frame == pre, at));
                }
                seq = seq.wrapping_add(1);
            }
        }
        let mut jb = JitterBuffer::new(cfg(F20));
        let mut caller = BlockCaller { decoded: 0 };
        let mut played = Vec::new();
        let mut k = 0;
        let mut now = clean_arrival(1) + 1_000;
        while now < clean_arrival(second + 30) {
            while k < pkts.len() && pkts[k].4 <= now {
                let (seq, frame, speaking, pre_roll, at) = pkts[k];
                let data = payload(frame, 80);
                if pre_roll {
                    jb.insert_pre_roll(seq, (frame * 960) as u32, &data, at);
                } else {
                    jb.insert(seq, (frame * 960) as u32, speaking, &data, at);
                }
                k += 1;
            }
            for out in caller.call(&mut jb, now) {
                match out {
                    Playout::Packet(p) => played.push(id_of(&p)),
                    Playout::Tail { packet, samples } if samples > 0 => played.push(id_of(&packet)),
                    _ => {}
                }
            }
            now += 10_000;
        }
        (played, jb)
    }

    #[test]
    fn lost_end_of_talkspurt_then_a_short_pause_plays_the_next_talkspurt_whole() {
        // Three frames of pause (as between two sentences): the next talkspurt arrives while
        // the slots after the lost end are being concealed, numbered as if the sender had gone
        // on. Its packets are not late for that: all of them play, onset included.
        let (played, jb) = lost_end_then_talkspurt(25);
        // The pre-roll (24) is skipped: the caller still holds half a concealed frame, and
        // frame 25 is due as soon as that is played.
        let expected: Vec<u64> = (0..20).chain(25..45).collect();
        assert_eq!(played, expected);
        let st = jb.stats();
        // The end packet was sent and lost; nothing else was.
        assert_eq!((st.lost, st.late), (1, 0), "{st:?}");
        assert!(st.concealed <= 5, "{st:?}");
    }

    #[test]
    fn lost_end_of_talkspurt_then_concealment_gives_up_before_the_next_one_starts() {
        // A longer pause: concealment gives up (silence) before the next talkspurt arrives,
        // but its pre-roll is older than where the concealment's numbering got to. It still
        // plays.
        let (played, jb) = lost_end_then_talkspurt(26);
        let expected: Vec<u64> = (0..20).chain(25..46).collect();
        assert_eq!(played, expected);
        let st = jb.stats();
        assert_eq!((st.lost, st.late), (1, 0), "{st:?}");
        assert_eq!(st.concealed, 5, "{st:?}");
    }

    /// Talkspurts of `talk` frames with `pause` frames between them over a link losing
    /// `loss`; the target delay after each talkspurt.
    fn targets_over_talkspurts(loss: f64, seed: u64, spurts: usize) -> Vec<u64> {
        let link = Link {
            loss,
            ..Link::clean()
        };
        let mut rng = Rng::new(seed);
        let mut s = Sender::new(F20, 100, 0);
        let mut pkts = Vec::new();
        for _ in 0..spurts {
            s.talk(25, true, link, &mut rng, &mut pkts);
            s.pause(1_000_000);
        }
        let mut jb = JitterBuffer::new(cfg(F20));
        let mut targets = Vec::new();
        run(&mut jb, &pkts, 5_000, spurts * 75, |j, jb| {
            if j % 75 == 40 {
                targets.push(jb.stats().target_delay_us);
            }
        });
        targets
    }

    #[test]
    fn fec_headroom_comes_within_the_first_seconds_of_speech() {
        // Half-second talkspurts over a link losing 10 %: the frame of headroom that lets FEC
        // repair losses comes within the first second of speech (two talkspurts), not after
        // the ten losses a whole 10 s window would want (1-3.5 s of speech for these seeds).
        for seed in 1..=5 {
            let targets = targets_over_talkspurts(0.10, seed, 12);
            let first = targets.iter().position(|&t| t > 20_000);
            assert!(first.is_some_and(|i| i < 2), "seed {seed}: {targets:?}");
        }
        // One loss in a call's first seconds is not a lossy link.
        let mut s = Sender::new(F20, 0, 0);
        let mut pkts = Vec::new();
        s.talk(100, true, Link::clean(), &mut Rng::new(1), &mut pkts);
        pkts.retain(|p| p.id != 10);
        let mut jb = JitterBuffer::new(cfg(F20));
        run(&mut jb, &pkts, 5_000, 110, |_, _| {});
        assert_eq!(jb.stats().target_delay_us, 2_000);
    }

    /// A sender whose capture stopped for a while (a game that paused its audio) stamps its
    /// next talkspurt less far ahead than the pause lasted: every packet of it arrives 200 ms
    /// later than the base measured so far says it should. That is a jump of the sender's
    /// clock, not jitter. Whatever the phase of the caller's calls against the arrivals, the
    /// talkspurt plays from its first frame at the usual delay, nothing late, no target raised.
    /// (Before, the stale base made the start skip the first packets as a stalled playout,
    /// judge the next ones late as a resumed timeline, and raise the target to the jump.)
    #[test]
    fn talkspurt_after_sender_clock_pause_is_not_late() {
        for (phase_us, idle) in [1, 20, 5_000, 9_999]
            .into_iter()
            .flat_map(|p| [(p, false), (p, true)])
        {
            let mut jb = JitterBuffer::new(cfg(F20));
            let mut caller = BlockCaller { decoded: 0 };
            let mut seq = 0u16;
            talkspurt_with_pre_roll(&mut jb, &mut caller, &mut seq, 1, 100, phase_us);
            if idle {
                // The caller goes on through the silence (the buffer goes idle), then pauses.
                for i in 2..30 {
                    caller.call(&mut jb, clean_arrival(100) + phase_us + i * 10_000);
                }
            }
            let before = jb.stats();
            assert!(before.target_delay_us < 10_000, "{before:?}");
            // The next talkspurt: 2 s later on the sender's clock, 2.2 s later on the wire.
            let (start, shift) = (201u64, 200_000u64);
            let pre = start - 1;
            jb.insert_pre_roll(
                seq,
                (pre * 960) as u32,
                &payload(pre, 80),
                clean_arrival(start) + shift,
            );
            seq = seq.wrapping_add(1);
            let mut outs = Vec::new();
            for k in 0..100 {
                let frame = start + k;
                let at = clean_arrival(frame) + shift;
                jb.insert(seq, (frame * 960) as u32, true, &payload(frame, 80), at);
                seq = seq.wrapping_add(1);
                outs.extend(caller.call(&mut jb, at + phase_us));
                outs.extend(caller.call(&mut jb, at + phase_us + 10_000));
            }
            let st = jb.stats();
            let played: Vec<u64> = outs
                .into_iter()
                .filter_map(|o| match o {
                    Playout::Packet(p) => Some(id_of(&p)),
                    _ => None,
                })
                .collect();
            assert_eq!(
                played.first(),
                Some(&start),
                "phase {phase_us} idle {idle}: {st:?}"
            );
            assert!(
                played.windows(2).all(|w| w[1] == w[0] + 1),
                "phase {phase_us} idle {idle}"
            );
            assert_eq!(st.late, before.late, "phase {phase_us} idle {idle}: {st:?}");
            assert_eq!(st.lost, before.lost, "phase {phase_us} idle {idle}: {st:?}");
            assert_eq!(
                st.dropped_for_drift, before.dropped_for_drift,
                "phase {phase_us} idle {idle}"
            );
            assert!(
                st.target_delay_us < 10_000,
                "phase {phase_us} idle {idle}: {st:?}"
            );
            assert!(st.delay_us < 30_000, "phase {phase_us} idle {idle}: {st:?}");
        }
    }
}
