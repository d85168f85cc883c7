//! An owned I420 picture: what a camera frame becomes before it is encoded, and what a decoded
//! frame is before it becomes a texture.
//!
//! I420 (8-bit 4:2:0, planes Y then U then V) is what VP8 codes, so a picture in this form is
//! handed to libvpx without another copy. Colours convert with BT.601 studio range (Y 16..235,
//! chroma 16..240): VP8 streams carry no colour description and every decoder (libvpx, WebRTC,
//! browsers) assumes exactly that.
//!
//! Sizes. Width and height are even, because a chroma sample covers 2x2 luma samples and an
//! odd edge would have half a chroma sample. A frame of odd size is accepted and its last
//! column or row dropped (one pixel a game never notices, where rejecting a 1279-wide window
//! capture would be a surprise). The long side may be at most 1920 and the short side at most
//! 1080, in either orientation, so a portrait phone camera (1080x1920) is as welcome as a
//! landscape one; bigger frames are refused rather than scaled, since what the SDK sends is
//! far smaller and a bigger frame is more likely a wrong size than a real camera.

use std::fmt;

/// The longest side a picture may have.
pub const MAX_LONG_SIDE: u32 = 1920;
/// The shortest side a picture may have at most (1920x1080 or 1080x1920).
pub const MAX_SHORT_SIDE: u32 = 1080;

/// Which buffer of a frame an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Rgba,
    Y,
    U,
    V,
}

impl fmt::Display for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Plane::Rgba => "RGBA",
            Plane::Y => "Y",
            Plane::U => "U",
            Plane::V => "V",
        })
    }
}

/// Why a frame could not become a picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PictureError {
    /// Width or height is below 2 (after an odd size is rounded down to even).
    TooSmall { width: u32, height: u32 },
    /// Bigger than 1920x1080 (or 1080x1920).
    TooLarge { width: u32, height: u32 },
    /// A row stride shorter than the row it should hold.
    StrideTooSmall {
        plane: Plane,
        stride: usize,
        min: usize,
    },
    /// A buffer shorter than its rows and strides need.
    BufferTooShort {
        plane: Plane,
        len: usize,
        needed: usize,
    },
}

impl fmt::Display for PictureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PictureError::TooSmall { width, height } => write!(
                f,
                "frame size {width}x{height} is too small: width and height must each be at least 2 pixels"
            ),
            PictureError::TooLarge { width, height } => write!(
                f,
                "frame size {width}x{height} is too large: the most is {MAX_LONG_SIDE}x{MAX_SHORT_SIDE} (or {MAX_SHORT_SIDE}x{MAX_LONG_SIDE})"
            ),
            PictureError::StrideTooSmall { plane, stride, min } => write!(
                f,
                "{plane} stride {stride} is smaller than one row of the frame ({min} bytes)"
            ),
            PictureError::BufferTooShort { plane, len, needed } => write!(
                f,
                "{plane} buffer has {len} bytes but the frame size and stride need {needed}"
            ),
        }
    }
}

impl std::error::Error for PictureError {}

/// An I420 picture, planes tightly packed one after another in one buffer (Y: width x height,
/// then U and V: width/2 x height/2), which is the layout libvpx wraps without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

impl Picture {
    /// An RGBA frame (8 bits a channel, `stride` bytes from one row to the next; alpha is
    /// ignored) converted to I420. Odd sizes lose their last column or row (module docs).
    pub fn from_rgba(
        width: u32,
        height: u32,
        stride: usize,
        rgba: &[u8],
    ) -> Result<Picture, PictureError> {
        let (w, h) = checked_size(width, height)?;
        check_plane(
            Plane::Rgba,
            rgba,
            stride,
            width as usize * 4,
            height as usize,
        )?;
        let mut picture = Picture::black(w, h);
        picture.fill_from_rgba(rgba, stride);
        Ok(picture)
    }

    /// I420 planes with strides of their own, copied into a tightly packed picture. The
    /// chroma planes are those of the declared size: (width+1)/2 x (height+1)/2. Odd sizes
    /// lose their last column or row (module docs).
    #[allow(clippy::too_many_arguments)] // one plane and its stride a pair, as the C ABI has them
    pub fn from_i420(
        width: u32,
        height: u32,
        y: &[u8],
        y_stride: usize,
        u: &[u8],
        u_stride: usize,
        v: &[u8],
        v_stride: usize,
    ) -> Result<Picture, PictureError> {
        let (w, h) = checked_size(width, height)?;
        let (chroma_w, chroma_h) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
        check_plane(Plane::Y, y, y_stride, width as usize, height as usize)?;
        check_plane(Plane::U, u, u_stride, chroma_w, chroma_h)?;
        check_plane(Plane::V, v, v_stride, chroma_w, chroma_h)?;
        let mut picture = Picture::black(w, h);
        let (pw, ph) = (w as usize, h as usize);
        let (y_out, u_out, v_out) = picture.planes_mut();
        copy_plane(y, y_stride, y_out, pw, ph);
        copy_plane(u, u_stride, u_out, pw / 2, ph / 2);
        copy_plane(v, v_stride, v_out, pw / 2, ph / 2);
        Ok(picture)
    }

    /// A black picture; `width` and `height` must already be valid (even, at least 2).
    fn black(width: u32, height: u32) -> Picture {
        debug_assert!(width >= 2 && height >= 2 && width % 2 == 0 && height % 2 == 0);
        let luma = width as usize * height as usize;
        let mut data = vec![16u8; luma + luma / 2];
        data[luma..].fill(128);
        Picture {
            width,
            height,
            data,
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The luma plane: `width` bytes a row, `height` rows.
    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    /// The blue-difference plane: `width/2` bytes a row, `height/2` rows.
    pub fn u(&self) -> &[u8] {
        let luma = self.luma_len();
        &self.data[luma..luma + luma / 4]
    }

    /// The red-difference plane: `width/2` bytes a row, `height/2` rows.
    pub fn v(&self) -> &[u8] {
        let luma = self.luma_len();
        &self.data[luma + luma / 4..]
    }

    /// All three planes, one after another: the layout `vpx_img_wrap` expects.
    pub fn i420(&self) -> &[u8] {
        &self.data
    }

    fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let luma = self.luma_len();
        let (y, chroma) = self.data.split_at_mut(luma);
        let (u, v) = chroma.split_at_mut(luma / 4);
        (y, u, v)
    }

    fn fill_from_rgba(&mut self, rgba: &[u8], stride: usize) {
        let w = self.width as usize;
        let h = self.height as usize;
        let (y_out, u_out, v_out) = self.planes_mut();
        // Two rows at a time: each 2x2 block gives four luma samples and one chroma pair, from
        // the block's average colour.
        for row_pair in 0..h / 2 {
            let top = &rgba[2 * row_pair * stride..][..w * 4];
            let bottom = &rgba[(2 * row_pair + 1) * stride..][..w * 4];
            let (y_top, y_bottom) = y_out[2 * row_pair * w..][..2 * w].split_at_mut(w);
            let u_row = &mut u_out[row_pair * w / 2..][..w / 2];
            let v_row = &mut v_out[row_pair * w / 2..][..w / 2];
            for x in 0..w / 2 {
                let mut sum = [0i32; 3];
                for (row, y_row) in [(top, &mut *y_top), (bottom, &mut *y_bottom)] {
                    for dx in 0..2 {
                        let px = &row[(2 * x + dx) * 4..][..3];
                        let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
                        y_row[2 * x + dx] = luma_of(r, g, b);
                        sum[0] += r;
                        sum[1] += g;
                        sum[2] += b;
                    }
                }
                let (r, g, b) = ((sum[0] + 2) >> 2, (sum[1] + 2) >> 2, (sum[2] + 2) >> 2);
                u_row[x] = clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                v_row[x] = clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
    }

    /// The picture as tightly packed RGBA (alpha 255), `out` resized to width*height*4. The
    /// buffer is the caller's so a receiver converting every frame reuses one allocation.
    pub fn to_rgba(&self, out: &mut Vec<u8>) {
        let w = self.width as usize;
        let h = self.height as usize;
        out.clear();
        out.resize(w * h * 4, 255);
        let (y_plane, u_plane, v_plane) = (self.y(), self.u(), self.v());
        for (row, out_row) in out.chunks_exact_mut(w * 4).enumerate() {
            let y_row = &y_plane[row * w..][..w];
            let u_row = &u_plane[(row / 2) * (w / 2)..][..w / 2];
            let v_row = &v_plane[(row / 2) * (w / 2)..][..w / 2];
            for (x, px) in out_row.chunks_exact_mut(4).enumerate() {
                let c = 298 * (i32::from(y_row[x]) - 16);
                let d = i32::from(u_row[x / 2]) - 128;
                let e = i32::from(v_row[x / 2]) - 128;
                px[0] = clamp_u8((c + 409 * e + 128) >> 8);
                px[1] = clamp_u8((c - 100 * d - 208 * e + 128) >> 8);
                px[2] = clamp_u8((c + 516 * d + 128) >> 8);
            }
        }
    }

    /// The picture resampled to `width` x `height`: area averaging when shrinking (every
    /// source pixel counts, so fine texture does not alias into noise the encoder then pays
    /// for), bilinear when enlarging. The size given is made valid rather than refused, as
    /// the send size is the SDK's own setting: rounded down to even, at least 2x2, at most
    /// 1920x1080 (either orientation).
    pub fn scaled_to(&self, width: u32, height: u32) -> Picture {
        let (w, h) = clamp_size(width, height);
        if (w, h) == (self.width, self.height) {
            return self.clone();
        }
        let mut out = Picture::black(w, h);
        let (sw, sh) = (self.width as usize, self.height as usize);
        let (dw, dh) = (w as usize, h as usize);
        let mut scratch = Vec::new();
        let (y_out, u_out, v_out) = out.planes_mut();
        resample_plane(self.y(), sw, sh, y_out, dw, dh, &mut scratch);
        resample_plane(
            self.u(),
            sw / 2,
            sh / 2,
            u_out,
            dw / 2,
            dh / 2,
            &mut scratch,
        );
        resample_plane(
            self.v(),
            sw / 2,
            sh / 2,
            v_out,
            dw / 2,
            dh / 2,
            &mut scratch,
        );
        out
    }
}

/// PSNR of the luma planes in dB: how close a decoded picture is to its source. Identical
/// pictures give `f64::INFINITY`. Both must have the same size (a measuring helper for tests
/// and benches: a mismatch is a bug in the caller, so it panics).
pub fn psnr_y(a: &Picture, b: &Picture) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "psnr_y of pictures of different sizes"
    );
    let squared_error: u64 = a
        .y()
        .iter()
        .zip(b.y())
        .map(|(&p, &q)| {
            let d = u64::from(p.abs_diff(q));
            d * d
        })
        .sum();
    if squared_error == 0 {
        return f64::INFINITY;
    }
    let mse = squared_error as f64 / a.luma_len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// The even size a frame of `width` x `height` becomes, or why it cannot.
fn checked_size(width: u32, height: u32) -> Result<(u32, u32), PictureError> {
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 {
        return Err(PictureError::TooSmall { width, height });
    }
    if !within_max_size(width, height) {
        return Err(PictureError::TooLarge { width, height });
    }
    Ok((w, h))
}

/// Whether a frame of this size is one a picture may have (either orientation).
pub(crate) fn within_max_size(width: u32, height: u32) -> bool {
    width.max(height) <= MAX_LONG_SIDE && width.min(height) <= MAX_SHORT_SIDE
}

fn clamp_size(width: u32, height: u32) -> (u32, u32) {
    let (mut w, mut h) = (width.max(2), height.max(2));
    if !within_max_size(w, h) {
        // Shrink both sides by the same factor, so the aspect ratio survives.
        let (long, short) = (f64::from(w.max(h)), f64::from(w.min(h)));
        let factor = (f64::from(MAX_LONG_SIDE) / long).min(f64::from(MAX_SHORT_SIDE) / short);
        let (max_w, max_h) = if w >= h {
            (MAX_LONG_SIDE, MAX_SHORT_SIDE)
        } else {
            (MAX_SHORT_SIDE, MAX_LONG_SIDE)
        };
        w = ((f64::from(w) * factor).round() as u32).clamp(2, max_w);
        h = ((f64::from(h) * factor).round() as u32).clamp(2, max_h);
    }
    (w & !1, h & !1)
}

/// A plane of `rows` rows of `row_bytes` bytes, `stride` apart: the stride holds a row and the
/// buffer reaches the end of the last row (which need not have a stride's padding after it).
fn check_plane(
    plane: Plane,
    buffer: &[u8],
    stride: usize,
    row_bytes: usize,
    rows: usize,
) -> Result<(), PictureError> {
    if stride < row_bytes {
        return Err(PictureError::StrideTooSmall {
            plane,
            stride,
            min: row_bytes,
        });
    }
    // Sizes are at most 1920 x 1080 by now, so this cannot overflow for any stride that a
    // buffer in memory could have; saturate anyway so a huge stride is "too short", not a wrap.
    let needed = stride.saturating_mul(rows - 1).saturating_add(row_bytes);
    if buffer.len() < needed {
        return Err(PictureError::BufferTooShort {
            plane,
            len: buffer.len(),
            needed,
        });
    }
    Ok(())
}

fn copy_plane(src: &[u8], stride: usize, dst: &mut [u8], width: usize, height: usize) {
    for (row, dst_row) in dst.chunks_exact_mut(width).take(height).enumerate() {
        dst_row.copy_from_slice(&src[row * stride..][..width]);
    }
}

fn luma_of(r: i32, g: i32, b: i32) -> u8 {
    clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16)
}

fn clamp_u8(value: i32) -> u8 {
    value.clamp(0, 255) as u8
}

// ---------------------------------------------------------------------------------------------
// Resampling: separable, fixed point. Each output sample is a weighted sum of a few source
// samples along one axis; the weights of one output sample add up to exactly 1 << WEIGHT_BITS.
// ---------------------------------------------------------------------------------------------

const WEIGHT_BITS: u32 = 14;
/// Extra precision kept between the horizontal and the vertical pass.
const MID_BITS: u32 = 8;

/// The weights that make each output sample along one axis: output `i` is the sum over `k` of
/// source sample `starts[i] + k` times `weights[i * count + k]`. Every output has the same
/// number of taps (`count`, short ones padded with zero weights), so the inner loops run over
/// flat slices of one length.
struct Taps {
    count: usize,
    starts: Vec<usize>,
    weights: Vec<u32>,
}

impl Taps {
    /// For each of `dst` output samples along an axis of `src` samples.
    fn new(src: usize, dst: usize) -> Taps {
        let scale = src as f64 / dst as f64;
        let per_output: Vec<(usize, Vec<u32>)> = (0..dst)
            .map(|i| {
                let weights: Vec<(usize, f64)> = if scale >= 1.0 {
                    // Area: the output sample covers [i*scale, (i+1)*scale) of the source.
                    let (start, end) = (i as f64 * scale, (i as f64 + 1.0) * scale);
                    let first = start.floor() as usize;
                    let last = (end.ceil() as usize).min(src);
                    (first..last)
                        .map(|s| {
                            let overlap = end.min(s as f64 + 1.0) - start.max(s as f64);
                            (s, overlap.max(0.0))
                        })
                        .collect()
                } else {
                    // Bilinear between the two source samples around the output's centre.
                    let centre = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
                    let left = centre.floor() as usize;
                    let right = (left + 1).min(src - 1);
                    let frac = centre - left as f64;
                    if right == left {
                        vec![(left, 1.0)]
                    } else {
                        vec![(left, 1.0 - frac), (right, frac)]
                    }
                };
                (weights[0].0, to_fixed_point(&weights))
            })
            .collect();
        let count = per_output.iter().map(|(_, w)| w.len()).max().unwrap_or(1);
        let mut taps = Taps {
            count,
            starts: Vec::with_capacity(dst),
            weights: vec![0; dst * count],
        };
        for (i, (first, weights)) in per_output.iter().enumerate() {
            // Moved left where needed so the padded span stays inside the source.
            let start = (*first).min(src - count);
            let offset = first - start;
            taps.starts.push(start);
            taps.weights[i * count + offset..][..weights.len()].copy_from_slice(weights);
        }
        taps
    }

    fn of(&self, output: usize) -> (usize, &[u32]) {
        (
            self.starts[output],
            &self.weights[output * self.count..][..self.count],
        )
    }
}

/// Weights as fixed point. Each gets the rounded cumulative weight minus the rounded
/// cumulative weight before it: they then add up to exactly one however many there are, so a
/// flat plane stays exactly flat.
fn to_fixed_point(weights: &[(usize, f64)]) -> Vec<u32> {
    let one = f64::from(1u32 << WEIGHT_BITS);
    let total: f64 = weights.iter().map(|&(_, w)| w).sum();
    let mut cumulative = 0.0;
    let mut before = 0u32;
    weights
        .iter()
        .map(|&(_, w)| {
            cumulative += w / total;
            let upto = (cumulative * one).round() as u32;
            let weight = upto - before;
            before = upto;
            weight
        })
        .collect()
}

/// `src` (`sw` x `sh`, tightly packed) resampled into `dst` (`dw` x `dh`). Down the columns
/// first: that pass runs over whole rows (which the compiler vectorises) and, when shrinking,
/// leaves the per-sample pass across fewer rows. `scratch` holds the rows in between (with
/// MID_BITS of extra precision) and is reused across planes.
fn resample_plane(
    src: &[u8],
    sw: usize,
    sh: usize,
    dst: &mut [u8],
    dw: usize,
    dh: usize,
    scratch: &mut Vec<u16>,
) {
    if sw == 2 * dw && sh == 2 * dh {
        return halve_plane(src, sw, dst, dw);
    }
    let down = Taps::new(sh, dh);
    let across = Taps::new(sw, dw);
    scratch.clear();
    scratch.resize(sw * dh, 0);
    let mid_shift = WEIGHT_BITS - MID_BITS;
    let mid_round = 1u32 << (mid_shift - 1);
    let mut sums = vec![0u32; sw];
    for (i, mid_row) in scratch.chunks_exact_mut(sw).enumerate() {
        let (start, weights) = down.of(i);
        sums.fill(mid_round);
        for (k, &weight) in weights.iter().enumerate() {
            if weight == 0 {
                continue;
            }
            let src_row = &src[(start + k) * sw..][..sw];
            for (sum, &s) in sums.iter_mut().zip(src_row) {
                *sum += u32::from(s) * weight;
            }
        }
        for (out, &sum) in mid_row.iter_mut().zip(&sums) {
            *out = (sum >> mid_shift) as u16;
        }
    }
    match across.count {
        1 => across_rows::<1>(scratch, sw, dst, dw, &across),
        2 => across_rows::<2>(scratch, sw, dst, dw, &across),
        3 => across_rows::<3>(scratch, sw, dst, dw, &across),
        4 => across_rows::<4>(scratch, sw, dst, dw, &across),
        _ => across_rows::<0>(scratch, sw, dst, dw, &across),
    }
}

/// The pass across each row. `N` is the tap count when it is small (the loop over taps then
/// unrolls), or 0 for "any", read from `taps`.
fn across_rows<const N: usize>(mid: &[u16], sw: usize, dst: &mut [u8], dw: usize, taps: &Taps) {
    let shift = WEIGHT_BITS + MID_BITS;
    let round = 1u32 << (shift - 1);
    let count = if N == 0 { taps.count } else { N };
    for (mid_row, dst_row) in mid.chunks_exact(sw).zip(dst.chunks_exact_mut(dw)) {
        for (i, out) in dst_row.iter_mut().enumerate() {
            let (start, weights) = taps.of(i);
            let sum: u32 = mid_row[start..][..count]
                .iter()
                .zip(&weights[..count])
                .map(|(&m, &w)| u32::from(m) * w)
                .sum();
            *out = ((sum + round) >> shift).min(255) as u8;
        }
    }
}

/// Area averaging for the commonest case, exactly half each way (1280x720 to 640x360): the
/// mean of each 2x2 block, several times faster than the general weights give the same.
fn halve_plane(src: &[u8], sw: usize, dst: &mut [u8], dw: usize) {
    for (dst_row, rows) in dst.chunks_exact_mut(dw).zip(src.chunks_exact(2 * sw)) {
        let (top, bottom) = rows.split_at(sw);
        for ((out, t), b) in dst_row
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
            *out = ((sum + 2) >> 2) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth colour gradient across the frame, as RGBA with `stride` bytes a row.
    fn gradient_rgba(width: usize, height: usize, stride: usize) -> Vec<u8> {
        let mut rgba = vec![0u8; stride * height];
        for y in 0..height {
            for x in 0..width {
                let px = &mut rgba[y * stride + x * 4..][..4];
                px[0] = (x * 255 / (width - 1)) as u8;
                px[1] = (y * 255 / (height - 1)) as u8;
                px[2] = 255 - ((x + y) * 255 / (width + height - 2)) as u8;
                px[3] = 255;
            }
        }
        rgba
    }

    fn flat(width: u32, height: u32, y: u8, u: u8, v: u8) -> Picture {
        let (w, h) = (width as usize, height as usize);
        Picture::from_i420(
            width,
            height,
            &vec![y; w * h],
            w,
            &vec![u; w * h / 4],
            w / 2,
            &vec![v; w * h / 4],
            w / 2,
        )
        .unwrap()
    }

    #[test]
    fn rgba_round_trip_stays_close_on_a_gradient() {
        let (w, h) = (256usize, 144usize);
        let stride = w * 4 + 12; // padded rows, as textures often have
        let rgba = gradient_rgba(w, h, stride);
        let picture = Picture::from_rgba(w as u32, h as u32, stride, &rgba).unwrap();
        let mut back = Vec::new();
        picture.to_rgba(&mut back);
        assert_eq!(back.len(), w * h * 4);
        let (mut worst, mut total) = (0u8, 0u64);
        for y in 0..h {
            for x in 0..w {
                let original = &rgba[y * stride + x * 4..][..3];
                let converted = &back[(y * w + x) * 4..][..4];
                assert_eq!(converted[3], 255);
                for c in 0..3 {
                    let difference = original[c].abs_diff(converted[c]);
                    worst = worst.max(difference);
                    total += u64::from(difference);
                }
            }
        }
        let mean = total as f64 / (w * h * 3) as f64;
        // Studio range quantises 256 levels into 220 (luma) and 225 (chroma), and a 2x2 block
        // shares one chroma sample; on a gradient this smooth that costs a level or two.
        assert!(worst <= 5 && mean < 1.0, "worst {worst}, mean {mean:.2}");
    }

    #[test]
    fn primary_colours_convert_to_their_bt601_values() {
        let rgba = [255u8, 0, 0, 255].repeat(4);
        let red = Picture::from_rgba(2, 2, 8, &rgba).unwrap();
        assert_eq!((red.y()[0], red.u()[0], red.v()[0]), (82, 90, 240));
        let white = Picture::from_rgba(2, 2, 8, &[255u8; 16]).unwrap();
        assert_eq!((white.y()[0], white.u()[0], white.v()[0]), (235, 128, 128));
    }

    #[test]
    fn i420_with_strides_copies_only_the_picture() {
        let (w, h) = (4u32, 2u32);
        let y = [1, 2, 3, 4, 99, 99, 5, 6, 7, 8];
        let u = [10, 11, 99];
        let v = [20, 21];
        let picture = Picture::from_i420(w, h, &y, 6, &u, 3, &v, 2).unwrap();
        assert_eq!(picture.y(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(picture.u(), &[10, 11]);
        assert_eq!(picture.v(), &[20, 21]);
        assert_eq!(picture.i420().len(), 12);
    }

    #[test]
    fn odd_sizes_drop_the_last_column_and_row() {
        let (w, h) = (5u32, 3u32);
        let y: Vec<u8> = (0..15).collect();
        let chroma = [128u8; 6]; // 3 x 2, the chroma of a 5x3 frame
        let picture = Picture::from_i420(w, h, &y, 5, &chroma, 3, &chroma, 3).unwrap();
        assert_eq!((picture.width(), picture.height()), (4, 2));
        assert_eq!(picture.y(), &[0, 1, 2, 3, 5, 6, 7, 8]);
        let rgba = Picture::from_rgba(3, 3, 12, &[0u8; 36]).unwrap();
        assert_eq!((rgba.width(), rgba.height()), (2, 2));
    }

    #[test]
    fn bad_frames_get_the_error_that_names_the_problem() {
        let big = vec![0u8; 1921 * 4 * 2];
        assert_eq!(
            Picture::from_rgba(0, 10, 0, &[]),
            Err(PictureError::TooSmall {
                width: 0,
                height: 10
            })
        );
        assert_eq!(
            Picture::from_rgba(1, 1, 4, &[0; 4]),
            Err(PictureError::TooSmall {
                width: 1,
                height: 1
            })
        );
        assert_eq!(
            Picture::from_rgba(1922, 2, 1922 * 4, &big),
            Err(PictureError::TooLarge {
                width: 1922,
                height: 2
            })
        );
        assert_eq!(
            Picture::from_rgba(1280, 1282, 1280 * 4, &big),
            Err(PictureError::TooLarge {
                width: 1280,
                height: 1282
            })
        );
        assert_eq!(
            Picture::from_rgba(4, 2, 15, &[0; 32]),
            Err(PictureError::StrideTooSmall {
                plane: Plane::Rgba,
                stride: 15,
                min: 16
            })
        );
        assert_eq!(
            Picture::from_rgba(4, 2, 20, &[0; 35]),
            Err(PictureError::BufferTooShort {
                plane: Plane::Rgba,
                len: 35,
                needed: 36
            })
        );
        let (y, c) = ([0u8; 8], [0u8; 2]);
        assert_eq!(
            Picture::from_i420(4, 2, &y, 4, &c, 1, &c, 2),
            Err(PictureError::StrideTooSmall {
                plane: Plane::U,
                stride: 1,
                min: 2
            })
        );
        assert_eq!(
            Picture::from_i420(4, 2, &y, 4, &c, 2, &c[..1], 2),
            Err(PictureError::BufferTooShort {
                plane: Plane::V,
                len: 1,
                needed: 2
            })
        );
        assert_eq!(
            Picture::from_i420(4, 2, &y[..7], 4, &c, 2, &c, 2),
            Err(PictureError::BufferTooShort {
                plane: Plane::Y,
                len: 7,
                needed: 8
            })
        );
        // A stride so large it would overflow is simply a buffer too short.
        assert!(matches!(
            Picture::from_i420(4, 4, &[0; 16], usize::MAX, &c, 2, &c, 2),
            Err(PictureError::BufferTooShort {
                plane: Plane::Y,
                ..
            })
        ));
    }

    #[test]
    fn portrait_full_hd_is_accepted() {
        let picture = flat(1080, 1920, 16, 128, 128);
        assert_eq!((picture.width(), picture.height()), (1080, 1920));
    }

    #[test]
    fn errors_read_as_sentences() {
        let message = PictureError::StrideTooSmall {
            plane: Plane::Rgba,
            stride: 100,
            min: 2560,
        }
        .to_string();
        assert_eq!(
            message,
            "RGBA stride 100 is smaller than one row of the frame (2560 bytes)"
        );
        assert!(PictureError::TooLarge {
            width: 3840,
            height: 2160
        }
        .to_string()
        .contains("the most is 1920x1080"));
    }

    #[test]
    fn scaling_a_flat_picture_stays_flat() {
        let picture = flat(1280, 720, 77, 140, 90);
        for (w, h) in [(640, 360), (426, 240), (1000, 700), (1920, 1080), (2, 2)] {
            let scaled = picture.scaled_to(w, h);
            assert_eq!((scaled.width(), scaled.height()), (w, h));
            assert!(scaled.y().iter().all(|&s| s == 77), "{w}x{h}");
            assert!(scaled.u().iter().all(|&s| s == 140), "{w}x{h}");
            assert!(scaled.v().iter().all(|&s| s == 90), "{w}x{h}");
        }
    }

    #[test]
    fn halving_averages_each_two_by_two_block() {
        let y = [0u8, 100, 10, 20, 200, 100, 30, 40, 0, 0, 0, 0, 0, 0, 0, 0];
        let c = [128u8; 4];
        let picture = Picture::from_i420(4, 4, &y, 4, &c, 2, &c, 2).unwrap();
        assert_eq!(picture.scaled_to(2, 2).y(), &[100, 25, 0, 0]);
        // Only across: each pair of a row.
        assert_eq!(picture.scaled_to(2, 4).y(), &[50, 15, 150, 35, 0, 0, 0, 0]);
    }

    #[test]
    fn scaling_keeps_a_gradient_a_gradient() {
        let (w, h) = (1280usize, 720usize);
        let rgba = gradient_rgba(w, h, w * 4);
        let picture = Picture::from_rgba(w as u32, h as u32, w * 4, &rgba).unwrap();
        let small = picture.scaled_to(640, 360);
        let reference =
            Picture::from_rgba(640, 360, 640 * 4, &gradient_rgba(640, 360, 640 * 4)).unwrap();
        assert!(psnr_y(&small, &reference) > 40.0);
        let up = small.scaled_to(1280, 720);
        assert!(psnr_y(&up, &picture) > 40.0);
    }

    #[test]
    fn oversized_scale_targets_are_made_valid() {
        let picture = flat(64, 36, 50, 128, 128);
        let scaled = picture.scaled_to(3841, 2161);
        assert_eq!((scaled.width(), scaled.height()), (1920, 1080));
        let odd = picture.scaled_to(33, 19);
        assert_eq!((odd.width(), odd.height()), (32, 18));
    }

    #[test]
    fn psnr_of_identical_pictures_is_infinite_and_falls_with_error() {
        let a = flat(16, 16, 100, 128, 128);
        assert_eq!(psnr_y(&a, &a), f64::INFINITY);
        let b = flat(16, 16, 101, 128, 128);
        // MSE 1: 10 log10(255^2) = 48.13 dB.
        assert!((psnr_y(&a, &b) - 48.13).abs() < 0.01);
        let c = flat(16, 16, 110, 128, 128);
        assert!(psnr_y(&a, &c) < psnr_y(&a, &b));
    }
}
