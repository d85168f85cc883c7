//! The receiver's decoder fed arbitrary payloads, as a hostile sender or a corrupting path can
//! deliver them once the relay has checked only the header: decode, FEC recovery from a
//! "next" packet, whole and partial concealment, in any order, at each enhancement level.
//!
//! Input: byte 0 picks the frame length (bit 0: 10 ms) and the enhancement (bits 1-2); then
//! up to 16 chunks of one op byte, one length byte and that many payload bytes. Beyond "no panic": a
//! decoder never writes more samples than it was given room for, never produces NaN or
//! infinity, and keeps working after a corrupt packet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use voipchat::audio::codec::{VoiceDecoder, VoiceEnhancement};
use voipchat::audio::frame_samples;

/// libopus's largest packet is 120 ms; the output buffer holds that at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5760;
/// Operations per input: deep PLC makes each concealment cost a neural network's run, so a
/// long input would take seconds under the sanitizer; many short ones explore more.
const MAX_CHUNKS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let frame = frame_samples(if setup & 1 == 1 { 10 } else { 20 });
    let mut decoder = VoiceDecoder::new(frame).expect("10 and 20 ms decoders exist");
    let level = i32::from((setup >> 1) & 3).min(2);
    let enhancement = VoiceEnhancement::from_level(level).expect("0..=2 are levels");
    decoder
        .set_enhancement(enhancement)
        .expect("every level is built in");

    let mut out = vec![0f32; MAX_PACKET_SAMPLES];
    let mut chunks = 0;
    while let [op, len, tail @ ..] = rest {
        if chunks == MAX_CHUNKS {
            break;
        }
        chunks += 1;
        let len = usize::from(*len).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        let result = match op % 4 {
            0 => decoder.decode(packet, &mut out),
            1 => decoder.decode_fec(packet, &mut out),
            2 => decoder.conceal(&mut out),
            _ => decoder.conceal_part(&mut out, 120 * (1 + usize::from(*op >> 2) % 8)),
        };
        if let Ok(samples) = result {
            assert!(samples <= out.len());
            if let Some(bad) = out[..samples].iter().find(|s| !s.is_finite()) {
                panic!("decoder produced {bad} (op {op}, {len}-byte packet)");
            }
        }
    }
});
