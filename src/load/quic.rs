//! Load-tool members over real QUIC: each one a connection with a signed join, then raw media
//! datagrams in the relay's uplink format (no Opus: the tool must not spend its CPU encoding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::traffic::{Layout, Probe, Schedule, Tally};
use crate::auth;
use crate::net::tls::{self, Liveness};
use crate::net::wire::{self, ClientMessage, JoinRequest, ServerMessage};
use crate::types::{MuteConfig, RoomType};

/// Where the members connect, and how they prove they may.
#[derive(Clone)]
pub struct Relay {
    pub addr: SocketAddr,
    /// The TLS name the client asks for; a pinned certificate does not check it.
    pub server_name: String,
    pub app_id: String,
    pub app_secret: String,
    /// Pins this relay's certificate: in a cluster each node has its own.
    client_config: quinn::ClientConfig,
}

impl Relay {
    pub fn new(
        addr: SocketAddr,
        server_name: String,
        cert_sha256: String,
        app_id: String,
        app_secret: String,
    ) -> Result<Relay, String> {
        let client_config = tls::client_config(Some(&cert_sha256), Liveness::default())
            .map_err(|e| e.to_string())?;
        Ok(Relay {
            addr,
            server_name,
            app_id,
            app_secret,
            client_config,
        })
    }

    /// Join parameters signed the way a game backend signs them.
    pub fn signed_join(&self, open_id: &str, group_id: &str, nonce: &str, now: i64) -> JoinRequest {
        let key = auth::session_key(&self.app_secret, open_id);
        JoinRequest {
            app_id: self.app_id.clone(),
            open_id: open_id.to_string(),
            group_id: group_id.to_string(),
            nonce_str: nonce.to_string(),
            time_stamp: now,
            signature: auth::sign(&key, &self.app_id, group_id, nonce, now),
            room_type: RoomType::Voice,
            mute: MuteConfig::default(),
        }
    }
}

/// Client endpoints (UDP sockets) the members share, round robin. Each connection names its
/// relay's pin ([`join`]), so one endpoint serves every node of a cluster.
pub fn endpoints(relay: &Relay, count: usize) -> Result<Vec<quinn::Endpoint>, String> {
    let bind: SocketAddr = if relay.addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    (0..count.max(1))
        .map(|_| {
            let socket = big_buffered_socket(bind).map_err(|e| format!("client socket: {e}"))?;
            let endpoint = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                None,
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| format!("client endpoint: {e}"))?;
            Ok(endpoint)
        })
        .collect()
}

/// Socket buffers the load tool asks for: a join storm lands dozens of handshakes on each
/// client socket at once, and the tool must not be the one dropping them. The kernel caps the
/// request at `net.core.rmem_max` / `wmem_max`.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// A UDP socket bound to `bind` with [`SOCKET_BUFFER_BYTES`] buffers (best effort).
pub fn big_buffered_socket(bind: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(bind)?;
    let state = quinn::udp::UdpSocketState::new((&socket).into())?;
    let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
    let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
    Ok(socket)
}

/// An admitted member.
pub struct Member {
    pub connection: quinn::Connection,
    /// The media source id the relay tags this member's datagrams with.
    pub source: u32,
    _control: quinn::SendStream,
    reader: JoinHandle<()>,
}

impl Member {
    /// Leaves by closing with code 0, which frees the seat at once.
    pub fn leave(&self) {
        self.connection
            .close(crate::net::close_code::NORMAL, b"load run over");
        self.reader.abort();
    }
}

pub enum Joined {
    Admitted(Member),
    Refused { code: i32, reason: String },
    Failed(String),
}

/// Connects, sends the join and waits for the answer.
pub async fn join(
    endpoint: quinn::Endpoint,
    relay: Arc<Relay>,
    request: JoinRequest,
    wait: Duration,
) -> Joined {
    let attempt = async {
        let connection = endpoint
            .connect_with(relay.client_config.clone(), relay.addr, &relay.server_name)
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .map_err(|e| format!("control stream: {e}"))?;
        wire::write_message(&mut send, &ClientMessage::Join(request))
            .await
            .map_err(|e| format!("join: {e}"))?;
        let reply: ServerMessage = wire::read_message(&mut recv)
            .await
            .map_err(|e| format!("answer: {e}"))?;
        Ok::<_, String>((connection, send, recv, reply))
    };
    let (connection, send, mut recv, reply) = match tokio::time::timeout(wait, attempt).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return Joined::Failed(e),
        Err(_) => return Joined::Failed(format!("no answer within {wait:?}")),
    };
    match reply {
        ServerMessage::Joined { sources, .. } => {
            // Keep reading the control stream (member lists, loss hints) so the relay never
            // sees this member as stuck.
            let reader = tokio::spawn(async move {
                while wire::read_message::<ServerMessage, _>(&mut recv)
                    .await
                    .is_ok()
                {}
            });
            Joined::Admitted(Member {
                connection,
                // The joiner is last in the list it is admitted with.
                source: sources.last().copied().unwrap_or(0),
                _control: send,
                reader,
            })
        }
        ServerMessage::Rejected { code, reason } => Joined::Refused { code, reason },
        other => Joined::Failed(format!("unexpected answer {other:?}")),
    }
}

/// Sends one speaker's frames on schedule; returns (measured frames sent, refused sends).
pub async fn speak(
    connection: quinn::Connection,
    layout: Arc<Layout>,
    member: usize,
    nth_speaker: usize,
    schedule: Schedule,
    payload_bytes: usize,
    epoch: Instant,
) -> (u64, u64) {
    let speakers = layout.speakers();
    let room = layout.room_of(member) as u32;
    let (mut sent, mut refused) = (0, 0);
    let mut datagram = Vec::with_capacity(payload_bytes + 16);
    for frame in 0..schedule.total_frames() {
        tokio::time::sleep_until(schedule.deadline(nth_speaker, speakers, frame).into()).await;
        let probe = Probe {
            sent_ns: epoch.elapsed().as_nanos() as u64,
            sender: member as u32,
            room,
            frame,
            measured: schedule.measured(frame),
        };
        probe.uplink(payload_bytes, &mut datagram);
        match connection.send_datagram(Bytes::copy_from_slice(&datagram)) {
            Ok(()) if probe.measured => sent += 1,
            Ok(()) => {}
            Err(_) => refused += 1,
        }
    }
    (sent, refused)
}

/// Reads one member's datagrams until its connection closes.
pub async fn listen(
    connection: quinn::Connection,
    mut tally: Tally,
    sources: Arc<Vec<u32>>,
    epoch: Instant,
) -> Tally {
    while let Ok(datagram) = connection.read_datagram().await {
        tally.record(&datagram, &sources, epoch.elapsed().as_nanos() as u64);
    }
    tally
}
