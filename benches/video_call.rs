//! A live video call, end to end: two (or three) members of a video room through the relay
//! embedded in this process, the sender pushing 640x360@30 camera frames in real time and the
//! receiver polling for the latest picture. Measures, at the SDK's defaults (VP8, 800 kbps):
//!
//! 1. Glass to glass: from the start of `push_video_frame` at A to the picture being there in
//!    `latest_video_frame` at B, polled every `--poll-ms` (1 ms) on a thread of its own. Each
//!    frame carries its index as a row of bright and dark 16x16 blocks at the top (macroblock
//!    aligned, so VP8 keeps them), read back from the decoded picture's Y plane.
//! 2. The same with B's leg through a UDP proxy dropping each datagram, both ways, at random
//!    (5 % and 20 %, several seeds): frames shown, glass to glass, PSNR-Y of every shown picture
//!    against the source frame it carries, keyframe and resend requests.
//! 3. Bits on the wire: the sender's video `bytesSent` per second, and the UDP payload (QUIC
//!    included) of the relay's datagrams to each subscriber, counted by a lossless proxy.
//! 4. CPU per stream: the whole process's CPU time over wall time with a stream running and
//!    without (the same two members joined, polling at 30 Hz as an engine does once a rendered
//!    frame), less the relay's own threads (measured apart), so the difference is one stream's
//!    encode + send + receive + decode.
//! 5. Relay CPU per forwarded video datagram: a room of three, one publishing; the CPU time of
//!    the relay's I/O threads (`vc-relay-io*`, from `/proc/self/task/*/schedstat`), which do all
//!    of its per-datagram work, over the datagrams it sent to the two subscribers (counted at
//!    their proxies), less the same threads' CPU in an idle stretch of the same room.
//! 6. With `--speech ref.wav --out DIR`: the same speech spoken by A into a video room and
//!    recorded at B, without and with A's camera on (paired runs, alternating); WAVs and a
//!    `manifest.json` for `scripts/pesq_score.py score --dir DIR`.
//!
//! `cargo bench --bench video_call -- [--frames 600] [--loss-frames 300] [--losses 5,20]
//! [--seeds 3] [--cpu-seconds 10] [--cpu-pairs 2] [--relay-seconds 10] [--poll-ms 1]
//! [--speech DIR/reference.wav --out DIR [--pesq-reps 2]] [--only latency,loss,relay,cpu,pesq]`
//!
//! Without `--bench` (what `cargo test --all-targets` runs) it makes a short smoke run.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::scene::scene_planes;
use common::{
    load, machine, median, process_cpu_s, read_wav, real_time, stats, thread_cpu_ns, voice,
    write_wav, Args, Relay, RATE,
};
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use voipchat::video::picture::{psnr_y, Picture};
use voipchat::{Client, RoomType};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 30;
const SENDER: &str = "alice";

// ---------------------------------------------------------------------------------------------
// The scene, and the frame index written into it
// ---------------------------------------------------------------------------------------------

/// Blocks of the index code: a bright and a dark marker, 16 bits of the index, and the same 16
/// bits inverted (so a misread is caught, not taken for another frame).
const CODE_BITS: usize = 16;
const CODE_BLOCK: usize = 16;
const BRIGHT: u8 = 235;
const DARK: u8 = 16;

/// Frame `t`: the scene of the video benches (`common::scene`), with `t` written in the top
/// row of 16x16 blocks.
fn scene(t: usize) -> Picture {
    let mut planes = scene_planes(t, WIDTH, HEIGHT);
    let (w, cw) = (WIDTH as usize, WIDTH as usize / 2);
    let y = &mut planes.y;
    for (block, bright) in code_of(t).into_iter().enumerate() {
        for row in 0..CODE_BLOCK {
            let start = row * w + block * CODE_BLOCK;
            y[start..start + CODE_BLOCK].fill(if bright { BRIGHT } else { DARK });
        }
    }
    // The code row without colour, so it reads the same in any conversion.
    planes.u[..cw * CODE_BLOCK / 2].fill(128);
    planes.v[..cw * CODE_BLOCK / 2].fill(128);
    planes.picture()
}

/// The blocks of the code for frame `t`, left to right: bright or dark.
fn code_of(t: usize) -> Vec<bool> {
    let bits: Vec<bool> = (0..CODE_BITS).map(|b| (t >> b) & 1 == 1).collect();
    let mut code = vec![true, false];
    code.extend(&bits);
    code.extend(bits.iter().map(|b| !b));
    code
}

/// The frame index a decoded picture carries, or `None` when its code does not read cleanly.
fn read_code(picture: &Picture) -> Option<usize> {
    let (w, y) = (picture.width() as usize, picture.y());
    let blocks = 2 + 2 * CODE_BITS;
    let bright: Vec<bool> = (0..blocks)
        .map(|block| {
            // The block's middle 8x8: its edges may bleed under the loop filter.
            let mut sum = 0u32;
            for row in 4..12 {
                let start = row * w + block * CODE_BLOCK + 4;
                sum += y[start..start + 8]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            sum / 64 > u32::from(BRIGHT / 2 + DARK / 2)
        })
        .collect();
    if !bright[0] || bright[1] {
        return None;
    }
    let (bits, inverted) = bright[2..].split_at(CODE_BITS);
    if bits.iter().zip(inverted).any(|(a, b)| a == b) {
        return None;
    }
    Some(
        bits.iter()
            .enumerate()
            .map(|(i, &b)| usize::from(b) << i)
            .sum(),
    )
}

// ---------------------------------------------------------------------------------------------
// Joining a video room; a UDP proxy that counts and drops
// ---------------------------------------------------------------------------------------------

/// A client in External audio mode (20 ms frames), at the default video settings (640x360,
/// 30 fps, 800 kbps), joined to video room `room` directly or through `via`.
fn join_video(relay: &Relay, open_id: &str, room: &str, via: Option<SocketAddr>) -> Client {
    relay.join_room(open_id, room, RoomType::Video, 20, via)
}

/// What one direction of a proxy saw: datagrams, those of at least [`BIG`] bytes (a video
/// piece; ACK-only QUIC packets and voice are smaller), UDP payload bytes, and drops.
#[derive(Debug, Default)]
struct Direction {
    datagrams: AtomicU64,
    big: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
}

/// A datagram this large carries a video piece: pieces are near-equal cuts of a frame
/// (`video::packetize::cut`), and this scene's frames are far larger than this.
const BIG: usize = 200;

#[derive(Debug, Clone, Copy, Default)]
struct DirectionCount {
    datagrams: u64,
    big: u64,
    bytes: u64,
    dropped: u64,
}

impl Direction {
    fn get(&self) -> DirectionCount {
        DirectionCount {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            big: self.big.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::Sub for DirectionCount {
    type Output = DirectionCount;
    fn sub(self, o: DirectionCount) -> DirectionCount {
        DirectionCount {
            datagrams: self.datagrams - o.datagrams,
            big: self.big - o.big,
            bytes: self.bytes - o.bytes,
            dropped: self.dropped - o.dropped,
        }
    }
}

struct ProxyShared {
    /// Loss probability and the xorshift64* state drawing each datagram's fate.
    loss: Mutex<(f64, u64)>,
    /// Client to relay, relay to client.
    up: Direction,
    down: Direction,
}

impl ProxyShared {
    /// Counts a datagram of `len` bytes going `way`, and says whether it is delivered.
    fn pass(&self, way: &Direction, len: usize) -> bool {
        way.datagrams.fetch_add(1, Ordering::Relaxed);
        way.bytes.fetch_add(len as u64, Ordering::Relaxed);
        if len >= BIG {
            way.big.fetch_add(1, Ordering::Relaxed);
        }
        let mut guard = self.loss.lock().unwrap();
        let (p, state) = &mut *guard;
        if *p <= 0.0 {
            return true;
        }
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let draw = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        let drop = draw < *p;
        if drop {
            way.dropped.fetch_add(1, Ordering::Relaxed);
        }
        !drop
    }
}

/// A UDP relay between clients and the server, as `tests/common/udp_proxy.rs` has it: one
/// upstream socket per client address, independent random loss both ways (seeded), nothing
/// delayed; it counts what passes each way.
struct LossProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    task: tokio::task::JoinHandle<()>,
}

impl LossProxy {
    fn start(relay: &Relay) -> LossProxy {
        let upstream = relay.addr();
        relay.rt.block_on(async move {
            let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let addr = front.local_addr().unwrap();
            let shared = Arc::new(ProxyShared {
                loss: Mutex::new((0.0, 1)),
                up: Direction::default(),
                down: Direction::default(),
            });
            let task = tokio::spawn(forward(front, upstream, shared.clone()));
            LossProxy { addr, shared, task }
        })
    }

    /// From now on each datagram, either way, is lost with probability `p`.
    fn set_loss(&self, p: f64, seed: u64) {
        *self.shared.loss.lock().unwrap() = (p, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    }

    fn up(&self) -> DirectionCount {
        self.shared.up.get()
    }

    fn down(&self) -> DirectionCount {
        self.shared.down.get()
    }
}

impl Drop for LossProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(front: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<ProxyShared>) {
    let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        let back = match backs.get(&client) {
            Some(back) => back.clone(),
            None => {
                let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                back.connect(upstream).await.unwrap();
                backs.insert(client, back.clone());
                let (front, reader, shared) = (front.clone(), back.clone(), shared.clone());
                tasks.spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(len) = reader.recv(&mut buf).await {
                        if shared.pass(&shared.down, len) {
                            let _ = front.send_to(&buf[..len], client).await;
                        }
                    }
                });
                back
            }
        };
        if shared.pass(&shared.up, len) {
            let _ = back.send(&buf[..len]).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CPU clocks of the relay's threads
// ---------------------------------------------------------------------------------------------

/// CPU time (ns, the scheduler's exact run time) of this process's threads whose name starts
/// with `prefix`.
fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|task| {
            std::fs::read_to_string(task.path().join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// The relay's I/O loops (`server::driver::IO_THREAD_PREFIX`): every datagram it receives,
/// forwards, encrypts and acknowledges goes through them.
const RELAY_THREADS: &str = "vc-relay-io";

fn relay_cpu_s() -> f64 {
    threads_cpu_ns(RELAY_THREADS) as f64 / 1e9
}

// ---------------------------------------------------------------------------------------------
// One call
// ---------------------------------------------------------------------------------------------

struct CallOptions {
    frames: usize,
    /// B's leg through a proxy dropping this share of datagrams both ways, with this seed.
    loss: Option<(f64, u64)>,
    poll: Duration,
    /// Push frames at all (false: the same call with the camera off, for the CPU baseline).
    video: bool,
    /// Keep every shown picture to score its PSNR after the call.
    keep_pictures: bool,
}

#[derive(Default)]
struct CallResult {
    pushed: usize,
    /// (frame index, glass to glass in ms) of every picture the poll saw, in order.
    shown: Vec<(usize, f64)>,
    psnr: Vec<f64>,
    /// New pictures whose code did not read (none expected: a corrupt picture is never shown).
    unreadable: usize,
    /// Pictures carrying an older index than the one before.
    out_of_order: usize,
    push_ms: Vec<f64>,
    poll_us: Vec<f64>,
    pusher_cpu_s: f64,
    process_cpu_s: f64,
    relay_cpu_s: f64,
    wall_s: f64,
    sender: Value,
    receiver: Value,
    down: DirectionCount,
}

/// A and B join a fresh video room; A pushes `frames` frames of `sources` at 30 fps in real
/// time on one thread while another polls B every `poll` for A's latest picture.
fn call(relay: &Relay, sources: &Arc<Vec<Picture>>, o: &CallOptions) -> CallResult {
    let room = relay.fresh_room();
    let proxy = o.loss.map(|_| LossProxy::start(relay));
    let a = Arc::new(join_video(relay, SENDER, &room, None));
    let b = Arc::new(join_video(
        relay,
        "bob",
        &room,
        proxy.as_ref().map(|p| p.addr),
    ));
    // Both member lists are in before the first frame.
    std::thread::sleep(Duration::from_millis(300));
    if let (Some(proxy), Some((p, seed))) = (&proxy, o.loss) {
        proxy.set_loss(p, seed);
    }
    let down0 = proxy.as_ref().map(LossProxy::down).unwrap_or_default();

    let epoch = Instant::now();
    let pushed_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..sources.len()).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));

    let poller = {
        let (b, pushed_at, stop, sources) =
            (b.clone(), pushed_at.clone(), stop.clone(), sources.clone());
        let (poll, keep) = (o.poll, o.keep_pictures);
        std::thread::spawn(move || {
            let mut r = CallResult::default();
            let mut last_sequence = 0;
            let mut last_index = None;
            let mut kept = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let asked = Instant::now();
                let frame = b.latest_video_frame(SENDER);
                let seen = Instant::now();
                if let Some(frame) = frame {
                    r.poll_us
                        .push(seen.duration_since(asked).as_secs_f64() * 1e6);
                    if frame.sequence != last_sequence {
                        last_sequence = frame.sequence;
                        match read_code(&frame.picture).filter(|&i| i < sources.len()) {
                            Some(index) => {
                                let at = pushed_at[index].load(Ordering::Acquire);
                                let g2g = seen.duration_since(epoch).as_nanos() as f64 - at as f64;
                                if last_index.is_some_and(|last| index < last) {
                                    r.out_of_order += 1;
                                }
                                last_index = Some(index);
                                r.shown.push((index, g2g / 1e6));
                                if keep {
                                    kept.push((index, frame.picture));
                                }
                            }
                            None => r.unreadable += 1,
                        }
                    }
                }
                std::thread::sleep(poll);
            }
            // Scored after the call, so the poll costs only what an engine's would.
            r.psnr = kept
                .iter()
                .map(|(index, picture)| psnr_y(picture, &sources[*index]))
                .collect();
            r
        })
    };

    let cpu0 = (process_cpu_s(), relay_cpu_s());
    let start = Instant::now();
    let pusher = {
        let (a, pushed_at, sources) = (a.clone(), pushed_at.clone(), sources.clone());
        let (frames, video) = (o.frames, o.video);
        std::thread::spawn(move || {
            let cpu = thread_cpu_ns();
            let mut push_ms = Vec::with_capacity(frames);
            for i in 0..frames {
                let due = start + Duration::from_secs(i as u64) / FPS;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                if !video {
                    continue;
                }
                let source = &sources[i % sources.len()];
                let at = Instant::now();
                pushed_at[i % sources.len()].store(
                    at.duration_since(epoch).as_nanos() as u64,
                    Ordering::Release,
                );
                a.push_video_frame(source).expect("push");
                push_ms.push(at.elapsed().as_secs_f64() * 1e3);
            }
            let last = start + Duration::from_secs(frames as u64) / FPS;
            std::thread::sleep(last.saturating_duration_since(Instant::now()));
            (push_ms, (thread_cpu_ns() - cpu) as f64 / 1e9)
        })
    };
    let (push_ms, pusher_cpu_s) = pusher.join().expect("pusher");
    let wall_s = start.elapsed().as_secs_f64();
    let cpu1 = (process_cpu_s(), relay_cpu_s());
    // The last frames' way through, then the poll stops.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut r = poller.join().expect("poller");
    r.pushed = if o.video { o.frames } else { 0 };
    r.push_ms = push_ms;
    r.pusher_cpu_s = pusher_cpu_s;
    r.process_cpu_s = cpu1.0 - cpu0.0;
    r.relay_cpu_s = cpu1.1 - cpu0.1;
    r.wall_s = wall_s;
    r.sender = stats(&a)["video"].clone();
    r.receiver = stats(&b)["video"]["members"][SENDER].clone();
    r.down = proxy.as_ref().map(LossProxy::down).unwrap_or_default() - down0;
    relay.exit(&a);
    relay.exit(&b);
    r
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

/// Nearest rank.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn g2g(r: &CallResult) -> Vec<f64> {
    r.shown.iter().map(|s| s.1).collect()
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// "median (min..max)" of one figure over runs.
fn spread(values: &[f64], digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() == 1 {
        format!("{:.*}", digits, values[0])
    } else {
        format!(
            "{:.*} ({:.*}..{:.*})",
            digits,
            median(values),
            digits,
            lo,
            digits,
            hi
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The parts
// ---------------------------------------------------------------------------------------------

fn report_call(what: &str, r: &CallResult) {
    let g = g2g(r);
    println!(
        "  {what}: shown {} of {} pushed (decoded: framesShown {}), unreadable {}, out of order {}; \
         glass to glass median {:.1} ms, p99 {:.1} ms, max {:.1} ms; PSNR-Y mean {:.2} dB; \
         keyframes requested {} (sent {}), resends requested {} (pieces resent {}), dropped {}, \
         decode errors {}; video bytesSent {:.0} kbps, encoder target at the end {} kbps; push median {:.2} ms, p99 {:.2} ms; \
         poll median {:.0} us",
        r.shown.len(),
        r.pushed,
        count(&r.receiver, "framesShown"),
        r.unreadable,
        r.out_of_order,
        median(&g),
        percentile(&g, 0.99),
        percentile(&g, 1.0),
        mean(&r.psnr),
        count(&r.receiver, "keyframesRequested"),
        count(&r.sender, "keyframesSent"),
        count(&r.receiver, "resendsRequested"),
        count(&r.sender, "piecesResent"),
        count(&r.receiver, "framesDropped"),
        count(&r.receiver, "decodeErrors"),
        count(&r.sender, "bytesSent") as f64 * 8.0 / r.wall_s / 1e3,
        count(&r.sender, "targetKbps"),
        median(&r.push_ms),
        percentile(&r.push_ms, 0.99),
        median(&r.poll_us),
    );
    if r.down.datagrams > 0 {
        println!(
            "    B's leg: {} datagrams relay -> B ({} dropped), {:.0} kbps UDP payload",
            r.down.datagrams,
            r.down.dropped,
            r.down.bytes as f64 * 8.0 / r.wall_s / 1e3
        );
    }
}

fn glass_to_glass(relay: &Relay, sources: &Arc<Vec<Picture>>, frames: usize, poll: Duration) {
    println!(
        "\n1. Glass to glass, loopback, no proxy: {frames} frames at {FPS} fps, B polled every {poll:?}"
    );
    let r = call(
        relay,
        sources,
        &CallOptions {
            frames,
            loss: None,
            poll,
            video: true,
            keep_pictures: true,
        },
    );
    report_call("0 % loss", &r);
    let g = g2g(&r);
    println!("\n| loss | shown / pushed | glass to glass: median | p99 | PSNR-Y mean | keyframes requested | resends requested | video bytesSent |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| 0 % (direct) | {} / {} | {:.1} ms | {:.1} ms | {:.2} dB | {} | {} | {:.0} kbps |",
        r.shown.len(),
        r.pushed,
        median(&g),
        percentile(&g, 0.99),
        mean(&r.psnr),
        count(&r.receiver, "keyframesRequested"),
        count(&r.receiver, "resendsRequested"),
        count(&r.sender, "bytesSent") as f64 * 8.0 / r.wall_s / 1e3,
    );
}

fn through_loss(
    relay: &Relay,
    sources: &Arc<Vec<Picture>>,
    frames: usize,
    losses: &[f64],
    seeds: u64,
    poll: Duration,
) {
    println!(
        "\n2. B's leg through a proxy dropping datagrams both ways at random: {frames} frames, \
         {seeds} seed(s) per loss rate"
    );
    let mut rows = Vec::new();
    for &loss in losses {
        let runs: Vec<CallResult> = (1..=seeds)
            .map(|seed| {
                let r = call(
                    relay,
                    sources,
                    &CallOptions {
                        frames,
                        loss: Some((loss / 100.0, seed)),
                        poll,
                        video: true,
                        keep_pictures: true,
                    },
                );
                report_call(&format!("{loss} % loss, seed {seed}"), &r);
                r
            })
            .collect();
        let per = |f: &dyn Fn(&CallResult) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        rows.push(format!(
            "| {loss} % | {} | {} | {} ms | {} ms | {} dB | {} | {} | {} kbps | {} kbps |",
            spread(
                &per(&|r| r.shown.len() as f64 / r.pushed.max(1) as f64 * 100.0),
                1
            ) + " %",
            spread(
                &per(
                    &|r| count(&r.receiver, "framesShown") as f64 / r.pushed.max(1) as f64 * 100.0
                ),
                1
            ) + " %",
            spread(&per(&|r| median(&g2g(r))), 1),
            spread(&per(&|r| percentile(&g2g(r), 0.99)), 1),
            spread(&per(&|r| mean(&r.psnr)), 2),
            spread(
                &per(&|r| count(&r.receiver, "keyframesRequested") as f64),
                0
            ),
            spread(&per(&|r| count(&r.receiver, "resendsRequested") as f64), 0),
            spread(
                &per(&|r| count(&r.sender, "bytesSent") as f64 * 8.0 / r.wall_s / 1e3),
                0
            ),
            spread(&per(&|r| count(&r.sender, "targetKbps") as f64), 0),
        ));
    }
    println!("\nMedians over the seeds (min..max):");
    println!("| loss | shown / pushed | decoded / pushed | glass to glass: median | p99 | PSNR-Y mean | keyframes requested | resends requested | video bytesSent | encoder target at the end |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

fn cpu_per_stream(relay: &Relay, sources: &Arc<Vec<Picture>>, seconds: u64, pairs: usize) {
    let frames = seconds as usize * FPS as usize;
    let poll = Duration::from_micros(1_000_000 / 30);
    println!(
        "\n4. CPU per stream: {pairs} pair(s) of {seconds} s calls, camera off then on, B polled \
         at 30 Hz; process CPU (/proc/self/stat) and the relay's I/O threads (schedstat)"
    );
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for pair in 1..=pairs {
        for video in [false, true] {
            let r = call(
                relay,
                sources,
                &CallOptions {
                    frames,
                    loss: None,
                    poll,
                    video,
                    keep_pictures: false,
                },
            );
            let process = r.process_cpu_s / r.wall_s * 100.0;
            let relay_share = r.relay_cpu_s / r.wall_s * 100.0;
            println!(
                "  pair {pair}, camera {}: process {process:.2} % of a core, relay threads \
                 {relay_share:.2} %, pusher thread {:.2} %, shown {} of {}",
                if video { "on" } else { "off" },
                r.pusher_cpu_s / r.wall_s * 100.0,
                r.shown.len(),
                r.pushed
            );
            let row = (
                process,
                relay_share,
                r.pusher_cpu_s / r.wall_s * 100.0,
                median(&r.push_ms),
            );
            if video {
                on.push(row);
            } else {
                off.push(row);
            }
        }
    }
    let diff = |f: fn(&(f64, f64, f64, f64)) -> f64| -> Vec<f64> {
        on.iter().zip(&off).map(|(a, b)| f(a) - f(b)).collect()
    };
    let process = diff(|r| r.0);
    let relay_share = diff(|r| r.1);
    let client: Vec<f64> = process
        .iter()
        .zip(&relay_share)
        .map(|(p, r)| p - r)
        .collect();
    let pusher: Vec<f64> = on.iter().map(|r| r.2).collect();
    println!("\n| measurement | % of one core: median (min..max) over pairs |");
    println!("|---|---|");
    println!(
        "| whole process, camera off | {} |",
        spread(&off.iter().map(|r| r.0).collect::<Vec<_>>(), 2)
    );
    println!(
        "| whole process, camera on | {} |",
        spread(&on.iter().map(|r| r.0).collect::<Vec<_>>(), 2)
    );
    println!(
        "| difference: one stream, relay included | {} |",
        spread(&process, 2)
    );
    println!(
        "| of which the relay's I/O threads | {} |",
        spread(&relay_share, 2)
    );
    println!(
        "| **one stream, client side (encode, send, receive, decode)** | {} |",
        spread(&client, 2)
    );
    println!(
        "| of which the pushing thread (scale, encode, cut, queue) | {} (push median {:.2} ms) |",
        spread(&pusher, 2),
        median(&on.iter().map(|r| r.3).collect::<Vec<_>>())
    );
}

/// What the relay did over one stretch of a room's life: its I/O threads' CPU, the whole
/// process's, and what each member's proxy saw (up, down).
struct Stretch {
    wall_s: f64,
    relay_s: f64,
    process_s: f64,
    legs: Vec<(DirectionCount, DirectionCount)>,
}

fn stretch(proxies: &[LossProxy], drive: impl FnOnce()) -> Stretch {
    let snapshot = || -> Vec<(DirectionCount, DirectionCount)> {
        proxies.iter().map(|p| (p.up(), p.down())).collect()
    };
    let (from, relay0, process0, start) =
        (snapshot(), relay_cpu_s(), process_cpu_s(), Instant::now());
    drive();
    let (wall_s, relay_s, process_s) = (
        start.elapsed().as_secs_f64(),
        relay_cpu_s() - relay0,
        process_cpu_s() - process0,
    );
    let legs = snapshot()
        .into_iter()
        .zip(from)
        .map(|(to, from)| (to.0 - from.0, to.1 - from.1))
        .collect();
    Stretch {
        wall_s,
        relay_s,
        process_s,
        legs,
    }
}

impl Stretch {
    /// Datagrams the relay sent to the subscribers (B and C), less what it sends them in an
    /// idle room over as long (keep-alives, ACKs).
    fn forwarded(&self, idle: &Stretch) -> f64 {
        let down = |s: &Stretch| s.legs[1..].iter().map(|l| l.1.datagrams).sum::<u64>() as f64;
        down(self) - down(idle) / idle.wall_s * self.wall_s
    }

    /// The relay threads' CPU less their idle rate, per forwarded datagram, in µs.
    fn relay_us_per_datagram(&self, idle: &Stretch) -> f64 {
        (self.relay_s - idle.relay_s / idle.wall_s * self.wall_s) / self.forwarded(idle) * 1e6
    }

    fn kbps(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / self.wall_s / 1e3
    }

    fn print_legs(&self) {
        for (name, (up, down)) in ["A", "B", "C"].iter().zip(&self.legs) {
            println!(
                "    {name}'s leg: up {} datagrams ({} of >= {BIG} B), {:.0} kbps; down {} \
                 datagrams ({} of >= {BIG} B), {:.0} kbps (UDP payload, QUIC included)",
                up.datagrams,
                up.big,
                self.kbps(up.bytes),
                down.datagrams,
                down.big,
                self.kbps(down.bytes),
            );
        }
    }
}

fn relay_per_datagram(relay: &Relay, sources: &Arc<Vec<Picture>>, idle_s: u64, seconds: u64) {
    println!(
        "\n3 and 5. A room of three, A publishing, B and C receiving (the default first two); \
         every leg through a lossless counting proxy; {idle_s} s idle, {seconds} s of A's voice \
         (camera off), {seconds} s of A's video (microphone silent)"
    );
    let room = relay.fresh_room();
    let proxies: Vec<LossProxy> = (0..3).map(|_| LossProxy::start(relay)).collect();
    let members: Vec<Client> = ["alice", "bob", "carol"]
        .iter()
        .zip(&proxies)
        .map(|(id, proxy)| join_video(relay, id, &room, Some(proxy.addr)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let idle = stretch(&proxies, || std::thread::sleep(Duration::from_secs(idle_s)));
    let speech = voice(seconds as f64, RATE, 140.0, 7);
    let voice = stretch(&proxies, || {
        let mut input = vec![0.0f32; 480];
        real_time(speech.len() / 480, |i| {
            input.copy_from_slice(&speech[i * 480..(i + 1) * 480]);
            members[0].push_capture(&input, RATE, 1).expect("push");
        });
    });
    // The voice detector's hold runs out before the camera starts.
    std::thread::sleep(Duration::from_millis(500));
    let video = stretch(&proxies, || {
        let start = Instant::now();
        for i in 0..seconds as usize * FPS as usize {
            let due = start + Duration::from_secs(i as u64) / FPS;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            members[0]
                .push_video_frame(&sources[i % sources.len()])
                .expect("push");
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let sender = stats(&members[0])["video"].clone();
    let shown: Vec<u64> = members[1..]
        .iter()
        .map(|m| count(&stats(m)["video"]["members"][SENDER], "framesShown"))
        .collect();
    for m in &members {
        relay.exit(m);
    }

    let idle_datagrams: u64 = idle
        .legs
        .iter()
        .map(|(up, down)| up.datagrams + down.datagrams)
        .sum();
    println!(
        "  idle: relay threads {:.3} % of a core over {:.1} s, {idle_datagrams} datagrams on all legs",
        idle.relay_s / idle.wall_s * 100.0,
        idle.wall_s
    );
    for (what, s) in [("voice", &voice), ("video", &video)] {
        println!(
            "  {what}: relay threads {:.2} % of a core, whole process {:.2} %, {:.0} datagrams \
             forwarded",
            s.relay_s / s.wall_s * 100.0,
            s.process_s / s.wall_s * 100.0,
            s.forwarded(&idle)
        );
        s.print_legs();
    }
    println!(
        "  A sent {} frames ({} keyframes), video bytesSent {:.0} kbps; shown at B, C: {:?}",
        count(&sender, "framesSent"),
        count(&sender, "keyframesSent"),
        video.kbps(count(&sender, "bytesSent")),
        shown
    );
    let big_forwarded: u64 = video.legs[1..].iter().map(|l| l.1.big).sum();
    println!("\n| per forwarded datagram, relay I/O threads, idle rate subtracted | voice (20 ms frames) | video (640x360@30, 800 kbps) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| datagrams in from A / forwarded to B and C, per second | {:.0} / {:.0} | {:.0} / {:.0} ({big_forwarded} of >= {BIG} B in all) | |",
        voice.legs[0].0.datagrams as f64 / voice.wall_s,
        voice.forwarded(&idle) / voice.wall_s,
        video.legs[0].0.datagrams as f64 / video.wall_s,
        video.forwarded(&idle) / video.wall_s,
    );
    println!(
        "| mean UDP payload per forwarded datagram | {:.0} B | {:.0} B | |",
        voice.legs[1].1.bytes as f64 / voice.legs[1].1.datagrams.max(1) as f64,
        video.legs[1].1.bytes as f64 / video.legs[1].1.datagrams.max(1) as f64,
    );
    let (v, w) = (
        voice.relay_us_per_datagram(&idle),
        video.relay_us_per_datagram(&idle),
    );
    println!(
        "| **relay CPU per forwarded datagram** | {v:.1} us | {w:.1} us | {:.2} |",
        w / v
    );
    println!(
        "| relay -> each subscriber, UDP payload | {:.0} kbps | {:.0} kbps | |",
        voice.kbps(voice.legs[1..].iter().map(|l| l.1.bytes).sum::<u64>()) / 2.0,
        video.kbps(video.legs[1..].iter().map(|l| l.1.bytes).sum::<u64>()) / 2.0,
    );
    println!(
        "| A -> relay, UDP payload | {:.0} kbps | {:.0} kbps | |",
        voice.kbps(voice.legs[0].0.bytes),
        video.kbps(video.legs[0].0.bytes),
    );
}

/// The speech through a video room, camera off then on, alternating; WAVs for PESQ.
fn voice_with_video(
    relay: &Relay,
    sources: &Arc<Vec<Picture>>,
    speech: &Path,
    out: &Path,
    reps: u64,
) {
    let (rate, channels, speech) = read_wav(speech);
    assert!(
        rate == RATE && channels == 1,
        "need 48 kHz mono speech, got {rate} Hz x {channels}"
    );
    std::fs::create_dir_all(out).expect("output directory");
    println!(
        "\n6. Voice in a video room, {:.1} s of speech, camera off and on alternately, {reps} pair(s); WAVs in {}",
        speech.len() as f64 / f64::from(RATE),
        out.display()
    );
    const CHUNK: usize = 480;
    let mut files = Vec::new();
    for rep in 1..=reps {
        for video in [false, true] {
            let room = relay.fresh_room();
            let a = Arc::new(join_video(relay, SENDER, &room, None));
            let b = join_video(relay, "bob", &room, None);
            std::thread::sleep(Duration::from_millis(300));
            let stop = Arc::new(AtomicBool::new(false));
            let camera = video.then(|| {
                let (a, stop, sources) = (a.clone(), stop.clone(), sources.clone());
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let due = start + Duration::from_secs(i as u64) / FPS;
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        a.push_video_frame(&sources[i % sources.len()])
                            .expect("push");
                        i += 1;
                    }
                })
            });
            let steps = speech.len().div_ceil(CHUNK) + 50;
            let mut heard = Vec::with_capacity(steps * CHUNK);
            let (mut input, mut output) = (vec![0.0f32; CHUNK], vec![0.0f32; CHUNK]);
            let late = real_time(steps, |i| {
                input.fill(0.0);
                if let Some(s) = speech.get(i * CHUNK..) {
                    let n = s.len().min(CHUNK);
                    input[..n].copy_from_slice(&s[..n]);
                }
                a.push_capture(&input, RATE, 1).expect("push");
                b.pull_playback(&mut output, RATE, 1).expect("pull");
                heard.extend_from_slice(&output);
            });
            stop.store(true, Ordering::Relaxed);
            if let Some(camera) = camera {
                camera.join().expect("camera");
            }
            let voice = stats(&b)["members"][SENDER].clone();
            let shown = count(&stats(&b)["video"]["members"][SENDER], "framesShown");
            relay.exit(&a);
            relay.exit(&b);
            let method = if video { "withvideo" } else { "voiceonly" };
            let name = format!("{method}_r{rep}.wav");
            write_wav(&out.join(&name), RATE, 1, &heard);
            println!(
                "  {name}: {late} steps late, video frames shown {shown}; B's voice stats {voice}"
            );
            files.push(
                json!({"file": name, "method": method, "lossPct": 0, "seed": rep,
                              "details": {"voice": voice, "videoFramesShown": shown}}),
            );
        }
    }
    let manifest = json!({"rate": RATE, "frameMs": 20, "machine": machine(), "files": files});
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .expect("manifest");
    println!(
        "  score with: python3 scripts/pesq_score.py score --dir {}",
        out.display()
    );
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let frames: usize = args.get("--frames", if bench { 600 } else { 45 });
    let loss_frames: usize = args.get("--loss-frames", if bench { 300 } else { 30 });
    let losses: Vec<f64> = args.list("--losses", &[5.0, 20.0]);
    let seeds: u64 = args.get("--seeds", if bench { 3 } else { 1 });
    let cpu_seconds: u64 = args.get("--cpu-seconds", if bench { 10 } else { 1 });
    let cpu_pairs: usize = args.get("--cpu-pairs", if bench { 2 } else { 1 });
    let relay_seconds: u64 = args.get("--relay-seconds", if bench { 10 } else { 1 });
    let poll = Duration::from_micros((args.get("--poll-ms", 1.0f64) * 1e3) as u64);
    let pesq_reps: u64 = args.get("--pesq-reps", 2);
    let only: Vec<String> = args.list("--only", &[]);
    let part = |name: &str| only.is_empty() || only.iter().any(|p| p == name);

    println!("video_call: {}; load average {}", machine(), load());
    println!(
        "VP8 {WIDTH}x{HEIGHT}@{FPS}, 800 kbps (the SDK's defaults), relay in this process \
         (2 tokio workers, 2 I/O loops), loopback{}",
        if bench {
            ""
        } else {
            "; smoke run (no --bench)"
        }
    );
    let made = Instant::now();
    let needed = frames
        .max(loss_frames)
        .max(cpu_seconds as usize * FPS as usize);
    let sources: Arc<Vec<Picture>> = Arc::new((0..needed.min(1 << CODE_BITS)).map(scene).collect());
    assert!(
        sources
            .iter()
            .enumerate()
            .all(|(i, p)| read_code(p) == Some(i)),
        "the code reads back from the sources"
    );
    println!(
        "{} source frames made in {:.1} s",
        sources.len(),
        made.elapsed().as_secs_f64()
    );

    let relay = Relay::start();
    if part("latency") {
        glass_to_glass(&relay, &sources, frames, poll);
    }
    if part("loss") {
        through_loss(&relay, &sources, loss_frames, &losses, seeds, poll);
    }
    if part("relay") {
        relay_per_datagram(&relay, &sources, 3.min(relay_seconds), relay_seconds);
    }
    if part("cpu") {
        cpu_per_stream(&relay, &sources, cpu_seconds, cpu_pairs);
    }
    match args.value("--speech") {
        Some(speech) if part("pesq") => {
            let out: PathBuf = args
                .value("--out")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("voipchat-video-call"));
            voice_with_video(&relay, &sources, Path::new(&speech), &out, pesq_reps);
        }
        Some(_) => {}
        None => println!(
            "\n6. Voice PESQ with video: skipped (give --speech DIR/reference.wav --out DIR)"
        ),
    }
    println!("\nload average at end: {}", load());
}
