//! Echo end to end, in real time through the real relay: bob's speaker plays what the SDK
//! hands him, and it leaks back into his microphone through a room (120 ms away, a few
//! reflections, bob's capture pushed 3 ms off his playback's clock). Alice must hear bob's own
//! voice but not her echo; and the echo alone must not make bob a speaker once the canceller
//! has converged.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::signal::*;
use common::talk::as_sent_hearing;
use common::*;
use voipchat::audio::room::{active_rms, RoomNoise};
use voipchat::{AudioProcessing, Client};

const RATE: usize = 48_000;
const CHUNK: usize = 480;
/// How long alice talks while bob is silent.
const ALICE_SECONDS: usize = 7;
/// From when her echo is measured: AEC3 here converges in about 3 s on this room (it keeps
/// sending bob's microphone until 2.8-3.0 s in; issue 14's target of 2 s is not met yet).
const CONVERGED_SECONDS: usize = 4;

/// The room between bob's speaker and his microphone: (delay in samples, gain) of the direct
/// sound and four reflections; 120 ms to the direct sound (device buffers and distance).
const PATHS: [(usize, f32); 5] = [
    (5_760, 0.35),
    (5_910, -0.2),
    (6_110, 0.12),
    (6_380, -0.08),
    (6_800, 0.05),
];

struct Heard {
    /// What alice heard.
    alice: Vec<f32>,
    /// Packets bob sent from `CONVERGED_SECONDS` until alice stops, while only her echo
    /// reached his microphone.
    bob_sent_during_echo: u64,
    /// When bob last sent while only alice's echo reached him (100 ms resolution), if he did:
    /// how long the canceller took to stop the echo counting as speech.
    last_echo_packet_s: Option<f32>,
}

/// Alice talks for `ALICE_SECONDS` (bob silent: only her echo reaches his microphone), then bob talks
/// (alice silent), for `seconds` in all, both pushing and pulling 10 ms at a time.
async fn call(settings: AudioProcessing, alice_says: &[f32], bob_says: &[f32]) -> Heard {
    let server = server().await;
    let (alice, _alice_events) = Client::with_channel(config_for(&server)).unwrap();
    alice.join(signed("alice", "echo-room")).await.unwrap();
    let (bob, _bob_events) = Client::with_channel(config_for(&server)).unwrap();
    bob.join(signed("bob", "echo-room")).await.unwrap();
    bob.set_audio_processing(settings);
    let (alice_says, bob_says) = (alice_says.to_vec(), bob_says.to_vec());
    tokio::task::spawn_blocking(move || {
        let steps = alice_says.len().max(bob_says.len()) / CHUNK;
        let longest = PATHS.iter().map(|(d, _)| *d).max().unwrap();
        // The microphone's own noise, 65 dB below full scale, as every real one has: the
        // voice detector's noise floor follows it.
        let self_noise: Vec<f32> = RoomNoise::Fan
            .generate(RATE, 31)
            .iter()
            .map(|x| x * 10f32.powf(-65.0 / 20.0))
            .collect();
        let mut played: VecDeque<f32> = std::iter::repeat(0.0).take(longest + CHUNK).collect();
        let mut heard = Vec::with_capacity(steps * CHUNK);
        let mut out = vec![0.0f32; CHUNK];
        let (mut sent_at_converged, mut sent_at_alice_end) = (0, 0);
        let (mut sent_before, mut last_echo_packet_s) = (0, None);
        let start = Instant::now();
        for step in 0..steps {
            let span = step * CHUNK..(step + 1) * CHUNK;
            let slice = |x: &[f32]| {
                let mut v = x.get(span.clone()).unwrap_or(&[]).to_vec();
                v.resize(CHUNK, 0.0);
                v
            };
            alice.push_capture(&slice(&alice_says), 48_000, 1).unwrap();
            alice.pull_playback(&mut out, 48_000, 1).unwrap();
            heard.extend_from_slice(&out);
            // Bob: his speaker plays the mix; his microphone hears his voice and the room.
            bob.pull_playback(&mut out, 48_000, 1).unwrap();
            played.extend(out.iter());
            let base = played.len() - CHUNK;
            let mut mic = slice(&bob_says);
            for (i, m) in mic.iter_mut().enumerate() {
                *m += self_noise[(span.start + i) % self_noise.len()]
                    + PATHS
                        .iter()
                        .map(|(delay, gain)| gain * played[base + i - delay])
                        .sum::<f32>();
            }
            played.drain(..CHUNK);
            // 3 ms after the pull: the capture clock's offset from playback's.
            std::thread::sleep(Duration::from_millis(3));
            bob.push_capture(&mic, 48_000, 1).unwrap();
            if step % 10 == 0 && step <= ALICE_SECONDS * RATE / CHUNK {
                let sent = sent_packets(&bob);
                if step > 0 && sent > sent_before {
                    last_echo_packet_s = Some((step * CHUNK) as f32 / RATE as f32);
                }
                sent_before = sent;
            }
            if step == CONVERGED_SECONDS * RATE / CHUNK {
                sent_at_converged = sent_packets(&bob);
            }
            if step == ALICE_SECONDS * RATE / CHUNK {
                sent_at_alice_end = sent_packets(&bob);
            }
            let next = start + Duration::from_millis(10 * (step as u64 + 1));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        Heard {
            alice: heard,
            bob_sent_during_echo: sent_at_alice_end - sent_at_converged,
            last_echo_packet_s,
        }
    })
    .await
    .unwrap()
}

fn sent_packets(client: &Client) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&client.stats_json()).unwrap();
    stats["sent"]["packets"].as_u64().unwrap()
}

/// The two runs share the machine's two cores with nothing else of ours.
static REAL_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// Not in the test command until the canceller is stable live (issue 14): in 3 runs of 21 its
// delay estimate jumped (seen: 116 ms to 68 ms to 4 ms, on a fixed 120 ms room)
// and the echo comes through at or above its raw level until it re-converges; and it takes
// about 3 s, not 2, to stop the echo counting as speech. Run it with `-- --ignored`.
#[ignore = "AEC3 diverges live in some runs (issue 14)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_hears_bob_but_not_her_own_echo() {
    let _turn = REAL_TIME.lock().await;
    // Alice's voice carries breath as well as harmonics, as real speech does. A purely
    // harmonic far end at a steady pitch matches itself one pitch period (7 ms) later, so
    // the canceller's delay estimator may lock onto an alias: with the harmonic-only signal
    // it jumped from 116 ms to 4 ms in one run of three and let the echo through.
    let alice_says = voipchat::audio::room::speech_like(ALICE_SECONDS as f32, 140.0, 0.4);
    let mut bob_says = vec![0.0; ALICE_SECONDS * RATE + RATE / 2];
    bob_says.extend(speech_like(3.0, 230.0, RATE as u32));

    let raw = call(AudioProcessing::OFF, &alice_says, &bob_says).await;
    let cancelled = call(AudioProcessing::default(), &alice_says, &bob_says).await;

    // Her echo once the canceller has converged (while she talks, bob is silent).
    let echo = CONVERGED_SECONDS * RATE..ALICE_SECONDS * RATE;
    let (raw_echo, left) = (
        active_rms(&raw.alice[echo.clone()]),
        active_rms(&cancelled.alice[echo]),
    );
    let reduction = 20.0 * (raw_echo / left.max(1e-6)).log10();
    println!(
        "alice's echo: {:.1} dBFS raw, {:.1} dBFS with processing ({reduction:.1} dB less); \
         bob sent {} / {} packets on echo alone, the last one with processing at {:?} s",
        20.0 * raw_echo.log10(),
        20.0 * left.max(1e-6).log10(),
        raw.bob_sent_during_echo,
        cancelled.bob_sent_during_echo,
        cancelled.last_echo_packet_s
    );
    assert!(raw_echo > 0.01, "without processing the echo comes back");
    assert!(reduction >= 25.0, "the echo is {reduction:.1} dB down");
    // Her echo alone no longer counts as bob speaking: he sends (almost) nothing.
    assert!(raw.bob_sent_during_echo > 100, "raw echo is sent");
    assert!(
        cancelled.bob_sent_during_echo * 10 < raw.bob_sent_during_echo,
        "echo alone sent {} packets",
        cancelled.bob_sent_during_echo
    );

    // Bob's own voice, once alice has stopped, comes through.
    let bob_part = ALICE_SECONDS * RATE + RATE / 2..;
    let said = &as_sent_hearing(&bob_says, &alice_says)[bob_part.clone()];
    let (lag, correlation) = align_from(said, &cancelled.alice[bob_part], RATE / 2, RATE / 5);
    println!(
        "bob's voice at alice: correlation {correlation:.3} at {:.1} ms",
        lag as f32 / 48.0
    );
    assert!(correlation > 0.8, "alice hears bob: {correlation}");
}
