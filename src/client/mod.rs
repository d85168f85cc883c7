//! The client: one `Client` is one user's seat in at most one room at a time. A process may
//! hold many (tests run whole rooms in one process). Each join runs a session task that owns
//! the connection; the `Client` only hands it commands.

mod completion;
mod connect;
pub mod media;
mod session;
pub mod video;

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

pub use completion::Completion;
pub use media::{AudioConfig, AudioMode};
pub use video::{FrameHook, ReceivedFrame, VideoConfig};

use media::Media;
use video::Video;

use crate::server::MAX_VIDEO_SUBSCRIPTION;
use crate::video::picture::Picture;

use crate::audio::codec::VoiceEnhancement;
use crate::audio::processing::AudioProcessing;
use crate::error::{ErrorCode, VoipError};
use crate::log::Logger;
use crate::net::tls::Liveness;
use crate::types::{limits, MuteConfig, RoomType};

/// How a client reaches its relay.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the relay (`[v6]:port` for an IPv6 literal).
    pub server: String,
    /// Lowercase hex SHA-256 of the server's DER certificate to pin; `None` trusts system roots.
    pub server_cert_sha256: Option<String>,
    /// Time for the QUIC handshake and the server's answer to a join.
    pub connect_timeout: Duration,
    /// After losing the connection, how long to keep trying to resume before giving up.
    pub resume_timeout: Duration,
    pub liveness: Liveness,
    pub logger: Logger,
    /// Devices or engine-fed audio, and the frame length.
    pub audio: AudioConfig,
    /// What this member's camera frames are sent as, in a video room.
    pub video: VideoConfig,
}

impl ClientConfig {
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            server_cert_sha256: None,
            connect_timeout: Duration::from_secs(5),
            resume_timeout: Duration::from_secs(10),
            liveness: Liveness::default(),
            logger: Logger::default(),
            audio: AudioConfig::default(),
            video: VideoConfig::default(),
        }
    }

    pub fn pinned(mut self, cert_sha256: impl Into<String>) -> Self {
        self.server_cert_sha256 = Some(cert_sha256.into());
        self
    }
}

/// What `wx.joinVoIPChat` takes, less the callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinParams {
    pub app_id: String,
    pub open_id: String,
    pub group_id: String,
    pub nonce_str: String,
    pub time_stamp: i64,
    pub signature: String,
    pub room_type: RoomType,
    pub mute_config: MuteConfig,
}

/// The life of a client's call, as `onVoIPChatStateChanged` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ChatState {
    Idle = 0,
    Joining = 1,
    Joined = 2,
    Reconnecting = 3,
    Left = 4,
}

impl ChatState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatState::Idle => "idle",
            ChatState::Joining => "joining",
            ChatState::Joined => "joined",
            ChatState::Reconnecting => "reconnecting",
            ChatState::Left => "left",
        }
    }

    fn from_i32(value: i32) -> ChatState {
        match value {
            1 => ChatState::Joining,
            2 => ChatState::Joined,
            3 => ChatState::Reconnecting,
            4 => ChatState::Left,
            _ => ChatState::Idle,
        }
    }
}

/// Events a client reports outside of call results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The full list of members still in the call (sent to members already in the room).
    MembersChanged(Vec<String>),
    /// The members speaking now.
    SpeakersChanged(Vec<String>),
    /// Video room: the members publishing video, in the order they started
    /// (`onVoIPVideoMembersChanged`).
    VideoMembersChanged(Vec<String>),
    /// A passive disconnect: the client gave up resuming, was replaced, or the server left.
    Interrupted(VoipError),
    /// The call's state moved; `data_json` is a small JSON object describing it.
    StateChanged { state: ChatState, data_json: String },
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// One user's voice chat client.
pub struct Client {
    shared: Arc<ClientShared>,
}

pub(crate) struct ClientShared {
    config: ClientConfig,
    runtime: tokio::runtime::Handle,
    events: EventSink,
    session: Mutex<Option<SessionHandle>>,
    next_session_id: AtomicU64,
    state: AtomicI32,
    media: Arc<Media>,
    video: Arc<Video>,
}

struct SessionHandle {
    id: u64,
    commands: mpsc::UnboundedSender<session::Command>,
}

impl Client {
    /// A client whose events go to `events`, on the current tokio runtime.
    pub fn new(
        config: ClientConfig,
        events: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<Client, VoipError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                "Client::new needs a tokio runtime",
            )
        })?;
        Self::with_runtime(config, runtime, Arc::new(events))
    }

    /// A client and the channel its events arrive on.
    pub fn with_channel(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Event>), VoipError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = Self::new(config, move |event| {
            let _ = tx.send(event);
        })?;
        Ok((client, rx))
    }

    pub fn with_runtime(
        config: ClientConfig,
        runtime: tokio::runtime::Handle,
        events: EventSink,
    ) -> Result<Client, VoipError> {
        connect::check_server_address(&config.server)?;
        if let Some(pin) = &config.server_cert_sha256 {
            // Parsed again per connection; checking now turns a typo into an init-time error.
            crate::net::tls::client_config(Some(pin), config.liveness)?;
        }
        let media = Media::new(config.audio.clone())?;
        let video = Video::new(config.video);
        Ok(Client {
            shared: Arc::new(ClientShared {
                media,
                video,
                config,
                runtime,
                events,
                session: Mutex::new(None),
                next_session_id: AtomicU64::new(1),
                state: AtomicI32::new(ChatState::Idle as i32),
            }),
        })
    }

    /// EXTERNAL audio: captured samples in, interleaved at any rate (8-192 kHz) and channel
    /// count (1-8). Converts, detects voice, encodes and sends; never waits on the network.
    pub fn push_capture(
        &self,
        samples: &[f32],
        sample_rate: u32,
        channels: u16,
    ) -> Result<(), VoipError> {
        self.shared
            .media
            .push_capture(samples, sample_rate, channels)
    }

    /// EXTERNAL audio: fills `out` (interleaved) with the call's mix; silence when there is none.
    pub fn pull_playback(
        &self,
        out: &mut [f32],
        sample_rate: u32,
        channels: u16,
    ) -> Result<(), VoipError> {
        self.shared.media.pull_playback(out, sample_rate, channels)
    }

    /// EXTERNAL audio: fills `out` with one member's voice alone (which leaves the mix while
    /// pulled). `Ok(false)` and silence for a member not in the call.
    pub fn pull_member(
        &self,
        open_id: &str,
        out: &mut [f32],
        sample_rate: u32,
        channels: u16,
    ) -> Result<bool, VoipError> {
        self.shared
            .media
            .pull_member(open_id, out, sample_rate, channels)
    }

    /// The speech enhancer run over every remote member's voice ([`VoiceEnhancement`]): from
    /// their next frame on if in a call, and in later calls. Costs CPU per remote speaker on
    /// every frame; off by default.
    pub fn set_voice_enhancement(&self, enhancement: VoiceEnhancement) -> Result<(), VoipError> {
        self.shared.media.set_voice_enhancement(enhancement)
    }

    /// The microphone's processing ([`AudioProcessing`]): echo cancellation, noise
    /// suppression (at a level) and gain control, each on or off; all on by default. Takes
    /// effect on the next 10 ms of capture if in a call, and stays for later calls.
    pub fn set_audio_processing(&self, settings: AudioProcessing) {
        self.shared.media.set_audio_processing(settings)
    }

    pub fn audio_processing(&self) -> AudioProcessing {
        self.shared.media.audio_processing()
    }

    /// The call's statistics as a JSON object: what was sent; per member, packets received,
    /// lost, recovered, late and concealed, and the jitter buffer's delay; under `video`,
    /// frames and keyframes sent and, per member, frames shown and dropped and keyframes asked.
    pub fn stats_json(&self) -> String {
        let mut stats: serde_json::Value =
            serde_json::from_str(&self.shared.media.stats_json()).unwrap_or_default();
        stats["video"] = self.shared.video.stats();
        stats.to_string()
    }

    /// In a video room's call, a camera frame in: scaled to [`ClientConfig::video`]'s size,
    /// encoded and sent to the room. -1006 in a voice room's call, -1005 outside a call.
    pub fn push_video_frame(&self, picture: &Picture) -> Result<(), VoipError> {
        self.shared.video.push_frame(picture)
    }

    /// The latest picture decoded from the member with `open_id`, numbered so an engine can
    /// skip a texture upload when it has not changed; `None` before the first.
    pub fn latest_video_frame(&self, open_id: &str) -> Option<ReceivedFrame> {
        self.shared.video.latest_frame(open_id)
    }

    /// Video room: receive video only from the members in `open_id_list` (empty: from none),
    /// instead of the default, the first two members to publish. `done` hears when the relay
    /// applied it; -1006 in a voice room, -1005 outside a call, -1001 for more than
    /// 64 ids.
    pub fn subscribe_video_members_with(
        &self,
        open_id_list: Vec<String>,
        done: Completion<()>,
    ) -> Result<(), VoipError> {
        if open_id_list.len() > MAX_VIDEO_SUBSCRIPTION {
            done.disarm();
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "subscribe_video_members: {} open ids, at most {MAX_VIDEO_SUBSCRIPTION}",
                    open_id_list.len()
                ),
            ));
        }
        self.send(
            |reply| session::Command::SubscribeVideo(open_id_list, reply),
            done,
        )
    }

    /// [`Client::subscribe_video_members_with`], awaited.
    pub async fn subscribe_video_members(
        &self,
        open_id_list: Vec<String>,
    ) -> Result<(), VoipError> {
        let (completion, result) = Completion::channel();
        self.subscribe_video_members_with(open_id_list, completion)?;
        result.await
    }

    /// Calls `hook` with a member's open id each time a new picture of theirs is decoded (then
    /// [`Client::latest_video_frame`] has it), on the SDK's network task: it must return at
    /// once. `None` removes it. For engines that prefer a push to polling every frame.
    pub fn on_video_frame(&self, hook: Option<FrameHook>) {
        self.shared.video.set_frame_hook(hook);
    }

    pub(crate) fn video(&self) -> Arc<Video> {
        self.shared.video.clone()
    }

    pub(crate) fn media(&self) -> Arc<Media> {
        self.shared.media.clone()
    }

    pub fn state(&self) -> ChatState {
        ChatState::from_i32(self.shared.state.load(Ordering::SeqCst))
    }

    /// Joins (creating it if needed) the room `params.group_id`; resolves to the members now in
    /// it, this user included.
    pub async fn join(&self, params: JoinParams) -> Result<Vec<String>, VoipError> {
        let (completion, result) = Completion::channel();
        self.join_with(params, completion)?;
        result.await
    }

    /// Leaves the room (or abandons a join in progress, which then fails with -3).
    pub async fn exit(&self) -> Result<(), VoipError> {
        let (completion, result) = Completion::channel();
        self.exit_with(completion)?;
        result.await
    }

    /// Changes what is muted, in the room or while joining.
    pub async fn update_mute_config(&self, mute: MuteConfig) -> Result<(), VoipError> {
        let (completion, result) = Completion::channel();
        self.update_mute_config_with(mute, completion)?;
        result.await
    }

    /// Starts a join. An `Err` is returned at once (and `done` is not called) for what can be
    /// told without the network: a bad argument, or a call already in progress. Otherwise
    /// `done` is called exactly once, from the session task, in order with the client's events.
    pub fn join_with(
        &self,
        params: JoinParams,
        done: Completion<Vec<String>>,
    ) -> Result<(), VoipError> {
        let accepted = check_join_params(&params).and_then(|()| self.claim_session());
        let (id, inbox) = match accepted {
            Ok(claimed) => claimed,
            Err(error) => {
                done.disarm();
                return Err(error);
            }
        };
        self.shared.set_state(ChatState::Joining, &params, None);
        let task = session::Session::new(self.shared.clone(), id, params, inbox);
        self.shared.runtime.spawn(task.run(done));
        Ok(())
    }

    /// Takes the client's one session slot, or says why not (-1).
    fn claim_session(&self) -> Result<(u64, mpsc::UnboundedReceiver<session::Command>), VoipError> {
        let mut slot = self.shared.session();
        if slot.as_ref().is_some_and(|s| !s.commands.is_closed()) {
            return Err(VoipError::new(
                ErrorCode::AlreadyInRoom,
                "already in a room or joining one",
            ));
        }
        let id = self.shared.next_session_id.fetch_add(1, Ordering::Relaxed);
        let (commands, inbox) = mpsc::unbounded_channel();
        *slot = Some(SessionHandle { id, commands });
        Ok((id, inbox))
    }

    /// Leaves the room, or abandons a join in progress. Errors as for [`Client::join_with`].
    pub fn exit_with(&self, done: Completion<()>) -> Result<(), VoipError> {
        self.send(session::Command::Exit, done)
    }

    /// Changes what is muted. Errors as for [`Client::join_with`].
    pub fn update_mute_config_with(
        &self,
        mute: MuteConfig,
        done: Completion<()>,
    ) -> Result<(), VoipError> {
        self.send(|reply| session::Command::UpdateMute(mute, reply), done)
    }

    fn send(
        &self,
        command: impl FnOnce(Completion<()>) -> session::Command,
        done: Completion<()>,
    ) -> Result<(), VoipError> {
        let slot = self.shared.session();
        let not_in_room = VoipError::new(ErrorCode::NotInRoom, "not in a room");
        let Some(handle) = slot.as_ref() else {
            done.disarm();
            return Err(not_in_room);
        };
        handle.commands.send(command(done)).map_err(|rejected| {
            // The session ended between our look and the send: answer as if we had looked later.
            let (session::Command::Exit(done)
            | session::Command::UpdateMute(_, done)
            | session::Command::SubscribeVideo(_, done)) = rejected.0;
            done.disarm();
            not_in_room
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropping the command sender tells a running session to leave the room.
        self.shared.session().take();
    }
}

impl ClientShared {
    fn session(&self) -> MutexGuard<'_, Option<SessionHandle>> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frees the seat for the next join, if it still belongs to session `id`. Called before a
    /// session reports its end, so a join from inside that report is accepted.
    fn release(&self, id: u64) {
        let mut slot = self.session();
        if slot.as_ref().is_some_and(|s| s.id == id) {
            *slot = None;
        }
    }

    fn emit(&self, event: Event) {
        (self.events)(event);
    }

    fn set_state(&self, state: ChatState, params: &JoinParams, reason: Option<&VoipError>) {
        self.state.store(state as i32, Ordering::SeqCst);
        let mut data = serde_json::json!({
            "state": state.as_str(),
            "groupId": params.group_id,
            "openId": params.open_id,
        });
        if let Some(reason) = reason {
            data["errCode"] = reason.code.as_i32().into();
            data["errMsg"] = reason.reason.clone().into();
        }
        self.emit(Event::StateChanged {
            state,
            data_json: data.to_string(),
        });
    }
}

/// What can be checked before touching the network; the server checks all of it again.
fn check_join_params(p: &JoinParams) -> Result<(), VoipError> {
    let invalid = |what: String| Err(VoipError::new(ErrorCode::InvalidArgument, what));
    for (name, value) in [
        ("app_id", &p.app_id),
        ("open_id", &p.open_id),
        ("group_id", &p.group_id),
    ] {
        if value.is_empty() {
            return invalid(format!("{name} is required"));
        }
        if value.len() > limits::ID_MAX_BYTES {
            return invalid(format!(
                "{name} is longer than {} bytes",
                limits::ID_MAX_BYTES
            ));
        }
    }
    let nonce_chars = p.nonce_str.chars().count();
    if nonce_chars == 0 {
        return invalid("nonce_str is required".into());
    }
    if nonce_chars > limits::NONCE_MAX_CHARS {
        return invalid(format!(
            "nonce_str must be shorter than {} characters",
            limits::NONCE_MAX_CHARS + 1
        ));
    }
    if p.signature.is_empty() {
        return invalid("signature is required".into());
    }
    if p.signature.len() > limits::SIGNATURE_MAX_BYTES {
        return invalid("signature is too long".into());
    }
    Ok(())
}
