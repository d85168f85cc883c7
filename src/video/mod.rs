//! Video for video rooms (issue 13): camera frames in, a member's latest picture out.
//!
//! - [`picture`]: an I420 picture, conversion from and to RGBA, scaling to the send size.
//! - [`vp8`]: libvpx's VP8 encoder and decoder at real-time settings.
//! - [`packetize`]: an encoded frame cut into QUIC datagrams and put back together, never
//!   handing on a frame with a missing piece.
//! - [`rate`]: a sender's bitrate, backing off when its receivers lose pieces.

pub mod packetize;
pub mod picture;
pub mod rate;
pub mod vp8;
