//! The live path under loss (issue 18): speech pushed in real time by one client, through the
//! relay, to a listener whose leg (both directions: media down, acknowledgements and reception
//! reports up) loses UDP datagrams at random, as a lossy Wi-Fi or mobile link of one player
//! does; next to plain libopus with in-band FEC on the same speech at the same loss rate. This
//! binary makes the audio; `scripts/pesq_score.py score` scores it (PESQ wide-band, per
//! utterance, with each utterance's delay: in external audio mode, push to pull, the
//! mouth-to-ear delay without device buffers), and `scripts/bench-live.sh` runs it on several
//! speech materials.
//!
//! For every loss rate and seed it writes (48 kHz mono float WAVs, in `--out`):
//!
//! - `live_L{loss}_s{seed}.wav`: what the listener's `pull_playback` gave, 10 ms at a time in
//!   real time, while the speaker's `push_capture` fed the speech 10 ms at a time. The
//!   speaker's leg is clean; a UDP relay of ours on the listener's leg drops each datagram
//!   either way with probability `loss` (its own generator per seed and direction).
//! - `plain_L{loss}_s{seed}.wav`: plain libopus (the same build) at our encoder's settings (20
//!   ms, 28 kbps, complexity 9) told the true loss rate, every frame sent, the same share of
//!   frames lost at random (`LossPattern`, seed `seed`), each lost frame decoded from the next
//!   packet's FEC when that arrived, else concealed by libopus's default decoder; no jitter
//!   buffer (the next packet always at hand), no VAD. A different loss pattern from the live
//!   run's (QUIC packets cannot be matched to frames from outside), so the pairing is by
//!   utterance and seed, and several seeds average the patterns out.
//! - `plain10_L..`: the same told 10 % whatever the loss (FEC always in the packets).
//! - `plain2x_L..`: plain libopus at twice the bitrate (56 kbps), told the true loss: what the
//!   live call's bandwidth buys a plain codec where the live sender repeats every datagram
//!   (receivers reporting 5 % loss or more), so the comparison is at the same total bitrate.
//! - `liveraw_L..` (a diagnostic, off with `--no-diagnostics`): the live call with the
//!   speaker's microphone processing off (`AudioProcessing::OFF`: no echo canceller, noise
//!   suppressor or gain control), which plain libopus does not have either: how much of the
//!   difference is the transport and playout, how much the processing of a clean recording.
//!
//! and `manifest.json` describing each file, with the listener's jitter buffer counts for the
//! live runs (received, lost, FEC-recovered, concealed) and the proxy's datagram counts.
//!
//! `cargo bench --bench voice_live -- --speech DIR/reference.wav --out DIR [--losses 0,5,10,20]
//! [--seeds 3] [--frame-ms 20] [--no-diagnostics]`

mod common;

use std::path::PathBuf;

use common::sim::{baseline, LossPattern};
use common::*;
use serde_json::json;
use voipchat::audio::codec::EncoderConfig;
use voipchat::AudioProcessing;

/// libopus's default decoder complexity: what a plain libopus receiver runs.
const PLAIN_DECODER: u8 = 0;

/// One live call: the speech through the relay, the listener's leg losing `loss` both ways.
fn live_call(
    relay: &Relay,
    speech: &[f32],
    frame_ms: u32,
    loss: f64,
    seed: u64,
    processing: AudioProcessing,
) -> (Vec<f32>, serde_json::Value) {
    let room = relay.fresh_room();
    let proxy = Proxy::start(relay);
    let speaker = relay.join("speaker", &room, frame_ms, None);
    speaker.set_audio_processing(processing);
    let listener = relay.join("listener", &room, frame_ms, Some(proxy.addr));
    proxy.set_loss(loss, loss, seed);
    let before = proxy.counters.get();
    let (heard, late_steps) = speak_through(&speaker, &listener, speech);
    let count = proxy.counters.get() - before;
    let member = stats(&listener)["members"]["speaker"].clone();
    let sent = stats(&speaker)["sent"].clone();
    relay.exit(&speaker);
    relay.exit(&listener);
    let details = json!({
        "listener": member,
        "speakerSent": sent,
        "udpDown": count.down_datagrams,
        "udpDownDropped": count.down_dropped,
        "udpUp": count.up_datagrams,
        "udpUpDropped": count.up_dropped,
        "lateSteps": late_steps,
    });
    (heard, details)
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let losses: Vec<f64> = args.list("--losses", &[0.0, 5.0, 10.0, 20.0]);
    let seeds: u64 = args.get("--seeds", if bench { 3 } else { 1 });
    let frame_ms: u32 = args.get("--frame-ms", 20);
    let diagnostics = !args.flag("--no-diagnostics");
    let frame_samples = (frame_ms * 48) as usize;
    let out: PathBuf = args
        .value("--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("voipchat-voice-live"));
    std::fs::create_dir_all(&out).expect("output directory");
    // Without a speech file: the synthetic voice (and, in a smoke run, one loss rate).
    let speech = speech_from_args(&args, &out, 2.0);
    let losses = if args.value("--speech").is_none() && !bench {
        vec![10.0]
    } else {
        losses
    };
    println!(
        "voice_live: {:.1} s of speech, {frame_ms} ms frames, listener's leg losing {losses:?} % both ways, {seeds} seed(s)",
        speech.len() as f64 / f64::from(RATE)
    );
    println!("machine: {}; load average at start: {}", machine(), load());
    println!("writing to {}", out.display());

    let relay = Relay::start();
    let mut manifest = Vec::new();
    println!("\n| loss | seed | live: sent, received, lost (+ repaired from repeats), FEC-recovered, concealed, late; UDP down dropped/total, up dropped/total | plain: frames, dropped |");
    println!("|---|---|---|---|");
    for &loss in &losses {
        for seed in 1..=seeds {
            let mut live_summary = String::new();
            let mut calls = vec![("live", AudioProcessing::default())];
            if diagnostics {
                calls.push(("liveraw", AudioProcessing::OFF));
            }
            for (method, processing) in calls {
                let (audio, details) =
                    live_call(&relay, &speech, frame_ms, loss / 100.0, seed, processing);
                let name = format!("{method}_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &audio);
                if method == "live" {
                    let jitter = &details["listener"];
                    live_summary = format!(
                        "{} (+{} repeats), {}, {} (+{} repaired), {}, {}, {}; {}/{}, {}/{}",
                        details["speakerSent"]["packets"],
                        details["speakerSent"]["repeats"],
                        jitter["packetsReceived"],
                        jitter["packetsLost"],
                        jitter["packetsRepaired"],
                        jitter["packetsRecovered"],
                        jitter["packetsConcealed"],
                        jitter["packetsLate"],
                        details["udpDownDropped"],
                        details["udpDown"],
                        details["udpUpDropped"],
                        details["udpUp"],
                    );
                }
                manifest.push(json!({"file": name, "method": method, "lossPct": loss, "seed": seed, "details": details}));
            }

            let pattern = LossPattern {
                rate: loss / 100.0,
                seed,
            };
            let mut frames = (0, 0);
            let true_loss = loss.round() as u8;
            let single = EncoderConfig::default().bitrate_bps;
            for (method, expected_loss_pct, bitrate_bps) in [
                ("plain", true_loss, single),
                ("plain10", 10, single),
                ("plain2x", true_loss, 2 * single),
            ] {
                let config = EncoderConfig {
                    frame_samples,
                    expected_loss_pct,
                    bitrate_bps,
                    ..EncoderConfig::default()
                };
                let b = baseline(&speech, config, pattern, PLAIN_DECODER);
                let name = format!("{method}_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &b.audio);
                manifest.push(json!({"file": name, "method": method, "lossPct": loss, "seed": seed,
                    "details": {"packetsSent": b.packets_sent, "packetsDropped": b.packets_lost, "recovered": b.stats.recovered, "bitrateBps": bitrate_bps}}));
                if method == "plain" {
                    frames = (b.packets_sent, b.packets_lost);
                }
            }
            println!(
                "| {loss} % | {seed} | {live_summary} | {}, {} |",
                frames.0, frames.1
            );
        }
    }
    write_manifest(&out, frame_ms, manifest);
    println!("\nload average at end: {}", load());
}
