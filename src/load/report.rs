//! What a load run found, as data (serialisable to JSON) and as text.

use std::fmt::Write as _;

use serde::Serialize;

use super::traffic::{delivery, Delivery, Layout, Spread, Tally};
use super::{proc, LoadConfig, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Embedded,
    Spawned,
    /// Several spawned nodes sharing a Redis directory; CPU and memory summed over them.
    Cluster,
    Remote,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub target: TargetKind,
    pub members: usize,
    pub rooms: usize,
    pub speakers_per_room: usize,
    pub payload_bytes: usize,
    pub frame_ms: f64,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub load_threads: usize,
    /// Worker threads of an embedded relay.
    pub relay_threads: Option<usize>,
    /// Relay processes in a cluster run.
    pub cluster_nodes: Option<usize>,
    pub client_sockets: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
}

/// Time split between the forwarder (relay or baseline), the load tool and other tenants,
/// over the measured window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuShare {
    pub window_secs: f64,
    pub forwarder_cpu_secs: Option<f64>,
    pub load_cpu_secs: Option<f64>,
    /// Everything busy on the machine (all cores).
    pub machine_busy_secs: Option<f64>,
    /// Busy time that was neither the forwarder nor the load tool.
    pub others_cpu_secs: Option<f64>,
    /// Datagrams the kernel dropped on full UDP receive buffers, machine-wide, in the window.
    pub udp_receive_buffer_drops: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct JoinReport {
    pub attempted: usize,
    pub admitted: usize,
    pub refused: usize,
    pub failed: usize,
    /// From the first connect to the last answer.
    pub storm_ms: f64,
    /// Connect to `Joined`, per admitted member.
    pub latency_us: Spread,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub delivery: Delivery,
    /// Send to receive, same process and clock, for measured datagrams.
    pub delay_us: Spread,
    pub cpu: CpuShare,
    /// Datagrams delivered per second of the measured window.
    pub delivered_per_sec: f64,
    /// Forwarder CPU per delivered datagram.
    pub forwarder_us_per_datagram: Option<f64>,
    /// CPU cores the forwarder kept busy on average.
    pub forwarder_cores: Option<f64>,
    pub load_cores: Option<f64>,
    pub others_cores: Option<f64>,
    /// Delay of the datagrams sent in each second of the window: shows whether a high p99
    /// is a steady state or a burst.
    pub delay_by_second: Vec<SecondOfDelay>,
    /// What the members' QUIC stacks saw (relay phase only).
    pub client_transport: Option<ClientTransport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecondOfDelay {
    pub second: u32,
    pub count: usize,
    pub median_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

fn delay_by_second(tallies: &[Tally]) -> Vec<SecondOfDelay> {
    let first = tallies
        .iter()
        .flat_map(|t| t.sent_ms.iter().copied())
        .min()
        .unwrap_or(0);
    let mut seconds: Vec<Vec<u32>> = Vec::new();
    for t in tallies {
        for (&sent, &delay) in t.sent_ms.iter().zip(&t.delays_ns) {
            let second = ((sent - first) / 1000) as usize;
            if second >= seconds.len() {
                seconds.resize_with(second + 1, Vec::new);
            }
            seconds[second].push(delay);
        }
    }
    seconds
        .iter_mut()
        .enumerate()
        .map(|(second, delays)| {
            let spread = Spread::of_ns(delays);
            SecondOfDelay {
                second: second as u32,
                count: spread.count,
                median_us: spread.median,
                p99_us: spread.p99,
                max_us: spread.max,
            }
        })
        .collect()
}

/// The members' QUIC connections, summed over their lifetime (join included), read just
/// before they leave: how hard the relay's packets and acknowledgements work the link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientTransport {
    /// UDP datagrams the members received (each may carry several media datagrams).
    pub packets_received: u64,
    pub packets_sent: u64,
    pub media_datagrams_received: u64,
    /// ACK frames the members sent: each is work for the relay.
    pub acks_sent: u64,
    pub lost_packets: u64,
    pub congestion_events: u64,
}

impl ClientTransport {
    pub(super) fn of(members: &[super::quic::Member]) -> ClientTransport {
        let mut t = ClientTransport::default();
        for m in members {
            let s = m.connection.stats();
            t.packets_received += s.udp_rx.datagrams;
            t.packets_sent += s.udp_tx.datagrams;
            t.media_datagrams_received += s.frame_rx.datagram;
            t.acks_sent += s.frame_tx.acks;
            t.lost_packets += s.path.lost_packets;
            t.congestion_events += s.path.congestion_events;
        }
        t
    }
}

impl PhaseReport {
    pub(super) fn new(
        layout: &Layout,
        tallies: &[Tally],
        sent: &[u64],
        send_errors: u64,
        cpu: CpuShare,
    ) -> PhaseReport {
        let delivery = delivery(layout, tallies, sent, send_errors);
        let mut delays: Vec<u32> = tallies
            .iter()
            .flat_map(|t| t.delays_ns.iter().copied())
            .collect();
        let window = cpu.window_secs.max(1e-9);
        let cores = |secs: Option<f64>| secs.map(|s| s / window);
        PhaseReport {
            delay_us: Spread::of_ns(&mut delays),
            delivered_per_sec: delivery.received as f64 / window,
            forwarder_us_per_datagram: cpu
                .forwarder_cpu_secs
                .filter(|_| delivery.received > 0)
                .map(|s| s * 1e6 / delivery.received as f64),
            forwarder_cores: cores(cpu.forwarder_cpu_secs),
            load_cores: cores(cpu.load_cpu_secs),
            others_cores: cores(cpu.others_cpu_secs),
            client_transport: None,
            delay_by_second: delay_by_second(tallies),
            delivery,
            cpu,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub members: usize,
    pub rss_before_bytes: u64,
    pub rss_after_join_bytes: u64,
    pub rss_after_media_bytes: Option<u64>,
    /// (RSS after the joins − before) / members.
    pub bytes_per_member: f64,
}

impl MemoryReport {
    pub(super) fn new(
        members: usize,
        before: u64,
        after_join: u64,
        after_media: Option<u64>,
    ) -> Self {
        Self {
            members,
            rss_before_bytes: before,
            rss_after_join_bytes: after_join,
            rss_after_media_bytes: after_media,
            bytes_per_member: after_join.saturating_sub(before) as f64 / members.max(1) as f64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub machine: Machine,
    pub join: Option<JoinReport>,
    pub relay: Option<PhaseReport>,
    /// The relay's own count of members once everyone joined (embedded relay only).
    pub relay_members_seen: Option<usize>,
    /// Server memory (spawned relay, or a remote one with its pid).
    pub memory: Option<MemoryReport>,
    pub baseline: Option<PhaseReport>,
    /// Relay CPU per datagram ÷ baseline forwarder CPU per datagram.
    pub relay_to_baseline_cpu: Option<f64>,
}

impl Report {
    pub(super) fn new(config: &LoadConfig) -> Report {
        let relay_threads = match config.target {
            Target::Embedded { relay_threads } => Some(relay_threads),
            _ => None,
        };
        let cluster_nodes = match config.target {
            Target::Cluster { nodes, .. } => Some(nodes),
            _ => None,
        };
        Report {
            settings: Settings {
                target: TargetKind::Embedded,
                members: config.members,
                rooms: config.rooms,
                speakers_per_room: config.speakers_per_room,
                payload_bytes: config.payload_bytes,
                frame_ms: config.frame.as_secs_f64() * 1000.0,
                warmup_secs: config.warmup.as_secs_f64(),
                duration_secs: config.duration.as_secs_f64(),
                load_threads: config.load_threads,
                relay_threads,
                cluster_nodes,
                client_sockets: config.sockets(),
            },
            machine: Machine {
                cpus: proc::cpus(),
                cpu_model: proc::cpu_model(),
            },
            join: None,
            relay: None,
            relay_members_seen: None,
            memory: None,
            baseline: None,
            relay_to_baseline_cpu: None,
        }
    }

    pub(super) fn finish(&mut self) {
        let per = |p: &Option<PhaseReport>| p.as_ref().and_then(|p| p.forwarder_us_per_datagram);
        self.relay_to_baseline_cpu = match (per(&self.relay), per(&self.baseline)) {
            (Some(relay), Some(base)) if base > 0.0 => Some(relay / base),
            _ => None,
        };
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialise")
    }

    pub fn to_text(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "voipchat-load: {} members in {} rooms, {} speaker(s) per room, {}-byte payload every {} ms; \
             {} s measured after {} s warm-up",
            s.members, s.rooms, s.speakers_per_room, s.payload_bytes, s.frame_ms, s.duration_secs, s.warmup_secs
        );
        let _ = writeln!(
            out,
            "machine: {} CPU(s), {}; relay {:?}{}; load tool {} thread(s), {} client socket(s)",
            self.machine.cpus,
            self.machine.cpu_model,
            s.target,
            s.relay_threads
                .map(|n| format!(" with {n} thread(s)"))
                .or(s
                    .cluster_nodes
                    .map(|n| format!(" of {n} node(s), CPU and memory summed")))
                .unwrap_or_default(),
            s.load_threads,
            s.client_sockets
        );
        if let Some(j) = &self.join {
            let _ = writeln!(
                out,
                "\njoin storm: {}/{} admitted ({} refused, {} failed) in {:.0} ms; per join median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                j.admitted, j.attempted, j.refused, j.failed, j.storm_ms,
                j.latency_us.median / 1000.0, j.latency_us.p99 / 1000.0, j.latency_us.max / 1000.0
            );
            if let Some(e) = &j.first_error {
                let _ = writeln!(out, "  first failure: {e}");
            }
        }
        if let Some(n) = self.relay_members_seen {
            let _ = writeln!(out, "relay counted {n} members once everyone had joined");
        }
        if let Some(m) = &self.memory {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            let _ = writeln!(
                out,
                "relay memory: RSS {:.1} MiB before, {:.1} MiB after {} joins{}: {:.1} KiB per member",
                mib(m.rss_before_bytes),
                mib(m.rss_after_join_bytes),
                m.members,
                m.rss_after_media_bytes
                    .map(|b| format!(", {:.1} MiB after media", mib(b)))
                    .unwrap_or_default(),
                m.bytes_per_member / 1024.0
            );
        }
        for (name, phase) in [
            ("QUIC relay", &self.relay),
            ("plain-UDP baseline", &self.baseline),
        ] {
            if let Some(p) = phase {
                phase_text(&mut out, name, p);
            }
        }
        if let Some(r) = self.relay_to_baseline_cpu {
            let _ = writeln!(
                out,
                "\nrelay CPU per datagram = {r:.1} × the plain-UDP baseline's"
            );
        }
        out
    }
}

fn phase_text(out: &mut String, name: &str, p: &PhaseReport) {
    let d = &p.delivery;
    let _ = writeln!(
        out,
        "\n{name}: {} of {} expected datagrams delivered, {} lost ({:.3}%), {} duplicate, {} cross-room, {} echoed, {} mis-tagged, {} malformed, {} incomplete speaker→listener pairs; {} uplink frames sent, {} send errors",
        d.received,
        d.expected,
        d.lost,
        if d.expected > 0 { d.lost as f64 * 100.0 / d.expected as f64 } else { 0.0 },
        d.duplicates,
        d.cross_room,
        d.self_heard,
        d.wrong_source,
        d.malformed,
        d.incomplete_pairs,
        d.sent,
        d.send_errors
    );
    let _ = writeln!(
        out,
        "  delay send→receive: median {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
        p.delay_us.median, p.delay_us.p90, p.delay_us.p99, p.delay_us.p999, p.delay_us.max
    );
    let opt = |v: Option<f64>, unit: &str, digits: usize| {
        v.map_or("n/a".to_string(), |v| format!("{v:.digits$}{unit}"))
    };
    let _ = writeln!(
        out,
        "  {:.0} datagrams/s delivered; forwarder CPU {} per datagram, {} core(s); load tool {} core(s); others on the machine {} core(s) (window {:.2} s)",
        p.delivered_per_sec,
        opt(p.forwarder_us_per_datagram, " µs", 2),
        opt(p.forwarder_cores, "", 2),
        opt(p.load_cores, "", 2),
        opt(p.others_cores, "", 2),
        p.cpu.window_secs
    );
    if let Some(drops) = p.cpu.udp_receive_buffer_drops {
        let _ = writeln!(
            out,
            "  kernel UDP receive-buffer drops during the window (machine-wide): {drops}"
        );
    }
    if p.delay_by_second.len() > 1 {
        let p99s: Vec<String> = p
            .delay_by_second
            .iter()
            .map(|s| format!("{:.1}", s.p99_us / 1000.0))
            .collect();
        let _ = writeln!(out, "  p99 delay by second sent (ms): {}", p99s.join(" "));
    }
    if let Some(t) = &p.client_transport {
        let _ = writeln!(
            out,
            "  members' QUIC: {} packets received carrying {} media datagrams; {} packets sent, {} of them ACK frames; {} packets lost, {} congestion events",
            t.packets_received,
            t.media_datagrams_received,
            t.packets_sent,
            t.acks_sent,
            t.lost_packets,
            t.congestion_events
        );
    }
}
