//! OpenCV's `cv::resize(…, INTER_LANCZOS4)` on 8-bit images, bit for bit.
//!
//! The model's reference preprocessing resizes with OpenCV, so the guest must produce the
//! same bytes; `image`'s Lanczos3 filter is a different kernel. This module follows
//! OpenCV's own code path for `CV_8U` (`resize.cpp`: `interpolateLanczos4`, the
//! coefficient tables of `resize`, `HResizeLanczos4`, `VResizeLanczos4` with
//! `FixedPtCast`), and checks the result against OpenCV's output in its tests:
//!
//! 1. **Source coordinate.** For destination column `dx` (rows alike), with
//!    `scale = 1 / (dst_width / src_width)` in f64 as OpenCV computes it:
//!    `fx = f32((dx + 0.5) * scale - 0.5)`, `sx = floor(fx)`, `fx -= sx`. The 8 taps
//!    read source columns `sx - 3 ..= sx + 4`.
//! 2. **Coefficients.** For `x = fx` (f32): with `y0 = -(x + 3)·π/4` (f64),
//!    `s0 = sin y0`, `c0 = cos y0`, tap `i` is `(cs[i]·(s0, c0)) / y²` with
//!    `y = -(x + 3 - i)·π/4` and the table `cs` of ±1, ±√2/2 below (that is
//!    `sinc(t)·sinc(t/4)` with `t = x + 3 - i`), rounded to f32; a tap whose
//!    `|x + 3 - i| < 1e-6` gets `1e30` instead. The 8 f32 values are summed in order and
//!    each is multiplied by the f32 reciprocal of the sum.
//! 3. **Fixed point.** Because the image is 8-bit, OpenCV works in integers: each
//!    coefficient becomes `i16(round_ties_even(c · 2048))`; the horizontal pass sums
//!    `u8 · i16` into `i32`, the vertical pass sums `i32 · i16` into `i32`, and the result
//!    is `(v + 2^21) >> 22` (an arithmetic shift) clamped to `0..=255`. Integer sums are
//!    exact, so their order does not matter.
//! 4. **Borders.** A tap outside the image reads the nearest edge pixel (OpenCV clamps
//!    the tap index in both passes; its resize does not use `BORDER_REFLECT_101`).
//!
//! The destination pixels are independent, so [`resize`] computes only a window of the
//! destination (the center crop), which gives the same bytes as resizing everything and
//! cropping afterwards.

use std::f64::consts::PI;

/// OpenCV's `INTER_RESIZE_COEF_BITS`: coefficients are fixed point with 11 fraction bits.
const COEF_BITS: u32 = 11;
/// `INTER_RESIZE_COEF_SCALE`, 2^11.
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;
/// The kernel's taps: 8, from 3 before the sample point to 4 after it.
const TAPS: usize = 8;

/// A packed, interleaved 8-bit image: `height` rows of `width` pixels of `channels` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes per pixel (channels are resized independently with the same kernel).
    pub channels: usize,
    /// `height * width * channels` bytes, row-major, channels interleaved.
    pub data: Vec<u8>,
}

/// A rectangle of the destination image: columns `x .. x + width`, rows `y .. y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First column.
    pub x: usize,
    /// First row.
    pub y: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Resizes `src` to `dst_width × dst_height` as OpenCV's `INTER_LANCZOS4` does, and returns
/// the pixels of `window` of that destination (a `window.width × window.height` image).
///
/// # Panics
/// If an image dimension is 0, `src.data` is not `width * height * channels` long, or
/// `window` does not lie inside the destination.
pub fn resize(src: &Image, dst_width: usize, dst_height: usize, window: Window) -> Image {
    assert!(src.width > 0 && src.height > 0 && src.channels > 0, "empty source image");
    assert_eq!(src.data.len(), src.width * src.height * src.channels, "source size");
    assert!(window.x + window.width <= dst_width && window.y + window.height <= dst_height, "window");
    let cn = src.channels;
    let columns = taps(src.width, dst_width, window.x, window.width);
    let rows = taps(src.height, dst_height, window.y, window.height);

    // Horizontal pass, for the source rows the vertical pass reads (each at most once).
    let mut needed = vec![false; src.height];
    for tap in &rows {
        for &sy in &tap.index {
            needed[sy] = true;
        }
    }
    let row_len = window.width * cn;
    let mut horizontal: Vec<Vec<i32>> = vec![Vec::new(); src.height];
    for (sy, row) in horizontal.iter_mut().enumerate().filter(|(sy, _)| needed[*sy]) {
        let src_row = &src.data[sy * src.width * cn..(sy + 1) * src.width * cn];
        let mut out = Vec::with_capacity(row_len);
        for tap in &columns {
            for c in 0..cn {
                let mut sum = 0i32;
                for (&sx, &coef) in tap.index.iter().zip(&tap.coef) {
                    sum += i32::from(src_row[sx * cn + c]) * i32::from(coef);
                }
                out.push(sum);
            }
        }
        *row = out;
    }

    // Vertical pass and OpenCV's FixedPtCast<int, uchar, 22>.
    let shift = 2 * COEF_BITS;
    let mut data = Vec::with_capacity(window.height * row_len);
    let mut sums = vec![0i32; row_len];
    for tap in &rows {
        sums.fill(0);
        for (&sy, &coef) in tap.index.iter().zip(&tap.coef) {
            for (sum, &h) in sums.iter_mut().zip(&horizontal[sy]) {
                *sum += h * i32::from(coef);
            }
        }
        data.extend(sums.iter().map(|&sum| ((sum + (1 << (shift - 1))) >> shift).clamp(0, 255) as u8));
    }
    Image { width: window.width, height: window.height, channels: cn, data }
}

/// The 8 source indices (clamped to the image) and fixed-point coefficients of one
/// destination column or row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Taps {
    index: [usize; TAPS],
    coef: [i16; TAPS],
}

/// The taps of destination positions `start .. start + count` along an axis that goes
/// from `src_len` to `dst_len` pixels.
fn taps(src_len: usize, dst_len: usize, start: usize, count: usize) -> Vec<Taps> {
    let scale = 1.0 / (dst_len as f64 / src_len as f64);
    (start..start + count)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor();
            let frac = f - s;
            let s = s as i64;
            let last = src_len as i64 - 1;
            let index = std::array::from_fn(|k| (s - 3 + k as i64).clamp(0, last) as usize);
            let coef = coefficients(frac).map(|c| (c * COEF_SCALE).round_ties_even().clamp(-32768.0, 32767.0) as i16);
            Taps { index, coef }
        })
        .collect()
}

/// OpenCV's `interpolateLanczos4(x, coeffs)`, in its mix of f32 and f64 arithmetic.
fn coefficients(x: f32) -> [f32; TAPS] {
    const S45: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const CS: [[f64; 2]; TAPS] =
        [[1.0, 0.0], [-S45, -S45], [0.0, 1.0], [S45, -S45], [-1.0, 0.0], [S45, S45], [0.0, -1.0], [-S45, S45]];
    let y0 = f64::from(-(x + 3.0)) * PI * 0.25;
    let (s0, c0) = (y0.sin(), y0.cos());
    let mut coeffs = [0f32; TAPS];
    let mut sum = 0f32;
    for (i, (coeff, cs)) in coeffs.iter_mut().zip(CS).enumerate() {
        let t = f64::from(x + 3.0 - i as f32);
        *coeff = if t.abs() >= f64::from(1e-6f32) {
            let y = -t * PI * 0.25;
            ((cs[0] * s0 + cs[1] * c0) / (y * y)) as f32
        } else {
            1e30
        };
        sum += *coeff;
    }
    let inverse = 1.0 / sum;
    coeffs.map(|c| c * inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image whose bytes come from a 32-bit LCG seeded with `seed`; the same generator
    /// in Python made the OpenCV references below:
    ///
    /// ```python
    /// def lcg(seed, n):
    ///     out, s = bytearray(n), seed
    ///     for i in range(n):
    ///         s = (s * 1664525 + 1013904223) % 2**32
    ///         out[i] = s >> 24
    ///     return out
    /// img = np.frombuffer(lcg(seed, h * w * c), np.uint8).reshape(h, w, c)
    /// out = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LANCZOS4)  # opencv 5.0.0
    /// ```
    fn lcg_image(seed: u32, width: usize, height: usize, channels: usize) -> Image {
        let mut state = seed;
        let data = (0..width * height * channels)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        Image { width, height, channels, data }
    }

    /// FNV-1a, 64-bit: a short fingerprint of a resized image.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    fn whole(width: usize, height: usize) -> Window {
        Window { x: 0, y: 0, width, height }
    }

    #[test]
    fn coefficients_at_integer_positions_select_one_pixel() {
        let c = coefficients(0.0);
        let fixed = c.map(|c| (c * COEF_SCALE).round_ties_even() as i16);
        assert_eq!(fixed, [0, 0, 0, 2048, 0, 0, 0, 0]);
    }

    #[test]
    fn a_window_equals_the_same_part_of_the_whole() {
        let src = lcg_image(7, 40, 30, 3);
        let full = resize(&src, 29, 23, whole(29, 23));
        let part = resize(&src, 29, 23, Window { x: 5, y: 4, width: 17, height: 11 });
        for row in 0..11 {
            let from = ((4 + row) * 29 + 5) * 3;
            assert_eq!(&part.data[row * 17 * 3..(row + 1) * 17 * 3], &full.data[from..from + 17 * 3]);
        }
    }

    /// Upscaling, downscaling and mixed, in 1 and 3 channels, against OpenCV 5.0.0.
    #[test]
    fn matches_opencv_on_random_images() {
        let cases = [
            // (seed, width, height, channels, dst_width, dst_height, fnv1a of OpenCV's output)
            (1, 20, 13, 3, 394, 256, OPENCV[0]),
            (2, 97, 61, 1, 256, 161, OPENCV[1]),
            (3, 640, 480, 3, 341, 256, OPENCV[2]),
            (4, 300, 1000, 3, 256, 853, OPENCV[3]),
            (5, 5, 3, 3, 7, 2, OPENCV[4]),
        ];
        for (seed, w, h, c, dw, dh, expected) in cases {
            let out = resize(&lcg_image(seed, w, h, c), dw, dh, whole(dw, dh));
            assert_eq!(fnv1a(&out.data), expected, "seed {seed}: {w}x{h}x{c} -> {dw}x{dh}");
        }
    }

    /// FNV-1a of `cv2.resize` on the images of `matches_opencv_on_random_images`.
    const OPENCV: [u64; 5] = [
        0x4921_76b4_f00c_b33b,
        0x58d7_fd3b_4a24_97a3,
        0x885a_871b_833e_c851,
        0x4c33_6496_4fdc_dc7c,
        0x050b_f765_9803_fd36,
    ];
}
