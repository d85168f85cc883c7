//! What voice costs: CPU per remote speaker and per client, and bits on the wire per speaker.
//!
//! 1. Offline, receive side: one listener's playback (jitter buffer, Opus decode, mix and
//!    limiter: `client::media::Playback::render_mix`, the code a call runs) for N remote members all
//!    talking, driven 10 ms at a time with a simulated clock and no sleeps. Packets are encoded
//!    beforehand, so only receiving is timed. Figure: thread CPU time per second of audio, as
//!    a share of one core. Also the send side (VAD and Opus encode) of one client.
//! 2. Real time, the real API: a room where every member runs its own thread, as a game's audio
//!    thread would, calling `push_capture` and `pull_playback` every 10 ms. Figure: each
//!    client thread's CPU time (its media work: convert, VAD, encode, and jitter buffer, decode,
//!    mix; not the network task, which runs on the tokio workers) over the run's wall time.
//!    Also the whole process's CPU time (relay, QUIC and TLS for every client, tokio) divided
//!    by the number of clients: an upper bound that charges each client a share of the relay.
//! 3. Bits on the wire: one speaker and one listener, each reaching the relay through a UDP
//!    relay of ours that counts datagrams and bytes. Media bytes from the speaker's
//!    `stats_json` (`sent.bytes`: Opus payload plus our 8-byte header); QUIC's share from the
//!    UDP payload counted over the same interval; UDP and IP headers added per datagram.
//!
//! `cargo bench --bench voice_cpu -- [--reps N] [--seconds S] [--speech file.wav]
//! [--enhancement off|light|strong]`
//! (`--speech`: 48 kHz mono speech to talk with; default the synthetic voice; `--enhancement`:
//! the listeners' speech enhancer, a game's setting, off by default).

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::sim::{downlink, Capture, Listener};
use common::*;
use voipchat::client::media::CapturePipeline;
use voipchat::{Client, VoiceEnhancement};

const CHUNK: usize = 480;

/// `seconds` of talking for member `who`: the speech file (each member starting at a different
/// point, looped) or the synthetic voice at a pitch of its own. Starts with 0.3 s of silence
/// for the VAD's noise floor.
fn talk(speech: &Option<Vec<f32>>, who: usize, seconds: f64) -> Vec<f32> {
    let n = (seconds * f64::from(RATE)) as usize;
    let mut out = vec![0.0f32; RATE as usize * 3 / 10];
    match speech {
        Some(s) if !s.is_empty() => {
            let offset = (who * s.len() / 10) % s.len();
            out.extend(s.iter().cycle().skip(offset).take(n));
        }
        _ => out.extend(voice(
            seconds,
            RATE,
            100.0 + 25.0 * who as f64,
            who as u64 + 1,
        )),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Offline
// ---------------------------------------------------------------------------------------------

/// (CPU % of one core, wall % ) for one listener receiving `speakers` members for `seconds`.
fn offline_receive(
    speech: &Option<Vec<f32>>,
    speakers: usize,
    seconds: f64,
    enhancement: VoiceEnhancement,
) -> (f64, f64) {
    // Encode every member's talk into per-step datagrams (arriving 1 ms after sending).
    let steps = (seconds * 100.0) as usize;
    let mut per_step: Vec<Vec<Vec<u8>>> = vec![Vec::new(); steps + 1];
    for who in 0..speakers {
        let signal = talk(speech, who, seconds);
        let mut sender = Capture::new(960, false);
        for step in 0..steps {
            let chunk = signal
                .get(step * CHUNK..(step + 1) * CHUNK)
                .unwrap_or(&[0.0; CHUNK]);
            sender.push(chunk, &mut |d, _| {
                per_step[step + 1].push(downlink(d, who as u32 + 1));
            });
        }
    }
    let mut listener = Listener::new(speakers);
    listener
        .playback
        .set_enhancement(enhancement)
        .expect("enhancement");
    let mut out = vec![0.0f32; CHUNK];
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    for (step, arrivals) in per_step.iter().enumerate().take(steps) {
        let now = 1_000_000 + step as u64 * 10_000;
        for d in arrivals {
            listener.receive(d, now - 9_000);
        }
        listener.render_mix(&mut out, now);
        std::hint::black_box(&out);
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;
    let wall = wall0.elapsed().as_secs_f64();
    assert!(
        listener.stats().iter().all(|m| m.received > 0),
        "every member was heard"
    );
    (100.0 * cpu / seconds, 100.0 * wall / seconds)
}

/// CPU % of one core for one client's send side (VAD, encode) while talking.
fn offline_send(speech: &Option<Vec<f32>>, frame_samples: usize, seconds: f64) -> f64 {
    let signal = talk(speech, 0, seconds);
    let mut sender = CapturePipeline::new(frame_samples).expect("capture pipeline");
    let cpu0 = thread_cpu_ns();
    for chunk in signal.chunks(CHUNK) {
        sender
            .push(chunk, false, &mut |d| {
                std::hint::black_box(d);
            })
            .expect("push");
    }
    100.0 * (thread_cpu_ns() - cpu0) as f64 / 1e9 / (signal.len() as f64 / f64::from(RATE))
}

// ---------------------------------------------------------------------------------------------
// 2. Real time
// ---------------------------------------------------------------------------------------------

struct ThreadCost {
    cpu_pct: f64,
    push_ms_per_s: f64,
    pull_ms_per_s: f64,
}

/// A room of `members` clients, the first `talkers` of them talking, each on its own thread
/// pushing (talkers) and pulling (all but the first when `talkers == 1`, everybody otherwise)
/// 10 ms every 10 ms for `seconds`. Returns each thread's cost and the process CPU % / client.
fn real_time_room(
    relay: &Relay,
    speech: &Option<Vec<f32>>,
    members: usize,
    talkers: usize,
    seconds: f64,
    enhancement: VoiceEnhancement,
) -> (Vec<ThreadCost>, f64) {
    let room = relay.fresh_room();
    let clients: Vec<Arc<Client>> = (0..members)
        .map(|i| {
            let client = relay.join(&format!("member{i}"), &room, 20, None);
            client
                .set_voice_enhancement(enhancement)
                .expect("enhancement");
            Arc::new(client)
        })
        .collect();
    let steps = (seconds * 100.0) as usize;
    let barrier = Arc::new(Barrier::new(members + 1));
    let threads: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let client = client.clone();
            let barrier = barrier.clone();
            let signal = (i < talkers).then(|| talk(speech, i, seconds));
            let pulls = talkers > 1 || i > 0;
            std::thread::spawn(move || {
                let mut out = vec![0.0f32; CHUNK];
                let (mut push_t, mut pull_t) = (Duration::ZERO, Duration::ZERO);
                barrier.wait();
                let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
                real_time(steps, |step| {
                    if let Some(signal) = &signal {
                        let chunk = signal
                            .get(step * CHUNK..(step + 1) * CHUNK)
                            .unwrap_or(&[0.0; CHUNK]);
                        let t = Instant::now();
                        client.push_capture(chunk, RATE, 1).expect("push");
                        push_t += t.elapsed();
                    }
                    if pulls {
                        let t = Instant::now();
                        client.pull_playback(&mut out, RATE, 1).expect("pull");
                        pull_t += t.elapsed();
                    }
                });
                let wall = wall0.elapsed().as_secs_f64();
                let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;
                ThreadCost {
                    cpu_pct: 100.0 * cpu / wall,
                    push_ms_per_s: push_t.as_secs_f64() * 1000.0 / wall,
                    pull_ms_per_s: pull_t.as_secs_f64() * 1000.0 / wall,
                }
            })
        })
        .collect();
    barrier.wait();
    let (proc0, wall0) = (process_cpu_s(), Instant::now());
    let costs: Vec<ThreadCost> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let process_pct = 100.0 * (process_cpu_s() - proc0) / wall0.elapsed().as_secs_f64();
    for c in &clients {
        let s = stats(c);
        for (who, m) in s["members"].as_object().into_iter().flatten() {
            let _ = who;
            assert_eq!(m["decodeErrors"].as_u64(), Some(0), "decode errors: {s}");
        }
        relay.exit(c);
    }
    (costs, process_pct / members as f64)
}

// ---------------------------------------------------------------------------------------------
// 3. Wire
// ---------------------------------------------------------------------------------------------

struct Wire {
    frame_ms: u32,
    packets: u64,
    media_bytes: u64,
    up: Count,
    down: Count,
    seconds: f64,
}

fn wire(relay: &Relay, speech: &Option<Vec<f32>>, frame_ms: u32, seconds: f64) -> Wire {
    let room = relay.fresh_room();
    let (pa, pb) = (Proxy::start(relay), Proxy::start(relay));
    let a = relay.join("speaker", &room, frame_ms, Some(pa.addr));
    let b = relay.join("listener", &room, frame_ms, Some(pb.addr));
    let signal = talk(speech, 0, seconds);
    let steps = signal.len() / CHUNK;
    let mut out = vec![0.0f32; CHUNK];
    // Let the joins' handshakes settle, then count from here.
    std::thread::sleep(Duration::from_millis(300));
    let sent = |c: &Client| {
        let s = stats(c);
        (
            s["sent"]["packets"].as_u64().unwrap(),
            s["sent"]["bytes"].as_u64().unwrap(),
        )
    };
    let (p0, b0) = sent(&a);
    let (up0, down0) = (pa.counters.get(), pb.counters.get());
    let wall0 = Instant::now();
    real_time(steps, |i| {
        a.push_capture(&signal[i * CHUNK..(i + 1) * CHUNK], RATE, 1)
            .expect("push");
        b.pull_playback(&mut out, RATE, 1).expect("pull");
    });
    let seconds = wall0.elapsed().as_secs_f64();
    let (p1, b1) = sent(&a);
    let (up1, down1) = (pa.counters.get(), pb.counters.get());
    relay.exit(&a);
    relay.exit(&b);
    Wire {
        frame_ms,
        packets: p1 - p0,
        media_bytes: b1 - b0,
        up: up1 - up0,
        down: down1 - down0,
        seconds,
    }
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let reps: usize = args.get("--reps", if bench { 5 } else { 1 });
    let seconds: f64 = args.get("--seconds", if bench { 20.0 } else { 1.0 });
    let speech = args.value("--speech").map(|p| {
        let (rate, channels, s) = read_wav(std::path::Path::new(&p));
        assert!(
            rate == RATE && channels == 1,
            "{p}: need 48 kHz mono, got {rate} Hz x {channels}"
        );
        s
    });
    let enhancement = args.enhancement();
    let source = if speech.is_some() {
        "speech file"
    } else {
        "synthetic voice"
    };
    println!("voice_cpu: CPU per remote speaker and per client; bits on the wire");
    println!("machine: {}; load average at start: {}", machine(), load());
    println!(
        "talking with: {source}; {reps} repetitions; 20 ms frames unless said; listeners' voice enhancement: {}",
        enhancement.as_str()
    );

    // 1. Offline.
    let offline_s = if bench { 60.0 } else { 1.0 };
    println!("\n1. Offline, {offline_s} s of audio per repetition, no sleeps (thread CPU time / audio time):");
    let mut rows = Vec::new();
    for speakers in [1usize, 3, 9] {
        let runs: Vec<(f64, f64)> = (0..reps)
            .map(|_| offline_receive(&speech, speakers, offline_s, enhancement))
            .collect();
        let cpu: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let wall: Vec<f64> = runs.iter().map(|r| r.1).collect();
        let (lo, hi) = min_max(&cpu);
        println!(
            "  receive {speakers} speaker(s): CPU {:.3} % of a core (runs {lo:.3}..{hi:.3}), wall {:.3} %; per speaker {:.3} %",
            median(&cpu),
            median(&wall),
            median(&cpu) / speakers as f64
        );
        rows.push((speakers, median(&cpu), lo, hi));
    }
    let send20: Vec<f64> = (0..reps)
        .map(|_| offline_send(&speech, 960, offline_s))
        .collect();
    let send10: Vec<f64> = (0..reps)
        .map(|_| offline_send(&speech, 480, offline_s))
        .collect();
    println!(
        "  send side (VAD + Opus encode, complexity 9): 20 ms frames {:.3} %, 10 ms frames {:.3} % of a core",
        median(&send20),
        median(&send10)
    );

    // 2. Real time.
    let relay = Relay::start();
    println!(
        "\n2. Real time through the relay, {seconds} s per repetition, one thread per client:"
    );
    let mut pair = Vec::new();
    let mut pair_process = Vec::new();
    let mut room10 = Vec::new();
    let mut room10_process = Vec::new();
    let mut room10_push = Vec::new();
    let mut room10_pull = Vec::new();
    for rep in 0..reps {
        let (costs, process) = real_time_room(&relay, &speech, 2, 1, seconds, enhancement);
        println!(
            "  rep {}: 1 speaker -> 1 listener: listener thread {:.3} %, speaker thread {:.3} %, process / 2 clients {:.2} %",
            rep + 1,
            costs[1].cpu_pct,
            costs[0].cpu_pct,
            process
        );
        pair.push(costs[1].cpu_pct);
        pair_process.push(process);
        let (costs, process) = real_time_room(&relay, &speech, 10, 10, seconds, enhancement);
        let cpu: Vec<f64> = costs.iter().map(|c| c.cpu_pct).collect();
        let (lo, hi) = min_max(&cpu);
        println!(
            "  rep {}: 10 members all talking: client thread median {:.3} % ({lo:.3}..{hi:.3}), in push {:.2} ms/s, in pull {:.2} ms/s; process / 10 clients {:.2} %",
            rep + 1,
            median(&cpu),
            median(&costs.iter().map(|c| c.push_ms_per_s).collect::<Vec<_>>()),
            median(&costs.iter().map(|c| c.pull_ms_per_s).collect::<Vec<_>>()),
            process
        );
        room10.push(median(&cpu));
        room10_process.push(process);
        room10_push.push(median(
            &costs.iter().map(|c| c.push_ms_per_s).collect::<Vec<_>>(),
        ));
        room10_pull.push(median(
            &costs.iter().map(|c| c.pull_ms_per_s).collect::<Vec<_>>(),
        ));
    }

    // 3. Wire.
    println!("\n3. On the wire, one speaker talking {seconds} s, counted at our UDP relay:");
    let mut wires = Vec::new();
    for frame_ms in [20u32, 10] {
        for _ in 0..reps.min(3) {
            let w = wire(&relay, &speech, frame_ms, seconds);
            println!(
                "  {} ms: {} media packets, {} media bytes; uplink {} UDP datagrams / {} bytes; downlink {} / {} bytes in {:.1} s",
                w.frame_ms, w.packets, w.media_bytes, w.up.up_datagrams, w.up.up_bytes,
                w.down.down_datagrams, w.down.down_bytes, w.seconds
            );
            wires.push(w);
        }
    }

    // Summary.
    println!("\nSummary (medians over {reps} repetitions; range = min..max):");
    println!("| measurement | method | figure | goal | met |");
    println!("|---|---|---|---|---|");
    for (speakers, cpu, lo, hi) in &rows {
        let per = cpu / *speakers as f64;
        println!(
            "| receive {speakers} remote speaker(s), offline | thread CPU / audio time | {cpu:.3} % ({lo:.3}..{hi:.3}); {per:.3} % per speaker | ≤ 1 % per speaker | {} |",
            if per <= 1.0 { "yes" } else { "no" }
        );
    }
    println!(
        "| send side of one client, offline | thread CPU / audio time | {:.3} % (20 ms), {:.3} % (10 ms) | | |",
        median(&send20),
        median(&send10)
    );
    let (lo, hi) = min_max(&pair);
    println!(
        "| receive 1 remote speaker, real time | listener thread CPU / wall | {:.3} % ({lo:.3}..{hi:.3}) | ≤ 1 % | {} |",
        median(&pair),
        if median(&pair) <= 1.0 { "yes" } else { "no" }
    );
    let (lo, hi) = min_max(&room10);
    println!(
        "| 10 members all talking, per client, real time | client thread CPU / wall (push {:.2} + pull {:.2} ms per s) | {:.3} % ({lo:.3}..{hi:.3}) | ≤ 5 % | {} |",
        median(&room10_push),
        median(&room10_pull),
        median(&room10),
        if median(&room10) <= 5.0 { "yes" } else { "no" }
    );
    let (lo, hi) = min_max(&room10_process);
    println!(
        "| 10 members all talking, whole process / 10 | process CPU (relay, QUIC, TLS, tokio included) / wall / 10 | {:.2} % ({lo:.2}..{hi:.2}) | (≤ 5 %) | {} |",
        median(&room10_process),
        if median(&room10_process) <= 5.0 { "yes" } else { "no" }
    );
    let (lo, hi) = min_max(&pair_process);
    println!(
        "| 1 speaker + 1 listener, whole process / 2 | as above | {:.2} % ({lo:.2}..{hi:.2}) | | |",
        median(&pair_process)
    );

    println!("\nBits on the wire per speaker (medians; kbps = 1000 bit/s). While speaking: bytes per media");
    println!(
        "packet times the packet rate of continuous speech. QUIC: UDP payload minus media bytes,"
    );
    println!("per media packet (so ACK- or PING-only packets are included). Average: over the whole run,");
    println!("pauses (VAD: nothing sent) included.");
    println!("| frames | Opus payload | + our header (8 B up / 12 B down) | QUIC per media packet (up / down) | UDP payload up / down | + UDP/IPv4 (28 B) | + UDP/IPv6 (48 B) | average over the run: media up / IPv4 up |");
    println!("|---|---|---|---|---|---|---|---|");
    for frame_ms in [20u32, 10] {
        let ws: Vec<&Wire> = wires.iter().filter(|w| w.frame_ms == frame_ms).collect();
        let m = |f: &dyn Fn(&Wire) -> f64| median(&ws.iter().map(|w| f(w)).collect::<Vec<_>>());
        let pps = 1000.0 / f64::from(frame_ms);
        let kbps = |bytes_per_packet: f64| bytes_per_packet * 8.0 * pps / 1000.0;
        let media = m(&|w| w.media_bytes as f64 / w.packets as f64);
        let opus = media - 8.0;
        let quic_up = m(&|w| (w.up.up_bytes as f64 - w.media_bytes as f64) / w.packets as f64);
        let quic_down = m(&|w| {
            (w.down.down_bytes as f64 - w.media_bytes as f64 - 4.0 * w.packets as f64)
                / w.packets as f64
        });
        let up_udp = m(&|w| w.up.up_bytes as f64 / w.packets as f64);
        let down_udp = m(&|w| w.down.down_bytes as f64 / w.packets as f64);
        let dgrams_up = m(&|w| w.up.up_datagrams as f64 / w.packets as f64);
        let dgrams_down = m(&|w| w.down.down_datagrams as f64 / w.packets as f64);
        let avg_media = m(&|w| w.media_bytes as f64 * 8.0 / w.seconds / 1000.0);
        let avg_ip = m(&|w| {
            (w.up.up_bytes as f64 + 28.0 * w.up.up_datagrams as f64) * 8.0 / w.seconds / 1000.0
        });
        println!(
            "| {frame_ms} ms ({pps:.0} packets/s) | {:.1} kbps ({opus:.1} B) | {:.1} / {:.1} kbps | {quic_up:.1} / {quic_down:.1} B | {:.1} / {:.1} kbps | {:.1} / {:.1} kbps | {:.1} / {:.1} kbps | {avg_media:.1} / {avg_ip:.1} kbps |",
            kbps(opus),
            kbps(media),
            kbps(opus + 12.0),
            kbps(up_udp),
            kbps(down_udp),
            kbps(up_udp + 28.0 * dgrams_up),
            kbps(down_udp + 28.0 * dgrams_down),
            kbps(up_udp + 48.0 * dgrams_up),
            kbps(down_udp + 48.0 * dgrams_down),
        );
    }
    println!("\nload average at end: {}", load());
}
