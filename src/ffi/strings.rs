//! Strings across the boundary: NUL-terminated UTF-8 in, NUL-terminated UTF-8 out, with every
//! failure a -1001 that names the argument.

use std::ffi::{c_char, CStr, CString};

use crate::error::{ErrorCode, VoipError};

/// No string the SDK takes is longer than this; scanning stops here, so a missing terminator
/// in a caller's buffer is reported instead of read past without limit.
const MAX_INPUT_BYTES: usize = 4096;

fn invalid(message: String) -> VoipError {
    VoipError::new(ErrorCode::InvalidArgument, message)
}

/// Borrows a required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn required<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, VoipError> {
    optional(ptr, name)?.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// Borrows an optional string argument (NULL is `None`).
///
/// # Safety
/// As for [`required`].
pub(crate) unsafe fn optional<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, VoipError> {
    if ptr.is_null() {
        return Ok(None);
    }
    let mut len = 0;
    while *ptr.add(len) != 0 {
        len += 1;
        if len > MAX_INPUT_BYTES {
            return Err(invalid(format!(
                "{name} is longer than {MAX_INPUT_BYTES} bytes"
            )));
        }
    }
    let bytes = CStr::from_ptr(ptr).to_bytes();
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| invalid(format!("{name} is not valid UTF-8")))
}

/// Copies `text` and a terminating NUL into `out`, which holds `out_len` bytes.
///
/// # Safety
/// `out` is NULL or valid for `out_len` bytes of writes.
pub(crate) unsafe fn write_out(
    text: &str,
    out: *mut c_char,
    out_len: usize,
) -> Result<(), VoipError> {
    if out.is_null() {
        return Err(invalid("out is NULL".into()));
    }
    if out_len < text.len() + 1 {
        return Err(invalid(format!(
            "out holds {out_len} bytes; {} are needed",
            text.len() + 1
        )));
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
    *out.add(text.len()) = 0;
    Ok(())
}

/// A C string for output; an interior NUL (never expected) becomes U+FFFD rather than a panic.
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text)
        .unwrap_or_else(|_| CString::new(text.replace('\0', "\u{fffd}")).expect("NULs replaced"))
}
