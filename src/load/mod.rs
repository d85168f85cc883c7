//! The relay under load: many members with real QUIC connections and signed joins, speakers
//! sending Opus-sized datagrams at the frame rate, and receivers accounting for every datagram
//! (lost, duplicated, misrouted) and its one-way delay through the relay. The same traffic then
//! goes through a plain-UDP forwarder, the machine's ceiling, so the relay's cost can be stated
//! as a ratio to it. `voipchat-load` is the command-line face of [`run`].
//!
//! Sender and receiver share one process and one monotonic clock, so a datagram's delay is its
//! receive time minus the send time it carries: the relay hop plus both ends' QUIC stacks,
//! without any clock synchronisation.
//!
//! CPU time is read from `/proc`: per thread by name for an embedded relay (its runtime's
//! threads are named [`RELAY_THREADS`]), per process for a spawned or remote one. What the
//! load tool itself uses is reported next to it, since on a small machine the two compete.

mod cluster;
pub mod proc;
mod quic;
mod report;
pub mod traffic;
mod udp;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

pub use report::{
    ClientTransport, CpuShare, JoinReport, Machine, MemoryReport, PhaseReport, Report, Settings,
    TargetKind,
};
use traffic::{Layout, Schedule, Spread, Tally};

use crate::{Server, ServerConfig};

/// The thread-name prefix of an embedded relay's runtime.
pub const RELAY_THREADS: &str = "vc-relay";
/// The thread-name prefix of the load tool's own runtime.
pub const LOAD_THREADS: &str = "vc-load";

/// Which relay the members talk to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A relay started in this process on a runtime of its own.
    Embedded { relay_threads: usize },
    /// The `voipchat-server` binary started as a child process (found next to this program
    /// unless given), so its CPU time and memory are its own.
    Spawn { binary: Option<PathBuf> },
    /// `nodes` `voipchat-server` processes joined to the Redis at `redis_url` (which must be
    /// running, and should be this run's alone); each room is placed as a game backend places
    /// it, and CPU and memory are summed over the nodes.
    Cluster {
        redis_url: String,
        nodes: usize,
        binary: Option<PathBuf>,
    },
    /// A relay that is already running. Give its pid (same machine) to measure its CPU and
    /// memory.
    Remote {
        server: String,
        cert_sha256: String,
        app_id: String,
        app_secret: String,
        server_pid: Option<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    pub members: usize,
    pub rooms: usize,
    pub speakers_per_room: usize,
    /// Payload bytes after the 8-byte media header (an Opus frame is about 70-100 bytes).
    pub payload_bytes: usize,
    pub frame: Duration,
    /// Media sent before the measured window opens, and not counted.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Time after the last frame for stragglers to arrive before members leave.
    pub drain: Duration,
    /// Worker threads of the load tool's runtime.
    pub load_threads: usize,
    /// UDP sockets (QUIC client endpoints) the members share; 0 picks one per 50 members.
    pub client_sockets: usize,
    /// Run the QUIC relay phase.
    pub relay: bool,
    /// Run the plain-UDP baseline phase.
    pub baseline: bool,
    /// How long one join may take before it counts as failed.
    pub join_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            target: Target::Embedded { relay_threads: 2 },
            members: 1000,
            rooms: 100,
            speakers_per_room: 1,
            payload_bytes: 80,
            frame: Duration::from_millis(20),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            drain: Duration::from_millis(500),
            load_threads: 2,
            client_sockets: 0,
            relay: true,
            baseline: true,
            join_timeout: Duration::from_secs(10),
        }
    }
}

impl LoadConfig {
    fn layout(&self) -> Layout {
        Layout::new(self.members, self.rooms, self.speakers_per_room)
    }

    fn schedule(&self, start: Instant) -> Schedule {
        let frames = |d: Duration| (d.as_secs_f64() / self.frame.as_secs_f64()).round() as u32;
        Schedule {
            start,
            frame: self.frame,
            warmup_frames: frames(self.warmup),
            measured_frames: frames(self.duration).max(1),
        }
    }

    fn sockets(&self) -> usize {
        match self.client_sockets {
            0 => self.members.div_ceil(50).max(1),
            n => n,
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.members < 2 || self.rooms == 0 || self.rooms * 2 > self.members {
            return Err("need at least 2 members per room".into());
        }
        if self.speakers_per_room == 0 {
            return Err("need at least one speaker per room".into());
        }
        if self.payload_bytes < traffic::PROBE_BYTES
            || self.payload_bytes > crate::net::media::MAX_PAYLOAD
        {
            return Err(format!(
                "payload must be {} to {} bytes",
                traffic::PROBE_BYTES,
                crate::net::media::MAX_PAYLOAD
            ));
        }
        if self.frame.is_zero() || self.duration < self.frame {
            return Err("the duration must hold at least one frame".into());
        }
        Ok(())
    }
}

/// Runs the configured phases and reports. Blocking: it builds its own runtimes (one for the
/// members, and one for an embedded relay), so call it from a plain thread, not a runtime.
pub fn run(config: &LoadConfig) -> Result<Report, String> {
    config.check()?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.load_threads.max(1))
        .thread_name(LOAD_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("load runtime: {e}"))?;
    let mut report = Report::new(config);

    if config.relay {
        let mut relay = RunningRelay::start(config)?;
        report.settings.target = relay.kind;
        let outcome = load_rt.block_on(relay_phase(config, &relay));
        relay.stop();
        let (join, phase, memory, seen) = outcome?;
        report.relay_members_seen = seen;
        report.join = Some(join);
        report.relay = phase;
        report.memory = memory;
    }
    if config.baseline {
        report.baseline = Some(load_rt.block_on(baseline_phase(config))?);
    }
    report.finish();
    Ok(report)
}

/// A relay for the run, however it was provided.
struct RunningRelay {
    kind: TargetKind,
    /// The relay (in a cluster: the first node; every node admits the same app).
    relay: Arc<quic::Relay>,
    cpu: ServerCpu,
    embedded: Option<(tokio::runtime::Runtime, Server)>,
    children: Vec<std::process::Child>,
    cluster: Option<cluster::SpawnedCluster>,
}

impl RunningRelay {
    fn start(config: &LoadConfig) -> Result<RunningRelay, String> {
        let app_id = "voipchat-load".to_string();
        let app_secret = format!("load-secret-{:016x}", rand::random::<u64>());
        let max_members = config.layout().largest_room().max(10);
        match &config.target {
            Target::Embedded { relay_threads } => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads((*relay_threads).max(1))
                    .thread_name(RELAY_THREADS)
                    .enable_all()
                    .build()
                    .map_err(|e| format!("relay runtime: {e}"))?;
                let server = rt
                    .block_on(Server::start(ServerConfig {
                        apps: HashMap::from([(app_id.clone(), app_secret.clone())]),
                        max_members,
                        ..ServerConfig::default()
                    }))
                    .map_err(|e| format!("relay: {e}"))?;
                let relay = quic::Relay::new(
                    server.local_addr(),
                    "localhost".into(),
                    server.cert_sha256().to_string(),
                    app_id,
                    app_secret,
                )?;
                Ok(RunningRelay {
                    kind: TargetKind::Embedded,
                    relay: Arc::new(relay),
                    cpu: ServerCpu::Threads(RELAY_THREADS),
                    embedded: Some((rt, server)),
                    children: Vec::new(),
                    cluster: None,
                })
            }
            Target::Spawn { binary } => {
                let binary = match binary {
                    Some(path) => path.clone(),
                    None => sibling_binary("voipchat-server")?,
                };
                let (child, addr, cert) =
                    spawn_server(&binary, &app_id, &app_secret, max_members, &[])?;
                let pid = child.id();
                Ok(RunningRelay {
                    kind: TargetKind::Spawned,
                    relay: Arc::new(quic::Relay::new(
                        addr,
                        "localhost".into(),
                        cert,
                        app_id,
                        app_secret,
                    )?),
                    cpu: ServerCpu::Processes(vec![pid]),
                    embedded: None,
                    children: vec![child],
                    cluster: None,
                })
            }
            Target::Cluster {
                redis_url,
                nodes,
                binary,
            } => {
                let binary = match binary {
                    Some(path) => path.clone(),
                    None => sibling_binary("voipchat-server")?,
                };
                let started = cluster::SpawnedCluster::start(
                    &binary,
                    redis_url,
                    *nodes,
                    (&app_id, &app_secret),
                    max_members,
                )?;
                Ok(RunningRelay {
                    kind: TargetKind::Cluster,
                    relay: started.first_node(),
                    cpu: ServerCpu::Processes(started.pids()),
                    embedded: None,
                    children: Vec::new(),
                    cluster: Some(started),
                })
            }
            Target::Remote {
                server,
                cert_sha256,
                app_id,
                app_secret,
                server_pid,
            } => {
                let addr = server
                    .to_socket_addrs()
                    .map_err(|e| format!("{server}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("{server}: no address"))?;
                let host = server.rsplit_once(':').map_or(server.as_str(), |(h, _)| h);
                Ok(RunningRelay {
                    kind: TargetKind::Remote,
                    relay: Arc::new(quic::Relay::new(
                        addr,
                        host.trim_matches(['[', ']']).to_string(),
                        cert_sha256.clone(),
                        app_id.clone(),
                        app_secret.clone(),
                    )?),
                    cpu: ServerCpu::Processes(server_pid.iter().copied().collect()),
                    embedded: None,
                    children: Vec::new(),
                    cluster: None,
                })
            }
        }
    }

    /// The relay processes whose CPU and memory the run measures.
    fn pids(&self) -> Vec<u32> {
        match &self.cpu {
            ServerCpu::Processes(pids) => pids.clone(),
            ServerCpu::Threads(_) => Vec::new(),
        }
    }

    fn members(&self) -> Option<usize> {
        self.embedded.as_ref().map(|(_, s)| s.stats().members)
    }

    /// The relay each room's members join: the one relay, or in a cluster the node the
    /// backend's placement picks for the room.
    async fn relays_for(&self, groups: &[String]) -> Result<Vec<Arc<quic::Relay>>, String> {
        match &self.cluster {
            Some(cluster) => cluster.place(&self.relay.app_id, groups).await,
            None => Ok(groups.iter().map(|_| self.relay.clone()).collect()),
        }
    }

    fn stop(&mut self) {
        if let Some((rt, server)) = self.embedded.take() {
            rt.block_on(server.shutdown());
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut cluster) = self.cluster.take() {
            cluster.stop();
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sibling_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    // Test binaries live one level down, in target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found (build it, or pass --server-binary)",
            path.display()
        ))
    }
}

/// Starts `voipchat-server` on a free loopback port (with `extra` flags, e.g. a cluster's) and
/// reads the address and pin it prints. Also for benches that measure the relay as its own
/// process (`benches/soak.rs`).
pub fn spawn_server(
    binary: &std::path::Path,
    app_id: &str,
    app_secret: &str,
    max_members: usize,
    extra: &[String],
) -> Result<(std::process::Child, SocketAddr, String), String> {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .arg("--app")
        .arg(format!("{app_id}:{app_secret}"))
        .arg("--max-members")
        .arg(max_members.to_string())
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut field = |key: &str| -> Result<String, String> {
        let line = lines
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| format!("{} exited before printing {key}", binary.display()))?;
        line.strip_prefix(key)
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("expected '{key} ...', got {line:?}"))
    };
    let started = (|| {
        let addr = field("listening")?
            .parse::<SocketAddr>()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((addr, field("cert-sha256")?))
    })();
    match started {
        Ok((addr, cert)) => Ok((child, addr, cert)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Where the relay's CPU time is found.
#[derive(Debug, Clone)]
enum ServerCpu {
    /// Threads of this process with this name prefix.
    Threads(&'static str),
    /// These processes, summed (none: a remote relay whose pid was not given).
    Processes(Vec<u32>),
}

/// CPU readings at one instant.
#[derive(Debug, Clone)]
struct CpuSample {
    at: Instant,
    own: Option<proc::ThreadTimes>,
    server_process: Option<f64>,
    machine: Option<proc::MachineTimes>,
    udp_drops: Option<u64>,
}

impl CpuSample {
    fn take(server: &ServerCpu) -> CpuSample {
        let server_process = match server {
            ServerCpu::Processes(pids) if !pids.is_empty() => pids
                .iter()
                .map(|pid| proc::ThreadTimes::of(&pid.to_string()).map(|t| t.total()))
                .sum(),
            _ => None,
        };
        CpuSample {
            at: Instant::now(),
            own: proc::ThreadTimes::of("self"),
            server_process,
            machine: proc::MachineTimes::now(),
            udp_drops: proc::udp_receive_buffer_drops(),
        }
    }
}

/// Splits the CPU time between two samples into forwarder (the relay, or the baseline's
/// forwarder thread), the load tool, and everything else on the machine.
fn cpu_share(server: &ServerCpu, a: &CpuSample, b: &CpuSample) -> CpuShare {
    let secs = (b.at - a.at).as_secs_f64();
    let own = match (&a.own, &b.own) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let own_total = own.map(|(a, b)| b.total() - a.total());
    let forwarder = match server {
        ServerCpu::Threads(prefix) => own.map(|(a, b)| b.named(prefix) - a.named(prefix)),
        ServerCpu::Processes(_) => match (a.server_process, b.server_process) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
    };
    let in_process = matches!(server, ServerCpu::Threads(_));
    let load = own_total.map(|t| {
        t - if in_process {
            forwarder.unwrap_or(0.0)
        } else {
            0.0
        }
    });
    let machine = match (a.machine, b.machine) {
        (Some(a), Some(b)) => Some(b.busy_secs - a.busy_secs),
        _ => None,
    };
    let others = machine.map(|m| {
        let ours = own_total.unwrap_or(0.0)
            + if in_process {
                0.0
            } else {
                forwarder.unwrap_or(0.0)
            };
        (m - ours).max(0.0)
    });
    CpuShare {
        udp_receive_buffer_drops: match (a.udp_drops, b.udp_drops) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        window_secs: secs,
        forwarder_cpu_secs: forwarder,
        load_cpu_secs: load,
        machine_busy_secs: machine,
        others_cpu_secs: others,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Frames a listener should hear in the measured window: every other speaker's.
fn expected_for(layout: &Layout, schedule: &Schedule, member: usize) -> usize {
    let (_, size) = layout.room(layout.room_of(member));
    let speakers = layout.speakers_per_room.min(size);
    let others = speakers - usize::from(layout.speaker_slot(member).is_some());
    others * schedule.measured_frames as usize
}

/// Waits out the schedule, sampling CPU when the measured window opens and closes.
async fn sample_window(schedule: &Schedule, server: &ServerCpu) -> CpuShare {
    let (open, close) = schedule.window();
    tokio::time::sleep_until(open.into()).await;
    let a = CpuSample::take(server);
    tokio::time::sleep_until(close.into()).await;
    let b = CpuSample::take(server);
    cpu_share(server, &a, &b)
}

type RelayOutcome = (
    JoinReport,
    Option<PhaseReport>,
    Option<MemoryReport>,
    Option<usize>,
);

async fn relay_phase(config: &LoadConfig, running: &RunningRelay) -> Result<RelayOutcome, String> {
    let relay = running.relay.clone();
    let server_cpu = running.cpu.clone();
    let pids = running.pids();
    let layout = Arc::new(config.layout());
    let epoch = Instant::now();
    let endpoints = quic::endpoints(&relay, config.sockets())?;
    let tag = format!("{:08x}", rand::random::<u32>());
    let now = unix_now();
    let groups: Vec<String> = (0..layout.rooms)
        .map(|r| format!("load-{tag}-room{r}"))
        .collect();
    // Placed before the storm, as a backend answers before its clients connect.
    let room_relays = running.relays_for(&groups).await?;
    let requests: Vec<_> = (0..layout.members)
        .map(|i| {
            relay.signed_join(
                &format!("load-{tag}-m{i}"),
                &groups[layout.room_of(i)],
                &format!("{tag}-{i}"),
                now,
            )
        })
        .collect();
    // Summed over the relay's processes (a cluster's nodes); unknown without one.
    let rss = || -> Option<u64> {
        if pids.is_empty() {
            return None;
        }
        pids.iter()
            .map(|pid| proc::rss_bytes(&pid.to_string()))
            .sum()
    };
    let rss_before = rss();

    // The join storm: every member at once, each on a fresh connection.
    let storm_start = Instant::now();
    let joins: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            let endpoint = endpoints[i % endpoints.len()].clone();
            let relay = room_relays[layout.room_of(i)].clone();
            let wait = config.join_timeout;
            tokio::spawn(async move {
                let started = Instant::now();
                let joined = quic::join(endpoint, relay, request, wait).await;
                (joined, started.elapsed(), Instant::now())
            })
        })
        .collect();
    let mut members = Vec::with_capacity(layout.members);
    let mut join = JoinReport {
        attempted: layout.members,
        ..JoinReport::default()
    };
    let mut latencies = Vec::with_capacity(layout.members);
    let mut last_done = storm_start;
    for handle in joins {
        let (joined, latency, done) = handle.await.map_err(|e| format!("join task: {e}"))?;
        last_done = last_done.max(done);
        match joined {
            quic::Joined::Admitted(member) => {
                join.admitted += 1;
                latencies.push(latency.as_nanos().min(u128::from(u64::MAX)) as u64);
                members.push(Some(member));
            }
            quic::Joined::Refused { code, reason } => {
                join.refused += 1;
                join.first_error
                    .get_or_insert_with(|| format!("refused ({code}): {reason}"));
                members.push(None);
            }
            quic::Joined::Failed(e) => {
                join.failed += 1;
                join.first_error.get_or_insert(e);
                members.push(None);
            }
        }
    }
    join.storm_ms = (last_done - storm_start).as_secs_f64() * 1000.0;
    join.latency_us = Spread::of_ns(&mut latencies);
    let rss_after_join = rss();
    let seen = running.members();

    if join.admitted == 0 {
        return Ok((join, None, None, seen));
    }
    // Members whose join failed sit the media out: they neither speak nor count as listeners,
    // so a storm that loses a few joins still measures the rest.
    let sources = Arc::new(
        members
            .iter()
            .map(|m| m.as_ref().map_or(u32::MAX, |m| m.source))
            .collect::<Vec<_>>(),
    );

    // Media: give the storm's member-list broadcasts a moment to settle, then warm up.
    let schedule = config.schedule(Instant::now() + Duration::from_millis(300));
    let listeners: Vec<_> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, m.as_ref()?)))
        .map(|(i, m)| {
            let tally = Tally::new(&layout, i, expected_for(&layout, &schedule, i));
            tokio::spawn(quic::listen(
                m.connection.clone(),
                tally,
                sources.clone(),
                epoch,
            ))
        })
        .collect();
    let mut speakers = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let Some(m) = m else { continue };
        if layout.speaker_slot(i).is_some() {
            let nth = speakers.len();
            speakers.push((
                i,
                tokio::spawn(quic::speak(
                    m.connection.clone(),
                    layout.clone(),
                    i,
                    nth,
                    schedule,
                    config.payload_bytes,
                    epoch,
                )),
            ));
        }
    }
    let cpu = sample_window(&schedule, &server_cpu).await;
    let mut sent = vec![0u64; layout.members];
    let mut send_errors = 0;
    for (i, handle) in speakers {
        let (ok, failed) = handle.await.map_err(|e| format!("speaker task: {e}"))?;
        sent[i] = ok;
        send_errors += failed;
    }
    tokio::time::sleep(config.drain).await;
    let rss_after_media = rss();

    let members: Vec<quic::Member> = members.into_iter().flatten().collect();
    let transport = ClientTransport::of(&members);
    for member in &members {
        member.leave();
    }
    let mut tallies = Vec::with_capacity(layout.members);
    for handle in listeners {
        tallies.push(handle.await.map_err(|e| format!("listener task: {e}"))?);
    }
    for endpoint in &endpoints {
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    }

    let mut phase = PhaseReport::new(&layout, &tallies, &sent, send_errors, cpu);
    phase.client_transport = Some(transport);
    let memory = match (rss_before, rss_after_join) {
        (Some(before), Some(after_join)) => Some(MemoryReport::new(
            members.len(),
            before,
            after_join,
            rss_after_media,
        )),
        _ => None,
    };
    Ok((join, Some(phase), memory, seen))
}

async fn baseline_phase(config: &LoadConfig) -> Result<PhaseReport, String> {
    let layout = Arc::new(config.layout());
    let epoch = Instant::now();
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sockets = udp::bind_members(local, layout.members)
        .await
        .map_err(|e| format!("member sockets: {e}"))?;
    let addrs = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let sources: Arc<Vec<u32>> = Arc::new((1..=layout.members as u32).collect());
    let forwarder = udp::Forwarder::start(local, &layout, &addrs, &sources)
        .map_err(|e| format!("forwarder: {e}"))?;
    let schedule = config.schedule(Instant::now() + Duration::from_millis(100));
    let (stop, stopped) = watch::channel(false);
    let listeners: Vec<_> = sockets
        .iter()
        .enumerate()
        .map(|(i, socket)| {
            let tally = Tally::new(&layout, i, expected_for(&layout, &schedule, i));
            tokio::spawn(udp::listen(
                socket.clone(),
                tally,
                sources.clone(),
                epoch,
                stopped.clone(),
            ))
        })
        .collect();
    let mut speakers = Vec::new();
    for (i, socket) in sockets.iter().enumerate() {
        if layout.speaker_slot(i).is_some() {
            let nth = speakers.len();
            speakers.push((
                i,
                tokio::spawn(udp::speak(
                    socket.clone(),
                    forwarder.addr,
                    layout.clone(),
                    i,
                    nth,
                    schedule,
                    config.payload_bytes,
                    epoch,
                )),
            ));
        }
    }
    let cpu = sample_window(&schedule, &ServerCpu::Threads(udp::THREAD_NAME)).await;
    let mut sent = vec![0u64; layout.members];
    let mut send_errors = 0;
    for (i, handle) in speakers {
        let (ok, failed) = handle.await.map_err(|e| format!("speaker task: {e}"))?;
        sent[i] = ok;
        send_errors += failed;
    }
    tokio::time::sleep(config.drain).await;
    let _ = stop.send(true);
    let mut tallies = Vec::with_capacity(layout.members);
    for handle in listeners {
        tallies.push(handle.await.map_err(|e| format!("listener task: {e}"))?);
    }
    forwarder.stop().map_err(|e| format!("forwarder: {e}"))?;
    Ok(PhaseReport::new(&layout, &tallies, &sent, send_errors, cpu))
}
