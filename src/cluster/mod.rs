//! Many relays behind one shared directory in Redis (`docs/scaling.md`). A room lives on one
//! node; the game's backend [`place`]s it there before handing out a join, and each node
//! heartbeats itself, keeps its rooms' entries alive and refuses joins for rooms the directory
//! gives to another node.
//!
//! - [`keys`]: the directory's key names.
//! - [`directory`]: every Redis operation, one round trip each.
//! - [`placement`]: rendezvous hashing and pinning, for the backend.
//! - [`node`]: a relay's membership and its join checks.

pub mod directory;
pub mod keys;
pub mod node;
pub mod placement;

use std::time::Duration;

pub use directory::{Directory, NodeRecord, NodeState};
pub use node::{check_node_id, ClusterRefusal, HostedRooms, JoinToCheck, Node, RoomId};
pub use placement::{place, Placement};

/// How a relay joins a cluster (`ServerConfig::cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT`.
    pub redis_url: String,
    /// Unique in the cluster; letters, digits, '-', '_' and '.'.
    pub node_id: String,
    /// The `host:port` clients connect to (what placements hand out).
    pub public_addr: String,
    /// How often the node refreshes its record.
    pub heartbeat: Duration,
    /// How long the record outlives the last heartbeat: how soon a dead node stops being
    /// placed on, and so the floor of the failover time.
    pub node_ttl: Duration,
}

impl ClusterConfig {
    /// The defaults: a beat every second, declared dead 3 s after the last one. Each beat is
    /// one small pipeline, nothing for Redis, and failover waits for this TTL.
    pub fn new(
        redis_url: impl Into<String>,
        node_id: impl Into<String>,
        public_addr: impl Into<String>,
    ) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_id: node_id.into(),
            public_addr: public_addr.into(),
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(3),
        }
    }
}
