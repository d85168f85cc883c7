//! Control messages on the one bidirectional QUIC stream, as length-prefixed JSON.
//!
//! Each frame is a 4-byte big-endian length followed by that many bytes of JSON. A frame over
//! [`MAX_FRAME_BYTES`], bad JSON or an unknown message is a protocol error that closes the
//! connection which sent it, and only that one.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::types::{MuteConfig, RoomType};

/// Control messages are small; anything bigger is hostile or broken.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// The first message of a connection asking to enter a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub app_id: String,
    pub open_id: String,
    pub group_id: String,
    pub nonce_str: String,
    pub time_stamp: i64,
    pub signature: String,
    pub room_type: RoomType,
    pub mute: MuteConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message: enter a room.
    Join(JoinRequest),
    /// First message on a new connection after the old one was lost: take the seat back.
    Resume {
        token: String,
        mute: MuteConfig,
    },
    UpdateMute {
        mute: MuteConfig,
    },
    /// How much of the media sent to this client was lost lately, in per mille.
    ReceptionReport {
        loss_permille: u16,
    },
    /// Video room: receive video from these members only (answered with `VideoSubscribed`).
    SubscribeVideo {
        open_id_list: Vec<String>,
    },
    /// Video room: this member started (or stopped) sending video.
    PublishVideo {
        publishing: bool,
    },
    /// Leave the room; the server answers `Left` and the client closes.
    Leave,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Admitted: the members now in the room (the joiner included) and a token to resume with.
    Joined {
        open_id_list: Vec<String>,
        /// Each member's media source id, in the order of `open_id_list`.
        sources: Vec<u32>,
        resume_token: String,
    },
    /// Not admitted; the connection closes after this. `code` is an [`crate::ErrorCode`] value.
    Rejected {
        code: i32,
        reason: String,
    },
    MembersChanged {
        open_id_list: Vec<String>,
        sources: Vec<u32>,
    },
    /// The highest loss a member of the room reports: senders set their FEC for it.
    LossHint {
        loss_permille: u16,
    },
    MuteUpdated,
    /// Video room: the members publishing video, in the order they started.
    VideoMembersChanged {
        open_id_list: Vec<String>,
    },
    /// A `SubscribeVideo` took effect.
    VideoSubscribed,
    Left,
    /// The same user joined from another session, which replaced this one.
    Replaced,
    /// The server is going away.
    ShuttingDown,
}

#[derive(Debug)]
pub enum WireError {
    /// The peer closed the stream cleanly between frames.
    Closed,
    Io(std::io::Error),
    TooLarge(usize),
    Malformed(serde_json::Error),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed => write!(f, "stream closed"),
            WireError::Io(e) => write!(f, "i/o error: {e}"),
            WireError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds {MAX_FRAME_BYTES}"),
            WireError::Malformed(e) => write!(f, "malformed message: {e}"),
        }
    }
}

/// Serializes one message into a frame (length prefix included).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let json = serde_json::to_vec(message).expect("wire messages always serialize");
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(&json);
    frame
}

/// Finds the first frame in `buffer`: its JSON body and the bytes the whole frame takes
/// (prefix included), `None` while the frame is still incomplete, or `TooLarge` as soon as
/// the prefix announces more than [`MAX_FRAME_BYTES`] (so a hostile length is refused before
/// anything is buffered for it). The relay's control streams parse with this, and the fuzz
/// target `control_message` drives it with arbitrary bytes.
pub fn split_frame(buffer: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(prefix) = buffer.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(len));
    }
    Ok(buffer.get(4..4 + len).map(|body| (body, 4 + len)))
}

pub async fn write_message<T: Serialize, W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &T,
) -> std::io::Result<()> {
    writer.write_all(&encode(message)).await
}

/// Reads one frame. Not cancel-safe: callers that select on messages read them in a task of
/// their own and forward them through a channel.
pub async fn read_message<T: DeserializeOwned, R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<T, WireError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(WireError::Io(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(WireError::Io)?;
    serde_json::from_slice(&body).map_err(WireError::Malformed)
}

/// Reads messages in a task of its own and forwards them, the last one being the error that
/// ended the stream. Reading a frame is not cancel-safe; receiving from a channel is, so a
/// `select!` loop can wait on this next to other events.
pub fn spawn_reader<T, R>(mut reader: R) -> tokio::sync::mpsc::Receiver<Result<T, WireError>>
where
    T: DeserializeOwned + Send + 'static,
    R: AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let message = read_message(&mut reader).await;
            let stop = message.is_err();
            if tx.send(message).await.is_err() || stop {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_frame_waits_for_a_whole_frame_and_refuses_a_huge_one() {
        let frame = encode(&ClientMessage::Leave);
        for cut in 0..frame.len() {
            assert!(
                split_frame(&frame[..cut]).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let (body, used) = split_frame(&two).unwrap().unwrap();
        assert_eq!((body, used), (&frame[4..], frame.len()));

        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
        assert!(
            matches!(split_frame(&huge), Err(WireError::TooLarge(n)) if n == MAX_FRAME_BYTES + 1)
        );
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let msg = ClientMessage::UpdateMute {
            mute: MuteConfig {
                mute_microphone: true,
                mute_earphone: false,
            },
        };
        let frame = encode(&msg);
        let back: ClientMessage = read_message(&mut frame.as_slice()).await.unwrap();
        assert_eq!(back, msg);
    }

    #[tokio::test]
    async fn oversized_and_malformed_frames_are_errors() {
        let mut huge = (MAX_FRAME_BYTES as u32 + 1).to_be_bytes().to_vec();
        huge.extend(std::iter::repeat(b' ').take(8));
        assert!(matches!(
            read_message::<ClientMessage, _>(&mut huge.as_slice()).await,
            Err(WireError::TooLarge(_))
        ));
        let mut junk = 3u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{x}");
        assert!(matches!(
            read_message::<ClientMessage, _>(&mut junk.as_slice()).await,
            Err(WireError::Malformed(_))
        ));
        let mut unknown = encode(&serde_json::json!({"type": "explode"}));
        assert!(matches!(
            read_message::<ClientMessage, _>(&mut unknown.as_slice()).await,
            Err(WireError::Malformed(_))
        ));
        unknown.clear();
        assert!(matches!(
            read_message::<ClientMessage, _>(&mut unknown.as_slice()).await,
            Err(WireError::Closed)
        ));
    }
}
