//! The room vocabulary shared by the client, the server and the wire protocol.

use serde::{Deserialize, Serialize};

/// WeChat's `roomType`: a voice room, or a video room (video members are a later feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomType {
    #[default]
    Voice,
    Video,
}

impl RoomType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomType::Voice => "voice",
            RoomType::Video => "video",
        }
    }
}

/// WeChat's `muteConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MuteConfig {
    /// Nothing of this user's voice leaves the machine.
    pub mute_microphone: bool,
    /// Nothing is played to this user, and the server stops forwarding to them.
    pub mute_earphone: bool,
}

/// Limits on the identifiers in a join, enforced by the client (as -1001) and the server alike.
pub mod limits {
    /// WeChat: `nonceStr` is shorter than 128 characters.
    pub const NONCE_MAX_CHARS: usize = 127;
    /// `appId`, `openId` and `groupId` are at most this many bytes.
    pub const ID_MAX_BYTES: usize = 128;
    /// A hex SHA-256 signature is 64 characters; we accept a little slack for upper case etc.
    pub const SIGNATURE_MAX_BYTES: usize = 128;
}
