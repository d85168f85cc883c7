//! The network layer: wire messages and QUIC endpoints with certificate pinning.

pub mod tls;
pub mod wire;

/// The ALPN protocol id; a client and server that disagree on it do not talk at all.
pub const ALPN: &[u8] = b"voipchat/1";
