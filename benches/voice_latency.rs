//! Mouth-to-ear latency over loopback: from a sample going in at A's `push_capture` to the same
//! sample coming out of B's `pull_playback`, both driven in real time in 10 ms steps (as a
//! game's audio thread would: push the microphone's 10 ms, pull 10 ms for the speaker),
//! through a relay embedded in the same process.
//!
//! A and B stand for two machines' audio threads, so their steps are not in phase: B pulls
//! `phase` after A pushes (0 = right after, as `tests/voice.rs` does: a packet then just misses
//! B's pull and waits a whole step). The latency is the push-to-pull time: the lag in samples
//! plus the phase. Phases 0, 2.5, 5 and 7.5 ms are measured; a real call gets any of them.
//!
//! Each repetition is a fresh two-member call. A says: 0.5 s of silence; a 6 s talkspurt of a
//! speech-like voice; then 3 short talkspurts (0.5 s bursts after 1.3 s of silence, so each
//! starts afresh). The delay is the lag of the normalised cross-correlation between what A
//! pushed and what B pulled:
//!
//! - steady state: 0.5 s windows every 0.25 s, from 2 s into the long talkspurt to its end
//!   (the design removes the talkspurt's frame of pre-roll within the first second); the
//!   repetition's figure is the median window;
//! - talkspurt start: the first 0.25 s of the long talkspurt and of each burst.
//!
//! Alongside, B's `stats_json` (jitter buffer delay, sampled twice a second during the steady
//! part) and A's (`codecLookaheadMs`) give the budget; resampling is the converters' stated
//! delay (`audio::resample::latency_samples`).
//!
//! Part 2 runs the same call offline through the same pipeline code (`common::sim::call`:
//! datagrams arriving 0.3 ms after they are sent, no scheduling noise) for every phase from 0
//! to 9.5 ms in 0.5 ms steps: what a call gets across phases, deterministically.
//!
//! `cargo bench --bench voice_latency -- [--reps N] [--phases 0,2.5,5,7.5]
//! [--configs 20:48000:1,10:48000:1,20:44100:2,10:44100:2] [--enhancement off|light|strong]`
//! (config = frame ms : engine rate : channels; 3 repetitions by default; `--enhancement`: B's
//! speech enhancer, a game's setting, off by default).

mod common;

use common::*;
use voipchat::audio::processing::{VoiceProcessor, BLOCK_SAMPLES};
use voipchat::audio::resample::latency_samples;
use voipchat::{AudioProcessing, VoiceEnhancement};

#[derive(Clone, Copy, Debug)]
struct Config {
    frame_ms: u32,
    rate: u32,
    channels: u16,
}

impl std::str::FromStr for Config {
    type Err = String;
    fn from_str(s: &str) -> Result<Config, String> {
        let p: Vec<&str> = s.split(':').collect();
        let bad = || format!("config {s:?}: expected frame_ms:rate:channels");
        if p.len() != 3 {
            return Err(bad());
        }
        Ok(Config {
            frame_ms: p[0].parse().map_err(|_| bad())?,
            rate: p[1].parse().map_err(|_| bad())?,
            channels: p[2].parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ch = if self.channels == 1 {
            "mono".to_string()
        } else if self.channels == 2 {
            "stereo".to_string()
        } else {
            format!("{} ch", self.channels)
        };
        write!(
            f,
            "{} ms frames, {} kHz {ch}",
            self.frame_ms,
            f64::from(self.rate) / 1000.0
        )
    }
}

/// The script A speaks, at the engine's rate: where its parts start, in seconds.
struct Script {
    signal: Vec<f32>,
    talk: (f64, f64),
    bursts: Vec<f64>,
}

fn script(rate: u32, seed: u64, talk_s: f64, bursts: usize) -> Script {
    let lead = 0.5;
    let mut signal = vec![0.0f32; (lead * f64::from(rate)) as usize];
    signal.extend(voice(talk_s, rate, 140.0, seed));
    let mut starts = Vec::new();
    for b in 0..bursts {
        signal.extend(vec![0.0f32; (1.3 * f64::from(rate)) as usize]);
        starts.push(signal.len() as f64 / f64::from(rate));
        signal.extend(voice(0.5, rate, 160.0, seed * 100 + b as u64 + 1));
    }
    signal.extend(vec![0.0f32; (0.7 * f64::from(rate)) as usize]);
    Script {
        signal,
        talk: (lead, lead + talk_s),
        bursts: starts,
    }
}

/// What A's microphone processing (on by default) sends of `signal` (48 kHz mono), and that
/// chain's own delay in ms. The processed voice's phase no longer matches the raw one well
/// enough to correlate, so B's audio is aligned with what A sent and the chain's delay is
/// added back: mouth to ear all the same.
fn as_sent(signal: &[f32], talk: (f64, f64)) -> (Vec<f32>, f64) {
    let mut processor = VoiceProcessor::new(AudioProcessing::default());
    let mut sent = signal.to_vec();
    sent.resize(signal.len().div_ceil(BLOCK_SAMPLES) * BLOCK_SAMPLES, 0.0);
    for block in sent.chunks_exact_mut(BLOCK_SAMPLES) {
        processor.process_capture(block);
    }
    let at = |t: f64| (t * 48_000.0) as usize;
    let chain = delay_of(
        signal,
        &sent,
        at(talk.0),
        at(talk.1 - talk.0),
        0..BLOCK_SAMPLES * 4,
    )
    .map_or(0.0, |(lag, _)| lag as f64 / 48.0);
    (sent, chain)
}

struct Rep {
    steady_ms: f64,
    window_spread: (f64, f64),
    windows: usize,
    start_ms: f64,
    burst_ms: Vec<f64>,
    jitter_delay_ms: f64,
    jitter_target_ms: f64,
    lookahead_ms: f64,
    late_steps: usize,
}

fn run_once(
    relay: &Relay,
    config: Config,
    phase_ms: f64,
    seed: u64,
    talk_s: f64,
    bursts: usize,
    enhancement: VoiceEnhancement,
) -> Rep {
    let room = relay.fresh_room();
    let a = relay.join("alice", &room, config.frame_ms, None);
    let b = relay.join("bob", &room, config.frame_ms, None);
    b.set_voice_enhancement(enhancement).expect("enhancement");
    let rate = config.rate as usize;
    let ch = usize::from(config.channels);
    let script = script(config.rate, seed, talk_s, bursts);
    let chunk = rate / 100; // 10 ms
    let steps = script.signal.len() / chunk;
    let mut heard = Vec::with_capacity(script.signal.len());
    let mut input = vec![0.0f32; chunk * ch];
    let mut out = vec![0.0f32; chunk * ch];
    let mut delays = Vec::new();
    let mut targets = Vec::new();
    let (steady_from, steady_to) = (script.talk.0 + 2.0, script.talk.1);
    let phase = std::time::Duration::from_secs_f64(phase_ms / 1000.0);
    let push = |i: usize| {
        for (f, frame) in input.chunks_exact_mut(ch).enumerate() {
            frame.fill(script.signal[i * chunk + f]);
        }
        a.push_capture(&input, config.rate, config.channels)
            .expect("push");
    };
    let late = real_time_phased(steps, phase, push, |i| {
        b.pull_playback(&mut out, config.rate, config.channels)
            .expect("pull");
        heard.extend(out.chunks_exact(ch).map(|frame| frame[0]));
        let t = i as f64 / 100.0;
        if t >= steady_from && t < steady_to && i % 50 == 0 {
            let s = stats(&b);
            let m = &s["members"]["alice"];
            delays.push(m["jitterBufferDelayMs"].as_f64().unwrap_or(f64::NAN));
            targets.push(m["jitterBufferTargetMs"].as_f64().unwrap_or(f64::NAN));
        }
    });
    let lookahead_ms = stats(&a)["codecLookaheadMs"].as_f64().unwrap_or(f64::NAN);
    relay.exit(&a);
    relay.exit(&b);

    let rate_f = config.rate as f64;
    let max_lag = rate / 5; // 200 ms
    let at = |t: f64| (t * rate_f) as usize;
    // Other formats are converted before the processing; their processed signal is not
    // modelled here, so they are aligned with the raw voice.
    let (reference, chain_ms) = if config.rate == 48_000 && config.channels == 1 {
        as_sent(&script.signal, script.talk)
    } else {
        (script.signal.clone(), 0.0)
    };
    let lag_ms = |start: f64, len: f64| {
        delay_of(&reference, &heard, at(start), at(len), 0..max_lag)
            .filter(|(_, c)| *c > 0.6)
            .map(|(lag, _)| lag as f64 * 1000.0 / rate_f + phase_ms + chain_ms)
    };
    let mut windows = Vec::new();
    let mut t = steady_from;
    while t + 0.5 <= steady_to {
        if let Some(ms) = lag_ms(t, 0.5) {
            windows.push(ms);
        }
        t += 0.25;
    }
    Rep {
        steady_ms: median(&windows),
        window_spread: min_max(&windows),
        windows: windows.len(),
        start_ms: lag_ms(script.talk.0, 0.25).unwrap_or(f64::NAN),
        burst_ms: script
            .bursts
            .iter()
            .map(|&s| lag_ms(s, 0.25).unwrap_or(f64::NAN))
            .collect(),
        jitter_delay_ms: median(&delays),
        jitter_target_ms: median(&targets),
        lookahead_ms,
        late_steps: late,
    }
}

/// The budget of one configuration, from its measured steady-state latency.
fn budget(config: &Config, steady: f64, lookahead: f64) -> (f64, f64, f64) {
    let resampling = latency_samples(config.rate, 48_000) as f64 / 48.0
        + latency_samples(48_000, config.rate) as f64 * 1000.0 / f64::from(config.rate);
    let assembly = f64::from(config.frame_ms) - 10.0;
    (
        assembly,
        resampling,
        steady - assembly - lookahead - resampling,
    )
}

fn goal(config: &Config) -> f64 {
    if config.frame_ms == 20 {
        40.0
    } else {
        25.0
    }
}

/// Part 2: the offline model across phases. Returns (phase, start, steady) per phase.
fn model(config: &Config, enhancement: VoiceEnhancement) -> Vec<(f64, f64, f64)> {
    let rate = config.rate as usize;
    let script = script(config.rate, 1, 6.0, 0);
    let r = rate as f64;
    let phases = if Args::parse().is_bench() { 20 } else { 2 };
    (0..phases)
        .map(|i| {
            let phase_ms = i as f64 * 0.5;
            let heard = common::sim::call(
                &script.signal,
                config.rate,
                config.channels,
                (config.frame_ms * 48) as usize,
                (phase_ms * 1000.0) as u64,
                300,
                enhancement,
            );
            let lag = |start: f64, len: f64| {
                delay_of(
                    &script.signal,
                    &heard,
                    (start * r) as usize,
                    (len * r) as usize,
                    0..rate / 5,
                )
                .filter(|(_, c)| *c > 0.6)
                .map(|(l, _)| l as f64 * 1000.0 / r + phase_ms)
                .unwrap_or(f64::NAN)
            };
            let mut windows = Vec::new();
            let mut t = script.talk.0 + 2.0;
            while t + 0.5 <= script.talk.1 {
                windows.push(lag(t, 0.5));
                t += 0.5;
            }
            (phase_ms, lag(script.talk.0, 0.25), median(&windows))
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let reps: usize = args.get("--reps", if bench { 3 } else { 1 });
    let default_configs: Vec<Config> = if bench {
        ["20:48000:1", "10:48000:1", "20:44100:2", "10:44100:2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect()
    } else {
        vec!["20:48000:1".parse().unwrap()]
    };
    let configs = args.list("--configs", &default_configs);
    let phases: Vec<f64> = args.list(
        "--phases",
        if bench { &[0.0, 2.5, 5.0, 7.5] } else { &[0.0] },
    );
    let (talk_s, bursts) = if bench { (6.0, 3) } else { (3.0, 1) };
    let enhancement = args.enhancement();

    println!("voice_latency: mouth-to-ear over loopback, real time, 10 ms push/pull steps");
    println!("machine: {}; load average at start: {}", machine(), load());
    println!(
        "{reps} repetitions per config and phase, each a fresh call; talkspurt {talk_s} s + {bursts} bursts; B's voice enhancement: {}",
        enhancement.as_str()
    );
    println!("\n1. Real time, through the relay:");
    let relay = Relay::start();
    let mut summary = Vec::new();
    for config in &configs {
        for &phase in &phases {
            println!("\n{config}, B pulls {phase} ms after A pushes:");
            println!("  rep  steady  (windows min..max)      start  bursts            jb delay  jb target  late steps");
            for rep in 0..reps {
                let r = run_once(
                    &relay,
                    *config,
                    phase,
                    rep as u64 + 1,
                    talk_s,
                    bursts,
                    enhancement,
                );
                println!(
                    "  {:>3}  {:>6.1}  ({:>2} windows {:>5.1}..{:<5.1})  {:>5.1}  {:<16}  {:>8.1}  {:>9.1}  {:>3}",
                    rep + 1,
                    r.steady_ms,
                    r.windows,
                    r.window_spread.0,
                    r.window_spread.1,
                    r.start_ms,
                    r.burst_ms
                        .iter()
                        .map(|x| format!("{x:.1}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    r.jitter_delay_ms,
                    r.jitter_target_ms,
                    r.late_steps
                );
                summary.push((*config, phase, r));
            }
        }
    }

    println!("\nReal time, per config and phase (median of {reps} repetitions, each itself the median of its windows):");
    println!("| config | B's phase | steady mouth-to-ear (reps min..max) | talkspurt start (min..max) | jitter buffer delay (target) |");
    println!("|---|---|---|---|---|");
    for config in &configs {
        for &phase in &phases {
            let runs: Vec<&Rep> = summary
                .iter()
                .filter(|(c, p, _)| c.to_string() == config.to_string() && *p == phase)
                .map(|(_, _, r)| r)
                .collect();
            let steady: Vec<f64> = runs.iter().map(|r| r.steady_ms).collect();
            let starts: Vec<f64> = runs
                .iter()
                .flat_map(|r| std::iter::once(r.start_ms).chain(r.burst_ms.iter().copied()))
                .filter(|x| x.is_finite())
                .collect();
            let (lo, hi) = min_max(&steady);
            let (slo, shi) = min_max(&starts);
            println!(
                "| {config} | {phase} ms | {:.1} ms ({lo:.1}..{hi:.1}) | {:.1} ms ({slo:.1}..{shi:.1}) | {:.1} ms ({:.1}) |",
                median(&steady),
                median(&starts),
                median(&runs.iter().map(|r| r.jitter_delay_ms).collect::<Vec<_>>()),
                median(&runs.iter().map(|r| r.jitter_target_ms).collect::<Vec<_>>()),
            );
        }
    }

    println!("\nReal time, over all phases and repetitions, with the budget of the median:");
    println!(
        "frame assembly = frame - 10 ms (a pushed 10 ms chunk waits for the rest of its frame);"
    );
    println!(
        "send to playout = what is left: loopback transit and relay, waiting for B's next pull,"
    );
    println!("jitter buffer holding and the frames decoded ahead of output.");
    println!("| config | steady mouth-to-ear: median | min..max | runs over goal | talkspurt start: median (max) | frame assembly | codec lookahead | resampling | send to playout | goal | met (median) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for config in &configs {
        let runs: Vec<&Rep> = summary
            .iter()
            .filter(|(c, _, _)| c.to_string() == config.to_string())
            .map(|(_, _, r)| r)
            .collect();
        let steady: Vec<f64> = runs.iter().map(|r| r.steady_ms).collect();
        let starts: Vec<f64> = runs
            .iter()
            .flat_map(|r| std::iter::once(r.start_ms).chain(r.burst_ms.iter().copied()))
            .filter(|x| x.is_finite())
            .collect();
        let lookahead = median(&runs.iter().map(|r| r.lookahead_ms).collect::<Vec<_>>());
        let s = median(&steady);
        let (lo, hi) = min_max(&steady);
        let over = steady.iter().filter(|&&x| x > goal(config)).count();
        let (assembly, resampling, rest) = budget(config, s, lookahead);
        println!(
            "| {config} | **{s:.1} ms** | {lo:.1}..{hi:.1} | {over} of {} | {:.1} ms ({:.1}) | {assembly} ms | {lookahead:.1} ms | {resampling:.2} ms | {rest:.1} ms | ≤ {} ms | {} |",
            steady.len(),
            median(&starts),
            min_max(&starts).1,
            goal(config),
            if s <= goal(config) { "yes" } else { "no" },
        );
    }

    println!("\n2. Offline model (common::sim::call: CapturePipeline, Playback and OutputTap");
    println!("   on a simulated clock, 0.3 ms transit, no scheduling noise),");
    println!(
        "   B's phase swept from 0 in 0.5 ms steps{}:",
        if bench {
            " to 9.5 ms"
        } else {
            " (smoke run: 2 phases)"
        }
    );
    println!("| config | steady: min | median | mean | max | phases over goal | talkspurt start: median | max |");
    println!("|---|---|---|---|---|---|---|---|");
    for config in &configs {
        let rows = model(config, enhancement);
        let steady: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let starts: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let (lo, hi) = min_max(&steady);
        let over = steady.iter().filter(|&&x| x > goal(config)).count();
        println!(
            "| {config} | {lo:.1} ms | {:.1} ms | {:.1} ms | {hi:.1} ms | {over} of {} | {:.1} ms | {:.1} ms |",
            median(&steady),
            steady.iter().sum::<f64>() / steady.len() as f64,
            steady.len(),
            median(&starts),
            min_max(&starts).1,
        );
        println!(
            "  per phase (ms: steady/start): {}",
            rows.iter()
                .map(|(p, st, sd)| format!("{p}: {sd:.1}/{st:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("\nload average at end: {}", load());
}
