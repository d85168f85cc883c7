//! One client connection: the handshake, the first message (join or resume), then the control
//! loop. Whatever this client does wrong ends this connection only.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use tokio::sync::mpsc;
use tokio::time::timeout;

use quinn_proto::{ConnectionError, VarInt};

use super::admission::Refusal;
use super::control_io::ControlIo;
use super::media::RoomMedia;
use super::rooms::{source_of, JoinRefusal, JoinSeat, MemberLink, SessionId, LINK_QUEUE};
use super::Shared;
use crate::auth::to_lower_hex;
use crate::cluster::{ClusterRefusal, JoinToCheck};
use crate::error::ErrorCode;
use crate::net::close_code;
use crate::net::wire::{ClientMessage, JoinRequest, ServerMessage, WireError};

/// After `Left` or `Rejected`, how long to wait for the client to close first.
const LINGER: Duration = Duration::from_secs(2);

pub(crate) async fn serve(shared: Arc<Shared>, mut io: ControlIo) {
    let remote = io.remote_address();
    let log = shared.logger.clone();
    match timeout(shared.handshake_timeout, io.connected()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return log.debug(format_args!("{remote}: handshake failed: {e}")),
        Err(_) => {
            log.debug(format_args!("{remote}: handshake timed out"));
            return io.close(close_code::PROTOCOL_ERROR, b"handshake timed out");
        }
    }
    let first = match timeout(shared.handshake_timeout, io.read_message::<ClientMessage>()).await {
        Ok(Ok(first)) => first,
        Ok(Err(e)) => {
            log.info(format_args!("{remote}: closed before joining: {e}"));
            return io.close(close_code::PROTOCOL_ERROR, b"expected a join");
        }
        Err(_) => {
            log.info(format_args!(
                "{remote}: no join within {:?}",
                shared.handshake_timeout
            ));
            return io.close(close_code::PROTOCOL_ERROR, b"join timed out");
        }
    };
    let mut control = Control {
        shared: shared.clone(),
        io,
        remote,
    };
    let (link, outbox) = mpsc::channel(LINK_QUEUE);
    let seated = match first {
        ClientMessage::Join(request) => control.admit(request, link.clone()).await,
        ClientMessage::Resume { token, mute } => control.resume(&token, link.clone(), mute).await,
        other => {
            log.warn(format_args!(
                "{remote}: first message was {other:?}, not a join"
            ));
            control
                .io
                .close(close_code::PROTOCOL_ERROR, b"expected a join");
            None
        }
    };
    if let Some(seat) = seated {
        control.run(seat, link, outbox).await;
    }
}

struct Control {
    shared: Arc<Shared>,
    io: ControlIo,
    remote: std::net::SocketAddr,
}

/// The most open ids a video subscription keeps (the SDK refuses longer lists with -1001).
pub const MAX_VIDEO_SUBSCRIPTION: usize = 64;

/// A member's place: its session, and the room's forwarding table its datagrams go through.
struct Seat {
    session: SessionId,
    media: Arc<RoomMedia>,
}

/// How the control loop ended, which decides what happens to the seat.
enum Ending {
    /// The client left, or its seat is gone already: nothing to keep.
    Done,
    /// The connection was lost: keep the seat for a resume.
    Lost,
    /// The client misbehaved or stalled: free the seat now.
    Evict,
}

impl Control {
    /// Queues a message for the client; `false` when the connection is gone. (A client that
    /// stops reading is closed by the driver once too much is queued for it.)
    fn write(&self, message: &ServerMessage) -> bool {
        self.io.write(message)
    }

    /// Sends a final message, then lets the client close the connection (so the message is
    /// surely delivered), closing it ourselves if the client lingers.
    async fn finish_with(&mut self, message: &ServerMessage, code: VarInt) {
        if self.write(message) {
            self.io.finish();
            let _ = timeout(LINGER, self.io.closed()).await;
        }
        self.io.close(code, b"");
    }

    async fn admit(&mut self, request: JoinRequest, link: MemberLink) -> Option<Seat> {
        let log = &self.shared.logger;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let checked = self.shared.admission().check(&request, now);
        if let Err(refusal) = checked {
            log.info(format_args!(
                "{}: join of {:?} to {:?} refused: {refusal:?}",
                self.remote, request.open_id, request.group_id
            ));
            // The reason the client sees does not say which check failed.
            let (code, reason) = match refusal {
                Refusal::InvalidField(field) => {
                    (ErrorCode::InvalidArgument, format!("invalid {field}"))
                }
                _ => (
                    ErrorCode::SignatureRejected,
                    "signature rejected".to_string(),
                ),
            };
            self.reject(code, reason).await;
            return None;
        }
        if let Err((code, reason)) = self.check_placement(&request, now).await {
            log.info(format_args!(
                "{}: join of {:?} to {:?} refused: {reason}",
                self.remote, request.open_id, request.group_id
            ));
            self.reject(code, reason).await;
            return None;
        }
        let token = new_resume_token();
        let seat = JoinSeat {
            app_id: &request.app_id,
            open_id: &request.open_id,
            group_id: &request.group_id,
            room_type: request.room_type,
            mute: request.mute,
            connection: Some(self.io.id()),
        };
        let joined = self.shared.rooms().join(seat, token, link);
        match joined {
            Ok(admitted) => {
                log.info(format_args!(
                    "{}: {:?} joined {:?} ({} members{})",
                    self.remote,
                    request.open_id,
                    request.group_id,
                    admitted.open_id_list.len(),
                    if admitted.replaced_another {
                        ", replacing an older session"
                    } else {
                        ""
                    }
                ));
                let reply = ServerMessage::Joined {
                    open_id_list: admitted.open_id_list,
                    sources: admitted.sources,
                    resume_token: admitted.resume_token,
                };
                let mut written = self.write(&reply);
                if written && admitted.loss_permille > 0 {
                    let hint = ServerMessage::LossHint {
                        loss_permille: admitted.loss_permille,
                    };
                    written = self.write(&hint);
                }
                if written {
                    Some(Seat {
                        session: admitted.session,
                        media: admitted.media,
                    })
                } else {
                    self.shared.rooms().leave(admitted.session);
                    None
                }
            }
            Err(refusal) => {
                let (code, reason) = match refusal {
                    JoinRefusal::RoomFull => (ErrorCode::RoomFull, "room is full".to_string()),
                    JoinRefusal::RoomTypeMismatch { existing } => (
                        ErrorCode::RoomTypeMismatch,
                        format!("room is a {} room", existing.as_str()),
                    ),
                };
                log.info(format_args!(
                    "{}: join to {:?} refused: {reason}",
                    self.remote, request.group_id
                ));
                self.reject(code, reason).await;
                None
            }
        }
    }

    /// The checks that involve other nodes: a draining relay opens no new room, and in a
    /// cluster the directory must assign the room here and the nonce must be unused anywhere.
    async fn check_placement(
        &self,
        request: &JoinRequest,
        now: i64,
    ) -> Result<(), (ErrorCode, String)> {
        let room_is_here = self
            .shared
            .rooms()
            .hosts(&request.app_id, &request.group_id);
        let cluster = self.shared.cluster.as_deref();
        if self.shared.is_draining() && !room_is_here {
            if let Some(node) = cluster {
                // Pinned here just before the drain began: hand it back, so the backend's
                // next placement picks an active node instead of this one again.
                if let Err(e) = node.release_room(&request.app_id, &request.group_id).await {
                    self.shared.logger.warn(format_args!("{e}"));
                }
            }
            return Err((
                ErrorCode::RoomElsewhere,
                "this relay is draining and opens no new rooms; place the room again".into(),
            ));
        }
        let Some(node) = cluster else { return Ok(()) };
        let window = self.shared.timestamp_window_secs;
        let valid_until = request.time_stamp.saturating_add(window);
        let nonce_ttl = Duration::from_secs(valid_until.saturating_sub(now).max(1) as u64);
        let join = JoinToCheck {
            app_id: &request.app_id,
            open_id: &request.open_id,
            group_id: &request.group_id,
            nonce_str: &request.nonce_str,
            nonce_ttl,
            room_is_here,
        };
        match node.check_join(join).await {
            Ok(()) => Ok(()),
            // The same answer as every other admission failure: a prober learns nothing.
            Err(ClusterRefusal::ReplayedNonce) => Err((
                ErrorCode::SignatureRejected,
                "signature rejected".to_string(),
            )),
            Err(ClusterRefusal::Elsewhere(owner)) => Err((
                ErrorCode::RoomElsewhere,
                match owner {
                    Some(_) => "the room is assigned to another relay node; place it again",
                    None => "the room is not placed on this relay node; place it first",
                }
                .to_string(),
            )),
            Err(ClusterRefusal::Unavailable(e)) => Err((e.code, e.reason)),
        }
    }

    async fn resume(
        &mut self,
        token: &str,
        link: MemberLink,
        mute: crate::MuteConfig,
    ) -> Option<Seat> {
        let connection = Some(self.io.id());
        let resumed = self.shared.rooms().resume(token, link, mute, connection);
        let Some(resumed) = resumed else {
            self.reject(ErrorCode::NotInRoom, "no seat to resume".into())
                .await;
            return None;
        };
        self.shared.logger.info(format_args!(
            "{}: resumed session {}",
            self.remote, resumed.session
        ));
        let reply = ServerMessage::Joined {
            open_id_list: resumed.open_id_list,
            sources: resumed.sources,
            resume_token: token.to_string(),
        };
        self.write(&reply).then_some(Seat {
            session: resumed.session,
            media: resumed.media,
        })
    }

    async fn reject(&mut self, code: ErrorCode, reason: String) {
        let message = ServerMessage::Rejected {
            code: code.as_i32(),
            reason,
        };
        self.finish_with(&message, close_code::REJECTED).await;
    }

    async fn run(
        mut self,
        seat: Seat,
        link: MemberLink,
        mut outbox: mpsc::Receiver<ServerMessage>,
    ) {
        let session = seat.session;
        self.io.attach_media(seat.media, source_of(session));
        let ending = loop {
            tokio::select! {
                incoming = self.io.read_message::<ClientMessage>() => match incoming {
                    Ok(message) => {
                        if let Some(ending) = self.handle(session, &link, message).await {
                            break ending;
                        }
                    }
                    Err(WireError::Closed | WireError::Io(_)) => break self.classify_loss().await,
                    Err(e) => {
                        self.shared.logger.warn(format_args!("{}: protocol error: {e}", self.remote));
                        self.io.close(close_code::PROTOCOL_ERROR, b"protocol error");
                        break Ending::Evict;
                    }
                },
                outgoing = outbox.recv() => match outgoing {
                    Some(ServerMessage::Replaced) => {
                        self.finish_with(&ServerMessage::Replaced, close_code::REPLACED).await;
                        break Ending::Done;
                    }
                    Some(ServerMessage::ShuttingDown) => {
                        self.finish_with(&ServerMessage::ShuttingDown, close_code::SHUTDOWN).await;
                        break Ending::Evict;
                    }
                    Some(message) => {
                        if !self.write(&message) {
                            // The connection is gone (a member list sent just as this member
                            // left): find out how it ended.
                            break self.classify_loss().await;
                        }
                    }
                    None => {
                        // The registry dropped our link: resumed elsewhere, or too slow to keep.
                        self.io.close(close_code::TOO_SLOW, b"link dropped");
                        break Ending::Done;
                    }
                },
            }
        };
        self.end(session, &link, ending);
    }

    /// Tells a client that closed on purpose (close code 0: it left or gave up joining) from a
    /// connection that broke, which keeps the seat for a resume.
    async fn classify_loss(&mut self) -> Ending {
        match timeout(Duration::from_millis(200), self.io.closed()).await {
            Ok(ConnectionError::ApplicationClosed(close))
                if close.error_code == close_code::NORMAL =>
            {
                Ending::Evict
            }
            Ok(ConnectionError::LocallyClosed) => Ending::Evict,
            Ok(_) => Ending::Lost,
            // The stream ended but the connection lives on: the client broke the protocol.
            Err(_) => {
                self.io
                    .close(close_code::PROTOCOL_ERROR, b"control stream ended");
                Ending::Evict
            }
        }
    }

    /// Handles one client message; `Some` ends the connection.
    async fn handle(
        &mut self,
        session: SessionId,
        link: &MemberLink,
        message: ClientMessage,
    ) -> Option<Ending> {
        match message {
            ClientMessage::UpdateMute { mute } => {
                self.shared.rooms().update_mute(session, mute);
                (!self.write(&ServerMessage::MuteUpdated)).then_some(Ending::Evict)
            }
            ClientMessage::ReceptionReport { loss_permille } => {
                self.shared.rooms().report_loss(session, loss_permille);
                None
            }
            ClientMessage::SubscribeVideo { mut open_id_list } => {
                // A room holds a few members; a longer list can only be a hostile client's,
                // and is cut to what a room could hold so it cannot grow the relay's state.
                open_id_list.truncate(MAX_VIDEO_SUBSCRIPTION);
                self.shared.rooms().subscribe_video(session, open_id_list);
                (!self.write(&ServerMessage::VideoSubscribed)).then_some(Ending::Evict)
            }
            ClientMessage::PublishVideo { publishing } => {
                self.shared.rooms().set_publishing(session, publishing);
                None
            }
            ClientMessage::Leave => {
                if self.shared.rooms().is_attached(session, link) {
                    self.shared.rooms().leave(session);
                }
                self.shared
                    .logger
                    .info(format_args!("{}: session {session} left", self.remote));
                self.finish_with(&ServerMessage::Left, close_code::NORMAL)
                    .await;
                Some(Ending::Done)
            }
            ClientMessage::Join(_) | ClientMessage::Resume { .. } => {
                self.shared.logger.warn(format_args!(
                    "{}: second join on one connection",
                    self.remote
                ));
                self.io.close(close_code::PROTOCOL_ERROR, b"already joined");
                Some(Ending::Evict)
            }
        }
    }

    fn end(self, session: SessionId, link: &MemberLink, ending: Ending) {
        let shared = self.shared;
        let mut rooms = shared.rooms();
        if !rooms.is_attached(session, link) {
            // A resumed seat belongs to the newer connection now; leave it alone. A seat whose
            // link the registry cut is nobody's: free it.
            if rooms.is_cut_off(session) {
                rooms.leave(session);
            }
            return;
        }
        match ending {
            Ending::Done => {}
            Ending::Evict => rooms.leave(session),
            Ending::Lost if shared.resume_grace.is_zero() => rooms.leave(session),
            Ending::Lost => {
                let Some(generation) = rooms.detach(session) else {
                    return;
                };
                drop(rooms);
                shared.logger.info(format_args!(
                    "{}: connection lost; seat kept for a resume",
                    self.remote
                ));
                let grace = shared.resume_grace;
                let shared = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    if shared.rooms().expire(session, generation) {
                        shared
                            .logger
                            .info(format_args!("session {session} not resumed; removed"));
                    }
                });
            }
        }
    }
}

fn new_resume_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    to_lower_hex(&bytes)
}
