//! Faults a real network and a real deployment inflict on a call, injected between a listener
//! and the relay by a loopback proxy: a 200 ms stall, bursts of loss, duplicated datagrams, a
//! 10 s partition, and the relay restarted (cleanly, and after a crash). Each test checks what the players
//! hear and what they are told: the voice comes back and its delay does not stay inflated, no
//! spurious reconnect or `interrupted`, a restart ends the call with one `interrupted` of the
//! right code, and a rejoin on the new relay works. Every wait is bounded: no deadlock can
//! hang the suite.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::signal::speech_like;
use common::talk::{assert_voice_heard, member_stat, talk, RATE};
use common::udp_proxy::UdpProxy;
use common::*;
use voipchat::net::tls::{Liveness, ServerIdentity};
use voipchat::{ChatState, Client, ErrorCode, Event, Server};

/// Quick to notice a dead link, so the restart tests take seconds rather than tens.
fn fast_liveness() -> Liveness {
    Liveness {
        idle_timeout: Duration::from_millis(800),
        keep_alive: Duration::from_millis(200),
    }
}

/// How long a dropped member's seat is kept, and how long a client tries to take it back:
/// longer than the 10 s partition below.
const RESUME: Duration = Duration::from_secs(13);

fn identity_copy(identity: &ServerIdentity) -> ServerIdentity {
    ServerIdentity {
        chain: identity.chain.clone(),
        key: identity.key.clone_key(),
    }
}

/// A relay on `listen` (port 0: any) with this certificate, quick to notice dead links.
async fn relay(listen: std::net::SocketAddr, identity: &ServerIdentity) -> Server {
    server_with(|c| {
        c.listen = listen;
        c.identity = Some(identity_copy(identity));
        c.liveness = fast_liveness();
        c.resume_grace = RESUME;
    })
    .await
}

fn client_via(server: &Server, addr: String) -> (Arc<Client>, Events) {
    let mut config = config_for(server);
    config.server = addr;
    config.liveness = fast_liveness();
    config.resume_timeout = RESUME;
    let (client, rx) = Client::with_channel(config).unwrap();
    (Arc::new(client), Events(rx))
}

/// Alice talks straight to the relay; Bob listens through the proxy, whose faults he suffers.
async fn call_through_proxy(
    server: &Server,
    proxy: &UdpProxy,
    room: &str,
) -> (Arc<Client>, Events, Arc<Client>, Events) {
    let (alice, mut alice_events) = client_via(server, server.local_addr().to_string());
    alice.join(signed("alice", room)).await.unwrap();
    let (bob, bob_events) = client_via(server, proxy.addr.to_string());
    bob.join(signed("bob", room)).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    (alice, alice_events, bob, bob_events)
}

/// Neither a reconnect nor an interruption since the join: the fault never reached the call's
/// state.
fn assert_call_undisturbed(events: &mut Events, what: &str) {
    for event in events.drain() {
        match event {
            Event::Interrupted(e) => panic!("{what}: interrupted {e:?}"),
            Event::StateChanged {
                state: state @ (ChatState::Reconnecting | ChatState::Left | ChatState::Idle),
                ..
            } => panic!("{what}: state went to {state:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_ms_stall_is_a_gap_and_the_delay_comes_back() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let proxy = Arc::new(UdpProxy::start(server.local_addr()).await);
    let (alice, _a, bob, mut bob_events) = call_through_proxy(&server, &proxy, "stall").await;
    let speech = speech_like(8.0, 140.0, RATE);
    let before = member_stat(&bob, "alice", "jitterBufferDelayMs");

    let stalled = proxy.clone();
    let heard = talk(&alice, &bob, speech.clone(), 2.0, move || {
        stalled.stall(Duration::from_millis(200))
    })
    .await;

    assert_voice_heard(&speech, &heard, 5.0, "after a 200 ms stall");
    let concealed = member_stat(&bob, "alice", "packetsConcealed");
    let late = member_stat(&bob, "alice", "packetsLate");
    println!("stall: {concealed} frames concealed, {late} packets late");
    assert!(
        concealed + late >= 5.0,
        "the stall never reached bob's jitter buffer"
    );
    let after = member_stat(&bob, "alice", "jitterBufferDelayMs");
    println!(
        "jitter buffer delay: {before:.1} ms before the call, {after:.1} ms 6 s after the stall"
    );
    assert!(
        after < 100.0,
        "6 s after the stall the buffer still holds {after} ms: the stall's delay stayed"
    );
    assert_call_undisturbed(&mut bob_events, "a 200 ms stall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_loss_are_concealed_and_the_call_goes_on() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let proxy = Arc::new(UdpProxy::start(server.local_addr()).await);
    let (alice, _a, bob, mut bob_events) = call_through_proxy(&server, &proxy, "bursts").await;
    let speech = speech_like(8.0, 140.0, RATE);

    // Four bursts of 300 ms of total loss, a second apart, cut and restored from another
    // thread while the call runs.
    let cutter = proxy.clone();
    let bursts = std::thread::spawn(move || {
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(700));
            cutter.set_cut(true);
            std::thread::sleep(Duration::from_millis(300));
            cutter.set_cut(false);
        }
    });
    let heard = talk(&alice, &bob, speech.clone(), 0.0, || {}).await;
    bursts.join().unwrap();

    assert_voice_heard(&speech, &heard, 5.5, "after four bursts of loss");
    let lost = member_stat(&bob, "alice", "packetsLost");
    let concealed = member_stat(&bob, "alice", "packetsConcealed");
    println!("bursts: {lost} packets lost, {concealed} concealed");
    assert!(
        lost >= 20.0,
        "1.2 s of talk lost in bursts, yet only {lost} packets counted lost"
    );
    assert_call_undisturbed(&mut bob_events, "bursts of loss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_datagrams_are_played_once() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, _a, bob, mut bob_events) = call_through_proxy(&server, &proxy, "dups").await;
    proxy.set_duplicate(0.5);
    let speech = speech_like(5.0, 140.0, RATE);

    let heard = talk(&alice, &bob, speech.clone(), 0.0, || {}).await;

    assert_voice_heard(&speech, &heard, 1.0, "with half the datagrams doubled");
    assert!(
        proxy.duplicated() > 100,
        "the proxy doubled {} datagrams",
        proxy.duplicated()
    );
    let stats: serde_json::Value = serde_json::from_str(&alice.stats_json()).unwrap();
    let sent = stats["sent"]["packets"].as_f64().unwrap();
    let received = member_stat(&bob, "alice", "packetsReceived");
    println!(
        "duplication: {} datagrams doubled; alice sent {sent}, bob received {received}",
        proxy.duplicated()
    );
    assert!(
        received <= sent,
        "bob received {received} of {sent} packets sent: doubles played"
    );
    assert!(
        received >= 0.9 * sent,
        "bob received only {received} of {sent}"
    );
    assert_call_undisturbed(&mut bob_events, "duplication");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_s_partition_is_bridged_by_a_resume_the_room_never_sees() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, mut alice_events, bob, mut bob_events) =
        call_through_proxy(&server, &proxy, "partition").await;
    let state_is = |wanted: ChatState| {
        move |e: &Event| {
            matches!(e, Event::StateChanged { state, .. } if *state == wanted).then_some(())
        }
    };

    let cut = std::time::Instant::now();
    proxy.set_cut(true);
    bob_events.wait_for(state_is(ChatState::Reconnecting)).await;
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;
    proxy.set_cut(false);
    bob_events.wait_for(state_is(ChatState::Joined)).await;
    println!(
        "partition: bob back in his seat {:.1} s after the cut",
        cut.elapsed().as_secs_f32()
    );

    let speech = speech_like(3.0, 140.0, RATE);
    let heard = talk(&alice, &bob, speech.clone(), 0.0, || {}).await;
    assert_voice_heard(&speech, &heard, 1.0, "after a 10 s partition");
    assert!(
        !alice_events
            .drain()
            .iter()
            .any(|e| matches!(e, Event::MembersChanged(_))),
        "the room saw bob leave or come back"
    );
    // Since the resume: no second reconnect, no `interrupted`.
    assert_call_undisturbed(&mut bob_events, "after the resume");
}

/// Waits `settle` more after the first `interrupted` and returns every code it had: a call
/// ends once, so there must be exactly one.
async fn interruptions(events: &mut Events, settle: Duration) -> Vec<ErrorCode> {
    let first = events.interrupted().await;
    tokio::time::sleep(settle).await;
    let mut codes = vec![first.code];
    codes.extend(events.drain().into_iter().filter_map(|e| match e {
        Event::Interrupted(error) => Some(error.code),
        _ => None,
    }));
    codes
}

/// After a restart: both rejoin the relay now on `addr`, and Bob hears Alice again.
async fn rejoin_and_talk(server: &Server, addr: String, room: &str) {
    let (alice, mut alice_events) = client_via(server, server.local_addr().to_string());
    alice.join(signed("alice", room)).await.unwrap();
    let (bob, _b) = client_via(server, addr);
    bob.join(signed("bob", room)).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    let speech = speech_like(3.0, 140.0, RATE);
    let heard = talk(&alice, &bob, speech.clone(), 0.0, || {}).await;
    assert_voice_heard(&speech, &heard, 1.0, "after rejoining the restarted relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_shut_down_frees_its_address_at_once() {
    let identity = ServerIdentity::self_signed().unwrap();
    let mut server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let addr = server.local_addr();
    for round in 0..20 {
        let (alice, _events) = client_via(&server, addr.to_string());
        alice.join(signed("alice", "again")).await.unwrap();
        server.shutdown().await;
        // A plain socket (no SO_REUSEPORT) binds only once no socket of the old relay is open.
        let probe = std::net::UdpSocket::bind(addr);
        assert!(
            probe.is_ok(),
            "round {round}: {addr} still held after shutdown: {probe:?}"
        );
        drop(probe);
        server = relay(addr, &identity).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restart_ends_the_call_once_and_a_rejoin_works() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let addr = server.local_addr();
    let proxy = UdpProxy::start(addr).await;
    let (_alice, mut alice_events, _bob, mut bob_events) =
        call_through_proxy(&server, &proxy, "restart").await;

    server.shutdown().await;
    for (who, events) in [("alice", &mut alice_events), ("bob", &mut bob_events)] {
        let codes = interruptions(events, Duration::from_secs(1)).await;
        assert_eq!(codes, [ErrorCode::ServerShuttingDown], "{who}");
    }

    let restarted = relay(addr, &identity).await;
    assert_eq!(restarted.local_addr(), addr);
    rejoin_and_talk(&restarted, proxy.addr.to_string(), "restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_crashes_and_comes_back_ends_the_call_once_and_a_rejoin_works() {
    let identity = ServerIdentity::self_signed().unwrap();
    let server = relay("127.0.0.1:0".parse().unwrap(), &identity).await;
    let addr = server.local_addr();
    let proxy = UdpProxy::start(addr).await;
    let (alice, mut alice_events) = client_via(&server, proxy.addr.to_string());
    alice.join(signed("alice", "crash")).await.unwrap();
    let (bob, mut bob_events) = client_via(&server, proxy.addr.to_string());
    bob.join(signed("bob", "crash")).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);

    // A crash as the clients see it: the relay goes silent (its goodbye never arrives), and
    // a new process is listening on the same address a moment later, without their seats.
    proxy.set_cut(true);
    server.shutdown().await;
    let restarted = relay(addr, &identity).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set_cut(false);

    for (who, events) in [("alice", &mut alice_events), ("bob", &mut bob_events)] {
        let codes = interruptions(events, Duration::from_secs(1)).await;
        assert_eq!(codes.len(), 1, "{who}: interrupted {codes:?}");
        assert!(
            matches!(codes[0], ErrorCode::ServerUnreachable | ErrorCode::NodeLost),
            "{who}: a resume the new relay cannot honour ends with -1004 or -1011, not {:?}",
            codes[0]
        );
    }
    drop((alice, bob));
    rejoin_and_talk(&restarted, proxy.addr.to_string(), "crash").await;
}
