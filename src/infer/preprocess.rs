//! Any picture of one digit turned into what an MNIST network saw in training.
//!
//! MNIST's digits were made this way (LeCun, Cortes and Burges, the MNIST page): each written
//! digit was size-normalized to fit a 20x20 box keeping its aspect ratio (anti-aliased, hence
//! grey levels), then placed in a 28x28 field so that its centre of mass sits at the field's
//! centre. In the files that is light ink (255) on a black (0) background, the centre of mass
//! at pixel (14, 14) (the committed test slice: mean 14.01 / 13.99, spread 0.29 px), the ink's
//! bounding box (pixels of at least 10% ink) 20 px on its longer side. A photo, a scan or a
//! canvas drawing is none of that: dark ink on white, anywhere on a canvas of any size. burn's
//! own MNIST web demo feeds the canvas as it is, and its users report every drawing read as
//! "8" (burn issues #3798, #3843, #1190). [`mnist_style`] repeats the making of MNIST instead:
//!
//! 1. grayscale; the background is the median of the border pixels: if it is light, the image
//!    is inverted (dark-on-light detected);
//! 2. the ink is what stands out from that background, stretched so the darkest ink is 255;
//!    an image without ink (less than [`MIN_CONTRAST`] grey levels of it) is an error, not a
//!    guess;
//! 3. cropped to the bounding box of the pixels of at least [`INK_THRESHOLD`] of full ink;
//! 4. scaled so that the longer side is 20 px, keeping the aspect (shrunk by area averaging, the
//!    anti-aliasing MNIST's grey levels come from; grown bilinearly), and stretched again so the
//!    strongest pixel is 255;
//! 5. placed in 28x28 with its centre of mass at (14, 14) (the nearest whole pixel).
//!
//! Written by hand: no crate does MNIST's normalization, and each step is a few lines over the
//! `image` crate's pixels and its resize.

use image::imageops::FilterType;
use image::{GrayImage, Luma};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// The longer side of the digit's box in MNIST.
pub const DIGIT_BOX: u32 = 20;
/// Pixels of at least this much ink (out of 255, after stretching) belong to the digit's box.
pub const INK_THRESHOLD: u8 = 26;
/// The least difference between ink and background (grey levels) that counts as ink.
pub const MIN_CONTRAST: u8 = 32;

/// Why an image cannot be read as a digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreprocessError {
    /// No pixels at all.
    #[error("the image is empty ({width}x{height} pixels)")]
    Empty {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Nothing stands out from the background.
    #[error(
        "the image is blank: nothing differs from its background by {MIN_CONTRAST} grey levels \
         or more (found {contrast}). Draw or photograph a digit"
    )]
    Blank {
        /// The largest difference from the background found.
        contrast: u8,
    },
}

/// `image` as MNIST would have it: 784 grey values, row by row, light ink on black, the digit
/// 20 px on its longer side with its centre of mass at (14, 14).
///
/// ```
/// use image::{GrayImage, Luma};
/// use mnist_lab::infer::mnist_style;
///
/// // A dark bar on a white 100x60 canvas, off to one side.
/// let mut canvas = GrayImage::from_pixel(100, 60, Luma([255]));
/// for y in 10..50 {
///     for x in 70..78 {
///         canvas.put_pixel(x, y, Luma([0]));
///     }
/// }
/// let digit = mnist_style(&canvas)?;
/// let at = |x: usize, y: usize| digit[y * 28 + x];
/// assert_eq!(at(14, 14), 255); // inverted: the ink is light, now in the middle
/// assert_eq!(at(0, 0), 0);
/// assert_eq!((0..28).filter(|&y| at(14, y) > 0).count(), 20); // 20 px tall
/// # Ok::<(), mnist_lab::infer::PreprocessError>(())
/// ```
pub fn mnist_style(image: &GrayImage) -> Result<[u8; IMAGE_PIXELS], PreprocessError> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(PreprocessError::Empty { width, height });
    }
    let ink = ink(image)?;
    let (x0, y0, x1, y1) = ink_box(&ink);
    let cropped = image::imageops::crop_imm(&ink, x0, y0, x1 - x0, y1 - y0).to_image();
    let scaled = scale_to_box(&cropped);
    Ok(centre_by_mass(&scaled))
}

/// The ink of `image`: its difference from the background (the median of the border pixels;
/// inverted when the background is light), stretched so the strongest ink is 255.
fn ink(image: &GrayImage) -> Result<GrayImage, PreprocessError> {
    let (w, h) = image.dimensions();
    let mut border: Vec<u8> = (0..w)
        .flat_map(|x| [image.get_pixel(x, 0)[0], image.get_pixel(x, h - 1)[0]])
        .chain((0..h).flat_map(|y| [image.get_pixel(0, y)[0], image.get_pixel(w - 1, y)[0]]))
        .collect();
    border.sort_unstable();
    let background = border[border.len() / 2];
    let light_background = background > 127;
    let strength = |v: u8| {
        if light_background {
            background.saturating_sub(v)
        } else {
            v.saturating_sub(background)
        }
    };
    let contrast = image.pixels().map(|p| strength(p[0])).max().unwrap_or(0);
    if contrast < MIN_CONTRAST {
        return Err(PreprocessError::Blank { contrast });
    }
    Ok(GrayImage::from_fn(w, h, |x, y| {
        let s = strength(image.get_pixel(x, y)[0]) as u32;
        Luma([((s * 255 + contrast as u32 / 2) / contrast as u32) as u8])
    }))
}

/// The bounding box `(x0, y0, x1, y1)` (end exclusive) of the pixels of at least
/// [`INK_THRESHOLD`]; the image has some (its strongest pixel is 255).
fn ink_box(ink: &GrayImage) -> (u32, u32, u32, u32) {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in ink.enumerate_pixels() {
        if p[0] >= INK_THRESHOLD {
            (x0, y0) = (x0.min(x), y0.min(y));
            (x1, y1) = (x1.max(x + 1), y1.max(y + 1));
        }
    }
    (x0, y0, x1, y1)
}

/// `digit` scaled so its longer side is [`DIGIT_BOX`], the aspect kept (at least 1 px wide),
/// and stretched again so its strongest pixel is 255: shrinking a blurred or thin stroke lowers
/// its peak, where MNIST's strokes are full ink inside.
fn scale_to_box(digit: &GrayImage) -> GrayImage {
    let (w, h) = digit.dimensions();
    let scale = DIGIT_BOX as f64 / w.max(h) as f64;
    let size = |side: u32| ((side as f64 * scale).round() as u32).clamp(1, DIGIT_BOX);
    let (nw, nh) = (size(w), size(h));
    // Shrinking: each output pixel the mean of the input pixels it covers (area coverage, as
    // anti-aliasing makes grey levels); growing a small digit: bilinear.
    let mut scaled = if nw <= w && nh <= h {
        image::imageops::thumbnail(digit, nw, nh)
    } else {
        image::imageops::resize(digit, nw, nh, FilterType::Triangle)
    };
    let peak = scaled.pixels().map(|p| p[0]).max().unwrap_or(0) as u32;
    if peak > 0 && peak < 255 {
        for p in scaled.pixels_mut() {
            p[0] = ((p[0] as u32 * 255 + peak / 2) / peak) as u8;
        }
    }
    scaled
}

/// `digit` pasted into a black 28x28 field so that its centre of mass lands on pixel (14, 14)
/// (rounded to whole pixels; what falls outside the field is dropped).
fn centre_by_mass(digit: &GrayImage) -> [u8; IMAGE_PIXELS] {
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in digit.enumerate_pixels() {
        let m = p[0] as f64;
        mass += m;
        mx += m * x as f64;
        my += m * y as f64;
    }
    let centre = IMAGE_SIDE as f64 / 2.0;
    let (dx, dy) = if mass > 0.0 {
        (
            (centre - mx / mass).round() as i64,
            (centre - my / mass).round() as i64,
        )
    } else {
        (0, 0)
    };
    let mut field = [0u8; IMAGE_PIXELS];
    for (x, y, p) in digit.enumerate_pixels() {
        let (fx, fy) = (x as i64 + dx, y as i64 + dy);
        if (0..IMAGE_SIDE as i64).contains(&fx) && (0..IMAGE_SIDE as i64).contains(&fy) {
            field[fy as usize * IMAGE_SIDE + fx as usize] = p[0];
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: u32, h: u32, value: u8) -> GrayImage {
        GrayImage::from_pixel(w, h, Luma([value]))
    }

    #[test]
    fn blank_and_empty_images_are_errors() {
        assert_eq!(
            mnist_style(&canvas(0, 5, 0)),
            Err(PreprocessError::Empty {
                width: 0,
                height: 5
            })
        );
        assert_eq!(
            mnist_style(&canvas(40, 40, 255)),
            Err(PreprocessError::Blank { contrast: 0 })
        );
        // A faint smudge is not a digit either.
        let mut smudge = canvas(40, 40, 200);
        smudge.put_pixel(20, 20, Luma([180]));
        assert_eq!(
            mnist_style(&smudge),
            Err(PreprocessError::Blank { contrast: 20 })
        );
    }

    #[test]
    fn a_wide_stroke_is_twenty_pixels_wide_and_centred() {
        let mut img = canvas(300, 100, 0);
        for y in 40..50 {
            for x in 10..290 {
                img.put_pixel(x, y, Luma([230]));
            }
        }
        let digit = mnist_style(&img).unwrap();
        let row: Vec<u8> = digit[14 * 28..15 * 28].to_vec();
        let lit: Vec<usize> = (0..28).filter(|&x| row[x] > 0).collect();
        assert_eq!(lit.len(), 20, "{row:?}");
        // Centre of mass 9.5 in the box: shifted by round(14 - 9.5) = 5.
        assert_eq!((lit[0], lit[19]), (5, 24), "{row:?}");
        assert_eq!(row[14], 255, "stretched to full ink");
    }
}
