//! Admission of a join request: field limits, known app, timestamp window, signature, and nonce
//! replay. Sans-IO: the caller passes the clock, so every rule is unit-tested without a network.

use std::collections::HashMap;

use crate::auth;
use crate::net::wire::JoinRequest;
use crate::types::limits;

/// Why a request was refused. The server logs the detail; the client only ever learns
/// "invalid argument" or "signature rejected", so a prober cannot tell which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InvalidField(&'static str),
    UnknownApp,
    StaleTimestamp { skew_secs: i64 },
    BadSignature,
    ReplayedNonce,
}

pub struct Admission {
    /// app_id -> app_secret
    apps: HashMap<String, String>,
    window_secs: i64,
    /// (app_id, open_id, nonce) -> unix second after which the timestamp check alone refuses it.
    seen_nonces: HashMap<(String, String, String), i64>,
    next_prune_at_len: usize,
    next_prune_at_secs: i64,
}

const PRUNE_FLOOR: usize = 1024;
const PRUNE_INTERVAL_SECS: i64 = 60;

impl Admission {
    pub fn new(apps: HashMap<String, String>, window_secs: i64) -> Self {
        Self {
            apps,
            window_secs,
            seen_nonces: HashMap::new(),
            next_prune_at_len: PRUNE_FLOOR,
            next_prune_at_secs: i64::MIN,
        }
    }

    /// Admits `request` at `now_unix` (seconds), remembering its nonce.
    pub fn check(&mut self, request: &JoinRequest, now_unix: i64) -> Result<(), Refusal> {
        check_fields(request)?;
        let secret = self.apps.get(&request.app_id).ok_or(Refusal::UnknownApp)?;
        let skew_secs = request.time_stamp.saturating_sub(now_unix);
        if skew_secs.saturating_abs() > self.window_secs {
            return Err(Refusal::StaleTimestamp { skew_secs });
        }
        let session_key = auth::session_key(secret, &request.open_id);
        if !auth::verify(
            &session_key,
            &request.app_id,
            &request.group_id,
            &request.nonce_str,
            request.time_stamp,
            &request.signature,
        ) {
            return Err(Refusal::BadSignature);
        }
        // Only signed requests reach the nonce cache, so strangers cannot fill it.
        let key = (
            request.app_id.clone(),
            request.open_id.clone(),
            request.nonce_str.clone(),
        );
        if let Some(&expires) = self.seen_nonces.get(&key) {
            if expires >= now_unix {
                return Err(Refusal::ReplayedNonce);
            }
        }
        self.seen_nonces
            .insert(key, request.time_stamp.saturating_add(self.window_secs));
        self.prune(now_unix);
        Ok(())
    }

    /// Forgets nonces whose timestamps have left the window: when the table has doubled, or
    /// once a minute, whichever comes first. Amortized O(1) per admission, and a quiet server
    /// does not hold on to a burst's nonces for long.
    fn prune(&mut self, now_unix: i64) {
        if self.seen_nonces.len() < self.next_prune_at_len && now_unix < self.next_prune_at_secs {
            return;
        }
        self.seen_nonces.retain(|_, expires| *expires >= now_unix);
        self.next_prune_at_len = (self.seen_nonces.len() * 2).max(PRUNE_FLOOR);
        self.next_prune_at_secs = now_unix.saturating_add(PRUNE_INTERVAL_SECS);
    }

    pub fn remembered_nonces(&self) -> usize {
        self.seen_nonces.len()
    }
}

fn check_fields(request: &JoinRequest) -> Result<(), Refusal> {
    let ids = [
        ("appId", &request.app_id),
        ("openId", &request.open_id),
        ("groupId", &request.group_id),
    ];
    for (name, value) in ids {
        if value.is_empty() || value.len() > limits::ID_MAX_BYTES {
            return Err(Refusal::InvalidField(name));
        }
    }
    let nonce_chars = request.nonce_str.chars().count();
    if nonce_chars == 0 || nonce_chars > limits::NONCE_MAX_CHARS {
        return Err(Refusal::InvalidField("nonceStr"));
    }
    if request.signature.is_empty() || request.signature.len() > limits::SIGNATURE_MAX_BYTES {
        return Err(Refusal::InvalidField("signature"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{MuteConfig, RoomType};

    const NOW: i64 = 1_800_000_000;

    fn admission() -> Admission {
        Admission::new(
            HashMap::from([("wx1".to_string(), "s3cret".to_string())]),
            300,
        )
    }

    fn signed(open_id: &str, nonce: &str, ts: i64) -> JoinRequest {
        let key = auth::session_key("s3cret", open_id);
        JoinRequest {
            app_id: "wx1".into(),
            open_id: open_id.into(),
            group_id: "g".into(),
            nonce_str: nonce.into(),
            time_stamp: ts,
            signature: auth::sign(&key, "wx1", "g", nonce, ts),
            room_type: RoomType::Voice,
            mute: MuteConfig::default(),
        }
    }

    #[test]
    fn admits_a_signed_request() {
        assert_eq!(admission().check(&signed("alice", "n1", NOW), NOW), Ok(()));
    }

    #[test]
    fn refuses_a_reused_nonce_but_not_another_users_or_a_new_one() {
        let mut a = admission();
        a.check(&signed("alice", "n1", NOW), NOW).unwrap();
        assert_eq!(
            a.check(&signed("alice", "n1", NOW), NOW + 1),
            Err(Refusal::ReplayedNonce)
        );
        assert_eq!(a.check(&signed("bob", "n1", NOW), NOW + 1), Ok(()));
        assert_eq!(a.check(&signed("alice", "n2", NOW), NOW + 1), Ok(()));
    }

    #[test]
    fn timestamp_window_is_inclusive_on_both_sides() {
        let mut a = admission();
        assert_eq!(a.check(&signed("u", "a", NOW - 300), NOW), Ok(()));
        assert_eq!(a.check(&signed("u", "b", NOW + 300), NOW), Ok(()));
        assert_eq!(
            a.check(&signed("u", "c", NOW - 301), NOW),
            Err(Refusal::StaleTimestamp { skew_secs: -301 })
        );
        assert_eq!(
            a.check(&signed("u", "d", NOW + 301), NOW),
            Err(Refusal::StaleTimestamp { skew_secs: 301 })
        );
        // Extreme values neither overflow nor pass.
        assert!(matches!(
            a.check(&signed("u", "e", i64::MIN), NOW),
            Err(Refusal::StaleTimestamp { .. })
        ));
        assert!(matches!(
            a.check(&signed("u", "f", i64::MAX), NOW),
            Err(Refusal::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn refuses_unknown_app_and_bad_signature_without_remembering_the_nonce() {
        let mut a = admission();
        let mut wrong_app = signed("u", "n", NOW);
        wrong_app.app_id = "wx2".into();
        assert_eq!(a.check(&wrong_app, NOW), Err(Refusal::UnknownApp));
        let mut tampered = signed("u", "n", NOW);
        tampered.group_id = "other".into();
        assert_eq!(a.check(&tampered, NOW), Err(Refusal::BadSignature));
        assert_eq!(a.remembered_nonces(), 0);
        assert_eq!(a.check(&signed("u", "n", NOW), NOW), Ok(()));
    }

    #[test]
    fn refuses_missing_and_overlong_fields() {
        let mut a = admission();
        let mut empty_group = signed("u", "n", NOW);
        empty_group.group_id.clear();
        assert_eq!(
            a.check(&empty_group, NOW),
            Err(Refusal::InvalidField("groupId"))
        );
        let long_nonce = "x".repeat(128);
        assert_eq!(
            a.check(&signed("u", &long_nonce, NOW), NOW),
            Err(Refusal::InvalidField("nonceStr"))
        );
        let longest_nonce = "é".repeat(127); // counted in characters, as WeChat does
        assert_eq!(a.check(&signed("u", &longest_nonce, NOW), NOW), Ok(()));
    }

    #[test]
    fn expired_nonces_are_forgotten() {
        let mut a = admission();
        for i in 0..PRUNE_FLOOR {
            a.check(&signed("u", &format!("n{i}"), NOW), NOW).unwrap();
        }
        let later = NOW + 301;
        a.check(&signed("u", "fresh", later), later).unwrap();
        assert_eq!(a.remembered_nonces(), 1);
    }
}
