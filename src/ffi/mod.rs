//! The C ABI: `#[repr(C)]` types and `extern "C"` functions that translate to the Rust API.
//! All of the crate's `unsafe` code lives in this module, but for the other C boundary,
//! libvpx's API (`crate::video::vp8`). No panic crosses the boundary: every
//! entry point runs inside [`catch`], and a panic becomes error -1000.

mod audio;
mod dispatch;
mod sdk;
mod server;
mod signing;
mod strings;
pub mod types;
mod video;

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use audio::*;
pub use sdk::*;
pub use server::*;
pub use signing::*;
pub use types::*;
pub use video::*;

use crate::error::{ErrorCode, VoipError};

/// Runs an entry point's body; a panic becomes a -1000 error instead of unwinding into C.
pub(crate) fn catch<T>(body: impl FnOnce() -> Result<T, VoipError>) -> Result<T, VoipError> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(VoipError::new(
            ErrorCode::System,
            format!("internal error: {detail}"),
        ))
    })
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: &str) {
    LAST_ERROR.with(|last| *last.borrow_mut() = strings::c_string(message));
}

/// What a call that returns only a code answers: 0, or the error's code with its reason kept
/// for `voip_last_error_message`.
pub(crate) fn status_code(result: Result<(), VoipError>) -> i32 {
    match result {
        Ok(()) => types::VOIP_OK,
        Err(e) => {
            set_last_error(&e.reason);
            e.code.as_i32()
        }
    }
}

/// The reason for the last failure reported to this thread by a call that returns only a
/// code or NULL (`voip_init`, `voip_server_start`, `voip_sign`, ...). "" when none. Valid until
/// the next `voip_*` call on this thread.
#[no_mangle]
pub extern "C" fn voip_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// The library version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn voip_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
