//! Video datagrams as a hostile sender or a broken path delivers them: the relay's check and
//! rewrite of each piece (`video::relay`) and of keyframe and resend requests
//! (`video::relay_feedback`), the receiver's reassembly (`Reassembler`) and its VP8 decoder fed
//! whatever the reassembler hands on.
//!
//! Input: datagrams, each a 2-byte little-endian length and that many bytes (the seed corpus
//! writes them from real encoder output, whole, with pieces lost and reordered). Beyond "no
//! panic": the relay forwards only what a receiver reads back exactly, requests come back
//! naming the asker, a frame that is not a keyframe is handed on only right after the frame
//! before it (a receiver never decodes across a gap), and the decoder answers any bytes with
//! a picture or an error.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use voipchat::net::video::{self, DOWNLINK_HEADER, UPLINK_HEADER};
use voipchat::video::packetize::Reassembler;
use voipchat::video::vp8::Vp8Decoder;

const SENDER: u32 = 7;
const ASKER: u32 = 9;

fn datagrams(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = data.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (datagram, rest) = rest.split_at(len);
        data = rest;
        Some(datagram)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut reassembler = Reassembler::new();
    let mut decoder = Vp8Decoder::new().expect("a decoder");
    let mut now = Instant::now();
    let mut last_shown: Option<u16> = None;
    for datagram in datagrams(data) {
        now += Duration::from_millis(5);
        if let Some((named, relayed)) = video::relay_feedback(datagram, ASKER) {
            assert_eq!(relayed.len(), datagram.len());
            let renamed = video::decode_keyframe_request(&relayed)
                .or_else(|| video::decode_resend_request(&relayed).map(|(asker, _, _)| asker));
            assert_eq!(renamed, Some(ASKER));
            assert_eq!(relayed[6..], datagram[6..]);
            let _ = named;
        }
        let Some((header, relayed)) = video::relay(datagram, SENDER) else {
            continue;
        };
        assert_eq!(
            relayed.len(),
            datagram.len() + DOWNLINK_HEADER - UPLINK_HEADER
        );
        let (from, heard, piece) =
            video::decode_downlink(&relayed).expect("the relay forwards only what clients read");
        assert_eq!((from, heard), (SENDER, header));
        assert_eq!(piece, &datagram[UPLINK_HEADER..]);

        let arrival = reassembler.receive(heard, piece);
        for frame in arrival.frames {
            assert!(!frame.data.is_empty());
            if !frame.keyframe {
                assert_eq!(
                    Some(frame.number),
                    last_shown.map(|n| n.wrapping_add(1)),
                    "a frame handed on across a gap"
                );
            }
            last_shown = Some(frame.number);
            if decoder.decode(&frame.data).is_err() {
                reassembler.restart_from_keyframe();
            }
        }
        for (_, missing) in reassembler.resend_due(now) {
            assert!(!missing.is_empty());
        }
    }
});
