//! A call with a member on real (cpal) devices: the SDK's device pump plays what it hears into
//! a PulseAudio null sink and captures from the sink's monitor, so the far end hears its own
//! voice come back. Needs the null sink `tests/audio_device.sh` sets up; skips without it.

mod common;

use std::time::{Duration, Instant};

use common::signal::{rms, speech_like};
use common::*;
use voipchat::{AudioConfig, AudioMode, Client};

fn null_sink_available() -> bool {
    if std::env::var("VOIPCHAT_PULSE_NULL_SINK").as_deref() == Ok("1") {
        return true;
    }
    println!("skipped: no PulseAudio null sink (run tests/audio_device.sh)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_member_plays_and_captures_through_the_system_audio() {
    if !null_sink_available() {
        return;
    }
    let server = server().await;
    let (alice, _alice_events) = Client::with_channel(config_for(&server)).unwrap();
    alice.join(signed("alice", "room")).await.unwrap();
    let mut device_config = config_for(&server);
    device_config.audio = AudioConfig {
        mode: AudioMode::Device {
            input: None,
            output: None,
        },
        frame_ms: 20,
    };
    let (bob, _bob_events) = Client::with_channel(device_config).unwrap();
    bob.join(signed("bob", "room")).await.unwrap();

    // Alice talks in real time; what bob's speakers play, bob's microphone (the monitor)
    // hears, and sends back to her.
    let speech = speech_like(4.0, 150.0, 48_000);
    let alice_heard = tokio::task::spawn_blocking(move || {
        let mut heard = Vec::new();
        let mut out = vec![0.0f32; 480];
        let start = Instant::now();
        for step in 0..500 {
            let from = step * 480;
            let mut input = speech
                .get(from..(from + 480).min(speech.len()))
                .unwrap_or(&[])
                .to_vec();
            input.resize(480, 0.0);
            alice.push_capture(&input, 48_000, 1).unwrap();
            alice.pull_playback(&mut out, 48_000, 1).unwrap();
            heard.extend_from_slice(&out);
            std::thread::sleep(
                (start + Duration::from_millis(10 * (step as u64 + 1)))
                    .saturating_duration_since(Instant::now()),
            );
        }
        heard
    })
    .await
    .unwrap();

    let stats: serde_json::Value = serde_json::from_str(&bob.stats_json()).unwrap();
    println!("bob (devices): {stats}");
    assert!(
        stats["members"]["alice"]["packetsReceived"]
            .as_u64()
            .unwrap()
            > 50,
        "bob received alice"
    );
    assert!(
        stats["sent"]["packets"].as_u64().unwrap() > 20,
        "bob's microphone (the monitor) picked up speech"
    );
    let echo = rms(&alice_heard[48_000..]);
    println!("alice hears her voice back through bob's devices at RMS {echo:.4}");
    assert!(echo > 0.005, "alice hears bob: RMS {echo}");
    bob.exit().await.unwrap();
}
