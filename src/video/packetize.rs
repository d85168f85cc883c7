//! An encoded frame cut into datagram-sized pieces, and put back together at the receiver.
//!
//! VP8 frames other than keyframes only decode on top of the frame before, so a receiver that
//! misses one piece cannot show that frame or any after it until the next keyframe: showing
//! them would show a corrupt picture. The [`Reassembler`] therefore hands on only whole frames
//! of an unbroken chain that starts at a keyframe, and says when the chain broke so the
//! caller can ask the sender for a keyframe (and keep asking, rate-limited, while
//! [`Reassembler::awaiting_keyframe`] holds).
//!
//! Before a chain breaks, a missing piece is asked for again ([`Reassembler::resend_due`]): a
//! sender sends a frame's pieces back to back, so once a later frame has begun, what is
//! missing of an earlier one was lost, not delayed. A keyframe is tens of pieces; without
//! resends, a path losing one packet in five would almost never deliver one whole.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::net::video::{PieceHeader, MAX_PIECE, MAX_PIECES};

/// An encoded frame too large for [`MAX_PIECES`] pieces (never at our bitrates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge(pub usize);

/// Cuts `frame` into near-equal pieces of at most [`MAX_PIECE`] bytes (equal, so the last piece
/// is not a tiny datagram of its own) and hands each with its header to `send`.
pub fn cut(
    frame: &[u8],
    number: u16,
    keyframe: bool,
    timestamp: u32,
    mut send: impl FnMut(PieceHeader, &[u8]),
) -> Result<(), FrameTooLarge> {
    let count = frame.len().div_ceil(MAX_PIECE).max(1);
    if count > MAX_PIECES {
        return Err(FrameTooLarge(frame.len()));
    }
    let size = frame.len().div_ceil(count).max(1);
    for (index, piece) in frame.chunks(size).enumerate() {
        let header = PieceHeader {
            keyframe,
            frame: number,
            index: index as u8,
            count: count as u8,
            timestamp,
        };
        send(header, piece);
    }
    Ok(())
}

/// A whole frame, ready for the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeFrame {
    pub number: u16,
    pub keyframe: bool,
    pub timestamp: u32,
    pub data: Vec<u8>,
}

/// What one piece changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// Frames now decodable, in order (usually none or one; more when a late piece closes a
    /// gap that later frames were waiting behind).
    pub frames: Vec<WholeFrame>,
    /// The chain just broke: ask the sender for a keyframe.
    pub keyframe_needed: bool,
}

/// How many whole frames may wait behind a missing one before it counts as lost: at 30 fps,
/// 100 ms for resend requests to bring its pieces (several rounds on a short path) before
/// the picture stops and a keyframe is asked for.
const PATIENCE_FRAMES: u16 = 3;
/// A frame's missing pieces are asked for at most this often, and this many times.
pub const RESEND_INTERVAL: Duration = Duration::from_millis(20);
pub const MAX_RESEND_ROUNDS: u8 = 4;
/// Frames being assembled or waiting behind a gap at once (a second at 30 fps: a keyframe and
/// the frames after it, while its lost pieces are resent); the oldest is forgotten first.
/// Bounds a receiver's memory whatever a sender sends.
const MAX_PENDING: usize = 32;

struct Pending {
    keyframe: bool,
    timestamp: u32,
    pieces: Vec<Option<Vec<u8>>>,
    missing: usize,
    resend_rounds: u8,
    resend_asked_at: Option<Instant>,
}

impl Pending {
    fn whole(&self) -> bool {
        self.missing == 0
    }

    fn into_frame(self, number: u16) -> WholeFrame {
        let data = self.pieces.into_iter().flatten().flatten().collect();
        WholeFrame {
            number,
            keyframe: self.keyframe,
            timestamp: self.timestamp,
            data,
        }
    }
}

/// One sender's frames put back together, for one receiver.
pub struct Reassembler {
    /// Frames being assembled or waiting behind a gap, by frame number (ordered by distance
    /// from `next` where order matters, so wrapping numbers work).
    pending: BTreeMap<u16, Pending>,
    /// The frame the chain continues with; `None` until the first keyframe.
    next: Option<u16>,
    /// The chain is broken (or never started): only a keyframe restarts it.
    awaiting_keyframe: bool,
    /// The newest frame any piece arrived for.
    newest: Option<u16>,
    /// Frames of which no piece arrived, asked for whole: how often, and when last.
    absent_asked: BTreeMap<u16, (u8, Instant)>,
    /// Frames skipped because they could not be shown (incomplete, or after a break), counted
    /// when a keyframe restarts the chain past them.
    pub frames_dropped: u64,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    pub fn new() -> Self {
        Self {
            pending: BTreeMap::new(),
            next: None,
            awaiting_keyframe: true,
            newest: None,
            absent_asked: BTreeMap::new(),
            frames_dropped: 0,
        }
    }

    /// The decoder could not use a frame this handed on: nothing more until a keyframe, as
    /// after a lost piece (a keyframe already being assembled is kept).
    pub fn restart_from_keyframe(&mut self) {
        self.awaiting_keyframe = true;
        self.pending.retain(|_, p| p.keyframe);
    }

    /// True while nothing can be shown until a keyframe arrives.
    pub fn awaiting_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Frames between the chain's head and `newest` that nothing arrived for; only while the
    /// chain holds (after a break, the keyframe request is what helps).
    fn absent_due(&mut self, newest: u16, now: Instant, due: &mut Vec<(u16, Vec<u8>)>) {
        let next = match self.next {
            Some(next) if !self.awaiting_keyframe => next,
            _ => {
                self.absent_asked.clear();
                return;
            }
        };
        self.absent_asked
            .retain(|&frame, _| !is_before(frame, next) && is_before(frame, newest));
        // Past PATIENCE_FRAMES the chain breaks anyway: no use asking for more.
        let gap = if is_before(next, newest) {
            newest.wrapping_sub(next).min(PATIENCE_FRAMES + 1)
        } else {
            0
        };
        for frame in (0..gap).map(|i| next.wrapping_add(i)) {
            if self.pending.contains_key(&frame) {
                continue;
            }
            let (rounds, at) = self.absent_asked.entry(frame).or_insert((0, now));
            let asked_lately = *rounds > 0 && now.duration_since(*at) < RESEND_INTERVAL;
            if *rounds >= MAX_RESEND_ROUNDS || asked_lately {
                continue;
            }
            *rounds += 1;
            *at = now;
            due.push((frame, (0..=u8::MAX - 1).collect()));
        }
    }

    /// Takes one piece. Pieces of frames already shown or given up, duplicates, and pieces that
    /// contradict their frame's other pieces are ignored.
    pub fn receive(&mut self, header: PieceHeader, piece: &[u8]) -> Arrival {
        let mut arrival = Arrival::default();
        if header.count == 0 || header.index >= header.count {
            return arrival;
        }
        if let Some(next) = self.next {
            // Half the number space behind `next` is the past: late or duplicate pieces.
            if is_before(header.frame, next) {
                return arrival;
            }
        }
        if self
            .newest
            .map_or(true, |newest| is_before(newest, header.frame))
        {
            self.newest = Some(header.frame);
        }
        self.store(header, piece);
        self.advance(&mut arrival);
        arrival
    }

    /// The pieces to ask the sender for again now, by frame: those missing from frames a later
    /// frame has begun after, each frame asked at most [`MAX_RESEND_ROUNDS`] times,
    /// [`RESEND_INTERVAL`] apart. A frame of which nothing arrived at all (a small frame is
    /// one piece) is asked for whole: every piece index.
    pub fn resend_due(&mut self, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let Some(newest) = self.newest else {
            return Vec::new();
        };
        let mut due = Vec::new();
        self.absent_due(newest, now, &mut due);
        for (&frame, pending) in self.pending.iter_mut() {
            let asked_lately = pending
                .resend_asked_at
                .is_some_and(|at| now.duration_since(at) < RESEND_INTERVAL);
            if pending.whole()
                || !is_before(frame, newest)
                || pending.resend_rounds >= MAX_RESEND_ROUNDS
                || asked_lately
            {
                continue;
            }
            pending.resend_rounds += 1;
            pending.resend_asked_at = Some(now);
            let missing = (0..pending.pieces.len())
                .filter(|&i| pending.pieces[i].is_none())
                .map(|i| i as u8)
                .collect();
            due.push((frame, missing));
        }
        due
    }

    fn store(&mut self, header: PieceHeader, piece: &[u8]) {
        let count = header.count as usize;
        let entry = self.pending.entry(header.frame).or_insert_with(|| Pending {
            keyframe: header.keyframe,
            timestamp: header.timestamp,
            pieces: vec![None; count],
            missing: count,
            resend_rounds: 0,
            resend_asked_at: None,
        });
        let consistent = entry.pieces.len() == count
            && entry.keyframe == header.keyframe
            && entry.timestamp == header.timestamp;
        if consistent && entry.pieces[header.index as usize].is_none() {
            entry.pieces[header.index as usize] = Some(piece.to_vec());
            entry.missing -= 1;
        }
        self.bound_pending();
    }

    /// Keeps the [`MAX_PENDING`] frames nearest the chain's head, counting the rest as dropped.
    fn bound_pending(&mut self) {
        while self.pending.len() > MAX_PENDING {
            let base = self.next.unwrap_or(0);
            let Some(&oldest) = self
                .pending
                .keys()
                .min_by_key(|&&frame| frame.wrapping_sub(base))
            else {
                return;
            };
            self.pending.remove(&oldest);
        }
    }

    /// Hands on whatever the stored pieces now make decodable, and notices a broken chain.
    fn advance(&mut self, arrival: &mut Arrival) {
        // The newest whole keyframe restarts the chain, whatever was before it: nothing older
        // can matter once it is decodable.
        let base = self.next.unwrap_or(0);
        let restart = self
            .pending
            .iter()
            .filter(|(_, p)| p.keyframe && p.whole())
            .map(|(&frame, _)| frame)
            .max_by_key(|&frame| frame.wrapping_sub(base));
        if let Some(keyframe) = restart {
            let skips_ahead = self.next != Some(keyframe);
            if self.awaiting_keyframe || skips_ahead {
                self.drop_before(keyframe);
                self.next = Some(keyframe);
                self.awaiting_keyframe = false;
            }
        }
        let Some(mut next) = self.next else {
            return;
        };
        if self.awaiting_keyframe {
            return;
        }
        while self.pending.get(&next).is_some_and(Pending::whole) {
            let frame = self.pending.remove(&next).expect("checked above");
            arrival.frames.push(frame.into_frame(next));
            next = next.wrapping_add(1);
        }
        self.next = Some(next);
        // A whole frame waiting more than PATIENCE_FRAMES behind the missing one: it is lost.
        let waiting_too_long = self
            .pending
            .iter()
            .any(|(&frame, p)| p.whole() && frame.wrapping_sub(next) > PATIENCE_FRAMES);
        if waiting_too_long {
            self.awaiting_keyframe = true;
            arrival.keyframe_needed = true;
            // Frames before the newest keyframe being assembled can never be shown; it, and the
            // frames after it, can once its missing pieces are resent.
            let base = next;
            let keyframe = self
                .pending
                .iter()
                .filter(|(_, p)| p.keyframe)
                .map(|(&frame, _)| frame)
                .max_by_key(|&frame| frame.wrapping_sub(base));
            let useless: Vec<u16> = self
                .pending
                .keys()
                .copied()
                .filter(|&frame| keyframe.map_or(true, |k| is_before(frame, k)))
                .collect();
            for frame in useless {
                self.pending.remove(&frame);
            }
        }
    }

    /// Forgets every frame before `keyframe`. The frames the chain skips, from its old head
    /// on, are counted as dropped here and only here, whether they were partly received,
    /// given up at a break, or never arrived.
    fn drop_before(&mut self, keyframe: u16) {
        let older: Vec<u16> = self
            .pending
            .keys()
            .copied()
            .filter(|&frame| is_before(frame, keyframe))
            .collect();
        for frame in older {
            self.pending.remove(&frame);
        }
        if let Some(next) = self.next {
            self.frames_dropped += u64::from(keyframe.wrapping_sub(next));
        }
    }
}

/// `a` comes before `b` in the wrapping frame numbers (within half the number space).
fn is_before(a: u16, b: u16) -> bool {
    (1..=u16::MAX / 2).contains(&b.wrapping_sub(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of frame `number` (`len` bytes of `number as u8`).
    fn pieces(number: u16, keyframe: bool, len: usize) -> Vec<(PieceHeader, Vec<u8>)> {
        let data = vec![number as u8; len];
        let mut out = Vec::new();
        cut(&data, number, keyframe, u32::from(number) * 3000, |h, p| {
            out.push((h, p.to_vec()))
        })
        .unwrap();
        out
    }

    fn feed(r: &mut Reassembler, pieces: &[(PieceHeader, Vec<u8>)]) -> Arrival {
        let mut all = Arrival::default();
        for (h, p) in pieces {
            let arrival = r.receive(*h, p);
            all.frames.extend(arrival.frames);
            all.keyframe_needed |= arrival.keyframe_needed;
        }
        all
    }

    fn numbers(arrival: &Arrival) -> Vec<u16> {
        arrival.frames.iter().map(|f| f.number).collect()
    }

    #[test]
    fn cutting_makes_near_equal_pieces_that_fit() {
        let data: Vec<u8> = (0..2201).map(|i| i as u8).collect();
        let mut sizes = Vec::new();
        let mut joined = Vec::new();
        cut(&data, 5, true, 9, |h, p| {
            assert_eq!((h.frame, h.count, h.keyframe, h.timestamp), (5, 3, true, 9));
            assert_eq!(h.index as usize, sizes.len());
            sizes.push(p.len());
            joined.extend_from_slice(p);
        })
        .unwrap();
        assert_eq!(sizes, vec![734, 734, 733]);
        assert_eq!(joined, data);
        assert!(cut(&vec![0; MAX_PIECE * MAX_PIECES + 1], 0, true, 0, |_, _| {}).is_err());
    }

    #[test]
    fn whole_frames_come_out_in_order_from_the_first_keyframe() {
        let mut r = Reassembler::new();
        assert!(
            feed(&mut r, &pieces(9, false, 3000)).frames.is_empty(),
            "no keyframe yet"
        );
        let out = feed(&mut r, &pieces(10, true, 5000));
        assert_eq!(numbers(&out), vec![10]);
        assert_eq!(out.frames[0].data, vec![10u8; 5000]);
        assert!(out.frames[0].keyframe);
        for n in 11..20 {
            assert_eq!(numbers(&feed(&mut r, &pieces(n, false, 1500))), vec![n]);
        }
        assert!(!r.awaiting_keyframe());
    }

    #[test]
    fn pieces_in_any_order_and_duplicates_make_one_frame() {
        let mut r = Reassembler::new();
        let mut frame = pieces(0, true, 4000);
        frame.reverse();
        frame.push(frame[1].clone());
        let out = feed(&mut r, &frame);
        assert_eq!(numbers(&out), vec![0]);
        assert_eq!(out.frames[0].data.len(), 4000);
    }

    #[test]
    fn one_frame_late_is_waited_for() {
        let mut r = Reassembler::new();
        feed(&mut r, &pieces(0, true, 2000));
        let out = feed(&mut r, &pieces(2, false, 1000));
        assert!(out.frames.is_empty() && !out.keyframe_needed);
        assert_eq!(numbers(&feed(&mut r, &pieces(1, false, 1000))), vec![1, 2]);
    }

    #[test]
    fn a_lost_piece_stops_the_picture_asks_for_a_keyframe_and_the_keyframe_restarts_it() {
        let mut r = Reassembler::new();
        feed(&mut r, &pieces(0, true, 2000));
        let mut broken = pieces(1, false, 2500);
        broken.remove(1);
        assert!(feed(&mut r, &broken).frames.is_empty());
        for n in 2..=4 {
            let out = feed(&mut r, &pieces(n, false, 1000));
            assert!(
                out.frames.is_empty() && !out.keyframe_needed,
                "waiting at {n}"
            );
        }
        let out = feed(&mut r, &pieces(5, false, 1000));
        assert!(out.frames.is_empty(), "nothing after a gap is shown");
        assert!(out.keyframe_needed);
        assert!(r.awaiting_keyframe());
        let out = feed(&mut r, &pieces(6, false, 1000));
        assert!(
            out.frames.is_empty() && !out.keyframe_needed,
            "asked once per break"
        );
        assert_eq!(numbers(&feed(&mut r, &pieces(7, true, 6000))), vec![7]);
        assert_eq!(numbers(&feed(&mut r, &pieces(8, false, 900))), vec![8]);
        assert_eq!(r.frames_dropped, 6, "frames 1 to 6");
    }

    #[test]
    fn missing_pieces_are_asked_for_once_a_later_frame_begins_and_then_fill_the_gap() {
        let mut r = Reassembler::new();
        let start = Instant::now();
        let mut keyframe = pieces(0, true, 5000); // 5 pieces
        let lost: Vec<_> = [keyframe.remove(3), keyframe.remove(1)].into();
        feed(&mut r, &keyframe);
        assert!(
            r.resend_due(start).is_empty(),
            "the frame may still be arriving"
        );
        feed(&mut r, &pieces(1, false, 500));
        assert_eq!(r.resend_due(start), vec![(0, vec![1, 3])]);
        assert!(r.resend_due(start).is_empty(), "not again at once");
        let later = start + RESEND_INTERVAL;
        assert_eq!(
            r.resend_due(later),
            vec![(0, vec![1, 3])],
            "again after the interval"
        );
        let out = feed(&mut r, &lost);
        assert_eq!(
            numbers(&out),
            vec![0, 1],
            "the resent pieces release both frames"
        );
        assert!(r.resend_due(later + RESEND_INTERVAL).is_empty());
    }

    #[test]
    fn a_frame_lost_whole_is_asked_for_whole() {
        let mut r = Reassembler::new();
        let start = Instant::now();
        feed(&mut r, &pieces(0, true, 2000));
        let lost = pieces(1, false, 500);
        feed(&mut r, &pieces(2, false, 500));
        let due = r.resend_due(start);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, 1);
        assert_eq!(due[0].1.len(), MAX_PIECES, "every piece it may have had");
        assert!(r.resend_due(start).is_empty(), "not again at once");
        assert_eq!(numbers(&feed(&mut r, &lost)), vec![1, 2]);
        assert!(r.resend_due(start + RESEND_INTERVAL).is_empty());
    }

    #[test]
    fn resend_requests_stop_after_their_rounds() {
        let mut r = Reassembler::new();
        let mut keyframe = pieces(0, true, 3000);
        keyframe.pop();
        feed(&mut r, &keyframe);
        feed(&mut r, &pieces(1, false, 500));
        let mut at = Instant::now();
        let mut rounds = 0;
        for _ in 0..10 {
            rounds += r.resend_due(at).len();
            at += RESEND_INTERVAL;
        }
        assert_eq!(rounds, usize::from(MAX_RESEND_ROUNDS));
    }

    #[test]
    fn frame_numbers_wrap() {
        let mut r = Reassembler::new();
        feed(&mut r, &pieces(65534, true, 100));
        assert_eq!(
            numbers(&feed(&mut r, &pieces(65535, false, 100))),
            vec![65535]
        );
        assert_eq!(numbers(&feed(&mut r, &pieces(0, false, 100))), vec![0]);
        assert!(
            feed(&mut r, &pieces(65535, false, 100)).frames.is_empty(),
            "the past"
        );
    }

    #[test]
    fn contradictory_or_endless_pieces_cannot_grow_memory_or_corrupt_a_frame() {
        let mut r = Reassembler::new();
        let mut frame = pieces(0, true, 3000);
        let last = frame.pop().unwrap();
        feed(&mut r, &frame);
        // Pieces that contradict the frame's first one (another count, kind or clock) are
        // ignored: a sender can only garble its own stream, and then it is not shown.
        for lie in [
            PieceHeader {
                count: 7,
                index: 5,
                ..last.0
            },
            PieceHeader {
                keyframe: false,
                ..last.0
            },
            PieceHeader {
                timestamp: 1,
                ..last.0
            },
        ] {
            assert!(r.receive(lie, &[0xee; 10]).frames.is_empty());
        }
        let out = feed(&mut r, &[last]);
        assert_eq!(out.frames[0].data, vec![0u8; 3000]);
        // Thousands of first pieces of never-finished frames: bounded.
        for n in 100..5000u16 {
            r.receive(pieces(n, false, 3000)[0].0, &[1; 1000]);
            assert!(r.pending.len() <= MAX_PENDING);
        }
    }
}
