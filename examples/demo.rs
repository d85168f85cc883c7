//! The Quick start demo: an embedded relay and four players in one room, talking, then two in a
//! video room. Every event is printed as it happens; what bob heard is written to
//! `demo-bob-heard.wav`, and a few of the pictures he was sent to `demo-bob-video-*.png`.
//!
//! Run it with `cargo run --release --example demo`. With a microphone and speakers on the
//! machine, a fifth player, "you", joins on the system's devices and hears the others (and they
//! hear you); without them the demo runs on engine-fed ("external") audio only.
//!
//! In a real game the relay runs elsewhere (`voipchat-server`) and the game's backend signs
//! each join; here both happen in-process so the demo needs nothing but this repository.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use voipchat::{
    auth, AudioConfig, AudioMode, Client, ClientConfig, Event, JoinParams, MuteConfig, Picture,
    RoomType, Server, ServerConfig,
};

const APP_ID: &str = "wx-demo";
const APP_SECRET: &str = "demo-secret-never-ship-this";
const RATE: u32 = 48_000;
const STEP: usize = 480; // 10 ms, what a game's audio callback typically hands over
const WAV_PATH: &str = "demo-bob-heard.wav";

/// What a game backend does for each player: derive the session key, sign the join.
fn backend_signs(open_id: &str, group_id: &str) -> JoinParams {
    let time_stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nonce = format!(
        "{open_id}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let session_key = auth::session_key(APP_SECRET, open_id);
    JoinParams {
        app_id: APP_ID.into(),
        open_id: open_id.into(),
        group_id: group_id.into(),
        signature: auth::sign(&session_key, APP_ID, group_id, &nonce, time_stamp),
        nonce_str: nonce,
        time_stamp,
        ..Default::default()
    }
}

fn player(server: &Server, name: &'static str, audio: AudioMode, started: Instant) -> Client {
    let mut config =
        ClientConfig::new(server.local_addr().to_string()).pinned(server.cert_sha256());
    config.audio = AudioConfig {
        mode: audio,
        frame_ms: 20,
    };
    Client::new(config, move |event| {
        let at = started.elapsed().as_secs_f64() * 1000.0;
        match event {
            Event::MembersChanged(list) => {
                println!("{at:8.1} ms  {name:<6} members changed: {list:?}")
            }
            Event::SpeakersChanged(list) => println!("{at:8.1} ms  {name:<6} speakers: {list:?}"),
            Event::VideoMembersChanged(list) => {
                println!("{at:8.1} ms  {name:<6} video members: {list:?}")
            }
            Event::Interrupted(e) => println!(
                "{at:8.1} ms  {name:<6} interrupted: {} ({})",
                e.reason,
                e.code.as_i32()
            ),
            Event::StateChanged { data_json, .. } => {
                println!("{at:8.1} ms  {name:<6} state: {data_json}")
            }
        }
    })
    .expect("client")
}

/// A voice-like phrase: a gliding harmonic tone in syllables, standing in for a microphone.
fn phrase(seconds: f32, pitch_hz: f32) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..(seconds * RATE as f32) as usize)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            phase += std::f32::consts::TAU
                * pitch_hz
                * (1.0 + 0.15 * (std::f32::consts::TAU * 0.7 * t).sin())
                / RATE as f32;
            let voice: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
            let slot = (t * 4.0).fract();
            let syllable = if slot < 0.8 {
                (std::f32::consts::PI * slot / 0.8).sin().powi(2)
            } else {
                0.0
            };
            0.25 * voice * syllable
        })
        .collect()
}

/// Frame `n` of a camera stand-in: a 1280x720 test card (colour bars) with a white box
/// sweeping across it, as RGBA.
fn test_card(n: u32) -> Vec<u8> {
    const BARS: [[u8; 3]; 7] = [
        [235, 235, 235],
        [235, 235, 16],
        [16, 235, 235],
        [16, 235, 16],
        [235, 16, 235],
        [235, 16, 16],
        [16, 16, 235],
    ];
    let (w, h) = (1280u32, 720u32);
    let box_x = (n * 24) % (w - 160);
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let in_box = (box_x..box_x + 160).contains(&x) && (280..440).contains(&y);
            let [r, g, b] = if in_box {
                [255, 255, 255]
            } else {
                BARS[(x * 7 / w) as usize]
            };
            rgba.extend_from_slice(&[r, g, b, 255]);
        }
    }
    rgba
}

/// A PNG of an RGBA picture, uncompressed (stored deflate blocks): enough to look at, with no
/// image library.
fn write_png(path: &str, width: u32, height: u32, rgba: &[u8]) -> std::io::Result<()> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    let mut raw = Vec::with_capacity(rgba.len() + height as usize);
    for row in rgba.chunks_exact(width as usize * 4) {
        raw.push(0); // no filter
        raw.extend_from_slice(row);
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png)
}

/// Two seconds of a video room: alice's "camera" (a 1280x720 test card) pushed at 30 fps,
/// scaled to 640x360 and sent; bob pulls her latest picture each frame, as an engine would
/// before drawing, and a few of them are written out.
async fn video_call(server: &Server, started: Instant) -> Result<(), Box<dyn std::error::Error>> {
    let alice = player(server, "alice", AudioMode::External, started);
    let bob = player(server, "bob", AudioMode::External, started);
    for (client, name) in [(&alice, "alice"), (&bob, "bob")] {
        let params = JoinParams {
            room_type: RoomType::Video,
            ..backend_signs(name, "arena-1")
        };
        client.join(params).await?;
    }
    println!("           video  alice and bob joined video room arena-1");
    let cards: Vec<Vec<u8>> = (0..60).map(test_card).collect();
    let mut tick = tokio::time::interval(Duration::from_micros(33_333));
    let (mut shown, mut written, mut last) = (0, Vec::new(), 0);
    for (n, card) in cards.iter().enumerate() {
        tick.tick().await;
        alice.push_video_frame(&Picture::from_rgba(1280, 720, 1280 * 4, card)?)?;
        if let Some(frame) = bob.latest_video_frame("alice") {
            if frame.sequence != last {
                last = frame.sequence;
                shown += 1;
                if n >= 20 * written.len() + 19 {
                    let path = format!("demo-bob-video-{}.png", written.len() + 1);
                    let mut rgba = Vec::new();
                    frame.picture.to_rgba(&mut rgba);
                    let (w, h) = (frame.picture.width(), frame.picture.height());
                    write_png(&path, w, h, &rgba)?;
                    written.push(format!("{path} ({w}x{h}, picture {})", frame.sequence));
                }
            }
        }
    }
    println!(
        "           bob    saw {shown} of alice's 60 frames change on his screen; wrote {}",
        written.join(", ")
    );
    let stats: serde_json::Value = serde_json::from_str(&bob.stats_json())?;
    println!("           bob    video stats: {}", stats["video"]);
    alice.exit().await?;
    bob.exit().await?;
    Ok(())
}

fn write_wav(path: &str, samples: &[f32]) -> std::io::Result<()> {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let server = Server::start(ServerConfig {
        apps: HashMap::from([(APP_ID.to_string(), APP_SECRET.to_string())]),
        ..ServerConfig::default()
    })
    .await?;
    println!(
        "relay listening on {} (cert-sha256 {})",
        server.local_addr(),
        server.cert_sha256()
    );

    let names = ["alice", "bob", "carol", "dave"];
    let mut players = Vec::new();
    for name in names {
        let client = player(&server, name, AudioMode::External, started);
        let t = Instant::now();
        let members = client.join(backend_signs(name, "lobby-1")).await?;
        println!(
            "{:8.1} ms  {name:<6} joinVoIPChat:ok in {:.2} ms, openIdList {members:?}",
            started.elapsed().as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0
        );
        players.push(Arc::new(client));
    }

    // With real devices, you join too; without them the join fails with -2 and we go on.
    let you = player(
        &server,
        "you",
        AudioMode::Device {
            input: None,
            output: None,
        },
        started,
    );
    let you = match you.join(backend_signs("you", "lobby-1")).await {
        Ok(_) => {
            println!("           you    joined on this machine's microphone and speakers");
            Some(you)
        }
        Err(e) => {
            println!(
                "           you    no audio devices here ({}): external audio only",
                e.code.as_i32()
            );
            None
        }
    };

    // A player whose join was not signed by the backend is turned away.
    let eve = player(&server, "eve", AudioMode::External, started);
    let mut forged = backend_signs("eve", "lobby-1");
    forged.signature = "0".repeat(64);
    if let Err(e) = eve.join(forged).await {
        println!(
            "           eve    joinVoIPChat:fail {} ({})",
            e.reason,
            e.code.as_i32()
        );
    }

    // Four seconds of conversation in real time: alice talks, then carol answers while dave
    // stays quiet. Every player's "audio thread" pushes 10 ms and pulls 10 ms per step.
    let scripts = {
        let mut carol = vec![0.0; RATE as usize * 2];
        carol.extend(phrase(1.8, 210.0));
        vec![phrase(1.8, 140.0), Vec::new(), carol, Vec::new()]
    };
    let talkers = players.clone();
    let bob_heard = tokio::task::spawn_blocking(move || {
        let mut heard = Vec::new();
        let mut out = vec![0.0f32; STEP];
        let begin = Instant::now();
        for step in 0..450 {
            for (i, client) in talkers.iter().enumerate() {
                let from = step * STEP;
                let mut input = scripts[i]
                    .get(from..(from + STEP).min(scripts[i].len()))
                    .unwrap_or(&[])
                    .to_vec();
                input.resize(STEP, 0.0);
                client.push_capture(&input, RATE, 1).expect("push");
                client.pull_playback(&mut out, RATE, 1).expect("pull");
                if i == 1 {
                    heard.extend_from_slice(&out);
                }
            }
            std::thread::sleep(
                (begin + Duration::from_millis(10 * (step as u64 + 1)))
                    .saturating_duration_since(Instant::now()),
            );
        }
        heard
    })
    .await?;
    write_wav(WAV_PATH, &bob_heard)?;
    let rms = (bob_heard.iter().map(|s| s * s).sum::<f32>() / bob_heard.len() as f32).sqrt();
    println!(
        "           bob    heard {:.1} s of audio (RMS {rms:.3}), written to {WAV_PATH}",
        bob_heard.len() as f32 / RATE as f32
    );
    println!("           bob    stats: {}", players[1].stats_json());

    players[1]
        .update_mute_config(MuteConfig {
            mute_microphone: true,
            mute_earphone: false,
        })
        .await?;
    println!("           bob    updateVoIPChatMuteConfig:ok (microphone muted)");
    players[2].exit().await?;
    println!("           carol  exitVoIPChat:ok");
    if let Some(you) = you {
        you.exit().await?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The lobby's players leave; two of them meet again in a video room.
    for (player, name) in players.iter().zip(names) {
        if name != "carol" {
            player.exit().await?;
        }
    }
    video_call(&server, started).await?;

    println!("relay shutting down: {:?}", server.stats());
    server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
