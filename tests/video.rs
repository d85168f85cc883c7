//! Video rooms end to end through a real relay: frames pushed at one member are pulled at the
//! others recognisably and in order, never corrupt, and a lossy path recovers through
//! keyframe requests.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::udp_proxy::{Impairment, UdpProxy};
use common::*;
use voipchat::video::picture::{psnr_y, Picture};
use voipchat::{Client, ErrorCode, Event, RoomType};

const FPS: u64 = 30;

/// Frame `n` of a moving test pattern at `width` x `height` (RGBA): a diagonal gradient that
/// pans, fine texture, and a bright box crossing the picture, so each frame differs from its
/// neighbours and a picture can be told from the ones around it.
fn pattern(n: u32, width: u32, height: u32) -> Vec<u8> {
    let mut rgba = vec![0u8; (width * height * 4) as usize];
    let box_x = (n * 7) % width.saturating_sub(width / 8).max(1);
    let box_y = (n * 3) % height.saturating_sub(height / 6).max(1);
    for y in 0..height {
        for x in 0..width {
            let i = ((y * width + x) * 4) as usize;
            let pan = (x + y + 2 * n) % 256;
            let texture = ((x / 4 + y / 4) % 2) * 24;
            let in_box =
                (box_x..box_x + width / 8).contains(&x) && (box_y..box_y + height / 6).contains(&y);
            let level = if in_box { 235 } else { pan / 2 + texture + 16 };
            rgba[i] = level as u8;
            rgba[i + 1] = (255 - pan) as u8 / 2 + 40;
            rgba[i + 2] = (level / 2 + 60) as u8;
            rgba[i + 3] = 255;
        }
    }
    rgba
}

fn source_picture(n: u32) -> Picture {
    Picture::from_rgba(640, 360, 640 * 4, &pattern(n, 640, 360)).unwrap()
}

/// The first `frames` frames of the pattern, made before a stream starts so that pushing them
/// in real time costs only the SDK's work.
fn source_pictures(frames: u32) -> Vec<Picture> {
    (0..frames).map(source_picture).collect()
}

/// How far behind the newest pushed frame a picture seen at a poll may be: the path's delay
/// in frames, with room to spare (the relay is on loopback).
const MAX_FRAMES_BEHIND: usize = 15;

fn video_room(open_id: &str, room: &str) -> voipchat::JoinParams {
    voipchat::JoinParams {
        room_type: RoomType::Video,
        ..signed(open_id, room)
    }
}

async fn join_video(server: &voipchat::Server, open_ids: &[&str], room: &str) -> Vec<Client> {
    join_video_with_events(server, open_ids, room)
        .await
        .into_iter()
        .map(|(client, _)| client)
        .collect()
}

async fn join_video_with_events(
    server: &voipchat::Server,
    open_ids: &[&str],
    room: &str,
) -> Vec<(Client, Events)> {
    let mut clients = Vec::new();
    for open_id in open_ids {
        let (client, events) = client(server);
        client.join(video_room(open_id, room)).await.unwrap();
        clients.push((client, events));
    }
    // Every member's list includes the others before anyone pushes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    clients
}

/// What a receiver saw of one sender: each new picture, with the sequence it came with and
/// the number of the newest frame pushed when it was seen.
struct Seen {
    pictures: Vec<(u64, Picture, usize)>,
}

/// Pushes `sources` at `sender` in real time (30 fps), polling each of `receivers` for
/// `from`'s latest picture after every push, as an engine would each frame.
async fn stream(
    sender: &Client,
    receivers: &[&Client],
    from: &str,
    sources: &[Picture],
) -> Vec<Seen> {
    let mut seen: Vec<Seen> = receivers
        .iter()
        .map(|_| Seen { pictures: vec![] })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / FPS));
    for (n, source) in sources.iter().enumerate() {
        tick.tick().await;
        sender.push_video_frame(source).unwrap();
        for (receiver, seen) in receivers.iter().zip(&mut seen) {
            if let Some(frame) = receiver.latest_video_frame(from) {
                let new = seen
                    .pictures
                    .last()
                    .map_or(true, |(sequence, _, _)| *sequence != frame.sequence);
                if new {
                    seen.pictures.push((frame.sequence, frame.picture, n));
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    seen
}

/// The source frame a picture seen after frame `newest` was pushed matches best, and how well.
fn best_match(picture: &Picture, sources: &[Picture], newest: usize) -> (usize, f64) {
    (newest.saturating_sub(MAX_FRAMES_BEHIND)..=newest)
        .map(|n| (n, psnr_y(picture, &sources[n])))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

/// `receiver`'s video statistics about `from`.
fn video_stats(receiver: &Client, from: &str) -> serde_json::Value {
    let stats: serde_json::Value = serde_json::from_str(&receiver.stats_json()).unwrap();
    stats["video"]["members"][from].clone()
}

/// Every picture seen is a recognisable frame of the pattern (PSNR-Y above `bar` dB against
/// the frame it matches), pictures come in order, and the receiver decoded at least
/// `min_share` of the frames pushed (its `framesShown`: the poll, once per push, misses a
/// picture replaced before it looked).
fn assert_recognisable_in_order(
    seen: &Seen,
    shown: u64,
    sources: &[Picture],
    bar: f64,
    min_share: f64,
    what: &str,
) {
    let pushed = sources.len();
    let matches: Vec<(usize, f64)> = seen
        .pictures
        .iter()
        .map(|(_, picture, newest)| best_match(picture, sources, *newest))
        .collect();
    let worst = matches.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    let mean = matches.iter().map(|m| m.1).sum::<f64>() / matches.len().max(1) as f64;
    println!(
        "{what}: {shown} of {pushed} frames shown, {} seen by the poll, PSNR-Y mean {mean:.1} dB, worst {worst:.1} dB",
        matches.len()
    );
    assert!(
        shown as f64 >= min_share * pushed as f64,
        "{what}: only {shown} of {pushed} frames shown"
    );
    assert!(!matches.is_empty(), "{what}: no picture seen");
    assert!(worst > bar, "{what}: a picture at {worst:.1} dB PSNR-Y");
    for pair in matches.windows(2) {
        assert!(
            pair[1].0 > pair[0].0,
            "{what}: frame {} shown after frame {}",
            pair[1].0,
            pair[0].0
        );
    }
    let sequences: Vec<u64> = seen.pictures.iter().map(|(s, _, _)| *s).collect();
    assert!(
        sequences.windows(2).all(|w| w[1] > w[0]),
        "{what}: sequences grow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moving_picture_pushed_at_a_is_pulled_at_b_and_c_recognisably_in_order() {
    let server = server().await;
    let clients = join_video(&server, &["alice", "bob", "carol"], "video-room").await;
    // Bob's engine is also told of each new picture (a push, for engines that prefer one).
    let pushed_to_bob = Arc::new(AtomicU64::new(0));
    let counter = pushed_to_bob.clone();
    clients[1].on_video_frame(Some(Arc::new(move |open_id: &str| {
        assert_eq!(open_id, "alice");
        counter.fetch_add(1, Ordering::Relaxed);
    })));
    let sources = source_pictures(60);
    let seen = stream(&clients[0], &[&clients[1], &clients[2]], "alice", &sources).await;
    for (i, name) in [(1, "bob"), (2, "carol")] {
        let stats = video_stats(&clients[i], "alice");
        let shown = stats["framesShown"].as_u64().unwrap();
        let what = format!("alice -> {name}");
        assert_recognisable_in_order(&seen[i - 1], shown, &sources, 30.0, 0.95, &what);
        assert_eq!(
            stats["framesDropped"], 0,
            "{what}: a clean path drops nothing"
        );
    }
    assert!(
        clients[0].latest_video_frame("bob").is_none(),
        "bob sent none"
    );
    let bob_shown = video_stats(&clients[1], "alice")["framesShown"]
        .as_u64()
        .unwrap();
    assert_eq!(
        pushed_to_bob.load(Ordering::Relaxed),
        bob_shown,
        "one push per picture"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_camera_frame_is_scaled_to_the_send_size() {
    let server = server().await;
    let clients = join_video(&server, &["alice", "bob"], "scaled-room").await;
    let camera = Picture::from_rgba(1280, 720, 1280 * 4, &pattern(0, 1280, 720)).unwrap();
    for _ in 0..10 {
        clients[0].push_video_frame(&camera).unwrap();
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let frame = clients[1].latest_video_frame("alice").expect("a picture");
    assert_eq!((frame.picture.width(), frame.picture.height()), (640, 360));
    let expected = camera.scaled_to(640, 360);
    let psnr = psnr_y(&frame.picture, &expected);
    assert!(
        psnr > 30.0,
        "PSNR-Y {psnr:.1} dB against the scaled camera frame"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_pushed_in_a_voice_room_or_outside_a_call_is_refused_with_a_clear_code() {
    let server = server().await;
    let (alice, _events) = client(&server);
    let error = alice.push_video_frame(&source_picture(0)).unwrap_err();
    assert_eq!(error.code, ErrorCode::NotInRoom, "{error}");
    alice.join(signed("alice", "voice-room")).await.unwrap();
    let error = alice.push_video_frame(&source_picture(0)).unwrap_err();
    assert_eq!(error.code, ErrorCode::RoomTypeMismatch, "{error}");
    assert!(error.reason.contains("voice room"), "{error}");
    alice.exit().await.unwrap();
    let error = alice.push_video_frame(&source_picture(0)).unwrap_err();
    assert_eq!(error.code, ErrorCode::NotInRoom, "{error}");
}

/// Bob's leg drops `loss` of its datagrams both ways; what he shows stays uncorrupted and in
/// order, resend requests recover most frames, and keyframe requests restart the picture when
/// they cannot.
/// The picture recovers within `max_frozen` after each break: no stretch longer than that (in
/// pushed frames) passes without a new picture. A freeze is what a player notices.
async fn through_loss(loss: f64, min_share: f64, max_frozen: Duration) {
    let server = server().await;
    let proxy = UdpProxy::start(server.local_addr()).await;
    let (alice, _a) = client(&server);
    alice.join(video_room("alice", "lossy-room")).await.unwrap();
    let mut config = config_for(&server);
    config.server = proxy.addr.to_string();
    let (bob, _b) = Client::with_channel(config).unwrap();
    bob.join(video_room("bob", "lossy-room")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.impair(Impairment {
        loss,
        jitter: Duration::ZERO,
        seed: 7,
    });
    let sources = source_pictures(90);
    let seen = stream(&alice, &[&bob], "alice", &sources).await;
    let what = format!("alice -> bob at {:.0} % loss", loss * 100.0);
    let stats = video_stats(&bob, "alice");
    println!("{what}: bob's video stats {stats}");
    let shown = stats["framesShown"].as_u64().unwrap();
    assert_recognisable_in_order(&seen[0], shown, &sources, 28.0, min_share, &what);
    // From the first picture on: the longest run of pushes after which bob still showed the
    // same picture.
    let polls: Vec<usize> = seen[0].pictures.iter().map(|(_, _, at)| *at).collect();
    let frozen_frames = polls.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let frozen = Duration::from_micros(frozen_frames as u64 * 1_000_000 / FPS);
    println!("{what}: longest freeze {} ms", frozen.as_millis());
    assert!(
        frozen <= max_frozen,
        "{what}: the picture froze for {} ms",
        frozen.as_millis()
    );
    assert!(
        stats["resendsRequested"].as_u64().unwrap() > 0,
        "{what}: lost pieces were asked for again"
    );
    let sender: serde_json::Value = serde_json::from_str(&alice.stats_json()).unwrap();
    assert!(sender["video"]["piecesResent"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_5_percent_loss_resends_keep_nearly_every_frame() {
    through_loss(0.05, 0.9, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_20_percent_loss_the_picture_keeps_moving_and_is_never_corrupt() {
    through_loss(0.20, 0.6, Duration::from_millis(1000)).await;
}

/// The next video members list `events` reports.
async fn video_members(events: &mut Events) -> Vec<String> {
    events
        .wait_for(|e| match e {
            Event::VideoMembersChanged(list) => Some(list.clone()),
            _ => None,
        })
        .await
}

/// Pushes `sources` in real time at each of `senders`, as several cameras at once. The pictures
/// are made beforehand: making them here (slow in a debug build) would pause every camera
/// long enough to stop counting as publishing.
async fn push_together(senders: &[&Client], sources: &[Picture]) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / FPS));
    for source in sources {
        tick.tick().await;
        for sender in senders {
            sender.push_video_frame(source).unwrap();
        }
    }
}

fn sequence_of(receiver: &Client, from: &str) -> u64 {
    receiver
        .latest_video_frame(from)
        .map_or(0, |frame| frame.sequence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_members_event_lists_publishers_in_the_order_they_started() {
    let sources = source_pictures(60);
    let server = server().await;
    let mut members = join_video_with_events(&server, &["alice", "bob", "carol"], "pub-room").await;
    let (carol, mut carol_events) = members.pop().unwrap();
    let (bob, _) = members.pop().unwrap();
    let (alice, _) = members.pop().unwrap();
    push_together(&[&alice], &sources[..5]).await;
    assert_eq!(video_members(&mut carol_events).await, vec!["alice"]);
    push_together(&[&alice, &bob], &sources[..5]).await;
    assert_eq!(video_members(&mut carol_events).await, vec!["alice", "bob"]);
    // Alice's camera stops; bob's goes on. A second after her last frame she is no publisher.
    push_together(&[&bob], &sources[..60]).await;
    assert_eq!(video_members(&mut carol_events).await, vec!["bob"]);
    // A newcomer hears who publishes as soon as it joins.
    let (dave, mut dave_events) = client(&server);
    let bob_alone = [&bob];
    let pushing = push_together(&bob_alone, &sources[..15]);
    let (joined, _) = tokio::join!(dave.join(video_room("dave", "pub-room")), pushing);
    joined.unwrap();
    assert_eq!(video_members(&mut dave_events).await, vec!["bob"]);
    drop(carol);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_member_sees_the_first_two_publishers_and_a_subscription_changes_whom() {
    let sources = source_pictures(30);
    let server = server().await;
    let clients = join_video(&server, &["a", "b", "c", "viewer"], "sub-room").await;
    let (a, b, c, viewer) = (&clients[0], &clients[1], &clients[2], &clients[3]);
    // a, then b, then c start their cameras.
    push_together(&[a], &sources[..3]).await;
    push_together(&[a, b], &sources[..3]).await;
    push_together(&[a, b, c], &sources[..30]).await;
    let before: Vec<u64> = ["a", "b", "c"].map(|id| sequence_of(viewer, id)).to_vec();
    println!("default: pictures from a, b, c: {before:?}");
    assert!(
        before[0] > 10 && before[1] > 10,
        "the first two publishers are shown"
    );
    assert_eq!(
        before[2], 0,
        "a third publisher is not sent without a subscription"
    );

    viewer
        .subscribe_video_members(vec!["c".into()])
        .await
        .unwrap();
    push_together(&[a, b, c], &sources[..30]).await;
    let after: Vec<u64> = ["a", "b", "c"].map(|id| sequence_of(viewer, id)).to_vec();
    println!("subscribed to c: pictures from a, b, c: {after:?}");
    assert!(after[2] > 10, "c is shown once subscribed");
    assert!(
        after[0] - before[0] <= 2 && after[1] - before[1] <= 2,
        "a and b stop (bar frames in flight)"
    );
    // An empty subscription receives no one.
    viewer.subscribe_video_members(vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let still = sequence_of(viewer, "c");
    push_together(&[a, b, c], &sources[..15]).await;
    assert!(
        sequence_of(viewer, "c") - still <= 2,
        "nobody after an empty subscription"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_outside_a_video_room_is_refused_with_a_clear_code() {
    let server = server().await;
    let (alice, _events) = client(&server);
    let error = alice
        .subscribe_video_members(vec!["bob".into()])
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::NotInRoom, "{error}");
    alice.join(signed("alice", "plain-voice")).await.unwrap();
    let error = alice
        .subscribe_video_members(vec!["bob".into()])
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RoomTypeMismatch, "{error}");
    let too_many: Vec<String> = (0..65).map(|i| format!("member-{i}")).collect();
    let error = alice.subscribe_video_members(too_many).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidArgument, "{error}");
}
