//! libvpx's VP8 encoder and decoder behind a safe interface, at real-time settings.
//!
//! Why VP8 and these settings: at 640x360@30 and 800 kbps, libvpx's VP8 at speed 6 encodes a
//! frame in about 1.6 ms and decodes it in 0.75 ms on one core with about 35.6 dB PSNR-Y, and
//! the library is the system's (Debian's libvpx, through `env-libvpx-sys`), well kept and
//! fuzzed. `benches/video_codec.rs` measures it.
//!
//! What the wrapper guarantees:
//! - The encoder takes only pictures of its configured size (the caller scales first) and emits
//!   at most one frame per picture, never holding one back (no lookahead). A keyframe asked for
//!   comes out as the next frame that is emitted, even when rate control drops the one asked on.
//! - The decoder never hands out a picture it cannot vouch for. Until it has a keyframe, and
//!   again after any frame it could not decode or that libvpx marks corrupt (a reference it
//!   depends on was lost), it refuses inter frames with an error whose
//!   [`VideoCodecError::needs_keyframe`] tells the caller to ask the sender for one.
//! - Keyframes declaring a size larger than a [`Picture`] may have are refused before libvpx
//!   sees them, so a hostile member cannot make every receiver allocate for 16383x16383.
//!
//! All of the video module's `unsafe` is in this file.

use std::ffi::CStr;
use std::fmt;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use super::picture::{within_max_size, Picture};

/// Microseconds: the unit of `pts` given to [`Vp8Encoder::encode`].
const TIMEBASE_PER_SECOND: u64 = 1_000_000;
/// The largest `pts` passed on (about 285 years of microseconds): libvpx scales timestamps by
/// 10 in signed 64-bit arithmetic, which a larger value would overflow.
const MAX_PTS: u64 = 1 << 53;

/// What the encoder is set up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Even, at least 2, and within 1920x1080 (either orientation), as for a [`Picture`].
    pub width: u32,
    pub height: u32,
    /// The frame rate pictures are expected at (rate control budgets bits per frame from it
    /// until the timestamps tell it the real rate).
    pub fps: u32,
    /// The bitrate to hold, in kilobits per second.
    pub target_kbps: u32,
}

/// One encoded frame: what is sent to the other members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    /// A keyframe decodes on its own; any other frame needs the frames before it.
    pub keyframe: bool,
}

/// Why the encoder or decoder failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoCodecError {
    /// Encoder settings or a bitrate out of range.
    InvalidSettings(String),
    /// A picture of a size other than the encoder's.
    FrameSizeMismatch {
        expected_width: u32,
        expected_height: u32,
        width: u32,
        height: u32,
    },
    /// libvpx could not create a context.
    Init(String),
    /// libvpx failed to encode.
    Encode(String),
    /// The decoder has no reference to decode this frame from: it is waiting for a keyframe.
    NeedKeyframe,
    /// libvpx refused the frame: truncated, garbage, or a size out of range.
    Undecodable(String),
    /// libvpx decoded the frame but marks it corrupt (it depends on a lost frame).
    Corrupt,
}

impl VideoCodecError {
    /// Whether the decoder now waits for a keyframe, so the caller should ask the sender for
    /// one (as RTCP's picture loss indication does).
    pub fn needs_keyframe(&self) -> bool {
        matches!(
            self,
            VideoCodecError::NeedKeyframe
                | VideoCodecError::Undecodable(_)
                | VideoCodecError::Corrupt
        )
    }
}

impl fmt::Display for VideoCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoCodecError::InvalidSettings(why) => write!(f, "invalid video settings: {why}"),
            VideoCodecError::FrameSizeMismatch {
                expected_width,
                expected_height,
                width,
                height,
            } => write!(
                f,
                "picture is {width}x{height} but the encoder is set up for {expected_width}x{expected_height}"
            ),
            VideoCodecError::Init(why) => write!(f, "could not start the VP8 codec: {why}"),
            VideoCodecError::Encode(why) => write!(f, "VP8 encoding failed: {why}"),
            VideoCodecError::NeedKeyframe => {
                f.write_str("video frame needs an earlier frame the decoder does not have; waiting for a keyframe")
            }
            VideoCodecError::Undecodable(why) => write!(f, "video frame could not be decoded: {why}"),
            VideoCodecError::Corrupt => {
                f.write_str("video frame decoded corrupt (it depends on a lost frame); waiting for a keyframe")
            }
        }
    }
}

impl std::error::Error for VideoCodecError {}

/// The name of a libvpx error.
fn error_name(err: vpx::vpx_codec_err_t) -> String {
    // SAFETY: vpx_codec_err_to_string returns a static NUL-terminated string for any value.
    unsafe { CStr::from_ptr(vpx::vpx_codec_err_to_string(err)) }
        .to_string_lossy()
        .into_owned()
}

/// libvpx's description of a failed call on the initialised context `ctx`: the error's name
/// and, when libvpx gives one, its detail. Not for a failed init: libvpx has freed the memory
/// the detail would point into by then, so those errors give their name alone.
fn describe(ctx: &mut vpx::vpx_codec_ctx_t, err: vpx::vpx_codec_err_t) -> String {
    let name = error_name(err);
    // SAFETY: on an initialised context this returns NULL or a NUL-terminated string owned by
    // the context, copied here before anything else touches it.
    unsafe {
        let detail = vpx::vpx_codec_error_detail(ctx);
        if detail.is_null() {
            name
        } else {
            format!("{name} ({})", CStr::from_ptr(detail).to_string_lossy())
        }
    }
}

/// A context whose every field is zero (null pointers, `VPX_CODEC_OK`): what libvpx's init
/// functions expect to fill in.
fn zeroed_context() -> Box<vpx::vpx_codec_ctx_t> {
    // SAFETY: vpx_codec_ctx_t is plain C data (pointers, integers, an enum whose zero is
    // VPX_CODEC_OK, a union of pointers); all zeros is a valid value of it. It is boxed so its
    // address stays put while libvpx uses it, wherever the Rust value that owns it moves.
    Box::new(unsafe { MaybeUninit::zeroed().assume_init() })
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// VP8 at real-time settings: one frame out per picture in, no lookahead, constant bitrate,
/// keyframes when asked for.
pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// The configuration in force, kept to change the bitrate later.
    cfg: vpx::vpx_codec_enc_cfg_t,
    settings: EncoderSettings,
    frame_duration: u64,
    last_pts: Option<u64>,
    /// A keyframe asked for but not yet emitted (rate control dropped the frame it was asked on).
    keyframe_pending: bool,
}

// SAFETY: the libvpx context has no affinity to the thread that created it; it only must not
// be used by two threads at once, which `&mut self` on every call rules out. (Not Sync: a
// shared reference gives no access to the context anyway.)
unsafe impl Send for Vp8Encoder {}

/// Bitrates accepted: below 10 kbps nothing recognisable is left at any size; above 20 Mbps
/// is far beyond any stream this SDK sends.
const KBPS_RANGE: std::ops::RangeInclusive<u32> = 10..=20_000;

impl Vp8Encoder {
    pub fn new(settings: EncoderSettings) -> Result<Vp8Encoder, VideoCodecError> {
        let EncoderSettings {
            width,
            height,
            fps,
            target_kbps,
        } = settings;
        if width < 2 || height < 2 || width % 2 == 1 || height % 2 == 1 {
            return Err(VideoCodecError::InvalidSettings(format!(
                "size {width}x{height}: width and height must be even and at least 2"
            )));
        }
        if !within_max_size(width, height) {
            return Err(VideoCodecError::InvalidSettings(format!(
                "size {width}x{height} is larger than 1920x1080"
            )));
        }
        if !(1..=120).contains(&fps) {
            return Err(VideoCodecError::InvalidSettings(format!(
                "{fps} frames per second: between 1 and 120"
            )));
        }
        check_kbps(target_kbps)?;

        // SAFETY: vp8_cx returns a pointer to libvpx's static interface description.
        let iface = unsafe { vpx::vpx_codec_vp8_cx() };
        let mut cfg = MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed();
        // SAFETY: `cfg` points to writable memory of the right type, which the call fills.
        let err = unsafe { vpx::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::Init(format!("default config: {err:?}")));
        }
        // SAFETY: zeroed is already a valid value (integers, enums with a zero variant, null
        // pointers), and config_default succeeded in filling it.
        let mut cfg = unsafe { cfg.assume_init() };
        cfg.g_w = width;
        cfg.g_h = height;
        cfg.g_timebase = vpx::vpx_rational {
            num: 1,
            den: TIMEBASE_PER_SECOND as c_int,
        };
        // One thread: a client may encode while it decodes several members; each stream on
        // one core keeps the cost per stream what the bench measures.
        cfg.g_threads = 1;
        // No lookahead: a frame is out the moment its picture is in (latency over compression).
        cfg.g_lag_in_frames = 0;
        // Entropy contexts reset every frame, so a lost frame does not spoil the ones after it
        // beyond their references.
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = target_kbps;
        cfg.rc_resize_allowed = 0;
        // Rate control as WebRTC configures VP8 for calls: a quantiser range that keeps still
        // scenes sharp and busy ones within budget, a buffer of 1 s (0.5 s to start, 0.6 s
        // aimed at), full undershoot and little overshoot so frames do not pile up in a queue.
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        // Drop a frame when the buffer runs below 30 % (WebRTC's figure): after a big keyframe
        // or when the bitrate is cut for congestion, a skipped frame costs one frame of motion,
        // where sending it anyway would queue behind the path's capacity and delay all the
        // frames after it. `encode` then returns no frame.
        cfg.rc_dropframe_thresh = 30;
        // Keyframes come on demand (join, subscribe, a receiver's request). Scene cuts may
        // still bring one (VPX_KF_AUTO), and a periodic one every 3000 frames (100 s at 30 fps)
        // heals a receiver whose request was lost, at no noticeable cost.
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = 3000;

        let mut ctx = zeroed_context();
        // SAFETY: `ctx` is a zeroed context that lives in a Box, `cfg` a valid configuration
        // (libvpx copies it into the context during init), and the ABI version is the one the
        // bindings were generated for.
        let err = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            // libvpx destroys what it created when init fails; nothing to clean up here.
            return Err(VideoCodecError::Init(error_name(err)));
        }
        let mut encoder = Vp8Encoder {
            ctx,
            cfg,
            settings,
            frame_duration: (TIMEBASE_PER_SECOND / u64::from(fps)).max(1),
            last_pts: None,
            keyframe_pending: false,
        };
        use vpx::vp8e_enc_control_id as id;
        // Speed 6, fixed (negative: libvpx does not adapt it to the deadline), as WebRTC uses
        // on desktops: steady per-frame cost, which a game's frame budget wants more than the
        // last half-dB.
        encoder.control(id::VP8E_SET_CPUUSED, -6)?;
        // Macroblocks that barely changed are skipped: cheap on the still parts of a scene.
        encoder.control(id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        // A keyframe may take at most this share of a frame's budget, so joining does not
        // send one huge frame: WebRTC's rule, half the optimal buffer in frames, in percent.
        let max_intra_pct = (cfg.rc_buf_optimal_sz / 2 * fps / 10).max(300);
        encoder.control(id::VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct as c_int)?;
        encoder.control(id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        // One token partition: the frame is one piece, which is what the packetiser fragments.
        encoder.control(id::VP8E_SET_TOKEN_PARTITIONS, 0)?;
        Ok(encoder)
    }

    fn control(
        &mut self,
        id: vpx::vp8e_enc_control_id,
        value: c_int,
    ) -> Result<(), VideoCodecError> {
        // SAFETY: each control used here takes one int (or unsigned int, passed the same way
        // through C varargs) by value; the context is initialised.
        let err = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::Init(format!(
                "{id:?}: {}",
                describe(&mut self.ctx, err)
            )));
        }
        Ok(())
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Encodes one picture, which must be of the encoder's size. `pts` is the capture time in
    /// microseconds (any origin, at most 2^53); rate control reads the frame rate from it. A
    /// `pts` not after the previous one is moved just past it, as libvpx wants time to go
    /// forward.
    ///
    /// Returns `None` when rate control drops the frame (see the settings); a keyframe asked
    /// for then comes with the next frame emitted.
    pub fn encode(
        &mut self,
        picture: &Picture,
        pts: u64,
        force_keyframe: bool,
    ) -> Result<Option<EncodedFrame>, VideoCodecError> {
        let (width, height) = (picture.width(), picture.height());
        if (width, height) != (self.settings.width, self.settings.height) {
            return Err(VideoCodecError::FrameSizeMismatch {
                expected_width: self.settings.width,
                expected_height: self.settings.height,
                width,
                height,
            });
        }
        let pts = match self.last_pts {
            Some(last) if pts <= last => last + 1,
            _ => pts,
        }
        .min(MAX_PTS);
        self.last_pts = Some(pts);
        self.keyframe_pending |= force_keyframe;
        let flags: vpx::vpx_enc_frame_flags_t = if self.keyframe_pending {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };

        let mut image = MaybeUninit::<vpx::vpx_image_t>::zeroed();
        // SAFETY: vpx_img_wrap only records the buffer's address and the plane layout it
        // implies for I420 with 1-byte alignment: Y width*height, then U and V (width/2 x
        // height/2 each), exactly `Picture::i420`'s layout and length. The pointer is cast to
        // mut because the struct field is; the encoder only reads the source image, and copies
        // it before vpx_codec_encode returns (no lookahead), so the borrow of `picture` covers
        // every use.
        let wrapped = unsafe {
            vpx::vpx_img_wrap(
                image.as_mut_ptr(),
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                width,
                height,
                1,
                picture.i420().as_ptr() as *mut u8,
            )
        };
        if wrapped.is_null() {
            return Err(VideoCodecError::Encode("could not wrap the picture".into()));
        }
        // SAFETY: the context is initialised, `wrapped` points to the image set up above, and
        // pts/duration/flags/deadline are plain values.
        let err = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                wrapped,
                pts as vpx::vpx_codec_pts_t,
                self.frame_duration as c_ulong,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::Encode(describe(&mut self.ctx, err)));
        }

        let mut frame = None;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: the context is initialised; `iter` starts null and is libvpx's to
            // advance. The packet returned stays valid until the next call on the context.
            let packet = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if packet.is_null() {
                break;
            }
            // SAFETY: non-null packets point to a packet libvpx owns, valid until the next call
            // on the context; `data.frame` is the union member for frame packets, and its
            // buffer holds `sz` bytes, copied here at once.
            unsafe {
                let packet = &*packet;
                if packet.kind == vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT
                    && frame.is_none()
                {
                    let f = packet.data.frame;
                    let data = if f.sz == 0 || f.buf.is_null() {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize).to_vec()
                    };
                    frame = Some(EncodedFrame {
                        data,
                        keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                    });
                }
            }
        }
        if let Some(f) = &frame {
            if f.keyframe {
                self.keyframe_pending = false;
            }
        }
        Ok(frame)
    }

    /// Changes the bitrate rate control aims at, from the next frame on (congestion backoff).
    pub fn set_target_kbps(&mut self, kbps: u32) -> Result<(), VideoCodecError> {
        check_kbps(kbps)?;
        let mut cfg = self.cfg;
        cfg.rc_target_bitrate = kbps;
        // SAFETY: the context is initialised; `cfg` is the configuration it was created with
        // but for the bitrate, and libvpx copies it.
        let err = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &cfg) };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::InvalidSettings(describe(
                &mut self.ctx,
                err,
            )));
        }
        self.cfg = cfg;
        self.settings.target_kbps = kbps;
        Ok(())
    }
}

fn check_kbps(kbps: u32) -> Result<(), VideoCodecError> {
    if KBPS_RANGE.contains(&kbps) {
        Ok(())
    } else {
        Err(VideoCodecError::InvalidSettings(format!(
            "{kbps} kbps: between {} and {}",
            KBPS_RANGE.start(),
            KBPS_RANGE.end()
        )))
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised (a Vp8Encoder exists only then) and is destroyed
        // once, here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// VP8 decoding that hands out only whole, uncorrupted pictures (module docs).
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// Set at the start and after any frame that failed: only a keyframe is decoded then.
    awaiting_keyframe: bool,
}

// SAFETY: as for Vp8Encoder: no thread affinity, and `&mut self` keeps use to one thread at a
// time.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Vp8Decoder, VideoCodecError> {
        let mut ctx = zeroed_context();
        let cfg = vpx::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        // SAFETY: `ctx` is a zeroed, boxed context; `cfg` is valid and copied during init; no
        // flags (in particular no error concealment: a frame with missing parts is an error,
        // not a picture with grey blocks).
        let err = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::Init(error_name(err)));
        }
        Ok(Vp8Decoder {
            ctx,
            awaiting_keyframe: true,
        })
    }

    /// Whether only a keyframe will be decoded next (the caller may ask for one early).
    pub fn awaiting_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Decodes one frame. `Ok(None)` is a frame that decoded but is not for showing (VP8 lets a
    /// stream update a reference without display; this SDK's encoder never sends those).
    /// On an error whose [`VideoCodecError::needs_keyframe`] is true, ask the sender for a
    /// keyframe: inter frames are refused until one arrives.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Option<Picture>, VideoCodecError> {
        let result = self.decode_checked(frame);
        if matches!(&result, Err(e) if e.needs_keyframe()) {
            self.awaiting_keyframe = true;
        }
        result
    }

    fn decode_checked(&mut self, frame: &[u8]) -> Result<Option<Picture>, VideoCodecError> {
        // libvpx reads an empty buffer as "flush" or "a frame was lost", never as a frame.
        if frame.is_empty() {
            return Err(VideoCodecError::Undecodable("empty frame".into()));
        }
        let len = c_uint::try_from(frame.len())
            .map_err(|_| VideoCodecError::Undecodable("frame larger than 4 GB".into()))?;
        let keyframe = peek_keyframe(frame, len)?;
        if !keyframe && self.awaiting_keyframe {
            return Err(VideoCodecError::NeedKeyframe);
        }
        // SAFETY: the context is initialised; `frame` is a live buffer of `len` bytes, which
        // libvpx reads during the call only (no user data, no frame-buffer callbacks).
        let err = unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, frame.as_ptr(), len, ptr::null_mut(), 0)
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(VideoCodecError::Undecodable(describe(&mut self.ctx, err)));
        }
        let mut corrupted: c_int = 0;
        // SAFETY: VP8D_GET_FRAME_CORRUPTED takes one `int *`, written before the call returns.
        let err = unsafe {
            vpx::vpx_codec_control_(
                &mut *self.ctx,
                vpx::vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupted as *mut c_int,
            )
        };
        // A frame libvpx cannot vouch for is treated as corrupt.
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK || corrupted != 0 {
            self.drain_frames();
            return Err(VideoCodecError::Corrupt);
        }
        let picture = self.take_picture()?;
        self.drain_frames();
        if keyframe {
            self.awaiting_keyframe = false;
        }
        Ok(picture)
    }

    /// The picture the last decode produced, copied out of libvpx's buffer.
    fn take_picture(&mut self) -> Result<Option<Picture>, VideoCodecError> {
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        // SAFETY: the context is initialised; `iter` starts null and is libvpx's to advance.
        let image = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
        if image.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null image is libvpx's, valid until the next decode call on the
        // context; only read here.
        let image = unsafe { &*image };
        if image.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 {
            return Err(VideoCodecError::Undecodable(format!(
                "decoder produced {:?}, not I420",
                image.fmt
            )));
        }
        let (width, height) = (image.d_w, image.d_h);
        let plane = |index: usize, row_bytes: usize, rows: usize| -> Option<(&[u8], usize)> {
            let stride = usize::try_from(image.stride[index]).ok()?;
            if image.planes[index].is_null() || stride < row_bytes || rows == 0 {
                return None;
            }
            let len = stride * (rows - 1) + row_bytes;
            // SAFETY: libvpx's I420 image has `rows` rows of at least `row_bytes` bytes,
            // `stride` apart, starting at the plane pointer (checked non-null); the slice
            // covers exactly those bytes and lives no longer than `image`.
            Some((
                unsafe { std::slice::from_raw_parts(image.planes[index], len) },
                stride,
            ))
        };
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (Some((y, y_stride)), Some((u, u_stride)), Some((v, v_stride))) =
            (plane(0, w, h), plane(1, cw, ch), plane(2, cw, ch))
        else {
            return Err(VideoCodecError::Undecodable(
                "decoder produced an image without its planes".into(),
            ));
        };
        Picture::from_i420(width, height, y, y_stride, u, u_stride, v, v_stride)
            .map(Some)
            .map_err(|e| VideoCodecError::Undecodable(e.to_string()))
    }

    /// Empties libvpx's output queue, so no picture of this frame is left for a later call.
    fn drain_frames(&mut self) {
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        // SAFETY: as in take_picture; the images are not looked at.
        while !unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) }.is_null() {}
    }
}

/// Whether `frame` is a keyframe, refusing keyframes whose header is broken or declares a size
/// a picture may not have.
fn peek_keyframe(frame: &[u8], len: c_uint) -> Result<bool, VideoCodecError> {
    let mut info = vpx::vpx_codec_stream_info_t {
        sz: std::mem::size_of::<vpx::vpx_codec_stream_info_t>() as c_uint,
        w: 0,
        h: 0,
        is_kf: 0,
    };
    // SAFETY: `frame` is a live, non-empty buffer of `len` bytes; `info` is writable and its
    // `sz` says how big it is, as libvpx requires.
    let err = unsafe {
        vpx::vpx_codec_peek_stream_info(vpx::vpx_codec_vp8_dx(), frame.as_ptr(), len, &mut info)
    };
    if info.is_kf == 0 {
        // libvpx reports inter frames as "unsupported" here: only keyframes carry stream info.
        return Ok(false);
    }
    if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
        return Err(VideoCodecError::Undecodable(format!(
            "broken keyframe header ({err:?})"
        )));
    }
    if info.w < 2 || info.h < 2 || !within_max_size(info.w, info.h) {
        return Err(VideoCodecError::Undecodable(format!(
            "keyframe of size {}x{}: at least 2x2 and at most 1920x1080",
            info.w, info.h
        )));
    }
    Ok(true)
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised (a Vp8Decoder exists only then) and is destroyed
        // once, here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::picture::psnr_y;

    const W: u32 = 320;
    const H: u32 = 240;
    const FPS: u32 = 30;

    fn settings(kbps: u32) -> EncoderSettings {
        EncoderSettings {
            width: W,
            height: H,
            fps: FPS,
            target_kbps: kbps,
        }
    }

    /// Frame `t` of a moving scene: a panning textured gradient with a bouncing checkered box,
    /// so motion search and the residual both have work.
    fn moving_pattern(t: u32) -> Picture {
        let (w, h) = (W as usize, H as usize);
        let t = t as usize;
        let mut y = vec![0u8; w * h];
        for row in 0..h {
            for col in 0..w {
                let (x, yy) = ((col + 3 * t) % w, (row + t) % h);
                let texture = ((x / 4 * 7 + yy / 4 * 13) % 17) * 2;
                y[row * w + col] = (30 + x * 140 / w + yy * 40 / h + texture) as u8;
            }
        }
        let (bx, by) = ((t * 4) % (w - 48), (t * 2) % (h - 48));
        for row in by..by + 48 {
            for col in bx..bx + 48 {
                y[row * w + col] = if ((col - bx) / 8 + (row - by) / 8) % 2 == 0 {
                    230
                } else {
                    40
                };
            }
        }
        let (cw, ch) = (w / 2, h / 2);
        let u: Vec<u8> = (0..cw * ch)
            .map(|i| (64 + ((i % cw + t) % cw) * 128 / cw) as u8)
            .collect();
        let v: Vec<u8> = (0..cw * ch)
            .map(|i| (64 + ((i / cw + t) % ch) * 128 / ch) as u8)
            .collect();
        Picture::from_i420(W, H, &y, w, &u, cw, &v, cw).unwrap()
    }

    fn pts(frame: u32) -> u64 {
        u64::from(frame) * 1_000_000 / u64::from(FPS)
    }

    /// Encodes `count` frames from `start`, forcing a keyframe where `force` says.
    fn encode_run(
        encoder: &mut Vp8Encoder,
        start: u32,
        count: u32,
        force: impl Fn(u32) -> bool,
    ) -> Vec<(u32, EncodedFrame)> {
        (start..start + count)
            .filter_map(|t| {
                encoder
                    .encode(&moving_pattern(t), pts(t), force(t))
                    .unwrap()
                    .map(|f| (t, f))
            })
            .collect()
    }

    #[test]
    fn a_moving_pattern_survives_encode_and_decode() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let mut decoder = Vp8Decoder::new().unwrap();
        let frames = encode_run(&mut encoder, 0, 60, |_| false);
        assert!(
            frames.len() >= 55,
            "only {} of 60 frames emitted",
            frames.len()
        );
        assert!(frames[0].1.keyframe, "the first frame is a keyframe");
        let mut psnr = Vec::new();
        for (t, frame) in &frames {
            let picture = decoder.decode(&frame.data).unwrap().expect("a picture");
            assert_eq!((picture.width(), picture.height()), (W, H));
            psnr.push(psnr_y(&moving_pattern(*t), &picture));
        }
        let mean = psnr.iter().sum::<f64>() / psnr.len() as f64;
        let min = psnr.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            mean > 30.0 && min > 27.0,
            "PSNR-Y mean {mean:.1} dB, min {min:.1} dB"
        );
    }

    #[test]
    fn a_forced_keyframe_starts_a_fresh_decoder() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let frames = encode_run(&mut encoder, 0, 40, |t| t == 20);
        let keyframes: Vec<u32> = frames
            .iter()
            .filter(|(_, f)| f.keyframe)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(keyframes.first(), Some(&0));
        let forced = *keyframes
            .iter()
            .find(|&&t| t >= 20)
            .expect("a keyframe at or after the one forced");
        assert!(forced <= 21, "forced keyframe came at frame {forced}");

        let mut late_joiner = Vp8Decoder::new().unwrap();
        for (t, frame) in frames.iter().filter(|(t, _)| *t >= forced) {
            let picture = late_joiner.decode(&frame.data).unwrap().expect("a picture");
            assert!(psnr_y(&moving_pattern(*t), &picture) > 27.0, "frame {t}");
        }
    }

    #[test]
    fn a_fresh_decoder_refuses_an_inter_frame_until_a_keyframe() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let frames = encode_run(&mut encoder, 0, 10, |t| t == 8);
        let mut decoder = Vp8Decoder::new().unwrap();
        let inter = frames.iter().find(|(t, f)| *t > 0 && !f.keyframe).unwrap();
        let err = decoder.decode(&inter.1.data).unwrap_err();
        assert_eq!(err, VideoCodecError::NeedKeyframe);
        assert!(err.needs_keyframe());
        let key = frames.iter().find(|(t, f)| *t >= 8 && f.keyframe).unwrap();
        assert!(decoder.decode(&key.1.data).unwrap().is_some());
        assert!(!decoder.awaiting_keyframe());
    }

    #[test]
    fn a_lost_frame_stops_pictures_until_the_next_keyframe() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let frames = encode_run(&mut encoder, 0, 12, |t| t == 10);
        let mut decoder = Vp8Decoder::new().unwrap();
        decoder.decode(&frames[0].1.data).unwrap();
        // Frame 1 arrives damaged (its second half lost): after that no inter frame is shown.
        let damaged = &frames[1].1.data;
        let _ = decoder.decode(&damaged[..damaged.len() / 2]);
        assert!(decoder.awaiting_keyframe());
        for (t, frame) in frames.iter().filter(|(t, _)| (2..10).contains(t)) {
            let result = decoder.decode(&frame.data);
            assert_eq!(result, Err(VideoCodecError::NeedKeyframe), "frame {t}");
        }
        let key = frames.iter().find(|(t, f)| *t >= 10 && f.keyframe).unwrap();
        assert!(decoder.decode(&key.1.data).unwrap().is_some());
    }

    #[test]
    fn garbage_and_truncated_frames_are_errors_not_crashes() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let frames = encode_run(&mut encoder, 0, 3, |_| false);
        let key = &frames[0].1.data;
        let inter = &frames[1].1.data;

        let mut decoder = Vp8Decoder::new().unwrap();
        assert!(matches!(
            decoder.decode(&[]),
            Err(VideoCodecError::Undecodable(_))
        ));
        // Every truncation of a keyframe: an error, or (when only trailing bytes are missing)
        // a picture libvpx vouches for; never a crash.
        for cut in (1..key.len()).step_by(7) {
            let mut fresh = Vp8Decoder::new().unwrap();
            if let Err(e) = fresh.decode(&key[..cut]) {
                assert!(e.needs_keyframe(), "{e}");
            }
        }
        // Random bytes, alone and after a good keyframe, and bit flips in real frames.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let len = 1 + (next() % 2000) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                bytes[0] &= !1; // claims to be a keyframe
                if bytes.len() >= 6 {
                    bytes[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
                }
            }
            let mut fresh = Vp8Decoder::new().unwrap();
            let _ = fresh.decode(&bytes);
            let mut warm = Vp8Decoder::new().unwrap();
            warm.decode(key).unwrap();
            let _ = warm.decode(&bytes);
            let mut flipped = if round % 2 == 0 {
                key.clone()
            } else {
                inter.clone()
            };
            let at = (next() as usize) % flipped.len();
            flipped[at] ^= 1 << (next() % 8);
            let _ = warm.decode(&flipped);
        }
        // After all that, a good keyframe still decodes.
        assert!(decoder.decode(key).unwrap().is_some());
    }

    #[test]
    fn keyframes_declaring_a_huge_size_are_refused() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let mut key = encode_run(&mut encoder, 0, 1, |_| false).remove(0).1.data;
        // Width and height fields of the keyframe header: 14 bits each.
        key[6..10].copy_from_slice(&[0xff, 0x3f, 0xff, 0x3f]);
        let mut decoder = Vp8Decoder::new().unwrap();
        let err = decoder.decode(&key).unwrap_err();
        assert!(err.to_string().contains("16383x16383"), "{err}");
    }

    #[test]
    fn a_picture_of_another_size_is_refused() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        let other = moving_pattern(0).scaled_to(160, 120);
        assert_eq!(
            encoder.encode(&other, 0, false),
            Err(VideoCodecError::FrameSizeMismatch {
                expected_width: W,
                expected_height: H,
                width: 160,
                height: 120
            })
        );
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad = [
            EncoderSettings {
                width: 321,
                ..settings(500)
            },
            EncoderSettings {
                height: 0,
                ..settings(500)
            },
            EncoderSettings {
                width: 2560,
                height: 1440,
                ..settings(500)
            },
            EncoderSettings {
                fps: 0,
                ..settings(500)
            },
            settings(0),
        ];
        for settings in bad {
            assert!(
                matches!(
                    Vp8Encoder::new(settings),
                    Err(VideoCodecError::InvalidSettings(_))
                ),
                "{settings:?}"
            );
        }
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        assert!(encoder.set_target_kbps(5).is_err());
    }

    #[test]
    fn a_lower_target_bitrate_makes_smaller_frames() {
        let mut steady = Vp8Encoder::new(settings(800)).unwrap();
        let mut backed_off = Vp8Encoder::new(settings(800)).unwrap();
        let bytes_after = |frames: &[(u32, EncodedFrame)], from: u32| -> usize {
            frames
                .iter()
                .filter(|(t, _)| *t >= from)
                .map(|(_, f)| f.data.len())
                .sum()
        };
        let mut steady_frames = encode_run(&mut steady, 0, 30, |_| false);
        let mut backed_off_frames = encode_run(&mut backed_off, 0, 30, |_| false);
        backed_off.set_target_kbps(200).unwrap();
        assert_eq!(backed_off.settings().target_kbps, 200);
        steady_frames.extend(encode_run(&mut steady, 30, 60, |_| false));
        backed_off_frames.extend(encode_run(&mut backed_off, 30, 60, |_| false));
        // Judged over the last second, once rate control has settled on the new target.
        let (high, low) = (
            bytes_after(&steady_frames, 60),
            bytes_after(&backed_off_frames, 60),
        );
        assert!(
            (low as f64) < 0.5 * high as f64,
            "800 kbps: {high} bytes, 200 kbps: {low} bytes"
        );
    }

    #[test]
    fn timestamps_that_do_not_advance_or_are_huge_are_accepted() {
        let mut encoder = Vp8Encoder::new(settings(500)).unwrap();
        for t in 0..5 {
            // The same pts every time, as a game with a coarse clock might send.
            encoder.encode(&moving_pattern(t), 1000, false).unwrap();
        }
        for t in 5..8 {
            encoder.encode(&moving_pattern(t), u64::MAX, false).unwrap();
        }
    }

    #[test]
    fn codec_types_can_move_to_another_thread() {
        let encoder = Vp8Encoder::new(settings(500)).unwrap();
        let decoder = Vp8Decoder::new().unwrap();
        std::thread::spawn(move || {
            drop(encoder);
            drop(decoder);
        })
        .join()
        .unwrap();
    }
}
