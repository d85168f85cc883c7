//! The jitter buffer target's input: a frame-length byte, then operations of fixed sizes.
//!
//! ```text
//! byte 0       bit 0 set: 10 ms frames, else 20 ms
//! then, per operation, a tag byte (value % 6) and its fields, big-endian:
//!   0 insert    seq u16, timestamp u32, flags u8 (bit 0: speaking), after_us u16, extra u8
//!   1 pre-roll  seq u16, timestamp u32, after_us u16
//!   2 next      after_us u16                       (a whole frame of playout)
//!   3 next-for  after_us u16, lead_us u16, needed u16  (part of a frame)
//!   4 pause     seconds u8                          (the receiver stalls)
//!   5 reset
//! ```
//! `after_us` is how long after the previous operation this one happens. A truncated last
//! operation is dropped.

/// Operations read from one input at most: keeps one run short whatever its size.
pub const MAX_OPS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert {
        seq: u16,
        timestamp: u32,
        speaking: bool,
        after_us: u16,
        extra: u8,
    },
    PreRoll {
        seq: u16,
        timestamp: u32,
        after_us: u16,
    },
    Next {
        after_us: u16,
    },
    NextFor {
        after_us: u16,
        lead_us: u16,
        needed: u16,
    },
    Pause {
        seconds: u8,
    },
    Reset,
}

impl Op {
    /// Microseconds between the previous operation and this one.
    pub fn after_us(&self) -> u64 {
        match *self {
            Op::Insert { after_us, .. }
            | Op::PreRoll { after_us, .. }
            | Op::Next { after_us }
            | Op::NextFor { after_us, .. } => u64::from(after_us),
            Op::Pause { seconds } => u64::from(seconds) * 1_000_000,
            Op::Reset => 0,
        }
    }

    /// Appends this operation in the input format.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Op::Insert {
                seq,
                timestamp,
                speaking,
                after_us,
                extra,
            } => {
                out.push(0);
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&timestamp.to_be_bytes());
                out.push(u8::from(speaking));
                out.extend_from_slice(&after_us.to_be_bytes());
                out.push(extra);
            }
            Op::PreRoll {
                seq,
                timestamp,
                after_us,
            } => {
                out.push(1);
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&timestamp.to_be_bytes());
                out.extend_from_slice(&after_us.to_be_bytes());
            }
            Op::Next { after_us } => {
                out.push(2);
                out.extend_from_slice(&after_us.to_be_bytes());
            }
            Op::NextFor {
                after_us,
                lead_us,
                needed,
            } => {
                out.push(3);
                out.extend_from_slice(&after_us.to_be_bytes());
                out.extend_from_slice(&lead_us.to_be_bytes());
                out.extend_from_slice(&needed.to_be_bytes());
            }
            Op::Pause { seconds } => out.extend_from_slice(&[4, seconds]),
            Op::Reset => out.push(5),
        }
    }
}

/// Reads an input: the frame length in ms (10 or 20) and the operations.
pub fn decode(data: &[u8]) -> Option<(u32, Vec<Op>)> {
    let (&first, mut rest) = data.split_first()?;
    let frame_ms = if first & 1 == 1 { 10 } else { 20 };
    let mut ops = Vec::new();
    while let Some((&tag, fields)) = rest.split_first() {
        if ops.len() == MAX_OPS {
            break;
        }
        let mut r = Reader(fields);
        let op = match tag % 6 {
            0 => (|| {
                Some(Op::Insert {
                    seq: r.u16()?,
                    timestamp: r.u32()?,
                    speaking: r.u8()? & 1 == 1,
                    after_us: r.u16()?,
                    extra: r.u8()?,
                })
            })(),
            1 => (|| {
                Some(Op::PreRoll {
                    seq: r.u16()?,
                    timestamp: r.u32()?,
                    after_us: r.u16()?,
                })
            })(),
            2 => r.u16().map(|after_us| Op::Next { after_us }),
            3 => (|| {
                Some(Op::NextFor {
                    after_us: r.u16()?,
                    lead_us: r.u16()?,
                    needed: r.u16()?,
                })
            })(),
            4 => r.u8().map(|seconds| Op::Pause { seconds }),
            _ => Some(Op::Reset),
        };
        let Some(op) = op else { break };
        ops.push(op);
        rest = r.0;
    }
    Some((frame_ms, ops))
}

/// The payload of the `id`-th inserted packet: its id, then `extra % 64` filler bytes (so
/// payloads vary in size as Opus packets do).
pub fn payload(id: u32, extra: u8) -> Vec<u8> {
    let mut payload = id.to_be_bytes().to_vec();
    payload.resize(4 + usize::from(extra % 64), 0xA5);
    payload
}

/// The id a payload made by [`payload`] carries.
pub fn payload_id(payload: &[u8]) -> Option<u32> {
    payload.first_chunk::<4>().map(|id| u32::from_be_bytes(*id))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.0.split_first_chunk::<N>()?;
        self.0 = tail;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
}
