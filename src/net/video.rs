//! Video datagrams: one piece of an encoded video frame per QUIC datagram. A frame (a few
//! hundred bytes to tens of kilobytes) is cut into pieces small enough for any path's QUIC
//! datagram limit; a receiver shows a frame only when it holds every piece
//! (`crate::video::packetize`). Unreliable, as voice is: a late frame is replaced by the next.
//!
//! Client to relay (10-byte header):
//! ```text
//! 0      kind (2 = video)
//! 1      flags (bit 0: the frame is a keyframe, decodable on its own)
//! 2..4   frame number, u16 big-endian, +1 per encoded frame
//! 4      this piece's index, 0-based
//! 5      the frame's number of pieces, 1..=MAX_PIECES
//! 6..10  timestamp, u32 big-endian, the sender's 90 kHz clock at capture (RTP's video clock)
//! 10..   the piece: a slice of the encoded frame, in order
//! ```
//! Relay to client: the same with the sender's 4-byte source id inserted after the flags
//! (14-byte header), as for audio (`super::media`).
//!
//! A receiver asks a sender for a keyframe (a lost piece leaves it unable to decode what
//! follows, as RTCP's picture loss indication does) with a 6-byte datagram:
//! ```text
//! client to relay: 0 kind (3 = keyframe request), 1 reserved, 2..6 the sender's source id
//! relay to sender: 0 kind (3), 1 reserved, 2..6 the asker's source id
//! ```
//! and for the pieces of one frame it missed (RTCP's generic NACK: the sender sends them
//! again from what it keeps of its last frames, so a keyframe of thirty pieces still arrives
//! whole on a path that drops one packet in five):
//! ```text
//! 0 kind (4 = resend request), 1 reserved, 2..6 source id (as above), 6..8 frame number,
//! 8..40 a bitmap of the pieces missing: bit i of byte i / 8 (least significant first)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

pub const KIND_VIDEO: u8 = 2;
pub const KIND_KEYFRAME_REQUEST: u8 = 3;
pub const FLAG_KEYFRAME: u8 = 1;
pub const UPLINK_HEADER: usize = 10;
pub const DOWNLINK_HEADER: usize = 14;
pub const KEYFRAME_REQUEST_LEN: usize = 6;
pub const KIND_RESEND_REQUEST: u8 = 4;
pub const RESEND_REQUEST_LEN: usize = 40;
/// A piece fits in a QUIC datagram on any path that carries QUIC at all (1200-byte packets
/// minus QUIC's own overhead and our 14-byte header), with room to spare.
pub const MAX_PIECE: usize = 1100;
/// 255 pieces of 1100 bytes: 280 KB, several times a 1080p keyframe at our bitrates.
pub const MAX_PIECES: usize = 255;

/// One piece of a frame as the sender describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceHeader {
    pub keyframe: bool,
    pub frame: u16,
    pub index: u8,
    pub count: u8,
    pub timestamp: u32,
}

/// A sender's datagram for one piece, built into `out` (cleared first).
pub fn encode_uplink(header: PieceHeader, piece: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(KIND_VIDEO);
    out.push(if header.keyframe { FLAG_KEYFRAME } else { 0 });
    out.extend_from_slice(&header.frame.to_be_bytes());
    out.push(header.index);
    out.push(header.count);
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(piece);
}

/// The header that starts at `at` (after the kind, flags and, downlink, the source id), if it
/// describes a piece that can exist.
fn header_at(datagram: &[u8], at: usize) -> Option<PieceHeader> {
    let header = PieceHeader {
        keyframe: datagram[1] & FLAG_KEYFRAME != 0,
        frame: u16::from_be_bytes([datagram[at], datagram[at + 1]]),
        index: datagram[at + 2],
        count: datagram[at + 3],
        timestamp: u32::from_be_bytes([
            datagram[at + 4],
            datagram[at + 5],
            datagram[at + 6],
            datagram[at + 7],
        ]),
    };
    (header.count > 0 && header.index < header.count).then_some(header)
}

fn acceptable(datagram: &[u8], header_len: usize) -> bool {
    datagram.len() > header_len
        && datagram.len() <= header_len + MAX_PIECE
        && datagram[0] == KIND_VIDEO
}

/// Checks a client's video datagram and rewrites it for receivers, tagged with the sender's
/// source id. `None` for anything malformed: the relay drops it and carries on.
pub fn relay(uplink: &[u8], source: u32) -> Option<(PieceHeader, Bytes)> {
    if !acceptable(uplink, UPLINK_HEADER) {
        return None;
    }
    let header = header_at(uplink, 2)?;
    let mut out = BytesMut::with_capacity(uplink.len() + 4);
    out.put_slice(&uplink[..2]);
    out.put_u32(source);
    out.put_slice(&uplink[2..]);
    Some((header, out.freeze()))
}

/// A receiver's view of a relayed video datagram: who sent it, the header, and the piece.
pub fn decode_downlink(datagram: &[u8]) -> Option<(u32, PieceHeader, &[u8])> {
    if !acceptable(datagram, DOWNLINK_HEADER) {
        return None;
    }
    let source = u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]);
    let header = header_at(datagram, 6)?;
    Some((source, header, &datagram[DOWNLINK_HEADER..]))
}

/// A keyframe request naming `source`: the sender asked for (uplink) or the asker (downlink).
pub fn keyframe_request(source: u32) -> [u8; KEYFRAME_REQUEST_LEN] {
    let id = source.to_be_bytes();
    [KIND_KEYFRAME_REQUEST, 0, id[0], id[1], id[2], id[3]]
}

/// The source id a keyframe request names, if `datagram` is one.
pub fn decode_keyframe_request(datagram: &[u8]) -> Option<u32> {
    (datagram.len() == KEYFRAME_REQUEST_LEN && datagram[0] == KIND_KEYFRAME_REQUEST)
        .then(|| u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]))
}

/// Rewrites a keyframe or resend request for the member it names: the same request, naming
/// `asker` instead. `None` if `datagram` is neither; otherwise the member it was for, too.
pub fn relay_feedback(datagram: &[u8], asker: u32) -> Option<(u32, Bytes)> {
    let well_formed = match datagram.first() {
        Some(&KIND_KEYFRAME_REQUEST) => datagram.len() == KEYFRAME_REQUEST_LEN,
        Some(&KIND_RESEND_REQUEST) => datagram.len() == RESEND_REQUEST_LEN,
        _ => false,
    };
    if !well_formed {
        return None;
    }
    let named = u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]);
    let mut out = BytesMut::from(datagram);
    out[2..6].copy_from_slice(&asker.to_be_bytes());
    Some((named, out.freeze()))
}

/// A request that `source` send again the pieces of `frame` listed in `missing`.
pub fn resend_request(source: u32, frame: u16, missing: &[u8]) -> [u8; RESEND_REQUEST_LEN] {
    let mut out = [0u8; RESEND_REQUEST_LEN];
    out[0] = KIND_RESEND_REQUEST;
    out[2..6].copy_from_slice(&source.to_be_bytes());
    out[6..8].copy_from_slice(&frame.to_be_bytes());
    for &index in missing {
        out[8 + usize::from(index / 8)] |= 1 << (index % 8);
    }
    out
}

/// The source id, frame and missing pieces a resend request names, if `datagram` is one.
pub fn decode_resend_request(datagram: &[u8]) -> Option<(u32, u16, Vec<u8>)> {
    if datagram.len() != RESEND_REQUEST_LEN || datagram[0] != KIND_RESEND_REQUEST {
        return None;
    }
    let source = u32::from_be_bytes([datagram[2], datagram[3], datagram[4], datagram[5]]);
    let frame = u16::from_be_bytes([datagram[6], datagram[7]]);
    let missing = (0..=u8::MAX)
        .filter(|&i| datagram[8 + usize::from(i / 8)] & (1 << (i % 8)) != 0)
        .collect();
    Some((source, frame, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(index: u8, count: u8) -> PieceHeader {
        PieceHeader {
            keyframe: true,
            frame: 65535,
            index,
            count,
            timestamp: 0xdead_beef,
        }
    }

    #[test]
    fn a_piece_survives_the_relay() {
        let mut up = Vec::new();
        encode_uplink(piece(2, 3), b"vp8!", &mut up);
        assert_eq!(up.len(), UPLINK_HEADER + 4);
        let (seen, down) = relay(&up, 77).unwrap();
        assert_eq!(seen, piece(2, 3));
        assert_eq!(
            decode_downlink(&down),
            Some((77, piece(2, 3), &b"vp8!"[..]))
        );
        let delta = PieceHeader {
            keyframe: false,
            ..piece(0, 1)
        };
        encode_uplink(delta, b"x", &mut up);
        assert!(!relay(&up, 1).unwrap().0.keyframe);
    }

    #[test]
    fn malformed_pieces_are_refused() {
        let mut up = Vec::new();
        encode_uplink(piece(0, 1), b"", &mut up);
        assert!(relay(&up, 1).is_none(), "no payload");
        encode_uplink(piece(3, 3), b"p", &mut up);
        assert!(relay(&up, 1).is_none(), "index past the count");
        encode_uplink(piece(0, 0), b"p", &mut up);
        assert!(relay(&up, 1).is_none(), "zero pieces");
        encode_uplink(piece(0, 1), &[0; MAX_PIECE + 1], &mut up);
        assert!(relay(&up, 1).is_none(), "too large");
        encode_uplink(piece(0, 1), b"p", &mut up);
        up[0] = 1;
        assert!(relay(&up, 1).is_none(), "an audio kind");
        assert!(relay(&[], 1).is_none());
        assert!(decode_downlink(&[KIND_VIDEO; DOWNLINK_HEADER]).is_none());
    }

    #[test]
    fn a_resend_request_lists_its_pieces_and_the_relay_renames_it() {
        let request = resend_request(7, 65000, &[0, 9, 254]);
        assert_eq!(
            decode_resend_request(&request),
            Some((7, 65000, vec![0, 9, 254]))
        );
        let (named, relayed) = relay_feedback(&request, 3).unwrap();
        assert_eq!(named, 7);
        assert_eq!(
            decode_resend_request(&relayed),
            Some((3, 65000, vec![0, 9, 254]))
        );
        let (named, relayed) = relay_feedback(&keyframe_request(7), 3).unwrap();
        assert_eq!((named, decode_keyframe_request(&relayed)), (7, Some(3)));
        assert!(relay_feedback(&request[..39], 3).is_none());
        assert!(relay_feedback(&[KIND_VIDEO; RESEND_REQUEST_LEN], 3).is_none());
    }

    #[test]
    fn a_keyframe_request_names_its_member() {
        let request = keyframe_request(0x0102_0304);
        assert_eq!(decode_keyframe_request(&request), Some(0x0102_0304));
        assert_eq!(decode_keyframe_request(&request[..5]), None);
        assert_eq!(decode_keyframe_request(&[KIND_VIDEO, 0, 0, 0, 0, 1]), None);
    }
}
