//! The room registry: who is in which room, one session per user, resumable seats.
//!
//! Pure state behind one lock, no I/O: messages to members go through bounded channels with
//! `try_send`, so a member that stops reading is cut off instead of stalling everyone else.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::control_io::ConnectionId;
use super::media::{Recipient, RoomMedia};
use super::video_routing::video_sources_for;

use crate::net::wire::ServerMessage;
use crate::types::{MuteConfig, RoomType};

pub type SessionId = u64;

/// Control messages queued for one member's connection before it is considered stuck.
pub const LINK_QUEUE: usize = 64;

/// The sending half towards one member's connection task.
pub type MemberLink = mpsc::Sender<ServerMessage>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct UserKey {
    app_id: String,
    open_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    pub app_id: String,
    pub group_id: String,
}

struct Session {
    user: UserKey,
    room: RoomKey,
    resume_token: String,
    /// `None` while the member's connection is lost and it may still resume.
    link: Option<MemberLink>,
    /// Bumped on every detach so a stale expiry timer cannot evict a resumed member.
    detach_generation: u64,
    mute: MuteConfig,
    /// Where this member's media goes; `None` while detached (and in unit tests).
    connection: Option<ConnectionId>,
    /// The loss this member last reported receiving, in per mille.
    reported_loss_permille: u16,
    /// Whether this member has reported at all: senders spend FEC for a newcomer's link until
    /// its first report, which the room therefore always hears.
    has_reported: bool,
    /// The open ids whose video this member asked for; `None` until it asks (the default rule
    /// of `video_routing.rs` applies).
    video_subscription: Option<Vec<String>>,
}

struct Room {
    room_type: RoomType,
    /// In join order, so every member sees the same list.
    members: Vec<SessionId>,
    media: Arc<RoomMedia>,
    /// The highest loss any member reports, as last announced to the room.
    announced_loss_permille: u16,
    /// Members publishing video, in the order they started.
    publishers: Vec<SessionId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefusal {
    RoomFull,
    RoomTypeMismatch { existing: RoomType },
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("session", &self.session)
            .field("open_id_list", &self.open_id_list)
            .finish_non_exhaustive()
    }
}

pub struct Admitted {
    pub session: SessionId,
    pub open_id_list: Vec<String>,
    /// Each member's media source id, in the order of `open_id_list`.
    pub sources: Vec<u32>,
    pub resume_token: String,
    /// Whether an older session of the same user was replaced (and told so).
    pub replaced_another: bool,
    pub media: Arc<RoomMedia>,
    /// The loss last announced to the room (per mille), for the newcomer's encoder: it would
    /// otherwise hear of it only when the figure next changes.
    pub loss_permille: u16,
}

pub struct Resumed {
    pub session: SessionId,
    pub open_id_list: Vec<String>,
    pub sources: Vec<u32>,
    pub media: Arc<RoomMedia>,
}

pub struct JoinSeat<'a> {
    pub app_id: &'a str,
    pub open_id: &'a str,
    pub group_id: &'a str,
    pub room_type: RoomType,
    pub mute: MuteConfig,
    pub connection: Option<ConnectionId>,
}

/// A session's media source id: what receivers see on its datagrams.
pub fn source_of(session: SessionId) -> u32 {
    session as u32
}

pub struct Rooms {
    max_members: usize,
    rooms: HashMap<RoomKey, Room>,
    sessions: HashMap<SessionId, Session>,
    by_user: HashMap<UserKey, SessionId>,
    by_token: HashMap<String, SessionId>,
    next_session: SessionId,
}

impl Rooms {
    pub fn new(max_members: usize) -> Self {
        Self {
            max_members,
            rooms: HashMap::new(),
            sessions: HashMap::new(),
            by_user: HashMap::new(),
            by_token: HashMap::new(),
            next_session: 1,
        }
    }

    /// Seats a member, creating the room on first join. If the same user already has a session,
    /// the new one replaces it (the newer session wins) — but only if the new seat is available,
    /// so a refused join never costs the user the call they are in.
    pub fn join(
        &mut self,
        seat: JoinSeat<'_>,
        resume_token: String,
        link: MemberLink,
    ) -> Result<Admitted, JoinRefusal> {
        let user = UserKey {
            app_id: seat.app_id.to_string(),
            open_id: seat.open_id.to_string(),
        };
        let room_key = RoomKey {
            app_id: seat.app_id.to_string(),
            group_id: seat.group_id.to_string(),
        };
        let previous = self.by_user.get(&user).copied();
        if let Some(room) = self.rooms.get(&room_key) {
            if room.room_type != seat.room_type {
                return Err(JoinRefusal::RoomTypeMismatch {
                    existing: room.room_type,
                });
            }
            let staying = room
                .members
                .iter()
                .filter(|&&id| Some(id) != previous)
                .count();
            if staying >= self.max_members {
                return Err(JoinRefusal::RoomFull);
            }
        } else if self.max_members == 0 {
            return Err(JoinRefusal::RoomFull);
        }

        let replaced_another = previous.is_some();
        if let Some(old) = previous {
            let same_room = self.sessions.get(&old).is_some_and(|s| s.room == room_key);
            if let Some(link) = self.sessions.get(&old).and_then(|s| s.link.as_ref()) {
                let _ = link.try_send(ServerMessage::Replaced);
            }
            // In the same room the seat changes hands and the member list stays the same.
            self.remove(old, !same_room);
        }

        let session = self.next_session;
        self.next_session += 1;
        let room = self.rooms.entry(room_key.clone()).or_insert_with(|| Room {
            room_type: seat.room_type,
            members: Vec::new(),
            media: Arc::new(RoomMedia::new(seat.room_type)),
            announced_loss_permille: 0,
            publishers: Vec::new(),
        });
        room.members.push(session);
        self.by_user.insert(user.clone(), session);
        self.by_token.insert(resume_token.clone(), session);
        self.sessions.insert(
            session,
            Session {
                user,
                room: room_key.clone(),
                resume_token: resume_token.clone(),
                link: Some(link),
                detach_generation: 0,
                mute: seat.mute,
                connection: seat.connection,
                reported_loss_permille: 0,
                has_reported: false,
                video_subscription: None,
            },
        );
        self.refresh_media(&room_key);
        self.broadcast_members(&room_key, Some(session));
        if seat.room_type == RoomType::Video {
            // After its `Joined` (the link is read only once that is written): who already
            // publishes, so the newcomer's list is right from the start.
            self.send_video_members(&room_key, session);
        }
        Ok(Admitted {
            session,
            open_id_list: self.members_of(&room_key),
            sources: self.sources_of(&room_key),
            resume_token,
            replaced_another,
            media: self.rooms[&room_key].media.clone(),
            loss_permille: self.rooms[&room_key].announced_loss_permille,
        })
    }

    /// Removes a member for good (a leave, or an expired seat). Unknown ids are ignored, so a
    /// replaced session's connection can call this on its way out without harm.
    pub fn leave(&mut self, session: SessionId) {
        self.remove(session, true);
    }

    /// Marks a member's connection as lost; the seat is kept for a resume. Returns the
    /// generation to pass to [`Rooms::expire`].
    pub fn detach(&mut self, session: SessionId) -> Option<u64> {
        let s = self.sessions.get_mut(&session)?;
        s.link = None;
        s.connection = None;
        s.detach_generation += 1;
        let (generation, room) = (s.detach_generation, s.room.clone());
        self.refresh_media(&room);
        Some(generation)
    }

    /// Removes a member whose seat was not resumed since `generation`'s detach.
    pub fn expire(&mut self, session: SessionId, generation: u64) -> bool {
        let still_detached = self
            .sessions
            .get(&session)
            .is_some_and(|s| s.link.is_none() && s.detach_generation == generation);
        if still_detached {
            self.remove(session, true);
        }
        still_detached
    }

    /// Gives a detached (or about-to-be-detached) seat a new connection.
    pub fn resume(
        &mut self,
        token: &str,
        link: MemberLink,
        mute: MuteConfig,
        connection: Option<ConnectionId>,
    ) -> Option<Resumed> {
        let session = *self.by_token.get(token)?;
        let s = self.sessions.get_mut(&session)?;
        // Any connection still attached is a stale one the client has already given up on.
        s.link = Some(link);
        s.connection = connection;
        s.detach_generation += 1;
        s.mute = mute;
        let room = s.room.clone();
        self.refresh_media(&room);
        Some(Resumed {
            session,
            open_id_list: self.members_of(&room),
            sources: self.sources_of(&room),
            media: self.rooms[&room].media.clone(),
        })
    }

    pub fn update_mute(&mut self, session: SessionId, mute: MuteConfig) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        s.mute = mute;
        let room = s.room.clone();
        self.refresh_media(&room);
        true
    }

    /// The open ids whose video `session` receives from now on, in place of the default rule.
    pub fn subscribe_video(&mut self, session: SessionId, open_id_list: Vec<String>) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        s.video_subscription = Some(open_id_list);
        let room = s.room.clone();
        self.refresh_media(&room);
        true
    }

    /// A member started or stopped publishing video; the room hears the new list of
    /// publishers when it changed. Ignored outside video rooms.
    pub fn set_publishing(&mut self, session: SessionId, publishing: bool) {
        let Some(room_key) = self.sessions.get(&session).map(|s| s.room.clone()) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&room_key) else {
            return;
        };
        let listed = room.publishers.contains(&session);
        if room.room_type != RoomType::Video || listed == publishing {
            return;
        }
        if publishing {
            room.publishers.push(session);
        } else {
            room.publishers.retain(|&id| id != session);
        }
        self.refresh_media(&room_key);
        self.broadcast_video_members(&room_key);
    }

    /// The open ids of the room's video publishers, in the order they started.
    pub fn video_members_of(&self, room: &RoomKey) -> Vec<String> {
        self.rooms
            .get(room)
            .map(|r| {
                r.publishers
                    .iter()
                    .filter_map(|id| self.sessions.get(id))
                    .map(|s| s.user.open_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn mute_of(&self, session: SessionId) -> Option<MuteConfig> {
        self.sessions.get(&session).map(|s| s.mute)
    }

    /// Whether `link` is still the connection attached to `session`.
    pub fn is_attached(&self, session: SessionId, link: &MemberLink) -> bool {
        self.sessions
            .get(&session)
            .and_then(|s| s.link.as_ref())
            .is_some_and(|l| l.same_channel(link))
    }

    /// Whether the registry cut this member's link (it stopped reading) and nobody resumed it.
    pub fn is_cut_off(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.link.is_none())
    }

    /// Tells every connected member the server is going away.
    pub fn announce_shutdown(&mut self) {
        for s in self.sessions.values() {
            if let Some(link) = &s.link {
                let _ = link.try_send(ServerMessage::ShuttingDown);
            }
        }
    }

    /// Whether a room with these ids runs here.
    pub fn hosts(&self, app_id: &str, group_id: &str) -> bool {
        self.rooms.contains_key(&RoomKey {
            app_id: app_id.to_string(),
            group_id: group_id.to_string(),
        })
    }

    /// The (app_id, group_id) of every room running here.
    pub fn room_ids(&self) -> Vec<(String, String)> {
        self.rooms
            .keys()
            .map(|key| (key.app_id.clone(), key.group_id.clone()))
            .collect()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Members whose connection is attached (not waiting for a resume).
    pub fn connected_count(&self) -> usize {
        self.sessions.values().filter(|s| s.link.is_some()).count()
    }

    pub fn member_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn members_of(&self, room: &RoomKey) -> Vec<String> {
        self.rooms
            .get(room)
            .map(|r| {
                r.members
                    .iter()
                    .map(|id| self.sessions[id].user.open_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn sources_of(&self, room: &RoomKey) -> Vec<u32> {
        self.rooms
            .get(room)
            .map(|r| r.members.iter().map(|&id| source_of(id)).collect())
            .unwrap_or_default()
    }

    /// Records the loss a member reports receiving. When the room's highest figure moves by at
    /// least 1%, every member hears the new one, so senders tune their FEC to the worst
    /// listener (what in-band FEC can recover depends on the encoder's expected loss). A
    /// member's first report is always heard: senders protect a newcomer's unmeasured link
    /// with FEC until then, and a clean one's report is what tells them to stop.
    pub fn report_loss(&mut self, session: SessionId, loss_permille: u16) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.reported_loss_permille = loss_permille.min(1000);
        let first_report = !std::mem::replace(&mut s.has_reported, true);
        let room_key = s.room.clone();
        let Some(room) = self.rooms.get(&room_key) else {
            return;
        };
        let worst = room
            .members
            .iter()
            .filter_map(|id| self.sessions.get(id))
            .map(|s| s.reported_loss_permille)
            .max()
            .unwrap_or(0);
        if !first_report && worst.abs_diff(room.announced_loss_permille) < 10 {
            return;
        }
        if let Some(room) = self.rooms.get_mut(&room_key) {
            room.announced_loss_permille = worst;
        }
        self.broadcast(&room_key, None, |_| ServerMessage::LossHint {
            loss_permille: worst,
        });
    }

    /// Rebuilds the room's forwarding snapshot from its attached members.
    fn refresh_media(&self, room_key: &RoomKey) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        let publishers: Vec<(u32, &str)> = room
            .publishers
            .iter()
            .filter_map(|&id| Some((source_of(id), self.sessions.get(&id)?.user.open_id.as_str())))
            .collect();
        let recipients = room
            .members
            .iter()
            .filter_map(|&id| {
                let s = self.sessions.get(&id)?;
                Some(Recipient {
                    source: source_of(id),
                    connection: s.connection?,
                    listening: !s.mute.mute_earphone,
                    sending: !s.mute.mute_microphone,
                    video_from: video_sources_for(
                        source_of(id),
                        s.video_subscription.as_deref(),
                        &publishers,
                    ),
                })
            })
            .collect();
        room.media.set(recipients);
    }

    fn remove(&mut self, session: SessionId, announce: bool) {
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        if self.by_user.get(&s.user) == Some(&session) {
            self.by_user.remove(&s.user);
        }
        self.by_token.remove(&s.resume_token);
        let Some(room) = self.rooms.get_mut(&s.room) else {
            return;
        };
        room.members.retain(|&id| id != session);
        let was_publishing = room.publishers.contains(&session);
        room.publishers.retain(|&id| id != session);
        if room.members.is_empty() {
            room.media.set(Vec::new());
            self.rooms.remove(&s.room);
            return;
        }
        self.refresh_media(&s.room);
        if announce {
            self.broadcast_members(&s.room, None);
        }
        if was_publishing {
            self.broadcast_video_members(&s.room);
        }
    }

    fn broadcast_video_members(&mut self, room_key: &RoomKey) {
        let open_id_list = self.video_members_of(room_key);
        self.broadcast(room_key, None, |_| ServerMessage::VideoMembersChanged {
            open_id_list: open_id_list.clone(),
        });
    }

    /// Tells one member who publishes video in its room, if anyone does (no publisher is
    /// where every member starts, not a change).
    fn send_video_members(&mut self, room_key: &RoomKey, session: SessionId) {
        let open_id_list = self.video_members_of(room_key);
        if open_id_list.is_empty() {
            return;
        }
        if let Some(link) = self.sessions.get(&session).and_then(|s| s.link.as_ref()) {
            // A full queue here is a member that stopped reading: the next broadcast cuts it.
            let _ = link.try_send(ServerMessage::VideoMembersChanged { open_id_list });
        }
    }

    /// Sends the room's member list to every connected member but `except`.
    fn broadcast_members(&mut self, room_key: &RoomKey, except: Option<SessionId>) {
        let open_id_list = self.members_of(room_key);
        let sources = self.sources_of(room_key);
        self.broadcast(room_key, except, |_| ServerMessage::MembersChanged {
            open_id_list: open_id_list.clone(),
            sources: sources.clone(),
        });
    }

    /// Queues a message for every connected member but `except`. A member whose queue is full
    /// is not keeping up: its link is dropped, which closes its connection.
    fn broadcast(
        &mut self,
        room_key: &RoomKey,
        except: Option<SessionId>,
        message: impl Fn(SessionId) -> ServerMessage,
    ) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        let mut cut = false;
        for id in room.members.clone() {
            if Some(id) == except {
                continue;
            }
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            let Some(link) = &s.link else { continue };
            if link.try_send(message(id)).is_err() {
                s.link = None;
                s.connection = None;
                cut = true;
            }
        }
        if cut {
            self.refresh_media(room_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat<'a>(open_id: &'a str, group_id: &'a str) -> JoinSeat<'a> {
        JoinSeat {
            app_id: "wx1",
            open_id,
            group_id,
            room_type: RoomType::Voice,
            mute: MuteConfig::default(),
            connection: None,
        }
    }

    fn link() -> (MemberLink, mpsc::Receiver<ServerMessage>) {
        mpsc::channel(LINK_QUEUE)
    }

    fn members_changed(rx: &mut mpsc::Receiver<ServerMessage>) -> Vec<Vec<String>> {
        let mut lists = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            if let ServerMessage::MembersChanged { open_id_list, .. } = msg {
                lists.push(open_id_list);
            }
        }
        lists
    }

    #[test]
    fn first_join_creates_the_room_and_last_leave_destroys_it() {
        let mut rooms = Rooms::new(10);
        let (la, mut ra) = link();
        let a = rooms.join(seat("a", "g"), "ta".into(), la).unwrap();
        assert_eq!(a.open_id_list, ["a"]);
        let (lb, _rb) = link();
        let b = rooms.join(seat("b", "g"), "tb".into(), lb).unwrap();
        assert_eq!(b.open_id_list, ["a", "b"]);
        assert_eq!(members_changed(&mut ra), [vec!["a", "b"]]);
        rooms.leave(b.session);
        assert_eq!(members_changed(&mut ra), [vec!["a"]]);
        rooms.leave(a.session);
        assert_eq!(rooms.room_count(), 0);
        assert_eq!(rooms.member_count(), 0);
    }

    fn loss_hints(rx: &mut mpsc::Receiver<ServerMessage>) -> Vec<u16> {
        let mut hints = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            if let ServerMessage::LossHint { loss_permille } = msg {
                hints.push(loss_permille);
            }
        }
        hints
    }

    #[test]
    fn senders_hear_the_worst_listener_and_newcomers_the_current_figure() {
        let mut rooms = Rooms::new(10);
        let (la, mut ra) = link();
        let a = rooms.join(seat("a", "g"), "ta".into(), la).unwrap();
        assert_eq!(a.loss_permille, 0);
        let (lb, mut rb) = link();
        let b = rooms.join(seat("b", "g"), "tb".into(), lb).unwrap();
        rooms.report_loss(b.session, 80);
        assert_eq!(
            (loss_hints(&mut ra), loss_hints(&mut rb)),
            (vec![80], vec![80])
        );
        // Under 1 % of change is not worth a message; the worst listener sets the figure.
        rooms.report_loss(b.session, 85);
        assert_eq!(loss_hints(&mut ra), Vec::<u16>::new());
        // A member's first report is always heard (the room's figure, still b's).
        rooms.report_loss(a.session, 20);
        assert_eq!(loss_hints(&mut ra), [85]);
        rooms.report_loss(a.session, 25);
        assert_eq!(loss_hints(&mut ra), Vec::<u16>::new());
        // A newcomer starts from the figure last announced.
        let c = rooms.join(seat("c", "g"), "tc".into(), link().0).unwrap();
        assert_eq!(c.loss_permille, 85);
        rooms.report_loss(b.session, 0);
        assert_eq!(loss_hints(&mut ra), [25]);
    }

    #[test]
    fn a_newcomers_first_report_is_heard_even_on_a_clean_room() {
        // Senders protect a newcomer's unmeasured link with FEC until it has reported: its
        // clean report has to reach them although the room's figure did not move.
        let mut rooms = Rooms::new(10);
        let (la, mut ra) = link();
        let a = rooms.join(seat("a", "g"), "ta".into(), la).unwrap();
        rooms.report_loss(a.session, 0);
        assert_eq!(loss_hints(&mut ra), [0]);
        let (lb, mut rb) = link();
        let b = rooms.join(seat("b", "g"), "tb".into(), lb).unwrap();
        rooms.report_loss(b.session, 0);
        assert_eq!(
            (loss_hints(&mut ra), loss_hints(&mut rb)),
            (vec![0], vec![0])
        );
        rooms.report_loss(b.session, 0);
        rooms.report_loss(a.session, 0);
        assert_eq!((loss_hints(&mut ra), loss_hints(&mut rb)), (vec![], vec![]));
    }

    #[test]
    fn capacity_and_room_type_are_enforced_per_room() {
        let mut rooms = Rooms::new(2);
        rooms.join(seat("a", "g"), "1".into(), link().0).unwrap();
        rooms.join(seat("b", "g"), "2".into(), link().0).unwrap();
        assert_eq!(
            rooms
                .join(seat("c", "g"), "3".into(), link().0)
                .unwrap_err(),
            JoinRefusal::RoomFull
        );
        assert!(rooms.join(seat("c", "other"), "4".into(), link().0).is_ok());
        let mut video = seat("d", "g");
        video.room_type = RoomType::Video;
        assert_eq!(
            rooms.join(video, "5".into(), link().0).unwrap_err(),
            JoinRefusal::RoomTypeMismatch {
                existing: RoomType::Voice
            }
        );
    }

    #[test]
    fn same_user_joining_again_replaces_the_older_session() {
        let mut rooms = Rooms::new(2);
        let (old_link, mut old_rx) = link();
        rooms.join(seat("a", "g"), "1".into(), old_link).unwrap();
        let (lb, mut rb) = link();
        rooms.join(seat("b", "g"), "2".into(), lb).unwrap();
        members_changed(&mut rb);
        // The room is full, but the seat being replaced frees itself.
        let again = rooms.join(seat("a", "g"), "3".into(), link().0).unwrap();
        assert!(again.replaced_another);
        assert_eq!(again.open_id_list, ["b", "a"]);
        let mut told = Vec::new();
        while let Ok(message) = old_rx.try_recv() {
            told.push(message);
        }
        assert_eq!(told.last(), Some(&ServerMessage::Replaced));
        assert_eq!(rooms.member_count(), 2);
        // Joining from elsewhere into another room removes the user from the first room.
        rooms.join(seat("a", "h"), "4".into(), link().0).unwrap();
        assert_eq!(members_changed(&mut rb).last().unwrap(), &vec!["b"]);
    }

    #[test]
    fn a_refused_join_keeps_the_users_current_seat() {
        let mut rooms = Rooms::new(1);
        let (la, mut ra) = link();
        rooms.join(seat("a", "g"), "1".into(), la).unwrap();
        rooms.join(seat("b", "full"), "2".into(), link().0).unwrap();
        assert_eq!(
            rooms
                .join(seat("a", "full"), "3".into(), link().0)
                .unwrap_err(),
            JoinRefusal::RoomFull
        );
        assert!(ra.try_recv().is_err(), "not told it was replaced");
        assert_eq!(
            rooms.members_of(&RoomKey {
                app_id: "wx1".into(),
                group_id: "g".into()
            }),
            ["a"]
        );
    }

    #[test]
    fn a_detached_seat_can_be_resumed_until_it_expires() {
        let mut rooms = Rooms::new(10);
        let a = rooms.join(seat("a", "g"), "tok".into(), link().0).unwrap();
        let generation = rooms.detach(a.session).unwrap();
        let resumed = rooms
            .resume("tok", link().0, MuteConfig::default(), None)
            .unwrap();
        assert_eq!(resumed.session, a.session);
        assert_eq!(resumed.open_id_list, ["a"]);
        assert_eq!(resumed.sources, [source_of(a.session)]);
        assert!(
            !rooms.expire(a.session, generation),
            "a resumed seat does not expire"
        );
        let generation = rooms.detach(a.session).unwrap();
        assert!(rooms.expire(a.session, generation));
        assert!(rooms
            .resume("tok", link().0, MuteConfig::default(), None)
            .is_none());
        assert_eq!(rooms.room_count(), 0);
    }

    #[test]
    fn a_member_that_stops_reading_is_cut_off_without_blocking_others() {
        let mut rooms = Rooms::new(100);
        let (slow, _slow_rx_never_read) = mpsc::channel(1);
        rooms
            .join(seat("slow", "g"), "s".into(), slow.clone())
            .unwrap();
        for i in 0..3 {
            rooms
                .join(seat(&format!("u{i}"), "g"), format!("t{i}"), link().0)
                .unwrap();
        }
        let session = rooms.by_user[&UserKey {
            app_id: "wx1".into(),
            open_id: "slow".into(),
        }];
        assert!(!rooms.is_attached(session, &slow));
        assert_eq!(rooms.member_count(), 4);
    }
}
