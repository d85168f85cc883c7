//! A cluster for tests and benches: one real Redis, three relay processes, and members that
//! ask the "backend" (placement) where their room lives, join there, and talk in real time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use voipchat::cluster::{self, Directory, Placement};
use voipchat::net::tls::Liveness;
use voipchat::{Client, ClientConfig, JoinParams, VoipError};

use super::redis::RedisServer;
use super::relay_process::RelayProcess;
use super::{signal, signed, Events, APP_ID};

pub const NODES: [&str; 3] = ["relay-a", "relay-b", "relay-c"];

/// One Redis and three relay processes joined to it.
pub struct Cluster {
    pub redis: RedisServer,
    pub relays: Vec<RelayProcess>,
    pub directory: Directory,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let redis = RedisServer::start();
        let relays = NODES
            .iter()
            .map(|id| RelayProcess::start(&redis.url(), id, &[]))
            .collect();
        let directory = Directory::connect(&redis.url()).await.expect("directory");
        Cluster {
            redis,
            relays,
            directory,
        }
    }

    pub fn relay(&self, node_id: &str) -> &RelayProcess {
        self.relays.iter().find(|r| r.node_id == node_id).unwrap()
    }

    pub fn relay_mut(&mut self, node_id: &str) -> &mut RelayProcess {
        self.relays
            .iter_mut()
            .find(|r| r.node_id == node_id)
            .unwrap()
    }

    /// Starts a node again under the same id (after a kill), on a new port.
    pub fn restart(&mut self, node_id: &str) {
        let url = self.redis.url();
        let relay = self.relay_mut(node_id);
        *relay = RelayProcess::start(&url, node_id, &[]);
    }

    pub async fn place(&self, group: &str) -> Placement {
        cluster::place(&self.directory, APP_ID, group)
            .await
            .expect("placement")
    }
}

/// A client whose connection notices a dead relay within about a second and a half, as a game
/// that runs many relays would configure it (defaults: 6 s idle timeout, 10 s of resuming).
pub fn client_config(server: &str, cert_sha256: &str) -> ClientConfig {
    let mut config = ClientConfig::new(server).pinned(cert_sha256);
    config.liveness = Liveness::with_idle_timeout(Duration::from_millis(1500));
    config.resume_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(1);
    config
}

/// A member in a call, talking: a task feeds its microphone speech and drains its speaker in
/// real time, as an engine's audio thread would.
pub struct Member {
    pub open_id: String,
    pub client: Arc<Client>,
    pub events: Events,
    pub node_id: String,
    audio: JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.audio.abort();
    }
}

const FRAME: usize = 960; // 20 ms at 48 kHz

pub fn talk(client: Arc<Client>, base_hz: f32) -> JoinHandle<()> {
    let speech = signal::speech_like(4.0, base_hz, 48_000);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut heard = vec![0.0f32; FRAME];
        for frame in speech.chunks(FRAME).cycle() {
            tick.tick().await;
            let _ = client.push_capture(frame, 48_000, 1);
            let _ = client.pull_playback(&mut heard, 48_000, 1);
        }
    })
}

/// Joins `open_id` to `group` on `node` (its address and pin) with fresh signed parameters.
pub async fn join_on(
    node: (&str, &str, &str),
    params: JoinParams,
    base_hz: f32,
) -> Result<Member, VoipError> {
    let (node_id, addr, cert) = node;
    let (client, events) = Client::with_channel(client_config(addr, cert)).expect("client");
    let client = Arc::new(client);
    let open_id = params.open_id.clone();
    client.join(params).await?;
    Ok(Member {
        audio: talk(client.clone(), base_hz),
        open_id,
        client,
        events: Events(events),
        node_id: node_id.to_string(),
    })
}

/// What a game does: asks its backend where the room lives, then joins there.
pub async fn join_placed(
    cluster: &Cluster,
    open_id: &str,
    group: &str,
) -> Result<Member, VoipError> {
    let placement = cluster::place(&cluster.directory, APP_ID, group).await?;
    let node = (
        placement.node_id.as_str(),
        placement.server.as_str(),
        placement.server_cert_sha256.as_str(),
    );
    join_on(node, signed(open_id, group), pitch_of(open_id)).await
}

pub fn pitch_of(open_id: &str) -> f32 {
    120.0 + 10.0 * (open_id.len() as f32)
}

/// Packets `listener` has received from `speaker` so far.
pub fn received_from(listener: &Member, speaker: &str) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&listener.client.stats_json()).unwrap();
    stats["members"][speaker]["packetsReceived"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until every member receives every other's voice afresh (at least 10 new packets,
/// 0.2 s of speech), or fails after `limit`.
pub async fn everyone_hears_everyone(members: &[&Member], limit: Duration) {
    let baseline: Vec<Vec<u64>> = members
        .iter()
        .map(|l| {
            members
                .iter()
                .map(|s| received_from(l, &s.open_id))
                .collect()
        })
        .collect();
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<(String, String)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, listener)| {
                let baseline = &baseline;
                members.iter().enumerate().filter_map(move |(j, speaker)| {
                    let fresh = received_from(listener, &speaker.open_id) >= baseline[i][j] + 10;
                    (i != j && !fresh).then(|| (listener.open_id.clone(), speaker.open_id.clone()))
                })
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {limit:?}, (listener, speaker) pairs still not hearing: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rejoins a member the way a game does on -1011: ask the backend again, join where it says;
/// a join that reaches a node not yet known dead fails, and is retried.
pub async fn rejoin(cluster: &Cluster, open_id: &str, group: &str, limit: Duration) -> Member {
    let deadline = Instant::now() + limit;
    loop {
        match join_placed(cluster, open_id, group).await {
            Ok(member) => return member,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{open_id} could not rejoin within {limit:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
