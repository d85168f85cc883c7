//! The binding's engine-free half against a real relay: what the `VoipChat` node does, minus
//! Godot. Option dictionaries (as GDScript passes them) go in; the messages the node would
//! turn into signals come out; audio moves as the node moves it, stereo at Godot's default
//! mix rate, once per "frame". Then two players in a video room: camera frames pushed at one
//! arrive at the other upright, at the SDK's send size and in sequence, as the node's texture
//! path takes them.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use voipchat::{auth, ErrorCode, Event, Server, ServerConfig};
use voipchat_godot::calls::Calls;
use voipchat_godot::options::NodeSettings;
use voipchat_godot::outcome::{emissions, Emission, Message};
use voipchat_godot::value::Value;
use voipchat_godot::video::WatchedVideo;

const APP_ID: &str = "wxgodot";
const APP_SECRET: &str = "godot-secret";
/// Godot's default `audio/driver/mix_rate`.
const MIX_RATE: u32 = 44_100;
/// One 100 fps "frame" of audio.
const FRAME: usize = MIX_RATE as usize / 100;

fn settings() -> NodeSettings {
    NodeSettings {
        frame_ms: 20,
        ..NodeSettings::default()
    }
}

/// What a game's backend hands the client, as GDScript's `JSON.parse_string` reads it
/// (every number a float), plus the relay to use.
fn signed_options(server: &Server, open_id: &str, group_id: &str) -> Value {
    let time_stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nonce = format!("{open_id}-{}", std::process::id());
    let key = auth::session_key(APP_SECRET, open_id);
    let signature = auth::sign(&key, APP_ID, group_id, &nonce, time_stamp);
    let s = |v: &str| Value::String(v.to_owned());
    Value::dict([
        ("appId", s(APP_ID)),
        ("openId", s(open_id)),
        ("groupId", s(group_id)),
        ("nonceStr", s(&nonce)),
        ("timeStamp", Value::Float(time_stamp as f64)),
        ("signature", s(&signature)),
        ("roomType", s("voice")),
        (
            "muteConfig",
            Value::dict([
                ("muteMicrophone", Value::Bool(false)),
                ("muteEarphone", Value::Bool(false)),
            ]),
        ),
        ("server", s(&server.local_addr().to_string())),
        ("serverCertSha256", s(server.cert_sha256())),
    ])
}

/// Drains `calls` (as `_process` does) until a message matches, keeping every signal seen.
fn wait_for(
    calls: &mut Calls,
    seen: &mut Vec<Emission>,
    what: &str,
    done: impl Fn(&Message) -> bool,
) -> Message {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for message in calls.drain() {
            let hit = done(&message);
            seen.extend(emissions(message.clone()));
            if hit {
                return message;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}; signals so far: {seen:#?}");
}

/// Syllables of a buzzy voice: what voice-activity detection takes for speech.
fn speech(frames: usize, start: usize) -> Vec<f32> {
    (start..start + frames)
        .map(|i| {
            let t = i as f32 / MIX_RATE as f32;
            let phase = 2.0 * std::f32::consts::PI * 150.0 * t;
            let voice: f32 = (1..6).map(|h| (phase * h as f32).sin() / h as f32).sum();
            let slot = (t * 4.0).fract();
            let envelope = if slot < 0.8 {
                (std::f32::consts::PI * slot / 0.8).sin().powi(2)
            } else {
                0.0
            };
            0.25 * voice * envelope
        })
        .collect()
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

#[test]
fn two_players_join_talk_and_leave() {
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime
        .block_on(Server::start(ServerConfig {
            apps: HashMap::from([(APP_ID.to_owned(), APP_SECRET.to_owned())]),
            ..ServerConfig::default()
        }))
        .expect("relay starts");

    let (mut alice, mut bob) = (Calls::new(), Calls::new());
    // Bob hears through the strongest enhancer, chosen before his client exists.
    bob.set_voice_enhancement(voipchat::VoiceEnhancement::Strong)
        .unwrap();
    let (mut alice_seen, mut bob_seen) = (Vec::new(), Vec::new());
    let is_join = |m: &Message| matches!(m, Message::Join(_));

    alice.join(
        &signed_options(&server, "alice", "lobby"),
        &settings(),
        Default::default(),
    );
    let joined = wait_for(&mut alice, &mut alice_seen, "alice's join", is_join);
    assert_eq!(joined, Message::Join(Ok(vec!["alice".to_owned()])));
    assert!(alice.view().in_call());

    // Video calls in a voice room: a frame is -1006 at once, a subscription fails with -1006.
    let frame = red_over_blue(64, 48);
    let refused = alice.push_video_frame(64, 48, &frame).unwrap_err();
    assert_eq!(refused.code, ErrorCode::RoomTypeMismatch, "{refused:?}");
    alice.subscribe_video_members(vec!["bob".to_owned()]);
    let subscribed = wait_for(
        &mut alice,
        &mut alice_seen,
        "the refused subscription",
        |m| matches!(m, Message::SubscribeVideo(_)),
    );
    assert!(
        matches!(&subscribed, Message::SubscribeVideo(Err(e)) if e.code == ErrorCode::RoomTypeMismatch),
        "{subscribed:?}"
    );
    assert!(alice.latest_video_frame("bob").is_none());

    bob.join(
        &signed_options(&server, "bob", "lobby"),
        &settings(),
        Default::default(),
    );
    wait_for(&mut bob, &mut bob_seen, "bob's join", is_join);
    let both = vec!["alice".to_owned(), "bob".to_owned()];
    assert!(
        bob_seen.contains(&Emission::JoinSucceeded {
            open_id_list: both.clone()
        }),
        "{bob_seen:#?}"
    );
    wait_for(&mut alice, &mut alice_seen, "alice told of bob", |m| {
        *m == Message::Event(voipchat::Event::MembersChanged(both.clone()))
    });

    // Three seconds of "frames": alice speaks into her microphone, bob is silent; each pulls
    // the mix for its generator, stereo at the mix rate, as `_process` does.
    let mut alice_heard = Vec::new();
    let mut bob_heard = Vec::new();
    let mut out = vec![0.0f32; FRAME * 2];
    let start = Instant::now();
    for step in 0..300 {
        let voice = speech(FRAME, step * FRAME);
        let stereo: Vec<f32> = voice.iter().flat_map(|&s| [s, s]).collect();
        alice
            .client_in_call()
            .unwrap()
            .push_capture(&stereo, MIX_RATE, 2)
            .unwrap();
        bob.client_in_call()
            .unwrap()
            .push_capture(&vec![0.0; FRAME * 2], MIX_RATE, 2)
            .unwrap();
        bob.client_in_call()
            .unwrap()
            .pull_playback(&mut out, MIX_RATE, 2)
            .unwrap();
        bob_heard.extend_from_slice(&out);
        alice
            .client_in_call()
            .unwrap()
            .pull_playback(&mut out, MIX_RATE, 2)
            .unwrap();
        alice_heard.extend_from_slice(&out);
        for message in bob.drain() {
            bob_seen.extend(emissions(message));
        }
        let next = start + Duration::from_millis(10 * (step as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // From the second second on, past the jitter buffer's start.
    let tail = |heard: &[f32]| rms(&heard[MIX_RATE as usize * 2..]);
    println!(
        "bob hears alice at rms {:.4}; alice hears {:.4}",
        tail(&bob_heard),
        tail(&alice_heard)
    );
    assert!(tail(&bob_heard) > 0.02, "bob does not hear alice");
    assert_eq!(
        bob.stats()
            .as_dict()
            .and_then(|d| d.get("voiceEnhancement")),
        Some(&Value::String("strong".into())),
        "bob's client took the enhancement set before it was made"
    );
    assert!(
        tail(&alice_heard) < 0.005,
        "alice hears something from a silent bob"
    );
    assert!(
        bob_seen.iter().any(|e| matches!(e,
            Emission::SpeakersChanged { open_id_list } if open_id_list == &["alice".to_owned()])),
        "bob never saw alice speaking: {bob_seen:#?}"
    );

    // Bob mutes his earphone, then leaves; alice sees him go.
    bob.update_mute_config(&Value::dict([(
        "muteConfig",
        Value::dict([("muteEarphone", Value::Bool(true))]),
    )]));
    wait_for(&mut bob, &mut bob_seen, "bob's mute", |m| {
        matches!(m, Message::UpdateMute(_))
    });
    bob.exit();
    let left = wait_for(&mut bob, &mut bob_seen, "bob's exit", |m| {
        matches!(m, Message::Exit(_))
    });
    assert_eq!(left, Message::Exit(Ok(())));
    let results: Vec<&Value> = bob_seen
        .iter()
        .filter_map(|e| match e {
            Emission::UpdateMuteConfigCompleted { result } | Emission::ExitCompleted { result } => {
                Some(result)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        vec![
            &Value::dict([
                ("errCode", Value::Int(0)),
                (
                    "errMsg",
                    Value::String("updateVoIPChatMuteConfig:ok".into())
                ),
            ]),
            &Value::dict([
                ("errCode", Value::Int(0)),
                ("errMsg", Value::String("exitVoIPChat:ok".into())),
            ]),
        ]
    );
    wait_for(&mut alice, &mut alice_seen, "alice told bob left", |m| {
        *m == Message::Event(voipchat::Event::MembersChanged(vec!["alice".to_owned()]))
    });

    // Freeing the node in a call leaves the room cleanly: the relay sees the seat go at once,
    // not after its resume grace.
    drop(alice);
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.stats().members > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.stats().members, 0, "alice's seat outlived her node");
    drop(bob);
    server_runtime.block_on(server.shutdown());
}

#[test]
fn bad_options_fail_later_with_1001_and_calls_without_a_room_with_1005() {
    let mut calls = Calls::new();
    let mut options = Value::dict([
        ("appId", Value::String("wx".into())),
        ("openId", Value::String("alice".into())),
        ("groupId", Value::Int(42)),
    ]);
    calls.join(&options, &settings(), Default::default());
    calls.exit();
    calls.update_mute_config(&Value::dict([("muteConfig", Value::Int(1))]));
    calls.update_mute_config(&Value::dict([("muteMicrophone", Value::Bool(true))]));
    let signals: Vec<Emission> = calls.drain().into_iter().flat_map(emissions).collect();
    let result = |code: i64, msg: &str| {
        Value::dict([
            ("errCode", Value::Int(code)),
            ("errMsg", Value::String(msg.into())),
        ])
    };
    assert_eq!(
        signals,
        vec![
            Emission::JoinFailed {
                err_code: -1001,
                err_msg: "joinVoIPChat:fail groupId must be a String, got int".into(),
            },
            Emission::JoinCompleted {
                result: result(-1001, "joinVoIPChat:fail groupId must be a String, got int"),
            },
            Emission::ExitCompleted {
                result: result(-1005, "exitVoIPChat:fail not in a room"),
            },
            Emission::UpdateMuteConfigCompleted {
                result: result(
                    -1001,
                    "updateVoIPChatMuteConfig:fail muteConfig must be a Dictionary, got int"
                ),
            },
            Emission::UpdateMuteConfigCompleted {
                result: result(-1005, "updateVoIPChatMuteConfig:fail not in a room"),
            },
        ]
    );

    // A relay address the SDK cannot use is a -1001 too, from the SDK itself.
    if let Value::Dict(map) = &mut options {
        map.insert("groupId".into(), Value::String("lobby".into()));
        map.insert("nonceStr".into(), Value::String("n".into()));
        map.insert("timeStamp".into(), Value::Int(1));
        map.insert("signature".into(), Value::String("00".into()));
        map.insert("server".into(), Value::String("no port here".into()));
    }
    calls.join(&options, &settings(), Default::default());
    let signals: Vec<Emission> = calls.drain().into_iter().flat_map(emissions).collect();
    assert!(
        matches!(
            &signals[0],
            Emission::JoinFailed {
                err_code: -1001,
                ..
            }
        ),
        "{signals:#?}"
    );
    assert!(!calls.view().in_call());
}

/// A camera frame, RGBA top row first (as a Godot `Image` holds it): the top half red, the
/// bottom half blue, so a receiver can tell whether it arrived upright.
fn red_over_blue(width: u32, height: u32) -> Vec<u8> {
    (0..height)
        .flat_map(|y| {
            let top = y < height / 2;
            (0..width).flat_map(move |_| {
                if top {
                    [230, 20, 20, 255]
                } else {
                    [20, 20, 230, 255]
                }
            })
        })
        .collect()
}

fn pixel(rgba: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * width + x) * 4) as usize;
    [rgba[i], rgba[i + 1], rgba[i + 2]]
}

#[test]
fn two_players_exchange_video_in_a_video_room() {
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime
        .block_on(Server::start(ServerConfig {
            apps: HashMap::from([(APP_ID.to_owned(), APP_SECRET.to_owned())]),
            ..ServerConfig::default()
        }))
        .expect("relay starts");
    let (mut alice, mut bob) = (Calls::new(), Calls::new());
    let (mut alice_seen, mut bob_seen) = (Vec::new(), Vec::new());

    // Before any call: a bad frame is -1001 (checked first), a good one -1005.
    let frame = red_over_blue(320, 240);
    let bad = alice.push_video_frame(0, 240, &frame).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidArgument);
    assert!(bad.reason.contains("too small"), "{bad:?}");
    let short = alice.push_video_frame(320, 241, &frame).unwrap_err();
    assert_eq!(short.code, ErrorCode::InvalidArgument, "{short:?}");
    assert_eq!(
        alice.push_video_frame(320, 240, &frame).unwrap_err().code,
        ErrorCode::NotInRoom
    );
    alice.subscribe_video_members(vec![]);
    assert_eq!(
        alice
            .drain()
            .into_iter()
            .flat_map(emissions)
            .collect::<Vec<_>>(),
        vec![Emission::SubscribeVideoMembersCompleted {
            result: Value::dict([
                ("errCode", Value::Int(-1005)),
                (
                    "errMsg",
                    Value::String("subscribeVoIPVideoMembers:fail not in a room".into())
                ),
            ])
        }]
    );

    let video_room = |open_id: &str| {
        let mut options = signed_options(&server, open_id, "screen");
        if let Value::Dict(map) = &mut options {
            map.insert("roomType".into(), Value::String("video".into()));
        }
        options
    };
    let is_join = |m: &Message| matches!(m, Message::Join(_));
    alice.join(&video_room("alice"), &settings(), Default::default());
    wait_for(&mut alice, &mut alice_seen, "alice's join", is_join);
    bob.join(&video_room("bob"), &settings(), Default::default());
    let joined = wait_for(&mut bob, &mut bob_seen, "bob's join", is_join);
    assert_eq!(
        joined,
        Message::Join(Ok(vec!["alice".to_owned(), "bob".to_owned()]))
    );

    bob.subscribe_video_members(vec!["alice".to_owned()]);
    wait_for(&mut bob, &mut bob_seen, "bob's subscription", |m| {
        matches!(m, Message::SubscribeVideo(_))
    });
    assert!(
        bob_seen.contains(&Emission::SubscribeVideoMembersCompleted {
            result: Value::dict([
                ("errCode", Value::Int(0)),
                (
                    "errMsg",
                    Value::String("subscribeVoIPVideoMembers:ok".into())
                ),
            ])
        }),
        "{bob_seen:#?}"
    );

    // Three seconds of camera at 15 fps at alice; bob's node refreshes its texture each
    // "frame", taking a picture only when its sequence changed.
    let mut shown = WatchedVideo::default();
    shown.watch("alice");
    let mut pictures = Vec::new();
    let start = Instant::now();
    for n in 0..45u64 {
        alice.push_video_frame(320, 240, &frame).unwrap();
        for (open_id, video) in shown.refresh(|id| bob.latest_video_frame(id)) {
            assert_eq!(open_id, "alice");
            pictures.push((
                video.sequence,
                video.width,
                video.height,
                pixel(&video.rgba, video.width, video.width / 2, video.height / 6),
                pixel(
                    &video.rgba,
                    video.width,
                    video.width / 2,
                    video.height * 5 / 6,
                ),
            ));
        }
        for message in bob.drain() {
            bob_seen.extend(emissions(message));
        }
        let next = start + Duration::from_millis(1000 * (n + 1) / 15);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    println!("bob took {} pictures of alice", pictures.len());
    assert!(pictures.len() >= 5, "{pictures:?}");
    assert!(
        pictures.windows(2).all(|w| w[1].0 > w[0].0),
        "sequences grow: {pictures:?}"
    );
    for (sequence, width, height, top, bottom) in &pictures {
        assert_eq!((*width, *height), (640, 360), "picture {sequence}");
        assert!(
            top[0] > 150 && top[2] < 110,
            "picture {sequence}: top {top:?}"
        );
        assert!(
            bottom[2] > 150 && bottom[0] < 110,
            "picture {sequence}: bottom {bottom:?}"
        );
    }
    assert!(
        bob_seen.iter().any(|e| matches!(e,
            Emission::VideoMembersChanged { open_id_list } if open_id_list == &["alice".to_owned()])),
        "bob never saw alice publishing: {bob_seen:#?}"
    );
    assert_eq!(bob.view().video_members, vec!["alice".to_owned()]);

    // Alice stops: about a second later she no longer publishes.
    wait_for(&mut bob, &mut bob_seen, "alice no longer publishing", |m| {
        *m == Message::Event(Event::VideoMembersChanged(vec![]))
    });
    assert!(bob.view().video_members.is_empty());

    alice.exit();
    wait_for(&mut alice, &mut alice_seen, "alice's exit", |m| {
        matches!(m, Message::Exit(_))
    });
    bob.exit();
    wait_for(&mut bob, &mut bob_seen, "bob's exit", |m| {
        matches!(m, Message::Exit(_))
    });
    drop((alice, bob));
    server_runtime.block_on(server.shutdown());
}
