//! Media forwarding: each room keeps a snapshot of who can receive, and a member's datagrams
//! are copied once (tagged with its source id) and handed to every other listener's
//! connection. No global lock on this path: one room's snapshot, read without blocking writers
//! for longer than an `Arc` clone. The driver (`driver.rs`) calls [`RoomMedia::forward`] as
//! each datagram arrives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::control_io::ConnectionId;
use crate::net::media;

/// One member's media endpoint as the forwarding path sees it.
#[derive(Clone)]
pub struct Recipient {
    pub source: u32,
    pub connection: ConnectionId,
    /// Not `mute_earphone`: the server forwards to this member.
    pub listening: bool,
    /// Not `mute_microphone`: the server forwards from this member.
    pub sending: bool,
}

#[derive(Default)]
pub struct RoomMedia {
    recipients: RwLock<Arc<[Recipient]>>,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

impl RoomMedia {
    /// Replaces the snapshot (the registry calls this on every membership or mute change).
    pub fn set(&self, recipients: Vec<Recipient>) {
        *self.recipients.write().unwrap_or_else(|p| p.into_inner()) = recipients.into();
    }

    fn snapshot(&self) -> Arc<[Recipient]> {
        self.recipients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forwards one datagram from `source` to every other listening member through `send`
    /// (which queues it on that member's connection and says whether it could). Malformed
    /// datagrams, and any from a member whose microphone is muted, are dropped.
    pub fn forward(
        &self,
        source: u32,
        datagram: &[u8],
        mut send: impl FnMut(ConnectionId, Bytes) -> bool,
    ) {
        let recipients = self.snapshot();
        let sender_may_send = recipients.iter().any(|r| r.source == source && r.sending);
        let relayed = sender_may_send
            .then(|| media::relay(datagram, source))
            .flatten();
        let Some((_, relayed)) = relayed else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut forwarded = 0;
        for recipient in recipients
            .iter()
            .filter(|r| r.source != source && r.listening)
        {
            // The payload is shared (a reference count), never copied per receiver; QUIC copies
            // it once more only as it encrypts each receiver's packet.
            if send(recipient.connection, relayed.clone()) {
                forwarded += 1;
            }
        }
        // One shared-counter update per datagram, not per receiver: two cores forwarding in
        // the same room would otherwise bounce its cache line for every copy.
        self.forwarded.fetch_add(forwarded, Ordering::Relaxed);
    }
}
