//! Writes the seed corpus, `fuzz/corpus/<target>/`, from what the SDK and the relay really
//! send: frames of every control message (a join signed as a backend signs it), Opus packets
//! from the SDK's encoder (speech-like sound, FEC on, at 10 and 20 ms), those packets in real
//! uplink and downlink datagrams, and a simulated call's packet stream for the jitter buffer
//! (jitter, loss, reordering, talkspurts with pre-roll), and VP8 frames from the SDK's encoder cut
//! into video datagrams (whole, and with pieces lost and reordered). Run from fuzz/:
//!
//!     cargo run --bin seed_corpus
//!
//! Deterministic: the same files every run. c_abi has no seeds: its input is the
//! `arbitrary` encoding of a struct, which libFuzzer explores from nothing in seconds.

use std::fs;
use std::path::{Path, PathBuf};

use voipchat::audio::codec::{EncoderConfig, VoiceEncoder};
use voipchat::audio::frame_samples;
use voipchat::auth;
use voipchat::net::media::{self, AudioHeader};
use voipchat::net::video;
use voipchat::net::wire::{self, ClientMessage, JoinRequest, ServerMessage};
use voipchat::types::{MuteConfig, RoomType};
use voipchat::video::packetize::cut;
use voipchat::video::picture::Picture;
use voipchat::video::vp8::{EncoderSettings, Vp8Encoder};
use voipchat_fuzz::jitter_ops::Op;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    control_messages(&root.join("control_message"));
    let packets_20 = opus_packets(20);
    let packets_10 = opus_packets(10);
    media_datagrams(&root.join("media_datagram"), &packets_20);
    opus_streams(&root.join("opus_decode"), &packets_20, &packets_10);
    jitter_streams(&root.join("jitter_buffer"));
    video_streams(&root.join("video_stream"));
    println!("seed corpus written to {}", root.display());
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus directory");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn control_messages(dir: &Path) {
    let mute = MuteConfig {
        mute_microphone: false,
        mute_earphone: true,
    };
    let key = auth::session_key("app-secret", "alice");
    let join = JoinRequest {
        app_id: "wx123".into(),
        open_id: "alice".into(),
        group_id: "match-42".into(),
        nonce_str: "5f2c9a1e7b3d4c60".into(),
        time_stamp: 1_764_633_600,
        signature: auth::sign(&key, "wx123", "match-42", "5f2c9a1e7b3d4c60", 1_764_633_600),
        room_type: RoomType::Voice,
        mute,
    };
    let client = [
        ClientMessage::Join(join),
        ClientMessage::Resume {
            token: "q8Zk3vJ0c1Xw9nHs2mLp4rTb".into(),
            mute,
        },
        ClientMessage::UpdateMute { mute },
        ClientMessage::ReceptionReport { loss_permille: 87 },
        ClientMessage::Leave,
    ];
    let ids = || vec!["alice".to_string(), "bob".to_string(), "carol".to_string()];
    let server = [
        ServerMessage::Joined {
            open_id_list: ids(),
            sources: vec![1, 2, 3],
            resume_token: "q8Zk3vJ0c1Xw9nHs2mLp4rTb".into(),
        },
        ServerMessage::Rejected {
            code: -1002,
            reason: "signature rejected".into(),
        },
        ServerMessage::MembersChanged {
            open_id_list: ids(),
            sources: vec![1, 2, 3],
        },
        ServerMessage::LossHint { loss_permille: 120 },
        ServerMessage::MuteUpdated,
        ServerMessage::Left,
        ServerMessage::Replaced,
        ServerMessage::ShuttingDown,
    ];
    let mut session = Vec::new();
    for (i, message) in client.iter().enumerate() {
        let frame = wire::encode(message);
        write(dir, &format!("client-{i}"), &frame);
        session.extend_from_slice(&frame);
    }
    write(dir, "client-session", &session);
    for (i, message) in server.iter().enumerate() {
        write(dir, &format!("server-{i}"), &wire::encode(message));
    }
}

/// Two seconds of a harmonic voice on a gliding pitch in syllables, as the encoder codes it.
fn opus_packets(frame_ms: u32) -> Vec<Vec<u8>> {
    let frame = frame_samples(frame_ms);
    let config = EncoderConfig {
        frame_samples: frame,
        expected_loss_pct: 10,
        ..Default::default()
    };
    let mut encoder = VoiceEncoder::new(config).expect("encoder");
    let mut phase = 0f32;
    let pcm: Vec<f32> = (0..96_000)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            let f0 = 140.0 + 30.0 * (2.0 * std::f32::consts::PI * 1.3 * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 / 48_000.0;
            let voice: f32 = (1..8).map(|h| (h as f32 * phase).sin() / h as f32).sum();
            let syllable = (2.0 * std::f32::consts::PI * 4.0 * t).sin().max(0.0);
            0.2 * voice * syllable
        })
        .collect();
    let mut out = [0u8; 1500];
    pcm.chunks_exact(frame)
        .map(|chunk| {
            let n = encoder.encode(chunk, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect()
}

fn media_datagrams(dir: &Path, packets: &[Vec<u8>]) {
    let mut uplink = Vec::new();
    for (i, packet) in packets.iter().enumerate().step_by(10) {
        let header = AudioHeader {
            speaking: i % 30 != 20,
            backfill: i % 30 == 0,
            repeat: false,
            seq: 65_530u16.wrapping_add(i as u16),
            timestamp: (i as u32).wrapping_mul(960),
        };
        media::encode_uplink(header, packet, &mut uplink);
        // The target's input: a source id (4 bytes, little-endian), then the datagram.
        let source = 7u32.to_le_bytes();
        write(
            dir,
            &format!("uplink-{i}"),
            &[&source[..], &uplink].concat(),
        );
        let (_, downlink) = media::relay(&uplink, 7).expect("a real datagram relays");
        write(
            dir,
            &format!("downlink-{i}"),
            &[&source[..], &downlink].concat(),
        );
    }
}

/// The decoder target's input: a setup byte, then (op, length, payload) chunks. Op 0 decodes,
/// 1 recovers the frame before a packet from its FEC, 2 conceals.
fn opus_streams(dir: &Path, packets_20: &[Vec<u8>], packets_10: &[Vec<u8>]) {
    let streams = [
        ("voice-20ms", 0u8, packets_20),
        ("voice-10ms-strong", 5, packets_10),
    ];
    for (name, setup, packets) in streams {
        // Inputs of a dozen packets: the target stops after MAX_CHUNKS anyway.
        for (n, run) in packets.chunks(12).enumerate().step_by(4) {
            let mut input = vec![setup];
            for (i, packet) in run.iter().enumerate() {
                let len = packet.len() as u8;
                match i % 6 {
                    2 => input.extend_from_slice(&[2, 0]), // lost, nothing after it yet: conceal
                    4 => {
                        // lost, the next packet is here: FEC, then the next packet itself
                        input.extend_from_slice(&[1, len]);
                        input.extend_from_slice(packet);
                        input.extend_from_slice(&[0, len]);
                        input.extend_from_slice(packet);
                    }
                    _ => {
                        input.extend_from_slice(&[0, len]);
                        input.extend_from_slice(packet);
                    }
                }
            }
            write(dir, &format!("{name}-{n}"), &input);
        }
    }
}

/// A receiver's view of a call: packets arriving with jitter, some lost, some reordered and
/// duplicated, talkspurts ending with a marker and starting with a pre-roll frame, and a
/// playout pulling every frame (or 441-sample blocks, as an engine at 44.1 kHz does).
fn jitter_streams(dir: &Path) {
    for (name, frame_ms, blocks) in [("call-20ms", 20u32, false), ("call-10ms-engine", 10, true)] {
        let frame = frame_samples(frame_ms) as u32;
        let frame_us = frame_ms * 1000;
        let mut ops = Vec::new();
        let mut rng = 0x2545_f491u32;
        let mut random = move || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng
        };
        let mut seq = 65_000u16;
        let mut pending: Option<Op> = None;
        // Two seconds: talkspurts of a second, pauses of half a second.
        let unit = 500 / frame_ms;
        for i in 0..(2000 / frame_ms) {
            let talking = (i / unit) % 3 != 2;
            let timestamp = 1_000_000 + i * frame;
            if talking {
                let first = i > 0 && ((i - 1) / unit) % 3 == 2;
                if first {
                    ops.push(Op::PreRoll {
                        seq: seq.wrapping_sub(1),
                        timestamp: timestamp - frame,
                        after_us: 0,
                    });
                }
                let last = ((i + 1) / unit) % 3 == 2;
                let packet = Op::Insert {
                    seq,
                    timestamp,
                    speaking: !last,
                    after_us: (random() % 6000) as u16,
                    extra: (random() % 64) as u8,
                };
                match random() % 40 {
                    0 | 1 => {}                                    // lost
                    2 => pending = Some(packet),                   // arrives after the next one
                    3 => ops.extend_from_slice(&[packet, packet]), // duplicated
                    _ => ops.push(packet),
                }
                if let Some(late) = pending.take_if(|_| random() % 2 == 0) {
                    ops.push(late);
                }
                seq = seq.wrapping_add(1);
            }
            if blocks {
                // 441 samples at 44.1 kHz is 10 ms: ask for part of a frame, then the rest.
                ops.push(Op::NextFor {
                    after_us: (frame_us / 2) as u16,
                    lead_us: 2_500,
                    needed: 240,
                });
                ops.push(Op::NextFor {
                    after_us: (frame_us / 2) as u16,
                    lead_us: 0,
                    needed: 480,
                });
            } else {
                ops.push(Op::Next {
                    after_us: frame_us as u16,
                });
            }
        }
        ops.push(Op::Pause { seconds: 3 });
        ops.push(Op::Reset);
        let mut input = vec![u8::from(frame_ms == 10)];
        for op in &ops {
            op.encode(&mut input);
        }
        write(dir, name, &input);
    }
}

/// Twelve VP8 frames (a keyframe first, a forced one at frame 8) of a moving pattern at
/// 160x96, as the uplink datagrams a sender sends, with a keyframe and a resend request among
/// them; written whole, with every fifth datagram lost, and with neighbours swapped. Each
/// datagram is a 2-byte little-endian length and its bytes.
fn video_streams(dir: &Path) {
    let (w, h) = (160u32, 96u32);
    let mut encoder = Vp8Encoder::new(EncoderSettings {
        width: w,
        height: h,
        fps: 30,
        target_kbps: 300,
    })
    .expect("encoder");
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    for n in 0..12u32 {
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let level = if (x + n * 9) % 40 < 12 {
                    230
                } else {
                    ((x + y) % 200) as u8
                };
                [level as u8, 128, 255 - level as u8, 255]
            })
            .collect();
        let picture = Picture::from_rgba(w, h, w as usize * 4, &rgba).expect("picture");
        let Some(frame) = encoder
            .encode(&picture, u64::from(n) * 33_333, n == 8)
            .expect("encode")
        else {
            continue;
        };
        cut(
            &frame.data,
            n as u16,
            frame.keyframe,
            n * 3000,
            |header, piece| {
                let mut datagram = Vec::new();
                video::encode_uplink(header, piece, &mut datagram);
                datagrams.push(datagram);
            },
        )
        .expect("cut");
        if n == 5 {
            datagrams.push(video::keyframe_request(7).to_vec());
            datagrams.push(video::resend_request(7, 4, &[0, 2]).to_vec());
        }
    }
    let stream = |list: &[Vec<u8>]| -> Vec<u8> {
        list.iter()
            .flat_map(|d| {
                (d.len() as u16)
                    .to_le_bytes()
                    .into_iter()
                    .chain(d.iter().copied())
            })
            .collect()
    };
    write(dir, "whole", &stream(&datagrams));
    let lossy: Vec<Vec<u8>> = datagrams
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 3)
        .map(|(_, d)| d.clone())
        .collect();
    write(dir, "lossy", &stream(&lossy));
    let mut reordered = datagrams.clone();
    for pair in reordered.chunks_mut(2) {
        pair.reverse();
    }
    write(dir, "reordered", &stream(&reordered));
}
