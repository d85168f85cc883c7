//! The soak (issue 17): a 10-member voice room in real time for an hour, the relay in its own
//! process (`voipchat-server`), every member's audio clock off by up to ±0.5 % from the wall
//! clock (1 % between the fastest and the slowest member), reporting mouth-to-ear delay,
//! memory of the clients and of the relay, and loss and concealment, at minute 1 and at the
//! end.
//!
//! Each member is an engine in External audio mode, pushing its microphone and pulling its
//! mix every 10 ms of wall time, but `480 x rate` samples of its own clock each time, as a
//! game whose audio device runs fast or slow does. They talk in 30 s cycles, in wall time:
//!
//! - `m0` (the slowest clock) says a 12 s talkspurt of a speech-like voice from 0 s, and `m9`
//!   (the fastest) one from 15 s: each the other's worst-drift listener, in both directions
//!   (the listener's playout running ahead of the speaker, and behind it);
//! - `m1`..`m8` each say 1.5 s somewhere in the cycle, so the room carries other voices too.
//!
//! `m9` pulls `m0` alone (and `m0` pulls `m9`) as a game that spatialises voices does; the
//! delay is the cross-correlation lag between what the speaker's clock captured and what the
//! listener's clock played from the same wall instant on (the median of 0.5 s windows), early
//! in a talkspurt (1-3 s in) and late in it (8-11 s in, after 8 s of drift). Marks are the
//! cycle after minute 1 and the last whole cycle of the run.
//!
//! `cargo bench --bench soak -- [--minutes 60] [--members 10] [--drift-pct 1.0]`
//! (`scripts/soak.sh` runs the hour; without `--bench`, as `cargo test --benches` does, it
//! runs 2 minutes).

mod common;

use common::*;
use voipchat::load::{proc, spawn_server};
use voipchat::{Client, RoomType};

const CYCLE_S: f64 = 30.0;
/// The two measured talkers' talkspurts, and the others'.
const TALK_S: f64 = 12.0;
const OTHER_TALK_S: f64 = 1.5;
/// Delay windows within a measured talkspurt, seconds from its start: 0.5 s each, short
/// enough that most hold no drift correction (at 1 % drift the jitter buffer drops or
/// conceals a frame every 2 s), judged by their median.
const EARLY: [f64; 4] = [1.0, 1.5, 2.0, 2.5];
const LATE: [f64; 6] = [8.0, 8.5, 9.0, 9.5, 10.0, 10.5];
const WINDOW_S: f64 = 0.5;
/// Lags searched: up to 300 ms.
const MAX_LAG: usize = 300 * 48;

struct Member {
    name: String,
    client: Client,
    /// Its audio clock's rate against the wall clock.
    rate: f64,
    /// What it says: `(start in cycle, voice)`.
    talk: (f64, Vec<f32>),
}

impl Member {
    /// Samples due this step: its clock's count at the end of wall step `step`, less `so_far`.
    fn due(&self, step: u64, so_far: u64) -> usize {
        ((step + 1) as f64 * 480.0 * self.rate).floor() as usize - so_far as usize
    }

    /// What the member says at sample `j` of its own clock: its voice where the wall time
    /// of that sample falls in its talkspurt, linearly interpolated.
    fn says(&self, j: u64) -> f32 {
        let t = j as f64 / (f64::from(RATE) * self.rate);
        let into = t % CYCLE_S - self.talk.0;
        let voice = &self.talk.1;
        let x = into * f64::from(RATE);
        if x < 0.0 || x + 1.0 >= voice.len() as f64 {
            return 0.0;
        }
        let i = x as usize;
        let f = (x - i as f64) as f32;
        voice[i] * (1.0 - f) + voice[i + 1] * f
    }
}

/// One listener's recording of one speaker heard alone, over one cycle, on its own clock.
struct Recording {
    /// The listener's sample index where the recording starts.
    from: u64,
    samples: Vec<f32>,
}

impl Recording {
    /// Allocated and touched up front, so recording adds nothing to the memory measured.
    fn new(from: u64, len: usize) -> Recording {
        let mut samples = Vec::with_capacity(len);
        samples.resize(len, 0.0);
        samples.clear();
        Recording { from, samples }
    }

    /// Keeps `chunk`, the listener's samples from `at` on, if the recording has begun and
    /// has room; its start moves to the first chunk's.
    fn record(&mut self, at: u64, chunk: &[f32]) {
        if at < self.from || self.samples.len() + chunk.len() > self.samples.capacity() {
            return;
        }
        if self.samples.is_empty() {
            self.from = at;
        }
        self.samples.extend_from_slice(chunk);
    }
}

/// The relay's process, stopped however the bench ends.
struct RelayProcess(std::process::Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    received: u64,
    lost: u64,
    concealed: u64,
    late: u64,
    dropped_for_drift: u64,
}

/// Sums what every member's jitter buffers counted for every other member.
fn room_totals(members: &[std::sync::Arc<Member>]) -> Totals {
    let mut t = Totals::default();
    for m in members {
        let s = stats(&m.client);
        let Some(remotes) = s["members"].as_object() else {
            continue;
        };
        for r in remotes.values() {
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            t.received += n("packetsReceived");
            t.lost += n("packetsLost");
            t.concealed += n("packetsConcealed");
            t.late += n("packetsLate");
            t.dropped_for_drift += n("framesDroppedForDrift");
        }
    }
    t
}

/// A line of progress: memory and the room's counts so far.
fn progress(wall_s: f64, members: &[std::sync::Arc<Member>], relay_pid: &str) {
    let t = room_totals(members);
    println!(
        "  {:>5.1} min: clients {} MiB, relay {} MiB; room: {} received, {} lost, {} concealed, {} dropped for drift",
        wall_s / 60.0,
        mib(proc::rss_bytes("self")),
        mib(proc::rss_bytes(relay_pid)),
        t.received,
        t.lost,
        t.concealed,
        t.dropped_for_drift
    );
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1_048_576.0))
}

/// The mouth-to-ear delay (ms, wall clock) of `speaker`'s talkspurt from wall second
/// `talk_from` in `heard` (recorded by a listener at clock rate `listener_rate`), over the
/// windows starting `windows` seconds into it.
///
/// The SDK plays a member's samples one for one on the listener's clock, correcting drift
/// by whole frames, so the match is between the two members' own samples, not their wall
/// times: a window of what the speaker's clock captured is sought in what the listener's
/// clock played from the same wall instant on, and the lag found, in listener samples, is
/// the delay.
fn delay_ms(
    speaker: &Member,
    talk_from: f64,
    heard: &Recording,
    listener_rate: f64,
    windows: &[f64],
) -> Option<Delay> {
    let rate = f64::from(RATE);
    let len = (WINDOW_S * rate) as usize;
    let mut found: Vec<f64> = windows
        .iter()
        .filter_map(|&w| {
            let said_from = ((talk_from + w) * rate * speaker.rate) as u64;
            let said: Vec<f32> = (0..len as u64)
                .map(|j| speaker.says(said_from + j))
                .collect();
            let heard_from = (said_from as f64 * listener_rate / speaker.rate) as u64;
            let at = heard_from.checked_sub(heard.from)? as usize;
            let played = heard.samples.get(at..at + len + MAX_LAG)?;
            let (lag, correlation) = delay_of(&said, played, 0, len, 0..MAX_LAG)?;
            (correlation >= MIN_CORRELATION).then_some(lag as f64 / (48.0 * listener_rate))
        })
        .collect();
    found.sort_by(f64::total_cmp);
    (!found.is_empty()).then(|| Delay {
        ms: found[found.len() / 2],
        matched: found.len(),
        windows: windows.len(),
    })
}

/// The median delay of the windows where the voice was found, and how many were.
#[derive(Debug, Clone, Copy)]
struct Delay {
    ms: f64,
    matched: usize,
    windows: usize,
}

/// Below this correlation a window's peak is not the voice (it was not heard, or not whole).
const MIN_CORRELATION: f64 = 0.5;

/// A delay counts when the voice was found in at least half its windows.
fn valid(d: Option<Delay>) -> Option<f64> {
    d.filter(|d| 2 * d.matched >= d.windows).map(|d| d.ms)
}

#[derive(Debug, Default, Clone)]
struct Mark {
    minute: f64,
    /// (early, late) delay, ms, for m0 -> m9 and m9 -> m0.
    slow_to_fast: (Option<Delay>, Option<Delay>),
    fast_to_slow: (Option<Delay>, Option<Delay>),
    client_rss: Option<u64>,
    relay_rss: Option<u64>,
    totals: Totals,
}

fn show(d: Option<Delay>) -> String {
    match d {
        Some(d) if valid(Some(d)).is_some() => {
            format!("{:.1} ({} of {})", d.ms, d.matched, d.windows)
        }
        Some(d) => format!("n/a (found in {} of {} windows)", d.matched, d.windows),
        None => "n/a (not found)".into(),
    }
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let minutes: f64 = args.get("--minutes", if bench { 60.0 } else { 2.0 });
    let n: usize = args.get("--members", 10);
    let drift_pct: f64 = args.get("--drift-pct", 1.0);
    assert!(n >= 2, "--members: at least 2");
    let cycles = (minutes * 60.0 / CYCLE_S).floor() as u64;
    assert!(
        cycles >= 4,
        "--minutes: at least {} for two marks",
        4.0 * CYCLE_S / 60.0
    );
    println!(
        "soak: {n} members, {minutes} min, audio clocks spread over {drift_pct} % (m0 slowest, m{} fastest)",
        n - 1
    );
    println!("machine: {}; load average at start: {}", machine(), load());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_voipchat-server"));
    let (relay, addr, pin) =
        spawn_server(binary, APP_ID, APP_SECRET, n, &[]).expect("voipchat-server starts");
    let relay = RelayProcess(relay);
    let relay_pid = relay.0.id().to_string();

    let members: Vec<Member> = (0..n)
        .map(|i| {
            let name = format!("m{i}");
            let client = join_at(&rt, addr, &pin, &name, "soak-room", RoomType::Voice, 20);
            let rate = 1.0 + drift_pct / 100.0 * (i as f64 / (n - 1) as f64 - 0.5);
            let base_hz = 110.0 + 15.0 * i as f64;
            let talk = if i == 0 {
                (0.0, voice(TALK_S, RATE, base_hz, 1))
            } else if i == n - 1 {
                (CYCLE_S / 2.0, voice(TALK_S, RATE, base_hz, 2))
            } else {
                let start = (i as f64 * 3.1) % (CYCLE_S - OTHER_TALK_S);
                (start, voice(OTHER_TALK_S, RATE, base_hz, 10 + i as u64))
            };
            Member {
                name,
                client,
                rate,
                talk,
            }
        })
        .collect();
    let (slow, fast) = (0, n - 1);
    let (slow_start, fast_start) = (members[slow].talk.0, members[fast].talk.0);
    let (slow_rate, fast_rate) = (members[slow].rate, members[fast].rate);
    let steps_per_cycle = (CYCLE_S * 100.0) as u64;
    let mark_cycles = [(60.0 / CYCLE_S).ceil() as u64, cycles - 1];
    // Who hears whom alone, and the recordings of each mark's cycle, on the listener's clock.
    let cycle_len = (CYCLE_S * f64::from(RATE) * 1.01) as usize;
    let listens: Vec<Option<(String, Vec<Recording>)>> = (0..n)
        .map(|i| {
            let speaker = if i == fast {
                slow
            } else if i == slow {
                fast
            } else {
                return None;
            };
            let recordings = mark_cycles
                .iter()
                .map(|&c| {
                    let from = c as f64 * CYCLE_S * f64::from(RATE) * members[i].rate;
                    Recording::new(from as u64, cycle_len)
                })
                .collect();
            Some((members[speaker].name.clone(), recordings))
        })
        .collect();

    // Each member on an audio thread of its own, as ten games on ten machines; all started
    // on one clock.
    let members: Vec<std::sync::Arc<Member>> =
        members.into_iter().map(std::sync::Arc::new).collect();
    let total_steps = cycles * steps_per_cycle;
    let started = std::time::Instant::now() + std::time::Duration::from_millis(200);
    let threads: Vec<_> = members
        .iter()
        .cloned()
        .zip(listens)
        .map(|(m, mut listen)| {
            std::thread::spawn(move || {
                let mut push = vec![0.0f32; 1024];
                let mut pull = vec![0.0f32; 1024];
                let mut samples = 0u64;
                let late = real_time_from(started, total_steps as usize, |step| {
                    let k = m.due(step as u64, samples);
                    for (j, s) in push[..k].iter_mut().enumerate() {
                        *s = m.says(samples + j as u64);
                    }
                    let _ = m.client.push_capture(&push[..k], RATE, 1);
                    let _ = m.client.pull_playback(&mut pull[..k], RATE, 1);
                    if let Some((speaker, recordings)) = listen.as_mut() {
                        let _ = m.client.pull_member(speaker, &mut pull[..k], RATE, 1);
                        for r in recordings.iter_mut() {
                            r.record(samples, &pull[..k]);
                        }
                    }
                    samples += k as u64;
                });
                (late, listen.map(|(_, r)| r))
            })
        })
        .collect();

    // Memory and counts at each mark's start, and every five minutes.
    let mut marks: Vec<Mark> = Vec::new();
    let mut report_at = 5.0 * 60.0;
    let wait_until = |wall_s: f64| {
        let due = started + std::time::Duration::from_secs_f64(wall_s);
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
    };
    for &c in &mark_cycles {
        let mark_at = c as f64 * CYCLE_S;
        while report_at < mark_at {
            wait_until(report_at);
            progress(report_at, &members, &relay_pid);
            report_at += 5.0 * 60.0;
        }
        wait_until(mark_at);
        marks.push(Mark {
            minute: mark_at / 60.0,
            client_rss: proc::rss_bytes("self"),
            relay_rss: proc::rss_bytes(&relay_pid),
            totals: room_totals(&members),
            ..Mark::default()
        });
    }
    let mut late_steps = Vec::new();
    let mut heard: Vec<Vec<Recording>> = Vec::new();
    for t in threads {
        let (late, recordings) = t.join().expect("audio thread");
        late_steps.push(late);
        if let Some(r) = recordings {
            heard.push(r);
        }
    }
    // heard[0]: m0's recordings of m9 (m0 is thread 0); heard[1]: m9's of m0.
    let (slow_heard, fast_heard) = (&heard[0], &heard[1]);
    for (k, mark) in marks.iter_mut().enumerate() {
        let wall = mark_cycles[k] as f64 * CYCLE_S;
        let pair = |speaker: &Member, from: f64, heard: &Recording, rate: f64| {
            (
                delay_ms(speaker, wall + from, heard, rate, &EARLY),
                delay_ms(speaker, wall + from, heard, rate, &LATE),
            )
        };
        mark.slow_to_fast = pair(&members[slow], slow_start, &fast_heard[k], fast_rate);
        mark.fast_to_slow = pair(&members[fast], fast_start, &slow_heard[k], slow_rate);
    }
    let end_totals = room_totals(&members);
    let first_totals = marks[0].totals;
    let late_steps: usize = late_steps.iter().sum();
    for m in &members {
        let _ = rt.block_on(m.client.exit());
    }
    drop(relay);

    println!(
        "\nreal-time steps started over 5 ms late, all members: {late_steps} of {}",
        total_steps as usize * n
    );
    println!(
        "\n| mark | m0 -> m{fast} delay, early / late in a talkspurt, ms | m{fast} -> m0, ms | clients' RSS, MiB ({n} in this process) | relay RSS, MiB | room since start: received, lost, concealed, late, dropped for drift |"
    );
    println!("|---|---|---|---|---|---|");
    for m in &marks {
        println!(
            "| minute {:.1} | {} / {} | {} / {} | {} | {} | {}, {}, {}, {}, {} |",
            m.minute,
            show(m.slow_to_fast.0),
            show(m.slow_to_fast.1),
            show(m.fast_to_slow.0),
            show(m.fast_to_slow.1),
            mib(m.client_rss),
            mib(m.relay_rss),
            m.totals.received,
            m.totals.lost,
            m.totals.concealed,
            m.totals.late,
            m.totals.dropped_for_drift
        );
    }
    let d = |a: u64, b: u64| b.saturating_sub(a);
    println!(
        "\nBetween the first mark and the end: {} received, {} lost, {} concealed, {} late, {} dropped for drift.",
        d(first_totals.received, end_totals.received),
        d(first_totals.lost, end_totals.lost),
        d(first_totals.concealed, end_totals.concealed),
        d(first_totals.late, end_totals.late),
        d(first_totals.dropped_for_drift, end_totals.dropped_for_drift)
    );
    if let [first, .., last] = marks.as_slice() {
        let moved = |a: Option<Delay>, b: Option<Delay>| {
            valid(a)
                .zip(valid(b))
                .map_or("n/a".into(), |(a, b)| format!("{:+.1}", b - a))
        };
        let grew = |a: Option<u64>, b: Option<u64>| {
            a.zip(b).map_or("n/a".into(), |(a, b)| {
                format!("{:+.1} %", (b as f64 / a as f64 - 1.0) * 100.0)
            })
        };
        println!(
            "Last mark against the first: delay m0 -> m{fast} {} / {} ms, m{fast} -> m0 {} / {} ms; clients' memory {}, relay's {}.",
            moved(first.slow_to_fast.0, last.slow_to_fast.0),
            moved(first.slow_to_fast.1, last.slow_to_fast.1),
            moved(first.fast_to_slow.0, last.fast_to_slow.0),
            moved(first.fast_to_slow.1, last.fast_to_slow.1),
            grew(first.client_rss, last.client_rss),
            grew(first.relay_rss, last.relay_rss),
        );
    }
    println!("load average at end: {}", load());
}
