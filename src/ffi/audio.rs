//! External audio and device listing across the C ABI: the calls a game engine makes from its
//! own audio thread. They never take the SDK's main lock: the current call's audio is found
//! through a read-mostly slot, and a push or pull holds only the audio's own short locks.

use std::ffi::c_char;
use std::sync::{Arc, RwLock};

use super::strings;
use super::{catch, set_last_error, status_code};
use crate::audio::device;
use crate::client::media::{check_format, Media};
use crate::error::{ErrorCode, VoipError};

/// The audio of the SDK's client while it is initialized in external mode.
static EXTERNAL: RwLock<Option<Arc<Media>>> = RwLock::new(None);

pub(crate) fn set_external(media: Option<Arc<Media>>) {
    *EXTERNAL.write().unwrap_or_else(|p| p.into_inner()) = media;
}

fn external() -> Result<Arc<Media>, VoipError> {
    EXTERNAL
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                "external audio needs voip_init with audio_mode VOIP_AUDIO_EXTERNAL",
            )
        })
}

/// Total samples in `frames` interleaved frames of `channels`, or an error for absurd sizes.
fn sample_count(frames: usize, channels: u16) -> Result<usize, VoipError> {
    frames
        .checked_mul(usize::from(channels))
        .filter(|&n| n <= 192_000 * 8 * 10)
        .ok_or_else(|| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                "frames is too large (more than 10 s)",
            )
        })
}

/// EXTERNAL audio: hands the SDK captured audio, `frames` interleaved frames of `channels`
/// at `sample_rate` (8000-192000 Hz, 1-8 channels). Call it from the engine's audio thread as
/// the microphone delivers; it converts, detects voice, encodes and sends without blocking on
/// the network. Returns 0, or -1001 (NULL, bad format, not in external mode).
///
/// # Safety
/// `samples` points to `frames * channels` floats (may be NULL when `frames` is 0).
#[no_mangle]
pub unsafe extern "C" fn voip_audio_push_capture(
    samples: *const f32,
    frames: usize,
    sample_rate: u32,
    channels: u16,
) -> i32 {
    status_code(catch(|| {
        let media = external()?;
        check_format(sample_rate, channels)?;
        let n = sample_count(frames, channels)?;
        if n == 0 {
            return Ok(());
        }
        if samples.is_null() {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                "samples is NULL",
            ));
        }
        let input = std::slice::from_raw_parts(samples, n);
        media.push_capture(input, sample_rate, channels)
    }))
}

/// # Safety
/// `out` points to `frames * channels` writable floats.
unsafe fn pull_into(
    out: *mut f32,
    frames: usize,
    channels: u16,
    pull: impl FnOnce(&Media, &mut [f32]) -> Result<(), VoipError>,
) -> usize {
    let pulled = catch(|| {
        let media = external()?;
        let n = sample_count(frames, channels)?;
        if n == 0 {
            return Ok(0);
        }
        if out.is_null() {
            return Err(VoipError::new(ErrorCode::InvalidArgument, "out is NULL"));
        }
        let out = std::slice::from_raw_parts_mut(out, n);
        if let Err(e) = pull(&media, out) {
            out.fill(0.0);
            return Err(e);
        }
        Ok(frames)
    });
    pulled.unwrap_or_else(|e| {
        set_last_error(&e.reason);
        0
    })
}

/// EXTERNAL audio: the call's mix, `frames` interleaved frames of `channels` at
/// `sample_rate`, into `out`. Fills silence when nothing is there (not in a call, earphone
/// muted, nobody speaking). Returns the frames written: `frames`, or 0 on an error (NULL, bad
/// format, not in external mode; `voip_last_error_message()` says which). Members pulled with
/// `voip_audio_pull_member` are left out of the mix while they are pulled.
///
/// # Safety
/// `out` points to `frames * channels` writable floats.
#[no_mangle]
pub unsafe extern "C" fn voip_audio_pull_playback(
    out: *mut f32,
    frames: usize,
    sample_rate: u32,
    channels: u16,
) -> usize {
    pull_into(out, frames, channels, |media, out| {
        media.pull_playback(out, sample_rate, channels)
    })
}

/// EXTERNAL audio: one member's voice alone, for engine-side 3D spatialisation (the member
/// then leaves the mix). Silence for a member not in the call. Returns as
/// `voip_audio_pull_playback`.
///
/// # Safety
/// `open_id` is NUL-terminated; `out` points to `frames * channels` writable floats.
#[no_mangle]
pub unsafe extern "C" fn voip_audio_pull_member(
    open_id: *const c_char,
    out: *mut f32,
    frames: usize,
    sample_rate: u32,
    channels: u16,
) -> usize {
    let open_id = match strings::required(open_id, "open_id") {
        Ok(id) => id,
        Err(e) => {
            set_last_error(&e.reason);
            return 0;
        }
    };
    pull_into(out, frames, channels, |media, out| {
        media
            .pull_member(open_id, out, sample_rate, channels)
            .map(|_| ())
    })
}

/// Writes `text` to `out` if it fits, and its size with the NUL to `needed` (if not NULL).
///
/// # Safety
/// `out` is NULL or valid for `out_len` bytes; `needed` is NULL or writable.
unsafe fn write_sized(
    text: &str,
    out: *mut c_char,
    out_len: usize,
    needed: *mut usize,
) -> Result<(), VoipError> {
    if let Some(needed) = needed.as_mut() {
        *needed = text.len() + 1;
    }
    if out.is_null() && !needed.is_null() {
        return Ok(()); // a size query
    }
    strings::write_out(text, out, out_len)
}

/// The system's audio devices as JSON, `{"input":["name",...],"output":[...]}`, for
/// `VoipConfig.input_device` / `output_device`. With `out` NULL and `needed` set, only reports
/// the size needed (NUL included). Returns 0, or -1001 when `out` is too small.
///
/// # Safety
/// `out` is NULL or valid for `out_len` bytes; `needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn voip_audio_devices_json(
    out: *mut c_char,
    out_len: usize,
    needed: *mut usize,
) -> i32 {
    status_code(catch(|| {
        let json = serde_json::json!({
            "input": device::input_device_names(),
            "output": device::output_device_names(),
        })
        .to_string();
        write_sized(&json, out, out_len, needed)
    }))
}

/// The call's statistics as JSON: what was sent, and per member packets received, lost,
/// recovered by FEC, late, concealed, and the jitter buffer's current and target delay. Sizes
/// as `voip_audio_devices_json`. Returns 0, or -1001 (not initialized, `out` too small).
///
/// # Safety
/// `out` is NULL or valid for `out_len` bytes; `needed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn voip_stats_json(
    out: *mut c_char,
    out_len: usize,
    needed: *mut usize,
) -> i32 {
    status_code(catch(|| {
        let json = super::sdk::stats_json()?;
        write_sized(&json, out, out_len, needed)
    }))
}
