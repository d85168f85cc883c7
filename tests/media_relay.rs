//! The relay's media path with raw QUIC members: who hears whom, mute on the server side,
//! and malformed datagrams dropped without harm.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use voipchat::log::{LogLevel, Logger};
use voipchat::net::media::{self, AudioHeader};
use voipchat::net::wire::{self, ClientMessage, ServerMessage};
use voipchat::{MediaRateLimit, MuteConfig, Server};

struct RawMember {
    _endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    send: quinn::SendStream,
    open_id_list: Vec<String>,
    sources: Vec<u32>,
}

impl RawMember {
    async fn join(server: &Server, open_id: &str, group: &str, mute: MuteConfig) -> RawMember {
        let (endpoint, connection) = raw_connection(server).await;
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        let join = join_message(open_id, group, mute);
        wire::write_message(&mut send, &join).await.unwrap();
        let ServerMessage::Joined {
            open_id_list,
            sources,
            ..
        } = wire::read_message(&mut recv).await.unwrap()
        else {
            panic!("not admitted");
        };
        // Keep reading the control stream so the server never sees us as stuck.
        tokio::spawn(async move {
            while wire::read_message::<ServerMessage, _>(&mut recv)
                .await
                .is_ok()
            {}
        });
        RawMember {
            _endpoint: endpoint,
            connection,
            send,
            open_id_list,
            sources,
        }
    }

    fn my_source(&self) -> u32 {
        *self.sources.last().unwrap()
    }

    fn say(&self, seq: u16, payload: &[u8]) {
        let mut datagram = Vec::new();
        let header = AudioHeader {
            speaking: true,
            backfill: false,
            repeat: false,
            seq,
            timestamp: u32::from(seq) * 960,
        };
        media::encode_uplink(header, payload, &mut datagram);
        self.connection.send_datagram(datagram.into()).unwrap();
    }

    /// The next datagram within `wait`, decoded: (source, seq, payload).
    async fn hear(&self, wait: Duration) -> Option<(u32, u16, Vec<u8>)> {
        let datagram = tokio::time::timeout(wait, self.connection.read_datagram())
            .await
            .ok()?
            .ok()?;
        let (source, header, payload) =
            media::decode_downlink(&datagram).expect("well-formed downlink");
        Some((source, header.seq, payload.to_vec()))
    }

    async fn update_mute(&mut self, mute: MuteConfig) {
        wire::write_message(&mut self.send, &ClientMessage::UpdateMute { mute })
            .await
            .unwrap();
        // The acknowledgement is read (and dropped) by the reader task; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const QUIET: Duration = Duration::from_millis(300);
const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn every_other_member_hears_a_speaker_tagged_with_its_source() {
    let server = server().await;
    let a = RawMember::join(&server, "a", "room", MuteConfig::default()).await;
    let b = RawMember::join(&server, "b", "room", MuteConfig::default()).await;
    let c = RawMember::join(&server, "c", "room", MuteConfig::default()).await;
    let elsewhere = RawMember::join(&server, "d", "other-room", MuteConfig::default()).await;
    assert_eq!(c.open_id_list, ["a", "b", "c"]);
    assert_eq!(c.sources[0], a.my_source());

    a.say(7, b"hello");
    for listener in [&b, &c] {
        assert_eq!(
            listener.hear(SOON).await,
            Some((a.my_source(), 7, b"hello".to_vec()))
        );
    }
    assert_eq!(a.hear(QUIET).await, None, "a speaker does not hear itself");
    assert_eq!(elsewhere.hear(QUIET).await, None, "rooms are separate");
}

/// The relay spreads connections over several I/O loops (one socket each, by client address);
/// a room's members then sit in different loops, and datagrams cross between them. With eight
/// members over four loops, the chance that all land in one loop is 4 / 4^8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_spread_over_several_io_loops_all_hear_each_other() {
    let server = server_with(|config| config.io_loops = 4).await;
    let mut members = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        members.push(RawMember::join(&server, name, "room", MuteConfig::default()).await);
    }
    let elsewhere = RawMember::join(&server, "x", "other-room", MuteConfig::default()).await;
    let sources: Vec<u32> = members.iter().map(RawMember::my_source).collect();
    for (seq, speaker) in members.iter().enumerate() {
        speaker.say(seq as u16, b"hi");
    }
    for (index, listener) in members.iter().enumerate() {
        let mut heard = Vec::new();
        while let Some((source, seq, payload)) = listener.hear(QUIET).await {
            assert_eq!(payload, b"hi");
            heard.push((source, seq));
        }
        heard.sort();
        let expected: Vec<(u32, u16)> = (0..members.len())
            .filter(|&other| other != index)
            .map(|other| (sources[other], other as u16))
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(
            heard, expected,
            "member {index} hears every other member once"
        );
    }
    assert_eq!(elsewhere.hear(QUIET).await, None, "rooms are separate");
}

#[tokio::test]
async fn the_server_honours_mute_both_ways() {
    let server = server().await;
    let mut speaker = RawMember::join(&server, "speaker", "room", MuteConfig::default()).await;
    let deaf = MuteConfig {
        mute_microphone: false,
        mute_earphone: true,
    };
    let mut listener = RawMember::join(&server, "listener", "room", deaf).await;
    let other = RawMember::join(&server, "other", "room", MuteConfig::default()).await;

    speaker.say(1, b"one");
    assert_eq!(other.hear(SOON).await.map(|h| h.1), Some(1));
    assert_eq!(
        listener.hear(QUIET).await,
        None,
        "earphone muted: nothing forwarded"
    );

    listener.update_mute(MuteConfig::default()).await;
    speaker.say(2, b"two");
    assert_eq!(listener.hear(SOON).await.map(|h| h.1), Some(2));
    assert_eq!(other.hear(SOON).await.map(|h| h.1), Some(2));

    speaker
        .update_mute(MuteConfig {
            mute_microphone: true,
            mute_earphone: false,
        })
        .await;
    speaker.say(3, b"three");
    assert_eq!(
        other.hear(QUIET).await,
        None,
        "microphone muted: nothing forwarded"
    );
    assert_eq!(listener.hear(QUIET).await, None);
}

#[tokio::test]
async fn malformed_datagrams_are_dropped_and_the_sender_carries_on() {
    let server = server().await;
    let a = RawMember::join(&server, "a", "room", MuteConfig::default()).await;
    let b = RawMember::join(&server, "b", "room", MuteConfig::default()).await;
    for junk in [
        &b""[..],
        b"\x01",
        b"\x09\x01\x00\x01\x00\x00\x00\x00data",
        b"\x01\x01\x00\x01\x00\x00\x00\x00",
    ] {
        a.connection.send_datagram(junk.to_vec().into()).unwrap();
    }
    a.say(9, b"fine");
    assert_eq!(b.hear(SOON).await.map(|h| h.1), Some(9));
    assert_eq!(b.hear(QUIET).await, None);
    assert!(a.connection.close_reason().is_none());
}

/// A member over its media budget is policed at the relay: what it sends beyond the budget is
/// dropped before it reaches anyone and counted, the other members' own budgets are untouched,
/// and once it slows down it is forwarded again.
#[tokio::test]
async fn a_member_over_its_media_budget_is_cut_to_it_and_no_one_else_is() {
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let server = server_with(|config| {
        config.member_media = MediaRateLimit {
            bytes_per_second: 1000,
            burst_bytes: 1000,
        };
        config.logger = Logger::new(Some(Arc::new(move |level, message: &str| {
            if level == LogLevel::Warn {
                sink.lock().unwrap().push(message.to_string());
            }
        })));
    })
    .await;
    let a = RawMember::join(&server, "a", "room", MuteConfig::default()).await;
    let b = RawMember::join(&server, "b", "room", MuteConfig::default()).await;
    let c = RawMember::join(&server, "c", "room", MuteConfig::default()).await;

    // 50 datagrams of 108 bytes at once, 5400 bytes against a 1000-byte burst.
    let payload = [0x5a; 100];
    for seq in 0..50 {
        a.say(seq, &payload);
    }
    let mut heard_from_a = 0;
    while let Some((source, _, _)) = b.hear(QUIET).await {
        assert_eq!(source, a.my_source());
        heard_from_a += 1;
    }
    // The burst holds 9 of them; the time the 50 take to arrive refills at most a few more.
    assert!(
        (1..=13).contains(&heard_from_a),
        "b heard {heard_from_a} of a's 50 datagrams"
    );
    let policed = server.stats().media_over_budget;
    assert!(
        policed >= 50 - 13 && policed + heard_from_a <= 50,
        "{policed} dropped over budget, {heard_from_a} heard"
    );

    // The operator is told, once for the burst (the next line would come 5 s later).
    let over_budget: Vec<String> = warnings
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("voice over its budget"))
        .cloned()
        .collect();
    assert_eq!(over_budget.len(), 1, "{over_budget:?}");
    let line = &over_budget[0];
    assert!(
        line.contains(&format!("(source {})", a.my_source()))
            && line.contains("1000 bytes/s")
            && line.contains("dropped "),
        "{line}"
    );

    // C has a budget of its own: its five datagrams all arrive while A is over.
    for seq in 0..5 {
        c.say(seq, &payload);
    }
    let mut heard_from_c = Vec::new();
    while let Some((source, seq, _)) = b.hear(QUIET).await {
        assert_eq!(source, c.my_source());
        heard_from_c.push(seq);
    }
    assert_eq!(heard_from_c, [0, 1, 2, 3, 4]);

    // A second later A's bucket has refilled: it is heard again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.say(100, &payload);
    assert_eq!(
        b.hear(SOON).await.map(|h| (h.0, h.1)),
        Some((a.my_source(), 100))
    );
    assert!(
        a.connection.close_reason().is_none(),
        "policing is not a disconnect"
    );
}
