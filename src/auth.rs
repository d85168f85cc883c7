//! Join signatures, exactly as WeChat computes them, and the per-user session key.
//!
//! ```text
//! signature   = lowercase_hex(HMAC_SHA256(key = session_key (UTF-8 bytes),
//!                                         msg = sort([appId, groupId, nonceStr, timeStamp]).join("")))
//! session_key = base64_standard(HMAC_SHA256(key = app_secret, msg = open_id))
//! ```
//!
//! WeChat's servers know each user's `session_key`; ours derives it from the app secret so the
//! relay stays stateless. Only a game backend (which holds the secret) and the relay compute these.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The session key of `open_id` under `app_secret`: standard base64 of HMAC-SHA256(secret, open_id).
pub fn session_key(app_secret: &str, open_id: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(open_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The string WeChat signs: the four values sorted byte-wise as strings and joined with nothing.
fn signed_message(app_id: &str, group_id: &str, nonce_str: &str, time_stamp: i64) -> String {
    let time_stamp = time_stamp.to_string();
    let mut parts = [app_id, group_id, nonce_str, time_stamp.as_str()];
    parts.sort_unstable();
    parts.concat()
}

fn mac_for(
    session_key: &str,
    app_id: &str,
    group_id: &str,
    nonce_str: &str,
    ts: i64,
) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(session_key.as_bytes()).expect("HMAC takes any key");
    mac.update(signed_message(app_id, group_id, nonce_str, ts).as_bytes());
    mac
}

/// The join signature: lowercase hex of HMAC-SHA256 keyed by the session-key string itself.
pub fn sign(
    session_key: &str,
    app_id: &str,
    group_id: &str,
    nonce_str: &str,
    time_stamp: i64,
) -> String {
    let digest = mac_for(session_key, app_id, group_id, nonce_str, time_stamp).finalize();
    to_lower_hex(&digest.into_bytes())
}

/// Checks a signature in constant time. Accepts upper- or lowercase hex; anything else is false.
pub fn verify(
    session_key: &str,
    app_id: &str,
    group_id: &str,
    nonce_str: &str,
    time_stamp: i64,
    signature: &str,
) -> bool {
    let Some(claimed) = from_hex(signature) else {
        return false;
    };
    mac_for(session_key, app_id, group_id, nonce_str, time_stamp)
        .verify_slice(&claimed)
        .is_ok()
}

pub(crate) fn to_lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_sorted_bytewise_and_unseparated() {
        // "1700000000" < "app" < "grp" < "nonce" byte-wise: digits sort before letters.
        assert_eq!(
            signed_message("app", "grp", "nonce", 1_700_000_000),
            "1700000000appgrpnonce"
        );
        // Uppercase sorts before lowercase (byte order, not locale order).
        assert_eq!(signed_message("b", "B", "a", 5), "5Bab");
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Reference computed with Python: hmac.new(b"key", b"1700000000appgrpnonce", sha256).hexdigest()
        assert_eq!(
            sign("key", "app", "grp", "nonce", 1_700_000_000),
            "0a5abcc860ef1caca09ee51f66d8db43c6b4c84d6e0b2651a0021735d4d34a47"
        );
    }

    #[test]
    fn session_key_is_base64_of_hmac_of_open_id() {
        // Reference: base64.b64encode(hmac.new(b"secret", b"user", sha256).digest())
        assert_eq!(
            session_key("secret", "user"),
            "m0bDSSX1sxl4bVzt5Nxy7XywIGHhUmMDkozt29bCxco="
        );
    }

    #[test]
    fn verify_accepts_the_signature_and_rejects_any_change() {
        let key = session_key("secret", "alice");
        let sig = sign(&key, "wx1", "room", "n1", 42);
        assert!(verify(&key, "wx1", "room", "n1", 42, &sig));
        assert!(verify(&key, "wx1", "room", "n1", 42, &sig.to_uppercase()));
        assert!(!verify(&key, "wx1", "room", "n1", 43, &sig));
        assert!(!verify(&key, "wx1", "room2", "n1", 42, &sig));
        assert!(!verify(
            &session_key("secret", "bob"),
            "wx1",
            "room",
            "n1",
            42,
            &sig
        ));
        assert!(!verify(&key, "wx1", "room", "n1", 42, "zz"));
        assert!(!verify(&key, "wx1", "room", "n1", 42, ""));
    }
}
