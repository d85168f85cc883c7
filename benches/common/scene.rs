//! The synthetic camera scene the video benches encode: a textured gradient panning
//! diagonally, a checkered and a flat box moving across it, mild sensor noise. Real texture
//! and real motion, so the encoder works as it would on a camera, and the same every run.

use voipchat::video::picture::Picture;

/// A frame of the scene as I420 planes, for a bench that marks them before use.
pub struct ScenePlanes {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl ScenePlanes {
    pub fn picture(&self) -> Picture {
        let (w, cw) = (self.width as usize, self.width as usize / 2);
        Picture::from_i420(
            self.width,
            self.height,
            &self.y,
            w,
            &self.u,
            cw,
            &self.v,
            cw,
        )
        .expect("a valid picture")
    }
}

/// Frame `t` of the scene at `width` x `height`.
pub fn scene(t: usize, width: u32, height: u32) -> Picture {
    scene_planes(t, width, height).picture()
}

/// The planes of frame `t` of the scene at `width` x `height` (I420, tightly packed).
pub fn scene_planes(t: usize, width: u32, height: u32) -> ScenePlanes {
    let (w, h) = (width as usize, height as usize);
    let mut noise_state = 0x9E37_79B9u32 ^ (t as u32).wrapping_mul(2_654_435_761);
    let mut y = vec![0u8; w * h];
    for row in 0..h {
        for col in 0..w {
            let (x, yy) = ((col + 3 * t) % w, (row + t) % h);
            let gradient = (x * 160 / w + yy * 40 / h) as i32;
            // Fixed texture that pans with the gradient: detail motion search can follow.
            let mut hash =
                (x as u32 / 2).wrapping_mul(73_856_093) ^ (yy as u32 / 2).wrapping_mul(19_349_663);
            hash ^= hash >> 13;
            hash = hash.wrapping_mul(0x5bd1_e995);
            hash ^= hash >> 15;
            let texture = (hash & 31) as i32 - 16;
            noise_state = noise_state
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let noise = (noise_state >> 30) as i32 - 2;
            y[row * w + col] = (24 + gradient + texture + noise).clamp(0, 255) as u8;
        }
    }
    let side = h * 96 / 360;
    let (bx, by) = ((t * 5) % (w - side), bounce(t * 3, h - side));
    let (fx, fy) = (
        w - side - (t * 2) % (w - side),
        bounce(t * 4 + 50, h - side),
    );
    for row in 0..side {
        for col in 0..side {
            let checker = ((col / 12 + row / 12) % 2) == 1;
            y[(by + row) * w + bx + col] = if checker { 235 } else { 40 };
            y[(fy + row) * w + fx + col] = 180;
        }
    }
    let (cw, ch) = (w / 2, h / 2);
    let mut u: Vec<u8> = (0..cw * ch)
        .map(|i| (64 + ((i % cw + t) % cw) * 128 / cw) as u8)
        .collect();
    let mut v: Vec<u8> = (0..cw * ch)
        .map(|i| (64 + ((i / cw + 2 * t) % ch) * 128 / ch) as u8)
        .collect();
    for row in 0..side / 2 {
        for col in 0..side / 2 {
            u[(by / 2 + row) * cw + bx / 2 + col] = 200;
            v[(by / 2 + row) * cw + bx / 2 + col] = 60;
            u[(fy / 2 + row) * cw + fx / 2 + col] = 90;
            v[(fy / 2 + row) * cw + fx / 2 + col] = 170;
        }
    }
    ScenePlanes {
        width,
        height,
        y,
        u,
        v,
    }
}

/// A position moving back and forth over 0..=span.
fn bounce(p: usize, span: usize) -> usize {
    let p = p % (2 * span);
    if p <= span {
        p
    } else {
        2 * span - p
    }
}
