//! The machine's ceiling: a plain-UDP forwarder doing the relay's fan-out with none of its
//! work (no QUIC, no encryption, no acknowledgements, no join). It rewrites each datagram the
//! way the relay does (the sender's source id inserted) and sends one copy to every other
//! member of the sender's room.
//!
//! Receive is batched (`recvmmsg`, 32 at a time, through quinn-udp's safe wrapper, with GRO
//! segments split). Send is one `sendto` per receiver: datagrams to different addresses cannot
//! share a GSO send, and `sendmmsg` needs `unsafe`, which this crate keeps out of everything
//! but the C ABI. The relay pays the same one-syscall-per-receiver price (quinn sends each
//! connection's packets separately), so the comparison is like for like on that count.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use quinn::udp::{RecvMeta, UdpSockRef, UdpSocketState, BATCH_SIZE};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::traffic::{Layout, Probe, Schedule, Tally};
use crate::net::media;

/// The name of the forwarder's thread, by which its CPU time is found.
pub const THREAD_NAME: &str = "vc-udp-fwd";

/// Who is where, as the forwarder sees it.
struct Routes {
    /// Sender address -> (room, source id).
    by_addr: HashMap<SocketAddr, (usize, u32)>,
    rooms: Vec<Vec<SocketAddr>>,
}

pub struct Forwarder {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Forwarder {
    /// Starts the forwarder on a thread of its own for members at `member_addrs` (index =
    /// member), who get source ids `sources`.
    pub fn start(
        bind: SocketAddr,
        layout: &Layout,
        member_addrs: &[SocketAddr],
        sources: &[u32],
    ) -> io::Result<Forwarder> {
        let mut routes = Routes {
            by_addr: HashMap::new(),
            rooms: vec![Vec::new(); layout.rooms],
        };
        for (member, &addr) in member_addrs.iter().enumerate() {
            let room = layout.room_of(member);
            routes.by_addr.insert(addr, (room, sources[member]));
            routes.rooms[room].push(addr);
        }
        let socket = std::net::UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()?;
                runtime.block_on(async move {
                    let socket = UdpSocket::from_std(socket)?;
                    forward(socket, routes, stopped).await
                })
            })?;
        Ok(Forwarder { addr, stop, thread })
    }

    pub fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("forwarder panicked")))
    }
}

async fn forward(
    socket: UdpSocket,
    routes: Routes,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
    // Room for GRO: the kernel may coalesce same-sized datagrams from one sender.
    let slot = (state.gro_segments().max(1) * 1500).max(2048);
    let mut storage = vec![0u8; slot * BATCH_SIZE];
    let mut bufs: Vec<IoSliceMut<'_>> = storage.chunks_mut(slot).map(IoSliceMut::new).collect();
    let mut meta = vec![RecvMeta::default(); BATCH_SIZE];
    let mut out = Vec::with_capacity(media::DOWNLINK_HEADER + media::MAX_PAYLOAD);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            ready = socket.readable() => ready?,
        }
        let received = socket.try_io(tokio::io::Interest::READABLE, || {
            state.recv(UdpSockRef::from(&socket), &mut bufs, &mut meta)
        });
        let count = match received {
            Ok(count) => count,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        for (m, buf) in meta.iter().zip(bufs.iter()).take(count) {
            let Some(&(room, source)) = routes.by_addr.get(&m.addr) else {
                continue;
            };
            let stride = m.stride.max(1);
            for datagram in buf[..m.len].chunks(stride) {
                if !rewrite(datagram, source, &mut out) {
                    continue;
                }
                for &to in routes.rooms[room].iter().filter(|&&to| to != m.addr) {
                    send(&socket, &out, to).await?;
                }
            }
        }
    }
}

/// The relay's rewrite (source id inserted after the flags), into a reused buffer.
fn rewrite(uplink: &[u8], source: u32, out: &mut Vec<u8>) -> bool {
    if uplink.len() <= media::UPLINK_HEADER
        || uplink.len() > media::UPLINK_HEADER + media::MAX_PAYLOAD
        || uplink[0] != media::KIND_AUDIO
    {
        return false;
    }
    out.clear();
    out.extend_from_slice(&uplink[..2]);
    out.extend_from_slice(&source.to_be_bytes());
    out.extend_from_slice(&uplink[2..]);
    true
}

async fn send(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
    loop {
        match socket.try_send_to(datagram, to) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            // A member that went away (ICMP unreachable surfacing as an error) is not fatal.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// One baseline member: a plain UDP socket.
pub async fn bind_members(bind: SocketAddr, count: usize) -> io::Result<Vec<Arc<UdpSocket>>> {
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        sockets.push(Arc::new(UdpSocket::bind(bind).await?));
    }
    Ok(sockets)
}

/// Sends one speaker's frames to the forwarder; returns (measured frames sent, failed sends).
#[allow(clippy::too_many_arguments)]
pub async fn speak(
    socket: Arc<UdpSocket>,
    forwarder: SocketAddr,
    layout: Arc<Layout>,
    member: usize,
    nth_speaker: usize,
    schedule: Schedule,
    payload_bytes: usize,
    epoch: Instant,
) -> (u64, u64) {
    let speakers = layout.speakers();
    let room = layout.room_of(member) as u32;
    let (mut sent, mut failed) = (0, 0);
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
        match socket.send_to(&datagram, forwarder).await {
            Ok(_) if probe.measured => sent += 1,
            Ok(_) => {}
            Err(_) => failed += 1,
        }
    }
    (sent, failed)
}

/// Reads one member's datagrams until told to stop.
pub async fn listen(
    socket: Arc<UdpSocket>,
    mut tally: Tally,
    sources: Arc<Vec<u32>>,
    epoch: Instant,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            biased;
            received = socket.recv(&mut buf) => match received {
                Ok(len) => tally.record(&buf[..len], &sources, epoch.elapsed().as_nanos() as u64),
                Err(_) => continue,
            },
            _ = stop.changed() => return tally,
        }
    }
}
