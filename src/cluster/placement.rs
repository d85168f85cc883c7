//! Placement: which node hosts a room. The game's backend calls [`place`] before it hands a
//! client its signed join; `voipchat-server place` is the same for backends in other languages.
//!
//! A room already pinned to a live node stays there (draining included: its members are
//! connected to it). Otherwise the candidate is chosen by rendezvous hashing over the active
//! nodes (highest `hash(room, node)` wins: no ring to keep, and a node joining or leaving
//! moves only the rooms it wins or held) and pinned with `SET NX`, so concurrent placements
//! agree; an entry naming a dead node is replaced by a compare-and-set.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::directory::{Directory, NodeRecord, NodeState};
use crate::error::{ErrorCode, VoipError};
use crate::types::limits;

/// A room's entry lives this long unless its node refreshes it; the node refreshes well
/// within it while the room lives, so this only bounds how long a dead node's rooms linger.
pub const ROOM_TTL: Duration = Duration::from_secs(60);

/// Where a room lives: what the backend hands the client next to the signed join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node_id: String,
    /// `ClientConfig::server`.
    pub server: String,
    /// `ClientConfig::server_cert_sha256`.
    pub server_cert_sha256: String,
}

impl From<&NodeRecord> for Placement {
    fn from(node: &NodeRecord) -> Self {
        Placement {
            node_id: node.node_id.clone(),
            server: node.addr.clone(),
            server_cert_sha256: node.cert_sha256.clone(),
        }
    }
}

/// The rendezvous score of `node_id` for a room: the first 8 bytes of
/// SHA-256(app_id NUL group_id NUL node_id), big-endian. Stable across languages and releases.
pub fn score(app_id: &str, group_id: &str, node_id: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(app_id.as_bytes());
    hash.update([0]);
    hash.update(group_id.as_bytes());
    hash.update([0]);
    hash.update(node_id.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The active node with the highest score (ties, vanishingly rare, go to the larger id).
pub fn choose<'a>(app_id: &str, group_id: &str, nodes: &'a [NodeRecord]) -> Option<&'a NodeRecord> {
    nodes
        .iter()
        .filter(|node| node.state == NodeState::Active)
        .max_by_key(|node| {
            (
                score(app_id, group_id, &node.node_id),
                node.node_id.as_str(),
            )
        })
}

/// App ids never hold ':' (the room key's separator) and both ids obey the join's limits, so
/// a placement can only be made for a room a join could name.
fn check_ids(app_id: &str, group_id: &str) -> Result<(), VoipError> {
    let invalid = |what: &str| VoipError::new(ErrorCode::InvalidArgument, what.to_string());
    if app_id.is_empty() || app_id.len() > limits::ID_MAX_BYTES || app_id.contains(':') {
        return Err(invalid("appId must be 1 to 128 bytes without ':'"));
    }
    if group_id.is_empty() || group_id.len() > limits::ID_MAX_BYTES {
        return Err(invalid("groupId must be 1 to 128 bytes"));
    }
    Ok(())
}

/// Rounds of read-then-pin before giving up: each lost race means another backend pinned the
/// room to a node that then vanished, which does not happen twice in a row in practice.
const ATTEMPTS: usize = 3;

/// Finds or chooses the room's node and pins it. Fails with
/// [`ErrorCode::DirectoryUnavailable`] when Redis cannot be reached and
/// [`ErrorCode::ServerUnreachable`] when no active node is registered.
pub async fn place(
    directory: &Directory,
    app_id: &str,
    group_id: &str,
) -> Result<Placement, VoipError> {
    check_ids(app_id, group_id)?;
    for _ in 0..ATTEMPTS {
        let (owner, mut ids) = directory.room_and_nodes(app_id, group_id).await?;
        if let Some(owner) = &owner {
            if !ids.contains(owner) {
                ids.push(owner.clone());
            }
        }
        let records = directory.node_records(&ids).await?;
        let alive: Vec<NodeRecord> = records.into_iter().flatten().collect();
        let live_owner = owner
            .as_ref()
            .and_then(|owner| alive.iter().find(|node| &node.node_id == owner));
        if let Some(node) = live_owner {
            return Ok(node.into());
        }
        let Some(candidate) = choose(app_id, group_id, &alive) else {
            return Err(VoipError::new(
                ErrorCode::ServerUnreachable,
                "no active relay node is registered in the cluster directory",
            ));
        };
        let pinned = match &owner {
            None => {
                directory
                    .pin_if_absent(app_id, group_id, &candidate.node_id, ROOM_TTL)
                    .await?
            }
            Some(stale) => {
                directory
                    .replace_stale(app_id, group_id, stale, &candidate.node_id, ROOM_TTL)
                    .await?
            }
        };
        match pinned {
            Some(winner) if winner == candidate.node_id => return Ok(candidate.into()),
            Some(winner) => {
                // Another backend won the race; its node is the answer if it is alive.
                if let Some(Some(node)) = directory.node_records(&[winner]).await?.first() {
                    return Ok(node.into());
                }
            }
            // Emptied and unpinned in between: place it afresh.
            None => {}
        }
    }
    Err(VoipError::new(
        ErrorCode::DirectoryUnavailable,
        format!("could not pin room {group_id:?}: the directory kept changing under the placement"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, state: NodeState) -> NodeRecord {
        NodeRecord {
            node_id: id.into(),
            addr: format!("{id}:4433"),
            cert_sha256: "00".repeat(32),
            state,
            members: 0,
            rooms: 0,
        }
    }

    fn nodes(ids: &[&str]) -> Vec<NodeRecord> {
        ids.iter().map(|id| node(id, NodeState::Active)).collect()
    }

    #[test]
    fn the_highest_score_wins_whatever_the_order() {
        let forward = nodes(&["a", "b", "c"]);
        let backward = nodes(&["c", "b", "a"]);
        for g in 0..50 {
            let group = format!("room-{g}");
            let chosen = choose("wx", &group, &forward).unwrap();
            assert_eq!(
                chosen.node_id,
                choose("wx", &group, &backward).unwrap().node_id
            );
            let best = forward
                .iter()
                .map(|n| score("wx", &group, &n.node_id))
                .max()
                .unwrap();
            assert_eq!(score("wx", &group, &chosen.node_id), best);
        }
    }

    #[test]
    fn rooms_spread_over_nodes() {
        let three = nodes(&["a", "b", "c"]);
        let mut counts = std::collections::HashMap::new();
        for g in 0..300 {
            let chosen = choose("wx", &format!("room-{g}"), &three).unwrap();
            *counts.entry(chosen.node_id.clone()).or_insert(0) += 1;
        }
        // 300 rooms over 3 nodes: each gets a fair share (binomial, sd ≈ 8).
        for id in ["a", "b", "c"] {
            assert!((60..=140).contains(&counts[id]), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_node_moves_only_the_rooms_it_wins() {
        let three = nodes(&["a", "b", "c"]);
        let four = nodes(&["a", "b", "c", "d"]);
        for g in 0..200 {
            let group = format!("room-{g}");
            let before = &choose("wx", &group, &three).unwrap().node_id;
            let after = &choose("wx", &group, &four).unwrap().node_id;
            assert!(
                after == before || after == "d",
                "{group}: {before} -> {after}"
            );
        }
    }

    #[test]
    fn draining_nodes_are_skipped_and_none_active_means_none() {
        let mixed = vec![node("a", NodeState::Draining), node("b", NodeState::Active)];
        for g in 0..20 {
            assert_eq!(choose("wx", &format!("r{g}"), &mixed).unwrap().node_id, "b");
        }
        assert!(choose("wx", "r", &[node("a", NodeState::Draining)]).is_none());
        assert!(choose("wx", "r", &[]).is_none());
    }

    #[test]
    fn the_score_separates_the_app_from_the_group() {
        assert_ne!(score("ab", "c", "n"), score("a", "bc", "n"));
    }

    #[test]
    fn ids_a_join_could_not_name_are_refused() {
        assert_eq!(
            check_ids("", "g").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            check_ids("a:b", "g").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            check_ids("a", "").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let long = "g".repeat(limits::ID_MAX_BYTES + 1);
        assert_eq!(
            check_ids("a", &long).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert!(check_ids("a", "match:42").is_ok());
    }
}
