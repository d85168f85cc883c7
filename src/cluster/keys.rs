//! The directory's key names, in one place so every node and backend agrees on them
//! (`docs/scaling.md`, "The directory"). App ids never contain ':' (`--app` splits at the first
//! one), so `vc:room:{app}:{group}` is unambiguous whatever the group id holds.

use sha2::{Digest, Sha256};

use crate::auth::to_lower_hex;

/// Sorted set of node ids, scored by their last heartbeat (Unix milliseconds).
pub const NODES: &str = "vc:nodes";

/// A node's record: a hash with `addr`, `cert_sha256`, `state`, `members`, `rooms`.
pub fn node(node_id: &str) -> String {
    format!("vc:node:{node_id}")
}

/// The node a room is pinned to.
pub fn room(app_id: &str, group_id: &str) -> String {
    format!("vc:room:{app_id}:{group_id}")
}

/// A used nonce. The open id and nonce are hashed together so no choice of characters in
/// either can make two different joins share a key.
pub fn nonce(app_id: &str, open_id: &str, nonce_str: &str) -> String {
    let mut hash = Sha256::new();
    hash.update((open_id.len() as u64).to_be_bytes());
    hash.update(open_id.as_bytes());
    hash.update(nonce_str.as_bytes());
    format!("vc:nonce:{app_id}:{}", to_lower_hex(&hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_keys_do_not_collide_across_the_open_id_and_nonce_boundary() {
        assert_ne!(nonce("wx", "ab", "c"), nonce("wx", "a", "bc"));
        assert_eq!(nonce("wx", "a", "bc"), nonce("wx", "a", "bc"));
        assert!(nonce("wx", "a", "bc").starts_with("vc:nonce:wx:"));
    }

    #[test]
    fn room_and_node_keys_follow_the_design() {
        assert_eq!(room("wx1", "match:42"), "vc:room:wx1:match:42");
        assert_eq!(node("relay-a"), "vc:node:relay-a");
    }
}
