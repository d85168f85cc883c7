//! The control plane through the Rust API: one in-process relay, many clients.

mod common;

use std::time::Duration;

use common::*;
use voipchat::{
    ChatState, Client, ClientConfig, ErrorCode, Event, MuteConfig, RoomType, Server, ServerConfig,
};

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn join_returns_the_member_list_including_the_joiner() {
    let server = server().await;
    let (alice, _ea) = client(&server);
    assert_eq!(
        alice.join(signed("alice", "room")).await.unwrap(),
        ids(&["alice"])
    );
    let (bob, _eb) = client(&server);
    assert_eq!(
        bob.join(signed("bob", "room")).await.unwrap(),
        ids(&["alice", "bob"])
    );
    assert_eq!(alice.state(), ChatState::Joined);
    assert_eq!(server.stats().members, 2);
    assert_eq!(server.stats().rooms, 1);
}

#[tokio::test]
async fn members_changed_fires_on_join_and_leave_with_the_full_list() {
    let server = server().await;
    let (alice, mut alice_events) = client(&server);
    alice.join(signed("alice", "room")).await.unwrap();
    let (bob, _bob_events) = client(&server);
    bob.join(signed("bob", "room")).await.unwrap();
    assert_eq!(alice_events.members().await, ids(&["alice", "bob"]));
    let (carol, _carol_events) = client(&server);
    carol.join(signed("carol", "room")).await.unwrap();
    assert_eq!(
        alice_events.members().await,
        ids(&["alice", "bob", "carol"])
    );
    bob.exit().await.unwrap();
    assert_eq!(alice_events.members().await, ids(&["alice", "carol"]));
    assert_eq!(bob.state(), ChatState::Left);
}

#[tokio::test]
async fn a_second_join_while_in_a_room_or_joining_is_minus_one() {
    let server = server().await;
    let (alice, _e) = client(&server);
    alice.join(signed("alice", "room")).await.unwrap();
    let err = alice.join(signed("alice", "other")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AlreadyInRoom);
    // Still in the first room.
    assert_eq!(alice.state(), ChatState::Joined);

    let (bob, _e) = client(&server);
    let first = bob.join(signed("bob", "room"));
    let second = bob.join(signed("bob", "room"));
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_ok());
    assert_eq!(second.unwrap_err().code, ErrorCode::AlreadyInRoom);
}

#[tokio::test]
async fn exit_while_joining_fails_the_join_with_minus_three() {
    // A relay that never answers: a UDP socket nobody reads.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config =
        ClientConfig::new(silent.local_addr().unwrap().to_string()).pinned("00".repeat(32));
    let (client, _e) = Client::with_channel(config).unwrap();
    let join = client.join(signed("alice", "room"));
    let exit = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.exit().await
    };
    let (join, exit) = tokio::join!(join, exit);
    assert_eq!(join.unwrap_err().code, ErrorCode::LeftWhileJoining);
    assert_eq!(exit, Ok(()));
    assert_eq!(client.state(), ChatState::Left);
}

#[tokio::test]
async fn signature_failures_are_all_minus_1002() {
    let server = server().await;
    let (c, _e) = client(&server);
    let mut wrong_sig = signed("alice", "room");
    wrong_sig.signature = "0".repeat(64);
    let mut unknown_app = signed("alice", "room");
    unknown_app.app_id = "wx-nobody".into();
    let stale = signed_at("alice", "room", &fresh_nonce(), now() - 301);
    let future = signed_at("alice", "room", &fresh_nonce(), now() + 301);
    let mut other_user = signed("alice", "room");
    other_user.open_id = "mallory".into(); // alice's signature does not sign mallory in
    for params in [wrong_sig, unknown_app, stale, future, other_user] {
        let err = c.join(params).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureRejected);
        assert_eq!(
            err.reason, "signature rejected",
            "never says which check failed"
        );
    }
    assert_eq!(server.stats().members, 0);
}

#[tokio::test]
async fn a_reused_nonce_is_rejected() {
    let server = server().await;
    let params = signed("alice", "room");
    let (c, _e) = client(&server);
    c.join(params.clone()).await.unwrap();
    c.exit().await.unwrap();
    assert_eq!(
        c.join(params).await.unwrap_err().code,
        ErrorCode::SignatureRejected
    );
}

#[tokio::test]
async fn the_timestamp_window_is_configurable() {
    let server = server_with(|c| c.timestamp_window = Duration::from_secs(5)).await;
    let (c, _e) = client(&server);
    let ten_seconds_old = signed_at("alice", "room", &fresh_nonce(), now() - 10);
    assert_eq!(
        c.join(ten_seconds_old).await.unwrap_err().code,
        ErrorCode::SignatureRejected
    );
    c.join(signed_at("alice", "room", &fresh_nonce(), now() - 2))
        .await
        .unwrap();
}

/// A relay spreads its work over several sockets on one port (SO_REUSEPORT); that must not let
/// a second relay started on the same port by mistake quietly take some of the clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_relay_on_a_taken_port_fails_to_start() {
    let first = server_with(|c| c.io_loops = 2).await;
    let listen = first.local_addr();
    for io_loops in [1, 2] {
        let second = Server::start(ServerConfig {
            listen,
            io_loops,
            ..ServerConfig::default()
        })
        .await;
        let error = second.err().expect("the port is taken");
        assert_eq!(error.code, ErrorCode::InvalidArgument, "{}", error.reason);
        assert!(error.reason.contains("cannot listen"), "{}", error.reason);
    }
    // The first relay is unaffected.
    let (c, _e) = client(&first);
    c.join(signed("alice", "room")).await.unwrap();
}

#[tokio::test]
async fn invalid_arguments_are_minus_1001_before_any_network() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = ClientConfig::new(silent.local_addr().unwrap().to_string());
    let (c, _e) = Client::with_channel(config).unwrap();
    let mut cases = Vec::new();
    for field in ["app_id", "open_id", "group_id", "nonce_str", "signature"] {
        let mut p = signed("alice", "room");
        match field {
            "app_id" => p.app_id.clear(),
            "open_id" => p.open_id.clear(),
            "group_id" => p.group_id.clear(),
            "nonce_str" => p.nonce_str.clear(),
            _ => p.signature.clear(),
        }
        cases.push(p);
    }
    let mut long_nonce = signed("alice", "room");
    long_nonce.nonce_str = "n".repeat(128);
    cases.push(long_nonce);
    let mut long_group = signed("alice", "room");
    long_group.group_id = "g".repeat(129);
    cases.push(long_group);
    for params in cases {
        let err = c.join(params.clone()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{params:?}");
    }
    let mut ok_nonce = signed("alice", "room");
    ok_nonce.nonce_str = "n".repeat(127);
    assert_ne!(
        c.join(ok_nonce).await.unwrap_err().code,
        ErrorCode::InvalidArgument,
        "127 characters is allowed"
    );

    for bad in ["no-port", "host:notaport", ":80"] {
        let err = Client::with_channel(ClientConfig::new(bad)).err().unwrap();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
    }
    let err = Client::with_channel(ClientConfig::new("127.0.0.1:1").pinned("xyz"))
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn a_full_room_is_minus_1003_and_frees_up_when_someone_leaves() {
    let server = server_with(|c| c.max_members = 3).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let (c, e) = client(&server);
        c.join(signed(&format!("u{i}"), "room")).await.unwrap();
        clients.push((c, e));
    }
    let (late, _e) = client(&server);
    assert_eq!(
        late.join(signed("late", "room")).await.unwrap_err().code,
        ErrorCode::RoomFull
    );
    // Other rooms are not affected by this one being full.
    let (other, _e) = client(&server);
    other.join(signed("other", "elsewhere")).await.unwrap();
    clients[0].0.exit().await.unwrap();
    assert_eq!(
        late.join(signed("late", "room")).await.unwrap(),
        ids(&["u1", "u2", "late"])
    );
}

#[tokio::test]
async fn the_default_capacity_is_ten() {
    let server = server().await;
    let mut clients = Vec::new();
    for i in 0..10 {
        let (c, e) = client(&server);
        c.join(signed(&format!("u{i}"), "room")).await.unwrap();
        clients.push((c, e));
    }
    let (eleventh, _e) = client(&server);
    assert_eq!(
        eleventh.join(signed("u10", "room")).await.unwrap_err().code,
        ErrorCode::RoomFull
    );
}

#[tokio::test]
async fn the_first_joiner_fixes_the_room_type() {
    let server = server().await;
    let (alice, _e) = client(&server);
    let mut video = signed("alice", "room");
    video.room_type = RoomType::Video;
    alice.join(video).await.unwrap();
    let (bob, _e) = client(&server);
    let err = bob.join(signed("bob", "room")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::RoomTypeMismatch);
    assert!(err.reason.contains("video"), "{}", err.reason);
    // The room is destroyed when the last member leaves, and the next one can be voice.
    alice.exit().await.unwrap();
    bob.join(signed("bob", "room")).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_minus_1004() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config =
        ClientConfig::new(silent.local_addr().unwrap().to_string()).pinned("00".repeat(32));
    config.connect_timeout = Duration::from_millis(300);
    let (c, _e) = Client::with_channel(config).unwrap();
    let err = c.join(signed("alice", "room")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerUnreachable);
    assert_eq!(c.state(), ChatState::Left);
}

#[tokio::test]
async fn a_wrong_certificate_pin_is_minus_1007() {
    let server = server().await;
    let config = ClientConfig::new(server.local_addr().to_string()).pinned("ab".repeat(32));
    let (c, _e) = Client::with_channel(config).unwrap();
    assert_eq!(
        c.join(signed("alice", "room")).await.unwrap_err().code,
        ErrorCode::CertificateRejected
    );
    // Without a pin, a self-signed certificate is not trusted by the system roots either.
    let (c, _e) = Client::with_channel(ClientConfig::new(server.local_addr().to_string())).unwrap();
    assert_eq!(
        c.join(signed("alice", "room")).await.unwrap_err().code,
        ErrorCode::CertificateRejected
    );
    assert_eq!(server.stats().members, 0);
}

#[tokio::test]
async fn exit_and_mute_outside_a_room_are_minus_1005() {
    let server = server().await;
    let (c, _e) = client(&server);
    assert_eq!(c.exit().await.unwrap_err().code, ErrorCode::NotInRoom);
    assert_eq!(
        c.update_mute_config(MuteConfig::default())
            .await
            .unwrap_err()
            .code,
        ErrorCode::NotInRoom
    );
    c.join(signed("alice", "room")).await.unwrap();
    c.exit().await.unwrap();
    assert_eq!(c.exit().await.unwrap_err().code, ErrorCode::NotInRoom);
}

#[tokio::test]
async fn mute_updates_in_a_room_are_acknowledged() {
    let server = server().await;
    let (c, _e) = client(&server);
    let mut params = signed("alice", "room");
    params.mute_config.mute_microphone = true;
    c.join(params).await.unwrap();
    for (mic, ear) in [(false, true), (true, true), (false, false)] {
        let mute = MuteConfig {
            mute_microphone: mic,
            mute_earphone: ear,
        };
        c.update_mute_config(mute).await.unwrap();
    }
}

#[tokio::test]
async fn the_same_open_id_joining_again_replaces_the_older_session() {
    let server = server().await;
    let (first, mut first_events) = client(&server);
    first.join(signed("alice", "room")).await.unwrap();
    let (bob, mut bob_events) = client(&server);
    bob.join(signed("bob", "room")).await.unwrap();
    let (second, _e) = client(&server);
    assert_eq!(
        second.join(signed("alice", "room")).await.unwrap(),
        ids(&["bob", "alice"])
    );
    let err = first_events.interrupted().await;
    assert_eq!(err.code, ErrorCode::SessionReplaced);
    assert_eq!(first_events.wait_for(state_of).await, ChatState::Left);
    assert_eq!(first.state(), ChatState::Left);
    assert_eq!(bob_events.members().await, ids(&["bob", "alice"]));
    assert_eq!(server.stats().members, 2);
    // The replaced client is free to join again (and would now replace the second).
    assert_eq!(first.exit().await.unwrap_err().code, ErrorCode::NotInRoom);
}

#[tokio::test]
async fn rooms_are_separate_per_group_and_per_app() {
    let server = server_with(|c| {
        c.apps.insert("wx-other".into(), "other-secret".into());
    })
    .await;
    let (a, _e) = client(&server);
    a.join(signed("alice", "g1")).await.unwrap();
    let (b, _e) = client(&server);
    assert_eq!(b.join(signed("bob", "g2")).await.unwrap(), ids(&["bob"]));
    let key = voipchat::auth::session_key("other-secret", "carol");
    let nonce = fresh_nonce();
    let ts = now();
    let other_app = voipchat::JoinParams {
        app_id: "wx-other".into(),
        open_id: "carol".into(),
        group_id: "g1".into(),
        signature: voipchat::auth::sign(&key, "wx-other", "g1", &nonce, ts),
        nonce_str: nonce,
        time_stamp: ts,
        ..Default::default()
    };
    let (c, _e) = client(&server);
    assert_eq!(c.join(other_app).await.unwrap(), ids(&["carol"]));
    assert_eq!(server.stats().rooms, 3);
}

#[tokio::test]
async fn state_changes_are_reported_in_order() {
    let server = server().await;
    let (c, mut events) = client(&server);
    c.join(signed("alice", "room")).await.unwrap();
    c.exit().await.unwrap();
    let mut states = Vec::new();
    while states.last() != Some(&ChatState::Left) {
        let event = events.next().await;
        if let Event::StateChanged { state, data_json } = &event {
            let data: serde_json::Value = serde_json::from_str(data_json).unwrap();
            assert_eq!(data["state"], state.as_str());
            assert_eq!(data["groupId"], "room");
            states.push(*state);
        }
    }
    assert_eq!(
        states,
        [ChatState::Joining, ChatState::Joined, ChatState::Left]
    );
}

#[tokio::test]
async fn server_shutdown_interrupts_members() {
    let server = server().await;
    let (c, mut events) = client(&server);
    c.join(signed("alice", "room")).await.unwrap();
    server.shutdown().await;
    assert_eq!(
        events.interrupted().await.code,
        ErrorCode::ServerShuttingDown
    );
    assert_eq!(c.state(), ChatState::Left);
}

#[tokio::test]
async fn dropping_a_client_leaves_its_room() {
    let server = server().await;
    let (alice, mut alice_events) = client(&server);
    alice.join(signed("alice", "room")).await.unwrap();
    let (bob, _e) = client(&server);
    bob.join(signed("bob", "room")).await.unwrap();
    assert_eq!(alice_events.members().await, ids(&["alice", "bob"]));
    drop(bob);
    assert_eq!(alice_events.members().await, ids(&["alice"]));
}

fn state_of(event: &Event) -> Option<ChatState> {
    match event {
        Event::StateChanged { state, .. } if *state == ChatState::Left => Some(*state),
        _ => None,
    }
}
