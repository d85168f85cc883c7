//! The network layer: wire messages and QUIC endpoints with certificate pinning.

pub mod media;
pub mod tls;
pub mod video;
pub mod wire;

/// The ALPN protocol id; a client and server that disagree on it do not talk at all.
pub const ALPN: &[u8] = b"voipchat/1";

/// QUIC application close codes. A connection that breaks without one (a timeout) is a lost
/// connection; one closed with a code says why, so neither side has to guess.
pub mod close_code {
    use quinn::VarInt;
    /// A clean departure (a leave, or a join abandoned): free the seat at once.
    pub const NORMAL: VarInt = VarInt::from_u32(0);
    pub const PROTOCOL_ERROR: VarInt = VarInt::from_u32(1);
    /// The member stopped reading its control stream.
    pub const TOO_SLOW: VarInt = VarInt::from_u32(2);
    /// The same user joined from another session.
    pub const REPLACED: VarInt = VarInt::from_u32(3);
    pub const SHUTDOWN: VarInt = VarInt::from_u32(4);
    pub const REJECTED: VarInt = VarInt::from_u32(5);
    /// The client gave this connection up for a resumed one.
    pub const SUPERSEDED: VarInt = VarInt::from_u32(6);
}
