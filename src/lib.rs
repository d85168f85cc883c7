pub mod auth;
pub mod error;
pub mod log;
pub mod net;
pub mod server;
pub mod types;

pub use error::{ErrorCode, VoipError};
pub use server::{Server, ServerConfig};
pub use types::{MuteConfig, RoomType};
pub mod client;
pub mod ffi;
pub use client::{ChatState, Client, ClientConfig, Event, JoinParams};
