//! Speech under packet loss: our pipeline against plain Opus with in-band FEC, on the same
//! speech and the same lost frames. This binary makes the audio; `scripts/pesq_score.py` scores it
//! (PESQ wide-band), and `scripts/bench-voice.sh` runs both.
//!
//! For every loss rate and seed it writes (48 kHz mono float WAVs, in `--out`):
//!
//! - `ours_L{loss}_s{seed}.wav`: our pipeline offline (`common::sim::ours`: the crate's own
//!   `CapturePipeline` with VAD, pre-roll and Opus; the relay's rewrite; the crate's `Playback`
//!   with jitter buffer, decoder and mix; the loss feedback to the encoder), 10 ms push and pull
//!   steps on a simulated clock, each datagram arriving 1 ms after it was sent unless its frame
//!   is lost.
//! - `base5_L..`: the baseline at our encoder's settings (20 ms, 28 kbps, complexity 9, FEC
//!   on) with the expected loss at 5 %: every frame encoded, the same frames lost,
//!   decoded with FEC from the next packet when that arrived, else concealed; no jitter
//!   buffer, no VAD; libopus's default decoder (complexity 0: classic concealment, no
//!   enhancement).
//! - `baseX_L..`: the same with the encoder told the true loss rate (0 % turns FEC off): a
//!   plain libopus sender configured for this channel.
//! - `base10_L..`: the same with the expected loss at 10 % whatever the loss: FEC always
//!   present (libopus at 28 kbps puts no FEC in packets when told 5 % or less).
//! - `baseXdec_L..` (a diagnostic, off with `--no-diagnostics`): `baseX` with our decoder
//!   (`DECODER_COMPLEXITY`: deep PLC) instead of libopus's default: how
//!   much of the difference to `baseX` is the decoder's.
//! - `rt_L{loss}_r{rep}.wav`: the real thing as a cross-check of the offline run: the same speech
//!   pushed in real time through a relay, the speaker's uplink UDP datagrams dropped at the
//!   same rate by a UDP relay of ours (a different pattern: QUIC packets cannot be matched to
//!   frames from outside), the listener's `pull_playback` recorded.
//!
//! - `ourslight_L..`, `oursstrong_L..`: our pipeline with the listener's speech enhancer on
//!   (`VoiceEnhancement::Light`, LACE; `Strong`, NoLACE), a game's opt-in setting; which ones
//!   with `--enhancements light,strong` (the default; `none` for neither).
//! - `oursnovad_L..` (a diagnostic, off with `--no-diagnostics`): our pipeline with the VAD
//!   forced on, so every frame is sent as one endless talkspurt: what talkspurts (VAD gating,
//!   pre-roll, playout restarts and the frame drops that follow them) cost on their own.
//! - `oursfixed_L..` (likewise): the VAD forced on and the encoder's expected loss fixed at the
//!   true rate, as in `baseX`: against `baseX`, what the jitter buffer's playout decisions
//!   cost or gain alone; against `oursnovad`, what following the loss reports does.
//!
//! and `manifest.json` describing each file. Loss is independent per frame (a pure function of
//! seed and frame index, so both pipelines lose exactly the same frames).
//!
//! `cargo bench --bench voice_quality -- --speech ref.wav --out DIR [--losses 0,5,10,20]
//! [--seeds 5] [--realtime-reps 1] [--frame-ms 20] [--enhancements light,strong]
//! [--no-diagnostics]`

mod common;

use std::path::PathBuf;

use common::sim::{baseline, ours, LossPattern, Options, Outcome};
use common::*;
use serde_json::json;
use voipchat::audio::codec::{EncoderConfig, DECODER_COMPLEXITY};
use voipchat::VoiceEnhancement;

/// libopus's default decoder complexity: what a plain libopus receiver runs.
const PLAIN_DECODER: u8 = 0;

fn real_time_path(
    relay: &Relay,
    speech: &[f32],
    frame_ms: u32,
    loss: f64,
    seed: u64,
) -> (Vec<f32>, serde_json::Value, Count) {
    let room = relay.fresh_room();
    let proxy = Proxy::start(relay);
    let a = relay.join("speaker", &room, frame_ms, Some(proxy.addr));
    let b = relay.join("listener", &room, frame_ms, None);
    proxy.set_uplink_loss(loss, seed);
    let c0 = proxy.counters.get();
    let (heard, _late_steps) = speak_through(&a, &b, speech);
    let count = proxy.counters.get() - c0;
    let s = stats(&b);
    relay.exit(&a);
    relay.exit(&b);
    (heard, s["members"]["speaker"].clone(), count)
}

fn describe(o: &Outcome) -> serde_json::Value {
    json!({
        "packetsSent": o.packets_sent,
        "packetsDropped": o.packets_lost,
        "jitter": {
            "received": o.stats.received,
            "lost": o.stats.lost,
            "recovered": o.stats.recovered,
            "late": o.stats.late,
            "concealed": o.stats.concealed,
            "droppedForDrift": o.stats.dropped_for_drift,
            "targetMs": o.stats.target_delay_us as f64 / 1000.0,
        },
        "finalExpectedLossPct": o.final_expected_loss,
    })
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let losses: Vec<f64> = args.list("--losses", &[0.0, 5.0, 10.0, 20.0]);
    let seeds: u64 = args.get("--seeds", if bench { 5 } else { 1 });
    let realtime_reps: u64 = args.get("--realtime-reps", if bench { 1 } else { 0 });
    let frame_ms: u32 = args.get("--frame-ms", 20);
    let diagnostics = !args.flag("--no-diagnostics");
    let enhancements: Vec<VoiceEnhancement> = args
        .value("--enhancements")
        .unwrap_or_else(|| "light,strong".to_string())
        .split(',')
        .filter(|name| *name != "none")
        .map(|name| {
            let enhancement = enhancement_named(name);
            // "off" is the `ours` row already.
            assert!(
                enhancement != VoiceEnhancement::Off,
                "--enhancements: light, strong or none"
            );
            enhancement
        })
        .collect();
    let frame_samples = (frame_ms * 48) as usize;
    let out: PathBuf = args
        .value("--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("voipchat-voice-quality"));
    std::fs::create_dir_all(&out).expect("output directory");
    let speech = speech_from_args(&args, &out, if bench { 10.0 } else { 2.0 });
    println!("voice_quality: {} s of speech, {frame_ms} ms frames, losses {losses:?} %, {seeds} seeds, {realtime_reps} real-time run(s) per loss", speech.len() as f64 / f64::from(RATE));
    println!("machine: {}; load average at start: {}", machine(), load());
    common::sim::check_sender_mirror(&speech, frame_samples);
    println!("writing to {}", out.display());

    let mut manifest = Vec::new();
    let mut push = |file: String,
                    method: &str,
                    loss: f64,
                    seed: u64,
                    details: serde_json::Value| {
        manifest.push(json!({"file": file, "method": method, "lossPct": loss, "seed": seed, "details": details}));
    };
    println!("\n| loss | seed | ours: sent, dropped, FEC-recovered, concealed, drift drops, final expected loss | baseline: frames, dropped |");
    println!("|---|---|---|---|");
    for &loss in &losses {
        for seed in 1..=seeds {
            let pattern = LossPattern {
                rate: loss / 100.0,
                seed,
            };
            let o = ours(&speech, frame_samples, pattern, Options::default());
            let name = format!("ours_L{loss}_s{seed}.wav");
            write_wav(&out.join(&name), RATE, 1, &o.audio);
            push(name, "ours", loss, seed, describe(&o));
            for &enhancement in &enhancements {
                let options = Options {
                    enhancement,
                    ..Options::default()
                };
                let e = ours(&speech, frame_samples, pattern, options);
                let method = format!("ours{}", enhancement.as_str());
                let name = format!("{method}_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &e.audio);
                push(name, &method, loss, seed, describe(&e));
            }
            if diagnostics {
                let always_on = Options {
                    always_on: true,
                    ..Options::default()
                };
                let d = ours(&speech, frame_samples, pattern, always_on);
                let name = format!("oursnovad_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &d.audio);
                push(name, "oursnovad", loss, seed, describe(&d));
                let fixed = Options {
                    fixed_expected_loss: Some(loss.round() as u8),
                    ..always_on
                };
                let d = ours(&speech, frame_samples, pattern, fixed);
                let name = format!("oursfixed_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &d.audio);
                push(name, "oursfixed", loss, seed, describe(&d));
            }

            let config = EncoderConfig {
                frame_samples,
                ..EncoderConfig::default()
            };
            // Plain Opus told 5 %, the true rate, and 10 % (FEC always in the packets), with
            // libopus's default decoder; and (a diagnostic) told the true rate with our decoder.
            let mut frames = (0, 0);
            let true_rate = loss.round() as u8;
            let mut methods = vec![
                ("base5", 5, PLAIN_DECODER),
                ("baseX", true_rate, PLAIN_DECODER),
                ("base10", 10, PLAIN_DECODER),
            ];
            if diagnostics {
                methods.push(("baseXdec", true_rate, DECODER_COMPLEXITY));
            }
            for (method, expected_loss_pct, decoder_complexity) in methods {
                let config = EncoderConfig {
                    expected_loss_pct,
                    ..config
                };
                let b = baseline(&speech, config, pattern, decoder_complexity);
                let name = format!("{method}_L{loss}_s{seed}.wav");
                write_wav(&out.join(&name), RATE, 1, &b.audio);
                push(name, method, loss, seed, describe(&b));
                frames = (b.packets_sent, b.packets_lost);
            }
            println!(
                "| {loss} % | {seed} | {}, {}, {}, {}, {}, {} % | {}, {} |",
                o.packets_sent,
                o.packets_lost,
                o.stats.recovered,
                o.stats.concealed,
                o.stats.dropped_for_drift,
                o.final_expected_loss,
                frames.0,
                frames.1
            );
        }
    }

    if realtime_reps > 0 {
        let relay = Relay::start();
        println!(
            "\nReal time through the relay, the speaker's uplink datagrams dropped at random:"
        );
        for &loss in &losses {
            for rep in 1..=realtime_reps {
                let (audio, member, count) =
                    real_time_path(&relay, &speech, frame_ms, loss / 100.0, 100 + rep);
                let name = format!("rt_L{loss}_r{rep}.wav");
                write_wav(&out.join(&name), RATE, 1, &audio);
                println!(
                    "  {loss} % rep {rep}: UDP datagrams up {} (dropped {}); listener's stats {member}",
                    count.up_datagrams, count.up_dropped
                );
                push(
                    name,
                    "realtime",
                    loss,
                    rep,
                    json!({"listener": member, "udpUp": count.up_datagrams, "udpDropped": count.up_dropped}),
                );
            }
        }
    }
    write_manifest(&out, frame_ms, manifest);
    println!("\nload average at end: {}", load());
}
