//! Video across the C ABI: the engine's camera frames in, members' pictures out, and the video
//! room's subscription and publisher list. A push or pull never takes the SDK's main lock
//! (a push encodes for a couple of milliseconds): the client's video is found through a
//! read-mostly slot, as external audio is.

use std::collections::HashSet;
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, RwLock};

use super::dispatch::Dispatcher;
use super::sdk::{call_with_callbacks, not_initialized, UserData};
use super::strings;
use super::types::*;
use super::{catch, status_code};
use crate::client::video::{FrameHook, Video};
use crate::error::{ErrorCode, VoipError};
use crate::server::MAX_VIDEO_SUBSCRIPTION;
use crate::video::picture::{Picture, MAX_LONG_SIDE};

/// The video of the SDK's client while it is initialized.
static VIDEO: RwLock<Option<Arc<Video>>> = RwLock::new(None);

pub(crate) fn set_video(video: Option<Arc<Video>>) {
    *VIDEO.write().unwrap_or_else(|p| p.into_inner()) = video;
}

fn video() -> Result<Arc<Video>, VoipError> {
    VIDEO
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(not_initialized)
}

fn invalid(message: impl Into<String>) -> VoipError {
    VoipError::new(ErrorCode::InvalidArgument, message.into())
}

/// The bytes a plane of `rows` rows of `row_bytes` each spans at `stride`: what the caller
/// promises its buffer holds. Sizes past the SDK's limit are refused before any pointer is
/// read, so a made-up size is an error, not a read out of bounds.
fn plane_len(stride: u32, row_bytes: usize, rows: usize, name: &str) -> Result<usize, VoipError> {
    if (stride as usize) < row_bytes {
        return Err(invalid(format!(
            "{name} stride {stride} is smaller than one row ({row_bytes} bytes)"
        )));
    }
    (stride as usize)
        .checked_mul(rows.saturating_sub(1))
        .and_then(|bytes| bytes.checked_add(row_bytes))
        .ok_or_else(|| {
            invalid(format!(
                "{name} stride {stride} spans more memory than exists"
            ))
        })
}

/// # Safety
/// `plane` is NULL or points to `len` readable bytes.
unsafe fn plane<'a>(plane: *const u8, len: usize, name: &str) -> Result<&'a [u8], VoipError> {
    if plane.is_null() {
        return Err(invalid(format!("{name} plane is NULL")));
    }
    Ok(std::slice::from_raw_parts(plane, len))
}

/// The engine's frame as a picture, every size and pointer checked first.
///
/// # Safety
/// The planes `frame` names hold what its format, size and strides say.
unsafe fn picture_of(frame: &VoipVideoFrame) -> Result<Picture, VoipError> {
    let (width, height) = (frame.width, frame.height);
    if width == 0 || height == 0 || width > MAX_LONG_SIDE || height > MAX_LONG_SIDE {
        // Picture::from_* says exactly which limit; no plane is touched for a size it refuses.
        let refused = Picture::from_rgba(width, height, 0, &[]).map(|_| ());
        return Err(invalid(match refused {
            Err(e) => format!("push_video_frame: {e}"),
            Ok(()) => format!("push_video_frame: frame size {width}x{height} is not supported"),
        }));
    }
    let (w, h) = (width as usize, height as usize);
    let picture = match frame.format {
        VOIP_PIXEL_RGBA => {
            let len = plane_len(frame.strides[0], w * 4, h, "RGBA")?;
            let rgba = plane(frame.planes[0], len, "RGBA")?;
            Picture::from_rgba(width, height, frame.strides[0] as usize, rgba)
        }
        VOIP_PIXEL_I420 => {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let y = plane(
                frame.planes[0],
                plane_len(frame.strides[0], w, h, "Y")?,
                "Y",
            )?;
            let u = plane(
                frame.planes[1],
                plane_len(frame.strides[1], cw, ch, "U")?,
                "U",
            )?;
            let v = plane(
                frame.planes[2],
                plane_len(frame.strides[2], cw, ch, "V")?,
                "V",
            )?;
            Picture::from_i420(
                width,
                height,
                y,
                frame.strides[0] as usize,
                u,
                frame.strides[1] as usize,
                v,
                frame.strides[2] as usize,
            )
        }
        other => {
            return Err(invalid(format!(
                "push_video_frame: format {other} is not VOIP_PIXEL_RGBA (0) or VOIP_PIXEL_I420 (1)"
            )))
        }
    };
    picture.map_err(|e| invalid(format!("push_video_frame: {e}")))
}

/// Video room: hands the SDK one camera frame (RGBA or I420, any size up to 1920x1080), which
/// is scaled to the send size (640x360), encoded (VP8) and sent to the members receiving this
/// member's video. Call it at the camera's rate from any one thread; it takes about 2 ms at
/// 640x360 and copies the frame, so the buffers are free again on return. Returns 0; -1001 for
/// a bad frame (NULL, zero or too large a size, short strides, NULL planes, unknown format)
/// with the reason in `voip_last_error_message()`; -1006 in a voice room; -1005 outside a call.
///
/// # Safety
/// `frame` is NULL or points to a valid `VoipVideoFrame` whose planes hold what it says.
#[no_mangle]
pub unsafe extern "C" fn voip_video_push_frame(frame: *const VoipVideoFrame) -> i32 {
    status_code(catch(|| {
        let video = video()?;
        let frame = frame
            .as_ref()
            .ok_or_else(|| invalid("push_video_frame: frame is NULL"))?;
        let picture = picture_of(frame)?;
        video.push_frame(&picture)
    }))
}

/// Copies `rows` rows of `row_bytes` from a tightly packed `source` into `out` at `stride`.
///
/// # Safety
/// `out` is non-NULL and points to `stride * (rows - 1) + row_bytes` writable bytes.
unsafe fn copy_rows(source: &[u8], row_bytes: usize, rows: usize, out: *mut u8, stride: usize) {
    for (row, line) in source.chunks_exact(row_bytes).take(rows).enumerate() {
        std::ptr::copy_nonoverlapping(line.as_ptr(), out.add(row * stride), row_bytes);
    }
}

/// Video room: the latest picture of the member `open_id`, copied into the engine's buffers.
///
/// On entry `out` says what the engine has: `format` (RGBA or I420), `width` x `height` (the
/// size its buffers can hold), `planes` and `strides` (as for a push), and `sequence`, the
/// number of the picture it already shows (0 for none). Returns 1 and fills the buffers, the
/// size and the new sequence when a newer picture is there; 0 when there is none newer
/// (nothing is written); -1001 when `out` is NULL or malformed, or its buffers are too small:
/// then `out->width` and `out->height` say the size needed, so the engine can grow its texture
/// and call again. Pictures are 640x360 unless the sender was configured otherwise.
///
/// # Safety
/// `open_id` is NULL or NUL-terminated; `out` is NULL or points to a valid `VoipVideoFrame`
/// whose planes can hold what its format, size and strides say.
#[no_mangle]
pub unsafe extern "C" fn voip_video_pull_frame(
    open_id: *const c_char,
    out: *mut VoipVideoFrame,
) -> i32 {
    let pulled = catch(|| {
        let video = video()?;
        let open_id = strings::required(open_id, "open_id")?;
        let out = out
            .as_mut()
            .ok_or_else(|| invalid("pull_video_frame: out is NULL"))?;
        // Checked before the picture is copied: most polls find nothing new.
        if video
            .latest_sequence(open_id)
            .map_or(true, |s| s == out.sequence)
        {
            return Ok(0);
        }
        let Some(frame) = video.latest_frame(open_id) else {
            return Ok(0);
        };
        let picture = &frame.picture;
        let (width, height) = (picture.width(), picture.height());
        if out.width < width || out.height < height {
            let held = format!("{}x{}", out.width, out.height);
            out.width = width;
            out.height = height;
            return Err(invalid(format!(
                "pull_video_frame: the buffers hold {held}, the picture is {width}x{height}"
            )));
        }
        let (w, h) = (width as usize, height as usize);
        match out.format {
            VOIP_PIXEL_RGBA => {
                plane_len(out.strides[0], w * 4, h, "RGBA")?;
                if out.planes[0].is_null() {
                    return Err(invalid("pull_video_frame: RGBA plane is NULL"));
                }
                let mut rgba = Vec::new();
                picture.to_rgba(&mut rgba);
                copy_rows(&rgba, w * 4, h, out.planes[0], out.strides[0] as usize);
            }
            VOIP_PIXEL_I420 => {
                let (cw, ch) = (w / 2, h / 2);
                plane_len(out.strides[0], w, h, "Y")?;
                plane_len(out.strides[1], cw, ch, "U")?;
                plane_len(out.strides[2], cw, ch, "V")?;
                if out.planes.iter().any(|p| p.is_null()) {
                    return Err(invalid("pull_video_frame: an I420 plane is NULL"));
                }
                copy_rows(picture.y(), w, h, out.planes[0], out.strides[0] as usize);
                copy_rows(picture.u(), cw, ch, out.planes[1], out.strides[1] as usize);
                copy_rows(picture.v(), cw, ch, out.planes[2], out.strides[2] as usize);
            }
            other => {
                return Err(invalid(format!(
                    "pull_video_frame: format {other} is not VOIP_PIXEL_RGBA (0) or VOIP_PIXEL_I420 (1)"
                )))
            }
        }
        out.width = width;
        out.height = height;
        out.sequence = frame.sequence;
        Ok(1)
    });
    pulled.unwrap_or_else(|e| {
        super::set_last_error(&e.reason);
        e.code.as_i32()
    })
}

/// `wx.subscribeVoIPVideoMembers`: in a video room, receive video only from the members in
/// `open_ids` (`count` of them, at most 64; 0 receives none), instead of the default, the
/// first two members to publish. `success` runs once the relay applied it; `fail` with -1006
/// in a voice room, -1005 outside a call, -1001 for a NULL or non-UTF-8 id.
///
/// # Safety
/// `open_ids` points to `count` NUL-terminated strings (may be NULL when `count` is 0).
#[no_mangle]
pub unsafe extern "C" fn voip_subscribe_video_members(
    open_ids: *const *const c_char,
    count: usize,
    callbacks: VoipCallbacks,
    user_data: *mut c_void,
) -> i32 {
    call_with_callbacks(
        "subscribeVoIPVideoMembers",
        callbacks,
        user_data,
        |sdk, reply| {
            if count > MAX_VIDEO_SUBSCRIPTION {
                return Err(invalid(format!(
                    "open_ids: {count} ids, at most {MAX_VIDEO_SUBSCRIPTION}"
                )));
            }
            let list: Vec<String> = if count == 0 {
                Vec::new()
            } else if open_ids.is_null() {
                return Err(invalid("open_ids is NULL"));
            } else {
                std::slice::from_raw_parts(open_ids, count)
                    .iter()
                    .map(|&id| strings::required(id, "open_ids[i]").map(str::to_string))
                    .collect::<Result<_, _>>()?
            };
            sdk.client
                .subscribe_video_members_with(list, reply.completion())
        },
    )
}

/// The engine's `voip_on_video_frame` listener; like the others, it may be set before
/// `voip_init` and stays set across `voip_shutdown`.
static FRAME_LISTENER: Mutex<(VoipVideoFrameFn, UserData)> =
    Mutex::new((None, UserData(std::ptr::null_mut())));
/// Members whose new picture is queued for the listener: a member gets one queued call however
/// many pictures arrive before it runs (in poll mode, until the engine polls), and that call
/// hands over the latest.
static FRAMES_QUEUED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn frame_listener() -> (VoipVideoFrameFn, UserData) {
    *FRAME_LISTENER.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the client calls on each decoded picture: one dispatcher job per member at a time.
pub(crate) fn frame_hook(dispatcher: Arc<Dispatcher>) -> FrameHook {
    Arc::new(move |open_id: &str| {
        if frame_listener().0.is_none() {
            return;
        }
        let newly_queued = FRAMES_QUEUED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert(open_id.to_string());
        if !newly_queued {
            return;
        }
        let open_id = open_id.to_string();
        dispatcher.push(Box::new(move || deliver_frame(&open_id)));
    })
}

/// Hands the listener `open_id`'s latest picture, as read-only I420 planes.
fn deliver_frame(open_id: &str) {
    if let Some(queued) = FRAMES_QUEUED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
    {
        queued.remove(open_id);
    }
    let (Some(listener), user_data) = frame_listener() else {
        return;
    };
    let Some(frame) = video().ok().and_then(|video| video.latest_frame(open_id)) else {
        return;
    };
    let picture = &frame.picture;
    let (width, height) = (picture.width(), picture.height());
    let out = VoipVideoFrame {
        format: VOIP_PIXEL_I420,
        width,
        height,
        // The listener only reads them (the type says so in the header): `*mut` is the one
        // plane type push and pull share.
        planes: [
            picture.y().as_ptr().cast_mut(),
            picture.u().as_ptr().cast_mut(),
            picture.v().as_ptr().cast_mut(),
        ],
        strides: [width, width / 2, width / 2],
        sequence: frame.sequence,
    };
    let id = strings::c_string(open_id);
    // SAFETY: the listener and user_data the caller registered; the planes live until it returns.
    unsafe { listener(id.as_ptr(), &out, user_data.0) };
}

/// Video room: `listener(open_id, frame, user_data)` runs each time a new picture of a member
/// is decoded, for engines that prefer a push to calling `voip_video_pull_frame` every frame.
/// `frame` is I420, its planes read-only and valid only during the call (copy what you keep).
/// Runs where every callback runs (an SDK thread, or inside `voip_poll`); pictures that arrive
/// before it ran are not queued up: it is handed the latest. NULL turns it off. May be set
/// before `voip_init`.
#[no_mangle]
pub extern "C" fn voip_on_video_frame(listener: VoipVideoFrameFn, user_data: *mut c_void) -> i32 {
    *FRAME_LISTENER.lock().unwrap_or_else(|p| p.into_inner()) = (listener, UserData(user_data));
    VOIP_OK
}
