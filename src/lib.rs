//! voipchat: real-time voice chat for games, after WeChat's `wx.joinVoIPChat` API.
//!
//! The Rust API ([`Client`], [`Server`]) is the real interface; [`ffi`] translates it to the C
//! ABI that `include/voipchat.h` describes, and the engine bindings wrap that.

pub mod audio;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod error;
pub mod ffi;
pub mod load;
pub mod log;
pub mod net;
pub mod server;
pub mod types;
pub mod video;

pub use audio::codec::VoiceEnhancement;
pub use audio::processing::{AudioProcessing, NoiseSuppression};
pub use client::{
    AudioConfig, AudioMode, ChatState, Client, ClientConfig, Event, JoinParams, ReceivedFrame,
    VideoConfig,
};
pub use error::{ErrorCode, VoipError};
pub use server::{MediaRateLimit, Server, ServerConfig, ServerStats};
pub use types::{MuteConfig, RoomType};
pub use video::picture::{Picture, PictureError};
