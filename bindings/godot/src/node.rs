//! The `VoipChat` node: GDScript's face of a voipchat `Client`.
//!
//! Threads: the node owns a small tokio runtime on which the client's session runs. The SDK
//! reports results and events from that runtime into a channel; `_process` drains it on the
//! main thread and emits the signals there. Audio is moved in `_process` too (see `pump.rs`),
//! so no Godot object is touched from another thread and Godot's audio thread never waits on
//! the SDK. Video likewise: `push_video_frame` sends on the caller's thread (the main thread,
//! about 2 ms a frame), and `_process` updates each member's `ImageTexture` when, and only
//! when, that member's picture changed.

use std::sync::{mpsc, Arc};

use godot::builtin::{
    AnyDictionary, Color, GString, PackedByteArray, PackedStringArray, PackedVector2Array,
    StringName, VarDictionary, Vector2,
};
use godot::classes::image::Format;
use godot::classes::node::InternalMode;
use godot::classes::{
    AudioEffectCapture, AudioServer, AudioStreamGenerator, AudioStreamGeneratorPlayback,
    AudioStreamMicrophone, AudioStreamPlayer, AudioStreamPlayer2D, AudioStreamPlayer3D, Engine,
    INode, Image, ImageTexture, Node, ProjectSettings,
};
use godot::global::{godot_error, godot_print, godot_warn};
use godot::obj::{Base, Gd, NewAlloc, NewGd, Singleton, WithBaseField, WithUserSignals};
use godot::prelude::{godot_api, GodotClass};
use voipchat::log::{LogLevel, Logger};
use voipchat::{
    AudioProcessing, ChatState, ErrorCode, NoiseSuppression, VoiceEnhancement, VoipError,
};

use crate::calls::Calls;
use crate::convert;
use crate::options::NodeSettings;
use crate::outcome::{self, Emission};
use crate::pump::{self, GeneratorFill};
use crate::value::Value;
use crate::video::WatchedVideo;

/// The size of a member's texture before its first picture: the SDK's send size, so a layout
/// made around it does not jump when the picture arrives. Opaque black.
const VIDEO_PLACEHOLDER: (i32, i32) = (640, 360);

/// Seconds of microphone audio the capture effect holds: room for slow frames, not latency
/// (the buffer is drained every frame).
const CAPTURE_BUFFER_S: f32 = 0.5;

/// Seconds the playback generators can hold; the node fills them only to
/// `playback_latency_ms`.
const GENERATOR_BUFFER_S: f32 = 0.25;

/// Voice chat for a Godot game, after WeChat's `wx.joinVoIPChat`: `join`, `exit`,
/// `update_mute_config`, and signals for results and events, all on the main thread.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct VoipChat {
    base: Base<Node>,

    /// Relay address, `host:port`; a join's `server` key overrides it.
    #[export]
    server: GString,
    /// Lowercase hex SHA-256 of the relay's certificate (what `voipchat-server` prints as
    /// `cert-sha256`); empty trusts the system's roots. A join's `serverCertSha256` overrides it.
    #[export]
    server_cert_sha256: GString,
    /// The game's app id, used when a join leaves out `appId`.
    #[export]
    app_id: GString,
    /// Voice frame length in milliseconds: 10 or 20.
    #[export(enum = (Ten = 10, Twenty = 20))]
    frame_ms: i64,
    /// Capture the microphone (through `capture_bus`) while in a call. Needs the project
    /// setting `audio/driver/enable_input`. Read in `_ready`.
    #[export]
    microphone: bool,
    /// The bus the microphone plays into; created muted, with an `AudioEffectCapture`, when
    /// missing. Read in `_ready`.
    #[export]
    capture_bus: StringName,
    /// Play the call's mix (every member not attached with `attach_member`). Read in `_ready`.
    #[export]
    playback: bool,
    /// The bus the mix plays on. Read in `_ready`.
    #[export]
    playback_bus: StringName,
    /// How far ahead of Godot's audio thread playback is kept, in milliseconds (at least two
    /// frame times).
    #[export(range = (20.0, 500.0, 1.0))]
    playback_latency_ms: f64,
    /// SDK messages printed to Godot's output: 0 errors, 1 warnings, 2 info, 3 debug; -1 none.
    #[export(range = (-1.0, 3.0, 1.0))]
    log_level: i64,

    core: Core,
}

/// The node's Rust-side state.
struct Core {
    calls: Calls,
    logs: mpsc::Receiver<(LogLevel, String)>,
    log_sender: mpsc::Sender<(LogLevel, String)>,
    audio: Option<Audio>,
    /// The members whose video the game shows, and their textures (same order, same ids).
    video: WatchedVideo,
    textures: Vec<(String, Gd<ImageTexture>)>,
}

/// The node's audio objects, made in `_ready` (never in the editor).
struct Audio {
    rate: f32,
    capture: Option<Capture>,
    mix: Option<Generator>,
    members: Vec<(String, Generator)>,
    samples: Vec<f32>,
}

struct Capture {
    effect: Gd<AudioEffectCapture>,
    player: Gd<AudioStreamPlayer>,
}

/// A player fed from an `AudioStreamGenerator`.
struct Generator {
    player: Player,
    playback: Gd<AudioStreamGeneratorPlayback>,
    fill: GeneratorFill,
}

/// The three kinds of stream player a member's voice can go to.
#[derive(Clone)]
enum Player {
    Plain(Gd<AudioStreamPlayer>),
    Flat(Gd<AudioStreamPlayer2D>),
    Spatial(Gd<AudioStreamPlayer3D>),
}

macro_rules! each_player {
    ($player:expr, $p:ident => $body:expr) => {
        match $player {
            Player::Plain($p) => $body,
            Player::Flat($p) => $body,
            Player::Spatial($p) => $body,
        }
    };
}

impl Player {
    fn from_node(node: Gd<Node>) -> Option<Player> {
        let node = match node.try_cast::<AudioStreamPlayer3D>() {
            Ok(p) => return Some(Player::Spatial(p)),
            Err(node) => node,
        };
        let node = match node.try_cast::<AudioStreamPlayer2D>() {
            Ok(p) => return Some(Player::Flat(p)),
            Err(node) => node,
        };
        node.try_cast::<AudioStreamPlayer>().ok().map(Player::Plain)
    }

    fn is_valid(&self) -> bool {
        each_player!(self, p => p.is_instance_valid())
    }

    /// Gives the player a generator stream at `rate`, starts it, and returns its playback.
    fn start_generator(&mut self, rate: f32) -> Option<Generator> {
        let mut stream = AudioStreamGenerator::new_gd();
        stream.set_mix_rate(rate);
        stream.set_buffer_length(GENERATOR_BUFFER_S);
        let playback = each_player!(self, p => {
            p.set_stream(&stream);
            p.play();
            p.get_stream_playback()
        });
        let playback = playback?.try_cast::<AudioStreamGeneratorPlayback>().ok()?;
        Some(Generator {
            player: self.clone(),
            playback,
            fill: GeneratorFill::default(),
        })
    }

    fn stop(&mut self) {
        if self.is_valid() {
            each_player!(self, p => p.stop());
        }
    }
}

impl Generator {
    /// Tops the generator up to the latency target with what `render` writes (interleaved
    /// stereo, or mono when `mono`).
    fn feed(
        &mut self,
        rate: f32,
        latency_ms: f64,
        delta: f64,
        samples: &mut Vec<f32>,
        mono: bool,
        render: impl FnOnce(&mut [f32]),
    ) {
        let free = usize::try_from(self.playback.get_frames_available()).unwrap_or(0);
        let frames = self
            .fill
            .frames_to_push(free, f64::from(rate), latency_ms, delta);
        if frames == 0 {
            return;
        }
        samples.clear();
        samples.resize(if mono { frames } else { frames * 2 }, 0.0);
        render(samples);
        let buffer: PackedVector2Array = if mono {
            pump::mono_frames(samples)
                .map(|(l, r)| Vector2::new(l, r))
                .collect()
        } else {
            pump::frames(samples)
                .map(|(l, r)| Vector2::new(l, r))
                .collect()
        };
        self.playback.push_buffer(&buffer);
    }
}

#[godot_api]
impl INode for VoipChat {
    fn init(base: Base<Node>) -> Self {
        let (log_sender, logs) = mpsc::channel();
        Self {
            base,
            server: GString::new(),
            server_cert_sha256: GString::new(),
            app_id: GString::new(),
            frame_ms: 20,
            microphone: true,
            capture_bus: StringName::from("VoipCapture"),
            playback: true,
            playback_bus: StringName::from("Master"),
            playback_latency_ms: 60.0,
            log_level: 1,
            core: Core {
                calls: Calls::new(),
                logs,
                log_sender,
                audio: None,
                video: WatchedVideo::default(),
                textures: Vec::new(),
            },
        }
    }

    fn ready(&mut self) {
        if Engine::singleton().is_editor_hint() || self.core.audio.is_some() {
            return;
        }
        let rate = AudioServer::singleton().get_mix_rate();
        let capture = if self.microphone {
            self.make_capture()
        } else {
            None
        };
        let mix = if self.playback {
            let mut player = AudioStreamPlayer::new_alloc();
            player.set_name("VoipPlayback");
            player.set_bus(&self.playback_bus);
            self.add_internal_child(&player);
            Player::Plain(player).start_generator(rate)
        } else {
            None
        };
        self.core.audio = Some(Audio {
            rate,
            capture,
            mix,
            members: Vec::new(),
            samples: Vec::new(),
        });
    }

    fn process(&mut self, delta: f64) {
        self.print_logs();

        // Take everything queued, and update what the node knows, before running any GDScript:
        // a handler may call back into the node (join again, leave, free it).
        let queued = self.core.calls.drain();
        self.sync_microphone();
        self.pump_audio(delta);
        self.update_video_textures();

        for message in queued {
            for emission in outcome::emissions(message) {
                self.emit(emission);
            }
        }
    }
}

#[godot_api]
impl VoipChat {
    /// A join succeeded: the members now in the room, this player included.
    #[signal]
    fn join_succeeded(open_id_list: PackedStringArray);
    /// A join failed: WeChat's code (-1, -2, -3, -1000) or ours (-1001 ... -1012), and
    /// "joinVoIPChat:fail <reason>".
    #[signal]
    fn join_failed(err_code: i64, err_msg: GString);
    /// After join_succeeded or join_failed: `{errCode, errMsg[, openIdList]}`. Await it.
    #[signal]
    fn join_completed(result: VarDictionary);
    /// The result of `exit()`: `{errCode, errMsg}`.
    #[signal]
    fn exit_completed(result: VarDictionary);
    /// The result of `update_mute_config()`: `{errCode, errMsg}`.
    #[signal]
    fn update_mute_config_completed(result: VarDictionary);
    /// Everyone still in the call, after someone joined or left.
    #[signal]
    fn members_changed(open_id_list: PackedStringArray);
    /// The members speaking now.
    #[signal]
    fn speakers_changed(open_id_list: PackedStringArray);
    /// The call was lost without `exit()`: the seat could not be resumed (-1004), the same
    /// openId joined elsewhere (-1008), the server shut down (-1009), or the relay node
    /// stopped answering (-1011: rejoin through the backend, which places the room anew).
    #[signal]
    fn interrupted(err_code: i64, err_msg: GString);
    /// The call's state moved (a STATE_* code), with `{state, groupId, openId[, errCode,
    /// errMsg]}`.
    #[signal]
    fn state_changed(code: i64, data: VarDictionary);
    /// The result of `subscribe_video_members()`: `{errCode, errMsg}`.
    #[signal]
    fn subscribe_video_members_completed(result: VarDictionary);
    /// Video room: the members publishing video now, in the order they started (a member
    /// publishes while it pushes frames, and stops about a second after its last).
    #[signal]
    fn video_members_changed(open_id_list: PackedStringArray);

    #[constant]
    const STATE_IDLE: i64 = ChatState::Idle as i64;
    #[constant]
    const STATE_JOINING: i64 = ChatState::Joining as i64;
    #[constant]
    const STATE_JOINED: i64 = ChatState::Joined as i64;
    #[constant]
    const STATE_RECONNECTING: i64 = ChatState::Reconnecting as i64;
    #[constant]
    const STATE_LEFT: i64 = ChatState::Left as i64;
    #[constant]
    const ENHANCEMENT_OFF: i64 = VoiceEnhancement::Off as i64;
    #[constant]
    const ENHANCEMENT_LIGHT: i64 = VoiceEnhancement::Light as i64;
    #[constant]
    const ENHANCEMENT_STRONG: i64 = VoiceEnhancement::Strong as i64;
    #[constant]
    const NOISE_SUPPRESSION_OFF: i64 = NoiseSuppression::Off as i64;
    #[constant]
    const NOISE_SUPPRESSION_LOW: i64 = NoiseSuppression::Low as i64;
    #[constant]
    const NOISE_SUPPRESSION_MODERATE: i64 = NoiseSuppression::Moderate as i64;
    #[constant]
    const NOISE_SUPPRESSION_HIGH: i64 = NoiseSuppression::High as i64;
    #[constant]
    const NOISE_SUPPRESSION_VERY_HIGH: i64 = NoiseSuppression::VeryHigh as i64;

    /// Joins (creating it if needed) the room `groupId`. Keys: appId, openId, groupId,
    /// nonceStr, timeStamp, signature (from your backend), roomType ("voice" or "video"),
    /// muteConfig {muteMicrophone, muteEarphone}, and optionally server, serverCertSha256,
    /// frameMs (else the node's properties). The outcome always arrives later, as
    /// join_succeeded or join_failed, then join_completed; never during this call.
    #[func]
    fn join(&mut self, options: AnyDictionary) {
        let settings = self.settings();
        let logger = self.logger();
        self.core
            .calls
            .join(&convert::dictionary_to_value(&options), &settings, logger);
    }

    /// Leaves the room, or abandons a join in progress (which then fails with -3).
    #[func]
    fn exit(&mut self) {
        self.core.calls.exit();
    }

    /// WeChat's `{"muteConfig": {"muteMicrophone": bool, "muteEarphone": bool}}`, or the inner
    /// dictionary alone. A key left out means not muted.
    #[func]
    fn update_mute_config(&mut self, options: AnyDictionary) {
        self.core
            .calls
            .update_mute_config(&convert::dictionary_to_value(&options));
    }

    /// A speech enhancer over every remote member's voice: ENHANCEMENT_OFF (the default),
    /// ENHANCEMENT_LIGHT or ENHANCEMENT_STRONG. Clearer speech on clean and lossy links alike,
    /// for CPU on every frame of every remote speaker: for one-to-one calls and small squads.
    /// Takes effect on each member's next frame, and stays for later joins. False (and an
    /// error printed) for any other value.
    #[func]
    fn set_voice_enhancement(&mut self, level: i64) -> bool {
        let level_i32 = i32::try_from(level).unwrap_or(-1);
        let applied = VoiceEnhancement::from_level(level_i32)
            .and_then(|enhancement| self.core.calls.set_voice_enhancement(enhancement));
        match applied {
            Ok(()) => true,
            Err(e) => {
                godot_error!("VoipChat.set_voice_enhancement({level}): {}", e.reason);
                false
            }
        }
    }

    /// The speech enhancer in force, one of the ENHANCEMENT_* constants.
    #[func]
    fn get_voice_enhancement(&self) -> i64 {
        self.core.calls.voice_enhancement() as i64
    }

    /// The microphone's processing before it is sent: echo cancellation (what the node plays,
    /// the mix and every attached member, is removed from the microphone), noise suppression
    /// at a NOISE_SUPPRESSION_* level, and automatic gain control. All on by default, noise
    /// suppression moderate. From the next 10 ms of capture, and for later joins. False (and
    /// an error printed) for a level out of range.
    #[func]
    fn set_audio_processing(
        &mut self,
        echo_cancellation: bool,
        noise_suppression: i64,
        gain_control: bool,
    ) -> bool {
        let level = i32::try_from(noise_suppression).unwrap_or(-1);
        let Some(noise_suppression) = NoiseSuppression::from_level(level) else {
            godot_error!(
                "VoipChat.set_audio_processing: noise_suppression {noise_suppression} is not a \
                 NOISE_SUPPRESSION_* level (0 to 4)"
            );
            return false;
        };
        self.core.calls.set_audio_processing(AudioProcessing {
            echo_cancellation,
            noise_suppression,
            gain_control,
        });
        true
    }

    /// The processing in force: {echo_cancellation: bool, noise_suppression: int (a
    /// NOISE_SUPPRESSION_* level), gain_control: bool}.
    #[func]
    fn get_audio_processing(&self) -> VarDictionary {
        let p = self.core.calls.audio_processing();
        convert::value_to_dictionary(&Value::dict([
            ("echo_cancellation", Value::Bool(p.echo_cancellation)),
            (
                "noise_suppression",
                Value::Int(i64::from(p.noise_suppression.level())),
            ),
            ("gain_control", Value::Bool(p.gain_control)),
        ]))
    }

    /// The call's state, one of the STATE_* constants, as of the last signal.
    #[func]
    fn get_state(&self) -> i64 {
        self.core.calls.view().state as i64
    }

    /// True between joined and left (including while reconnecting).
    #[func]
    fn is_in_call(&self) -> bool {
        self.core.calls.view().in_call()
    }

    /// The members in the call, as of the last signal.
    #[func]
    fn get_members(&self) -> PackedStringArray {
        convert::strings(&self.core.calls.view().members)
    }

    /// The members speaking, as of the last speakers_changed.
    #[func]
    fn get_speakers(&self) -> PackedStringArray {
        convert::strings(&self.core.calls.view().speakers)
    }

    #[func]
    fn is_speaking(&self, open_id: GString) -> bool {
        let open_id = open_id.to_string();
        self.core.calls.view().speakers.contains(&open_id)
    }

    /// The call's statistics: packets sent; per member, received, lost, recovered, late,
    /// concealed, and the jitter buffer's delay. Empty before the first join.
    #[func]
    fn get_stats(&self) -> VarDictionary {
        convert::value_to_dictionary(&self.core.calls.stats())
    }

    /// Plays `open_id`'s voice alone through `player` (an AudioStreamPlayer3D for positional
    /// voice, or an AudioStreamPlayer2D / AudioStreamPlayer), taking it out of the mix. The
    /// node gives the player a generator stream and feeds it every frame. False if `player` is
    /// not a stream player.
    #[func]
    fn attach_member(&mut self, open_id: GString, player: Gd<Node>) -> bool {
        let Some(audio) = self.core.audio.as_mut() else {
            godot_warn!("VoipChat.attach_member: the node is not ready (call it after _ready)");
            return false;
        };
        let Some(mut player) = Player::from_node(player) else {
            godot_error!(
                "VoipChat.attach_member: the player must be an AudioStreamPlayer, 2D or 3D"
            );
            return false;
        };
        let open_id = open_id.to_string();
        audio.detach(&open_id);
        match player.start_generator(audio.rate) {
            Some(generator) => {
                audio.members.push((open_id, generator));
                true
            }
            None => {
                godot_error!("VoipChat.attach_member: the player gave no generator playback (is it inside the tree?)");
                false
            }
        }
    }

    /// Stops feeding `open_id`'s player; their voice returns to the mix.
    #[func]
    fn detach_member(&mut self, open_id: GString) {
        if let Some(audio) = self.core.audio.as_mut() {
            audio.detach(&open_id.to_string());
        }
    }

    /// Video room: sends one camera frame (any size up to 1920x1080, any format Godot can
    /// convert to RGBA8; the image is not changed), scaled to 640x360, encoded (VP8) and sent
    /// at once, in about 2 ms. Call it at the camera's rate (at most 30 a second). Returns 0;
    /// -1001 for an image that cannot be sent (empty, too small or too large; a warning says
    /// why), -1006 in a voice room, -1005 outside a call.
    #[func]
    fn push_video_frame(&mut self, image: Option<Gd<Image>>) -> i64 {
        let pushed = image
            .ok_or_else(|| invalid_image("the image is null"))
            .and_then(|image| rgba8(&image))
            .and_then(|image| {
                let (width, height) = (image.get_width(), image.get_height());
                let data = image.get_data();
                self.core.calls.push_video_frame(
                    u32::try_from(width).unwrap_or(0),
                    u32::try_from(height).unwrap_or(0),
                    data.as_slice(),
                )
            });
        match pushed {
            Ok(()) => 0,
            Err(e) => {
                if e.code == ErrorCode::InvalidArgument {
                    godot_warn!("VoipChat.push_video_frame: {}", e.reason);
                }
                i64::from(e.code.as_i32())
            }
        }
    }

    /// Video room: `open_id`'s video as a texture the node keeps up to date, uploading in
    /// `_process` only when the member's picture changed (RGBA8, 640x360 unless the sender
    /// was configured otherwise). Opaque black until the first picture; it keeps the last
    /// picture when the member stops. The same texture on every call for the same member.
    #[func]
    fn get_video_texture(&mut self, open_id: GString) -> Gd<ImageTexture> {
        let open_id = open_id.to_string();
        if let Some((_, texture)) = self.core.textures.iter().find(|(id, _)| *id == open_id) {
            return texture.clone();
        }
        let (width, height) = VIDEO_PLACEHOLDER;
        let texture = Image::create(width, height, false, Format::RGBA8)
            .and_then(|mut black| {
                black.fill(Color::BLACK);
                ImageTexture::create_from_image(&black)
            })
            .unwrap_or_else(ImageTexture::new_gd);
        self.core.video.watch(&open_id);
        self.core.textures.push((open_id, texture.clone()));
        texture
    }

    /// Stops updating `open_id`'s texture (the texture itself lives on while referenced).
    #[func]
    fn release_video_texture(&mut self, open_id: GString) {
        let open_id = open_id.to_string();
        self.core.video.unwatch(&open_id);
        self.core.textures.retain(|(id, _)| *id != open_id);
    }

    /// Video room: `open_id`'s latest picture as a new RGBA8 Image, or null before the first
    /// (or outside a call). For a texture, `get_video_texture` does less work.
    #[func]
    fn get_video_frame(&self, open_id: GString) -> Option<Gd<Image>> {
        let frame = self.core.calls.latest_video_frame(&open_id.to_string())?;
        let mut rgba = Vec::new();
        frame.picture.to_rgba(&mut rgba);
        let width = i32::try_from(frame.picture.width()).ok()?;
        let height = i32::try_from(frame.picture.height()).ok()?;
        Image::create_from_data(
            width,
            height,
            false,
            Format::RGBA8,
            &PackedByteArray::from(rgba.as_slice()),
        )
    }

    /// The number of `open_id`'s latest picture (0: none yet); each decoded picture numbers
    /// one more, so a game can tell whether there is a new one.
    #[func]
    fn get_video_sequence(&self, open_id: GString) -> i64 {
        self.core
            .calls
            .latest_video_frame(&open_id.to_string())
            .map_or(0, |frame| i64::try_from(frame.sequence).unwrap_or(i64::MAX))
    }

    /// WeChat's `subscribeVoIPVideoMembers`: in a video room, receive video only from these
    /// members (an empty list: from none) instead of the default, the first two to publish.
    /// The outcome arrives later as subscribe_video_members_completed: errCode 0 once the
    /// relay applied it, -1006 in a voice room, -1005 outside a call, -1001 for more than 64.
    #[func]
    fn subscribe_video_members(&mut self, open_id_list: PackedStringArray) {
        let list = open_id_list
            .as_slice()
            .iter()
            .map(|id| id.to_string())
            .collect();
        self.core.calls.subscribe_video_members(list);
    }

    /// Video room: the members publishing video, as of the last video_members_changed.
    #[func]
    fn get_video_members(&self) -> PackedStringArray {
        convert::strings(&self.core.calls.view().video_members)
    }
}

fn invalid_image(reason: &str) -> VoipError {
    VoipError::new(
        ErrorCode::InvalidArgument,
        format!("push_video_frame: {reason}"),
    )
}

/// `image` itself when it is RGBA8 already, else an RGBA8 copy (decompressed first if need be).
fn rgba8(image: &Gd<Image>) -> Result<Gd<Image>, VoipError> {
    if image.is_empty() {
        return Err(invalid_image("the image is empty"));
    }
    if image.get_format() == Format::RGBA8 && !image.is_compressed() {
        return Ok(image.clone());
    }
    let mut copy = image.duplicate_resource();
    if copy.is_compressed() && copy.decompress() != godot::global::Error::OK {
        return Err(invalid_image(&format!(
            "the image's format {:?} cannot be decompressed",
            copy.get_format()
        )));
    }
    copy.convert(Format::RGBA8);
    Ok(copy)
}

impl Audio {
    fn detach(&mut self, open_id: &str) {
        self.members.retain_mut(|(id, generator)| {
            let keep = id != open_id;
            if !keep {
                generator.player.stop();
            }
            keep
        });
    }
}

impl VoipChat {
    fn settings(&self) -> NodeSettings {
        NodeSettings {
            server: self.server.to_string(),
            server_cert_sha256: self.server_cert_sha256.to_string(),
            app_id: self.app_id.to_string(),
            frame_ms: self.frame_ms,
        }
    }

    /// SDK log lines go through a channel: they are printed on the main thread.
    fn logger(&self) -> Logger {
        let max = match self.log_level {
            i64::MIN..=-1 => return Logger::default(),
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        let sender = self.core.log_sender.clone();
        Logger::new(Some(Arc::new(move |level, message: &str| {
            if level <= max {
                let _ = sender.send((level, message.to_owned()));
            }
        })))
    }

    fn print_logs(&self) {
        while let Ok((level, message)) = self.core.logs.try_recv() {
            match level {
                LogLevel::Error => godot_error!("voipchat: {message}"),
                LogLevel::Warn => godot_warn!("voipchat: {message}"),
                _ => godot_print!("voipchat {level}: {message}"),
            }
        }
    }

    /// Adds one of the node's own players: internal, so it stays out of `get_children()` and is
    /// never saved with the scene.
    fn add_internal_child(&mut self, player: &Gd<AudioStreamPlayer>) {
        self.base_mut()
            .add_child_ex(player)
            .internal(InternalMode::BACK)
            .done();
    }

    /// The microphone bus: found by name or made (muted, so players do not hear themselves),
    /// with an `AudioEffectCapture` on it, and a player streaming the microphone into it.
    fn make_capture(&mut self) -> Option<Capture> {
        let input_enabled = ProjectSettings::singleton()
            .get_setting("audio/driver/enable_input")
            .try_to::<bool>()
            .unwrap_or(false);
        if !input_enabled {
            godot_warn!(
                "VoipChat: the project setting audio/driver/enable_input is off, so the \
                 microphone is silent; turn it on (Project Settings > Audio > Driver)"
            );
        }
        let mut server = AudioServer::singleton();
        let mut bus = server.get_bus_index(&self.capture_bus);
        if bus < 0 {
            server.add_bus();
            bus = server.get_bus_count() - 1;
            server.set_bus_name(bus, &self.capture_bus.to_string());
            server.set_bus_mute(bus, true);
        }
        let existing = (0..server.get_bus_effect_count(bus)).find_map(|i| {
            server
                .get_bus_effect(bus, i)
                .and_then(|e| e.try_cast::<AudioEffectCapture>().ok())
        });
        let effect = match existing {
            Some(effect) => effect,
            None => {
                let mut effect = AudioEffectCapture::new_gd();
                effect.set_buffer_length(CAPTURE_BUFFER_S);
                server.add_bus_effect(bus, &effect);
                effect
            }
        };
        let mut player = AudioStreamPlayer::new_alloc();
        player.set_name("VoipMicrophone");
        player.set_stream(&AudioStreamMicrophone::new_gd());
        player.set_bus(&self.capture_bus);
        self.add_internal_child(&player);
        Some(Capture { effect, player })
    }

    /// The microphone is open only while in a call.
    fn sync_microphone(&mut self) {
        let in_call = self.core.calls.view().in_call();
        let Some(capture) = self.core.audio.as_mut().and_then(|a| a.capture.as_mut()) else {
            return;
        };
        if !capture.player.is_instance_valid() {
            return;
        }
        if in_call && !capture.player.is_playing() {
            capture.effect.clear_buffer();
            capture.player.play();
        } else if !in_call && capture.player.is_playing() {
            capture.player.stop();
        }
    }

    /// Microphone into the SDK; the mix and attached members out of it.
    fn pump_audio(&mut self, delta: f64) {
        let latency_ms = self.playback_latency_ms;
        let Some(audio) = self.core.audio.as_mut() else {
            return;
        };
        let client = self.core.calls.client_in_call();
        let rate = audio.rate;
        let sample_rate = rate.round() as u32;

        if let Some(capture) = audio.capture.as_mut() {
            let available = capture.effect.get_frames_available();
            if available > 0 {
                match client {
                    Some(client) => {
                        let frames = capture.effect.get_buffer(available);
                        pump::interleave(
                            frames.as_slice().iter().map(|v| (v.x, v.y)),
                            &mut audio.samples,
                        );
                        if let Err(e) = client.push_capture(&audio.samples, sample_rate, 2) {
                            godot_error!("VoipChat: microphone audio rejected: {e}");
                        }
                    }
                    None => capture.effect.clear_buffer(),
                }
            }
        }

        let Some(client) = client else {
            return;
        };
        audio.members.retain(|(_, g)| g.player.is_valid());
        for (open_id, generator) in audio.members.iter_mut() {
            generator.feed(rate, latency_ms, delta, &mut audio.samples, true, |out| {
                let _ = client.pull_member(open_id, out, sample_rate, 1);
            });
        }
        if let Some(mix) = audio.mix.as_mut() {
            mix.feed(rate, latency_ms, delta, &mut audio.samples, false, |out| {
                let _ = client.pull_playback(out, sample_rate, 2);
            });
        }
    }

    /// Uploads each shown member's picture that changed since the last frame.
    fn update_video_textures(&mut self) {
        let core = &mut self.core;
        if core.textures.is_empty() {
            return;
        }
        let calls = &core.calls;
        let changed = core
            .video
            .refresh(|open_id| calls.latest_video_frame(open_id));
        for (open_id, video) in changed {
            let Some((_, texture)) = core.textures.iter_mut().find(|(id, _)| id == open_id) else {
                continue;
            };
            let (Ok(width), Ok(height)) = (i32::try_from(video.width), i32::try_from(video.height))
            else {
                continue;
            };
            let data = PackedByteArray::from(video.rgba.as_slice());
            let Some(image) = Image::create_from_data(width, height, false, Format::RGBA8, &data)
            else {
                continue;
            };
            let same_size = texture.get_width() == width
                && texture.get_height() == height
                && texture.get_format() == Format::RGBA8;
            if same_size {
                texture.update(&image);
            } else {
                texture.set_image(&image);
            }
        }
    }

    fn emit(&mut self, emission: Emission) {
        let strings = |list: &[String]| convert::strings(list);
        let dictionary = |value: &Value| convert::value_to_dictionary(value);
        match emission {
            Emission::JoinSucceeded { open_id_list } => self
                .signals()
                .join_succeeded()
                .emit(&strings(&open_id_list)),
            Emission::JoinFailed { err_code, err_msg } => self
                .signals()
                .join_failed()
                .emit(err_code, &GString::from(err_msg.as_str())),
            Emission::JoinCompleted { result } => {
                self.signals().join_completed().emit(&dictionary(&result))
            }
            Emission::ExitCompleted { result } => {
                self.signals().exit_completed().emit(&dictionary(&result))
            }
            Emission::UpdateMuteConfigCompleted { result } => self
                .signals()
                .update_mute_config_completed()
                .emit(&dictionary(&result)),
            Emission::MembersChanged { open_id_list } => self
                .signals()
                .members_changed()
                .emit(&strings(&open_id_list)),
            Emission::SpeakersChanged { open_id_list } => self
                .signals()
                .speakers_changed()
                .emit(&strings(&open_id_list)),
            Emission::SubscribeVideoMembersCompleted { result } => self
                .signals()
                .subscribe_video_members_completed()
                .emit(&dictionary(&result)),
            Emission::VideoMembersChanged { open_id_list } => self
                .signals()
                .video_members_changed()
                .emit(&strings(&open_id_list)),
            Emission::Interrupted { err_code, err_msg } => self
                .signals()
                .interrupted()
                .emit(err_code, &GString::from(err_msg.as_str())),
            Emission::StateChanged { code, data } => self
                .signals()
                .state_changed()
                .emit(code, &dictionary(&data)),
        }
    }
}
