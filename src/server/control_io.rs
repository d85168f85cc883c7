//! One connection as its control task sees it: the events the driver reports (handshake done,
//! control-stream bytes, connection lost) and the requests it makes of the driver (write,
//! finish, close, where this member's media goes). The driver owns the QUIC state; a control
//! task never touches it, so nothing on the media path waits for a control task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use quinn_proto::{ConnectionError, ConnectionHandle, VarInt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::media::RoomMedia;
use crate::net::wire::{self, ServerMessage, WireError, MAX_FRAME_BYTES};

/// The relay's name for a connection: the driver loop that owns it, quinn's handle there
/// (which quinn reuses once a connection is gone) and a serial number that loop never reuses.
/// A stale name (a room's snapshot not yet updated after a member left) can then never reach
/// the connection that took the handle over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId {
    pub(crate) driver: usize,
    pub(crate) handle: ConnectionHandle,
    pub(crate) serial: u64,
}

/// Control-stream bytes the driver hands a control task before that task has parsed them.
/// Legitimate clients send a few small messages; more than this unread is a flood, and the
/// driver closes the connection rather than buffer it.
pub(crate) const MAX_UNREAD_BYTES: usize = 4 * MAX_FRAME_BYTES;

/// What the driver tells a control task about its connection.
#[derive(Debug)]
pub(crate) enum ConnectionEvent {
    /// The handshake completed.
    Connected,
    /// Bytes of the control stream, in order.
    Data(Bytes),
    /// The client finished (or reset) its side of the control stream.
    Finished,
    /// The connection is gone, and why. Nothing follows.
    Lost(ConnectionError),
}

/// What a control task asks of the driver.
pub(crate) enum Command {
    /// Append to the control stream (a whole frame).
    Write { id: ConnectionId, frame: Bytes },
    /// Finish the control stream once everything written so far is sent.
    Finish { id: ConnectionId },
    Close {
        id: ConnectionId,
        code: VarInt,
        reason: Bytes,
    },
    /// Forward this connection's datagrams through `room` as `source` (after a join).
    Attach {
        id: ConnectionId,
        room: Arc<RoomMedia>,
        source: u32,
    },
    /// Datagrams another driver loop forwards to connections this one owns.
    Deliver {
        datagrams: Vec<(ConnectionId, Bytes)>,
    },
    /// Stop the loop at once: connections vanish without a close (the server was dropped).
    Stop,
    /// Close every connection with this code, refuse new ones, and report when all are gone.
    Shutdown {
        code: VarInt,
        reason: Bytes,
        done: oneshot::Sender<()>,
    },
}

/// The control task's handle on one connection.
pub(crate) struct ControlIo {
    id: ConnectionId,
    remote: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<ConnectionEvent>,
    /// Bytes the driver has handed over and this side has not parsed yet (shared so the driver
    /// can tell a flood from a slow reader).
    unread: Arc<AtomicUsize>,
    buffer: BytesMut,
    stream_finished: bool,
    lost: Option<ConnectionError>,
}

impl ControlIo {
    pub(crate) fn new(
        id: ConnectionId,
        remote: SocketAddr,
        commands: mpsc::UnboundedSender<Command>,
        events: mpsc::UnboundedReceiver<ConnectionEvent>,
        unread: Arc<AtomicUsize>,
    ) -> ControlIo {
        ControlIo {
            id,
            remote,
            commands,
            events,
            unread,
            buffer: BytesMut::new(),
            stream_finished: false,
            lost: None,
        }
    }

    pub(crate) fn id(&self) -> ConnectionId {
        self.id
    }

    pub(crate) fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    /// The next event, or `Lost` once the driver has let go of the connection.
    async fn next_event(&mut self) -> ConnectionEvent {
        if let Some(reason) = &self.lost {
            return ConnectionEvent::Lost(reason.clone());
        }
        let event = self
            .events
            .recv()
            .await
            .unwrap_or(ConnectionEvent::Lost(ConnectionError::LocallyClosed));
        if let ConnectionEvent::Lost(reason) = &event {
            self.lost = Some(reason.clone());
        }
        event
    }

    /// Waits for the handshake to complete.
    pub(crate) async fn connected(&mut self) -> Result<(), ConnectionError> {
        loop {
            match self.next_event().await {
                ConnectionEvent::Connected => return Ok(()),
                ConnectionEvent::Lost(reason) => return Err(reason),
                // Nothing arrives on the stream before the handshake is done; keep it anyway.
                ConnectionEvent::Data(bytes) => self.buffer.extend_from_slice(&bytes),
                ConnectionEvent::Finished => self.stream_finished = true,
            }
        }
    }

    /// The next message on the control stream. Cancel-safe: everything received is kept in
    /// `self` between awaits, so a `select!` loop can wait on it beside other events.
    pub(crate) async fn read_message<T: DeserializeOwned>(&mut self) -> Result<T, WireError> {
        loop {
            if let Some(message) = self.parse_frame()? {
                return Ok(message);
            }
            if self.stream_finished {
                return Err(if self.buffer.is_empty() {
                    WireError::Closed
                } else {
                    WireError::Io(std::io::ErrorKind::UnexpectedEof.into())
                });
            }
            match self.next_event().await {
                ConnectionEvent::Data(bytes) => self.buffer.extend_from_slice(&bytes),
                ConnectionEvent::Finished => self.stream_finished = true,
                ConnectionEvent::Connected => {}
                ConnectionEvent::Lost(reason) => {
                    return Err(WireError::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        reason,
                    )))
                }
            }
        }
    }

    fn parse_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, WireError> {
        let Some((body, used)) = wire::split_frame(&self.buffer)? else {
            return Ok(None);
        };
        let message = serde_json::from_slice(body).map_err(WireError::Malformed);
        self.buffer.advance(used);
        self.unread.fetch_sub(used, Ordering::Relaxed);
        message.map(Some)
    }

    /// Queues a message on the control stream. The driver sends it as flow control allows and
    /// closes a connection whose client stops reading; `false` means the connection is gone.
    pub(crate) fn write(&self, message: &ServerMessage) -> bool {
        self.lost.is_none()
            && self
                .commands
                .send(Command::Write {
                    id: self.id,
                    frame: wire::encode(message).into(),
                })
                .is_ok()
    }

    pub(crate) fn finish(&self) {
        let _ = self.commands.send(Command::Finish { id: self.id });
    }

    pub(crate) fn close(&self, code: VarInt, reason: &'static [u8]) {
        let _ = self.commands.send(Command::Close {
            id: self.id,
            code,
            reason: Bytes::from_static(reason),
        });
    }

    /// Routes this connection's datagrams through `room` from now on.
    pub(crate) fn attach_media(&self, room: Arc<RoomMedia>, source: u32) {
        let _ = self.commands.send(Command::Attach {
            id: self.id,
            room,
            source,
        });
    }

    /// Waits until the connection is gone, and says why. Control bytes that arrive meanwhile
    /// are dropped: whoever waits for the end has stopped reading.
    pub(crate) async fn closed(&mut self) -> ConnectionError {
        loop {
            if let ConnectionEvent::Lost(reason) = self.next_event().await {
                return reason;
            }
        }
    }
}
