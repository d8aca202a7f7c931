//! Random affine distortions of training images (rotation, zoom, shift), optionally with
//! Simard et al.'s elastic distortions on top ([`Elastic`]): the standard MNIST augmentation,
//! used by the improved recipes and never by the report's faithful ones.
//!
//! Each image of a batch gets its own [`Distortion`] (and [`DisplacementField`]), drawn from a
//! seeded generator; the warp itself is burn's `affine_grid_2d` + `grid_sample_2d` (bilinear,
//! one pass for both), so it runs on whichever backend trains.

use burn::tensor::grid::affine_grid_2d;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Tensor, TensorData};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use super::elastic::{DisplacementField, Elastic};

/// How far images may be distorted: each image's rotation, zoom and shift are drawn uniformly
/// within these bounds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augmentation {
    /// Rotation up to this many degrees either way.
    pub max_rotation_degrees: f32,
    /// Zoom by a factor in `[1 - max_zoom, 1 + max_zoom]`.
    pub max_zoom: f32,
    /// Shift up to this many pixels, horizontally and vertically, independently.
    pub max_shift_pixels: f32,
    /// Elastic distortions after the affine ones (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic: Option<Elastic>,
}

impl Default for Augmentation {
    /// 10 degrees, 10% zoom, 2 pixels: the usual bounds for MNIST digits, which keep a digit
    /// recognisable and inside the 28x28 frame.
    fn default() -> Self {
        Self {
            max_rotation_degrees: 10.0,
            max_zoom: 0.1,
            max_shift_pixels: 2.0,
            elastic: None,
        }
    }
}

impl Augmentation {
    /// No distortion at all: start from it to get elastic distortions alone.
    ///
    /// ```
    /// use mnist_lab::data::{Augmentation, Elastic};
    /// let elastic_only = Augmentation { elastic: Some(Elastic::SIMARD), ..Augmentation::NONE };
    /// assert_eq!(elastic_only.problem(), None);
    /// ```
    pub const NONE: Self = Self {
        max_rotation_degrees: 0.0,
        max_zoom: 0.0,
        max_shift_pixels: 0.0,
        elastic: None,
    };

    /// Why these bounds cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let Self {
            max_rotation_degrees: r,
            max_zoom: z,
            max_shift_pixels: s,
            elastic,
        } = *self;
        if !(r.is_finite() && (0.0..=180.0).contains(&r)) {
            return Some(format!("rotation bound {r} is not within 0..=180 degrees"));
        }
        if !(z.is_finite() && (0.0..1.0).contains(&z)) {
            return Some(format!(
                "zoom bound {z} is not within [0, 1), e.g. 0.1 for +-10%"
            ));
        }
        if !(s.is_finite() && (0.0..=14.0).contains(&s)) {
            return Some(format!("shift bound {s} is not within 0..=14 pixels"));
        }
        elastic.as_ref().and_then(Elastic::problem)
    }

    /// One distortion drawn uniformly within the bounds.
    pub fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> Distortion {
        let mut within = |bound: f32| {
            if bound > 0.0 {
                rng.random_range(-bound..=bound)
            } else {
                0.0
            }
        };
        Distortion {
            rotation_degrees: within(self.max_rotation_degrees),
            zoom: 1.0 + within(self.max_zoom),
            shift: [within(self.max_shift_pixels), within(self.max_shift_pixels)],
        }
    }

    /// Distorts every image of `images` (`[B, C, H, W]`, square) with its own draw from `rng`;
    /// pixels coming from outside the frame take the value `background`. The affine draws come
    /// first, then the elastic fields, so a recipe without elastic distortions draws exactly
    /// what it drew before they existed.
    pub fn apply(
        &self,
        images: Tensor<4>,
        rng: &mut Xoshiro256PlusPlus,
        background: f32,
    ) -> Tensor<4> {
        let [batch, _, _, side] = images.dims();
        let distortions: Vec<Distortion> = (0..batch).map(|_| self.sample(rng)).collect();
        match &self.elastic {
            None => distort(images, &distortions, background),
            Some(elastic) => {
                let fields: Vec<DisplacementField> =
                    (0..batch).map(|_| elastic.field(side, rng)).collect();
                distort_elastic(images, &distortions, &fields, background)
            }
        }
    }
}

/// [`Augmentation`] as the trainer's batch transform: every training batch's images distorted,
/// pixels from outside the frame filled with `background` (the normalized value of a black
/// pixel, [`MnistBatcher::normalize`](super::MnistBatcher::normalize)`(0)` for MNIST).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageAugmentation {
    /// The bounds of each image's distortion.
    pub bounds: Augmentation,
    /// The normalized value of the background pixel.
    pub background: f32,
}

impl super::BatchTransform<super::ImageBatch> for ImageAugmentation {
    fn apply(
        &self,
        mut batch: super::ImageBatch,
        rng: &mut Xoshiro256PlusPlus,
    ) -> super::ImageBatch {
        batch.images = self.bounds.apply(batch.images, rng, self.background);
        batch
    }

    fn describe(&self) -> serde_json::Value {
        // As the configs before batch transforms wrote it: the bounds alone.
        serde_json::to_value(self.bounds).unwrap_or_default()
    }
}

/// One image's distortion: the image is zoomed and rotated about its centre, then shifted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distortion {
    /// Clockwise rotation as seen on screen (y pointing down), degrees.
    pub rotation_degrees: f32,
    /// Zoom factor: above 1 enlarges the digit.
    pub zoom: f32,
    /// Shift `[right, down]` in pixels.
    pub shift: [f32; 2],
}

impl Distortion {
    /// No change.
    pub const IDENTITY: Self = Self {
        rotation_degrees: 0.0,
        zoom: 1.0,
        shift: [0.0, 0.0],
    };

    /// The 2x3 matrix that maps an output location to where it samples the input, in the
    /// normalized coordinates of `affine_grid_2d` (`-1..=1` across a square image of
    /// `side` pixels, corners aligned).
    ///
    /// ```
    /// use mnist_lab::data::Distortion;
    /// let m = Distortion { rotation_degrees: 0.0, zoom: 1.0, shift: [13.5, 0.0] }.matrix(28);
    /// // Shifting right by half the width samples from one unit to the left.
    /// assert!((m[0][2] + 1.0).abs() < 1e-6 && m[0][0] == 1.0);
    /// ```
    pub fn matrix(&self, side: usize) -> [[f32; 3]; 2] {
        // output = shift + zoom * R(theta) * input  =>  input = R(-theta) / zoom * (output - shift)
        let theta = -self.rotation_degrees.to_radians();
        let (sin, cos) = theta.sin_cos();
        let a = [
            [cos / self.zoom, -sin / self.zoom],
            [sin / self.zoom, cos / self.zoom],
        ];
        let unit = grid_units_per_pixel(side);
        let [sx, sy] = [self.shift[0] * unit, self.shift[1] * unit];
        [
            [a[0][0], a[0][1], -(a[0][0] * sx + a[0][1] * sy)],
            [a[1][0], a[1][1], -(a[1][0] * sx + a[1][1] * sy)],
        ]
    }
}

/// Warps each image of `images` (`[B, C, H, W]`, square) by its distortion (bilinear); pixels
/// coming from outside the frame take the value `background`.
///
/// # Panics
/// When `distortions.len()` is not the batch size, or the images are not square.
pub fn distort(images: Tensor<4>, distortions: &[Distortion], background: f32) -> Tensor<4> {
    let grid = affine_grid(&images, distortions);
    sample(images, grid, background)
}

/// Warps each image of `images` (`[B, C, H, W]`, square) by its affine distortion and then its
/// displacement field, in one bilinear resampling: output pixel `p` samples the input at
/// `A(p) + field(p)`. Pixels coming from outside the frame take the value `background`.
///
/// # Panics
/// When there is not one distortion and one field per image, or the images are not square,
/// or a field's side is not the images'.
pub fn distort_elastic(
    images: Tensor<4>,
    distortions: &[Distortion],
    fields: &[DisplacementField],
    background: f32,
) -> Tensor<4> {
    let [batch, _, height, width] = images.dims();
    assert_eq!(fields.len(), batch, "one displacement field per image");
    assert!(
        fields.iter().all(|f| f.side() == width),
        "fields of the images' side"
    );
    let unit = grid_units_per_pixel(width);
    let offsets: Vec<f32> = fields
        .iter()
        .flat_map(|f| f.offsets().iter().flat_map(|&[x, y]| [x * unit, y * unit]))
        .collect();
    let device = images.device();
    let offsets =
        Tensor::<4>::from_data(TensorData::new(offsets, [batch, height, width, 2]), &device);
    let grid = affine_grid(&images, distortions) + offsets;
    sample(images, grid, background)
}

/// One pixel in the sampling grid's normalized units (`-1..=1` across a square image of `side`
/// pixels, corners aligned).
fn grid_units_per_pixel(side: usize) -> f32 {
    2.0 / (side.max(2) - 1) as f32
}

/// The sampling grid (`[B, H, W, 2]`) of each image's affine distortion.
fn affine_grid(images: &Tensor<4>, distortions: &[Distortion]) -> Tensor<4> {
    let dims = images.dims();
    let [batch, _, height, width] = dims;
    assert_eq!(distortions.len(), batch, "one distortion per image");
    assert_eq!(height, width, "square images");
    let device = images.device();
    let matrices: Vec<f32> = distortions
        .iter()
        .flat_map(|d| d.matrix(width).into_iter().flatten())
        .collect();
    let transform = Tensor::<3>::from_data(TensorData::new(matrices, [batch, 2, 3]), &device);
    affine_grid_2d(transform, dims)
}

/// Bilinear resampling of `images` at `grid`, `background` outside the frame.
fn sample(images: Tensor<4>, grid: Tensor<4>, background: f32) -> Tensor<4> {
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(true);
    // Zero padding, shifted so that what comes from outside is `background`.
    images
        .sub_scalar(background)
        .grid_sample_2d(grid, options)
        .add_scalar(background)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bad_bounds_are_named() {
        assert_eq!(Augmentation::default().problem(), None);
        let zoom = Augmentation {
            max_zoom: 1.5,
            ..Default::default()
        };
        assert!(zoom.problem().unwrap().contains("zoom bound 1.5"));
        let shift = Augmentation {
            max_shift_pixels: f32::NAN,
            ..Default::default()
        };
        assert!(shift.problem().unwrap().contains("shift"));
    }

    #[test]
    fn draws_stay_within_bounds_and_repeat_with_the_seed() {
        let aug = Augmentation::default();
        let draw = |seed| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            (0..200).map(|_| aug.sample(&mut rng)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        for d in &a {
            assert!(d.rotation_degrees.abs() <= 10.0);
            assert!((0.9..=1.1).contains(&d.zoom));
            assert!(d.shift.iter().all(|s| s.abs() <= 2.0));
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        assert_eq!(Augmentation::NONE.sample(&mut rng), Distortion::IDENTITY);
    }

    #[test]
    fn rotation_matrix_turns_a_quarter() {
        let m = Distortion {
            rotation_degrees: 90.0,
            zoom: 2.0,
            shift: [0.0, 0.0],
        }
        .matrix(28);
        // input = R(-90) / 2 * output: output (1, 0) samples input (0, -0.5).
        let (x, y) = (m[0][0], m[1][0]);
        assert!(x.abs() < 1e-6 && (y + 0.5).abs() < 1e-6, "{m:?}");
    }
}
