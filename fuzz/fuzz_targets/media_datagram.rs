//! Media datagrams as a hostile client or a broken path delivers them: the relay's check and
//! rewrite of an uplink datagram (`media::relay`), and the SDK's reading of a downlink one
//! (`media::decode_downlink`).
//!
//! Beyond "no panic": the relay forwards only what a receiver will accept, the receiver reads
//! back exactly the sender's header, payload and the relay's source id, and neither side
//! accepts a payload over the limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use voipchat::net::media::{self, DOWNLINK_HEADER, MAX_PAYLOAD, UPLINK_HEADER};

fuzz_target!(|input: (u32, &[u8])| {
    let (source, datagram) = input;

    if let Some((header, relayed)) = media::relay(datagram, source) {
        assert_eq!(
            relayed.len(),
            datagram.len() + DOWNLINK_HEADER - UPLINK_HEADER
        );
        let (from, heard, payload) =
            media::decode_downlink(&relayed).expect("the relay forwards only what clients read");
        assert_eq!(from, source);
        assert_eq!(heard, header);
        assert_eq!(payload, &datagram[UPLINK_HEADER..]);
        // What the relay accepted is exactly what a sender would have built.
        let mut rebuilt = Vec::new();
        media::encode_uplink(header, payload, &mut rebuilt);
        assert_eq!(rebuilt[0], datagram[0]);
        assert_eq!(rebuilt[2..], datagram[2..]);
    }

    if let Some((_, _, payload)) = media::decode_downlink(datagram) {
        assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
        assert_eq!(payload.len(), datagram.len() - DOWNLINK_HEADER);
    }
});
