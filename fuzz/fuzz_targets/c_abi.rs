//! What a game can hand the C ABI: strings that are NULL, empty, not UTF-8, longer than the
//! SDK takes, with any output buffer size; join parameters of any shape; audio buffers of any
//! rate, channel count and length. The calls are the real `extern "C"` functions.
//!
//! Beyond "no crash": no call answers -1000 (the ABI turns a caught panic into -1000, so that
//! would be a panic the fuzzer would otherwise never see); a signature or session key that is
//! written is exactly what the Rust API computes; every refusal is -1001 with a message; and
//! every join runs exactly one of success / fail, then complete, once.
//!
//! The SDK is initialised once, with engine-fed audio, poll dispatch and a relay address where
//! nothing listens, so a join that passes validation is abandoned with `voip_exit`.

#![no_main]

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Once;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use voipchat::auth;
use voipchat::ffi::*;

#[derive(Arbitrary, Debug)]
struct Input {
    strings: [Option<Vec<u8>>; 5],
    time_stamp: i64,
    out_len: u8,
    out_is_null: bool,
    room_type: i32,
    mute: Option<(bool, bool)>,
    audio: (u16, u32, u16),
}

/// Keeps a string argument alive: NULL, or the bytes up to the first NUL, NUL-terminated.
fn c_string(bytes: &Option<Vec<u8>>) -> Option<CString> {
    bytes.as_ref().map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        CString::new(&b[..end]).expect("no interior NUL")
    })
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// What the SDK takes as a string argument: UTF-8 of at most 4096 bytes.
fn accepted(s: &Option<CString>) -> Option<&str> {
    let s = s.as_ref()?;
    (s.as_bytes().len() <= 4096)
        .then(|| s.to_str().ok())
        .flatten()
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(voip_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// Checks a call that writes a string into the caller's buffer.
fn check_written(rc: i32, out: &[u8], expected: Option<String>, out_len: usize, out_null: bool) {
    assert_ne!(rc, VOIP_ERR_SYSTEM, "a caught panic: {}", last_error());
    match expected {
        Some(text) if !out_null && out_len > text.len() => {
            assert_eq!(rc, VOIP_OK, "refused valid input: {}", last_error());
            let written = CStr::from_bytes_until_nul(out).expect("NUL-terminated");
            assert_eq!(written.to_str().unwrap(), text);
        }
        _ => {
            assert_eq!(rc, VOIP_ERR_INVALID_ARGUMENT);
            assert!(!last_error().is_empty(), "a refusal without a message");
        }
    }
}

#[derive(Default)]
struct Calls {
    success: u32,
    fail: u32,
    complete: u32,
    fail_code: i32,
}

unsafe extern "C" fn on_success(_: *const VoipResult, user_data: *mut c_void) {
    (*(user_data as *mut Calls)).success += 1;
}
unsafe extern "C" fn on_fail(result: *const VoipResult, user_data: *mut c_void) {
    let calls = &mut *(user_data as *mut Calls);
    calls.fail += 1;
    calls.fail_code = (*result).err_code;
}
unsafe extern "C" fn on_complete(_: *const VoipResult, user_data: *mut c_void) {
    (*(user_data as *mut Calls)).complete += 1;
}

static INIT: Once = Once::new();

fn init_sdk() {
    INIT.call_once(|| {
        let mut config = voip_config_default();
        config.server = c"127.0.0.1:9".as_ptr();
        config.dispatch = VOIP_DISPATCH_POLL;
        config.audio_mode = VOIP_AUDIO_EXTERNAL;
        config.connect_timeout_ms = 200;
        assert_eq!(unsafe { voip_init(&config) }, VOIP_OK, "{}", last_error());
    });
}

fuzz_target!(|input: Input| {
    init_sdk();
    let s: Vec<Option<CString>> = input.strings.iter().map(c_string).collect();
    let out_len = usize::from(input.out_len);
    let mut out = vec![0xAAu8; out_len.max(1)];
    let out_ptr = if input.out_is_null {
        std::ptr::null_mut()
    } else {
        out.as_mut_ptr() as *mut c_char
    };

    let rc = unsafe { voip_session_key(ptr(&s[0]), ptr(&s[1]), out_ptr, out_len) };
    let expected = accepted(&s[0])
        .zip(accepted(&s[1]))
        .map(|(k, o)| auth::session_key(k, o));
    check_written(rc, &out, expected, out_len, input.out_is_null);

    out.fill(0xAA);
    let rc = unsafe {
        voip_sign(
            ptr(&s[0]),
            ptr(&s[1]),
            ptr(&s[2]),
            ptr(&s[3]),
            input.time_stamp,
            out_ptr,
            out_len,
        )
    };
    let expected = match (
        accepted(&s[0]),
        accepted(&s[1]),
        accepted(&s[2]),
        accepted(&s[3]),
    ) {
        (Some(k), Some(a), Some(g), Some(n)) => Some(auth::sign(k, a, g, n, input.time_stamp)),
        _ => None,
    };
    check_written(rc, &out, expected, out_len, input.out_is_null);

    // A join of any shape: exactly one of success / fail, then complete.
    let mute = input.mute.map(|(mic, ear)| VoipMuteConfig {
        mute_microphone: mic,
        mute_earphone: ear,
    });
    let params = VoipJoinParams {
        app_id: ptr(&s[0]),
        open_id: ptr(&s[1]),
        group_id: ptr(&s[2]),
        nonce_str: ptr(&s[3]),
        time_stamp: input.time_stamp,
        signature: ptr(&s[4]),
        room_type: input.room_type,
        mute_config: mute.as_ref().map_or(std::ptr::null(), |m| m as *const _),
    };
    let mut calls = Calls::default();
    let callbacks = VoipCallbacks {
        success: Some(on_success),
        fail: Some(on_fail),
        complete: Some(on_complete),
    };
    let user_data = &mut calls as *mut Calls as *mut c_void;
    let rc = unsafe { voip_join(&params, callbacks, user_data) };
    assert_ne!(rc, VOIP_ERR_SYSTEM, "a caught panic: {}", last_error());
    if rc == VOIP_OK {
        let none = VoipCallbacks {
            success: None,
            fail: None,
            complete: None,
        };
        unsafe { voip_exit(none, std::ptr::null_mut()) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while calls.complete == 0 && Instant::now() < deadline {
        voip_poll();
        std::thread::sleep(Duration::from_micros(200));
    }
    voip_poll();
    assert_eq!(calls.complete, 1, "complete ran {} times", calls.complete);
    assert_eq!(
        calls.success + calls.fail,
        1,
        "success {} fail {}",
        calls.success,
        calls.fail
    );
    if rc != VOIP_OK {
        assert_eq!(
            (calls.fail, calls.fail_code),
            (1, rc),
            "fail must carry the returned code"
        );
    }

    // Engine audio of any shape, outside a call.
    let (frames, rate, channels) = input.audio;
    let frames = usize::from(frames % 4096);
    let channels = channels % 12;
    let mut samples = vec![0.25f32; frames * usize::from(channels)];
    let rc = unsafe { voip_audio_push_capture(samples.as_ptr(), frames, rate, channels) };
    assert_ne!(rc, VOIP_ERR_SYSTEM, "a caught panic: {}", last_error());
    let pulled = unsafe { voip_audio_pull_playback(samples.as_mut_ptr(), frames, rate, channels) };
    if pulled == 0 {
        assert!(
            !last_error().starts_with("internal error"),
            "a caught panic: {}",
            last_error()
        );
    } else {
        assert_eq!(pulled, frames);
        assert!(samples.iter().all(|&x| x == 0.0), "silence outside a call");
    }
});
