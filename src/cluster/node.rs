//! A relay's membership in the cluster: it heartbeats its record, pins the rooms it hosts and
//! unpins them when they empty, turns itself to draining, and checks each join against the
//! directory (room confinement and the shared nonce cache).
//!
//! The relay sees this through [`HostedRooms`] (what it hosts) and [`Node::check_join`]; all
//! Redis traffic stays here, off the media path. When Redis is away the membership loop logs
//! once and retries every beat; rooms keep running, and joins that need Redis are refused
//! with [`ErrorCode::DirectoryUnavailable`] until it returns.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::directory::{Directory, NodeRecord, NodeState};
use super::keys;
use super::placement::ROOM_TTL;
use super::ClusterConfig;
use crate::error::{ErrorCode, VoipError};
use crate::log::Logger;

/// A room by its ids: (app_id, group_id).
pub type RoomId = (String, String);

/// What the relay tells its node about itself.
pub trait HostedRooms: Send + Sync + 'static {
    fn hosted_rooms(&self) -> Vec<RoomId>;
    fn member_count(&self) -> usize;
}

/// Every room entry is refreshed this often (well within [`ROOM_TTL`]); rooms created or
/// emptied are pinned or unpinned at the next beat.
const ROOM_REFRESH: Duration = Duration::from_secs(20);

/// Why the directory refuses a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterRefusal {
    /// The room is pinned to another node (`Some`) or to none (`None`: not placed, or its
    /// entry expired).
    Elsewhere(Option<String>),
    /// The nonce was used already, on this node or another.
    ReplayedNonce,
    /// Redis could not be asked.
    Unavailable(VoipError),
}

/// One join, as the directory needs to check it.
pub struct JoinToCheck<'a> {
    pub app_id: &'a str,
    pub open_id: &'a str,
    pub group_id: &'a str,
    pub nonce_str: &'a str,
    /// How long the nonce must stay claimed: until its timestamp leaves the window.
    pub nonce_ttl: Duration,
    /// The room runs here already: its assignment was checked when it was created.
    pub room_is_here: bool,
}

pub struct Node {
    config: ClusterConfig,
    cert_sha256: String,
    directory: Directory,
    draining: AtomicBool,
    stopped: AtomicBool,
    /// Held for the whole of a heartbeat. Leaving takes it after setting `stopped`, so no beat
    /// still in flight can publish the record again after the node removed it (the record
    /// would then name a gone node for its whole TTL, and placements would pick it).
    beat_in_flight: tokio::sync::Mutex<()>,
    /// Wakes the membership loop for an early beat (draining, stopping).
    wake: Notify,
    logger: Logger,
}

impl Node {
    /// Connects to Redis and publishes the node's first record, so a placement can pick the
    /// node as soon as this returns. Fails if Redis cannot be reached.
    pub async fn join(
        config: ClusterConfig,
        cert_sha256: String,
        logger: Logger,
    ) -> Result<Arc<Node>, VoipError> {
        check_node_id(&config.node_id)?;
        let directory = Directory::connect(&config.redis_url).await?;
        let node = Arc::new(Node {
            config,
            cert_sha256,
            directory,
            draining: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            beat_in_flight: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            logger,
        });
        node.directory
            .publish_node(&node.record(0, 0), node.config.node_ttl)
            .await?;
        node.logger.info(format_args!(
            "joined the cluster as node {:?} at {}",
            node.config.node_id, node.config.public_addr
        ));
        Ok(node)
    }

    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    fn state(&self) -> NodeState {
        if self.draining.load(Ordering::Relaxed) {
            NodeState::Draining
        } else {
            NodeState::Active
        }
    }

    fn record(&self, rooms: usize, members: usize) -> NodeRecord {
        NodeRecord {
            node_id: self.config.node_id.clone(),
            addr: self.config.public_addr.clone(),
            cert_sha256: self.cert_sha256.clone(),
            state: self.state(),
            members: members as u64,
            rooms: rooms as u64,
        }
    }

    /// Starts the membership loop; it holds the relay weakly and ends when the node stops or
    /// the relay is gone.
    pub fn run(self: &Arc<Self>, host: Weak<dyn HostedRooms>) {
        let node = self.clone();
        tokio::spawn(async move { node.membership(host).await });
    }

    async fn membership(&self, host: Weak<dyn HostedRooms>) {
        let mut pinned: HashSet<RoomId> = HashSet::new();
        let mut refresh_all_at = Instant::now() + ROOM_REFRESH;
        let mut outage = false;
        loop {
            let _ = tokio::time::timeout(self.config.heartbeat, self.wake.notified()).await;
            let _beating = self.beat_in_flight.lock().await;
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            let Some(host) = host.upgrade() else { return };
            let hosted: HashSet<RoomId> = host.hosted_rooms().into_iter().collect();
            let members = host.member_count();
            drop(host);
            let beat = self.beat(&hosted, members, &mut pinned, &mut refresh_all_at);
            match beat.await {
                Ok(()) if outage => {
                    outage = false;
                    self.logger
                        .info(format_args!("cluster directory reachable again"));
                }
                Ok(()) => {}
                Err(e) if !outage => {
                    outage = true;
                    self.logger.warn(format_args!(
                        "{e}; running rooms carry on, joins that need the directory are refused"
                    ));
                }
                Err(_) => {}
            }
        }
    }

    /// One heartbeat: the node's record, then rooms that appeared or emptied since the last
    /// one (all of them when due for a refresh, or when Redis forgot this node).
    async fn beat(
        &self,
        hosted: &HashSet<RoomId>,
        members: usize,
        pinned: &mut HashSet<RoomId>,
        refresh_all_at: &mut Instant,
    ) -> Result<(), VoipError> {
        // Redis forgot this node (it restarted, or the node stalled past its TTL): pin the
        // rooms before the record reappears, so no placement sees the node alive and its
        // rooms unpinned, and puts one of them elsewhere.
        let known = self.directory.node_exists(self.node_id()).await?;
        if !known {
            pinned.clear();
        }
        let refresh_all = !known || Instant::now() >= *refresh_all_at;
        let to_pin: Vec<RoomId> = if refresh_all {
            hosted.iter().cloned().collect()
        } else {
            hosted.difference(pinned).cloned().collect()
        };
        let emptied: Vec<RoomId> = pinned.difference(hosted).cloned().collect();
        self.directory.unpin_rooms(self.node_id(), &emptied).await?;
        for room in &emptied {
            pinned.remove(room);
        }
        let conflicts = self
            .directory
            .pin_rooms(self.node_id(), &to_pin, ROOM_TTL)
            .await?;
        for ((app_id, group_id), owner) in &conflicts {
            // Only after a lost entry (Redis restarted, or the node stalled past the room's
            // TTL) and a placement elsewhere meanwhile: the room is split until it empties.
            self.logger.warn(format_args!(
                "room {app_id}/{group_id} runs here but the directory assigns it to {owner:?}"
            ));
        }
        pinned.extend(to_pin);
        if refresh_all {
            *refresh_all_at = Instant::now() + ROOM_REFRESH;
        }
        let record = self.record(hosted.len(), members);
        self.directory
            .publish_node(&record, self.config.node_ttl)
            .await
    }

    /// Checks a signed join against the directory: the nonce is claimed cluster-wide, and a
    /// room that does not run here yet must be pinned to this node.
    pub async fn check_join(&self, join: JoinToCheck<'_>) -> Result<(), ClusterRefusal> {
        let nonce_key = keys::nonce(join.app_id, join.open_id, join.nonce_str);
        let room = (!join.room_is_here).then_some((join.app_id, join.group_id));
        let facts = self
            .directory
            .check_join(&nonce_key, join.nonce_ttl, room)
            .await
            .map_err(ClusterRefusal::Unavailable)?;
        if !facts.nonce_fresh {
            return Err(ClusterRefusal::ReplayedNonce);
        }
        match facts.owner {
            None => Ok(()),
            Some(Some(owner)) if owner == self.config.node_id => Ok(()),
            Some(owner) => Err(ClusterRefusal::Elsewhere(owner)),
        }
    }

    /// Gives back a room pinned here that this node will not open (it is draining), so the
    /// backend's next placement picks an active node.
    pub async fn release_room(&self, app_id: &str, group_id: &str) -> Result<(), VoipError> {
        self.directory
            .release_room(self.node_id(), app_id, group_id)
            .await
    }

    /// Stops taking new rooms: the record says `draining` from the next beat, which is now.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Stops the membership loop without touching the directory (the relay was dropped).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Leaves the cluster cleanly: unpins `rooms` (those still running here) and removes the
    /// node's record, so placements stop naming it at once.
    pub async fn leave(&self, rooms: &[RoomId]) {
        self.stop();
        // Wait out a beat already under way; every later one sees `stopped` and ends.
        let _no_more_beats = self.beat_in_flight.lock().await;
        let left = async {
            self.directory.unpin_rooms(self.node_id(), rooms).await?;
            self.directory.remove_node(self.node_id()).await
        };
        match left.await {
            Ok(()) => self.logger.info(format_args!("left the cluster")),
            Err(e) => self.logger.warn(format_args!(
                "could not leave the cluster cleanly ({e}); its keys expire by themselves"
            )),
        }
    }
}

/// Node ids become part of Redis keys and of placements' JSON: keep them short and plain.
pub fn check_node_id(node_id: &str) -> Result<(), VoipError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if node_id.is_empty() || node_id.len() > 64 || !node_id.chars().all(plain) {
        return Err(VoipError::new(
            ErrorCode::InvalidArgument,
            format!(
                "node id {node_id:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_plain() {
        assert!(check_node_id("relay-1.eu_west").is_ok());
        for bad in ["", "a b", "a:b", "ü", &"n".repeat(65)] {
            assert_eq!(
                check_node_id(bad).unwrap_err().code,
                ErrorCode::InvalidArgument,
                "{bad:?}"
            );
        }
    }
}
