//! The cpal device path for real, against a PulseAudio null sink: what is played into the sink
//! comes back out of its monitor source, through ALSA's pulse plugin, cpal and our callbacks.
//!
//! These tests need the private PulseAudio server that `tests/audio_device.sh` starts (it sets
//! `VOIPCHAT_PULSE_NULL_SINK=1`); without it each test prints why it skipped and passes, so a
//! plain `cargo test` on a machine without sound still runs green.
//!
//! Timing is deliberately loose: the machine is shared and small, and PulseAudio adds its own
//! buffering. Assertions are about what must happen eventually (a tone arrives, a counter
//! moves), with deadlines of seconds, never about how fast.

use std::time::{Duration, Instant};

use voipchat::audio::device::{
    default_input_device_name, default_output_device_name, input_device_names, output_device_names,
    CaptureDevice, DeviceFormat, PlaybackDevice,
};
use voipchat::ErrorCode;

/// True when the null sink is there; otherwise says why the test is skipped.
fn null_sink_available() -> bool {
    if std::env::var("VOIPCHAT_PULSE_NULL_SINK").as_deref() == Ok("1") {
        true
    } else {
        println!("skipped: no PulseAudio null sink (run tests/audio_device.sh)");
        false
    }
}

const TONE_HZ: f64 = 1_000.0;

/// Writes `frames` frames of a 1 kHz tone, starting at frame `*pos`, into as much of the
/// producer as is free. Returns the frames written.
fn write_tone(
    producer: &mut rtrb::Producer<f32>,
    format: DeviceFormat,
    pos: &mut u64,
    max_frames: u64,
) -> u64 {
    let channels = usize::from(format.channels);
    let frames = ((producer.slots() / channels) as u64).min(max_frames);
    for _ in 0..frames {
        let t = *pos as f64 / f64::from(format.sample_rate);
        let s = (0.5 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as f32;
        for _ in 0..channels {
            producer.push(s).expect("slots were free");
        }
        *pos += 1;
    }
    frames
}

/// Moves everything available from the consumer into `out`, first channel only.
fn drain_first_channel(consumer: &mut rtrb::Consumer<f32>, channels: usize, out: &mut Vec<f32>) {
    let n = consumer.slots() - consumer.slots() % channels;
    if let Ok(chunk) = consumer.read_chunk(n) {
        let (a, b) = chunk.as_slices();
        out.extend(a.iter().chain(b).step_by(channels));
        chunk.commit_all();
    }
}

/// Goertzel power of `freq` in `x` (normalized by length).
fn goertzel(x: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f64).powi(2)
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn device_lists_are_not_empty_and_include_the_defaults() {
    if !null_sink_available() {
        return;
    }
    let inputs = input_device_names();
    let outputs = output_device_names();
    println!("inputs: {inputs:?}\noutputs: {outputs:?}");
    assert!(!inputs.is_empty(), "no input devices");
    assert!(!outputs.is_empty(), "no output devices");
    let default_in = default_input_device_name().expect("a default input device");
    let default_out = default_output_device_name().expect("a default output device");
    assert!(
        inputs.contains(&default_in),
        "{default_in:?} not in {inputs:?}"
    );
    assert!(
        outputs.contains(&default_out),
        "{default_out:?} not in {outputs:?}"
    );
}

#[test]
fn a_tone_played_into_the_null_sink_is_captured_from_its_monitor() {
    if !null_sink_available() {
        return;
    }
    // Capture first, so the monitor is already recording when the tone starts.
    let (capture, mut consumer, in_format) = CaptureDevice::open(None, 48_000).unwrap();
    let (playback, mut producer, out_format) = PlaybackDevice::open(None, 9_600).unwrap();
    println!("capture {in_format:?}, playback {out_format:?}");
    assert!(in_format.sample_rate > 0 && in_format.channels > 0);
    assert!(out_format.sample_rate > 0 && out_format.channels > 0);
    let in_channels = usize::from(in_format.channels);

    // Play 1.2 s of tone, topping the ring up as the device drains it, while recording.
    let tone_frames = u64::from(out_format.sample_rate) * 6 / 5;
    let mut pos = 0u64;
    let mut captured = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while pos < tone_frames {
        let remaining = tone_frames - pos;
        write_tone(&mut producer, out_format, &mut pos, remaining);
        drain_first_channel(&mut consumer, in_channels, &mut captured);
        assert!(Instant::now() < deadline, "playback stalled at frame {pos}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the tail travel through Pulse's buffers.
    let tail = Instant::now() + Duration::from_millis(500);
    while Instant::now() < tail {
        drain_first_channel(&mut consumer, in_channels, &mut captured);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(capture.failed(), None);
    assert_eq!(playback.failed(), None);

    let rate = f64::from(in_format.sample_rate);
    println!(
        "captured {} samples ({:.2} s), rms {:.3}, overruns {}, underruns {}",
        captured.len(),
        captured.len() as f64 / rate,
        rms(&captured),
        capture.overruns(),
        playback.underruns()
    );
    // The loudest 0.5 s window holds the tone (the rest is the silence around it).
    let window = (rate / 2.0) as usize;
    assert!(
        captured.len() >= window,
        "captured only {} samples",
        captured.len()
    );
    let step = window / 10;
    let start = (0..=(captured.len() - window) / step)
        .map(|i| i * step)
        .max_by(|&a, &b| rms(&captured[a..a + window]).total_cmp(&rms(&captured[b..b + window])))
        .unwrap();
    let segment = &captured[start..start + window];
    let level = rms(segment);
    // A 0.5 amplitude sine is 0.354 RMS; allow for sink volume and resampling.
    assert!(level > 0.1, "captured RMS {level:.4}: no tone came back");

    // The peak of a 1 Hz-step Goertzel scan over 900..1100 Hz is the tone's frequency.
    let (peak_hz, peak_power) = (900..=1_100)
        .map(|f| (f64::from(f), goertzel(segment, rate, f64::from(f))))
        .fold((0.0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
    // Most of the segment's energy is at that frequency: a clean tone, not noise.
    let tone_share = 2.0 * peak_power / (level * level);
    println!(
        "peak {peak_hz} Hz, {:.0}% of the energy",
        tone_share * 100.0
    );
    assert!(
        (peak_hz - TONE_HZ).abs() <= TONE_HZ * 0.02,
        "captured tone at {peak_hz} Hz, played {TONE_HZ} Hz"
    );
    assert!(
        tone_share > 0.5,
        "only {:.0}% of the energy at {peak_hz} Hz",
        tone_share * 100.0
    );
}

#[test]
fn an_unknown_device_name_is_device_busy() {
    if !null_sink_available() {
        return;
    }
    let err = CaptureDevice::open(Some("voipchat no such microphone"), 4_800).unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceBusy);
    assert_eq!(err.code.as_i32(), -2);
    assert!(
        err.reason.contains("no input device named") && err.reason.contains("no such microphone"),
        "{}",
        err.reason
    );
    let err = PlaybackDevice::open(Some("voipchat no such speaker"), 4_800).unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceBusy);
    assert!(
        err.reason.contains("no output device named"),
        "{}",
        err.reason
    );
}

#[test]
fn devices_open_by_exact_name() {
    if !null_sink_available() {
        return;
    }
    let name = default_input_device_name().unwrap();
    let (capture, _consumer, _) = CaptureDevice::open(Some(&name), 4_800).unwrap();
    assert_eq!(capture.failed(), None);
    let name = default_output_device_name().unwrap();
    let (playback, _producer, _) = PlaybackDevice::open(Some(&name), 4_800).unwrap();
    assert_eq!(playback.failed(), None);
}

/// Polls `cond` every 10 ms until it holds or `secs` pass.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn capture_counts_overruns_when_the_ring_is_not_read() {
    if !null_sink_available() {
        return;
    }
    // 50 ms of ring, never read: it fills, then every further sample is dropped and counted.
    let (capture, mut consumer, format) = CaptureDevice::open(None, 2_400).unwrap();
    let capacity = 2_400 * usize::from(format.channels);
    assert!(
        eventually(10, || capture.overruns() > 0),
        "no overrun after 10 s unread"
    );
    assert_eq!(consumer.slots(), capacity, "a full ring before overruns");
    // Reading frees space: the ring refills, and the counter keeps its history.
    let before = capture.overruns();
    let chunk = consumer.read_chunk(capacity).unwrap();
    chunk.commit_all();
    assert!(eventually(10, || consumer.slots() > 0), "capture stalled");
    assert!(capture.overruns() >= before);
    assert_eq!(capture.failed(), None);
}

#[test]
fn playback_counts_underruns_when_the_ring_runs_dry() {
    if !null_sink_available() {
        return;
    }
    let (playback, mut producer, format) = PlaybackDevice::open(None, 9_600).unwrap();
    // Nothing written yet: the device plays silence and counts it. The first callback fills the
    // device buffer at once; PulseAudio's ALSA plugin may then wait up to a second before it
    // pulls steadily, so wait for a second pull before measuring anything.
    assert!(
        eventually(10, || playback.underruns() > 0),
        "no underrun after 10 s of an empty ring"
    );
    let first_fill = playback.underruns();
    assert!(
        eventually(10, || playback.underruns() > first_fill),
        "the device pulled once and never again"
    );
    // Keep the ring topped up for a second: the device drains it, and underruns, if the machine
    // is busy, stay a small fraction of what was played.
    let before = playback.underruns();
    let mut pos = 0u64;
    let mut written = 0u64;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        written += write_tone(&mut producer, format, &mut pos, u64::MAX);
        std::thread::sleep(Duration::from_millis(5));
    }
    let capacity = 9_600 * usize::from(format.channels);
    let played = written * u64::from(format.channels) - (capacity - producer.slots()) as u64;
    let new_underruns = playback.underruns() - before;
    println!("played {played} samples, {new_underruns} silent ones added");
    assert!(played > 0, "the device consumed nothing from a full ring");
    assert!(
        new_underruns < played / 4 + 4_800,
        "{new_underruns} underrun samples while {played} were played from a full ring"
    );
    // Then stop writing: underruns grow again.
    let after_feeding = playback.underruns();
    assert!(
        eventually(10, || playback.underruns() > after_feeding),
        "no underrun after the ring ran dry"
    );
    assert_eq!(playback.failed(), None);
}

#[test]
fn dropping_devices_stops_them_promptly() {
    if !null_sink_available() {
        return;
    }
    for _ in 0..3 {
        let started = Instant::now();
        let (capture, consumer, _) = CaptureDevice::open(None, 4_800).unwrap();
        let (playback, producer, _) = PlaybackDevice::open(None, 4_800).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(capture);
        drop(playback);
        // The ring ends outlive their devices harmlessly.
        assert!(producer.is_abandoned());
        assert!(consumer.is_abandoned());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "open, run and drop took {:?}",
            started.elapsed()
        );
    }
}

/// Runs last and alone: `tests/audio_device.sh` starts it in a second pass with the daemon's pid,
/// because it kills the sound server under two open streams.
#[test]
fn losing_the_sound_server_marks_both_devices_failed() {
    if !null_sink_available() {
        return;
    }
    let Ok(pid) = std::env::var("VOIPCHAT_PULSE_KILL_PID") else {
        println!("skipped: runs in the last pass of tests/audio_device.sh, which kills PulseAudio");
        return;
    };
    let (playback, _producer, _) = PlaybackDevice::open(None, 4_800).unwrap();
    let (capture, _consumer, _) = CaptureDevice::open(None, 4_800).unwrap();
    // Running streams: both counters move while nobody reads or writes.
    assert!(eventually(10, || playback.underruns() > 0 && capture.overruns() > 0));
    assert_eq!((playback.failed(), capture.failed()), (None, None));

    let killed = std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill {pid} failed");
    assert!(
        eventually(10, || playback.failed().is_some()
            && capture.failed().is_some()),
        "failure not reported: playback {:?}, capture {:?}",
        playback.failed(),
        capture.failed()
    );
    let reason = capture.failed().unwrap();
    println!(
        "capture: {reason}\nplayback: {}",
        playback.failed().unwrap()
    );
    assert!(reason.starts_with("input device failed"), "{reason}");

    // A failed device still drops promptly (its stream thread exits, cpal's worker stops).
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(playback);
        drop(capture);
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "dropping failed devices hung"
    );
}
