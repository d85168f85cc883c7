//! The load tool at small scale, in-process: 50 members in 5 rooms over real QUIC against an
//! embedded relay, then the plain-UDP baseline. Every join is admitted, nothing is lost, every
//! speaker reaches each other member of its room and nobody outside it. Keeps the tool from
//! rotting; the figures themselves belong in BENCHMARKS.md, not in assertions.

mod common;

use std::time::Duration;

use common::redis::RedisServer;
use voipchat::load::{self, LoadConfig, PhaseReport, Target};

fn assert_clean(name: &str, phase: &PhaseReport, members: u64, rooms: u64, speakers: u64) {
    let d = &phase.delivery;
    let listeners_per_speaker = members / rooms - 1;
    assert!(d.sent > 0, "{name}: speakers sent nothing");
    // Each speaker sent the same number of measured frames, so the expectation is exact.
    assert_eq!(d.sent % (rooms * speakers), 0, "{name}: {d:?}");
    assert_eq!(d.expected, d.sent * listeners_per_speaker, "{name}: {d:?}");
    assert_eq!(d.received, d.expected, "{name}: {d:?}");
    assert_eq!(d.lost, 0, "{name}: {d:?}");
    assert_eq!(d.incomplete_pairs, 0, "{name}: {d:?}");
    assert_eq!(d.cross_room, 0, "{name}: crossed rooms: {d:?}");
    assert_eq!(d.self_heard, 0, "{name}: echoed to the sender: {d:?}");
    assert_eq!(d.wrong_source, 0, "{name}: mis-tagged: {d:?}");
    assert_eq!(d.duplicates, 0, "{name}: {d:?}");
    assert_eq!(d.malformed, 0, "{name}: {d:?}");
    assert_eq!(d.send_errors, 0, "{name}: {d:?}");
    assert_eq!(
        phase.delay_us.count as u64, d.received,
        "{name}: a delay per datagram"
    );
    assert!(phase.delay_us.median > 0.0, "{name}: delays measured");
}

#[test]
fn fifty_members_in_five_rooms_hear_exactly_their_rooms_speakers() {
    let config = LoadConfig {
        target: Target::Embedded { relay_threads: 2 },
        members: 50,
        rooms: 5,
        speakers_per_room: 2,
        duration: Duration::from_secs(3),
        warmup: Duration::from_millis(500),
        client_sockets: 3,
        ..LoadConfig::default()
    };
    let report = load::run(&config).expect("the load run completes");

    let join = report.join.as_ref().expect("a join storm");
    assert_eq!(
        (join.admitted, join.refused, join.failed),
        (50, 0, 0),
        "{join:?}"
    );
    assert_eq!(join.latency_us.count, 50);
    assert_eq!(report.relay_members_seen, Some(50));
    let relay = report.relay.as_ref().expect("a relay phase");
    assert_clean("relay", relay, 50, 5, 2);
    let baseline = report.baseline.as_ref().expect("a baseline phase");
    assert_clean("baseline", baseline, 50, 5, 2);
    // 2 speakers × 50 frames/s × 3 s, heard by the 9 others of each of 5 rooms.
    assert_eq!(relay.delivery.expected, 5 * 2 * 150 * 9);

    let text = report.to_text();
    assert!(
        text.contains("QUIC relay") && text.contains("plain-UDP baseline"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["relay"]["delivery"]["lost"], 0);
    assert_eq!(json["join"]["admitted"], 50);
}

#[test]
fn a_cluster_of_three_nodes_carries_rooms_placed_by_the_directory() {
    let redis = RedisServer::start();
    let config = LoadConfig {
        target: Target::Cluster {
            redis_url: redis.url(),
            nodes: 3,
            binary: Some(env!("CARGO_BIN_EXE_voipchat-server").into()),
        },
        members: 30,
        rooms: 6,
        speakers_per_room: 2,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        client_sockets: 2,
        baseline: false,
        ..LoadConfig::default()
    };
    let report = load::run(&config).expect("the load run completes");
    // Every join admitted: each went to the node its room was placed on (a wrong node
    // refuses with -1010).
    let join = report.join.as_ref().expect("a join storm");
    assert_eq!(
        (join.admitted, join.refused, join.failed),
        (30, 0, 0),
        "{join:?}"
    );
    let relay = report.relay.as_ref().expect("a relay phase");
    assert_clean("cluster", relay, 30, 6, 2);
    assert_eq!(report.settings.cluster_nodes, Some(3));
    let memory = report
        .memory
        .as_ref()
        .expect("memory summed over the nodes");
    assert!(memory.rss_before_bytes > 0);
    assert!(report.to_text().contains("of 3 node(s)"));
}
