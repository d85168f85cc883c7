//! Media forwarding: each room keeps a snapshot of who can receive, and a member's datagrams
//! are copied once (tagged with its source id) and handed to every other listener's
//! connection. No global lock on this path: one room's snapshot, read without blocking writers
//! for longer than an `Arc` clone. The driver (`driver.rs`) calls [`RoomMedia::forward`] as
//! each datagram arrives.
//!
//! Voice goes to every other listening member. In a video room, video pieces go to the members
//! receiving their sender's video (`video_routing.rs`), and a keyframe or resend request goes
//! to the one member it names, tagged with the asker. The
//! relay never decodes either: it reads only the headers it must check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::control_io::ConnectionId;
use crate::net::{media, video};
use crate::types::RoomType;

/// One member's media endpoint as the forwarding path sees it.
#[derive(Clone)]
pub struct Recipient {
    pub source: u32,
    pub connection: ConnectionId,
    /// Not `mute_earphone`: the server forwards to this member.
    pub listening: bool,
    /// Not `mute_microphone`: the server forwards from this member.
    pub sending: bool,
    /// The sources whose video this member receives (`video_routing.rs`).
    pub video_from: Vec<u32>,
}

pub struct RoomMedia {
    recipients: RwLock<Arc<[Recipient]>>,
    /// A video room: video pieces and keyframe requests are forwarded, not dropped.
    carries_video: bool,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

impl RoomMedia {
    pub fn new(room_type: RoomType) -> Self {
        Self {
            recipients: RwLock::new(Arc::from(Vec::new())),
            carries_video: room_type == RoomType::Video,
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

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

    /// Forwards one datagram from `source` through `send` (which queues it on a member's
    /// connection and says whether it could). Malformed datagrams, voice from a member whose
    /// microphone is muted, and video outside a video room are dropped.
    pub fn forward(
        &self,
        source: u32,
        datagram: &[u8],
        send: impl FnMut(ConnectionId, Bytes) -> bool,
    ) {
        let recipients = self.snapshot();
        let forwarded = match datagram.first() {
            Some(&media::KIND_AUDIO) => Self::forward_voice(&recipients, source, datagram, send),
            Some(&video::KIND_VIDEO) if self.carries_video => {
                Self::forward_video(&recipients, source, datagram, send)
            }
            Some(&video::KIND_KEYFRAME_REQUEST | &video::KIND_RESEND_REQUEST)
                if self.carries_video =>
            {
                Self::forward_feedback(&recipients, source, datagram, send)
            }
            _ => None,
        };
        match forwarded {
            // One shared-counter update per datagram, not per receiver: two cores forwarding in
            // the same room would otherwise bounce its cache line for every copy.
            Some(count) => self.forwarded.fetch_add(count, Ordering::Relaxed),
            None => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// To every other listening member; `None` if the datagram is refused.
    fn forward_voice(
        recipients: &[Recipient],
        source: u32,
        datagram: &[u8],
        send: impl FnMut(ConnectionId, Bytes) -> bool,
    ) -> Option<u64> {
        let sender_may_send = recipients.iter().any(|r| r.source == source && r.sending);
        let (_, relayed) = sender_may_send
            .then(|| media::relay(datagram, source))
            .flatten()?;
        let to = recipients
            .iter()
            .filter(|r| r.source != source && r.listening);
        Some(send_to(to, relayed, send))
    }

    /// To the members receiving this sender's video (whatever their earphone or microphone
    /// settings, which are about voice).
    fn forward_video(
        recipients: &[Recipient],
        source: u32,
        datagram: &[u8],
        send: impl FnMut(ConnectionId, Bytes) -> bool,
    ) -> Option<u64> {
        let (_, relayed) = video::relay(datagram, source)?;
        let to = recipients.iter().filter(|r| r.video_from.contains(&source));
        Some(send_to(to, relayed, send))
    }

    /// A keyframe or resend request, to the member it names, rewritten to name the asker.
    fn forward_feedback(
        recipients: &[Recipient],
        source: u32,
        datagram: &[u8],
        send: impl FnMut(ConnectionId, Bytes) -> bool,
    ) -> Option<u64> {
        let (asked, relayed) = video::relay_feedback(datagram, source)?;
        let to = recipients
            .iter()
            .filter(|r| r.source == asked && asked != source);
        Some(send_to(to, relayed, send))
    }
}

/// Hands `relayed` to each of `to`, counting the members it could be queued for. The payload
/// is shared (a reference count), never copied per receiver; QUIC copies it once more only as
/// it encrypts each receiver's packet.
fn send_to<'a>(
    to: impl Iterator<Item = &'a Recipient>,
    relayed: Bytes,
    mut send: impl FnMut(ConnectionId, Bytes) -> bool,
) -> u64 {
    let mut forwarded = 0;
    for recipient in to {
        if send(recipient.connection, relayed.clone()) {
            forwarded += 1;
        }
    }
    forwarded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::video::PieceHeader;

    fn member(source: u32, listening: bool) -> Recipient {
        Recipient {
            source,
            connection: ConnectionId {
                driver: 0,
                handle: quinn_proto::ConnectionHandle(source as usize),
                serial: 0,
            },
            listening,
            sending: true,
            video_from: Vec::new(),
        }
    }

    fn watching(source: u32, video_from: &[u32]) -> Recipient {
        Recipient {
            video_from: video_from.to_vec(),
            ..member(source, true)
        }
    }

    /// The sources `datagram` from `source` reaches, and what each got.
    fn reached(room: &RoomMedia, source: u32, datagram: &[u8]) -> Vec<(u32, Bytes)> {
        let mut got = Vec::new();
        room.forward(source, datagram, |to, bytes| {
            got.push((to.handle.0 as u32, bytes));
            true
        });
        got
    }

    fn video_piece() -> Vec<u8> {
        let header = PieceHeader {
            keyframe: true,
            frame: 1,
            index: 0,
            count: 1,
            timestamp: 0,
        };
        let mut up = Vec::new();
        video::encode_uplink(header, b"vp8", &mut up);
        up
    }

    #[test]
    fn video_reaches_the_members_receiving_its_sender_in_a_video_room_only() {
        let room = RoomMedia::new(RoomType::Video);
        let deaf = Recipient {
            listening: false,
            ..watching(2, &[1])
        };
        room.set(vec![
            member(1, true),
            deaf,
            watching(3, &[1, 2]),
            watching(4, &[2]),
        ]);
        let got = reached(&room, 1, &video_piece());
        let to: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(to, vec![2, 3], "an earphone mute is about voice, not video");
        assert_eq!(video::decode_downlink(&got[0].1).unwrap().0, 1);

        let voice_room = RoomMedia::new(RoomType::Voice);
        voice_room.set(vec![member(1, true), member(2, true)]);
        assert!(reached(&voice_room, 1, &video_piece()).is_empty());
        assert_eq!(voice_room.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_keyframe_request_reaches_only_the_member_it_names_tagged_with_the_asker() {
        let room = RoomMedia::new(RoomType::Video);
        room.set(vec![member(1, true), member(2, true), member(3, true)]);
        let got = reached(&room, 3, &video::keyframe_request(1));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        assert_eq!(video::decode_keyframe_request(&got[0].1), Some(3));
        assert!(
            reached(&room, 3, &video::keyframe_request(3)).is_empty(),
            "not itself"
        );
        assert!(
            reached(&room, 3, &video::keyframe_request(9)).is_empty(),
            "no such member"
        );
    }
}
