//! What the voice benches share: an in-process relay and clients driven in real time, CPU
//! clocks, test signals, alignment, WAV files, and a UDP relay that counts and drops datagrams.
//! The pipeline driven offline on a simulated clock is in `sim`.

#![allow(dead_code)]

pub mod scene;
pub mod sim;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use voipchat::{
    auth, Client, ClientConfig, JoinParams, RoomType, Server, ServerConfig, VoiceEnhancement,
};

pub const APP_ID: &str = "wx-bench";
pub const APP_SECRET: &str = "bench-secret";
/// The engine's rate, and the rate the benches feed at unless they say otherwise.
pub const RATE: u32 = 48_000;
/// One step of the real-time loop: what a game's audio callback typically asks for.
pub const STEP: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// `cargo bench` passes `--bench` to a `harness = false` target; `cargo test --all-targets`
/// runs the same binary without it. Without it the benches make a short smoke run, so the test
/// suite checks they still work without spending minutes or printing figures anyone should use.
pub struct Args {
    raw: Vec<String>,
}

impl Args {
    pub fn parse() -> Args {
        Args {
            raw: std::env::args().skip(1).collect(),
        }
    }

    pub fn is_bench(&self) -> bool {
        self.raw.iter().any(|a| a == "--bench")
    }

    /// `--enhancement off|light|strong`: the listeners' speech enhancer, off when not given.
    pub fn enhancement(&self) -> VoiceEnhancement {
        self.value("--enhancement")
            .map_or(VoiceEnhancement::Off, |name| enhancement_named(&name))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.raw.iter().any(|a| a == name)
    }

    /// `--name value` or `--name=value`.
    pub fn value(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.raw.iter().enumerate().find_map(|(i, a)| {
            if a == name {
                self.raw.get(i + 1).cloned()
            } else {
                a.strip_prefix(&prefix).map(str::to_string)
            }
        })
    }

    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
            None => default,
        }
    }

    /// A comma-separated list.
    pub fn list<T: FromStr + Clone>(&self, name: &str, default: &[T]) -> Vec<T> {
        match self.value(name) {
            Some(v) => v
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: cannot parse {x:?}"))
                })
                .collect(),
            None => default.to_vec(),
        }
    }
}

/// The enhancement level `name` names (`off`, `light`, `strong`); panics on anything else.
pub fn enhancement_named(name: &str) -> VoiceEnhancement {
    VoiceEnhancement::ALL
        .into_iter()
        .find(|e| e.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is not an enhancement level: off, light or strong"))
}

// ---------------------------------------------------------------------------------------------
// The relay and its clients
// ---------------------------------------------------------------------------------------------

/// A relay embedded in this process, as in the tests: client and server share the machine.
pub struct Relay {
    pub rt: tokio::runtime::Runtime,
    pub server: Server,
    rooms: AtomicU64,
}

static NONCE: AtomicU64 = AtomicU64::new(0);

impl Relay {
    /// Two tokio workers, like the voice tests (`worker_threads = 2`) on this 2-core machine.
    pub fn start() -> Relay {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = rt
            .block_on(Server::start(ServerConfig {
                apps: HashMap::from([(APP_ID.to_string(), APP_SECRET.to_string())]),
                ..ServerConfig::default()
            }))
            .expect("relay starts");
        Relay {
            rt,
            server,
            rooms: AtomicU64::new(0),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A room name nobody used yet in this process.
    pub fn fresh_room(&self) -> String {
        format!("bench-room-{}", self.rooms.fetch_add(1, Ordering::Relaxed))
    }

    /// A client in External audio mode with `frame_ms` frames, joined to voice room `room`,
    /// reaching the relay directly or through `via` (a [`Proxy`]).
    pub fn join(
        &self,
        open_id: &str,
        room: &str,
        frame_ms: u32,
        via: Option<SocketAddr>,
    ) -> Client {
        self.join_room(open_id, room, RoomType::Voice, frame_ms, via)
    }

    /// [`Relay::join`] for a room of either type.
    pub fn join_room(
        &self,
        open_id: &str,
        room: &str,
        room_type: RoomType,
        frame_ms: u32,
        via: Option<SocketAddr>,
    ) -> Client {
        let server = via.unwrap_or_else(|| self.addr());
        let pin = self.server.cert_sha256().to_string();
        join_at(&self.rt, server, &pin, open_id, room, room_type, frame_ms)
    }

    pub fn exit(&self, client: &Client) {
        let _ = self.rt.block_on(client.exit());
    }
}

/// A client in External audio mode with `frame_ms` frames, joined through `rt` to room `room` of
/// the relay at `server` whose certificate is `pin`, signed as a game backend signs it.
pub fn join_at(
    rt: &tokio::runtime::Runtime,
    server: SocketAddr,
    pin: &str,
    open_id: &str,
    room: &str,
    room_type: RoomType,
    frame_ms: u32,
) -> Client {
    let _guard = rt.enter();
    let mut config = ClientConfig::new(server.to_string()).pinned(pin);
    config.audio.frame_ms = frame_ms;
    let client = Client::new(config, |_event| {}).expect("client");
    let nonce = format!(
        "bench-{}-{}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::Relaxed)
    );
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let params = JoinParams {
        app_id: APP_ID.into(),
        open_id: open_id.into(),
        group_id: room.into(),
        nonce_str: nonce.clone(),
        time_stamp: ts,
        signature: auth::sign(
            &auth::session_key(APP_SECRET, open_id),
            APP_ID,
            room,
            &nonce,
            ts,
        ),
        room_type,
        mute_config: Default::default(),
    };
    rt.block_on(client.join(params)).expect("join");
    client
}

pub fn stats(client: &Client) -> serde_json::Value {
    serde_json::from_str(&client.stats_json()).expect("stats are JSON")
}

/// `speaker` says `speech` in real time, 10 ms pushed per step, while `listener` pulls its mix
/// each step, and a second more so the last words play out: what the listener heard, and how
/// many steps started late ([`real_time`]).
pub fn speak_through(speaker: &Client, listener: &Client, speech: &[f32]) -> (Vec<f32>, usize) {
    const CHUNK: usize = 480;
    let steps = speech.len().div_ceil(CHUNK) + 100;
    let mut heard = Vec::with_capacity(steps * CHUNK);
    let mut input = vec![0.0f32; CHUNK];
    let mut out = vec![0.0f32; CHUNK];
    let late_steps = real_time(steps, |i| {
        input.fill(0.0);
        if let Some(s) = speech.get(i * CHUNK..) {
            let n = s.len().min(CHUNK);
            input[..n].copy_from_slice(&s[..n]);
        }
        speaker.push_capture(&input, RATE, 1).expect("push");
        listener.pull_playback(&mut out, RATE, 1).expect("pull");
        heard.extend_from_slice(&out);
    });
    (heard, late_steps)
}

/// Runs `steps` steps of 10 ms in real time, each calling `step(i)` at `start + i * 10 ms` (or
/// at once when behind, so the audio clock keeps up as a game's audio thread must). Returns
/// how many steps started more than 5 ms late: the machine's scheduling noise.
pub fn real_time(steps: usize, step: impl FnMut(usize)) -> usize {
    real_time_phased(steps, Duration::ZERO, step, |_| {})
}

/// Like [`real_time`] with two calls per step: `first(i)` at `start + i * 10 ms`, `second(i)`
/// `phase` later (right after `first` when `phase` is zero). Two members' audio threads are
/// not in step; `phase` says how far apart they are.
pub fn real_time_phased(
    steps: usize,
    phase: Duration,
    first: impl FnMut(usize),
    second: impl FnMut(usize),
) -> usize {
    real_time_phased_from(Instant::now(), steps, phase, first, second)
}

/// [`real_time`] on a clock started at `start`: audio threads that share one start.
pub fn real_time_from(start: Instant, steps: usize, step: impl FnMut(usize)) -> usize {
    real_time_phased_from(start, steps, Duration::ZERO, step, |_| {})
}

fn real_time_phased_from(
    start: Instant,
    steps: usize,
    phase: Duration,
    mut first: impl FnMut(usize),
    mut second: impl FnMut(usize),
) -> usize {
    let mut late = 0;
    let mut wait_until = |due: Instant| {
        let now = Instant::now();
        if now > due + Duration::from_millis(5) {
            late += 1;
        }
        std::thread::sleep(due.saturating_duration_since(now));
    };
    for i in 0..steps {
        let due = start + STEP * i as u32;
        wait_until(due);
        first(i);
        if !phase.is_zero() {
            wait_until(due + phase);
        }
        second(i);
    }
    late
}

// ---------------------------------------------------------------------------------------------
// CPU clocks
// ---------------------------------------------------------------------------------------------

/// CPU time of the calling thread in nanoseconds: the first field of
/// `/proc/thread-self/schedstat` (the scheduler's exact run time, not tick-sampled). The
/// kernel adds the running slice to it when the thread is switched out, so yield first.
pub fn thread_cpu_ns() -> u64 {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux with schedstats)");
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .expect("schedstat run time")
}

/// User + system CPU time of the whole process, in seconds, from `/proc/self/stat` (clock
/// ticks of 1/100 s, Linux's USER_HZ: read it over runs of several seconds).
pub fn process_cpu_s() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let after = &text[text.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    (utime + stime) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// The machine, for the record: CPU model, cores, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} x {cpu}, Linux {kernel}")
}

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// The 1, 5 and 15 minute load averages: on a shared machine, how busy it was around a run.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// xorshift64*: deterministic, so every run feeds the same audio.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Speech-like audio at `rate`: a harmonic voice (1/k roll-off, a formant near 600 Hz) whose
/// pitch wanders at random around `base_hz`, cut into syllables of 120-320 ms with 20-70 ms
/// gaps (short enough that the VAD's 300 ms hold keeps one talkspurt going). The random pitch
/// and syllable lengths make its cross-correlation peak unique: no ambiguity at multiples of a
/// pitch period, so alignment finds the true delay.
pub fn voice(seconds: f64, rate: u32, base_hz: f64, seed: u64) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    let mut rng = Rng::new(seed);
    let sr = f64::from(rate);
    let mut out = Vec::with_capacity(n);
    let (mut phase, mut pitch, mut pitch_goal) = (0.0f64, base_hz, base_hz);
    let mut syllable_left = 0usize;
    let mut syllable_len = 1usize;
    let mut gap_left = 0usize;
    for i in 0..n {
        if i % (rate as usize / 50) == 0 {
            pitch_goal = base_hz * rng.range(0.8, 1.25);
        }
        pitch += (pitch_goal - pitch) * 0.0005;
        phase += 2.0 * std::f64::consts::PI * pitch / sr;
        if phase > 2.0 * std::f64::consts::PI {
            phase -= 2.0 * std::f64::consts::PI;
        }
        if syllable_left == 0 && gap_left == 0 {
            syllable_len = (rng.range(0.12, 0.32) * sr) as usize;
            syllable_left = syllable_len;
            gap_left = (rng.range(0.02, 0.07) * sr) as usize;
        }
        let envelope = if syllable_left > 0 {
            let pos = 1.0 - syllable_left as f64 / syllable_len as f64;
            syllable_left -= 1;
            (std::f64::consts::PI * pos).sin().powf(0.6)
        } else {
            gap_left -= 1;
            0.0
        };
        let mut s = 0.0;
        let mut k = 1.0;
        while k * pitch < 4_000.0 && k < 24.0 {
            let formant = 1.0 + 1.5 * (-((k * pitch - 600.0) / 400.0).powi(2)).exp();
            s += formant / k * (k * phase).sin();
            k += 1.0;
        }
        out.push((0.12 * envelope * s) as f32);
    }
    out
}

pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

// ---------------------------------------------------------------------------------------------
// Alignment
// ---------------------------------------------------------------------------------------------

fn correlation_at(reference: &[f32], output: &[f32], lag: usize) -> f64 {
    let Some(o) = output.get(lag..lag + reference.len()) else {
        return f64::MIN;
    };
    let (mut ro, mut rr, mut oo) = (0.0f64, 0.0f64, 0.0f64);
    for (&r, &x) in reference.iter().zip(o) {
        ro += f64::from(r) * f64::from(x);
        rr += f64::from(r) * f64::from(r);
        oo += f64::from(x) * f64::from(x);
    }
    if rr == 0.0 || oo == 0.0 {
        0.0
    } else {
        ro / (rr * oo).sqrt()
    }
}

/// The delay of `output` against `reference[start..start + len]`: the lag in `lags` (samples)
/// where the normalised cross-correlation peaks, and its value. Searched first on both signals
/// averaged over blocks of 6 samples (the voice has little energy above 4 kHz, so the peak
/// survives), then sample by sample around the best block lag.
pub fn delay_of(
    reference: &[f32],
    output: &[f32],
    start: usize,
    len: usize,
    lags: std::ops::Range<usize>,
) -> Option<(usize, f64)> {
    const D: usize = 6;
    let r = reference.get(start..start + len)?;
    let out = output.get(start..)?;
    let decimate = |x: &[f32]| -> Vec<f32> {
        x.chunks_exact(D)
            .map(|c| c.iter().sum::<f32>() / D as f32)
            .collect()
    };
    let (rd, od) = (decimate(r), decimate(out));
    let mut coarse = (lags.start, f64::MIN);
    for lag in lags.start.div_ceil(D)..lags.end.div_ceil(D) {
        let c = correlation_at(&rd, &od, lag);
        if c > coarse.1 {
            coarse = (lag * D, c);
        }
    }
    let mut best = (0usize, f64::MIN);
    for lag in coarse.0.saturating_sub(2 * D).max(lags.start)..(coarse.0 + 2 * D).min(lags.end) {
        let c = correlation_at(r, out, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    (best.1 > f64::MIN).then_some(best)
}

// ---------------------------------------------------------------------------------------------
// WAV files (16-bit PCM or 32-bit float in, 32-bit float out)
// ---------------------------------------------------------------------------------------------

/// Writes `out/manifest.json`, which `scripts/pesq_score.py score` reads: each WAV written with
/// its method, loss rate, seed and details.
pub fn write_manifest(out: &Path, frame_ms: u32, files: Vec<serde_json::Value>) {
    let manifest = serde_json::json!({
        "rate": RATE,
        "frameMs": frame_ms,
        "machine": machine(),
        "files": files,
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .expect("manifest");
    println!(
        "\nwrote {} and the WAVs; score them with scripts/pesq_score.py score --dir {}",
        out.join("manifest.json").display(),
        out.display()
    );
}

/// The speech a quality bench runs on: `--speech FILE` (48 kHz mono, as
/// `scripts/pesq_score.py prepare` writes it), or else `synthetic_s` seconds of the synthetic
/// voice between half-second silences, written to `out/reference.wav` for the scorer.
pub fn speech_from_args(args: &Args, out: &Path, synthetic_s: f64) -> Vec<f32> {
    match args.value("--speech") {
        Some(p) => {
            let (rate, channels, s) = read_wav(Path::new(&p));
            assert!(
                rate == RATE && channels == 1,
                "{p}: need 48 kHz mono, got {rate} Hz x {channels}"
            );
            s
        }
        None => {
            let mut s = vec![0.0; RATE as usize / 2];
            s.extend(voice(synthetic_s, RATE, 140.0, 1));
            s.extend(vec![0.0; RATE as usize / 2]);
            write_wav(&out.join("reference.wav"), RATE, 1, &s);
            s
        }
    }
}

pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data_len = (samples.len() * 4) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(channels) * 4).to_le_bytes());
    b.extend_from_slice(&(channels * 4).to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// (rate, channels, interleaved samples).
pub fn read_wav(path: &Path) -> (u32, u16, Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE",
        "{}: not a WAV file",
        path.display()
    );
    let (mut format, mut channels, mut rate, mut bits) = (0u16, 0u16, 0u32, 0u16);
    let mut pos = 12;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &b[pos + 8..(pos + 8 + len).min(b.len())];
        if id == b"fmt " {
            format = u16::from_le_bytes([body[0], body[1]]);
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            bits = u16::from_le_bytes([body[14], body[15]]);
            if format == 0xFFFE {
                format = u16::from_le_bytes([body[24], body[25]]); // WAVE_FORMAT_EXTENSIBLE
            }
        } else if id == b"data" {
            let samples = match (format, bits) {
                (1, 16) => body
                    .chunks_exact(2)
                    .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                    .collect(),
                (3, 32) => body
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                _ => panic!(
                    "{}: unsupported WAV format {format} with {bits} bits",
                    path.display()
                ),
            };
            return (rate, channels, samples);
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

// ---------------------------------------------------------------------------------------------
// A UDP relay between one client and the server that counts datagrams and can drop them
// ---------------------------------------------------------------------------------------------

/// Datagrams and bytes (UDP payload: the QUIC packet) seen in each direction.
#[derive(Debug, Default)]
pub struct Counters {
    pub up_datagrams: AtomicU64,
    pub up_bytes: AtomicU64,
    pub up_dropped: AtomicU64,
    pub down_datagrams: AtomicU64,
    pub down_bytes: AtomicU64,
    pub down_dropped: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub up_datagrams: u64,
    pub up_bytes: u64,
    pub up_dropped: u64,
    pub down_datagrams: u64,
    pub down_bytes: u64,
    pub down_dropped: u64,
}

impl Counters {
    pub fn get(&self) -> Count {
        Count {
            up_datagrams: self.up_datagrams.load(Ordering::SeqCst),
            up_bytes: self.up_bytes.load(Ordering::SeqCst),
            up_dropped: self.up_dropped.load(Ordering::SeqCst),
            down_datagrams: self.down_datagrams.load(Ordering::SeqCst),
            down_bytes: self.down_bytes.load(Ordering::SeqCst),
            down_dropped: self.down_dropped.load(Ordering::SeqCst),
        }
    }
}

impl std::ops::Sub for Count {
    type Output = Count;
    fn sub(self, o: Count) -> Count {
        Count {
            up_datagrams: self.up_datagrams - o.up_datagrams,
            up_bytes: self.up_bytes - o.up_bytes,
            up_dropped: self.up_dropped - o.up_dropped,
            down_datagrams: self.down_datagrams - o.down_datagrams,
            down_bytes: self.down_bytes - o.down_bytes,
            down_dropped: self.down_dropped - o.down_dropped,
        }
    }
}

/// Drops datagrams in one direction: each with probability `rate`, independent draws from a
/// seeded generator.
struct Dropper {
    rate: f64,
    rng: Rng,
}

impl Dropper {
    fn none() -> Dropper {
        Dropper {
            rate: 0.0,
            rng: Rng::new(1),
        }
    }

    fn drops(&mut self) -> bool {
        self.rate > 0.0 && self.rng.unit() < self.rate
    }
}

/// Relays one client's UDP to the server. Counts everything, and drops datagrams at random in
/// either direction (none until [`Proxy::set_uplink_loss`] or [`Proxy::set_loss`]). Nothing is
/// delayed: loopback timing is kept.
pub struct Proxy {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    up_loss: Arc<Mutex<Dropper>>,
    down_loss: Arc<Mutex<Dropper>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn start(relay: &Relay) -> Proxy {
        let upstream = relay.addr();
        relay.rt.block_on(async move {
            let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
            back.connect(upstream).await.unwrap();
            let addr = front.local_addr().unwrap();
            let counters = Arc::new(Counters::default());
            let up_loss = Arc::new(Mutex::new(Dropper::none()));
            let down_loss = Arc::new(Mutex::new(Dropper::none()));
            let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
            let down = {
                let (front, back, counters, client, loss) = (
                    front.clone(),
                    back.clone(),
                    counters.clone(),
                    client.clone(),
                    down_loss.clone(),
                );
                async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = back.recv(&mut buf).await {
                        counters.down_datagrams.fetch_add(1, Ordering::Relaxed);
                        counters.down_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if loss.lock().unwrap().drops() {
                            counters.down_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let to = *client.lock().unwrap();
                        if let Some(to) = to {
                            let _ = front.send_to(&buf[..n], to).await;
                        }
                    }
                }
            };
            let up = {
                let (counters, loss) = (counters.clone(), up_loss.clone());
                async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok((n, from)) = front.recv_from(&mut buf).await {
                        *client.lock().unwrap() = Some(from);
                        counters.up_datagrams.fetch_add(1, Ordering::Relaxed);
                        counters.up_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if loss.lock().unwrap().drops() {
                            counters.up_dropped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            let _ = back.send(&buf[..n]).await;
                        }
                    }
                }
            };
            let task = tokio::spawn(async move {
                tokio::join!(up, down);
            });
            Proxy {
                addr,
                counters,
                up_loss,
                down_loss,
                task,
            }
        })
    }

    /// Drops the client's datagrams to the server with probability `p`.
    pub fn set_uplink_loss(&self, p: f64, seed: u64) {
        self.set_loss(p, 0.0, seed);
    }

    /// Drops the client's datagrams to the server with probability `up` and the server's to the
    /// client with probability `down`, each direction from its own generator.
    pub fn set_loss(&self, up: f64, down: f64, seed: u64) {
        *self.up_loss.lock().unwrap() = Dropper {
            rate: up,
            rng: Rng::new(seed),
        };
        *self.down_loss.lock().unwrap() = Dropper {
            rate: down,
            rng: Rng::new(seed ^ 0x5eed_d0e5),
        };
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
