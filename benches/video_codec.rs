//! What one video stream costs: VP8 encode and decode time per frame, the share of one core a
//! 640x360@30 stream takes, bits on the wire and quality (PSNR-Y), through the SDK's own
//! wrappers (`video::vp8`) at the settings a call uses; and what preparing a camera frame costs
//! (scaling 1280x720 to 640x360, RGBA conversion both ways).
//!
//! The scene is synthetic but not easy: a textured gradient panning diagonally, two boxes
//! moving across it (one checkered, one flat), and mild sensor noise on every frame, so motion
//! search, the residual and rate control all have work. Single-threaded, as a call encodes.
//!
//! `cargo bench --bench video_codec -- [--frames N] [--kbps K]`

mod common;

use std::time::Instant;

use common::scene::scene;
use common::{load, machine, median, Args};
use voipchat::video::picture::{psnr_y, Picture};
use voipchat::video::vp8::{EncoderSettings, Vp8Decoder, Vp8Encoder};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 30;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Milliseconds per call of `f`, over `reps` calls: (median, p99).
fn time_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    (median(&times), percentile(&times, 0.99))
}

fn main() {
    let args = Args::parse();
    let bench = args.is_bench();
    let frames: usize = args.get("--frames", if bench { 300 } else { 30 });
    let kbps: u32 = args.get("--kbps", 800);
    println!("video_codec: {}; load {}", machine(), load());
    println!(
        "VP8 (libvpx, src/video/vp8.rs settings), {WIDTH}x{HEIGHT}@{FPS}, {frames} frames, \
         target {kbps} kbps CBR, one thread\n"
    );

    let pictures: Vec<Picture> = (0..frames).map(|t| scene(t, WIDTH, HEIGHT)).collect();
    let mut encoder = Vp8Encoder::new(EncoderSettings {
        width: WIDTH,
        height: HEIGHT,
        fps: FPS,
        target_kbps: kbps,
    })
    .expect("encoder");
    let mut decoder = Vp8Decoder::new().expect("decoder");
    let (mut encode_ms, mut decode_ms, mut psnr) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bytes, mut dropped, mut keyframes, mut first_keyframe_bytes) = (0usize, 0, 0, 0);
    for (t, picture) in pictures.iter().enumerate() {
        let pts = t as u64 * 1_000_000 / u64::from(FPS);
        let start = Instant::now();
        let frame = encoder.encode(picture, pts, false).expect("encode");
        encode_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let Some(frame) = frame else {
            dropped += 1;
            continue;
        };
        bytes += frame.data.len();
        if frame.keyframe {
            keyframes += 1;
            if t == 0 {
                first_keyframe_bytes = frame.data.len();
            }
        }
        let start = Instant::now();
        let decoded = decoder.decode(&frame.data).expect("decode");
        decode_ms.push(start.elapsed().as_secs_f64() * 1e3);
        psnr.push(psnr_y(picture, &decoded.expect("a picture")));
    }
    let seconds = frames as f64 / f64::from(FPS);
    let wire_kbps = bytes as f64 * 8.0 / seconds / 1000.0;
    let core_share =
        (encode_ms.iter().sum::<f64>() + decode_ms.iter().sum::<f64>()) / (seconds * 1e3) * 100.0;
    let min_psnr = psnr.iter().copied().fold(f64::INFINITY, f64::min);

    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| encode ms/frame: median, p99 | {:.3}, {:.3} |",
        median(&encode_ms),
        percentile(&encode_ms, 0.99)
    );
    println!(
        "| decode ms/frame: median, p99 | {:.3}, {:.3} |",
        median(&decode_ms),
        percentile(&decode_ms, 0.99)
    );
    println!("| encode + decode, share of one core at {FPS} fps | {core_share:.1} % |");
    println!("| on the wire (VP8 payload) | {wire_kbps:.0} kbps (target {kbps}) |");
    println!(
        "| PSNR-Y: mean, min | {:.2} dB, {:.2} dB |",
        mean(&psnr),
        min_psnr
    );
    println!(
        "| frames emitted, dropped by rate control, keyframes | {}, {dropped}, {keyframes} |",
        frames - dropped
    );
    println!("| first keyframe | {first_keyframe_bytes} bytes |");

    // Preparing a camera frame: what `voip_video_push_frame` does before encoding.
    let reps = if bench { 200 } else { 5 };
    let camera = scene(0, 1280, 720);
    let (scale, scale_p99) = time_ms(reps, || {
        std::hint::black_box(camera.scaled_to(WIDTH, HEIGHT));
    });
    // Sizes that are not exactly twice the send size take the general (weighted) path.
    let full_hd = scene(0, 1920, 1080);
    let (scale_3x, scale_3x_p99) = time_ms(reps, || {
        std::hint::black_box(full_hd.scaled_to(WIDTH, HEIGHT));
    });
    let (scale_odd, scale_odd_p99) = time_ms(reps, || {
        std::hint::black_box(camera.scaled_to(854, 480));
    });
    let mut rgba = Vec::new();
    camera.to_rgba(&mut rgba);
    let (from_rgba, from_rgba_p99) = time_ms(reps, || {
        std::hint::black_box(Picture::from_rgba(1280, 720, 1280 * 4, &rgba).expect("rgba"));
    });
    let small = camera.scaled_to(WIDTH, HEIGHT);
    let mut out = Vec::new();
    let (to_rgba, to_rgba_p99) = time_ms(reps, || {
        small.to_rgba(&mut out);
        std::hint::black_box(&out);
    });
    println!(
        "| scale 1280x720 -> 640x360 (I420): median, p99 | {scale:.3} ms, {scale_p99:.3} ms |"
    );
    println!(
        "| scale 1920x1080 -> 640x360 (I420): median, p99 | {scale_3x:.3} ms, {scale_3x_p99:.3} ms |"
    );
    println!(
        "| scale 1280x720 -> 854x480 (I420): median, p99 | {scale_odd:.3} ms, {scale_odd_p99:.3} ms |"
    );
    println!(
        "| RGBA -> I420 at 1280x720: median, p99 | {from_rgba:.3} ms, {from_rgba_p99:.3} ms |"
    );
    println!("| I420 -> RGBA at 640x360: median, p99 | {to_rgba:.3} ms, {to_rgba_p99:.3} ms |");
}
