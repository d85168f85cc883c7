//! Error codes shared by the Rust API, the C ABI and the wire protocol.
//!
//! The negative codes -1, -2, -3 and -1000 are WeChat's (`wx.joinVoIPChat`); the -100x codes are
//! ours and name the causes WeChat folds into "system error", so a game can react to each.

use std::fmt;

/// A failure reported by the SDK: a stable numeric code and a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoipError {
    pub code: ErrorCode,
    pub reason: String,
}

impl VoipError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for VoipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code.as_i32())
    }
}

impl std::error::Error for VoipError {}

/// Every error code the SDK reports. The numeric values are part of the C ABI and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// -1: already in a room, or a join is in progress.
    AlreadyInRoom,
    /// -2: the recording device is occupied or cannot be opened.
    DeviceBusy,
    /// -3: the join was abandoned before admission (exit called, or the connection was lost).
    LeftWhileJoining,
    /// -1000: an internal failure, including a caught panic.
    System,
    /// -1001: a NULL pointer, invalid UTF-8, a missing or over-long field, or the SDK is not initialized.
    InvalidArgument,
    /// -1002: the server rejected the signature (wrong signature, unknown app, stale timestamp, reused nonce).
    SignatureRejected,
    /// -1003: the room already holds its maximum number of members.
    RoomFull,
    /// -1004: the server could not be reached, did not answer in time, or the connection was lost.
    ServerUnreachable,
    /// -1005: the call needs a room and the client is not in one.
    NotInRoom,
    /// -1006: the room exists with a different room type.
    RoomTypeMismatch,
    /// -1007: the server's certificate was rejected (pin mismatch or untrusted chain).
    CertificateRejected,
    /// -1008: the same open_id joined from another session, which replaced this one.
    SessionReplaced,
    /// -1009: the server is shutting down.
    ServerShuttingDown,
    /// -1010: the join was refused because the cluster directory assigns its room to another
    /// relay node (or this node is draining and takes no new rooms): ask the backend to place
    /// the room again.
    RoomElsewhere,
    /// -1011: the relay node was lost (it stopped answering and the seat could not be
    /// resumed): rejoin through the backend, which places the room on a live node.
    NodeLost,
    /// -1012: the cluster directory (Redis) could not be reached, so a placement or a join
    /// that needs it failed; retry once it is back.
    DirectoryUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::AlreadyInRoom,
        ErrorCode::DeviceBusy,
        ErrorCode::LeftWhileJoining,
        ErrorCode::System,
        ErrorCode::InvalidArgument,
        ErrorCode::SignatureRejected,
        ErrorCode::RoomFull,
        ErrorCode::ServerUnreachable,
        ErrorCode::NotInRoom,
        ErrorCode::RoomTypeMismatch,
        ErrorCode::CertificateRejected,
        ErrorCode::SessionReplaced,
        ErrorCode::ServerShuttingDown,
        ErrorCode::RoomElsewhere,
        ErrorCode::NodeLost,
        ErrorCode::DirectoryUnavailable,
    ];

    pub const fn as_i32(self) -> i32 {
        match self {
            ErrorCode::AlreadyInRoom => -1,
            ErrorCode::DeviceBusy => -2,
            ErrorCode::LeftWhileJoining => -3,
            ErrorCode::System => -1000,
            ErrorCode::InvalidArgument => -1001,
            ErrorCode::SignatureRejected => -1002,
            ErrorCode::RoomFull => -1003,
            ErrorCode::ServerUnreachable => -1004,
            ErrorCode::NotInRoom => -1005,
            ErrorCode::RoomTypeMismatch => -1006,
            ErrorCode::CertificateRejected => -1007,
            ErrorCode::SessionReplaced => -1008,
            ErrorCode::ServerShuttingDown => -1009,
            ErrorCode::RoomElsewhere => -1010,
            ErrorCode::NodeLost => -1011,
            ErrorCode::DirectoryUnavailable => -1012,
        }
    }

    /// The code for a number received from the wire; unknown numbers become `System`.
    pub fn from_i32(code: i32) -> ErrorCode {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_i32() == code)
            .unwrap_or(ErrorCode::System)
    }
}
