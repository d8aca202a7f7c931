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
/// The boldest strokes left as they are ([`stroke_width`], px at 28x28): 95% of MNIST's
/// 10,000 test digits are no bolder (4.43; the median is 2.88). A bolder digit is eroded to it.
pub const MAX_STROKE_WIDTH: f64 = 4.4;

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
    let cropped = crop_to_ink(&ink);
    let digit = centre_by_mass(&scale_to_box(&cropped));
    Ok(with_mnist_stroke_width(digit, &cropped))
}

/// `ink` cropped to [`ink_box`].
fn crop_to_ink(ink: &GrayImage) -> GrayImage {
    let (x0, y0, x1, y1) = ink_box(ink);
    image::imageops::crop_imm(ink, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// `digit` (made from `cropped`) as is when its strokes are no bolder than MNIST's usually are
/// ([`MAX_STROKE_WIDTH`]); else made again from `cropped` eroded to that width. A pen is as
/// wide however large one draws, so a digit drawn small has strokes too bold for its size once
/// it is scaled to 20 px (its loops fill up and it reads as "8"): MNIST's writers all wrote in
/// the same box. Eroding only to the bound changes the least; thinner strokes are left alone
/// (the width of a thin line cannot be told at 28x28, and dilating closes loops).
fn with_mnist_stroke_width(digit: [u8; IMAGE_PIXELS], cropped: &GrayImage) -> [u8; IMAGE_PIXELS] {
    let mut width = stroke_width(&digit);
    if width <= MAX_STROKE_WIDTH {
        return digit;
    }
    // Eroded at 4x MNIST's scale, where a pixel of erosion is a quarter of MNIST's.
    let work = scale_long_side(cropped, 4 * DIGIT_BOX);
    let (mut best, mut best_miss) = (digit, width - MAX_STROKE_WIDTH);
    // Eroding by r shrinks the stroke by 2r and the box too, which the scaling to 20 px undoes
    // in part: (4w - 2r) * 20 / (80 - 2r) = target gives r = 40 (w - target) / (20 - target).
    // A second step corrects what the estimate of the width missed.
    let side = DIGIT_BOX as f64;
    let mut radius = 0.0;
    for _ in 0..2 {
        radius += 2.0 * side * (width - MAX_STROKE_WIDTH) / (side - MAX_STROKE_WIDTH);
        let Some(thinner) = eroded(&work, radius.round() as u32) else {
            break;
        };
        let candidate = centre_by_mass(&scale_to_box(&crop_to_ink(&thinner)));
        width = stroke_width(&candidate);
        let miss = (width - MAX_STROKE_WIDTH).abs();
        if miss < best_miss {
            (best, best_miss) = (candidate, miss);
        }
        if width <= MAX_STROKE_WIDTH {
            break;
        }
    }
    best
}

/// The width of `digit`'s strokes in pixels: twice the area of its pixels of at least half
/// ink over the number of them on the edge (a 4-neighbour with less), as a stroke of width w
/// and length l has an area of w*l and two edges of length l.
pub fn stroke_width(digit: &[u8; IMAGE_PIXELS]) -> f64 {
    let side = IMAGE_SIDE as i64;
    let inked = |x: i64, y: i64| {
        (0..side).contains(&x) && (0..side).contains(&y) && digit[(y * side + x) as usize] >= 128
    };
    let (mut area, mut edge) = (0usize, 0usize);
    for y in 0..side {
        for x in 0..side {
            if inked(x, y) {
                area += 1;
                let inside = [(1, 0), (-1, 0), (0, 1), (0, -1)]
                    .iter()
                    .all(|(dx, dy)| inked(x + dx, y + dy));
                edge += usize::from(!inside);
            }
        }
    }
    if edge == 0 {
        0.0
    } else {
        2.0 * area as f64 / edge as f64
    }
}

/// `image` scaled so its longer side is `side`, the aspect kept (at least 1 px wide): shrunk
/// with each output pixel the mean of the input pixels it covers (area coverage, as
/// anti-aliasing makes grey levels); grown bilinearly.
fn scale_long_side(image: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = image.dimensions();
    let scale = side as f64 / w.max(h) as f64;
    let size = |s: u32| ((s as f64 * scale).round() as u32).clamp(1, side);
    let (nw, nh) = (size(w), size(h));
    if nw <= w && nh <= h {
        image::imageops::thumbnail(image, nw, nh)
    } else {
        image::imageops::resize(image, nw, nh, FilterType::Triangle)
    }
}

/// `ink` eroded by a disc of `radius`: each pixel the least ink within it (outside the image
/// is no ink); `None` where no ink is left.
/// By hand: grey-level erosion with a disc is a dozen lines, and the crate that has it
/// (imageproc) would bring nalgebra and a second `rand` into every build of ours.
fn eroded(ink: &GrayImage, radius: u32) -> Option<GrayImage> {
    let (w, h) = ink.dimensions();
    let r = radius as i64;
    let disc: Vec<(i64, i64)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|(dx, dy)| dx * dx + dy * dy <= r * r)
        .collect();
    let at = |x: i64, y: i64| {
        if (0..w as i64).contains(&x) && (0..h as i64).contains(&y) {
            ink.get_pixel(x as u32, y as u32)[0]
        } else {
            0
        }
    };
    let out = GrayImage::from_fn(w, h, |x, y| {
        let least = disc
            .iter()
            .map(|(dx, dy)| at(x as i64 + dx, y as i64 + dy))
            .min();
        Luma([least.unwrap_or(0)])
    });
    out.pixels().any(|p| p[0] >= INK_THRESHOLD).then_some(out)
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
    let mut scaled = scale_long_side(digit, DIGIT_BOX);
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
    fn a_bold_ring_is_thinned_to_mnist_width_and_keeps_its_hole() {
        // A ring 24 px thick and 100 px across: at 20 px, strokes 4.8 px wide.
        let img = GrayImage::from_fn(120, 120, |x, y| {
            let r = ((x as f64 - 60.0).powi(2) + (y as f64 - 60.0).powi(2)).sqrt();
            Luma([if (26.0..50.0).contains(&r) { 255 } else { 0 }])
        });
        let ink = ink(&img).unwrap();
        let cropped = crop_to_ink(&ink);
        let unthinned = centre_by_mass(&scale_to_box(&cropped));
        assert!(stroke_width(&unthinned) > MAX_STROKE_WIDTH + 0.5);
        let digit = mnist_style(&img).unwrap();
        let width = stroke_width(&digit);
        assert!(
            (MAX_STROKE_WIDTH - 0.6..=MAX_STROKE_WIDTH).contains(&width),
            "{width}"
        );
        assert_eq!(digit[14 * 28 + 14], 0, "the hole stays open");
        assert!(digit.contains(&255));
    }

    #[test]
    fn stroke_width_is_twice_the_area_over_the_edge() {
        // A bar 3 px wide and 20 long: area 60, 42 pixels on its edge (the middle column's
        // 18 inner pixels are not).
        let mut bar = [0u8; IMAGE_PIXELS];
        for y in 4..24 {
            for x in 13..16 {
                bar[y * 28 + x] = 255;
            }
        }
        assert!((stroke_width(&bar) - 120.0 / 42.0).abs() < 1e-12);
        assert_eq!(stroke_width(&[0; IMAGE_PIXELS]), 0.0);
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
