//! A client's video in a video room: the engine's camera frames out, each member's latest
//! decoded picture in. One `Video` lives as long as its `Client`; each session of a video
//! call attaches its connection.
//!
//! Sending: a pushed frame is scaled to the send size, encoded (VP8, real-time settings), cut
//! into pieces and sent as datagrams on the caller's thread (about 2 ms at 640x360 on this
//! project's test machine; BENCHMARKS.md). A keyframe goes out first, whenever the member list
//! grows (a newcomer has nothing to decode from), and when a receiver asks for one, at most
//! once per [`KEYFRAME_MIN_INTERVAL`]. The last second of frames is kept to send pieces again
//! on request, and the bitrate backs off while receivers keep asking (`crate::video::rate`).
//!
//! Receiving: the network task files pieces with the sender's reassembler and decodes whole
//! frames as they complete, keeping the latest picture of each member with a sequence number
//! (an engine uploads a texture only when it changed). A lost piece is asked for again; a
//! receiver that still cannot decode (it joined mid-stream, or the resends did not come in
//! time) asks the sender for a keyframe, again every [`KEYFRAME_REASK`] while it waits. It
//! shows nothing corrupt meanwhile, only the last good picture.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::session::not_a_video_room;
use crate::error::{ErrorCode, VoipError};
use crate::net::video::{self as wire, KIND_KEYFRAME_REQUEST, KIND_RESEND_REQUEST, KIND_VIDEO};
use crate::video::packetize::{cut, Reassembler};
use crate::video::picture::Picture;
use crate::video::rate::VideoRate;
use crate::video::vp8::{EncoderSettings, Vp8Decoder, Vp8Encoder};

/// What a member sends: the size frames are scaled to, the frame rate the encoder plans for,
/// and its bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub target_kbps: u32,
}

impl Default for VideoConfig {
    /// 640x360 at 30 fps and 800 kbps: what a game's picture-in-picture of a teammate needs,
    /// and the working point BENCHMARKS.md measures.
    fn default() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 30,
            target_kbps: 800,
        }
    }
}

/// A sender sends at most one keyframe this often, however many receivers ask: each is
/// several times the size of an ordinary frame.
pub const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(100);
/// A receiver waiting for a keyframe asks again this often (its request, or the keyframe, may
/// have been lost).
pub const KEYFRAME_REASK: Duration = Duration::from_millis(300);
/// A member that pushed no frame for this long no longer counts as publishing video: the room's
/// video members list drops it and receivers stop waiting for it.
pub const PUBLISH_IDLE: Duration = Duration::from_secs(1);
/// How many of its last frames a sender keeps to send again on request: a second at 30 fps,
/// far longer than any resend request takes to come back.
const RESEND_FRAMES: usize = 30;
/// RTP's video clock: timestamps on the wire count 90 kHz ticks.
const VIDEO_CLOCK_HZ: u64 = 90_000;

/// The datagrams that belong to video (the rest are voice).
pub fn is_video_datagram(datagram: &[u8]) -> bool {
    matches!(
        datagram.first(),
        Some(&KIND_VIDEO | &KIND_KEYFRAME_REQUEST | &KIND_RESEND_REQUEST)
    )
}

/// Called with a member's open id each time a new picture of theirs is decoded, on the network
/// task: it must return at once (take the picture with `latest_frame`, or hand the work on).
pub type FrameHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A member's latest picture, numbered: the number grows by one per decoded frame.
#[derive(Debug, Clone)]
pub struct ReceivedFrame {
    pub sequence: u64,
    pub picture: Picture,
}

struct Sending {
    connection: Option<quinn::Connection>,
    /// In a call, but of a voice room: pushing video is the game's mistake, said as -1006.
    in_voice_room: bool,
    encoder: Option<Vp8Encoder>,
    frame_number: u16,
    keyframe_wanted: bool,
    last_keyframe: Option<Instant>,
    datagram: Vec<u8>,
    frames_sent: u64,
    keyframes_sent: u64,
    bytes_sent: u64,
    /// When the engine last pushed a frame, and whether the relay was told we publish.
    last_push: Option<Instant>,
    told_publishing: bool,
    /// The datagrams of the last [`RESEND_FRAMES`] frames, by frame number, for resends.
    recent: VecDeque<(u16, Vec<Bytes>)>,
    pieces_resent: u64,
    /// The encoder's bitrate, backing off when receivers ask for pieces again.
    rate: VideoRate,
}

struct FromMember {
    reassembler: Reassembler,
    decoder: Vp8Decoder,
    latest: Option<ReceivedFrame>,
    asked_at: Option<Instant>,
    keyframes_requested: u64,
    resends_requested: u64,
    decode_errors: u64,
}

struct Receiving {
    connection: Option<quinn::Connection>,
    members: HashMap<u32, String>,
    from: HashMap<u32, FromMember>,
}

impl Receiving {
    /// The latest picture of the member with `open_id`.
    fn latest_of(&self, open_id: &str) -> Option<&ReceivedFrame> {
        let source = self
            .members
            .iter()
            .find(|(_, id)| id.as_str() == open_id)
            .map(|(source, _)| *source)?;
        self.from.get(&source)?.latest.as_ref()
    }
}

pub struct Video {
    frame_hook: Mutex<Option<FrameHook>>,
    /// Woken by the first frame of a stream, so the session tells the relay at once rather
    /// than at its next tick (the relay forwards only a publisher's video).
    pub(crate) started_publishing: tokio::sync::Notify,
    config: VideoConfig,
    epoch: Instant,
    sending: Mutex<Sending>,
    receiving: Mutex<Receiving>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Video {
    pub fn new(config: VideoConfig) -> Arc<Video> {
        Arc::new(Video {
            frame_hook: Mutex::new(None),
            started_publishing: tokio::sync::Notify::new(),
            config,
            epoch: Instant::now(),
            sending: Mutex::new(Sending {
                connection: None,
                in_voice_room: false,
                encoder: None,
                frame_number: 0,
                keyframe_wanted: true,
                last_keyframe: None,
                datagram: Vec::with_capacity(wire::DOWNLINK_HEADER + wire::MAX_PIECE),
                frames_sent: 0,
                keyframes_sent: 0,
                bytes_sent: 0,
                last_push: None,
                told_publishing: false,
                recent: VecDeque::with_capacity(RESEND_FRAMES),
                pieces_resent: 0,
                rate: VideoRate::new(config.target_kbps),
            }),
            receiving: Mutex::new(Receiving {
                connection: None,
                members: HashMap::new(),
                from: HashMap::new(),
            }),
        })
    }

    /// A call in a voice room started: video stays off, and a pushed frame says why.
    pub fn attach_voice_room(&self) {
        lock(&self.sending).in_voice_room = true;
    }

    /// Starts a video call's video on `connection`.
    pub fn attach(&self, connection: quinn::Connection, members: &[(u32, String)]) {
        {
            let mut sending = lock(&self.sending);
            sending.in_voice_room = false;
            sending.connection = Some(connection.clone());
            sending.keyframe_wanted = true;
            // A new connection: say again whether we publish (the relay ignores a repeat).
            sending.told_publishing = false;
            sending.rate = VideoRate::new(self.config.target_kbps);
        }
        let mut receiving = lock(&self.receiving);
        receiving.connection = Some(connection);
        // After a resume the relay may have dropped pieces: start every chain afresh.
        receiving.from.clear();
        receiving.members = members.iter().cloned().collect();
    }

    /// The room's members changed: a newcomer needs a keyframe to start from, and a member who
    /// left takes its pictures along.
    pub fn set_members(&self, members: &[(u32, String)]) {
        let mut receiving = lock(&self.receiving);
        let grew = members
            .iter()
            .any(|(source, _)| !receiving.members.contains_key(source));
        receiving.members = members.iter().cloned().collect();
        let present = receiving.members.clone();
        receiving
            .from
            .retain(|source, _| present.contains_key(source));
        drop(receiving);
        if grew {
            lock(&self.sending).keyframe_wanted = true;
        }
    }

    /// Ends the call's video: nothing more is sent, and every member's pictures are gone.
    pub fn detach(&self) {
        {
            let mut sending = lock(&self.sending);
            sending.connection = None;
            sending.in_voice_room = false;
            sending.encoder = None;
            sending.last_push = None;
            sending.told_publishing = false;
            sending.recent.clear();
        }
        let mut receiving = lock(&self.receiving);
        receiving.connection = None;
        receiving.from.clear();
        receiving.members.clear();
    }

    /// A camera frame in: scaled to the send size, encoded and sent. -1006 in a voice room's
    /// call, -1005 outside any call.
    pub fn push_frame(&self, picture: &Picture) -> Result<(), VoipError> {
        let mut sending = lock(&self.sending);
        if sending.in_voice_room {
            return Err(not_a_video_room("push_video_frame"));
        }
        let Some(connection) = sending.connection.clone() else {
            return Err(VoipError::new(
                ErrorCode::NotInRoom,
                "push_video_frame: not in a video call",
            ));
        };
        let config = self.config;
        let picture = picture.scaled_to(config.width, config.height);
        if sending.encoder.is_none() {
            let encoder = Vp8Encoder::new(EncoderSettings {
                width: picture.width(),
                height: picture.height(),
                fps: config.fps,
                target_kbps: config.target_kbps,
            })
            .map_err(|e| VoipError::new(ErrorCode::System, format!("video encoder: {e}")))?;
            sending.encoder = Some(encoder);
            sending.keyframe_wanted = true;
        }
        let now = Instant::now();
        sending.last_push = Some(now);
        if !sending.told_publishing {
            self.started_publishing.notify_one();
        }
        let keyframe_allowed = sending
            .last_keyframe
            .map_or(true, |at| now.duration_since(at) >= KEYFRAME_MIN_INTERVAL);
        let force_keyframe = sending.keyframe_wanted && keyframe_allowed;
        // The encoder's clock is in microseconds (its rate control paces bits by it); the wire's
        // in 90 kHz ticks.
        let micros = self.epoch.elapsed().as_micros() as u64;
        let ticks = micros * VIDEO_CLOCK_HZ / 1_000_000;
        let new_rate = sending.rate.update(now);
        let encoder = sending.encoder.as_mut().expect("created above");
        if let Some(kbps) = new_rate {
            // A rate libvpx refuses leaves the last one in force: nothing to tell the game.
            let _ = encoder.set_target_kbps(kbps);
        }
        let encoded = encoder
            .encode(&picture, micros, force_keyframe)
            .map_err(|e| VoipError::new(ErrorCode::System, format!("video encoder: {e}")))?;
        let Some(frame) = encoded else {
            return Ok(()); // the encoder skipped this frame to hold its bitrate
        };
        if frame.keyframe {
            sending.keyframe_wanted = false;
            sending.last_keyframe = Some(now);
            sending.keyframes_sent += 1;
        }
        let number = sending.frame_number;
        sending.frame_number = number.wrapping_add(1);
        let Sending {
            datagram,
            bytes_sent,
            recent,
            rate,
            ..
        } = &mut *sending;
        if recent.len() == RESEND_FRAMES {
            recent.pop_front();
        }
        let mut kept = Vec::new();
        let sent = cut(
            &frame.data,
            number,
            frame.keyframe,
            ticks as u32,
            |header, piece| {
                wire::encode_uplink(header, piece, datagram);
                *bytes_sent += datagram.len() as u64;
                let bytes = Bytes::copy_from_slice(datagram);
                kept.push(bytes.clone());
                // A piece the connection cannot take now is a lost piece, not an error: the
                // receiver asks for it again.
                let _ = connection.send_datagram(bytes);
            },
        );
        rate.sent(kept.len());
        recent.push_back((number, kept));
        sent.map_err(|e| {
            VoipError::new(
                ErrorCode::System,
                format!("an encoded frame of {} bytes is too large to send", e.0),
            )
        })?;
        sending.frames_sent += 1;
        Ok(())
    }

    /// Whether the relay should now hear that this member started (`Some(true)`) or stopped
    /// (`Some(false)`) publishing: it publishes while frames keep coming, and stops
    /// [`PUBLISH_IDLE`] after the last. The session asks on every tick.
    pub fn publishing_change(&self) -> Option<bool> {
        let mut sending = lock(&self.sending);
        sending.connection.as_ref()?;
        let publishing = sending
            .last_push
            .is_some_and(|at| at.elapsed() < PUBLISH_IDLE);
        if publishing == sending.told_publishing {
            return None;
        }
        sending.told_publishing = publishing;
        // Starting: the relay forwards our video only from now on, so what it dropped before
        // has to be made good with a keyframe at once, whatever the rate limit says. Stopping:
        // the next frame starts a fresh stream, for whoever watches then.
        sending.keyframe_wanted = true;
        if publishing {
            sending.last_keyframe = None;
        }
        Some(publishing)
    }

    /// Whom to tell when a member's new picture is decoded (`None`: nobody).
    pub fn set_frame_hook(&self, hook: Option<FrameHook>) {
        *lock(&self.frame_hook) = hook;
    }

    /// A datagram from the relay that [`is_video_datagram`] said is video.
    pub fn receive(&self, datagram: &[u8]) {
        if wire::decode_keyframe_request(datagram).is_some() {
            // Whoever asks, one keyframe serves every receiver.
            lock(&self.sending).keyframe_wanted = true;
            return;
        }
        if let Some((_, frame, missing)) = wire::decode_resend_request(datagram) {
            self.resend(frame, &missing);
            return;
        }
        let Some((source, header, piece)) = wire::decode_downlink(datagram) else {
            return;
        };
        let mut receiving = lock(&self.receiving);
        let Some(open_id) = receiving.members.get(&source).cloned() else {
            return; // a member the room has not told us of yet, or one that left
        };
        let mut decoded = false;
        let connection = receiving.connection.clone();
        let from = match receiving.from.entry(source) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => match Vp8Decoder::new() {
                Ok(decoder) => entry.insert(FromMember {
                    reassembler: Reassembler::new(),
                    decoder,
                    latest: None,
                    asked_at: None,
                    keyframes_requested: 0,
                    resends_requested: 0,
                    decode_errors: 0,
                }),
                Err(_) => return,
            },
        };
        let arrival = from.reassembler.receive(header, piece);
        let mut broken = arrival.keyframe_needed;
        for frame in arrival.frames {
            match from.decoder.decode(&frame.data) {
                Ok(Some(picture)) => {
                    let sequence = from.latest.as_ref().map_or(1, |f| f.sequence + 1);
                    from.latest = Some(ReceivedFrame { sequence, picture });
                    decoded = true;
                }
                Ok(None) => {}
                Err(_) => {
                    // Undecodable although whole (a corrupt frame, or the decoder lost its
                    // reference): nothing is shown until a keyframe starts over.
                    from.reassembler.restart_from_keyframe();
                    from.decode_errors += 1;
                    broken = true;
                    break;
                }
            }
        }
        let now = Instant::now();
        if let Some(connection) = &connection {
            for (frame, missing) in from.reassembler.resend_due(now) {
                let request = wire::resend_request(source, frame, &missing);
                let _ = connection.send_datagram(Bytes::copy_from_slice(&request));
                from.resends_requested += 1;
            }
        }
        let waiting = broken || from.reassembler.awaiting_keyframe();
        let ask = waiting
            && (broken
                || from
                    .asked_at
                    .map_or(true, |at| now.duration_since(at) >= KEYFRAME_REASK));
        if ask {
            from.asked_at = Some(now);
            from.keyframes_requested += 1;
            if let Some(connection) = connection {
                let request = wire::keyframe_request(source);
                let _ = connection.send_datagram(Bytes::copy_from_slice(&request));
            }
        }
        drop(receiving);
        let hook = lock(&self.frame_hook).clone();
        if let (true, Some(hook)) = (decoded, hook) {
            hook(&open_id);
        }
    }

    /// Sends again the pieces of `frame` a receiver missed, if the frame is recent enough to
    /// be kept. A resent piece is the very datagram sent first.
    fn resend(&self, frame: u16, missing: &[u8]) {
        let mut sending = lock(&self.sending);
        let Some(connection) = sending.connection.clone() else {
            return;
        };
        let Some((_, pieces)) = sending.recent.iter().find(|(number, _)| *number == frame) else {
            return;
        };
        let again: Vec<Bytes> = missing
            .iter()
            .filter_map(|&i| pieces.get(usize::from(i)).cloned())
            .collect();
        sending.pieces_resent += again.len() as u64;
        sending.rate.asked_again(again.len());
        for piece in again {
            let _ = connection.send_datagram(piece);
        }
    }

    /// The sequence number of `open_id`'s latest picture, without copying it: what a poll
    /// checks before it takes the picture.
    pub fn latest_sequence(&self, open_id: &str) -> Option<u64> {
        let receiving = lock(&self.receiving);
        Some(receiving.latest_of(open_id)?.sequence)
    }

    /// The latest picture of the member with `open_id`, if one has been decoded.
    pub fn latest_frame(&self, open_id: &str) -> Option<ReceivedFrame> {
        lock(&self.receiving).latest_of(open_id).cloned()
    }

    /// Video statistics for `stats_json`: what was sent, and per member what was shown.
    pub fn stats(&self) -> serde_json::Value {
        let sending = lock(&self.sending);
        let receiving = lock(&self.receiving);
        let members: serde_json::Map<String, serde_json::Value> = receiving
            .from
            .iter()
            .filter_map(|(source, from)| {
                let open_id = receiving.members.get(source)?;
                Some((
                    open_id.clone(),
                    serde_json::json!({
                        "framesShown": from.latest.as_ref().map_or(0, |f| f.sequence),
                        "framesDropped": from.reassembler.frames_dropped,
                        "keyframesRequested": from.keyframes_requested,
                        "resendsRequested": from.resends_requested,
                        "decodeErrors": from.decode_errors,
                    }),
                ))
            })
            .collect();
        serde_json::json!({
            "framesSent": sending.frames_sent,
            "keyframesSent": sending.keyframes_sent,
            "bytesSent": sending.bytes_sent,
            "piecesResent": sending.pieces_resent,
            "targetKbps": sending.rate.kbps(),
            "members": members,
        })
    }
}
