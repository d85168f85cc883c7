//! The least one forwarded datagram can cost a QUIC relay on this machine, in two parts
//! measured apart:
//!
//! 1. **QUIC itself**: the relay's share of quinn-proto (the state machine under quinn) with the
//!    relay's own configuration (`voipchat::server::quic_config`: TLS identity, liveness, ACK
//!    frequency), driven without any I/O, runtime, task or lock: an in-memory network, a
//!    simulated clock, rooms of members where one per room talks a datagram every 20 ms (many
//!    rooms, so that each packet finds its connection's state as cold in the caches as a busy
//!    relay does). Timed are
//!    only the relay's calls: receiving each packet (`Endpoint::handle`, `handle_event`,
//!    events), forwarding (`datagrams().send` to each listener, `poll_transmit`), its timers.
//!    The members' side is not timed.
//! 2. **The kernel**: one `sendmsg` of a packet of that size to a loopback socket (quinn-udp,
//!    as quinn sends), and one packet of a `recvmmsg` batch.
//!
//! Their sum per forwarded datagram (one packet out, plus the members' acknowledgements and
//! the talker's packet coming in) is a floor for any relay built on quinn, however its I/O is
//! organised: no task wake-ups, no channels, no syscall batching beyond `recvmmsg`.
//!
//! `cargo bench --bench relay_floor [-- --rooms 100 --room 10 --rounds 1000 --reps 5]`

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use quinn_proto::{
    Connection, ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig, Event, ServerConfig,
};
use voipchat::net::media::{self, AudioHeader};
use voipchat::net::tls::{self, Liveness, ServerIdentity};

use common::{median, min_max, Args};

const FRAME: Duration = Duration::from_millis(20);
/// The load tool's payload: an Opus frame's size at 28 kbps, 20 ms.
const PAYLOAD_BYTES: usize = 80;

/// Where the relay's time went, summed over a measured window.
#[derive(Default, Clone, Copy)]
struct Costs {
    /// Packets from the talker: receive, decrypt, hand out the datagram.
    talker_in: Duration,
    /// Packets from listeners (their acknowledgements): receive, decrypt, process.
    listener_in: Duration,
    /// Queueing each listener's copy and building, encrypting its packet.
    forward: Duration,
    /// Timers (loss detection, keep-alives, delayed ACKs to the talker).
    timers: Duration,
    talker_packets: u64,
    listener_packets: u64,
    packets_out: u64,
    forwarded: u64,
    bytes_out: u64,
}

impl Costs {
    fn total(&self) -> Duration {
        self.talker_in + self.listener_in + self.forward + self.timers
    }
}

/// A packet in flight on the simulated network.
struct Packet {
    from: SocketAddr,
    to: SocketAddr,
    data: BytesMut,
}

struct Member {
    addr: SocketAddr,
    endpoint: Endpoint,
    conn: Connection,
    handle: ConnectionHandle,
    connected: bool,
}

struct RelaySide {
    addr: SocketAddr,
    endpoint: Endpoint,
    conns: HashMap<ConnectionHandle, Connection>,
    /// Each room's members (connection, source id) in join order.
    rooms: Vec<Vec<(ConnectionHandle, u32)>>,
    /// Which room each connection is in.
    room_of: HashMap<ConnectionHandle, usize>,
    room_size: usize,
    /// Member addresses are numbered: port = FIRST_MEMBER_PORT + member index.
    buf: Vec<u8>,
}

impl RelaySide {
    fn receive(
        &mut self,
        now: Instant,
        packet: Packet,
        out: &mut VecDeque<Packet>,
        forward: &mut Duration,
    ) {
        let event = self
            .endpoint
            .handle(now, packet.from, None, None, packet.data, &mut self.buf);
        match event {
            Some(DatagramEvent::NewConnection(incoming)) => {
                let (handle, conn) = self
                    .endpoint
                    .accept(incoming, now, &mut self.buf, None)
                    .expect("relay accepts");
                let member = usize::from(packet.from.port() - FIRST_MEMBER_PORT);
                let room = member / self.room_size;
                self.conns.insert(handle, conn);
                self.rooms[room].push((handle, member as u32 + 1));
                self.room_of.insert(handle, room);
                self.service(now, handle, out, forward);
            }
            Some(DatagramEvent::ConnectionEvent(handle, event)) => {
                if let Some(conn) = self.conns.get_mut(&handle) {
                    conn.handle_event(event);
                }
                self.service(now, handle, out, forward);
            }
            Some(DatagramEvent::Response(transmit)) => {
                let data = BytesMut::from(&self.buf[..transmit.size]);
                out.push_back(Packet {
                    from: self.addr,
                    to: transmit.destination,
                    data,
                });
                self.buf.clear();
            }
            None => {}
        }
    }

    /// Everything a real event loop does for a connection it touched: endpoint events, the
    /// application's events (forwarding datagrams), then its packets out. `forward` collects
    /// the time spent on the listeners' copies.
    fn service(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        out: &mut VecDeque<Packet>,
        forward: &mut Duration,
    ) {
        let Some(conn) = self.conns.get_mut(&handle) else {
            return;
        };
        while let Some(event) = conn.poll_endpoint_events() {
            if let Some(back) = self.endpoint.handle_event(handle, event) {
                conn.handle_event(back);
            }
        }
        while conn.poll().is_some() {}
        let mut datagrams = Vec::new();
        while let Some(datagram) = conn.datagrams().recv() {
            datagrams.push(datagram);
        }
        self.transmit(now, handle, out);
        let room = self.room_of.get(&handle).copied().unwrap_or(0);
        let source = self.rooms[room]
            .iter()
            .find(|(h, _)| *h == handle)
            .map_or(0, |(_, s)| *s);
        for datagram in datagrams {
            let started = Instant::now();
            if let Some((_, relayed)) = media::relay(&datagram, source) {
                for index in 0..self.rooms[room].len() {
                    let (listener, _) = self.rooms[room][index];
                    if listener == handle {
                        continue;
                    }
                    if let Some(conn) = self.conns.get_mut(&listener) {
                        if conn.datagrams().send(relayed.clone(), true).is_ok() {
                            self.transmit(now, listener, out);
                        }
                    }
                }
            }
            *forward += started.elapsed();
        }
    }

    fn transmit(&mut self, now: Instant, handle: ConnectionHandle, out: &mut VecDeque<Packet>) {
        let Some(conn) = self.conns.get_mut(&handle) else {
            return;
        };
        while let Some(transmit) = conn.poll_transmit(now, 1, &mut self.buf) {
            out.push_back(Packet {
                from: self.addr,
                to: transmit.destination,
                data: BytesMut::from(&self.buf[..transmit.size]),
            });
            self.buf.clear();
        }
    }

    fn timers(&mut self, now: Instant, out: &mut VecDeque<Packet>) {
        let due: Vec<ConnectionHandle> = self
            .conns
            .iter_mut()
            .filter_map(|(h, c)| c.poll_timeout().is_some_and(|t| t <= now).then_some(*h))
            .collect();
        // A timer never forwards media; what it sends (ACKs, probes) is its own cost.
        let mut no_forwarding = Duration::ZERO;
        for handle in due {
            if let Some(conn) = self.conns.get_mut(&handle) {
                conn.handle_timeout(now);
            }
            self.service(now, handle, out, &mut no_forwarding);
        }
    }
}

impl Member {
    fn receive(&mut self, now: Instant, packet: Packet, out: &mut VecDeque<Packet>) {
        let mut buf = Vec::new();
        let event = self
            .endpoint
            .handle(now, packet.from, None, None, packet.data, &mut buf);
        if let Some(DatagramEvent::ConnectionEvent(_, event)) = event {
            self.conn.handle_event(event);
        }
        self.service(now, out);
    }

    fn service(&mut self, now: Instant, out: &mut VecDeque<Packet>) {
        while let Some(event) = self.conn.poll_endpoint_events() {
            if let Some(back) = self.endpoint.handle_event(self.handle, event) {
                self.conn.handle_event(back);
            }
        }
        while let Some(event) = self.conn.poll() {
            if matches!(event, Event::Connected) {
                self.connected = true;
            }
        }
        while self.conn.datagrams().recv().is_some() {}
        let mut buf = Vec::new();
        while let Some(transmit) = self.conn.poll_transmit(now, 1, &mut buf) {
            out.push_back(Packet {
                from: self.addr,
                to: transmit.destination,
                data: BytesMut::from(&buf[..transmit.size]),
            });
            buf.clear();
        }
    }

    fn timers(&mut self, now: Instant, out: &mut VecDeque<Packet>) {
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
            self.service(now, out);
        }
    }
}

const FIRST_MEMBER_PORT: u16 = 20_000;

/// The simulated network: the relay, and `rooms` rooms of `room_size` members each (the first
/// member of each room talks).
struct World {
    now: Instant,
    relay: RelaySide,
    members: Vec<Member>,
    room_size: usize,
    network: VecDeque<Packet>,
    talker_seq: u16,
}

impl World {
    fn new(
        rooms: usize,
        room_size: usize,
        server: ServerConfig,
        client: quinn_proto::ClientConfig,
    ) -> World {
        let now = Instant::now();
        let relay_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 4433));
        let endpoint_config = Arc::new(EndpointConfig::default());
        let relay = RelaySide {
            addr: relay_addr,
            endpoint: Endpoint::new(endpoint_config.clone(), Some(Arc::new(server)), true, None),
            conns: HashMap::new(),
            rooms: vec![Vec::new(); rooms],
            room_of: HashMap::new(),
            room_size,
            buf: Vec::new(),
        };
        let mut network = VecDeque::new();
        let members = (0..rooms * room_size)
            .map(|index| {
                let port = FIRST_MEMBER_PORT + u16::try_from(index).expect("members fit ports");
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let mut endpoint = Endpoint::new(endpoint_config.clone(), None, true, None);
                let (handle, conn) = endpoint
                    .connect(now, client.clone(), relay_addr, "voipchat")
                    .expect("connect");
                let mut member = Member {
                    addr,
                    endpoint,
                    conn,
                    handle,
                    connected: false,
                };
                member.service(now, &mut network);
                member
            })
            .collect();
        World {
            now,
            relay,
            members,
            room_size,
            network,
            talker_seq: 0,
        }
    }

    /// One 20 ms step: timers, the talker's frame, then every packet until the network is
    /// quiet (deliveries are instant). Adds the relay's time to `costs`.
    fn step(&mut self, talk: bool, costs: &mut Costs) {
        self.now += FRAME;
        let now = self.now;
        for member in &mut self.members {
            member.timers(now, &mut self.network);
        }
        let started = Instant::now();
        self.relay.timers(now, &mut self.network);
        costs.timers += started.elapsed();
        if talk {
            let mut datagram = Vec::new();
            let header = AudioHeader {
                speaking: true,
                backfill: false,
                repeat: false,
                seq: self.talker_seq,
                timestamp: u32::from(self.talker_seq).wrapping_mul(960),
            };
            media::encode_uplink(header, &[0x5a; PAYLOAD_BYTES], &mut datagram);
            self.talker_seq = self.talker_seq.wrapping_add(1);
            let datagram = Bytes::from(datagram);
            for talker in self.members.iter_mut().step_by(self.room_size) {
                talker
                    .conn
                    .datagrams()
                    .send(datagram.clone(), true)
                    .expect("talker sends");
                talker.service(now, &mut self.network);
            }
        }
        while let Some(packet) = self.network.pop_front() {
            if packet.to == self.relay.addr {
                let member = usize::from(packet.from.port() - FIRST_MEMBER_PORT);
                let from_talker = member % self.room_size == 0;
                let mut forward = Duration::ZERO;
                let sent_before = self.network.len();
                let started = Instant::now();
                self.relay
                    .receive(now, packet, &mut self.network, &mut forward);
                let spent = started.elapsed();
                let sent = self.network.len() - sent_before;
                costs.packets_out += sent as u64;
                costs.bytes_out += self
                    .network
                    .iter()
                    .rev()
                    .take(sent)
                    .map(|p| p.data.len() as u64)
                    .sum::<u64>();
                costs.forward += forward;
                if from_talker {
                    costs.talker_in += spent - forward;
                    costs.talker_packets += 1;
                    if talk {
                        costs.forwarded += (self.room_size - 1) as u64;
                    }
                } else {
                    costs.listener_in += spent - forward;
                    costs.listener_packets += 1;
                }
            } else {
                let member = usize::from(packet.to.port() - FIRST_MEMBER_PORT);
                self.members[member].receive(now, packet, &mut self.network);
            }
        }
    }
}

/// One measured run: the rooms connect, talk for a warm-up, then for `rounds` frames.
fn run_quic(rooms: usize, room_size: usize, rounds: usize, identity: &ServerIdentity) -> Costs {
    let liveness = Liveness::default();
    let server = voipchat::server::quic_config(identity, liveness).expect("relay config");
    let client = tls::client_config(Some(&identity.fingerprint()), liveness).expect("client");
    let mut world = World::new(rooms, room_size, server, client);
    let mut scratch = Costs::default();
    for _ in 0..50 {
        world.step(false, &mut scratch);
    }
    assert!(
        world.members.iter().all(|m| m.connected),
        "every member connected"
    );
    // Warm-up: ACK frequency negotiated, RTT estimates settled, buffers grown.
    for _ in 0..100 {
        world.step(true, &mut scratch);
    }
    let received_before: u64 = listeners_received(&mut world);
    let mut costs = Costs::default();
    for _ in 0..rounds {
        world.step(true, &mut costs);
    }
    let delivered = listeners_received(&mut world) - received_before;
    assert_eq!(
        delivered, costs.forwarded,
        "every forwarded datagram arrived, once"
    );
    costs
}

/// Datagrams the listeners' QUIC stacks have received so far.
fn listeners_received(world: &mut World) -> u64 {
    let room_size = world.room_size;
    world
        .members
        .iter_mut()
        .enumerate()
        .filter(|(index, _)| index % room_size != 0)
        .map(|(_, m)| m.conn.stats().frame_rx.datagram)
        .sum()
}

/// The kernel's part: `count` packets of `len` bytes sent one `sendmsg` each (quinn-udp, as
/// quinn sends) round-robin to `receivers` loopback sockets nobody is reading, then read back
/// in `recvmmsg` batches. Returns nanoseconds per packet sent and per packet received.
fn kernel_floor(len: usize, count: usize, receivers: usize) -> (f64, f64) {
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let send_state = quinn::udp::UdpSocketState::new((&sender).into()).expect("socket state");
    let sockets: Vec<(UdpSocket, quinn::udp::UdpSocketState)> = (0..receivers)
        .map(|_| {
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            socket.set_nonblocking(true).expect("nonblocking");
            let state = quinn::udp::UdpSocketState::new((&socket).into()).expect("state");
            let _ = state.set_recv_buffer_size((&socket).into(), 16 << 20);
            (socket, state)
        })
        .collect();
    let addrs: Vec<SocketAddr> = sockets
        .iter()
        .map(|(s, _)| s.local_addr().expect("addr"))
        .collect();
    let contents = vec![0x42u8; len];
    let started = Instant::now();
    for i in 0..count {
        let transmit = quinn::udp::Transmit {
            destination: addrs[i % receivers],
            ecn: None,
            contents: &contents,
            segment_size: None,
            src_ip: None,
        };
        send_state
            .send((&sender).into(), &transmit)
            .expect("sendmsg");
    }
    let send_ns = started.elapsed().as_nanos() as f64 / count as f64;
    let mut storage = vec![[0u8; 1500]; quinn::udp::BATCH_SIZE];
    let mut meta = vec![quinn::udp::RecvMeta::default(); quinn::udp::BATCH_SIZE];
    let mut received = 0usize;
    let started = Instant::now();
    for (socket, state) in &sockets {
        loop {
            let mut bufs: Vec<IoSliceMut> =
                storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            match state.recv(socket.into(), &mut bufs, &mut meta) {
                Ok(n) => {
                    received += meta[..n]
                        .iter()
                        .map(|m| m.len / m.stride.max(1))
                        .sum::<usize>()
                }
                Err(_) => break,
            }
        }
    }
    let recv_ns = started.elapsed().as_nanos() as f64 / received.max(1) as f64;
    assert!(
        received * 10 >= count * 9,
        "the receive buffers kept the packets ({received} of {count})"
    );
    (send_ns, recv_ns)
}

fn main() {
    let args = Args::parse();
    let rooms: usize = args.get("--rooms", 100);
    let room: usize = args.get("--room", 10);
    let rounds: usize = args.get("--rounds", 1_000);
    let reps: usize = args.get("--reps", 5);
    assert!(room >= 2, "--room needs a talker and a listener");
    assert!(rooms * room <= 40_000, "at most 40,000 members");
    let identity = ServerIdentity::self_signed().expect("certificate");
    println!("# relay_floor: what one forwarded datagram costs at the least with QUIC");
    println!("machine: {}; load: {}", common::machine(), common::load());
    println!("{rooms} rooms of {room}, one talker each, {PAYLOAD_BYTES}-byte payload every 20 ms, {rounds} frames per run, {reps} runs\n");

    let runs: Vec<Costs> = (0..reps)
        .map(|_| run_quic(rooms, room, rounds, &identity))
        .collect();
    let last = runs[runs.len() - 1];
    let ns = |d: Duration, c: &Costs| d.as_nanos() as f64 / c.forwarded as f64;
    type Pick = Box<dyn Fn(&Costs) -> f64>;
    let rows: [(&str, Pick); 5] = [
        (
            "talker's packets in (receive, decrypt, events), per forwarded",
            Box::new(move |c: &Costs| ns(c.talker_in, c)),
        ),
        (
            "forwarding: queue each copy, build and encrypt its packet",
            Box::new(move |c: &Costs| ns(c.forward, c)),
        ),
        (
            "listeners' acknowledgements in (receive, decrypt, process)",
            Box::new(move |c: &Costs| ns(c.listener_in, c)),
        ),
        ("timers", Box::new(move |c: &Costs| ns(c.timers, c))),
        (
            "QUIC total per forwarded datagram",
            Box::new(move |c: &Costs| ns(c.total(), c)),
        ),
    ];
    println!(
        "| relay's QUIC work (quinn-proto, no I/O) | ns per forwarded datagram, median (range) |"
    );
    println!("|---|---|");
    let mut quic_total = 0.0;
    for (name, pick) in &rows {
        let values: Vec<f64> = runs.iter().map(pick).collect();
        let (lo, hi) = min_max(&values);
        println!("| {name} | {:.0} ({lo:.0}-{hi:.0}) |", median(&values));
        quic_total = median(&values);
    }
    let packets_in = (last.talker_packets + last.listener_packets) as f64 / last.forwarded as f64;
    let packets_out = last.packets_out as f64 / last.forwarded as f64;
    let packet_len = (last.bytes_out / last.packets_out.max(1)) as usize;
    println!(
        "\npackets per forwarded datagram: {packets_out:.3} out, {packets_in:.3} in ({:.3} acknowledgements from listeners); mean packet out {packet_len} bytes",
        last.listener_packets as f64 / last.forwarded as f64
    );

    let kernel: Vec<(f64, f64)> = (0..reps)
        .map(|_| kernel_floor(packet_len, 20_000, room - 1))
        .collect();
    let sends: Vec<f64> = kernel.iter().map(|k| k.0).collect();
    let recvs: Vec<f64> = kernel.iter().map(|k| k.1).collect();
    let (send, recv) = (median(&sends), median(&recvs));
    let (slo, shi) = min_max(&sends);
    let (rlo, rhi) = min_max(&recvs);
    println!("\n| kernel, loopback, {packet_len}-byte packets | ns per packet, median (range) |");
    println!("|---|---|");
    println!("| one sendmsg (quinn-udp) | {send:.0} ({slo:.0}-{shi:.0}) |");
    println!("| one packet of a recvmmsg batch | {recv:.0} ({rlo:.0}-{rhi:.0}) |");
    let kernel_total = send * packets_out + recv * packets_in;
    println!(
        "\nfloor per forwarded datagram: QUIC {:.2} us + kernel {:.2} us ({packets_out:.3} sends, {packets_in:.3} receives) = **{:.2} us** (target 5 us)",
        quic_total / 1000.0,
        kernel_total / 1000.0,
        (quic_total + kernel_total) / 1000.0
    );
}
