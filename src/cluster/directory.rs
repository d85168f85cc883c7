//! The shared directory in Redis: what nodes publish about themselves, which node each room is
//! pinned to, and the nonces used anywhere in the cluster. Every operation is one round trip
//! (a pipeline or a Lua script), so a join or a placement pays Redis's latency once or twice,
//! never per node.
//!
//! Any Redis failure becomes [`ErrorCode::DirectoryUnavailable`]; the connection manager
//! reconnects by itself, so the next call after Redis returns works again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;

use super::keys;
use crate::error::{ErrorCode, VoipError};

/// How long a call waits for Redis before reporting it unavailable: long enough for a busy
/// Redis, short enough that a join does not hang on a dead one.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// `vc:nodes` entries older than this are pruned. Listing only proposes candidates; whether a
/// node is alive is decided by its own key, which expires after the node's TTL.
const NODE_LIST_WINDOW_MS: i64 = 60_000;

/// Pins a room to a node unless another node holds it: the node's refresh of rooms it hosts,
/// which also re-creates entries a restarted Redis forgot. Returns the room's owner.
const PIN_UNLESS_OWNED: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return owner";

/// Deletes a room's entry only if it still names this node: a room that emptied here must not
/// erase a newer placement elsewhere.
const UNPIN_IF_OWNED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Replaces an entry naming a dead node (compare-and-set), then pins like `SET NX`, so of
/// many backends replacing the same stale entry at once exactly one wins and all read its
/// answer. Returns the room's owner.
const REPLACE_STALE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return ARGV[2]
end
return redis.call('GET', KEYS[1])";

/// Whether a node takes new rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Active,
    /// Keeps its rooms until they empty, takes no new ones.
    Draining,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
        }
    }
}

/// What a node publishes in `vc:node:{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    /// Where clients connect: `host:port`.
    pub addr: String,
    /// The node's certificate pin (lowercase hex SHA-256 of its DER).
    pub cert_sha256: String,
    pub state: NodeState,
    pub members: u64,
    pub rooms: u64,
}

impl NodeRecord {
    /// A record read back from its hash; `None` for a missing (expired) key or a malformed
    /// record, which is treated like a dead node.
    fn from_fields(node_id: &str, fields: Vec<(String, String)>) -> Option<NodeRecord> {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let state = match field("state")?.as_str() {
            "active" => NodeState::Active,
            "draining" => NodeState::Draining,
            _ => return None,
        };
        Some(NodeRecord {
            node_id: node_id.to_string(),
            addr: field("addr")?,
            cert_sha256: field("cert_sha256")?,
            state,
            members: field("members").and_then(|m| m.parse().ok()).unwrap_or(0),
            rooms: field("rooms").and_then(|r| r.parse().ok()).unwrap_or(0),
        })
    }
}

/// What the directory says about a join, read in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinFacts {
    /// The nonce had not been used anywhere in the cluster (and is now claimed).
    pub nonce_fresh: bool,
    /// The room's owner, when asked for: `Some(None)` means the room is pinned nowhere.
    pub owner: Option<Option<String>>,
}

/// A connection to the directory, cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct Directory {
    redis: ConnectionManager,
}

fn unavailable(e: redis::RedisError) -> VoipError {
    VoipError::new(
        ErrorCode::DirectoryUnavailable,
        format!("cluster directory (Redis) unavailable: {e}"),
    )
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn eval(script: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

impl Directory {
    /// Connects to `url` (`redis://host:port`). A malformed URL is an invalid argument; a
    /// Redis that does not answer is [`ErrorCode::DirectoryUnavailable`].
    pub async fn connect(url: &str) -> Result<Directory, VoipError> {
        let client = redis::Client::open(url).map_err(|e| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                format!("--redis: '{url}' is not a Redis URL ({e}); expected redis://HOST:PORT"),
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            // Reconnects are retried by the next call, not by a long backoff inside this one.
            .set_number_of_retries(1)
            .set_factor(50)
            .set_max_delay(500);
        let redis = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Directory { redis })
    }

    /// Publishes a node's record with a TTL and lists it in `vc:nodes`, atomically.
    pub async fn publish_node(&self, record: &NodeRecord, ttl: Duration) -> Result<(), VoipError> {
        let key = keys::node(&record.node_id);
        let now = unix_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("addr", record.addr.clone()),
                    ("cert_sha256", record.cert_sha256.clone()),
                    ("state", record.state.as_str().to_string()),
                    ("members", record.members.to_string()),
                    ("rooms", record.rooms.to_string()),
                ],
            )
            .ignore()
            .pexpire(&key, ttl_ms)
            .ignore()
            .zadd(keys::NODES, &record.node_id, now)
            .ignore()
            .zrembyscore(keys::NODES, "-inf", now - NODE_LIST_WINDOW_MS)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Whether the node's record exists (it has beaten within its TTL).
    pub async fn node_exists(&self, node_id: &str) -> Result<bool, VoipError> {
        redis::cmd("EXISTS")
            .arg(keys::node(node_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Takes a node out of the directory (a clean shutdown): placements stop seeing it at once
    /// rather than after its TTL.
    pub async fn remove_node(&self, node_id: &str) -> Result<(), VoipError> {
        redis::pipe()
            .atomic()
            .del(keys::node(node_id))
            .ignore()
            .zrem(keys::NODES, node_id)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Pins (or refreshes) rooms this node hosts, unless another node owns them. Returns the
    /// rooms another node owns, with that owner: a conflict to log.
    pub async fn pin_rooms(
        &self,
        node_id: &str,
        rooms: &[(String, String)],
        ttl: Duration,
    ) -> Result<Vec<((String, String), String)>, VoipError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (app_id, group_id) in rooms {
            pipe.add_command(eval(PIN_UNLESS_OWNED, &keys::room(app_id, group_id)))
                .arg(node_id)
                .arg(ttl.as_secs().max(1));
        }
        let owners: Vec<String> = pipe
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(rooms
            .iter()
            .cloned()
            .zip(owners)
            .filter(|(_, owner)| owner != node_id)
            .collect())
    }

    /// Deletes the entries of rooms that emptied here, where they still name this node.
    pub async fn unpin_rooms(
        &self,
        node_id: &str,
        rooms: &[(String, String)],
    ) -> Result<(), VoipError> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (app_id, group_id) in rooms {
            pipe.add_command(eval(UNPIN_IF_OWNED, &keys::room(app_id, group_id)))
                .arg(node_id)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Claims a join's nonce cluster-wide (`SET NX` with `nonce_ttl`) and, when `room` is
    /// given, reads the room's owner, in one round trip.
    pub async fn check_join(
        &self,
        nonce_key: &str,
        nonce_ttl: Duration,
        room: Option<(&str, &str)>,
    ) -> Result<JoinFacts, VoipError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(nonce_key)
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(nonce_ttl.as_secs().max(1));
        if let Some((app_id, group_id)) = room {
            pipe.get(keys::room(app_id, group_id));
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let nonce_fresh = !matches!(replies.first(), Some(Value::Nil) | None);
        let owner = room.map(|_| match replies.get(1) {
            Some(Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        });
        Ok(JoinFacts { nonce_fresh, owner })
    }

    /// The room's owner (if pinned) and the ids of nodes that beat recently, in one round trip.
    pub async fn room_and_nodes(
        &self,
        app_id: &str,
        group_id: &str,
    ) -> Result<(Option<String>, Vec<String>), VoipError> {
        redis::pipe()
            .get(keys::room(app_id, group_id))
            .zrangebyscore(keys::NODES, unix_ms() - NODE_LIST_WINDOW_MS, "+inf")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// The records of these nodes, `None` where the key has expired (the node is dead).
    pub async fn node_records(&self, ids: &[String]) -> Result<Vec<Option<NodeRecord>>, VoipError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(keys::node(id));
        }
        let all: Vec<Vec<(String, String)>> = pipe
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(ids
            .iter()
            .zip(all)
            .map(|(id, fields)| NodeRecord::from_fields(id, fields))
            .collect())
    }

    /// `SET vc:room:… node NX EX ttl`; returns the owner afterwards (this node, or the one a
    /// concurrent placement pinned first).
    pub async fn pin_if_absent(
        &self,
        app_id: &str,
        group_id: &str,
        node_id: &str,
        ttl: Duration,
    ) -> Result<Option<String>, VoipError> {
        let key = keys::room(app_id, group_id);
        let (set, owner): (Option<String>, Option<String>) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(node_id)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .get(&key)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(if set.is_some() {
            Some(node_id.to_string())
        } else {
            owner
        })
    }

    /// Replaces an entry naming `stale_node` with `node_id` (the Lua compare-and-set);
    /// returns the owner afterwards.
    pub async fn replace_stale(
        &self,
        app_id: &str,
        group_id: &str,
        stale_node: &str,
        node_id: &str,
        ttl: Duration,
    ) -> Result<Option<String>, VoipError> {
        eval(REPLACE_STALE, &keys::room(app_id, group_id))
            .arg(stale_node)
            .arg(node_id)
            .arg(ttl.as_secs().max(1))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Deletes one room's entry if it names `node_id` (a draining node giving back a room it
    /// never opened, so the next placement goes to an active node).
    pub async fn release_room(
        &self,
        node_id: &str,
        app_id: &str,
        group_id: &str,
    ) -> Result<(), VoipError> {
        self.unpin_rooms(node_id, &[(app_id.to_string(), group_id.to_string())])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_node_record_reads_back_and_a_broken_one_counts_as_dead() {
        let full = fields(&[
            ("addr", "10.0.0.1:4433"),
            ("cert_sha256", "ab"),
            ("state", "draining"),
            ("members", "12"),
            ("rooms", "3"),
        ]);
        let record = NodeRecord::from_fields("n1", full).unwrap();
        assert_eq!(record.state, NodeState::Draining);
        assert_eq!((record.members, record.rooms), (12, 3));
        assert_eq!(record.addr, "10.0.0.1:4433");
        // An expired key reads as no fields; a record without a known state or an address
        // cannot be handed to a client.
        assert_eq!(NodeRecord::from_fields("n1", Vec::new()), None);
        let odd_state = fields(&[("addr", "a:1"), ("cert_sha256", "ab"), ("state", "asleep")]);
        assert_eq!(NodeRecord::from_fields("n1", odd_state), None);
        let no_addr = fields(&[("cert_sha256", "ab"), ("state", "active")]);
        assert_eq!(NodeRecord::from_fields("n1", no_addr), None);
    }
}
