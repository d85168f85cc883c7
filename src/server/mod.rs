//! The relay server: QUIC endpoint, signed admission, rooms. Runs as the `voipchat-server`
//! binary or embedded in a game host, a test or the demo through [`Server::start`].

mod admission;
mod connection;
mod control_io;
mod driver;
mod media;
mod media_budget;
mod rooms;
mod video_routing;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use control_io::Command;
use driver::{Driver, LoopSetup};

pub use admission::{Admission, Refusal};
pub use connection::MAX_VIDEO_SUBSCRIPTION;
pub use media_budget::MediaRateLimit;
pub use rooms::{JoinRefusal, Rooms};

use crate::cluster::{ClusterConfig, HostedRooms, Node, RoomId};
use crate::error::{ErrorCode, VoipError};
use crate::log::Logger;
use crate::net::tls::{self, Liveness, ServerIdentity};

/// Everything a relay needs to start. `Default` listens on a free loopback port with a fresh
/// self-signed certificate and no apps (add at least one to admit anybody).
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// app_id -> app_secret. The secret signs joins; it never leaves the game's backend.
    pub apps: HashMap<String, String>,
    /// Members per room; WeChat's default is 10.
    pub max_members: usize,
    /// How far a join's timestamp may be from the server's clock, either way.
    pub timestamp_window: Duration,
    /// The TLS certificate; `None` makes a self-signed one (clients pin its fingerprint).
    pub identity: Option<ServerIdentity>,
    /// How long a member whose connection dropped keeps their seat for a resume.
    pub resume_grace: Duration,
    pub liveness: Liveness,
    /// Time a new connection has to finish its handshake and send its first message.
    pub handshake_timeout: Duration,
    /// How many loops share the QUIC work, each on a thread and a socket of its own, all on the
    /// same port (`SO_REUSEPORT`); 0 means one per worker thread of the runtime the server
    /// starts in.
    pub io_loops: usize,
    /// Join a cluster of relays sharing a directory in Redis; `None` runs alone.
    pub cluster: Option<ClusterConfig>,
    /// How much media one member may send through the relay; what it sends beyond is dropped
    /// before it reaches anyone, with a warning in the log naming the member.
    pub member_media: MediaRateLimit,
    /// The same for video, budgeted apart from voice (a member's video never eats its voice's
    /// allowance); default [`MediaRateLimit::video_default`].
    pub member_video: MediaRateLimit,
    pub logger: Logger,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            apps: HashMap::new(),
            max_members: 10,
            timestamp_window: Duration::from_secs(300),
            identity: None,
            resume_grace: Duration::from_secs(10),
            liveness: Liveness::default(),
            handshake_timeout: Duration::from_secs(5),
            io_loops: 0,
            cluster: None,
            member_media: MediaRateLimit::default(),
            member_video: MediaRateLimit::video_default(),
            logger: Logger::default(),
        }
    }
}

/// State every connection task shares. Each lock is held for a few map operations only, never
/// across an `.await`.
pub(crate) struct Shared {
    admission: Mutex<Admission>,
    rooms: Mutex<Rooms>,
    resume_grace: Duration,
    handshake_timeout: Duration,
    /// How long a nonce stays dangerous after its timestamp: the shared nonce cache's TTL.
    timestamp_window_secs: i64,
    /// The cluster membership, when the relay runs as one node of many.
    cluster: Option<Arc<Node>>,
    /// Draining: rooms running here carry on, new ones are refused.
    draining: AtomicBool,
    logger: Logger,
}

impl Shared {
    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        // A panic while holding the lock leaves the maps consistent (no multi-step invariants
        // are half-written across a panic point), so carry on rather than poison every room.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn admission(&self) -> MutexGuard<'_, Admission> {
        self.admission
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

impl HostedRooms for Shared {
    fn hosted_rooms(&self) -> Vec<RoomId> {
        self.rooms().room_ids()
    }

    fn member_count(&self) -> usize {
        self.rooms().member_count()
    }
}

/// A running relay. Dropping it without [`Server::shutdown`] stops accepting but does not wait.
pub struct Server {
    /// Each driver loop's command channel.
    commands: Vec<mpsc::UnboundedSender<Command>>,
    local_addr: SocketAddr,
    cert_sha256: String,
    shared: Arc<Shared>,
    /// Counted by every loop, read by [`Server::stats`].
    media_over_budget: Arc<AtomicU64>,
    /// Joined by [`Server::shutdown`], so the port is free when it returns; a drop only stops
    /// the loops, and each ends its thread by itself.
    io_threads: Vec<std::thread::JoinHandle<()>>,
}

/// A snapshot of the relay's load, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    pub rooms: usize,
    pub members: usize,
    /// Media datagrams dropped because their sender was over [`ServerConfig::member_media`].
    pub media_over_budget: u64,
}

impl Server {
    /// Binds and starts accepting. Must be called inside a tokio runtime: connections' control
    /// tasks run on it, while the QUIC I/O runs on threads of the relay's own
    /// ([`ServerConfig::io_loops`]).
    pub async fn start(config: ServerConfig) -> Result<Server, VoipError> {
        let identity = match config.identity {
            Some(identity) => identity,
            None => ServerIdentity::self_signed()?,
        };
        let cert_sha256 = identity.fingerprint();
        let server_config = quic_config(&identity, config.liveness)?;
        let loops = match config.io_loops {
            0 => tokio::runtime::Handle::current().metrics().num_workers(),
            n => n,
        }
        .clamp(1, MAX_IO_LOOPS);
        let sockets = bind(config.listen, loops).map_err(|e| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                format!("cannot listen on {}: {e}", config.listen),
            )
        })?;
        let local_addr = sockets[0]
            .local_addr()
            .map_err(|e| VoipError::new(ErrorCode::System, format!("local address: {e}")))?;
        let window_secs = i64::try_from(config.timestamp_window.as_secs()).unwrap_or(i64::MAX);
        // Joined before the first connection is accepted: every join is checked by the
        // directory from the start.
        let cluster = match config.cluster {
            Some(mut cluster) => {
                if cluster.public_addr.is_empty() {
                    cluster.public_addr = local_addr.to_string();
                }
                let node = Node::join(cluster, cert_sha256.clone(), config.logger.clone());
                Some(node.await?)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            admission: Mutex::new(Admission::new(config.apps, window_secs)),
            rooms: Mutex::new(Rooms::new(config.max_members)),
            resume_grace: config.resume_grace,
            handshake_timeout: config.handshake_timeout,
            timestamp_window_secs: window_secs,
            cluster,
            draining: AtomicBool::new(false),
            logger: config.logger,
        });
        if let Some(node) = &shared.cluster {
            let host: Arc<dyn HostedRooms> = shared.clone();
            node.run(Arc::downgrade(&host) as Weak<dyn HostedRooms>);
        }
        // Control tasks run on the caller's runtime; the I/O loops on threads of their own.
        let runtime = tokio::runtime::Handle::current();
        let endpoint_config = Arc::new(quinn_proto::EndpointConfig::default());
        let media_over_budget = Arc::new(AtomicU64::new(0));
        let (commands, receivers): (Vec<_>, Vec<_>) =
            sockets.iter().map(|_| mpsc::unbounded_channel()).unzip();
        let mut io_threads = Vec::with_capacity(sockets.len());
        for (index, (socket, receiver)) in sockets.into_iter().zip(receivers).enumerate() {
            let for_connections = shared.clone();
            let runtime = runtime.clone();
            let on_connection = Box::new(move |io| {
                runtime.spawn(connection::serve(for_connections.clone(), io));
            });
            let started = Driver::spawn(LoopSetup {
                index,
                socket,
                endpoint_config: endpoint_config.clone(),
                server_config: server_config.clone(),
                on_connection,
                member_media: config.member_media,
                member_video: config.member_video,
                media_over_budget: media_over_budget.clone(),
                log: shared.logger.clone(),
                commands: receiver,
                peers: commands.clone(),
            });
            match started {
                Ok(thread) => io_threads.push(thread),
                Err(e) => {
                    for sender in &commands {
                        let _ = sender.send(Command::Stop);
                    }
                    return Err(VoipError::new(
                        ErrorCode::System,
                        format!("relay I/O thread: {e}"),
                    ));
                }
            }
        }
        shared.logger.info(format_args!(
            "listening on {local_addr} ({loops} I/O loop{})",
            if loops == 1 { "" } else { "s" }
        ));
        Ok(Server {
            commands,
            local_addr,
            cert_sha256,
            shared,
            media_over_budget,
            io_threads,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Lowercase hex SHA-256 of the certificate's DER: give it to clients to pin.
    pub fn cert_sha256(&self) -> &str {
        &self.cert_sha256
    }

    pub fn stats(&self) -> ServerStats {
        let rooms = self.shared.rooms();
        ServerStats {
            rooms: rooms.room_count(),
            members: rooms.member_count(),
            media_over_budget: self.media_over_budget.load(Ordering::Relaxed),
        }
    }

    /// Stops taking new rooms while the running ones carry on; in a cluster the node's record
    /// says `draining` at once, so placements go elsewhere. Joins to rooms running here are
    /// still admitted, so no room is split.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
        if let Some(node) = &self.shared.cluster {
            node.start_draining();
        }
        self.shared.logger.info(format_args!(
            "draining: no new rooms, running ones carry on"
        ));
    }

    /// Waits until no room runs here (after [`Server::drain`], until the last match ends).
    pub async fn until_empty(&self) {
        while self.shared.rooms().member_count() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The node id in the cluster, if the relay is part of one.
    pub fn node_id(&self) -> Option<&str> {
        self.shared.cluster.as_deref().map(Node::node_id)
    }

    /// Tells every member the server is going away, closes all connections and waits (briefly)
    /// for them to drain. A cluster node first leaves the directory (its rooms unpinned, its
    /// record removed), so backends re-place those rooms as their members rejoin. When it
    /// returns, the relay's sockets are closed and its address can be bound again.
    pub async fn shutdown(mut self) {
        if let Some(node) = &self.shared.cluster {
            let rooms = self.shared.rooms().room_ids();
            node.leave(&rooms).await;
        }
        self.shared.rooms().announce_shutdown();
        // Each connection task writes the notice and waits for its client to close; give them
        // that time (bounded), so members learn why rather than just losing the connection.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while self.shared.rooms().connected_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut all_closed = Vec::new();
        for commands in &self.commands {
            let (done, closed) = oneshot::channel();
            let _ = commands.send(Command::Shutdown {
                code: crate::net::close_code::SHUTDOWN,
                reason: Bytes::from_static(b"server shutting down"),
                done,
            });
            all_closed.push(closed);
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            for closed in all_closed {
                let _ = closed.await;
            }
        })
        .await;
        // Stop the loops and wait for their threads to end, so the relay's port is free when
        // this returns: a host (or a test) restarting its relay on the same address rebinds at
        // once instead of racing the old sockets' close ("address in use").
        for commands in &self.commands {
            let _ = commands.send(Command::Stop);
        }
        let threads = std::mem::take(&mut self.io_threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        self.shared.logger.info(format_args!("stopped"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(node) = &self.shared.cluster {
            node.stop();
        }
        for commands in &self.commands {
            let _ = commands.send(Command::Stop);
        }
    }
}

/// The relay's QUIC settings: its TLS identity, the members' liveness, and fewer
/// acknowledgements. Public so benchmarks measure the transport exactly as the relay runs it.
pub fn quic_config(
    identity: &ServerIdentity,
    liveness: Liveness,
) -> Result<quinn::ServerConfig, VoipError> {
    let mut config = tls::server_config(identity, liveness)?;
    fewer_acknowledgements(&mut config);
    Ok(config)
}

/// Ack-eliciting packets a member may receive before it must acknowledge them (it still does
/// within its `max_ack_delay`, 25 ms by default, capped by quinn at the larger of the path's
/// RTT and 25 ms).
const ACK_ELICITING_THRESHOLD: u32 = 9;

/// Asks members to acknowledge fewer of the relay's packets (QUIC ACK frequency extension,
/// draft-ietf-quic-ack-frequency, which quinn clients support). Media datagrams are never
/// retransmitted, so their acknowledgements serve only congestion control, yet by default every
/// second packet draws one, and each is a packet the relay must receive, decrypt and process:
/// in a room where several members talk, half a packet in for every datagram out.
fn fewer_acknowledgements(config: &mut quinn::ServerConfig) {
    // The transport was built for this config alone, so it is not shared yet.
    if let Some(transport) = Arc::get_mut(&mut config.transport) {
        let mut ack = quinn::AckFrequencyConfig::default();
        ack.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD.into());
        transport.ack_frequency_config(Some(ack));
    }
}

/// What the relay asks of its UDP socket's buffers. Every member's packets land on this one
/// socket: a join storm of 1,000 members is 1,000 Initial packets (1,200 bytes each, padded)
/// within a few milliseconds, and with Linux's default 208 KiB receive buffer most of them were
/// dropped, costing those members a 1 s retransmission timeout or their join altogether. The
/// kernel caps the request at `net.core.rmem_max` / `wmem_max`; raise those on a busy relay.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// More loops than this buys nothing on today's relay hosts and costs a socket each.
const MAX_IO_LOOPS: usize = 64;

/// Binds `count` sockets to one address (`SO_REUSEPORT`, so the kernel spreads clients over
/// them by address), each with large buffers (best effort). With port 0, the first socket picks
/// the port and the others join it.
fn bind(listen: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    if count > 1 && listen.port() != 0 {
        // SO_REUSEPORT would let this relay share the port with another process of the same
        // user that also set it (a second relay started by mistake), each getting some of the
        // clients. A plain bind first fails with "address in use" as a single socket would.
        drop(std::net::UdpSocket::bind(listen)?);
    }
    let mut sockets: Vec<std::net::UdpSocket> = Vec::with_capacity(count);
    for _ in 0..count {
        let address = match sockets.first() {
            Some(first) => first.local_addr()?,
            None => listen,
        };
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        if address.is_ipv6() {
            // Dual-stack, as Linux binds IPv6 sockets by default: IPv4 clients reach it too.
            let _ = socket.set_only_v6(false);
        }
        socket.bind(&address.into())?;
        let socket: std::net::UdpSocket = socket.into();
        let state = quinn::udp::UdpSocketState::new((&socket).into())?;
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        sockets.push(socket);
    }
    Ok(sockets)
}
