//! A connection that dies silently: the client resumes its seat when the network comes back,
//! and reports `interrupted` when it does not.

mod common;

use std::time::Duration;

use common::udp_proxy::UdpProxy;
use common::*;
use voipchat::net::tls::Liveness;
use voipchat::{ChatState, Client, ErrorCode, Event};

/// Quick to notice a dead link, so the test takes seconds rather than the default's tens.
fn fast_liveness() -> Liveness {
    Liveness {
        idle_timeout: Duration::from_millis(800),
        keep_alive: Duration::from_millis(200),
    }
}

fn client_through(
    proxy: &UdpProxy,
    server: &voipchat::Server,
    resume_timeout: Duration,
) -> (Client, Events) {
    let mut config = config_for(server);
    config.server = proxy.addr.to_string();
    config.liveness = fast_liveness();
    config.resume_timeout = resume_timeout;
    let (client, rx) = Client::with_channel(config).unwrap();
    (client, Events(rx))
}

fn states(events: &[Event]) -> Vec<ChatState> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_without_the_room_noticing() {
    let server = server_with(|c| {
        c.liveness = fast_liveness();
        c.resume_grace = Duration::from_secs(5);
    })
    .await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, mut alice_events) = client_through(&proxy, &server, Duration::from_secs(5));
    alice.join(signed("alice", "room")).await.unwrap();
    let (bob, mut bob_events) = client(&server);
    bob.join(signed("bob", "room")).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);

    proxy.set_cut(true);
    alice_events
        .wait_for(|e| {
            matches!(
                e,
                Event::StateChanged {
                    state: ChatState::Reconnecting,
                    ..
                }
            )
            .then_some(())
        })
        .await;
    proxy.set_cut(false);
    // Back in the same seat, with the room's current list.
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    assert_eq!(alice.state(), ChatState::Joined);
    assert!(!alice_events
        .drain()
        .iter()
        .any(|e| matches!(e, Event::Interrupted(_))));

    // Bob never saw alice leave, and the resumed connection carries on working both ways.
    assert!(bob_events
        .drain()
        .iter()
        .all(|e| !matches!(e, Event::MembersChanged(_))));
    let (carol, _e) = client(&server);
    carol.join(signed("carol", "room")).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob", "carol"]);
    alice
        .update_mute_config(voipchat::MuteConfig::default())
        .await
        .unwrap();
    alice.exit().await.unwrap();
    assert_eq!(bob_events.members().await, ["alice", "bob", "carol"]);
    assert_eq!(bob_events.members().await, ["bob", "carol"]);
}

#[tokio::test]
async fn a_connection_that_stays_dead_ends_in_interrupted_and_the_seat_is_freed() {
    let server = server_with(|c| {
        c.liveness = fast_liveness();
        c.resume_grace = Duration::from_millis(1500);
    })
    .await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, mut alice_events) = client_through(&proxy, &server, Duration::from_secs(1));
    alice.join(signed("alice", "room")).await.unwrap();
    let (bob, mut bob_events) = client(&server);
    bob.join(signed("bob", "room")).await.unwrap();

    proxy.set_cut(true);
    let error = alice_events.interrupted().await;
    assert_eq!(error.code, ErrorCode::NodeLost, "{error}");
    let after = alice_events.drain();
    assert_eq!(states(&after), [ChatState::Left]);
    assert_eq!(alice.state(), ChatState::Left);
    // Free to join again once the network is back.
    assert_eq!(alice.exit().await.unwrap_err().code, ErrorCode::NotInRoom);

    // The server keeps the seat for its grace period, then tells the room.
    assert_eq!(bob_events.members().await, ["bob"]);
    assert_eq!(server.stats().members, 1);
    proxy.set_cut(false);
    assert_eq!(
        alice.join(signed("alice", "room")).await.unwrap(),
        ["bob", "alice"]
    );
}

#[tokio::test]
async fn exit_while_reconnecting_leaves_at_once() {
    let server = server_with(|c| c.liveness = fast_liveness()).await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, mut alice_events) = client_through(&proxy, &server, Duration::from_secs(30));
    alice.join(signed("alice", "room")).await.unwrap();
    proxy.set_cut(true);
    alice_events
        .wait_for(|e| {
            matches!(
                e,
                Event::StateChanged {
                    state: ChatState::Reconnecting,
                    ..
                }
            )
            .then_some(())
        })
        .await;
    tokio::time::timeout(Duration::from_secs(2), alice.exit())
        .await
        .expect("exit does not wait for the network")
        .unwrap();
    assert_eq!(alice.state(), ChatState::Left);
}
