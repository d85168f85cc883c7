//! The capture path's processing (src/audio/processing.rs) in a simulated room, offline, each
//! figure beside processing off in the same run: echo return loss enhancement in single talk
//! and how soon it comes, the near end through double talk, noise at 0-10 dB SNR, gain for a
//! quiet talker, the delay each stage adds, and the CPU of the whole capture chain (processing,
//! VAD, Opus) at 20 and 10 ms frames.
//!
//!   cargo bench --bench voice_processing -- [--speech DIR/reference.wav] [--out DIR] [--reps N]
//!
//! With `--speech` (scripts/pesq_score.py prepare makes it: espeak-ng, two voices), the far end
//! is one voice's sentences and the near end the other's; otherwise a synthetic voice. WAVs and
//! a manifest go to `--out` (default target/bench-processing) for scripts/pesq_pairs.py, which
//! scores PESQ-WB. Without `--bench` (cargo test --all-targets) it makes a short smoke run.

mod common;

use std::path::{Path, PathBuf};

use common::{load, machine, median, read_wav, thread_cpu_ns, write_wav, Args};
use voipchat::audio::frame_samples;
use voipchat::audio::processing::{
    AudioProcessing, NoiseSuppression, VoiceProcessor, BLOCK_SAMPLES,
};
use voipchat::audio::room::{
    active_rms, best_lag, dbfs, drift, erle_db, mix_at_snr, si_sdr_db, speech_like, Room, RoomNoise,
};
use voipchat::client::media::CapturePipeline;

const RATE: usize = 48_000;

fn settings(name: &str) -> AudioProcessing {
    let only = |echo, noise, gain| AudioProcessing {
        echo_cancellation: echo,
        noise_suppression: noise,
        gain_control: gain,
    };
    match name {
        "off" => AudioProcessing::OFF,
        "aec" => only(true, NoiseSuppression::Off, false),
        "ns" => only(false, NoiseSuppression::Moderate, false),
        "ns-high" => only(false, NoiseSuppression::High, false),
        "agc" => only(false, NoiseSuppression::Off, true),
        "default" => AudioProcessing::default(),
        other => panic!("no settings named {other}"),
    }
}

/// `mic` through a fresh processor with `settings`, each capture block after the render block
/// of the same 10 ms of `played`.
fn process(settings: AudioProcessing, played: &[f32], mic: &[f32]) -> Vec<f32> {
    let mut processor = VoiceProcessor::new(settings);
    let mut out = mic.to_vec();
    out.resize(mic.len().div_ceil(BLOCK_SAMPLES) * BLOCK_SAMPLES, 0.0);
    let mut render = [0.0f32; BLOCK_SAMPLES];
    for (i, block) in out.chunks_exact_mut(BLOCK_SAMPLES).enumerate() {
        for (k, r) in render.iter_mut().enumerate() {
            *r = played.get(i * BLOCK_SAMPLES + k).copied().unwrap_or(0.0);
        }
        processor.analyze_render(&render);
        processor.process_capture(block);
    }
    out.truncate(mic.len());
    out
}

/// (far-end talker, near-end talker): two voices of the espeak reference, or synthetic ones.
fn talkers(speech: Option<&str>, seconds: f32) -> (Vec<f32>, Vec<f32>) {
    let Some(path) = speech else {
        return (
            speech_like(seconds, 130.0, 0.5),
            speech_like(seconds, 220.0, 0.5),
        );
    };
    let (rate, channels, samples) = read_wav(Path::new(path));
    assert!(
        rate == 48_000 && channels == 1,
        "{path}: 48 kHz mono expected"
    );
    let segments_path = Path::new(path).with_file_name("segments.json");
    let text = std::fs::read_to_string(&segments_path)
        .unwrap_or_else(|e| panic!("{}: {e}", segments_path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let segments = json["segments"].as_array().expect("segments");
    let first_voice = segments[0]["voice"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (mut far, mut near) = (Vec::new(), Vec::new());
    for s in segments {
        let (start, end) = (
            s["start"].as_u64().unwrap() as usize,
            s["end"].as_u64().unwrap() as usize,
        );
        let to = if s["voice"].as_str() == Some(first_voice.as_str()) {
            &mut far
        } else {
            &mut near
        };
        to.extend_from_slice(&samples[start..end.min(samples.len())]);
        // Pauses as in conversation: a quarter of a second between sentences.
        to.extend(std::iter::repeat(0.0).take(RATE / 4));
    }
    let n = (seconds * RATE as f32) as usize;
    let fit = |mut x: Vec<f32>| {
        let original = x.clone();
        while x.len() < n {
            x.extend_from_slice(&original);
        }
        x.truncate(n);
        x
    };
    (fit(far), fit(near))
}

struct Out {
    dir: PathBuf,
    manifest: Vec<serde_json::Value>,
}

impl Out {
    /// Writes `degraded` and records it for PESQ against `reference` over `from..to` seconds.
    fn score(&mut self, name: &str, degraded: &[f32], reference: &str, from: f32, to: f32) {
        write_wav(&self.dir.join(format!("{name}.wav")), 48_000, 1, degraded);
        self.manifest.push(serde_json::json!({
            "name": name, "degraded": format!("{name}.wav"), "reference": format!("{reference}.wav"),
            "from_s": from, "to_s": to,
        }));
    }

    fn reference(&self, name: &str, samples: &[f32]) {
        write_wav(&self.dir.join(format!("{name}.wav")), 48_000, 1, samples);
    }
}

fn main() {
    let args = Args::parse();
    let full = args.is_bench();
    let reps: usize = args.get("--reps", if full { 5 } else { 1 });
    let seconds: f32 = if full { 24.0 } else { 6.0 };
    let speech = args.value("--speech");
    let dir = PathBuf::from(
        args.value("--out")
            .unwrap_or_else(|| "target/bench-processing".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Out {
        dir: dir.clone(),
        manifest: Vec::new(),
    };
    println!("voice_processing: {}; load {}", machine(), load());
    println!(
        "speech: {}; {seconds} s per scenario; room: RT60 0.3 s, 50 ms of reflections, echo 6 dB \
         below what is played, microphone clock 50 ppm off the speaker's, 3 ms of extra buffering\n",
        speech.as_deref().unwrap_or("synthetic")
    );
    let (far, near) = talkers(speech.as_deref(), seconds);
    let n = far.len();

    // 1. Single talk: the far end alone, heard through rooms 20, 100 and 200 ms away.
    println!("ERLE, single talk (dB; per second, then over 2 s to the end):");
    let delays: &[f32] = if full {
        &[20.0, 100.0, 200.0]
    } else {
        &[100.0]
    };
    let mut rooms = Vec::new();
    for &delay in delays {
        let room = Room::new(delay + 3.0, 0.3, 50.0, 0.5, 17);
        let echo = drift(&room.echo_of(&far, n), 50.0);
        for name in ["off", "aec", "default"] {
            let processed = process(settings(name), &far, &echo);
            let per_second: Vec<String> = (0..5)
                .map(|s| {
                    let r = s * RATE..(s + 1) * RATE;
                    format!("{:.0}", erle_db(&echo[r.clone()], &processed[r]))
                })
                .collect();
            let converged = erle_db(&echo[2 * RATE..], &processed[2 * RATE..]);
            println!(
                "  {delay:>3} ms, {name:<7}  {}  ... after 2 s: {converged:.1}",
                per_second.join(" ")
            );
        }
        rooms.push((delay, echo));
    }

    // 2. Double talk: both talk throughout; the near end judged from 3 s on.
    println!("\nDouble talk (room 100 ms; PESQ by scripts/pesq_pairs.py):");
    let (_, echo) = rooms
        .iter()
        .find(|(d, _)| *d == 100.0)
        .expect("the 100 ms room");
    let near_level: Vec<f32> = near.iter().map(|x| x * 0.7).collect();
    let mic: Vec<f32> = echo.iter().zip(&near_level).map(|(e, v)| e + v).collect();
    println!(
        "  echo {:.1} dBFS, near end {:.1} dBFS at the microphone (active speech RMS)",
        dbfs(active_rms(echo)),
        dbfs(active_rms(&near_level))
    );
    out.reference("near_clean", &near_level);
    let end = seconds;
    out.score("doubletalk_off", &mic, "near_clean", 3.0, end);
    for name in ["aec", "default"] {
        let processed = process(settings(name), &far, &mic);
        out.score(
            &format!("doubletalk_{name}"),
            &processed,
            "near_clean",
            3.0,
            end,
        );
        let alone = process(settings(name), &[], &near_level);
        out.score(&format!("nearalone_{name}"), &alone, "near_clean", 3.0, end);
    }

    // 3. Noise: the near end with a fan, keyboard or babble at 0, 5 and 10 dB SNR.
    println!("\nNoise (SI-SDR in -> out, dB, against the clean voice through the same chain):");
    let ns_settings = ["ns", "ns-high"];
    let clean: Vec<Vec<f32>> = ns_settings
        .iter()
        .map(|s| process(settings(s), &[], &near))
        .collect();
    out.reference("voice_clean", &near);
    for noise in [RoomNoise::Fan, RoomNoise::Keyboard, RoomNoise::Babble] {
        for snr in [0.0f32, 5.0, 10.0] {
            let noisy = mix_at_snr(&near, &noise.generate(n, 23), snr);
            let tag = format!("{noise:?}_{snr:.0}dB").to_lowercase();
            out.score(&format!("noise_{tag}_off"), &noisy, "voice_clean", 2.0, end);
            let before = si_sdr_db(&near[2 * RATE..], &noisy[2 * RATE..]);
            let mut line = format!("  {noise:?} at {snr:>2} dB: off {before:>5.1}");
            for (name, reference) in ns_settings.iter().zip(&clean) {
                let processed = process(settings(name), &[], &noisy);
                let after = si_sdr_db(&reference[2 * RATE..], &processed[2 * RATE..]);
                line += &format!(", {name} {after:>5.1} ({:+.1})", after - before);
                out.score(
                    &format!("noise_{tag}_{name}"),
                    &processed,
                    "voice_clean",
                    2.0,
                    end,
                );
            }
            println!("{line}");
        }
    }

    // 4. Gain: a talker at -40 dBFS (active speech RMS).
    let scale = 10f32.powf(-40.0 / 20.0) / active_rms(&near);
    let quiet: Vec<f32> = near.iter().map(|x| x * scale).collect();
    let gained = process(settings("agc"), &[], &quiet);
    let levels: Vec<String> = (0..(seconds as usize).min(8))
        .map(|s| format!("{:.1}", dbfs(active_rms(&gained[s * RATE..(s + 1) * RATE]))))
        .collect();
    println!(
        "\nGain: a -40 dBFS talker comes out at (dBFS per second): {}",
        levels.join(" ")
    );

    // 5. Delay each configuration adds (the lag of the best match of a voice alone).
    println!("\nAdded delay (the near end alone, cross-correlation lag):");
    for name in ["aec", "ns", "agc", "default"] {
        let processed = process(settings(name), &[], &near[..RATE * 4]);
        let lag = best_lag(&near[..RATE * 4], &processed, 2 * RATE / 100 * 2);
        println!("  {name:<7} {lag} samples = {:.1} ms", lag as f32 / 48.0);
    }

    // 6. CPU of the whole capture chain: far-end analysis, processing, VAD, Opus.
    println!("\nCPU of the capture chain (thread CPU / audio time, median of {reps}):");
    let cpu_seconds = (seconds as usize).min(10);
    let chain_mic = &mic[..cpu_seconds * RATE];
    for frame_ms in [20u32, 10] {
        let mut line = format!("  {frame_ms} ms frames:");
        let stages: &[&str] = if frame_ms == 20 {
            &["off", "aec", "ns", "agc", "default"]
        } else {
            &["off", "default"]
        };
        for &name in stages {
            let runs: Vec<f64> = (0..reps)
                .map(|_| chain_cpu(settings(name), frame_ms, &far, chain_mic))
                .collect();
            line += &format!(" {name} {:.3} %", median(&runs));
        }
        println!("{line}");
    }

    let manifest = serde_json::json!({ "items": out.manifest });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    println!(
        "\nWAVs and manifest in {}; score with: python3 scripts/pesq_pairs.py {}",
        dir.display(),
        dir.display()
    );
}

/// Percent of a core the capture side spends on `mic`: what `push_capture` runs after the
/// resampler, minus the thread hop (the processing thread's round trip adds two switches).
fn chain_cpu(settings: AudioProcessing, frame_ms: u32, far: &[f32], mic: &[f32]) -> f64 {
    let mut processor = VoiceProcessor::new(settings);
    let mut pipeline = CapturePipeline::new(frame_samples(frame_ms)).unwrap();
    let mut block = [0.0f32; BLOCK_SAMPLES];
    let mut sent = 0usize;
    let start = thread_cpu_ns();
    for (i, chunk) in mic.chunks_exact(BLOCK_SAMPLES).enumerate() {
        if processor.wants_render() {
            processor.analyze_render(&far[i * BLOCK_SAMPLES..(i + 1) * BLOCK_SAMPLES]);
        }
        block.copy_from_slice(chunk);
        processor.process_capture(&mut block);
        pipeline
            .push(&block, false, &mut |d: &[u8]| sent += d.len())
            .unwrap();
    }
    let cpu = (thread_cpu_ns() - start) as f64 / 1e9;
    assert!(sent > 0, "the chain sent nothing");
    cpu / (mic.len() as f64 / RATE as f64) * 100.0
}
