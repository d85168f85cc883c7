//! The C ABI from Rust: dispatch modes, exactly-once callbacks, and calls made from inside
//! callbacks. The SDK is process-wide, so these tests take turns through `SDK_LOCK`.

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::*;
use voipchat::ffi::*;

static SDK_LOCK: Mutex<()> = Mutex::new(());

/// A test's turn with the process-wide SDK. Dropping it shuts the SDK down, so a test that
/// fails half-way does not leave it initialized for the next one.
struct Turn(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Drop for Turn {
    fn drop(&mut self) {
        voip_shutdown();
    }
}

fn take_turn() -> Turn {
    Turn(SDK_LOCK.lock().unwrap_or_else(|p| p.into_inner()))
}

/// What the callbacks of one test saw.
#[derive(Default)]
struct Record {
    /// (callback name, err_code, err_msg, open ids, thread)
    calls: Vec<(&'static str, i32, String, Vec<String>, ThreadId)>,
    /// Set while the test itself is inside voip_poll.
    inside_poll: bool,
    outside_poll_calls: usize,
}

struct Probe {
    record: Mutex<Record>,
    changed: Condvar,
}

impl Probe {
    fn new() -> Arc<Probe> {
        Arc::new(Probe {
            record: Mutex::new(Record::default()),
            changed: Condvar::new(),
        })
    }

    fn as_user_data(self: &Arc<Self>) -> *mut c_void {
        Arc::as_ptr(self) as *mut c_void
    }

    fn count(&self, name: &str) -> usize {
        self.record
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.0 == name)
            .count()
    }

    /// Waits (driving voip_poll when `poll` is set) until `n` calls named `name` were seen.
    fn wait_for(&self, name: &str, n: usize, poll: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(name) < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} × {name}"
            );
            if poll {
                self.record.lock().unwrap().inside_poll = true;
                voip_poll();
                self.record.lock().unwrap().inside_poll = false;
                std::thread::sleep(Duration::from_millis(2));
            } else {
                let guard = self.record.lock().unwrap();
                let _ = self
                    .changed
                    .wait_timeout(guard, Duration::from_millis(20))
                    .unwrap();
            }
        }
    }

    fn calls(&self, name: &str) -> Vec<(i32, String, Vec<String>, ThreadId)> {
        let record = self.record.lock().unwrap();
        record
            .calls
            .iter()
            .filter(|c| c.0 == name)
            .map(|c| (c.1, c.2.clone(), c.3.clone(), c.4))
            .collect()
    }
}

unsafe fn probe<'a>(user_data: *mut c_void) -> &'a Probe {
    &*(user_data as *const Probe)
}

unsafe fn note(name: &'static str, result: *const VoipResult, user_data: *mut c_void) {
    let result = &*result;
    let message = CStr::from_ptr(result.err_msg)
        .to_string_lossy()
        .into_owned();
    let ids = (0..result.open_id_count)
        .map(|i| {
            CStr::from_ptr(*result.open_id_list.add(i))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let probe = probe(user_data);
    let mut record = probe.record.lock().unwrap();
    if !record.inside_poll {
        record.outside_poll_calls += 1;
    }
    record.calls.push((
        name,
        result.err_code,
        message,
        ids,
        std::thread::current().id(),
    ));
    probe.changed.notify_all();
}

unsafe extern "C" fn on_success(r: *const VoipResult, u: *mut c_void) {
    note("success", r, u)
}
unsafe extern "C" fn on_fail(r: *const VoipResult, u: *mut c_void) {
    note("fail", r, u)
}
unsafe extern "C" fn on_complete(r: *const VoipResult, u: *mut c_void) {
    note("complete", r, u)
}
unsafe extern "C" fn on_members(r: *const VoipResult, u: *mut c_void) {
    note("members", r, u)
}

fn callbacks() -> VoipCallbacks {
    VoipCallbacks {
        success: Some(on_success),
        fail: Some(on_fail),
        complete: Some(on_complete),
    }
}

/// A relay on its own runtime, and strings that outlive the SDK's use of them.
struct Fixture {
    _runtime: tokio::runtime::Runtime,
    server: voipchat::Server,
    addr: CString,
    pin: CString,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(server());
    Fixture {
        addr: CString::new(server.local_addr().to_string()).unwrap(),
        pin: CString::new(server.cert_sha256()).unwrap(),
        _runtime: runtime,
        server,
    }
}

fn init(f: &Fixture, dispatch: VoipDispatch) {
    let mut config = voip_config_default();
    config.server = f.addr.as_ptr();
    config.server_cert_sha256 = f.pin.as_ptr();
    config.dispatch = dispatch;
    config.audio_mode = VOIP_AUDIO_EXTERNAL;
    assert_eq!(unsafe { voip_init(&config) }, VOIP_OK);
}

/// Signed join parameters as C strings, kept alive by the struct.
struct CJoin {
    strings: Vec<CString>,
    time_stamp: i64,
}

impl CJoin {
    fn new(open_id: &str, group_id: &str) -> CJoin {
        let p = signed(open_id, group_id);
        let strings = [p.app_id, p.open_id, p.group_id, p.nonce_str, p.signature]
            .into_iter()
            .map(|s| CString::new(s).unwrap())
            .collect();
        CJoin {
            strings,
            time_stamp: p.time_stamp,
        }
    }

    fn params(&self) -> VoipJoinParams {
        VoipJoinParams {
            app_id: self.strings[0].as_ptr(),
            open_id: self.strings[1].as_ptr(),
            group_id: self.strings[2].as_ptr(),
            nonce_str: self.strings[3].as_ptr(),
            time_stamp: self.time_stamp,
            signature: self.strings[4].as_ptr(),
            room_type: VOIP_ROOM_VOICE,
            mute_config: std::ptr::null(),
        }
    }
}

#[test]
fn poll_dispatch_runs_callbacks_only_inside_voip_poll_on_the_calling_thread() {
    let _turn = take_turn();
    let f = fixture();
    init(&f, VOIP_DISPATCH_POLL);
    let probe = Probe::new();
    let join = CJoin::new("alice", "room");
    assert_eq!(
        unsafe { voip_join(&join.params(), callbacks(), probe.as_user_data()) },
        VOIP_OK
    );
    // Nothing runs until we poll, however long we wait.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(probe.count("complete"), 0);
    probe.wait_for("complete", 1, true);
    let me = std::thread::current().id();
    let success = probe.calls("success");
    assert_eq!(success.len(), 1);
    assert_eq!(success[0].0, VOIP_OK);
    assert_eq!(success[0].1, "joinVoIPChat:ok");
    assert_eq!(success[0].2, ["alice"]);
    assert_eq!(success[0].3, me);
    assert_eq!(probe.count("fail"), 0);

    // A second join is refused at once with -1, and its callbacks still wait for voip_poll.
    let again = CJoin::new("alice", "room");
    assert_eq!(
        unsafe { voip_join(&again.params(), callbacks(), probe.as_user_data()) },
        VOIP_ERR_ALREADY_IN_ROOM
    );
    assert_eq!(probe.count("fail"), 0);
    probe.wait_for("complete", 2, true);
    let fail = probe.calls("fail");
    assert_eq!(fail[0].0, VOIP_ERR_ALREADY_IN_ROOM);
    assert!(fail[0].1.starts_with("joinVoIPChat:fail "), "{}", fail[0].1);

    voip_shutdown();
    let record = probe.record.lock().unwrap();
    assert_eq!(record.outside_poll_calls, 0);
    assert!(record.calls.iter().all(|c| c.4 == me));
}

#[test]
fn thread_dispatch_runs_callbacks_on_the_sdk_thread_exactly_once() {
    let _turn = take_turn();
    let f = fixture();
    init(&f, VOIP_DISPATCH_THREAD);
    let probe = Probe::new();
    voip_on_members_changed(Some(on_members), probe.as_user_data());
    let join = CJoin::new("alice", "room");
    assert_eq!(
        unsafe { voip_join(&join.params(), callbacks(), probe.as_user_data()) },
        VOIP_OK
    );
    probe.wait_for("complete", 1, false);
    let sdk_thread = probe.calls("success")[0].3;
    assert_ne!(sdk_thread, std::thread::current().id());

    // Another member arrives: members-changed, on the same SDK thread.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bob = runtime.block_on(async {
        let (bob, _e) = client(&f.server);
        bob.join(signed("bob", "room")).await.unwrap();
        bob
    });
    probe.wait_for("members", 1, false);
    assert_eq!(probe.calls("members")[0].2, ["alice", "bob"]);
    assert_eq!(probe.calls("members")[0].3, sdk_thread);

    assert_eq!(
        unsafe { voip_exit(callbacks(), probe.as_user_data()) },
        VOIP_OK
    );
    probe.wait_for("complete", 2, false);
    // Settle, then check nothing ran twice.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(probe.count("success"), 2);
    assert_eq!(probe.count("complete"), 2);
    assert_eq!(probe.count("fail"), 0);
    assert_eq!(probe.calls("success")[1].1, "exitVoIPChat:ok");
    voip_on_members_changed(None, std::ptr::null_mut());
    voip_shutdown();
    drop(bob);
}

/// Re-entrancy: success → voip_exit; exit's complete → voip_join; that join's success →
/// voip_shutdown. Each from inside a callback, none may deadlock.
struct Chain {
    probe: Arc<Probe>,
    step: Mutex<u32>,
    rejoin: CJoin,
    returned: Mutex<Vec<i32>>,
}

unsafe extern "C" fn chain_complete(r: *const VoipResult, u: *mut c_void) {
    let chain = &*(u as *const Chain);
    note("complete", r, chain.probe.as_user_data());
    let step = {
        let mut step = chain.step.lock().unwrap();
        *step += 1;
        *step
    };
    let returned = match step {
        1 => voip_exit(chain_callbacks(), u),
        2 => voip_join(&chain.rejoin.params(), chain_callbacks(), u),
        3 => {
            voip_shutdown();
            VOIP_OK
        }
        _ => return,
    };
    chain.returned.lock().unwrap().push(returned);
}

fn chain_callbacks() -> VoipCallbacks {
    VoipCallbacks {
        success: None,
        fail: None,
        complete: Some(chain_complete),
    }
}

fn reentrant_chain(dispatch: VoipDispatch) {
    let f = fixture();
    init(&f, dispatch);
    let chain = Arc::new(Chain {
        probe: Probe::new(),
        step: Mutex::new(0),
        rejoin: CJoin::new("alice", "room"),
        returned: Mutex::new(Vec::new()),
    });
    let join = CJoin::new("alice", "room");
    let user_data = Arc::as_ptr(&chain) as *mut c_void;
    assert_eq!(
        unsafe { voip_join(&join.params(), chain_callbacks(), user_data) },
        VOIP_OK
    );
    chain
        .probe
        .wait_for("complete", 3, dispatch == VOIP_DISPATCH_POLL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while chain.returned.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the chain stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(*chain.returned.lock().unwrap(), [VOIP_OK, VOIP_OK, VOIP_OK]);
    let messages: Vec<String> = chain
        .probe
        .calls("complete")
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(
        messages,
        ["joinVoIPChat:ok", "exitVoIPChat:ok", "joinVoIPChat:ok"]
    );
    // Shut down from inside a callback: the SDK is gone, and a new init works.
    assert_eq!(voip_state(), VOIP_STATE_IDLE);
    init(&f, dispatch);
    voip_shutdown();
}

#[test]
fn calls_from_inside_callbacks_do_not_deadlock_in_thread_dispatch() {
    let _turn = take_turn();
    reentrant_chain(VOIP_DISPATCH_THREAD);
}

#[test]
fn calls_from_inside_callbacks_do_not_deadlock_in_poll_dispatch() {
    let _turn = take_turn();
    reentrant_chain(VOIP_DISPATCH_POLL);
}

#[test]
fn shutdown_during_a_join_fails_it_with_minus_three_exactly_once() {
    let _turn = take_turn();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = CString::new(silent.local_addr().unwrap().to_string()).unwrap();
    let pin = CString::new("00".repeat(32)).unwrap();
    let mut config = voip_config_default();
    config.server = addr.as_ptr();
    config.server_cert_sha256 = pin.as_ptr();
    config.dispatch = VOIP_DISPATCH_POLL;
    config.audio_mode = VOIP_AUDIO_EXTERNAL;
    assert_eq!(unsafe { voip_init(&config) }, VOIP_OK);
    let probe = Probe::new();
    let join = CJoin::new("alice", "room");
    assert_eq!(
        unsafe { voip_join(&join.params(), callbacks(), probe.as_user_data()) },
        VOIP_OK
    );
    probe.record.lock().unwrap().inside_poll = true; // shutdown runs what is left on this thread
    voip_shutdown();
    assert_eq!(probe.count("fail"), 1);
    assert_eq!(probe.count("complete"), 1);
    assert_eq!(probe.calls("fail")[0].0, VOIP_ERR_LEFT_WHILE_JOINING);
    assert_eq!(voip_poll(), 0);
}

#[test]
fn calls_before_init_fail_synchronously_with_minus_1001() {
    let _turn = take_turn();
    let probe = Probe::new();
    probe.record.lock().unwrap().inside_poll = true;
    let join = CJoin::new("alice", "room");
    let code = unsafe { voip_join(&join.params(), callbacks(), probe.as_user_data()) };
    assert_eq!(code, VOIP_ERR_INVALID_ARGUMENT);
    assert_eq!(probe.count("fail"), 1);
    assert_eq!(probe.count("complete"), 1);
    assert!(probe.calls("fail")[0].1.contains("not initialized"));
    assert_eq!(
        unsafe { voip_exit(callbacks(), probe.as_user_data()) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    let message = unsafe { CStr::from_ptr(voip_last_error_message()) };
    assert!(message.to_str().unwrap().contains("not initialized"));
    assert_eq!(
        unsafe { voip_init(std::ptr::null()) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    let mut bad = voip_config_default();
    let addr = CString::new("127.0.0.1:9").unwrap();
    bad.server = addr.as_ptr();
    bad.frame_ms = 15;
    assert_eq!(unsafe { voip_init(&bad) }, VOIP_ERR_INVALID_ARGUMENT);
    bad.frame_ms = 20;
    bad.dispatch = 9;
    assert_eq!(unsafe { voip_init(&bad) }, VOIP_ERR_INVALID_ARGUMENT);
    let message = unsafe { CStr::from_ptr(voip_last_error_message()) };
    assert!(
        message.to_str().unwrap().contains("dispatch"),
        "{message:?}"
    );
    bad.dispatch = VOIP_DISPATCH_POLL;
    bad.idle_timeout_ms = 499;
    assert_eq!(unsafe { voip_init(&bad) }, VOIP_ERR_INVALID_ARGUMENT);
    let message = unsafe { CStr::from_ptr(voip_last_error_message()) };
    assert!(
        message.to_str().unwrap().contains("idle_timeout_ms"),
        "{message:?}"
    );
}

/// Threads of this process with the given name (from /proc, so nothing in the SDK is trusted).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn a_failed_init_leaves_no_thread_behind() {
    let _turn = take_turn();
    let before = threads_named("voipchat-callba"); // comm is cut to 15 bytes
    let addr = CString::new("no-port").unwrap();
    let mut config = voip_config_default();
    config.server = addr.as_ptr();
    config.dispatch = VOIP_DISPATCH_THREAD;
    for _ in 0..3 {
        assert_eq!(unsafe { voip_init(&config) }, VOIP_ERR_INVALID_ARGUMENT);
    }
    assert_eq!(threads_named("voipchat-callba"), before);
}

#[test]
fn exit_and_mute_outside_a_room_report_minus_1005_exactly_once() {
    let _turn = take_turn();
    let f = fixture();
    init(&f, VOIP_DISPATCH_POLL);
    let probe = Probe::new();
    assert_eq!(
        unsafe { voip_exit(callbacks(), probe.as_user_data()) },
        VOIP_ERR_NOT_IN_ROOM
    );
    let mute = VoipMuteConfig::default();
    let code = unsafe { voip_update_mute_config(&mute, callbacks(), probe.as_user_data()) };
    assert_eq!(code, VOIP_ERR_NOT_IN_ROOM);
    let null_mute =
        unsafe { voip_update_mute_config(std::ptr::null(), callbacks(), probe.as_user_data()) };
    assert_eq!(null_mute, VOIP_ERR_INVALID_ARGUMENT);
    probe.wait_for("complete", 3, true);
    voip_shutdown();
    let fails: Vec<(i32, String)> = probe
        .calls("fail")
        .into_iter()
        .map(|c| (c.0, c.1))
        .collect();
    assert_eq!(
        fails,
        [
            (
                VOIP_ERR_NOT_IN_ROOM,
                "exitVoIPChat:fail not in a room".to_string()
            ),
            (
                VOIP_ERR_NOT_IN_ROOM,
                "updateVoIPChatMuteConfig:fail not in a room".to_string()
            ),
            (
                VOIP_ERR_INVALID_ARGUMENT,
                "updateVoIPChatMuteConfig:fail mute_config is NULL".to_string()
            ),
        ]
    );
    assert_eq!(probe.count("complete"), 3);
}

#[test]
fn signing_helpers_write_nul_terminated_answers_and_refuse_small_buffers() {
    let mut out = [0 as c_char; VOIP_SIGNATURE_BUFFER];
    let c = |s: &str| CString::new(s).unwrap();
    let (secret, user) = (c("secret"), c("user"));
    let code =
        unsafe { voip_session_key(secret.as_ptr(), user.as_ptr(), out.as_mut_ptr(), out.len()) };
    assert_eq!(code, VOIP_OK);
    let key = unsafe { CStr::from_ptr(out.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(key, "m0bDSSX1sxl4bVzt5Nxy7XywIGHhUmMDkozt29bCxco=");
    assert_eq!(key.len() + 1, VOIP_SESSION_KEY_BUFFER);
    let (k, app, grp, nonce) = (c("key"), c("app"), c("grp"), c("nonce"));
    let sign = |out: &mut [c_char]| unsafe {
        voip_sign(
            k.as_ptr(),
            app.as_ptr(),
            grp.as_ptr(),
            nonce.as_ptr(),
            1_700_000_000,
            out.as_mut_ptr(),
            out.len(),
        )
    };
    assert_eq!(sign(&mut out), VOIP_OK);
    assert_eq!(
        unsafe { CStr::from_ptr(out.as_ptr()) }.to_str().unwrap(),
        "0a5abcc860ef1caca09ee51f66d8db43c6b4c84d6e0b2651a0021735d4d34a47"
    );
    assert_eq!(sign(&mut out[..64]), VOIP_ERR_INVALID_ARGUMENT);
    let null = std::ptr::null();
    assert_eq!(
        unsafe { voip_session_key(null, user.as_ptr(), out.as_mut_ptr(), out.len()) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    let invalid_utf8 = CString::new(vec![0xff, 0xfe]).unwrap();
    assert_eq!(
        unsafe {
            voip_session_key(
                secret.as_ptr(),
                invalid_utf8.as_ptr(),
                out.as_mut_ptr(),
                out.len(),
            )
        },
        VOIP_ERR_INVALID_ARGUMENT
    );
}

#[test]
fn external_audio_across_the_abi() {
    let _turn = take_turn();
    let mut out = vec![0.0f32; 960];
    let silence = vec![0.0f32; 960];
    // Before init: refused, with a reason.
    assert_eq!(
        unsafe { voip_audio_push_capture(silence.as_ptr(), 480, 48_000, 2) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { voip_audio_pull_playback(out.as_mut_ptr(), 480, 48_000, 2) },
        0
    );

    let f = fixture();
    init(&f, VOIP_DISPATCH_POLL);
    // Outside a call: accepted, and playback is silence.
    out.fill(1.0);
    assert_eq!(
        unsafe { voip_audio_push_capture(silence.as_ptr(), 480, 48_000, 2) },
        VOIP_OK
    );
    assert_eq!(
        unsafe { voip_audio_pull_playback(out.as_mut_ptr(), 480, 48_000, 2) },
        480
    );
    assert!(out.iter().all(|&s| s == 0.0));
    // Bad arguments.
    let null = std::ptr::null_mut();
    assert_eq!(
        unsafe { voip_audio_push_capture(std::ptr::null(), 480, 48_000, 1) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { voip_audio_push_capture(silence.as_ptr(), 480, 4_000, 1) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { voip_audio_push_capture(silence.as_ptr(), 480, 48_000, 0) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    assert_eq!(unsafe { voip_audio_pull_playback(null, 480, 48_000, 1) }, 0);
    assert_eq!(
        unsafe { voip_audio_pull_playback(out.as_mut_ptr(), 480, 500_000, 1) },
        0
    );
    assert_eq!(
        unsafe { voip_audio_pull_playback(out.as_mut_ptr(), 0, 48_000, 1) },
        0
    );
    assert_eq!(
        unsafe { voip_audio_pull_member(std::ptr::null(), out.as_mut_ptr(), 480, 48_000, 1) },
        0
    );

    // In a call with a Rust member who talks: the SDK's playback hears them, alone or mixed.
    let probe = Probe::new();
    let join = CJoin::new("alice", "room");
    assert_eq!(
        unsafe { voip_join(&join.params(), callbacks(), probe.as_user_data()) },
        VOIP_OK
    );
    probe.wait_for("complete", 1, true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bob = runtime.block_on(async {
        let (bob, _e) = client(&f.server);
        bob.join(signed("bob", "room")).await.unwrap();
        bob
    });
    let speech = common::signal::speech_like(2.0, 150.0, 48_000);
    let start = Instant::now();
    let (mut mixed, mut alone) = (Vec::new(), Vec::new());
    let bob_id = CString::new("bob").unwrap();
    for (step, chunk) in speech.chunks(480).enumerate() {
        bob.push_capture(chunk, 48_000, 1).unwrap();
        voip_poll();
        // Stereo at 44.1 kHz: the SDK converts.
        let mut stereo = vec![0.0f32; 441 * 2];
        let target = if step < 100 { &mut mixed } else { &mut alone };
        let written = if step < 100 {
            unsafe { voip_audio_pull_playback(stereo.as_mut_ptr(), 441, 44_100, 2) }
        } else {
            unsafe { voip_audio_pull_member(bob_id.as_ptr(), stereo.as_mut_ptr(), 441, 44_100, 2) }
        };
        assert_eq!(written, 441);
        assert!(
            stereo.chunks(2).all(|f| f[0] == f[1]),
            "both channels carry the voice"
        );
        target.extend(stereo.iter().step_by(2));
        std::thread::sleep(
            (start + Duration::from_millis(10 * (step as u64 + 1)))
                .saturating_duration_since(Instant::now()),
        );
    }
    let rms = common::signal::rms;
    assert!(
        rms(&mixed[44_100 / 2..]) > 0.02,
        "bob heard in the mix: {}",
        rms(&mixed)
    );
    assert!(rms(&alone) > 0.02, "bob heard alone: {}", rms(&alone));

    // Statistics: sized query, then the JSON.
    let stats = stats_over_the_abi();
    assert!(
        stats["members"]["bob"]["packetsReceived"].as_u64().unwrap() > 50,
        "{stats}"
    );
    let mut tiny = [0 as c_char; 4];
    assert_eq!(
        unsafe { voip_stats_json(tiny.as_mut_ptr(), tiny.len(), std::ptr::null_mut()) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    voip_shutdown();
    drop(bob);

    // Device mode: the external calls are refused.
    let mut config = voip_config_default();
    config.server = f.addr.as_ptr();
    config.server_cert_sha256 = f.pin.as_ptr();
    config.audio_mode = VOIP_AUDIO_DEVICE;
    assert_eq!(unsafe { voip_init(&config) }, VOIP_OK);
    assert_eq!(
        unsafe { voip_audio_push_capture(silence.as_ptr(), 480, 48_000, 1) },
        VOIP_ERR_INVALID_ARGUMENT
    );
    let reason = unsafe { CStr::from_ptr(voip_last_error_message()) }
        .to_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("VOIP_AUDIO_EXTERNAL"), "{reason}");
    voip_shutdown();
}

/// The stats JSON as the C ABI writes it.
fn stats_over_the_abi() -> serde_json::Value {
    let mut needed = 0usize;
    assert_eq!(
        unsafe { voip_stats_json(std::ptr::null_mut(), 0, &mut needed) },
        VOIP_OK
    );
    let mut text = vec![0 as c_char; needed + 64];
    assert_eq!(
        unsafe { voip_stats_json(text.as_mut_ptr(), text.len(), &mut needed) },
        VOIP_OK
    );
    serde_json::from_str(unsafe { CStr::from_ptr(text.as_ptr()) }.to_str().unwrap()).unwrap()
}

#[test]
fn audio_processing_is_set_across_the_abi_and_bad_values_are_refused() {
    let _turn = take_turn();
    let last_error = || {
        unsafe { CStr::from_ptr(voip_last_error_message()) }
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        voip_set_audio_processing(1, VOIP_NOISE_SUPPRESSION_MODERATE, 1),
        VOIP_ERR_INVALID_ARGUMENT
    );
    assert!(last_error().contains("not initialized"), "{}", last_error());

    let f = fixture();
    init(&f, VOIP_DISPATCH_POLL);
    // The defaults: everything on, noise suppression moderate.
    let defaults = &stats_over_the_abi()["audioProcessing"];
    assert_eq!(defaults["echoCancellation"], true, "{defaults}");
    assert_eq!(defaults["noiseSuppression"], "moderate");
    assert_eq!(defaults["gainControl"], true);

    for (echo, noise, gain, named) in [
        (2, VOIP_NOISE_SUPPRESSION_LOW, 1, "echo_cancellation"),
        (1, 5, 1, "noise_suppression"),
        (1, -1, 1, "noise_suppression"),
        (0, VOIP_NOISE_SUPPRESSION_OFF, -1, "gain_control"),
    ] {
        assert_eq!(
            voip_set_audio_processing(echo, noise, gain),
            VOIP_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains(named), "{named}: {}", last_error());
    }
    // A refused call changed nothing.
    assert_eq!(
        stats_over_the_abi()["audioProcessing"]["noiseSuppression"],
        "moderate"
    );

    assert_eq!(
        voip_set_audio_processing(0, VOIP_NOISE_SUPPRESSION_VERY_HIGH, 0),
        VOIP_OK
    );
    let set = &stats_over_the_abi()["audioProcessing"];
    assert_eq!(set["echoCancellation"], false, "{set}");
    assert_eq!(set["noiseSuppression"], "veryHigh");
    assert_eq!(set["gainControl"], false);
    voip_shutdown();
}
