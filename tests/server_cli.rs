//! The `voipchat-server` binary end to end: start-up lines, a join through the Rust client with
//! parameters from the `sign` subcommand, clean shutdown on SIGTERM, and usage errors.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use voipchat::{auth, Client, ClientConfig, ErrorCode, Event, JoinParams, RoomType};

const BIN: &str = env!("CARGO_BIN_EXE_voipchat-server");
const APP_ID: &str = "wx1";
const APP_SECRET: &str = "sec:ret";
/// Long enough for a slow, busy CI machine; a hung binary still fails the test.
const STARTUP: Duration = Duration::from_secs(20);

/// A running server process, killed on drop if a test fails before it exits.
struct Running {
    child: Child,
    stdout_lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn voipchat-server");
        // Both pipes are drained by threads, so a chatty server never blocks on a full pipe and
        // a silent one cannot hang the test: the reads below all have deadlines.
        let stdout = child.stdout.take().unwrap();
        let (tx, stdout_lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Running {
            child,
            stdout_lines,
            stderr: Some(stderr),
        }
    }

    fn stdout_line(&mut self) -> String {
        match self.stdout_lines.recv_timeout(STARTUP) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "no stdout line from voipchat-server ({e}); stderr:\n{}",
                    self.stderr_text()
                );
            }
        }
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .map(|thread| thread.join().unwrap_or_default())
            .unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// Waits for the process to exit, killing it and failing after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "voipchat-server did not exit within {limit:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run voipchat-server")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parameters from `voipchat-server sign`, as a script hands them to a client.
fn signed_by_cli(open_id: &str, group_id: &str) -> JoinParams {
    let out = run(&[
        "sign",
        "--app-id",
        APP_ID,
        "--app-secret",
        APP_SECRET,
        "--open-id",
        open_id,
        "--group-id",
        group_id,
    ]);
    assert_eq!(out.status.code(), Some(0), "sign: {}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("sign prints JSON");
    let field = |name: &str| json[name].as_str().expect(name).to_string();
    JoinParams {
        app_id: field("appId"),
        open_id: field("openId"),
        group_id: field("groupId"),
        nonce_str: field("nonceStr"),
        time_stamp: json["timeStamp"].as_i64().expect("timeStamp is a number"),
        signature: field("signature"),
        room_type: RoomType::Voice,
        mute_config: Default::default(),
    }
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("event channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_join_and_shuts_down_cleanly_on_sigterm() {
    let mut server = Running::start(&["--listen", "127.0.0.1:0", "--app", "wx1:sec:ret"]);

    let listening = server.stdout_line();
    let addr = listening
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("first line is `listening <ip:port>`: {listening:?}"))
        .to_string();
    let addr_parsed: std::net::SocketAddr = addr.parse().expect("an ip:port");
    assert_eq!(addr_parsed.ip().to_string(), "127.0.0.1");
    assert_ne!(
        addr_parsed.port(),
        0,
        "port 0 is resolved to the bound port"
    );
    let cert_line = server.stdout_line();
    let sha = cert_line
        .strip_prefix("cert-sha256 ")
        .unwrap_or_else(|| panic!("second line is `cert-sha256 <hex>`: {cert_line:?}"))
        .to_string();
    assert_eq!(sha.len(), 64, "{sha}");
    assert!(
        sha.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex: {sha}"
    );

    let config = ClientConfig::new(addr.clone()).pinned(sha.clone());
    let (alice, mut alice_events) = Client::with_channel(config.clone()).expect("client");
    assert_eq!(
        alice.join(signed_by_cli("alice", "room")).await.unwrap(),
        vec!["alice".to_string()]
    );
    let (bob, _bob_events) = Client::with_channel(config).expect("client");
    assert_eq!(
        bob.join(signed_by_cli("bob", "room")).await.unwrap(),
        vec!["alice".to_string(), "bob".to_string()]
    );

    server.signal("TERM");
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(10));
        // After exit, stdout has ended: nothing but the two start-up lines was ever printed.
        let extra: Vec<String> = server.stdout_lines.iter().collect();
        let stderr = server.stderr_text();
        (status, extra, stderr)
    });
    let interrupted = async {
        loop {
            if let Event::Interrupted(error) = next_event(&mut alice_events).await {
                return error;
            }
        }
    };
    let (exit, interrupted) = tokio::join!(exit, interrupted);
    let (status, extra_stdout, stderr) = exit.unwrap();
    assert_eq!(status.code(), Some(0), "exit status; stderr:\n{stderr}");
    assert!(
        extra_stdout.is_empty(),
        "stdout holds only the start-up lines: {extra_stdout:?}"
    );
    assert!(
        stderr.contains("listening on"),
        "logs go to stderr:\n{stderr}"
    );
    assert_eq!(interrupted.code, ErrorCode::ServerShuttingDown);
}

#[test]
fn sigint_also_shuts_down_cleanly() {
    let mut server = Running::start(&[
        "--listen",
        "127.0.0.1:0",
        "--app",
        "wx1:sec:ret",
        "--log-level",
        "error",
    ]);
    assert!(server.stdout_line().starts_with("listening 127.0.0.1:"));
    assert!(server.stdout_line().starts_with("cert-sha256 "));
    server.signal("INT");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let stderr = server.stderr_text();
    assert!(
        !stderr.contains("info:"),
        "--log-level error hides info logs:\n{stderr}"
    );
}

#[test]
fn help_prints_usage_to_stdout_and_exits_0() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let usage = text(&out.stdout);
    for needle in ["--listen", "0.0.0.0:4433", "--app", "--cert", "sign"] {
        assert!(usage.contains(needle), "usage mentions {needle}:\n{usage}");
    }
    let out = run(&["sign", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--open-id"));
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let cases: [(&[&str], &str); 7] = [
        (&["--listen", "127.0.0.1:0"], "--app"),
        (&["--app", "wx1:s", "--bogus"], "--bogus"),
        (&["--app", "wx1:s", "--max-members", "abc"], "abc"),
        (&["--app", "wx1:s", "--cert", "cert.pem"], "--key"),
        (&["--app", "wx1:s", "--listen"], "--listen"),
        (&["--app", "nocolon"], "APP_ID:APP_SECRET"),
        (&["--app", "wx1:s", "--log-level", "loud"], "loud"),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn an_unreadable_certificate_is_a_runtime_failure() {
    let out = run(&[
        "--listen",
        "127.0.0.1:0",
        "--app",
        "wx1:s",
        "--cert",
        "/nonexistent/cert.pem",
        "--key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/cert.pem"));
    assert!(out.stdout.is_empty());
}

#[test]
fn sign_prints_wechat_join_parameters() {
    let out = run(&[
        "sign",
        "--app-id",
        APP_ID,
        "--app-secret",
        APP_SECRET,
        "--open-id",
        "alice",
        "--group-id",
        "room",
        "--nonce",
        "n-1",
        "--timestamp",
        "1700000000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let object = json.as_object().expect("one JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "appId",
            "groupId",
            "nonceStr",
            "openId",
            "signature",
            "timeStamp"
        ]
    );
    assert_eq!(json["appId"], "wx1");
    assert_eq!(json["openId"], "alice");
    assert_eq!(json["groupId"], "room");
    assert_eq!(json["nonceStr"], "n-1");
    assert_eq!(json["timeStamp"], 1_700_000_000i64);
    let key = auth::session_key(APP_SECRET, "alice");
    assert_eq!(
        json["signature"],
        auth::sign(&key, "wx1", "room", "n-1", 1_700_000_000)
    );
}

#[test]
fn sign_defaults_to_a_fresh_hex_nonce_and_the_current_time() {
    let params = signed_by_cli("alice", "room");
    let other = signed_by_cli("alice", "room");
    assert_eq!(params.nonce_str.len(), 16);
    assert!(params
        .nonce_str
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_ne!(params.nonce_str, other.nonce_str);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - params.time_stamp).abs() <= 60,
        "{}",
        params.time_stamp
    );
    let key = auth::session_key(APP_SECRET, "alice");
    assert!(auth::verify(
        &key,
        APP_ID,
        "room",
        &params.nonce_str,
        params.time_stamp,
        &params.signature
    ));
}

#[test]
fn sign_rejects_a_128_character_nonce() {
    let nonce = "n".repeat(128);
    let out = run(&[
        "sign",
        "--app-id",
        APP_ID,
        "--app-secret",
        APP_SECRET,
        "--open-id",
        "alice",
        "--group-id",
        "room",
        "--nonce",
        &nonce,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--nonce"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
    assert!(out.stdout.is_empty());
}
