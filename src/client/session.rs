//! The session task: one per join, owning the connection for the life of the call. It joins,
//! serves server messages and client commands, resumes a lost connection, and reports every
//! outcome exactly once through the call's completion or the client's events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, Instant};

use super::connect::{self, Link};
use super::media::Media;
use super::video::{self, Video};
use super::{ChatState, ClientShared, Completion, Event, JoinParams};
use crate::error::{ErrorCode, VoipError};
use crate::net::close_code;
use crate::net::wire::{self, ClientMessage, JoinRequest, ServerMessage};
use crate::types::MuteConfig;
use crate::types::RoomType;

pub(crate) enum Command {
    Exit(Completion<()>),
    UpdateMute(MuteConfig, Completion<()>),
    SubscribeVideo(Vec<String>, Completion<()>),
}

/// How long an exit waits for the server's `Left` before closing anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between resume attempts, doubling up to the maximum.
const RESUME_BACKOFF_START: Duration = Duration::from_millis(100);
const RESUME_BACKOFF_MAX: Duration = Duration::from_secs(1);

pub(crate) struct Session {
    shared: Arc<ClientShared>,
    id: u64,
    params: JoinParams,
    commands: mpsc::UnboundedReceiver<Command>,
    /// The mute state the user asked for last; the server is told on join, update and resume.
    mute: MuteConfig,
    /// The mute state the server last acknowledged or was sent.
    mute_sent: MuteConfig,
    /// Mute acknowledgements awaited from the server, in order (`None`: nobody is waiting).
    pending_mutes: VecDeque<Option<Completion<()>>>,
    /// The video subscription asked for last (sent again after a resume), and the answers
    /// awaited from the server, in order (`None`: a re-send nobody waits for).
    video_subscription: Option<Vec<String>>,
    pending_subscriptions: VecDeque<Option<Completion<()>>>,
    resume_token: String,
    media: Arc<Media>,
    video: Arc<Video>,
    /// The room's members as (source id, open id), in room order.
    members: Vec<(u32, String)>,
    /// The speaker list last reported.
    speakers: Vec<String>,
}

/// How often speakers are re-evaluated: fast enough that the list follows speech onsets
/// within a syllable, slow enough to cost nothing.
const SPEAKER_TICK: Duration = Duration::from_millis(50);
/// Reception reports go out every this many speaker ticks (1 s).
const REPORT_EVERY_TICKS: u32 = 20;
/// A reception figure this much above the last one reported (per mille) goes out at the next
/// tick instead: the speakers' encoders put FEC in their packets only once they hear of loss,
/// and a link that starts losing would otherwise go unprotected for up to a second, the first
/// words of a call among them (issue 18: the first utterance of a call at 10 % loss).
const REPORT_RISE_PERMILLE: u16 = 10;
/// Prompt reports are at least this many ticks apart (250 ms), so a fluctuating figure cannot
/// turn reports into a stream.
const REPORT_MIN_GAP_TICKS: u32 = 5;

/// When a listener tells the room what it receives: every second, and at once when its loss
/// rises, so that FEC follows loss within a tick or two rather than a reporting period.
#[derive(Debug, Default)]
struct ReceptionReports {
    /// (figure, tick) of the last report sent.
    last: Option<(u16, u32)>,
}

impl ReceptionReports {
    /// The figure to report at `tick` given the loss measured now, if a report is due.
    fn due(&mut self, tick: u32, loss_permille: u16) -> Option<u16> {
        let due = match self.last {
            None => tick % REPORT_EVERY_TICKS == 0 || loss_permille >= REPORT_RISE_PERMILLE,
            Some((reported, at)) => {
                let since = tick.wrapping_sub(at);
                since >= REPORT_EVERY_TICKS
                    || (since >= REPORT_MIN_GAP_TICKS
                        && loss_permille >= reported.saturating_add(REPORT_RISE_PERMILLE))
            }
        };
        if due {
            self.last = Some((loss_permille, tick));
        }
        due.then_some(loss_permille)
    }
}

/// Why serving a connection stopped.
enum Stop {
    /// The user exited (`None`: the `Client` was dropped).
    Exited(Option<Completion<()>>),
    /// The connection broke; try to resume.
    Lost,
    /// The server ended the call.
    Interrupted(VoipError),
}

enum Resumed {
    Back(Link, Vec<String>, Vec<u32>),
    GaveUp(VoipError),
    Exited(Option<Completion<()>>),
}

type JoinFailure = (VoipError, Option<Completion<()>>);

fn replaced() -> VoipError {
    VoipError::new(
        ErrorCode::SessionReplaced,
        "the same open_id joined from another session",
    )
}

fn server_shutting_down() -> VoipError {
    VoipError::new(ErrorCode::ServerShuttingDown, "the server is shutting down")
}

/// Why the server closed the connection, when it said so with a close code: the notice that
/// travels on the control stream can lose the race with the close itself.
fn stop_for_close(connection: &quinn::Connection) -> Stop {
    match connection.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(close))
            if close.error_code == close_code::SHUTDOWN =>
        {
            Stop::Interrupted(server_shutting_down())
        }
        Some(quinn::ConnectionError::ApplicationClosed(close))
            if close.error_code == close_code::REPLACED =>
        {
            Stop::Interrupted(replaced())
        }
        _ => Stop::Lost,
    }
}

/// Pairs each member's open id with its media source id (older servers send none: 0).
fn pair_members(open_id_list: &[String], sources: &[u32]) -> Vec<(u32, String)> {
    open_id_list
        .iter()
        .enumerate()
        .map(|(i, id)| (sources.get(i).copied().unwrap_or(0), id.clone()))
        .collect()
}

impl Session {
    pub(crate) fn new(
        shared: Arc<ClientShared>,
        id: u64,
        params: JoinParams,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let mute = params.mute_config;
        Self {
            id,
            params,
            commands,
            mute,
            mute_sent: mute,
            pending_mutes: VecDeque::new(),
            video_subscription: None,
            pending_subscriptions: VecDeque::new(),
            resume_token: String::new(),
            media: shared.media.clone(),
            video: shared.video.clone(),
            members: Vec::new(),
            speakers: Vec::new(),
            shared,
        }
    }

    pub(crate) async fn run(mut self, done: Completion<Vec<String>>) {
        let (mut link, open_id_list, sources) = match self.join().await {
            Ok(joined) => joined,
            Err((error, exit)) => {
                self.finish(Some(&error), exit);
                return done.complete(Err(error));
            }
        };
        if let Err(error) = self.start_media(&link, &open_id_list, &sources) {
            link.connection.close(close_code::NORMAL, b"no audio");
            self.finish(Some(&error), None);
            return done.complete(Err(error));
        }
        self.set_state(ChatState::Joined, None);
        done.complete(Ok(open_id_list));
        loop {
            match self.serve(&mut link).await {
                Stop::Exited(exit) => {
                    link.connection.close(close_code::NORMAL, b"bye");
                    return self.finish(None, exit);
                }
                Stop::Interrupted(error) => {
                    link.connection.close(close_code::NORMAL, b"interrupted");
                    return self.interrupted(error);
                }
                Stop::Lost => {
                    link.connection.close(close_code::SUPERSEDED, b"resuming");
                    self.shared
                        .config
                        .logger
                        .warn(format_args!("connection to the relay lost; resuming"));
                    // A resume carries the latest mute state, so these are as good as applied;
                    // the subscription is sent again once resumed.
                    self.pending_mutes
                        .drain(..)
                        .chain(self.pending_subscriptions.drain(..))
                        .flatten()
                        .for_each(|c| c.complete(Ok(())));
                    self.set_state(ChatState::Reconnecting, None);
                    match self.resume().await {
                        Resumed::Back(resumed, open_id_list, sources) => {
                            link = resumed;
                            if let Err(error) = self.start_media(&link, &open_id_list, &sources) {
                                link.connection.close(close_code::NORMAL, b"no audio");
                                return self.interrupted(error);
                            }
                            self.set_state(ChatState::Joined, None);
                            self.shared.emit(Event::MembersChanged(open_id_list));
                        }
                        Resumed::GaveUp(error) => return self.interrupted(error),
                        Resumed::Exited(exit) => return self.finish(None, exit),
                    }
                }
            }
        }
    }

    /// Connects and asks to join, still answering commands meanwhile: an exit abandons the join.
    async fn join(&mut self) -> Result<(Link, Vec<String>, Vec<u32>), JoinFailure> {
        // Devices first: a busy microphone fails the join (-2) before the room sees us.
        self.media.open_devices().map_err(|e| (e, None))?;
        let request = ClientMessage::Join(JoinRequest {
            app_id: self.params.app_id.clone(),
            open_id: self.params.open_id.clone(),
            group_id: self.params.group_id.clone(),
            nonce_str: self.params.nonce_str.clone(),
            time_stamp: self.params.time_stamp,
            signature: self.params.signature.clone(),
            room_type: self.params.room_type,
            mute: self.mute,
        });
        self.mute_sent = self.mute;
        let config = self.shared.config.clone();
        let attempt = connect::open(&config, &request);
        tokio::pin!(attempt);
        let left_while_joining = |exit| {
            let error = VoipError::new(ErrorCode::LeftWhileJoining, "exit called while joining");
            Err((error, exit))
        };
        let (mut link, reply) = loop {
            tokio::select! {
                result = &mut attempt => break result.map_err(|e| (e, None))?,
                command = self.commands.recv() => match command {
                    // Applied right after admission; the join already carries the old state.
                    Some(Command::UpdateMute(mute, reply)) => {
                        self.mute = mute;
                        self.media.set_mute(mute);
                        reply.complete(Ok(()));
                    }
                    Some(Command::SubscribeVideo(open_id_list, reply)) => {
                        reply.complete(self.note_video_subscription(open_id_list));
                    }
                    Some(Command::Exit(reply)) => return left_while_joining(Some(reply)),
                    None => return left_while_joining(None),
                },
            }
        };
        match reply {
            ServerMessage::Joined {
                open_id_list,
                sources,
                resume_token,
            } => {
                self.resume_token = resume_token;
                self.sync_mute(&mut link).await;
                self.resend_video_subscription(&mut link).await;
                Ok((link, open_id_list, sources))
            }
            ServerMessage::Rejected { code, reason } => {
                Err((VoipError::new(ErrorCode::from_i32(code), reason), None))
            }
            other => Err((
                VoipError::new(
                    ErrorCode::System,
                    format!("unexpected answer to a join: {other:?}"),
                ),
                None,
            )),
        }
    }

    /// Tells the server about a mute change it has not heard of (made while joining or resuming).
    async fn sync_mute(&mut self, link: &mut Link) {
        if self.mute != self.mute_sent {
            self.mute_sent = self.mute;
            let update = ClientMessage::UpdateMute { mute: self.mute };
            if wire::write_message(&mut link.send, &update).await.is_ok() {
                self.pending_mutes.push_back(None);
            }
        }
    }

    /// Tells the relay when this member started or stopped publishing video; false if the
    /// connection broke.
    async fn sync_publishing(&mut self, link: &mut Link) -> bool {
        match self.video.publishing_change() {
            Some(publishing) => {
                let publish = ClientMessage::PublishVideo { publishing };
                wire::write_message(&mut link.send, &publish).await.is_ok()
            }
            None => true,
        }
    }

    /// A subscription asked for while joining or resuming: kept, and sent right after
    /// admission (as a mute change is), so it counts as applied.
    fn note_video_subscription(&mut self, open_id_list: Vec<String>) -> Result<(), VoipError> {
        if self.params.room_type != RoomType::Video {
            return Err(not_a_video_room("subscribe_video_members"));
        }
        self.video_subscription = Some(open_id_list);
        Ok(())
    }

    /// After admission or a resume: a subscription asked for meanwhile, or lost with the old
    /// connection. Sending it again is harmless (the relay replaces it), and nobody waits for
    /// its answer.
    async fn resend_video_subscription(&mut self, link: &mut Link) {
        if let Some(open_id_list) = self.video_subscription.clone() {
            let subscribe = ClientMessage::SubscribeVideo { open_id_list };
            if wire::write_message(&mut link.send, &subscribe)
                .await
                .is_ok()
            {
                self.pending_subscriptions.push_back(None);
            }
        }
    }

    /// Serves one live connection until the call ends or the connection breaks.
    async fn serve(&mut self, link: &mut Link) -> Stop {
        let mut exiting: Option<(Option<Completion<()>>, Instant)> = None;
        let mut tick = tokio::time::interval(SPEAKER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u32;
        let mut reports = ReceptionReports::default();
        loop {
            let leave_deadline = exiting.as_ref().map(|(_, deadline)| *deadline);
            tokio::select! {
                message = link.inbox.recv() => match message {
                    Some(Ok(ServerMessage::MembersChanged { open_id_list, sources })) => {
                        self.adopt_members(&open_id_list, &sources);
                        self.shared.emit(Event::MembersChanged(open_id_list));
                    }
                    Some(Ok(ServerMessage::LossHint { loss_permille })) => {
                        self.media.set_reported_loss(loss_permille);
                    }
                    Some(Ok(ServerMessage::MuteUpdated)) => {
                        if let Some(Some(done)) = self.pending_mutes.pop_front() {
                            done.complete(Ok(()));
                        }
                    }
                    Some(Ok(ServerMessage::VideoSubscribed)) => {
                        if let Some(Some(done)) = self.pending_subscriptions.pop_front() {
                            done.complete(Ok(()));
                        }
                    }
                    Some(Ok(ServerMessage::VideoMembersChanged { open_id_list })) => {
                        self.shared.emit(Event::VideoMembersChanged(open_id_list));
                    }
                    Some(Ok(ServerMessage::Left)) if exiting.is_some() => {
                        return Stop::Exited(exiting.take().and_then(|(done, _)| done));
                    }
                    Some(Ok(ServerMessage::Replaced)) => {
                        return Stop::Interrupted(replaced());
                    }
                    Some(Ok(ServerMessage::ShuttingDown)) => {
                        return Stop::Interrupted(server_shutting_down());
                    }
                    Some(Ok(other)) => {
                        self.shared.config.logger.warn(format_args!("ignoring unexpected {other:?}"));
                    }
                    Some(Err(_)) | None => {
                        // A connection that breaks while we are leaving has done its job.
                        return match exiting.take() {
                            Some((done, _)) => Stop::Exited(done),
                            None => stop_for_close(&link.connection),
                        };
                    }
                },
                command = self.commands.recv(), if exiting.is_none() => {
                    let (leave, done) = match command {
                        Some(Command::UpdateMute(mute, done)) => {
                            // Locally at once (the next frame), on the server when it hears.
                            self.media.set_mute(mute);
                            self.mute = mute;
                            self.mute_sent = mute;
                            self.pending_mutes.push_back(Some(done));
                            let update = ClientMessage::UpdateMute { mute };
                            if wire::write_message(&mut link.send, &update).await.is_err() {
                                return Stop::Lost;
                            }
                            continue;
                        }
                        Some(Command::SubscribeVideo(open_id_list, done)) => {
                            if self.params.room_type != RoomType::Video {
                                done.complete(Err(not_a_video_room("subscribe_video_members")));
                                continue;
                            }
                            self.video_subscription = Some(open_id_list.clone());
                            self.pending_subscriptions.push_back(Some(done));
                            let subscribe = ClientMessage::SubscribeVideo { open_id_list };
                            if wire::write_message(&mut link.send, &subscribe).await.is_err() {
                                return Stop::Lost;
                            }
                            continue;
                        }
                        Some(Command::Exit(done)) => (true, Some(done)),
                        None => (true, None), // the Client was dropped: leave politely
                    };
                    debug_assert!(leave);
                    if wire::write_message(&mut link.send, &ClientMessage::Leave).await.is_err() {
                        return Stop::Exited(done);
                    }
                    exiting = Some((done, Instant::now() + LEAVE_TIMEOUT));
                },
                _ = self.video.started_publishing.notified(), if exiting.is_none() => {
                    if !self.sync_publishing(link).await {
                        return Stop::Lost;
                    }
                },
                _ = sleep_until(leave_deadline.unwrap_or_else(Instant::now)), if leave_deadline.is_some() => {
                    return Stop::Exited(exiting.take().and_then(|(done, _)| done));
                },
                _ = tick.tick(), if exiting.is_none() => {
                    if let Some(reason) = self.media.device_failure() {
                        return Stop::Interrupted(VoipError::new(
                            ErrorCode::DeviceBusy,
                            format!("audio device lost: {reason}"),
                        ));
                    }
                    self.report_speakers();
                    if !self.sync_publishing(link).await {
                        return Stop::Lost;
                    }
                    ticks = ticks.wrapping_add(1);
                    if let Some(loss_permille) =
                        reports.due(ticks, self.media.reception_loss_permille())
                    {
                        let report = ClientMessage::ReceptionReport { loss_permille };
                        if wire::write_message(&mut link.send, &report).await.is_err() {
                            return Stop::Lost;
                        }
                    }
                },
            }
        }
    }

    /// Reconnects with the resume token until it works, the seat is gone, or time runs out.
    async fn resume(&mut self) -> Resumed {
        let deadline = Instant::now() + self.shared.config.resume_timeout;
        let mut backoff = RESUME_BACKOFF_START;
        loop {
            let now = Instant::now();
            if now >= deadline {
                // The relay never answered: it is gone, or out of reach. Either way the seat
                // cannot come back here, and the game's backend can place the room on a live
                // node, so say exactly that rather than a generic -1004.
                return Resumed::GaveUp(VoipError::new(
                    ErrorCode::NodeLost,
                    "the relay node was lost; rejoin through your backend",
                ));
            }
            let mut config = self.shared.config.clone();
            config.connect_timeout = config.connect_timeout.min(deadline - now);
            let request = ClientMessage::Resume {
                token: self.resume_token.clone(),
                mute: self.mute,
            };
            self.mute_sent = self.mute;
            let pause = backoff;
            let attempt = async {
                let result = connect::open(&config, &request).await;
                if result.is_err() {
                    sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
                }
                result
            };
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    command = self.commands.recv() => match command {
                        Some(Command::UpdateMute(mute, done)) => {
                            self.mute = mute;
                            self.media.set_mute(mute);
                            done.complete(Ok(()));
                        }
                        Some(Command::SubscribeVideo(open_id_list, done)) => {
                            done.complete(self.note_video_subscription(open_id_list));
                        }
                        Some(Command::Exit(done)) => return Resumed::Exited(Some(done)),
                        None => return Resumed::Exited(None),
                    },
                }
            };
            match result {
                Ok((
                    mut link,
                    ServerMessage::Joined {
                        open_id_list,
                        sources,
                        ..
                    },
                )) => {
                    self.sync_mute(&mut link).await;
                    self.resend_video_subscription(&mut link).await;
                    return Resumed::Back(link, open_id_list, sources);
                }
                Ok((_, ServerMessage::Rejected { reason, .. })) => {
                    return Resumed::GaveUp(VoipError::new(
                        ErrorCode::ServerUnreachable,
                        format!("connection to the server lost and the seat is gone ({reason})"),
                    ));
                }
                Ok((_, other)) => {
                    return Resumed::GaveUp(VoipError::new(
                        ErrorCode::System,
                        format!("unexpected answer to a resume: {other:?}"),
                    ));
                }
                Err(e) if e.code == ErrorCode::CertificateRejected => return Resumed::GaveUp(e),
                Err(e) => {
                    self.shared
                        .config
                        .logger
                        .debug(format_args!("resume attempt failed: {e}"));
                    backoff = (backoff * 2).min(RESUME_BACKOFF_MAX);
                }
            }
        }
    }

    fn interrupted(mut self, error: VoipError) {
        self.shared
            .config
            .logger
            .warn(format_args!("call interrupted: {error}"));
        let pending = self.pending_mutes.drain(..);
        for done in pending
            .chain(self.pending_subscriptions.drain(..))
            .flatten()
        {
            done.complete(Err(VoipError::new(
                ErrorCode::NotInRoom,
                error.reason.clone(),
            )));
        }
        self.end_media();
        self.shared.release(self.id);
        self.shared.emit(Event::Interrupted(error.clone()));
        self.set_state(ChatState::Left, Some(&error));
        self.answer_leftover_commands();
    }

    /// Ends the session: frees the client for the next join first, so a join made from inside
    /// the callbacks below is accepted, then reports.
    fn finish(mut self, error: Option<&VoipError>, exit: Option<Completion<()>>) {
        let pending = self.pending_mutes.drain(..);
        for done in pending
            .chain(self.pending_subscriptions.drain(..))
            .flatten()
        {
            done.complete(Ok(()));
        }
        self.end_media();
        self.shared.release(self.id);
        self.set_state(ChatState::Left, error);
        if let Some(exit) = exit {
            exit.complete(Ok(()));
        }
        self.answer_leftover_commands();
    }

    /// Starts (or, after a resume, restarts) the call's audio on `link`.
    fn start_media(
        &mut self,
        link: &Link,
        open_id_list: &[String],
        sources: &[u32],
    ) -> Result<(), VoipError> {
        self.members = pair_members(open_id_list, sources);
        let connection = link.connection.clone();
        self.media.attach(
            connection.clone(),
            &self.members,
            self.my_source(),
            self.mute,
        )?;
        if self.params.room_type == RoomType::Video {
            self.video.attach(connection.clone(), &self.members);
        } else {
            self.video.attach_voice_room();
        }
        tokio::spawn(receive_loop(
            connection,
            self.media.clone(),
            self.video.clone(),
        ));
        Ok(())
    }

    fn my_source(&self) -> Option<u32> {
        self.members
            .iter()
            .find(|(_, open_id)| *open_id == self.params.open_id)
            .map(|(source, _)| *source)
    }

    fn adopt_members(&mut self, open_id_list: &[String], sources: &[u32]) {
        let me = &self.params.open_id;
        let newcomer = open_id_list
            .iter()
            .any(|id| id != me && !self.members.iter().any(|(_, known)| known == id));
        if newcomer {
            self.media.protect_unmeasured_link();
        }
        self.members = pair_members(open_id_list, sources);
        self.media.set_members(&self.members, self.my_source());
        self.video.set_members(&self.members);
    }

    /// Emits the speaker list when it changed.
    fn report_speakers(&mut self) {
        let order: Vec<String> = self.members.iter().map(|(_, id)| id.clone()).collect();
        let speakers = self.media.speakers(&self.params.open_id, &order);
        if speakers != self.speakers {
            self.speakers = speakers.clone();
            self.shared.emit(Event::SpeakersChanged(speakers));
        }
    }

    /// Stops the call's audio before the client is free for another join (whose devices must
    /// not be closed by this one's ending), and clears a speaker list left showing.
    fn end_media(&mut self) {
        self.media.detach();
        self.video.detach();
        if !self.speakers.is_empty() {
            self.speakers.clear();
            self.shared.emit(Event::SpeakersChanged(Vec::new()));
        }
    }

    /// Commands queued after the session decided to end would otherwise be answered with a
    /// system error by their completions' drop; they get the truthful "not in a room".
    fn answer_leftover_commands(&mut self) {
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            let (Command::Exit(done)
            | Command::UpdateMute(_, done)
            | Command::SubscribeVideo(_, done)) = command;
            done.complete(Err(VoipError::new(ErrorCode::NotInRoom, "not in a room")));
        }
    }

    fn set_state(&self, state: ChatState, reason: Option<&VoipError>) {
        self.shared.set_state(state, &self.params, reason);
    }
}

/// Reads relayed datagrams until the connection closes, handing voice to `media` and video
/// to `video`.
async fn receive_loop(connection: quinn::Connection, media: Arc<Media>, video: Arc<Video>) {
    while let Ok(datagram) = connection.read_datagram().await {
        if video::is_video_datagram(&datagram) {
            video.receive(&datagram);
        } else {
            media.receive(&datagram);
        }
    }
}

/// -1006 for a video call made in a voice room.
pub(crate) fn not_a_video_room(what: &str) -> VoipError {
    VoipError::new(
        ErrorCode::RoomTypeMismatch,
        format!(
            "{what}: this call is in a voice room; video needs a room joined with roomType video"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ticks at which reports go out over `ticks` ticks of a measured figure `loss(tick)`.
    fn reported(ticks: u32, loss: impl Fn(u32) -> u16) -> Vec<(u32, u16)> {
        let mut reports = ReceptionReports::default();
        (1..=ticks)
            .filter_map(|t| reports.due(t, loss(t)).map(|l| (t, l)))
            .collect()
    }

    #[test]
    fn a_clean_link_reports_once_a_second() {
        assert_eq!(reported(60, |_| 0), vec![(20, 0), (40, 0), (60, 0)]);
    }

    #[test]
    fn loss_that_appears_is_reported_at_once_then_at_most_every_quarter_second() {
        // Clean until tick 7, then the figure climbs by 1 % a tick.
        let loss = |t: u32| if t < 7 { 0 } else { ((t - 6) * 10) as u16 };
        let r = reported(30, loss);
        assert_eq!(
            r[0],
            (7, 10),
            "the first loss goes out on its own tick: {r:?}"
        );
        assert_eq!(r[1], (12, 60), "then again once 5 ticks have passed: {r:?}");
        assert!(
            r.windows(2)
                .all(|w| w[1].0 - w[0].0 >= REPORT_MIN_GAP_TICKS),
            "{r:?}"
        );
    }

    #[test]
    fn falling_loss_waits_for_the_periodic_report() {
        // 10 % from the start, then 5 % from tick 10: the fall is news only at tick 21.
        let r = reported(45, |t| if t < 10 { 100 } else { 50 });
        assert_eq!(r, vec![(1, 100), (21, 50), (41, 50)]);
    }
}
