//! A `voipchat-server` process joined to a cluster: started with `--redis`, its start-up lines
//! read, signalled or killed by the test, and killed on drop if the test fails first.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{APP_ID, APP_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_voipchat-server");
/// Long enough for a slow, busy machine; a hung binary still fails the test.
const STARTUP: Duration = Duration::from_secs(20);

pub struct RelayProcess {
    child: Child,
    pub node_id: String,
    pub addr: String,
    pub cert_sha256: String,
}

impl RelayProcess {
    /// Starts a node on a free loopback port; `extra` are more flags (e.g. `--resume-grace`).
    pub fn start(redis_url: &str, node_id: &str, extra: &[&str]) -> RelayProcess {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--app", &format!("{APP_ID}:{APP_SECRET}")])
            .args(["--redis", redis_url, "--node-id", node_id])
            .args(["--log-level", "warn"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn voipchat-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = |prefix: &str| -> String {
            let line = lines.recv_timeout(STARTUP).unwrap_or_else(|e| {
                let _ = child.kill();
                panic!("node {node_id}: no start-up line ({e})")
            });
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("node {node_id}: expected '{prefix}…', got {line:?}"))
                .to_string()
        };
        let addr = line("listening ");
        let cert_sha256 = line("cert-sha256 ");
        RelayProcess {
            child,
            node_id: node_id.to_string(),
            addr,
            cert_sha256,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// SIGKILL: the node vanishes without telling anyone, as a crashed machine does.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for the process to exit, failing after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit_status() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit within {limit:?}",
                self.node_id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
