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

use common::{load, machine, median, Args};
use voipchat::video::picture::{psnr_y, Picture};
use voipchat::video::vp8::{EncoderSettings, Vp8Decoder, Vp8Encoder};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 30;

/// Frame `t` of the scene at `width` x `height`.
fn scene(t: usize, width: u32, height: u32) -> Picture {
    let (w, h) = (width as usize, height as usize);
    let mut noise_state = 0x9E37_79B9u32 ^ (t as u32).wrapping_mul(2_654_435_761);
    let mut y = vec![0u8; w * h];
    for row in 0..h {
        for col in 0..w {
            let (x, yy) = ((col + 3 * t) % w, (row + t) % h);
            let gradient = (x * 160 / w + yy * 40 / h) as i32;
            // Fixed texture that pans with the gradient: detail motion search can follow.
            let mut hash =
                (x as u32 / 2).wrapping_mul(73_856_093) ^ (yy as u32 / 2).wrapping_mul(19_349_663);
            hash ^= hash >> 13;
            hash = hash.wrapping_mul(0x5bd1_e995);
            hash ^= hash >> 15;
            let texture = (hash & 31) as i32 - 16;
            noise_state = noise_state
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let noise = (noise_state >> 30) as i32 - 2;
            y[row * w + col] = (24 + gradient + texture + noise).clamp(0, 255) as u8;
        }
    }
    let side = h * 96 / 360;
    let (bx, by) = ((t * 5) % (w - side), bounce(t * 3, h - side));
    let (fx, fy) = (
        w - side - (t * 2) % (w - side),
        bounce(t * 4 + 50, h - side),
    );
    for row in 0..side {
        for col in 0..side {
            let checker = ((col / 12 + row / 12) % 2) == 1;
            y[(by + row) * w + bx + col] = if checker { 235 } else { 40 };
            y[(fy + row) * w + fx + col] = 180;
        }
    }
    let (cw, ch) = (w / 2, h / 2);
    let mut u: Vec<u8> = (0..cw * ch)
        .map(|i| (64 + ((i % cw + t) % cw) * 128 / cw) as u8)
        .collect();
    let mut v: Vec<u8> = (0..cw * ch)
        .map(|i| (64 + ((i / cw + 2 * t) % ch) * 128 / ch) as u8)
        .collect();
    for row in 0..side / 2 {
        for col in 0..side / 2 {
            u[(by / 2 + row) * cw + bx / 2 + col] = 200;
            v[(by / 2 + row) * cw + bx / 2 + col] = 60;
            u[(fy / 2 + row) * cw + fx / 2 + col] = 90;
            v[(fy / 2 + row) * cw + fx / 2 + col] = 170;
        }
    }
    Picture::from_i420(width, height, &y, w, &u, cw, &v, cw).expect("a valid picture")
}

/// A position moving back and forth over 0..=span.
fn bounce(p: usize, span: usize) -> usize {
    let p = p % (2 * span);
    if p <= span {
        p
    } else {
        2 * span - p
    }
}

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
