//! The signing helpers, for a game backend written in C and for tests. A game client must not
//! ship the app secret: its backend signs joins and hands the client the result.

use std::ffi::c_char;

use super::strings;
use super::{catch, status_code};
use crate::auth;

/// Writes the session key of `open_id` (base64 of HMAC-SHA256(app_secret, open_id)) to `out`,
/// which needs `VOIP_SESSION_KEY_BUFFER` bytes. Returns 0 or -1001.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `out` is valid for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn voip_session_key(
    app_secret: *const c_char,
    open_id: *const c_char,
    out: *mut c_char,
    out_len: usize,
) -> i32 {
    status_code(catch(|| {
        let secret = strings::required(app_secret, "app_secret")?;
        let open_id = strings::required(open_id, "open_id")?;
        strings::write_out(&auth::session_key(secret, open_id), out, out_len)
    }))
}

/// Writes WeChat's join signature (lowercase hex, 64 characters) to `out`, which needs
/// `VOIP_SIGNATURE_BUFFER` bytes. Returns 0 or -1001.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `out` is valid for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn voip_sign(
    session_key: *const c_char,
    app_id: *const c_char,
    group_id: *const c_char,
    nonce_str: *const c_char,
    time_stamp: i64,
    out: *mut c_char,
    out_len: usize,
) -> i32 {
    status_code(catch(|| {
        let key = strings::required(session_key, "session_key")?;
        let app_id = strings::required(app_id, "app_id")?;
        let group_id = strings::required(group_id, "group_id")?;
        let nonce_str = strings::required(nonce_str, "nonce_str")?;
        strings::write_out(
            &auth::sign(key, app_id, group_id, nonce_str, time_stamp),
            out,
            out_len,
        )
    }))
}
