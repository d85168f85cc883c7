//! What running several relays costs and buys (issue 16), against a real redis-server on
//! loopback:
//!
//! - **Join latency a cluster adds.** The backend's `place` for a room already pinned and for
//!   a room's first placement, and a join to a cluster node (whose admission asks Redis once:
//!   the shared nonce and, for a new room, its assignment) next to the same join to a relay
//!   that runs alone. Both relays run in this process; the joins alternate between them so
//!   the machine's noise falls on both alike. Each join opens a fresh QUIC connection into a
//!   room a resident member keeps open, then exits.
//! - **Failover.** Three relay processes; a room of three talking members; SIGKILL their
//!   node. Measured: time until each member reports -1011 (node lost), and until all three,
//!   re-placed by the backend and rejoined on a live node, hear each other again (each has
//!   received 10 packets, 0.2 s of speech, from each other). The members use a 1.5 s idle
//!   timeout, 0.3 s keep-alive and 1 s resume timeout (`tests/common/cluster.rs`).
//!
//! `cargo bench --bench cluster -- [--joins N] [--rounds R]` (defaults 500 and 5). Without
//! `--bench` (as `cargo test --all-targets` runs it) it makes a short smoke run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster::{everyone_hears_everyone, join_placed, rejoin, Cluster, Member};
use common::redis::RedisServer;
use common::{signed, APP_ID, APP_SECRET};
use voipchat::cluster::{self, ClusterConfig, Directory};
use voipchat::{Client, ClientConfig, ErrorCode, Server, ServerConfig};

struct Args {
    bench: bool,
    joins: usize,
    rounds: usize,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let bench = raw.iter().any(|a| a == "--bench");
    let value = |name: &str, default: usize, smoke: usize| {
        let given = raw
            .iter()
            .position(|a| a == name)
            .and_then(|i| raw.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: {v:?}")));
        given.unwrap_or(if bench { default } else { smoke })
    };
    Args {
        bench,
        joins: value("--joins", 500, 20),
        rounds: value("--rounds", 5, 1),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let median = percentile(samples, 0.5);
    println!(
        "  {name:<44} median {median:>7.3} ms   p90 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms",
        percentile(samples, 0.9),
        percentile(samples, 0.99),
        samples[samples.len() - 1]
    );
    median
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn relay(cluster: Option<ClusterConfig>) -> Server {
    Server::start(ServerConfig {
        apps: HashMap::from([(APP_ID.to_string(), APP_SECRET.to_string())]),
        cluster,
        ..ServerConfig::default()
    })
    .await
    .expect("relay starts")
}

fn client_for(addr: &str, cert: &str) -> Client {
    Client::new(ClientConfig::new(addr).pinned(cert), |_| {}).expect("client")
}

async fn join_latency(joins: usize) {
    let redis = RedisServer::start();
    let alone = relay(None).await;
    let node = relay(Some(ClusterConfig::new(redis.url(), "bench-node", ""))).await;
    let directory = Directory::connect(&redis.url()).await.expect("directory");
    let room = "bench-room";
    let placed = cluster::place(&directory, APP_ID, room).await.unwrap();
    assert_eq!(placed.node_id, "bench-node");

    // Residents keep both rooms open, so every measured join enters a running room.
    let alone_addr = alone.local_addr().to_string();
    let resident_alone = client_for(&alone_addr, alone.cert_sha256());
    resident_alone.join(signed("resident", room)).await.unwrap();
    let resident_node = client_for(&placed.server, &placed.server_cert_sha256);
    resident_node.join(signed("resident", room)).await.unwrap();

    let joiner_alone = client_for(&alone_addr, alone.cert_sha256());
    let joiner_node = client_for(&placed.server, &placed.server_cert_sha256);
    let warmup = 20;
    let (mut alone_ms, mut place_ms, mut node_ms, mut total_ms, mut first_ms) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..joins + warmup {
        let params = signed("player", room);
        let start = Instant::now();
        joiner_alone.join(params).await.expect("join alone");
        let alone_join = start.elapsed();
        joiner_alone.exit().await.unwrap();

        let params = signed("player", room);
        let start = Instant::now();
        let placement = cluster::place(&directory, APP_ID, room).await.unwrap();
        let placed_at = start.elapsed();
        assert_eq!(placement.node_id, "bench-node");
        joiner_node.join(params).await.expect("join on the node");
        let total = start.elapsed();
        joiner_node.exit().await.unwrap();

        // A room's first placement: no entry yet, so it is chosen and pinned.
        let start = Instant::now();
        cluster::place(
            &directory,
            APP_ID,
            &format!("first-{}-{i}", std::process::id()),
        )
        .await
        .unwrap();
        let first = start.elapsed();
        if i >= warmup {
            alone_ms.push(ms(alone_join));
            place_ms.push(ms(placed_at));
            node_ms.push(ms(total - placed_at));
            total_ms.push(ms(total));
            first_ms.push(ms(first));
        }
    }
    println!(
        "join latency, {joins} joins after {warmup} warm-up (fresh QUIC connection, loopback, Redis on loopback):"
    );
    let alone_median = summary("join, relay alone", &mut alone_ms);
    summary("place, room already pinned (backend)", &mut place_ms);
    summary("place, a room's first placement (backend)", &mut first_ms);
    let node_median = summary("join, cluster node (admission asks Redis)", &mut node_ms);
    let total_median = summary("place + join on the cluster node", &mut total_ms);
    println!(
        "  added by the cluster (medians): {:.3} ms by the node's check, {:.3} ms with the backend's placement",
        node_median - alone_median,
        total_median - alone_median
    );
    resident_alone.exit().await.unwrap();
    resident_node.exit().await.unwrap();
    node.shutdown().await;
    alone.shutdown().await;
}

async fn failover(rounds: usize) {
    let mut cluster = Cluster::start().await;
    let names = ["alice", "bob", "carol"];
    let (mut lost_s, mut back_s) = (vec![], vec![]);
    for round in 0..rounds {
        let group = format!("failover-{round}");
        let mut members: Vec<Member> = Vec::new();
        for name in names {
            members.push(join_placed(&cluster, name, &group).await.unwrap());
        }
        everyone_hears_everyone(&members.iter().collect::<Vec<_>>(), Duration::from_secs(10)).await;
        let dead = members[0].node_id.clone();
        let killed_at = Instant::now();
        cluster.relay_mut(&dead).kill();
        for member in &mut members {
            let error = member.events.interrupted().await;
            assert_eq!(error.code, ErrorCode::NodeLost, "{error}");
        }
        let lost = killed_at.elapsed();
        drop(members);
        // Each member's game rejoins on its own, at once.
        let limit = Duration::from_secs(20);
        let (a, b, c) = tokio::join!(
            rejoin(&cluster, names[0], &group, limit),
            rejoin(&cluster, names[1], &group, limit),
            rejoin(&cluster, names[2], &group, limit),
        );
        everyone_hears_everyone(&[&a, &b, &c], Duration::from_secs(10)).await;
        let back = killed_at.elapsed();
        println!(
            "  round {}: killed {dead}; -1011 at all members after {:.2} s, all hearing each other on {} after {:.2} s",
            round + 1,
            lost.as_secs_f64(),
            a.node_id,
            back.as_secs_f64()
        );
        lost_s.push(lost.as_secs_f64());
        back_s.push(back.as_secs_f64());
        drop((a, b, c));
        cluster.restart(&dead);
    }
    lost_s.sort_by(f64::total_cmp);
    back_s.sort_by(f64::total_cmp);
    println!(
        "failover over {rounds} rounds: node lost reported, median {:.2} s (max {:.2}); everyone hearing again, median {:.2} s (max {:.2})",
        percentile(&lost_s, 0.5),
        lost_s[lost_s.len() - 1],
        percentile(&back_s, 0.5),
        back_s[back_s.len() - 1]
    );
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        if !args.bench {
            println!("smoke run (pass --bench for figures)");
        }
        join_latency(args.joins).await;
        failover(args.rounds).await;
    });
}
