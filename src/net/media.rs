//! Media datagrams: one Opus frame per QUIC datagram, with the little a receiver needs to
//! play it in order and on time. Unreliable on purpose: a late voice packet is a lost one.
//!
//! Client to relay (8-byte header):
//! ```text
//! 0      kind (1 = audio)
//! 1      flags (bit 0: speaking, cleared on the last packet of a talkspurt; bit 1: backfill,
//!        a frame sent one frame late as the pre-roll of a talkspurt; bit 2: repeat, a second
//!        copy of an earlier datagram, sent up to a frame after it, usually half, while
//!        receivers report heavy loss)
//! 2..4   sequence number, u16 big-endian, +1 per frame
//! 4..8   timestamp, u32 big-endian, the sender's 48 kHz sample clock at the frame's start
//! 8..    Opus payload
//! ```
//! Relay to client: the same with the sender's 4-byte source id inserted after the flags
//! (12-byte header). The relay copies each datagram once, whatever the number of receivers.

use bytes::{BufMut, Bytes, BytesMut};

pub const KIND_AUDIO: u8 = 1;
pub const FLAG_SPEAKING: u8 = 1;
pub const FLAG_BACKFILL: u8 = 2;
pub const FLAG_REPEAT: u8 = 4;
pub const UPLINK_HEADER: usize = 8;
pub const DOWNLINK_HEADER: usize = 12;
/// Far above what our bitrates produce (about 70-100 bytes at 20 ms), far below QUIC's limit.
pub const MAX_PAYLOAD: usize = 1000;

/// One audio frame as the sender describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioHeader {
    pub speaking: bool,
    /// Sent one frame after its time (the pre-roll of a talkspurt): its arrival says nothing
    /// about the network's delay.
    pub backfill: bool,
    /// A second copy of a frame already sent, up to a frame later: it stands in for the original
    /// only if that was lost, and its arrival says nothing about the network's delay either.
    pub repeat: bool,
    pub seq: u16,
    pub timestamp: u32,
}

/// A sender's datagram, built into `out` (cleared first) so the caller can reuse the buffer.
pub fn encode_uplink(header: AudioHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(KIND_AUDIO);
    let mut flags = 0;
    if header.speaking {
        flags |= FLAG_SPEAKING;
    }
    if header.backfill {
        flags |= FLAG_BACKFILL;
    }
    if header.repeat {
        flags |= FLAG_REPEAT;
    }
    out.push(flags);
    out.extend_from_slice(&header.seq.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Marks a sender's datagram (from [`encode_uplink`]) as the repeat of itself.
pub fn mark_repeat(uplink: &mut [u8]) {
    if let Some(flags) = uplink.get_mut(1) {
        *flags |= FLAG_REPEAT;
    }
}

fn header_at(datagram: &[u8], at: usize) -> AudioHeader {
    AudioHeader {
        speaking: datagram[1] & FLAG_SPEAKING != 0,
        backfill: datagram[1] & FLAG_BACKFILL != 0,
        repeat: datagram[1] & FLAG_REPEAT != 0,
        seq: u16::from_be_bytes([datagram[at], datagram[at + 1]]),
        timestamp: u32::from_be_bytes([
            datagram[at + 2],
            datagram[at + 3],
            datagram[at + 4],
            datagram[at + 5],
        ]),
    }
}

fn acceptable(datagram: &[u8], header_len: usize) -> bool {
    datagram.len() > header_len
        && datagram.len() <= header_len + MAX_PAYLOAD
        && datagram[0] == KIND_AUDIO
}

/// Checks a client's datagram and rewrites it for receivers, tagged with the sender's source
/// id. `None` for anything malformed: the relay drops it and carries on.
pub fn relay(uplink: &[u8], source: u32) -> Option<(AudioHeader, Bytes)> {
    if !acceptable(uplink, UPLINK_HEADER) {
        return None;
    }
    let mut out = BytesMut::with_capacity(uplink.len() + 4);
    out.put_slice(&uplink[..2]);
    out.put_u32(source);
    out.put_slice(&uplink[2..]);
    Some((header_at(uplink, 2), out.freeze()))
}

/// A receiver's view of a relayed datagram: who sent it, the header, and the Opus payload.
pub fn decode_downlink(datagram: &[u8]) -> Option<(u32, AudioHeader, &[u8])> {
    if !acceptable(datagram, DOWNLINK_HEADER) {
        return None;
    }
    let source = u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]);
    Some((source, header_at(datagram, 6), &datagram[DOWNLINK_HEADER..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_survives_the_relay() {
        let header = AudioHeader {
            speaking: true,
            backfill: true,
            repeat: true,
            seq: 65535,
            timestamp: 0xdead_beef,
        };
        let mut up = Vec::new();
        encode_uplink(header, b"opus!", &mut up);
        assert_eq!(up.len(), UPLINK_HEADER + 5);
        let (seen, down) = relay(&up, 77).unwrap();
        assert_eq!(seen, header);
        assert_eq!(decode_downlink(&down), Some((77, header, &b"opus!"[..])));
        let quiet = AudioHeader {
            speaking: false,
            backfill: false,
            repeat: false,
            ..header
        };
        encode_uplink(quiet, b"x", &mut up);
        let (relayed, _) = relay(&up, 1).unwrap();
        assert!(!relayed.speaking && !relayed.backfill && !relayed.repeat);
    }

    #[test]
    fn malformed_datagrams_are_refused() {
        let mut up = Vec::new();
        encode_uplink(
            AudioHeader {
                speaking: true,
                backfill: false,
                repeat: false,
                seq: 1,
                timestamp: 2,
            },
            b"",
            &mut up,
        );
        assert!(relay(&up, 1).is_none(), "no payload");
        assert!(relay(&[], 1).is_none());
        assert!(relay(&[KIND_AUDIO; 5], 1).is_none());
        encode_uplink(
            AudioHeader {
                speaking: true,
                backfill: false,
                repeat: false,
                seq: 1,
                timestamp: 2,
            },
            b"p",
            &mut up,
        );
        up[0] = 9;
        assert!(relay(&up, 1).is_none(), "unknown kind");
        encode_uplink(
            AudioHeader {
                speaking: true,
                backfill: false,
                repeat: false,
                seq: 1,
                timestamp: 2,
            },
            &[0; MAX_PAYLOAD + 1],
            &mut up,
        );
        assert!(relay(&up, 1).is_none(), "too large");
        assert!(decode_downlink(&[KIND_AUDIO, 0, 0, 0]).is_none());
    }
}
