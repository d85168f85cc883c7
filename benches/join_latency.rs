//! Join latency through the C ABI: from the `voip_join` call to its `success` callback, over
//! loopback, a fresh QUIC connection each time, against a relay embedded in the same process.
//!
//! `cargo bench --bench join_latency -- [joins]` (default 300). Prints median, p90, p99 and max.

use std::ffi::{c_void, CString};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use voipchat::auth;
use voipchat::ffi::*;

const APP_ID: &str = "wx-bench";
const APP_SECRET: &str = "bench-secret";

unsafe extern "C" fn on_complete(result: *const VoipResult, user_data: *mut c_void) {
    let done = &*(user_data as *const Sender<(Instant, i32)>);
    let _ = done.send((Instant::now(), (*result).err_code));
}

fn wait(done: &Receiver<(Instant, i32)>) -> (Instant, i32) {
    done.recv_timeout(Duration::from_secs(10))
        .expect("callback within 10 s")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let joins: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);

    let c = |s: &str| CString::new(s).unwrap();
    let (app_id, app_secret) = (c(APP_ID), c(APP_SECRET));
    let apps = [VoipApp {
        app_id: app_id.as_ptr(),
        app_secret: app_secret.as_ptr(),
    }];
    let mut server_config = voip_server_config_default();
    server_config.apps = apps.as_ptr();
    server_config.app_count = apps.len();
    let server = unsafe { voip_server_start(&server_config) };
    assert!(!server.is_null(), "server starts");
    let addr = c(&format!("127.0.0.1:{}", unsafe {
        voip_server_port(server)
    }));

    let mut config = voip_config_default();
    config.server = addr.as_ptr();
    config.server_cert_sha256 = unsafe { voip_server_cert_sha256(server) };
    config.audio_mode = VOIP_AUDIO_EXTERNAL;
    assert_eq!(unsafe { voip_init(&config) }, VOIP_OK);

    let (tx, done) = channel::<(Instant, i32)>();
    let user_data = &tx as *const Sender<(Instant, i32)> as *mut c_void;
    let callbacks = VoipCallbacks {
        success: None,
        fail: None,
        complete: Some(on_complete),
    };
    let mut samples_ms = Vec::with_capacity(joins);
    let warmup = 20;
    for i in 0..joins + warmup {
        // What the game backend hands the client: signed before the clock starts.
        let open_id = format!("player{}", i % 10);
        let nonce = format!("bench-{}-{i}", std::process::id());
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = auth::sign(
            &auth::session_key(APP_SECRET, &open_id),
            APP_ID,
            "bench-room",
            &nonce,
            ts,
        );
        let (open_id, group, nonce, signature) =
            (c(&open_id), c("bench-room"), c(&nonce), c(&signature));
        let params = VoipJoinParams {
            app_id: app_id.as_ptr(),
            open_id: open_id.as_ptr(),
            group_id: group.as_ptr(),
            nonce_str: nonce.as_ptr(),
            time_stamp: ts,
            signature: signature.as_ptr(),
            room_type: VOIP_ROOM_VOICE,
            mute_config: std::ptr::null(),
        };
        let start = Instant::now();
        assert_eq!(unsafe { voip_join(&params, callbacks, user_data) }, VOIP_OK);
        let (end, code) = wait(&done);
        assert_eq!(code, VOIP_OK, "join {i} failed");
        if i >= warmup {
            samples_ms.push((end - start).as_secs_f64() * 1000.0);
        }
        assert_eq!(unsafe { voip_exit(callbacks, user_data) }, VOIP_OK);
        assert_eq!(wait(&done).1, VOIP_OK);
    }
    voip_shutdown();
    unsafe { voip_server_stop(server) };

    samples_ms.sort_by(f64::total_cmp);
    println!(
        "join latency (voip_join -> success, fresh QUIC connection, loopback), {} joins after {warmup} warm-up:",
        samples_ms.len()
    );
    println!(
        "  median {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   min {:.3} ms   max {:.3} ms",
        percentile(&samples_ms, 0.5),
        percentile(&samples_ms, 0.9),
        percentile(&samples_ms, 0.99),
        samples_ms[0],
        samples_ms[samples_ms.len() - 1]
    );
}
