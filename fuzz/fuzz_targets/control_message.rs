//! The control stream as a peer can fill it: arbitrary bytes split into frames the way the
//! relay splits them (`wire::split_frame`), each frame's body read as a client message (what
//! the relay parses) and as a server message (what the SDK parses).
//!
//! Beyond "no panic": a frame is never longer than the input, a refused length is really over
//! the limit, and whatever parses re-encodes to a frame that parses back to the same message
//! (so nothing a peer can send is understood one way and relayed another).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use voipchat::net::wire::{self, ClientMessage, ServerMessage, WireError, MAX_FRAME_BYTES};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        match wire::split_frame(rest) {
            Ok(Some((body, used))) => {
                assert!(used <= rest.len() && used == body.len() + 4);
                round_trips::<ClientMessage>(body);
                round_trips::<ServerMessage>(body);
                rest = &rest[used..];
            }
            Ok(None) => break,
            Err(WireError::TooLarge(len)) => {
                assert!(len > MAX_FRAME_BYTES);
                break;
            }
            Err(other) => panic!("split_frame can only refuse a length, not: {other}"),
        }
    }
});

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(body: &[u8]) {
    let Ok(message) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let frame = wire::encode(&message);
    let (again, used) = wire::split_frame(&frame)
        .expect("an encoded message has a valid length")
        .expect("an encoded message is a whole frame");
    assert_eq!(used, frame.len());
    let back: T = serde_json::from_slice(again).expect("an encoded message parses");
    assert_eq!(back, message);
}
