//! The process-wide SDK behind `voip_init`: a hidden tokio runtime, one `Client`, and the
//! dispatcher its callbacks go through. The entry points here only translate to the Rust API.
//!
//! Locking: `SDK` is held only to read or swap the state and to hand a call to the client
//! (which never blocks); callbacks run later from the dispatcher, never under it.

use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::dispatch::{Dispatcher, Job};
use super::strings;
use super::types::*;
use super::{catch, set_last_error, status_code};
use crate::audio::codec::VoiceEnhancement;
use crate::audio::processing::{AudioProcessing, NoiseSuppression};
use crate::client::{
    AudioConfig, AudioMode, ChatState, Client, ClientConfig, Completion, Event, JoinParams,
};
use crate::error::{ErrorCode, VoipError};
use crate::log::{LogLevel, Logger};
use crate::net::tls::Liveness;
use crate::types::{MuteConfig, RoomType};

pub(crate) struct Sdk {
    runtime: tokio::runtime::Runtime,
    pub(crate) client: Client,
    dispatcher: Arc<Dispatcher>,
    poll_mode: bool,
}

static SDK: Mutex<Option<Sdk>> = Mutex::new(None);

fn sdk() -> MutexGuard<'static, Option<Sdk>> {
    SDK.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a call that needs the SDK answers before `voip_init` or after `voip_shutdown`.
pub(crate) fn not_initialized() -> VoipError {
    VoipError::new(
        ErrorCode::InvalidArgument,
        "not initialized: call voip_init first",
    )
}

/// A caller's `user_data`, carried to the thread that runs its callback. The SDK never
/// dereferences it; the caller owns what it points to.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: an opaque value handed back to the caller's own callbacks, never dereferenced here.
unsafe impl Send for UserData {}
// SAFETY: as above; shared only to be copied into jobs.
unsafe impl Sync for UserData {}

struct Listener<F> {
    callback: F,
    user_data: UserData,
}

/// Event listeners live apart from the SDK state: they may be set before `voip_init` and stay
/// set across `voip_shutdown`.
struct Listeners {
    members: Listener<VoipResultFn>,
    speakers: Listener<VoipResultFn>,
    video_members: Listener<VoipResultFn>,
    interrupted: Listener<VoipResultFn>,
    state: Listener<VoipStateFn>,
}

static LISTENERS: Mutex<Listeners> = Mutex::new(Listeners {
    members: Listener {
        callback: None,
        user_data: UserData(std::ptr::null_mut()),
    },
    speakers: Listener {
        callback: None,
        user_data: UserData(std::ptr::null_mut()),
    },
    video_members: Listener {
        callback: None,
        user_data: UserData(std::ptr::null_mut()),
    },
    interrupted: Listener {
        callback: None,
        user_data: UserData(std::ptr::null_mut()),
    },
    state: Listener {
        callback: None,
        user_data: UserData(std::ptr::null_mut()),
    },
});

fn listeners() -> MutexGuard<'static, Listeners> {
    LISTENERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Calls `f` with a `VoipResult` whose strings live for the duration of the call.
fn with_result(code: i32, message: &str, open_ids: &[String], f: impl FnOnce(*const VoipResult)) {
    let message = strings::c_string(message);
    let ids: Vec<CString> = open_ids.iter().map(|id| strings::c_string(id)).collect();
    let pointers: Vec<*const c_char> = ids.iter().map(|id| id.as_ptr()).collect();
    let result = VoipResult {
        err_code: code,
        err_msg: message.as_ptr(),
        open_id_list: if pointers.is_empty() {
            std::ptr::null()
        } else {
            pointers.as_ptr()
        },
        open_id_count: pointers.len(),
    };
    f(&result);
}

/// The job that reports a call's outcome: success or fail, then complete, with one result.
fn result_job(
    api: &'static str,
    callbacks: VoipCallbacks,
    user_data: UserData,
    outcome: Result<Vec<String>, VoipError>,
) -> Job {
    Box::new(move || {
        let (code, message, list) = match outcome {
            Ok(list) => (VOIP_OK, format!("{api}:ok"), list),
            Err(e) => (
                e.code.as_i32(),
                format!("{api}:fail {}", e.reason),
                Vec::new(),
            ),
        };
        let user_data = user_data;
        with_result(code, &message, &list, |result| {
            let first = if code == VOIP_OK {
                callbacks.success
            } else {
                callbacks.fail
            };
            // SAFETY: the caller registered these callbacks for this call and its user_data.
            unsafe {
                if let Some(f) = first {
                    f(result, user_data.0);
                }
                if let Some(f) = callbacks.complete {
                    f(result, user_data.0);
                }
            }
        });
    })
}

fn event_job(event: Event) -> Job {
    Box::new(move || match event {
        Event::MembersChanged(list) => notify(
            |l| &l.members,
            VOIP_OK,
            "onVoIPChatMembersChanged:ok",
            &list,
        ),
        Event::SpeakersChanged(list) => notify(
            |l| &l.speakers,
            VOIP_OK,
            "onVoIPChatSpeakersChanged:ok",
            &list,
        ),
        Event::VideoMembersChanged(list) => notify(
            |l| &l.video_members,
            VOIP_OK,
            "onVoIPVideoMembersChanged:ok",
            &list,
        ),
        Event::Interrupted(e) => notify(|l| &l.interrupted, e.code.as_i32(), &e.reason, &[]),
        Event::StateChanged { state, data_json } => {
            let (callback, user_data) = copy_listener(|l| &l.state);
            if let Some(f) = callback {
                let data = strings::c_string(&data_json);
                // SAFETY: the listener and user_data the caller registered.
                unsafe { f(state as i32, data.as_ptr(), user_data.0) };
            }
        }
    })
}

/// Copies a listener out, so it runs after the lock is released (and may replace itself).
fn copy_listener<F: Copy>(pick: impl FnOnce(&Listeners) -> &Listener<F>) -> (F, UserData) {
    let l = listeners();
    let listener = pick(&l);
    (listener.callback, listener.user_data)
}

fn notify(
    pick: impl FnOnce(&Listeners) -> &Listener<VoipResultFn>,
    code: i32,
    message: &str,
    list: &[String],
) {
    let (callback, user_data) = copy_listener(pick);
    if let Some(f) = callback {
        // SAFETY: the listener and user_data the caller registered.
        with_result(code, message, list, |result| unsafe {
            f(result, user_data.0)
        });
    }
}

/// What a call's result carries in `open_id_list`: the members for a join, nothing otherwise.
pub(crate) trait OpenIds: Send + 'static {
    fn into_open_ids(self) -> Vec<String>;
}

impl OpenIds for Vec<String> {
    fn into_open_ids(self) -> Vec<String> {
        self
    }
}

impl OpenIds for () {
    fn into_open_ids(self) -> Vec<String> {
        Vec::new()
    }
}

/// Where one call's outcome goes: its callbacks, through the dispatcher.
pub(crate) struct Reply {
    api: &'static str,
    callbacks: VoipCallbacks,
    user_data: UserData,
    dispatcher: Arc<Dispatcher>,
}

impl Reply {
    /// The call's one completion. Handed to the client, it fires exactly once; on a
    /// synchronous error the client disarms it and `call_with_callbacks` reports the error.
    pub(crate) fn completion<T: OpenIds>(self) -> Completion<T> {
        Completion::new(move |outcome: Result<T, VoipError>| {
            let outcome = outcome.map(OpenIds::into_open_ids);
            let job = result_job(self.api, self.callbacks, self.user_data, outcome);
            self.dispatcher.push(job);
        })
    }
}

/// Runs an entry point that takes callbacks: returns 0 when accepted; otherwise reports the
/// error through `fail` and `complete` (queued to the dispatcher, or at once when the SDK is
/// not initialized) and returns its code.
pub(crate) fn call_with_callbacks(
    api: &'static str,
    callbacks: VoipCallbacks,
    user_data: *mut c_void,
    body: impl FnOnce(&Sdk, Reply) -> Result<(), VoipError>,
) -> i32 {
    let user_data = UserData(user_data);
    let mut dispatcher = None;
    let accepted = catch(|| {
        let guard = sdk();
        let sdk = guard.as_ref().ok_or_else(not_initialized)?;
        dispatcher = Some(sdk.dispatcher.clone());
        let reply = Reply {
            api,
            callbacks,
            user_data,
            dispatcher: sdk.dispatcher.clone(),
        };
        body(sdk, reply)
    });
    let Err(error) = accepted else { return VOIP_OK };
    let code = error.code.as_i32();
    set_last_error(&error.reason);
    let job = result_job(api, callbacks, user_data, Err(error));
    match dispatcher {
        Some(dispatcher) => dispatcher.push(job),
        None => job(),
    }
    code
}

/// Reads the join parameters.
///
/// # Safety
/// `params` is NULL or points to a valid `VoipJoinParams` whose strings are NULL or
/// NUL-terminated.
unsafe fn read_join_params(params: *const VoipJoinParams) -> Result<JoinParams, VoipError> {
    let p = params
        .as_ref()
        .ok_or_else(|| VoipError::new(ErrorCode::InvalidArgument, "params is NULL"))?;
    let room_type = match p.room_type {
        VOIP_ROOM_VOICE => RoomType::Voice,
        VOIP_ROOM_VIDEO => RoomType::Video,
        other => {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("room_type {other} is not a VoipRoomType"),
            ))
        }
    };
    Ok(JoinParams {
        app_id: strings::required(p.app_id, "app_id")?.to_string(),
        open_id: strings::required(p.open_id, "open_id")?.to_string(),
        group_id: strings::required(p.group_id, "group_id")?.to_string(),
        nonce_str: strings::required(p.nonce_str, "nonce_str")?.to_string(),
        time_stamp: p.time_stamp,
        signature: strings::required(p.signature, "signature")?.to_string(),
        room_type,
        mute_config: p.mute_config.as_ref().map(mute_from_c).unwrap_or_default(),
    })
}

fn mute_from_c(mute: &VoipMuteConfig) -> MuteConfig {
    MuteConfig {
        mute_microphone: mute.mute_microphone,
        mute_earphone: mute.mute_earphone,
    }
}

fn millis_or(value: u32, default: Duration) -> Duration {
    if value == 0 {
        default
    } else {
        Duration::from_millis(u64::from(value))
    }
}

/// Validates a `VoipConfig` and builds the client configuration it describes.
///
/// # Safety
/// `config` points to a valid `VoipConfig` whose strings are NULL or NUL-terminated.
unsafe fn read_config(config: &VoipConfig, logger: Logger) -> Result<ClientConfig, VoipError> {
    let invalid = |m: String| Err(VoipError::new(ErrorCode::InvalidArgument, m));
    if !matches!(config.dispatch, VOIP_DISPATCH_THREAD | VOIP_DISPATCH_POLL) {
        return invalid(format!(
            "dispatch {} is not a VoipDispatch",
            config.dispatch
        ));
    }
    if !matches!(config.audio_mode, VOIP_AUDIO_DEVICE | VOIP_AUDIO_EXTERNAL) {
        return invalid(format!(
            "audio_mode {} is not a VoipAudioMode",
            config.audio_mode
        ));
    }
    if !matches!(config.frame_ms, 0 | 10 | 20) {
        return invalid(format!(
            "frame_ms must be 10 or 20 (or 0 for 20), not {}",
            config.frame_ms
        ));
    }
    let input = strings::optional(config.input_device, "input_device")?.map(str::to_string);
    let output = strings::optional(config.output_device, "output_device")?.map(str::to_string);
    let server = strings::required(config.server, "server")?;
    let mut client = ClientConfig::new(server);
    client.server_cert_sha256 =
        strings::optional(config.server_cert_sha256, "server_cert_sha256")?.map(str::to_string);
    client.connect_timeout = millis_or(config.connect_timeout_ms, client.connect_timeout);
    client.resume_timeout = millis_or(config.resume_timeout_ms, client.resume_timeout);
    if config.idle_timeout_ms != 0 {
        let idle = Duration::from_millis(u64::from(config.idle_timeout_ms));
        if idle < Liveness::MIN_IDLE_TIMEOUT {
            return invalid(format!(
                "idle_timeout_ms must be at least {} (or 0 for the default), not {}",
                Liveness::MIN_IDLE_TIMEOUT.as_millis(),
                config.idle_timeout_ms
            ));
        }
        client.liveness = Liveness::with_idle_timeout(idle);
    }
    client.logger = logger;
    client.audio = AudioConfig {
        mode: if config.audio_mode == VOIP_AUDIO_DEVICE {
            AudioMode::Device { input, output }
        } else {
            AudioMode::External
        },
        frame_ms: if config.frame_ms == 0 {
            20
        } else {
            config.frame_ms
        },
    };
    Ok(client)
}

/// A logger that hands each line to the caller's log callback through the dispatcher, so it
/// runs where every other callback runs.
fn dispatched_logger(config: &VoipConfig, dispatcher: &Arc<Dispatcher>) -> Logger {
    let Some(log) = config.log else {
        return Logger::default();
    };
    let user_data = UserData(config.log_user_data);
    let dispatcher = dispatcher.clone();
    Logger::new(Some(Arc::new(move |level: LogLevel, message: &str| {
        let message = strings::c_string(message);
        dispatcher.push(Box::new(move || {
            let user_data = user_data;
            // SAFETY: the log callback and user_data the caller configured.
            unsafe { log(level as i32, message.as_ptr(), user_data.0) }
        }));
    })))
}

/// The default configuration: THREAD dispatch, device audio, 20 ms frames, no server yet.
#[no_mangle]
pub extern "C" fn voip_config_default() -> VoipConfig {
    VoipConfig {
        server: std::ptr::null(),
        server_cert_sha256: std::ptr::null(),
        dispatch: VOIP_DISPATCH_THREAD,
        audio_mode: VOIP_AUDIO_DEVICE,
        input_device: std::ptr::null(),
        output_device: std::ptr::null(),
        frame_ms: 20,
        log: None,
        log_user_data: std::ptr::null_mut(),
        connect_timeout_ms: 0,
        resume_timeout_ms: 0,
        idle_timeout_ms: 0,
    }
}

/// Builds the runtime and the client around an already started dispatcher.
///
/// # Safety
/// `config` is a valid `VoipConfig` whose strings are NULL or NUL-terminated.
unsafe fn start_sdk(
    config: &VoipConfig,
    dispatcher: &Arc<Dispatcher>,
    poll_mode: bool,
) -> Result<Sdk, VoipError> {
    let client_config = read_config(config, dispatched_logger(config, dispatcher))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("voipchat-runtime")
        .enable_all()
        .build()
        .map_err(|e| VoipError::new(ErrorCode::System, format!("cannot start the runtime: {e}")))?;
    let events = dispatcher.clone();
    let sink = Arc::new(move |event: Event| events.push(event_job(event)));
    let external = client_config.audio.mode == AudioMode::External;
    let client = Client::with_runtime(client_config, runtime.handle().clone(), sink)?;
    super::audio::set_external(external.then(|| client.media()));
    super::video::set_video(Some(client.video()));
    client.on_video_frame(Some(super::video::frame_hook(dispatcher.clone())));
    Ok(Sdk {
        runtime,
        client,
        dispatcher: dispatcher.clone(),
        poll_mode,
    })
}

/// Starts the SDK. Returns 0, or -1001 for a bad config or when already initialized
/// (`voip_last_error_message()` says why).
///
/// # Safety
/// `config` is NULL or points to a valid `VoipConfig`.
#[no_mangle]
pub unsafe extern "C" fn voip_init(config: *const VoipConfig) -> i32 {
    let started = catch(|| {
        let config = config
            .as_ref()
            .ok_or_else(|| VoipError::new(ErrorCode::InvalidArgument, "config is NULL"))?;
        let mut slot = sdk();
        if slot.is_some() {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                "already initialized: call voip_shutdown first",
            ));
        }
        let poll_mode = config.dispatch == VOIP_DISPATCH_POLL;
        let dispatcher = Dispatcher::new(!poll_mode).map_err(|e| {
            VoipError::new(
                ErrorCode::System,
                format!("cannot start the callback thread: {e}"),
            )
        })?;
        match start_sdk(config, &dispatcher, poll_mode) {
            Ok(started) => *slot = Some(started),
            Err(e) => {
                // Whatever failed, the callback thread must not outlive the attempt.
                dispatcher.drain_and_stop();
                return Err(e);
            }
        }
        Ok(())
    });
    status_code(started)
}

/// Leaves the room (a join in progress fails with -3), runs every callback still queued, and
/// stops the runtime. Safe to call twice, from a callback, or without `voip_init`.
#[no_mangle]
pub extern "C" fn voip_shutdown() {
    let _ = catch(|| {
        let Some(Sdk {
            runtime,
            client,
            dispatcher,
            ..
        }) = sdk().take()
        else {
            return Ok(());
        };
        super::audio::set_external(None);
        super::video::set_video(None);
        let (left_tx, left_rx) = std::sync::mpsc::channel();
        let exit = Completion::new(move |_| {
            let _ = left_tx.send(());
        });
        if client.exit_with(exit).is_ok() {
            let _ = left_rx.recv_timeout(Duration::from_secs(3));
        }
        drop(client);
        runtime.shutdown_timeout(Duration::from_secs(1));
        // Whatever the runtime's tasks reported on their way out is delivered now.
        dispatcher.drain_and_stop();
        Ok(())
    });
}

/// POLL dispatch: runs the callbacks queued so far on this thread and returns how many ran.
/// Returns 0 in THREAD dispatch or when not initialized.
#[no_mangle]
pub extern "C" fn voip_poll() -> u32 {
    catch(|| {
        let dispatcher = sdk()
            .as_ref()
            .filter(|s| s.poll_mode)
            .map(|s| s.dispatcher.clone());
        Ok(dispatcher.map_or(0, |d| d.run_pending()))
    })
    .unwrap_or(0)
}

/// The call's state now (a `VOIP_STATE_*` value); `VOIP_STATE_IDLE` when not initialized.
#[no_mangle]
pub extern "C" fn voip_state() -> VoipState {
    catch(|| Ok(sdk().as_ref().map_or(ChatState::Idle, |s| s.client.state()) as i32))
        .unwrap_or(VOIP_STATE_IDLE)
}

/// `wx.joinVoIPChat`: joins (creating it if needed) the room `params->group_id`.
///
/// # Safety
/// `params` is NULL or points to a valid `VoipJoinParams`.
#[no_mangle]
pub unsafe extern "C" fn voip_join(
    params: *const VoipJoinParams,
    callbacks: VoipCallbacks,
    user_data: *mut c_void,
) -> i32 {
    call_with_callbacks("joinVoIPChat", callbacks, user_data, |sdk, reply| {
        let params = read_join_params(params)?;
        sdk.client.join_with(params, reply.completion())
    })
}

/// `wx.exitVoIPChat`: leaves the room, or abandons a join in progress.
///
/// # Safety
/// Always safe; `unsafe` only because it calls the caller's callbacks.
#[no_mangle]
pub unsafe extern "C" fn voip_exit(callbacks: VoipCallbacks, user_data: *mut c_void) -> i32 {
    call_with_callbacks("exitVoIPChat", callbacks, user_data, |sdk, reply| {
        sdk.client.exit_with(reply.completion())
    })
}

/// `wx.updateVoIPChatMuteConfig`. `mute_config` is required.
///
/// # Safety
/// `mute_config` is NULL or points to a valid `VoipMuteConfig`.
#[no_mangle]
pub unsafe extern "C" fn voip_update_mute_config(
    mute_config: *const VoipMuteConfig,
    callbacks: VoipCallbacks,
    user_data: *mut c_void,
) -> i32 {
    call_with_callbacks(
        "updateVoIPChatMuteConfig",
        callbacks,
        user_data,
        |sdk, reply| {
            let mute = mute_config
                .as_ref()
                .map(mute_from_c)
                .ok_or_else(|| VoipError::new(ErrorCode::InvalidArgument, "mute_config is NULL"))?;
            sdk.client.update_mute_config_with(mute, reply.completion())
        },
    )
}

/// Turns a speech enhancer on or off for every remote member's voice: `VOIP_ENHANCEMENT_OFF`
/// (default), `_LIGHT` or `_STRONG`. Takes effect on each member's next frame, without a gap,
/// and stays for later calls until changed or `voip_shutdown`. Returns 0, or -1001 (not
/// initialized, or not a level).
#[no_mangle]
pub extern "C" fn voip_set_voice_enhancement(level: VoipVoiceEnhancement) -> i32 {
    status_code(catch(|| {
        let enhancement = VoiceEnhancement::from_level(level)?;
        let sdk = sdk();
        let sdk = sdk.as_ref().ok_or_else(not_initialized)?;
        sdk.client.set_voice_enhancement(enhancement)
    }))
}

/// Sets the microphone's processing, run before voice detection and encoding:
/// `echo_cancellation` (1 on, 0 off) removes what the speaker plays (the mix and members pulled
/// alone, as handed out) from the microphone; `noise_suppression` is a
/// `VOIP_NOISE_SUPPRESSION_*` level; `gain_control` (1 / 0) brings a quiet or loud talker to a
/// steady level. A 40 Hz rumble filter runs whenever any of them does; all three off sends the
/// microphone untouched. Default: all on, noise suppression moderate. Takes effect on the next
/// 10 ms of capture, mid-call too, and stays for later calls until changed or `voip_shutdown`.
/// Returns 0, or -1001 (not initialized, or a value out of range).
#[no_mangle]
pub extern "C" fn voip_set_audio_processing(
    echo_cancellation: i32,
    noise_suppression: VoipNoiseSuppression,
    gain_control: i32,
) -> i32 {
    status_code(catch(|| {
        let settings = audio_processing_from_c(echo_cancellation, noise_suppression, gain_control)?;
        let sdk = sdk();
        let sdk = sdk.as_ref().ok_or_else(not_initialized)?;
        sdk.client.set_audio_processing(settings);
        Ok(())
    }))
}

fn audio_processing_from_c(
    echo_cancellation: i32,
    noise_suppression: VoipNoiseSuppression,
    gain_control: i32,
) -> Result<AudioProcessing, VoipError> {
    let switch = |value: i32, name: &str| match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(VoipError::new(
            ErrorCode::InvalidArgument,
            format!("{name} must be 0 (off) or 1 (on), not {value}"),
        )),
    };
    let noise = NoiseSuppression::from_level(noise_suppression).ok_or_else(|| {
        VoipError::new(
            ErrorCode::InvalidArgument,
            format!(
                "noise_suppression {noise_suppression} is not a level: 0 (off), 1 (low), \
                 2 (moderate), 3 (high) or 4 (very high)"
            ),
        )
    })?;
    Ok(AudioProcessing {
        echo_cancellation: switch(echo_cancellation, "echo_cancellation")?,
        noise_suppression: noise,
        gain_control: switch(gain_control, "gain_control")?,
    })
}

fn set_listener<F>(
    pick: impl FnOnce(&mut Listeners) -> &mut Listener<F>,
    callback: F,
    user_data: *mut c_void,
) -> i32 {
    catch(|| {
        let mut l = listeners();
        *pick(&mut l) = Listener {
            callback,
            user_data: UserData(user_data),
        };
        Ok(VOIP_OK)
    })
    .unwrap_or_else(|e| e.code.as_i32())
}

/// `wx.onVoIPChatMembersChanged`: the full list of members still in the call, on every join
/// and leave of another member. NULL turns it off. May be set before `voip_init`.
#[no_mangle]
pub extern "C" fn voip_on_members_changed(listener: VoipResultFn, user_data: *mut c_void) -> i32 {
    set_listener(|l| &mut l.members, listener, user_data)
}

/// `wx.onVoIPChatSpeakersChanged`: the members speaking now.
#[no_mangle]
pub extern "C" fn voip_on_speakers_changed(listener: VoipResultFn, user_data: *mut c_void) -> i32 {
    set_listener(|l| &mut l.speakers, listener, user_data)
}

/// `wx.onVoIPVideoMembersChanged`: in a video room, the members publishing video, in the order
/// they started (a member publishes while it pushes frames, and stops a second after its last).
#[no_mangle]
pub extern "C" fn voip_on_video_members_changed(
    listener: VoipResultFn,
    user_data: *mut c_void,
) -> i32 {
    set_listener(|l| &mut l.video_members, listener, user_data)
}

/// `wx.onVoIPChatInterrupted`: a passive disconnect (`err_code`, `err_msg`).
#[no_mangle]
pub extern "C" fn voip_on_interrupted(listener: VoipResultFn, user_data: *mut c_void) -> i32 {
    set_listener(|l| &mut l.interrupted, listener, user_data)
}

/// `wx.onVoIPChatStateChanged`: a `VOIP_STATE_*` code and a small JSON object.
#[no_mangle]
pub extern "C" fn voip_on_state_changed(listener: VoipStateFn, user_data: *mut c_void) -> i32 {
    set_listener(|l| &mut l.state, listener, user_data)
}

/// The current call's statistics, for `voip_stats_json`.
pub(crate) fn stats_json() -> Result<String, VoipError> {
    sdk()
        .as_ref()
        .map(|s| s.client.stats_json())
        .ok_or_else(not_initialized)
}
