//! The relay's QUIC endpoint: a loop that owns a UDP socket, the QUIC state (quinn-proto) of
//! every connection on it, their timers, and media forwarding.
//!
//! Why not quinn's own connection tasks: there a forwarded datagram costs a lock on the
//! receiver's connection, a wake-up of its driver task, a poll of that task and a timer re-arm,
//! per receiver, and the same again for every acknowledgement coming back. Here a talker's
//! packet is decrypted, handed to each listener's connection and encrypted in one pass, with no
//! task, channel or lock in between, and each connection touched by a batch of received packets
//! is flushed once after the batch. What QUIC and the kernel cost at the least, whatever the
//! I/O design, is measured by `benches/relay_floor.rs` (BENCHMARKS.md).
//!
//! A relay runs one such loop per core, each on a thread and a socket of its own, all sockets
//! bound to one port with `SO_REUSEPORT`: the kernel hashes each client's address to one
//! socket, so a connection lives in one loop for good. A datagram for a listener in another
//! loop is handed over in one batch per loop turn ([`Command::Deliver`]).
//!
//! Control streams (joins, member lists, mute) stay in one async task per connection
//! (`connection.rs`), talking to this loop through [`ControlIo`] channels.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, IoSliceMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use quinn::udp::{self, RecvMeta, UdpSocketState, BATCH_SIZE};
use quinn_proto::{
    ConnectionError, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig, Event,
    ServerConfig, StreamEvent, StreamId, Transmit, VarInt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::control_io::{Command, ConnectionEvent, ConnectionId, ControlIo, MAX_UNREAD_BYTES};
use super::media::RoomMedia;
use super::media_budget::{MediaBudget, MediaRateLimit};
use crate::log::Logger;
use crate::net::tls::DATAGRAM_SEND_BUFFER;
use crate::net::{close_code, video};

/// Control bytes queued for a client that does not read them before it counts as stuck. Member
/// lists are a few hundred bytes; a client this far behind has stopped reading.
const MAX_PENDING_CONTROL_BYTES: usize = 64 * 1024;
/// Receive batches handled before the loop sends what they produced, so a flood of incoming
/// packets cannot starve the outgoing ones.
const RECEIVE_BATCHES_PER_TURN: usize = 4;
/// Largest receive buffer per packet slot: a GRO batch is at most 64 KiB.
const RECEIVE_SLOT_BYTES: usize = 64 * 1024;
/// quinn's own bound on the packets one send may carry (GSO).
const MAX_TRANSMIT_SEGMENTS: usize = 10;

/// The relay's I/O threads are named this and their index (`vc-relay-io0`, ...).
pub const IO_THREAD_PREFIX: &str = "vc-relay-io";

/// Starts a control task for a newly accepted connection.
pub(crate) type OnConnection = Box<dyn Fn(ControlIo) + Send + Sync>;

/// What one loop starts with.
pub(crate) struct LoopSetup {
    /// This loop's place among the relay's loops.
    pub index: usize,
    /// One of the relay's sockets, all bound to the same port.
    pub socket: std::net::UdpSocket,
    /// Shared by all loops: a packet for a connection that lands in the wrong loop (its client's
    /// address changed) draws a stateless reset the client recognises.
    pub endpoint_config: Arc<EndpointConfig>,
    pub server_config: ServerConfig,
    pub on_connection: OnConnection,
    /// Each member's voice budget (`media_budget.rs`).
    pub member_media: MediaRateLimit,
    /// Each member's video budget, apart from its voice so video can never crowd voice out.
    pub member_video: MediaRateLimit,
    /// The relay's count of datagrams dropped over budget, shared by all loops.
    pub media_over_budget: Arc<AtomicU64>,
    pub log: Logger,
    /// This loop's command channel; its sender is `peers[index]`.
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Every loop's command channel, by index.
    pub peers: Vec<mpsc::UnboundedSender<Command>>,
}

/// One connection, as the loop keeps it.
struct Connection {
    quic: quinn_proto::Connection,
    /// Tells this connection from a later one that gets the same handle.
    serial: u64,
    events: mpsc::UnboundedSender<ConnectionEvent>,
    unread: Arc<AtomicUsize>,
    /// The client's one bidirectional stream, once it opened it.
    control: Option<StreamId>,
    pending: VecDeque<Bytes>,
    pending_bytes: usize,
    finish_requested: bool,
    /// The room this member's datagrams go to, and its source id there.
    media: Option<(Arc<RoomMedia>, u32)>,
    /// What voice this member may still send; checked before its datagrams are forwarded.
    budget: MediaBudget,
    /// The same for its video pieces and keyframe requests.
    video_budget: MediaBudget,
    /// The deadline this connection has in the timer set.
    timer: Option<Instant>,
    dirty: bool,
    lost: bool,
}

impl Connection {
    /// Gives this connection (`id`) a place in the next flush, once.
    fn mark_dirty(&mut self, id: ConnectionHandle, dirty: &mut Vec<ConnectionHandle>) {
        if !self.dirty {
            self.dirty = true;
            dirty.push(id);
        }
    }

    fn report(&mut self, event: ConnectionEvent) {
        if self.lost {
            return;
        }
        if let ConnectionEvent::Lost(_) = event {
            self.lost = true;
            self.media = None;
        }
        let _ = self.events.send(event);
    }
}

pub(crate) struct Driver {
    /// This loop's place among the relay's loops.
    index: usize,
    /// Every loop's command channel, this one's included, by index.
    peers: Vec<mpsc::UnboundedSender<Command>>,
    /// Datagrams for other loops' connections, sent at the end of the turn.
    outbox: Vec<Vec<(ConnectionId, Bytes)>>,
    endpoint: Endpoint,
    socket: UdpSocket,
    socket_state: UdpSocketState,
    connections: HashMap<ConnectionHandle, Connection>,
    next_serial: u64,
    timers: BTreeSet<(Instant, ConnectionHandle)>,
    commands: mpsc::UnboundedReceiver<Command>,
    command_sender: mpsc::UnboundedSender<Command>,
    on_connection: OnConnection,
    /// Connections with packets to send, flushed once per turn of the loop.
    dirty: Vec<ConnectionHandle>,
    receive_buffer: Box<[u8]>,
    send_buffer: Vec<u8>,
    /// Datagrams taken from a connection, reused to avoid an allocation per packet.
    datagrams: Vec<Bytes>,
    member_media: MediaRateLimit,
    member_video: MediaRateLimit,
    media_over_budget: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    log: Logger,
}

impl Driver {
    /// Starts a loop on a thread of its own (named [`IO_THREAD_PREFIX`]`N`), with its own
    /// single-threaded runtime: it sleeps in its own `epoll`, and no work-stealing scheduler
    /// moves it or wakes another thread for it. Returns once the loop is set up, or with why it
    /// could not be.
    pub(crate) fn spawn(setup: LoopSetup) -> io::Result<std::thread::JoinHandle<()>> {
        let (ready, set_up) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{IO_THREAD_PREFIX}{}", setup.index))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                match runtime.block_on(async { Driver::new(setup) }) {
                    Ok(driver) => {
                        let _ = ready.send(Ok(()));
                        runtime.block_on(driver.run());
                    }
                    Err(e) => drop(ready.send(Err(e))),
                }
            })?;
        set_up
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("relay I/O thread ended while starting")))?;
        Ok(thread)
    }

    /// Must run inside the loop's own runtime (the socket registers with its reactor).
    fn new(setup: LoopSetup) -> io::Result<Driver> {
        let LoopSetup {
            index,
            socket,
            endpoint_config,
            server_config,
            on_connection,
            member_media,
            member_video,
            media_over_budget,
            log,
            commands,
            peers,
        } = setup;
        socket.set_nonblocking(true)?;
        let socket_state = UdpSocketState::new((&socket).into())?;
        let socket = UdpSocket::from_std(socket)?;
        let endpoint = Endpoint::new(
            endpoint_config,
            Some(Arc::new(server_config)),
            !socket_state.may_fragment(),
            None,
        );
        Ok(Driver {
            index,
            outbox: vec![Vec::new(); peers.len()],
            command_sender: peers[index].clone(),
            peers,
            endpoint,
            socket,
            socket_state,
            connections: HashMap::new(),
            next_serial: 0,
            timers: BTreeSet::new(),
            commands,
            on_connection,
            dirty: Vec::new(),
            receive_buffer: vec![0; RECEIVE_SLOT_BYTES * BATCH_SIZE].into_boxed_slice(),
            send_buffer: Vec::with_capacity(1500),
            datagrams: Vec::new(),
            member_media,
            member_video,
            media_over_budget,
            shutdown: None,
            log,
        })
    }

    /// Runs until stopped, or shut down (every connection closed and drained).
    async fn run(mut self) {
        let far_future = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let sleep = tokio::time::sleep_until(far_future);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let next_timer = self.timers.first().map(|&(at, _)| at);
            if next_timer != armed {
                armed = next_timer;
                let at = next_timer.map_or(far_future, tokio::time::Instant::from_std);
                sleep.as_mut().reset(at);
            }
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Stop) | None => break,
                    Some(command) => self.command(command),
                },
                readable = self.socket.readable() => {
                    if let Err(e) = readable {
                        self.log.warn(format_args!("relay socket: {e}"));
                        break;
                    }
                    self.receive();
                }
                _ = &mut sleep, if next_timer.is_some() => {}
            }
            let mut stop = false;
            while let Ok(command) = self.commands.try_recv() {
                stop |= matches!(command, Command::Stop);
                self.command(command);
            }
            if stop {
                break;
            }
            self.expire_timers(Instant::now());
            self.hand_over();
            self.flush().await;
            if self.shutdown.is_some() && self.connections.is_empty() {
                if let Some(done) = self.shutdown.take() {
                    let _ = done.send(());
                }
                break;
            }
        }
    }

    /// The handle of the connection `id` names, if that connection is still here.
    fn live(&self, id: ConnectionId) -> Option<ConnectionHandle> {
        if id.driver != self.index {
            return None;
        }
        let connection = self.connections.get(&id.handle)?;
        (connection.serial == id.serial).then_some(id.handle)
    }

    /// Sends the turn's datagrams for other loops' connections, one batch per loop.
    fn hand_over(&mut self) {
        for (index, datagrams) in self.outbox.iter_mut().enumerate() {
            if !datagrams.is_empty() {
                let datagrams = std::mem::take(datagrams);
                let _ = self.peers[index].send(Command::Deliver { datagrams });
            }
        }
    }

    /// Queues a datagram on a connection this loop owns; `false` if it is gone or its queue
    /// refused it.
    fn queue_datagram(&mut self, to: ConnectionId, datagram: Bytes) -> bool {
        let Some(connection) = self
            .connections
            .get_mut(&to.handle)
            .filter(|c| c.serial == to.serial)
        else {
            return false;
        };
        // A receiver whose queue has grown past VIDEO_QUEUE_LIMIT is slow (a congested path,
        // a stalled peer): its video is shed here, so what it does get is its voice, on time.
        // Its receivers' resend and keyframe requests, and the sender's backoff, recover the
        // picture once it keeps up.
        let queued_bytes = DATAGRAM_SEND_BUFFER - connection.quic.datagrams().send_buffer_space();
        if is_video(&datagram) && queued_bytes > VIDEO_QUEUE_LIMIT {
            return false;
        }
        // A full datagram queue drops the oldest: for voice, newer beats complete.
        let queued = connection.quic.datagrams().send(datagram, true).is_ok();
        connection.mark_dirty(to.handle, &mut self.dirty);
        queued
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Write { id, frame } => {
                let Some(handle) = self.live(id) else { return };
                if let Some(connection) = self.connections.get_mut(&handle) {
                    connection.pending_bytes += frame.len();
                    connection.pending.push_back(frame);
                }
                self.write_pending(handle);
            }
            Command::Finish { id } => {
                let Some(handle) = self.live(id) else { return };
                if let Some(connection) = self.connections.get_mut(&handle) {
                    connection.finish_requested = true;
                }
                self.write_pending(handle);
            }
            Command::Close { id, code, reason } => {
                if let Some(handle) = self.live(id) {
                    self.close(handle, code, reason);
                }
            }
            Command::Attach { id, room, source } => {
                let Some(handle) = self.live(id) else { return };
                if let Some(connection) = self.connections.get_mut(&handle) {
                    if !connection.lost {
                        connection.media = Some((room, source));
                    }
                }
            }
            Command::Deliver { datagrams } => {
                for (to, datagram) in datagrams {
                    self.queue_datagram(to, datagram);
                }
            }
            // The loop itself ends on Stop, after this turn.
            Command::Stop => {}
            Command::Shutdown { code, reason, done } => {
                self.endpoint.set_server_config(None);
                let handles: Vec<ConnectionHandle> = self.connections.keys().copied().collect();
                for handle in handles {
                    self.close(handle, code, reason.clone());
                }
                self.shutdown = Some(done);
            }
        }
    }

    fn close(&mut self, id: ConnectionHandle, code: VarInt, reason: Bytes) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        connection.quic.close(Instant::now(), code, reason);
        connection.report(ConnectionEvent::Lost(ConnectionError::LocallyClosed));
        self.process(id);
    }

    /// Reads what the socket has (a few batches at most), handing each packet to QUIC.
    fn receive(&mut self) {
        let now = Instant::now();
        let mut metas = [RecvMeta::default(); BATCH_SIZE];
        for _ in 0..RECEIVE_BATCHES_PER_TURN {
            let received = {
                let mut slots = self.receive_buffer.chunks_mut(RECEIVE_SLOT_BYTES);
                let mut iovs: [IoSliceMut; BATCH_SIZE] = std::array::from_fn(|_| {
                    IoSliceMut::new(slots.next().expect("BATCH_SIZE slots"))
                });
                let (socket, state) = (&self.socket, &self.socket_state);
                socket.try_io(Interest::READABLE, || {
                    state.recv(socket.into(), &mut iovs, &mut metas)
                })
            };
            let count = match received {
                Ok(count) => count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // An ICMP error for one peer surfaces here; it says nothing about others.
                    self.log.debug(format_args!("relay receive: {e}"));
                    continue;
                }
            };
            for (slot, meta) in metas.iter().take(count).enumerate() {
                let start = slot * RECEIVE_SLOT_BYTES;
                let mut data = BytesMut::from(
                    &self.receive_buffer[start..start + meta.len.min(RECEIVE_SLOT_BYTES)],
                );
                // A GRO batch: equal-sized packets from one sender, `stride` bytes apart.
                let stride = meta.stride.max(1);
                while !data.is_empty() {
                    let packet = data.split_to(stride.min(data.len()));
                    self.handle_packet(now, meta, packet);
                }
            }
        }
    }

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, packet: BytesMut) {
        let mut response = Vec::new();
        let ecn = meta.ecn.map(proto_ecn);
        match self
            .endpoint
            .handle(now, meta.addr, meta.dst_ip, ecn, packet, &mut response)
        {
            Some(DatagramEvent::ConnectionEvent(id, event)) => {
                if let Some(connection) = self.connections.get_mut(&id) {
                    connection.quic.handle_event(event);
                    self.process(id);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                if self.shutdown.is_some() {
                    let transmit = self.endpoint.refuse(incoming, &mut response);
                    self.send_now(&transmit, &response);
                    return;
                }
                match self.endpoint.accept(incoming, now, &mut response, None) {
                    Ok((id, quic)) => self.adopt(id, quic),
                    Err(error) => {
                        self.log
                            .debug(format_args!("{}: not accepted: {}", meta.addr, error.cause));
                        if let Some(transmit) = error.response {
                            self.send_now(&transmit, &response);
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(transmit)) => self.send_now(&transmit, &response),
            None => {}
        }
    }

    /// Takes a new connection in and starts its control task.
    fn adopt(&mut self, id: ConnectionHandle, quic: quinn_proto::Connection) {
        let (events, events_receiver) = mpsc::unbounded_channel();
        let serial = self.next_serial;
        self.next_serial += 1;
        let unread = Arc::new(AtomicUsize::new(0));
        let remote = quic.remote_address();
        self.connections.insert(
            id,
            Connection {
                quic,
                serial,
                events,
                unread: unread.clone(),
                control: None,
                pending: VecDeque::new(),
                pending_bytes: 0,
                finish_requested: false,
                media: None,
                budget: MediaBudget::new(self.member_media, Instant::now()),
                video_budget: MediaBudget::new(self.member_video, Instant::now()),
                timer: None,
                dirty: false,
                lost: false,
            },
        );
        (self.on_connection)(ControlIo::new(
            ConnectionId {
                driver: self.index,
                handle: id,
                serial,
            },
            remote,
            self.command_sender.clone(),
            events_receiver,
            unread,
        ));
        self.process(id);
    }

    /// Everything that follows from a connection's state changing: endpoint bookkeeping, its
    /// events (control bytes to its task, datagrams forwarded), and a place in the next flush.
    fn process(&mut self, id: ConnectionHandle) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        let mut drained = false;
        while let Some(event) = connection.quic.poll_endpoint_events() {
            drained |= event.is_drained();
            if let Some(back) = self.endpoint.handle_event(id, event) {
                connection.quic.handle_event(back);
            }
        }
        let mut readable = false;
        let mut writable = false;
        while let Some(event) = connection.quic.poll() {
            match event {
                Event::Connected => connection.report(ConnectionEvent::Connected),
                Event::ConnectionLost { reason } => {
                    connection.report(ConnectionEvent::Lost(reason))
                }
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                    while let Some(stream) = connection.quic.streams().accept(Dir::Bi) {
                        // The transport allows one; take the first as the control stream.
                        connection.control.get_or_insert(stream);
                        readable = true;
                    }
                }
                Event::Stream(StreamEvent::Readable { .. }) => readable = true,
                Event::Stream(StreamEvent::Writable { .. }) => writable = true,
                Event::Stream(StreamEvent::Stopped { .. }) => {
                    // The client will not read the control stream any more.
                    connection.pending.clear();
                    connection.pending_bytes = 0;
                }
                Event::DatagramReceived => {
                    while let Some(datagram) = connection.quic.datagrams().recv() {
                        self.datagrams.push(datagram);
                    }
                }
                Event::HandshakeDataReady
                | Event::DatagramsUnblocked
                | Event::Stream(
                    StreamEvent::Opened { dir: Dir::Uni }
                    | StreamEvent::Finished { .. }
                    | StreamEvent::Available { .. },
                ) => {}
            }
        }
        connection.mark_dirty(id, &mut self.dirty);
        if readable {
            self.read_control(id);
        }
        if writable {
            self.write_pending(id);
        }
        if !self.datagrams.is_empty() {
            self.forward(id);
        }
        if drained {
            self.remove(id);
        }
    }

    /// Hands the control stream's new bytes to the connection's task.
    fn read_control(&mut self, id: ConnectionHandle) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        let Some(stream) = connection.control else {
            return;
        };
        let mut flood = false;
        let mut receive = connection.quic.recv_stream(stream);
        if let Ok(mut chunks) = receive.read(true) {
            loop {
                match chunks.next(usize::MAX) {
                    Ok(Some(chunk)) => {
                        let unread = connection
                            .unread
                            .fetch_add(chunk.bytes.len(), Ordering::Relaxed);
                        flood |= unread + chunk.bytes.len() > MAX_UNREAD_BYTES;
                        if !connection.lost {
                            let _ = connection.events.send(ConnectionEvent::Data(chunk.bytes));
                        }
                    }
                    Ok(None) | Err(quinn_proto::ReadError::Reset(_)) => {
                        if !connection.lost {
                            let _ = connection.events.send(ConnectionEvent::Finished);
                        }
                        break;
                    }
                    Err(quinn_proto::ReadError::Blocked) => break,
                }
            }
            // Whether flow-control credit needs sending: the flush sends it either way.
            let _ = chunks.finalize();
        }
        if flood {
            self.log.warn(format_args!(
                "{}: control stream flooded; closing",
                connection.quic.remote_address()
            ));
            self.close(id, close_code::PROTOCOL_ERROR, Bytes::from_static(b"flood"));
        }
    }

    /// Writes queued control frames as far as flow control allows; finishes the stream when
    /// asked and everything is written. A client that stops reading is closed.
    fn write_pending(&mut self, id: ConnectionHandle) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        let Some(stream) = connection.control else {
            return;
        };
        let mut send = connection.quic.send_stream(stream);
        while let Some(front) = connection.pending.front_mut() {
            match send.write(front) {
                Ok(written) => {
                    connection.pending_bytes -= written;
                    front.advance(written);
                    if front.is_empty() {
                        connection.pending.pop_front();
                    } else {
                        break;
                    }
                }
                Err(quinn_proto::WriteError::Blocked) => break,
                Err(_) => {
                    connection.pending.clear();
                    connection.pending_bytes = 0;
                }
            }
        }
        if connection.pending.is_empty() && connection.finish_requested {
            connection.finish_requested = false;
            let _ = send.finish();
        }
        connection.mark_dirty(id, &mut self.dirty);
        if connection.pending_bytes > MAX_PENDING_CONTROL_BYTES {
            self.log.warn(format_args!(
                "{}: not reading its control stream",
                connection.quic.remote_address()
            ));
            self.close(id, close_code::TOO_SLOW, Bytes::from_static(b"not reading"));
        }
    }

    /// Forwards the datagrams just taken from `from` to its room, as far as its budget allows.
    fn forward(&mut self, from: ConnectionHandle) {
        let mut datagrams = std::mem::take(&mut self.datagrams);
        let now = Instant::now();
        let media = self.connections.get_mut(&from).and_then(|connection| {
            let (room, source) = connection.media.clone()?;
            // Policed before anything is copied: an over-budget datagram costs the room nothing.
            let arrived = datagrams.len();
            datagrams.retain(|datagram| {
                let budget = if is_video(datagram) {
                    &mut connection.video_budget
                } else {
                    &mut connection.budget
                };
                budget.admit(datagram.len(), now)
            });
            let refused = arrived - datagrams.len();
            if refused > 0 {
                self.media_over_budget
                    .fetch_add(refused as u64, Ordering::Relaxed);
            }
            let address = connection.quic.remote_address();
            for (what, budget, limit) in [
                ("voice", &mut connection.budget, self.member_media),
                ("video", &mut connection.video_budget, self.member_video),
            ] {
                if let Some(over) = budget.take_log_due(now) {
                    self.log.warn(format_args!(
                        "{address} (source {source}): {what} over its budget of {} bytes/s, \
                         burst {}; dropped {} datagrams ({} since it connected)",
                        limit.bytes_per_second, limit.burst_bytes, over.refused, over.refused_total,
                    ));
                }
            }
            Some((room, source))
        });
        if let Some((room, source)) = media {
            for datagram in &datagrams {
                room.forward(source, datagram, |to, relayed| {
                    if to.driver == self.index {
                        self.queue_datagram(to, relayed)
                    } else if let Some(outbox) = self.outbox.get_mut(to.driver) {
                        // Counted as forwarded once handed over; the owning loop queues it.
                        outbox.push((to, relayed));
                        true
                    } else {
                        false
                    }
                });
            }
        }
        datagrams.clear();
        self.datagrams = datagrams;
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(connection) = self.connections.get_mut(&id) {
                connection.timer = None;
                connection.quic.handle_timeout(now);
                self.process(id);
            }
        }
    }

    /// Sends every dirty connection's packets and re-arms its timer.
    async fn flush(&mut self) {
        let now = Instant::now();
        let dirty = std::mem::take(&mut self.dirty);
        let segments = self
            .socket_state
            .max_gso_segments()
            .min(MAX_TRANSMIT_SEGMENTS);
        for &id in &dirty {
            let Some(connection) = self.connections.get_mut(&id) else {
                continue;
            };
            connection.dirty = false;
            loop {
                self.send_buffer.clear();
                let Some(transmit) =
                    connection
                        .quic
                        .poll_transmit(now, segments, &mut self.send_buffer)
                else {
                    break;
                };
                send(
                    &self.socket,
                    &self.socket_state,
                    &transmit,
                    &self.send_buffer,
                )
                .await;
            }
            let deadline = connection.quic.poll_timeout();
            if deadline != connection.timer {
                if let Some(old) = connection.timer {
                    self.timers.remove(&(old, id));
                }
                if let Some(new) = deadline {
                    self.timers.insert((new, id));
                }
                connection.timer = deadline;
            }
        }
        // Keep the vector's allocation for the next turn (nothing was marked during the flush).
        let mut dirty = dirty;
        dirty.clear();
        self.dirty = dirty;
    }

    /// A stateless reply (version negotiation, retry, refusal): best effort, never waits.
    fn send_now(&self, transmit: &Transmit, contents: &[u8]) {
        let (socket, state) = (&self.socket, &self.socket_state);
        let _ = socket.try_io(Interest::WRITABLE, || {
            state.send(socket.into(), &udp_transmit(transmit, contents))
        });
    }

    fn remove(&mut self, id: ConnectionHandle) {
        if let Some(mut connection) = self.connections.remove(&id) {
            if let Some(at) = connection.timer {
                self.timers.remove(&(at, id));
            }
            connection.report(ConnectionEvent::Lost(ConnectionError::LocallyClosed));
        }
    }
}

/// Sends one transmit, waiting for the socket while its buffer is full.
async fn send(socket: &UdpSocket, state: &UdpSocketState, transmit: &Transmit, buffer: &[u8]) {
    let contents = &buffer[..transmit.size];
    loop {
        let sent = socket.try_io(Interest::WRITABLE, || {
            state.send(socket.into(), &udp_transmit(transmit, contents))
        });
        match sent {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            // Unreachable peers and the like: the packet is lost, QUIC recovers or times out.
            Err(_) => return,
        }
    }
}

fn udp_transmit<'a>(transmit: &Transmit, contents: &'a [u8]) -> udp::Transmit<'a> {
    udp::Transmit {
        destination: transmit.destination,
        ecn: transmit.ecn.map(udp_ecn),
        contents,
        segment_size: transmit.segment_size,
        src_ip: transmit.src_ip,
    }
}

fn udp_ecn(ecn: quinn_proto::EcnCodepoint) -> udp::EcnCodepoint {
    match ecn {
        quinn_proto::EcnCodepoint::Ect0 => udp::EcnCodepoint::Ect0,
        quinn_proto::EcnCodepoint::Ect1 => udp::EcnCodepoint::Ect1,
        quinn_proto::EcnCodepoint::Ce => udp::EcnCodepoint::Ce,
    }
}

fn proto_ecn(ecn: udp::EcnCodepoint) -> quinn_proto::EcnCodepoint {
    match ecn {
        udp::EcnCodepoint::Ect0 => quinn_proto::EcnCodepoint::Ect0,
        udp::EcnCodepoint::Ect1 => quinn_proto::EcnCodepoint::Ect1,
        udp::EcnCodepoint::Ce => quinn_proto::EcnCodepoint::Ce,
    }
}

/// Datagrams waiting for one receiver beyond which its video is shed (voice is not): about half
/// a second of an 800 kbps stream, or ten seconds of one voice.
const VIDEO_QUEUE_LIMIT: usize = 48 * 1024;

/// Video pieces and keyframe and resend requests draw on a member's video budget; everything else on its
/// voice budget.
fn is_video(datagram: &[u8]) -> bool {
    matches!(
        datagram.first(),
        Some(&video::KIND_VIDEO | &video::KIND_KEYFRAME_REQUEST | &video::KIND_RESEND_REQUEST)
    )
}
