//! The `#[repr(C)]` types of the C ABI. cbindgen turns these into `include/voipchat.h`.
//!
//! Enumerations are plain `int32_t` typedefs with `#define`d values rather than C enums: a
//! value a caller makes up is then a clear -1001, never undefined behaviour in Rust.

use std::ffi::{c_char, c_void};

/// `roomType`: `VOIP_ROOM_VOICE` or `VOIP_ROOM_VIDEO`.
pub type VoipRoomType = i32;
pub const VOIP_ROOM_VOICE: VoipRoomType = 0;
pub const VOIP_ROOM_VIDEO: VoipRoomType = 1;

/// Where callbacks run: on an SDK thread, or inside `voip_poll()` on the caller's thread.
pub type VoipDispatch = i32;
pub const VOIP_DISPATCH_THREAD: VoipDispatch = 0;
pub const VOIP_DISPATCH_POLL: VoipDispatch = 1;

/// Who owns the audio devices: the SDK (through the system's devices) or the engine.
pub type VoipAudioMode = i32;
pub const VOIP_AUDIO_DEVICE: VoipAudioMode = 0;
pub const VOIP_AUDIO_EXTERNAL: VoipAudioMode = 1;

/// The call's state, as `voip_on_state_changed` reports it.
pub type VoipState = i32;
pub const VOIP_STATE_IDLE: VoipState = 0;
pub const VOIP_STATE_JOINING: VoipState = 1;
pub const VOIP_STATE_JOINED: VoipState = 2;
pub const VOIP_STATE_RECONNECTING: VoipState = 3;
pub const VOIP_STATE_LEFT: VoipState = 4;

/// Log levels passed to `VoipConfig.log`.
pub type VoipLogLevel = i32;
pub const VOIP_LOG_ERROR: VoipLogLevel = 0;
pub const VOIP_LOG_WARN: VoipLogLevel = 1;
pub const VOIP_LOG_INFO: VoipLogLevel = 2;
pub const VOIP_LOG_DEBUG: VoipLogLevel = 3;

/// Speech enhancement over every remote member's voice (`voip_set_voice_enhancement`): off
/// (the default; lost frames are still concealed by deep PLC), light (LACE) or strong (NoLACE).
/// Clearer speech on any link, lossy ones included, for CPU on every frame of every remote
/// speaker: meant for one-to-one calls and small squads (costs in the README).
pub type VoipVoiceEnhancement = i32;
pub const VOIP_ENHANCEMENT_OFF: VoipVoiceEnhancement = 0;
pub const VOIP_ENHANCEMENT_LIGHT: VoipVoiceEnhancement = 1;
pub const VOIP_ENHANCEMENT_STRONG: VoipVoiceEnhancement = 2;

/// How far down `voip_set_audio_processing`'s noise suppressor may take the microphone's noise:
/// off, low (6 dB), moderate (12 dB, the default), high (18 dB) or very high (21 dB). Higher
/// levels clean more of a fan or a keyboard and colour the voice more.
pub type VoipNoiseSuppression = i32;
pub const VOIP_NOISE_SUPPRESSION_OFF: VoipNoiseSuppression = 0;
pub const VOIP_NOISE_SUPPRESSION_LOW: VoipNoiseSuppression = 1;
pub const VOIP_NOISE_SUPPRESSION_MODERATE: VoipNoiseSuppression = 2;
pub const VOIP_NOISE_SUPPRESSION_HIGH: VoipNoiseSuppression = 3;
pub const VOIP_NOISE_SUPPRESSION_VERY_HIGH: VoipNoiseSuppression = 4;

/// How a `VoipVideoFrame`'s pixels are laid out: RGBA (8 bits a channel, one plane, alpha
/// ignored) or I420 (planar YUV 4:2:0: Y, then U and V at half width and height).
pub type VoipPixelFormat = i32;
pub const VOIP_PIXEL_RGBA: VoipPixelFormat = 0;
pub const VOIP_PIXEL_I420: VoipPixelFormat = 1;

/// Error codes (`err_code`): WeChat's, then ours.
pub const VOIP_OK: i32 = 0;
/// Already in a room, or joining one.
pub const VOIP_ERR_ALREADY_IN_ROOM: i32 = -1;
/// The recording device is occupied or cannot be opened.
pub const VOIP_ERR_DEVICE_BUSY: i32 = -2;
/// Left while joining: exit was called, or the connection was lost, before admission.
pub const VOIP_ERR_LEFT_WHILE_JOINING: i32 = -3;
/// System error, including a caught panic.
pub const VOIP_ERR_SYSTEM: i32 = -1000;
/// Invalid argument: NULL, invalid UTF-8, a missing or over-long field, or not initialized.
pub const VOIP_ERR_INVALID_ARGUMENT: i32 = -1001;
/// Signature rejected: wrong signature, unknown app, timestamp outside the window, or nonce reused.
pub const VOIP_ERR_SIGNATURE_REJECTED: i32 = -1002;
/// The room is full.
pub const VOIP_ERR_ROOM_FULL: i32 = -1003;
/// The server is unreachable, did not answer in time, or the connection was lost.
pub const VOIP_ERR_SERVER_UNREACHABLE: i32 = -1004;
/// Not in a room.
pub const VOIP_ERR_NOT_IN_ROOM: i32 = -1005;
/// The room exists with a different room type.
pub const VOIP_ERR_ROOM_TYPE_MISMATCH: i32 = -1006;
/// The server's certificate was rejected (pin mismatch or untrusted).
pub const VOIP_ERR_CERTIFICATE_REJECTED: i32 = -1007;
/// Interrupted: the same open_id joined from another session, which replaced this one.
pub const VOIP_ERR_SESSION_REPLACED: i32 = -1008;
/// Interrupted: the server is shutting down.
pub const VOIP_ERR_SERVER_SHUTTING_DOWN: i32 = -1009;
/// Join refused: the cluster directory assigns the room to another relay node (or this one is
/// draining). Ask the backend to place the room again.
pub const VOIP_ERR_ROOM_ELSEWHERE: i32 = -1010;
/// Interrupted: the relay node was lost and the seat could not be resumed. Rejoin through the
/// backend, which places the room on a live node.
pub const VOIP_ERR_NODE_LOST: i32 = -1011;
/// The cluster directory (Redis) is unreachable: a placement or a join that needs it failed.
pub const VOIP_ERR_DIRECTORY_UNAVAILABLE: i32 = -1012;

/// Buffer sizes (with the terminating NUL) for `voip_session_key` and `voip_sign`.
pub const VOIP_SESSION_KEY_BUFFER: usize = 45;
pub const VOIP_SIGNATURE_BUFFER: usize = 65;

/// WeChat's `muteConfig`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VoipMuteConfig {
    pub mute_microphone: bool,
    pub mute_earphone: bool,
}

/// Receives the SDK's log lines. In POLL dispatch it runs inside `voip_poll()`.
pub type VoipLogFn = Option<
    unsafe extern "C" fn(level: VoipLogLevel, message: *const c_char, user_data: *mut c_void),
>;

/// Process-wide settings for `voip_init`. Start from `voip_config_default()`.
#[repr(C)]
pub struct VoipConfig {
    /// "host:port" of the relay.
    pub server: *const c_char,
    /// Lowercase hex SHA-256 of the server's DER certificate to pin; NULL = system roots.
    pub server_cert_sha256: *const c_char,
    pub dispatch: VoipDispatch,
    pub audio_mode: VoipAudioMode,
    /// Capture device name; NULL = system default.
    pub input_device: *const c_char,
    /// Playback device name; NULL = system default.
    pub output_device: *const c_char,
    /// 10 or 20; 0 = default 20.
    pub frame_ms: u32,
    pub log: VoipLogFn,
    pub log_user_data: *mut c_void,
    /// Handshake plus the server's answer to a join; 0 = default 5000.
    pub connect_timeout_ms: u32,
    /// After a lost connection, how long to try resuming before `interrupted`; 0 = default 10000.
    pub resume_timeout_ms: u32,
    /// Silence after which the connection counts as lost (keep-alives keep a quiet one
    /// alive); 0 = default 6000, otherwise at least 500. With several relays, a shorter one
    /// (with a short `resume_timeout_ms`) tells members of a dead node sooner (-1011).
    pub idle_timeout_ms: u32,
}

/// WeChat's `joinVoIPChat` parameters. Strings are NUL-terminated UTF-8.
#[repr(C)]
pub struct VoipJoinParams {
    pub app_id: *const c_char,
    pub open_id: *const c_char,
    pub group_id: *const c_char,
    /// Shorter than 128 characters.
    pub nonce_str: *const c_char,
    /// Unix seconds.
    pub time_stamp: i64,
    /// Lowercase hex HMAC-SHA256, as `voip_sign` computes it.
    pub signature: *const c_char,
    pub room_type: VoipRoomType,
    /// NULL = both false.
    pub mute_config: *const VoipMuteConfig,
}

/// A call's result or an event's payload. Every pointer is valid during the callback only.
#[repr(C)]
pub struct VoipResult {
    pub err_code: i32,
    /// `joinVoIPChat:ok`, `joinVoIPChat:fail <reason>`, and so on.
    pub err_msg: *const c_char,
    pub open_id_list: *const *const c_char,
    pub open_id_count: usize,
}

pub type VoipResultFn =
    Option<unsafe extern "C" fn(result: *const VoipResult, user_data: *mut c_void)>;

/// A member's new picture (`voip_on_video_frame`): I420 planes valid only during the call.
pub type VoipVideoFrameFn = Option<
    unsafe extern "C" fn(
        open_id: *const c_char,
        frame: *const VoipVideoFrame,
        user_data: *mut c_void,
    ),
>;

pub type VoipStateFn =
    Option<unsafe extern "C" fn(code: VoipState, data_json: *const c_char, user_data: *mut c_void)>;

/// The callbacks of one call; any may be NULL. Exactly one of success / fail runs, then complete.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VoipCallbacks {
    pub success: VoipResultFn,
    pub fail: VoipResultFn,
    pub complete: VoipResultFn,
}

/// A video frame: the engine's camera frame for `voip_video_push_frame` (read only), or the
/// engine's buffers for `voip_video_pull_frame` to fill.
///
/// RGBA uses `planes[0]` and `strides[0]` (bytes from one row to the next, at least
/// `width * 4`). I420 uses all three: Y (stride at least `width`), then U and V (stride at
/// least `(width + 1) / 2`, `(height + 1) / 2` rows). Sizes up to 1920x1080 (either
/// orientation); an odd width or height loses its last column or row.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VoipVideoFrame {
    pub format: VoipPixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: [*mut u8; 3],
    pub strides: [u32; 3],
    /// Pull: the sequence number of the picture the engine has (0: none); the SDK writes the
    /// one it hands out. Each decoded picture of a member numbers one more than the last.
    pub sequence: u64,
}

/// One app the embedded server admits.
#[repr(C)]
pub struct VoipApp {
    pub app_id: *const c_char,
    pub app_secret: *const c_char,
}

/// Settings for `voip_server_start`. Start from `voip_server_config_default()`.
#[repr(C)]
pub struct VoipServerConfig {
    /// "ip:port" to listen on; NULL = "127.0.0.1:0" (a free loopback port).
    pub listen: *const c_char,
    pub apps: *const VoipApp,
    pub app_count: usize,
    /// 0 = default 10.
    pub max_members: u32,
    /// Seconds a join's timestamp may be off either way; 0 = default 300.
    pub timestamp_window_s: u32,
    /// PEM certificate chain and key; NULL = a fresh self-signed certificate.
    pub cert_pem_path: *const c_char,
    pub key_pem_path: *const c_char,
    /// Server log lines; called from server threads.
    pub log: VoipLogFn,
    pub log_user_data: *mut c_void,
}

/// A running embedded relay.
pub struct VoipServer {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) server: Option<crate::Server>,
    pub(crate) cert_sha256: std::ffi::CString,
}
