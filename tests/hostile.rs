//! One bad client never disturbs other members or rooms: malformed frames, protocol
//! violations, forged resume tokens and silent connections each end that one connection, and a
//! flood of control messages or of media (ten times a sender's rate, oversized datagrams)
//! leaves the others' voice whole and on time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::signal::{rms, speech_like};
use common::talk::{
    assert_voice_heard, member_stat, real_time_turn, talk_and_listen_in_turn, Listen, RATE,
};
use common::*;
use voipchat::net::media;
use voipchat::net::wire::{self, ServerMessage};
use voipchat::{Client, MediaRateLimit, Server};

/// Waits until the server closes `connection`, failing the test after 10 s.
async fn closed_by_server(connection: &quinn::Connection) -> quinn::ConnectionError {
    tokio::time::timeout(Duration::from_secs(10), connection.closed())
        .await
        .expect("the server closes the connection")
}

/// Two members in a room that the hostile traffic must not disturb.
async fn bystanders(server: &Server) -> (voipchat::Client, Events, voipchat::Client, Events) {
    let (alice, mut alice_events) = client(server);
    alice.join(signed("alice", "calm")).await.unwrap();
    let (bob, bob_events) = client(server);
    bob.join(signed("bob", "calm")).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    (alice, alice_events, bob, bob_events)
}

/// The bystanders still hear about joins and leaves, and can still act.
async fn still_fine(server: &Server, alice_events: &mut Events, bob: &voipchat::Client) {
    let (carol, _e) = client(server);
    carol.join(signed("carol", "calm")).await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob", "carol"]);
    bob.update_mute_config(voipchat::MuteConfig::default())
        .await
        .unwrap();
    carol.exit().await.unwrap();
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
}

#[tokio::test]
async fn malformed_frames_close_only_that_connection() {
    let server = server().await;
    let (_alice, mut alice_events, bob, _bob_events) = bystanders(&server).await;
    let junk: [&[u8]; 4] = [
        b"\x00\x00\x00\x05hello",                  // not JSON
        b"\x00\x00\x00\x12{\"type\":\"explode\"}", // unknown message
        b"\xff\xff\xff\xff",                       // absurd length
        b"\x00\x00\x00\x0a{\"type\":\"",           // truncated, then the stream ends
    ];
    for bytes in junk {
        let (_endpoint, connection) = raw_connection(&server).await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(bytes).await.unwrap();
        send.finish().unwrap();
        closed_by_server(&connection).await;
    }
    assert_eq!(server.stats().members, 2);
    still_fine(&server, &mut alice_events, &bob).await;
}

#[tokio::test]
async fn protocol_violations_close_only_that_connection() {
    let server = server().await;
    let (_alice, mut alice_events, bob, _bob_events) = bystanders(&server).await;

    // A command before joining.
    let (_endpoint, connection) = raw_connection(&server).await;
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    wire::write_message(&mut send, &wire::ClientMessage::Leave)
        .await
        .unwrap();
    closed_by_server(&connection).await;

    // A second join on an admitted connection evicts that member, and only that member.
    let (_endpoint, connection) = raw_connection(&server).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let join = join_message("mallory", "calm", voipchat::MuteConfig::default());
    wire::write_message(&mut send, &join).await.unwrap();
    let reply: ServerMessage = wire::read_message(&mut recv).await.unwrap();
    assert!(matches!(reply, ServerMessage::Joined { .. }), "{reply:?}");
    assert_eq!(alice_events.members().await, ["alice", "bob", "mallory"]);
    wire::write_message(&mut send, &join).await.unwrap();
    closed_by_server(&connection).await;
    assert_eq!(alice_events.members().await, ["alice", "bob"]);

    // A second stream is refused by QUIC flow control itself: only one is allowed.
    let (_endpoint, connection) = raw_connection(&server).await;
    let (_send1, _recv1) = connection.open_bi().await.unwrap();
    let second = tokio::time::timeout(Duration::from_millis(300), connection.open_bi()).await;
    assert!(second.is_err(), "a second control stream must not open");

    still_fine(&server, &mut alice_events, &bob).await;
}

#[tokio::test]
async fn a_forged_resume_token_takes_no_seat() {
    let server = server().await;
    let (_alice, mut alice_events, bob, _bob_events) = bystanders(&server).await;
    let long = "A".repeat(wire::MAX_FRAME_BYTES - 100);
    for token in [
        "",
        "q8Zk3vJ0c1Xw9nHs2mLp4rTb",
        "../../etc/passwd\u{0}",
        long.as_str(),
    ] {
        let (_endpoint, connection) = raw_connection(&server).await;
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        let resume = wire::ClientMessage::Resume {
            token: token.to_string(),
            mute: voipchat::MuteConfig::default(),
        };
        wire::write_message(&mut send, &resume).await.unwrap();
        let reply: ServerMessage = wire::read_message(&mut recv).await.unwrap();
        let not_in_room = voipchat::ErrorCode::NotInRoom.as_i32();
        assert!(
            matches!(reply, ServerMessage::Rejected { code, .. } if code == not_in_room),
            "token of {} bytes: {reply:?}",
            token.len()
        );
        closed_by_server(&connection).await;
    }
    assert_eq!(server.stats().members, 2);
    still_fine(&server, &mut alice_events, &bob).await;
}

#[tokio::test]
async fn a_connection_that_never_joins_is_dropped_after_the_handshake_timeout() {
    let server = server_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let (_alice, mut alice_events, bob, _bob_events) = bystanders(&server).await;
    let (_endpoint, connection) = raw_connection(&server).await;
    let started = std::time::Instant::now();
    closed_by_server(&connection).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    still_fine(&server, &mut alice_events, &bob).await;
}

#[tokio::test]
async fn many_failed_joins_do_not_disturb_a_room() {
    let server = server().await;
    let (_alice, mut alice_events, bob, _bob_events) = bystanders(&server).await;
    for i in 0..20 {
        let (c, _e) = client(&server);
        let mut p = signed(&format!("intruder{i}"), "calm");
        p.signature = "f".repeat(64);
        assert_eq!(
            c.join(p).await.unwrap_err().code,
            voipchat::ErrorCode::SignatureRejected
        );
    }
    assert!(alice_events
        .drain()
        .iter()
        .all(|e| !matches!(e, voipchat::Event::MembersChanged(_))));
    still_fine(&server, &mut alice_events, &bob).await;
}

/// Admits `open_id` into `room` over a bare connection the test drives itself.
async fn admitted_raw(
    server: &Server,
    open_id: &str,
    room: &str,
) -> (quinn::Endpoint, quinn::Connection, quinn::SendStream) {
    let (endpoint, connection) = raw_connection(server).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let join = join_message(open_id, room, voipchat::MuteConfig::default());
    wire::write_message(&mut send, &join).await.unwrap();
    let reply: ServerMessage = wire::read_message(&mut recv).await.unwrap();
    assert!(matches!(reply, ServerMessage::Joined { .. }), "{reply:?}");
    // The replies are never read from here on, as a hostile client would not.
    drop(recv);
    (endpoint, connection, send)
}

/// Alice and Bob in `room`, as the engine-fed clients a game runs.
async fn talking_pair(server: &Server, room: &str) -> (Arc<Client>, Arc<Client>, Events) {
    let (alice, alice_events) = client(server);
    alice.join(signed("alice", room)).await.unwrap();
    let (bob, _bob_events) = client(server);
    bob.join(signed("bob", room)).await.unwrap();
    (Arc::new(alice), Arc::new(bob), alice_events)
}

/// What the attack did to Alice's voice at Bob's: it must be whole, on time and unharmed.
/// Judged on her voice alone (Bob pulls it as a game does for 3D voice): in the mix, the
/// attacker's own sound would count against her (its noise is Mallory talking, and the mix's
/// limiter turns everyone down under it, as under any loud member).
fn assert_alice_unharmed(bob: &Client, speech: &[f32], heard: &[f32], what: &str) {
    assert_voice_heard(speech, heard, 1.0, what);
    let lost = member_stat(bob, "alice", "packetsLost");
    let late = member_stat(bob, "alice", "packetsLate");
    let delay = member_stat(bob, "alice", "jitterBufferDelayMs");
    println!("{what}: alice's packets at bob: {lost} lost, {late} late, delay {delay} ms");
    assert!(lost + late <= 2.0, "{what}: {lost} lost and {late} late");
    assert!(
        delay < 80.0,
        "{what}: bob's buffer delay for alice grew to {delay} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_control_messages_is_cut_off_and_the_room_keeps_talking() {
    // The flood runs inside the turn too: it must meet this call alone.
    let turn = real_time_turn().await;
    let server = server().await;
    let (alice, bob, mut alice_events) = talking_pair(&server, "calm").await;
    let (_endpoint, mallory, mut send) = admitted_raw(&server, "mallory", "calm").await;
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    assert_eq!(alice_events.members().await, ["alice", "bob", "mallory"]);

    // As many mute updates as the stream takes, never reading a reply, while Alice talks.
    let update = wire::encode(&wire::ClientMessage::UpdateMute {
        mute: voipchat::MuteConfig::default(),
    });
    let flood = tokio::spawn(async move {
        let burst = update.repeat(1000);
        let mut sent = 0usize;
        while send.write_all(&burst).await.is_ok() {
            sent += 1000;
            if sent >= 1_000_000 {
                break;
            }
        }
        sent
    });
    let speech = speech_like(4.0, 140.0, RATE);
    let alice_alone = Listen::Alone("alice");
    let heard =
        talk_and_listen_in_turn(&turn, &alice, &bob, alice_alone, speech.clone(), 0.0, || {}).await;
    let cut_off = closed_by_server(&mallory).await;
    let sent = flood.await.unwrap();
    println!("control flood: {sent} updates written before the relay closed it ({cut_off})");

    assert_alice_unharmed(&bob, &speech, &heard, "a control flood");
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    assert_eq!(server.stats().members, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_times_the_media_rate_and_oversized_datagrams_harm_no_one_else() {
    // The flood runs inside the turn too: it must meet this call alone.
    let turn = real_time_turn().await;
    let server = server().await;
    let (alice, bob, mut alice_events) = talking_pair(&server, "calm").await;
    let (_endpoint, mallory, _send) = admitted_raw(&server, "mallory", "calm").await;
    assert_eq!(alice_events.members().await, ["alice", "bob"]);
    assert_eq!(alice_events.members().await, ["alice", "bob", "mallory"]);

    // 500 datagrams a second (ten times a 20 ms sender), noise for payload, every tenth one
    // over the payload limit, for 6 s: while Alice talks, then while Bob listens to Mallory.
    let flood = tokio::spawn(async move {
        let mut sent = 0u32;
        let mut sent_bytes = 0u64;
        let started = std::time::Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(2));
        for seq in 0..3000u16 {
            ticker.tick().await;
            let size = if seq % 10 == 0 {
                media::MAX_PAYLOAD + 100
            } else {
                120
            };
            let payload: Vec<u8> = (0..size)
                .map(|i| (i as u16 ^ seq.rotate_left(3)) as u8)
                .collect();
            let header = media::AudioHeader {
                speaking: true,
                backfill: false,
                repeat: false,
                seq,
                timestamp: u32::from(seq) * 960,
            };
            let mut datagram = Vec::new();
            media::encode_uplink(header, &payload, &mut datagram);
            let bytes = datagram.len() as u64;
            if mallory.send_datagram(datagram.into()).is_ok() {
                sent += 1;
                sent_bytes += bytes;
            }
        }
        (sent, sent_bytes, started.elapsed())
    });
    let speech = speech_like(4.0, 140.0, RATE);
    let alice_alone = Listen::Alone("alice");
    let heard =
        talk_and_listen_in_turn(&turn, &alice, &bob, alice_alone, speech.clone(), 0.0, || {}).await;
    // Mallory alone, as a game playing each voice in 3D hears the flood: loud, but never past
    // full scale (before the clamp in playback.rs it measured RMS 5).
    let silence = vec![0.0; RATE as usize];
    let mallory_alone = Listen::Alone("mallory");
    let flood_heard =
        talk_and_listen_in_turn(&turn, &alice, &bob, mallory_alone, silence, 0.0, || {}).await;
    let (sent, sent_bytes, flood_time) = flood.await.unwrap();
    let relayed = member_stat(&bob, "mallory", "packetsReceived");
    let loudest = flood_heard.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    println!(
        "media flood as bob hears it alone: RMS {:.3}, peak {loudest:.3}",
        rms(&flood_heard)
    );
    assert!(
        rms(&flood_heard) > 0.01,
        "the flood is not heard at all: the check would be empty"
    );
    assert!(
        loudest <= 1.0,
        "a member's voice reached {loudest}, past full scale"
    );
    let policed = server.stats().media_over_budget;
    println!(
        "media flood: mallory sent {sent} datagrams, the relay dropped {policed} over her \
         budget, bob's buffer took {relayed}"
    );
    // About 113 KB/s against the default 64 KB/s: the relay may forward her burst and her rate
    // over the flood's time, and must refuse the rest; counted in the largest datagrams, the
    // fewest refusals that can make up the excess.
    let budget = MediaRateLimit::default();
    let allowed = u64::from(budget.burst_bytes)
        + (f64::from(budget.bytes_per_second) * flood_time.as_secs_f64()) as u64;
    let largest = (media::MAX_PAYLOAD + 100 + media::UPLINK_HEADER) as u64;
    let fewest_refused = sent_bytes.saturating_sub(allowed) / largest;
    println!(
        "media flood: {sent_bytes} bytes in {flood_time:?}, {allowed} allowed, so at least \
         {fewest_refused} refused"
    );
    assert!(
        fewest_refused > 0,
        "the flood stayed within budget: nothing to police"
    );
    assert!(
        policed >= fewest_refused,
        "the relay policed only {policed} of mallory's {sent} datagrams (at least \
         {fewest_refused} were over her budget)"
    );

    assert_alice_unharmed(&bob, &speech, &heard, "a media flood");
    assert!(sent >= 2500, "the flood sent only {sent} datagrams");
}
