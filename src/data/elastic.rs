//! Elastic distortions (Simard, Steinkraus and Platt, "Best Practices for Convolutional Neural
//! Networks Applied to Visual Document Analysis", ICDAR 2003, section 2): every pixel gets a
//! random displacement, uniform in `[-1, 1]` pixels on each axis; the field is smoothed with a
//! Gaussian of standard deviation `sigma` and scaled by `alpha`. The image is then resampled
//! (bilinear) at each pixel's displaced location. The paper's MNIST setting is `sigma = 4`,
//! `alpha = 34` ([`Elastic::SIMARD`]).
//!
//! The field is drawn and smoothed on the CPU (a 28x28 field is ~1,600 values: cheaper than a
//! round trip through a device convolution); the resampling is burn's `grid_sample_2d`, shared
//! with the affine distortions in [`Augmentation`](super::Augmentation), so both are applied in
//! one pass. No crate of the ecosystem draws these fields (image crates warp, they do not draw
//! Simard's noise), hence the hand-written smoothing below.

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

/// How strongly images are distorted elastically.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Elastic {
    /// Standard deviation of the Gaussian that smooths the random field, in pixels: small
    /// values give a jittery field, large ones a near-uniform shift.
    pub sigma: f32,
    /// Scale of the smoothed field, in pixels.
    pub alpha: f32,
}

impl Elastic {
    /// Simard et al. 2003's setting for MNIST: `sigma = 4`, `alpha = 34` (a displacement of
    /// ~1.4 pixels standard deviation, smooth over ~8 pixels).
    pub const SIMARD: Self = Self {
        sigma: 4.0,
        alpha: 34.0,
    };

    /// Why this setting cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let Self { sigma, alpha } = *self;
        if !(sigma.is_finite() && (0.1..=100.0).contains(&sigma)) {
            return Some(format!(
                "elastic sigma {sigma} is not within 0.1..=100 pixels (Simard et al. use 4)"
            ));
        }
        if !(alpha.is_finite() && (0.0..=1000.0).contains(&alpha)) {
            return Some(format!(
                "elastic alpha {alpha} is not within 0..=1000 (Simard et al. use 34)"
            ));
        }
        None
    }

    /// One random displacement field for a `side` x `side` image.
    ///
    /// ```
    /// use mnist_lab::data::Elastic;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    /// let field = Elastic::SIMARD.field(28, &mut rng);
    /// assert_eq!(field.side(), 28);
    /// // Smooth: a pixel moves about as far as its neighbour.
    /// let ([x0, _], [x1, _]) = (field.at(10, 10), field.at(10, 11));
    /// assert!((x0 - x1).abs() < 0.5);
    /// ```
    pub fn field(&self, side: usize, rng: &mut Xoshiro256PlusPlus) -> DisplacementField {
        let noise: Vec<[f32; 2]> = (0..side * side)
            .map(|_| [rng.random_range(-1.0..=1.0), rng.random_range(-1.0..=1.0)])
            .collect();
        let kernel = gaussian_kernel(self.sigma);
        let smoothed = smooth(&noise, side, &kernel);
        DisplacementField {
            side,
            offsets: smoothed
                .into_iter()
                .map(|[x, y]| [x * self.alpha, y * self.alpha])
                .collect(),
        }
    }
}

/// `SIGMA,ALPHA`, as a command line gives it (e.g. `4,34`).
impl std::str::FromStr for Elastic {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{text}` is not SIGMA,ALPHA (e.g. `4,34`, Simard et al.'s)");
        let (sigma, alpha) = text.split_once(',').ok_or_else(usage)?;
        let number = |part: &str| part.trim().parse::<f32>().map_err(|_| usage());
        let elastic = Self {
            sigma: number(sigma)?,
            alpha: number(alpha)?,
        };
        match elastic.problem() {
            Some(problem) => Err(problem),
            None => Ok(elastic),
        }
    }
}

/// Where each pixel of a square image samples its input from, relative to itself, in pixels:
/// `[right, down]`, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct DisplacementField {
    side: usize,
    offsets: Vec<[f32; 2]>,
}

impl DisplacementField {
    /// A field from its offsets, `side * side` of them, row by row; `None` when the count is
    /// not a square's.
    pub fn new(side: usize, offsets: Vec<[f32; 2]>) -> Option<Self> {
        (offsets.len() == side * side).then_some(Self { side, offsets })
    }

    /// No displacement: the identity.
    pub fn zeros(side: usize) -> Self {
        Self {
            side,
            offsets: vec![[0.0, 0.0]; side * side],
        }
    }

    /// The image's side, in pixels.
    pub fn side(&self) -> usize {
        self.side
    }

    /// The offset `[right, down]` of the pixel in `row`, `column`.
    pub fn at(&self, row: usize, column: usize) -> [f32; 2] {
        self.offsets[row * self.side + column]
    }

    /// Every offset, row by row.
    pub fn offsets(&self) -> &[[f32; 2]] {
        &self.offsets
    }
}

/// The discrete Gaussian of standard deviation `sigma`, truncated at 3 sigma (as far as anyone
/// can see at 28 pixels) and normalized to sum to 1: `2 * ceil(3 * sigma) + 1` weights.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i64;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// Separable convolution of a square field with `kernel` along rows, then columns; outside the
/// image the field is mirrored (`d c b a | a b c d`, scipy's `reflect`), so a border pixel's
/// displacement is as large as an inner one's.
fn smooth(field: &[[f32; 2]], side: usize, kernel: &[f32]) -> Vec<[f32; 2]> {
    let radius = kernel.len() / 2;
    // Each row (then column) is copied once into `line` with its mirrored margins, so the
    // taps read straight through it; the sums are the same, in the same order.
    let mut line = vec![[0.0f32; 2]; side + 2 * radius];
    let mut pass = |input: &[[f32; 2]], along_rows: bool| -> Vec<[f32; 2]> {
        let at = |a: usize, b: usize| {
            if along_rows {
                a * side + b
            } else {
                b * side + a
            }
        };
        let mut out = vec![[0.0f32; 2]; side * side];
        for a in 0..side {
            for (i, slot) in line.iter_mut().enumerate() {
                *slot = input[at(a, reflect(i as i64 - radius as i64, side))];
            }
            for b in 0..side {
                let mut sum = [0.0f32; 2];
                for (w, v) in kernel.iter().zip(&line[b..]) {
                    sum[0] += w * v[0];
                    sum[1] += w * v[1];
                }
                out[at(a, b)] = sum;
            }
        }
        out
    };
    let across = pass(field, true);
    pass(&across, false)
}

/// Index `i` folded into `0..n` by mirroring at the edges (the edge pixel repeated), for any
/// distance outside.
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reflect_mirrors_with_the_edge_repeated() {
        let folded: Vec<usize> = (-3..7).map(|i| reflect(i, 3)).collect();
        assert_eq!(folded, [2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
    }

    #[test]
    fn kernel_is_a_normalized_symmetric_gaussian() {
        let k = gaussian_kernel(4.0);
        assert_eq!(k.len(), 25);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(k.iter().zip(k.iter().rev()).all(|(a, b)| a == b));
        // exp(-1/32) between the centre and its neighbour.
        assert!((k[13] / k[12] - (-1.0f32 / 32.0).exp()).abs() < 1e-6);
    }

    #[test]
    fn smoothing_keeps_a_constant_field() {
        let field = vec![[0.5, -0.25]; 28 * 28];
        for offset in smooth(&field, 28, &gaussian_kernel(4.0)) {
            assert!((offset[0] - 0.5).abs() < 1e-5 && (offset[1] + 0.25).abs() < 1e-5);
        }
    }

    #[test]
    fn fields_repeat_with_the_seed_and_alpha_scales_them() {
        let draw = |elastic: Elastic, seed| {
            elastic.field(28, &mut Xoshiro256PlusPlus::seed_from_u64(seed))
        };
        let a = draw(Elastic::SIMARD, 3);
        assert_eq!(a, draw(Elastic::SIMARD, 3));
        assert_ne!(a, draw(Elastic::SIMARD, 4));
        let half = draw(
            Elastic {
                alpha: 17.0,
                ..Elastic::SIMARD
            },
            3,
        );
        for (full, half) in a.offsets().iter().zip(half.offsets()) {
            assert!((full[0] - 2.0 * half[0]).abs() < 1e-4);
        }
        let still = draw(
            Elastic {
                alpha: 0.0,
                ..Elastic::SIMARD
            },
            3,
        );
        assert_eq!(still, DisplacementField::zeros(28));
    }

    /// Smoothed uniform noise, away from the border: mean 0, standard deviation
    /// `alpha / sqrt(3) * sum(w^2)` (the 2-D kernel's squared weights sum to the 1-D sum's
    /// square), and neighbours nearly equal (correlation `exp(-1 / (4 sigma^2))`).
    #[test]
    fn field_statistics_match_smoothed_uniform_noise() {
        let elastic = Elastic {
            sigma: 2.0,
            alpha: 10.0,
        };
        let kernel = gaussian_kernel(elastic.sigma);
        let sum_sq: f32 = kernel.iter().map(|w| w * w).sum();
        let expected_std = elastic.alpha / 3.0f32.sqrt() * sum_sq;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let (mut n, mut sum, mut sum_sq_values, mut cross) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for _ in 0..400 {
            let field = elastic.field(28, &mut rng);
            for row in 6..22 {
                for col in 6..21 {
                    for axis in 0..2 {
                        let v = field.at(row, col)[axis] as f64;
                        let right = field.at(row, col + 1)[axis] as f64;
                        n += 1.0;
                        sum += v;
                        sum_sq_values += v * v;
                        cross += v * right;
                    }
                }
            }
        }
        let mean = sum / n;
        let variance = sum_sq_values / n - mean * mean;
        let std = variance.sqrt() as f32;
        assert!(mean.abs() < 0.1 * expected_std as f64, "mean {mean}");
        assert!(
            (std / expected_std - 1.0).abs() < 0.05,
            "std {std}, expected {expected_std}"
        );
        let correlation = (cross / n - mean * mean) / variance;
        let expected = (-1.0 / (4.0 * f64::from(elastic.sigma).powi(2))).exp();
        assert!(
            (correlation - expected).abs() < 0.02,
            "neighbour correlation {correlation}, expected {expected}"
        );
    }

    #[test]
    fn parses_from_the_command_line() {
        assert_eq!("4,34".parse::<Elastic>(), Ok(Elastic::SIMARD));
        assert_eq!(
            " 6 , 36.5".parse::<Elastic>(),
            Ok(Elastic {
                sigma: 6.0,
                alpha: 36.5
            })
        );
        assert!(
            "4".parse::<Elastic>()
                .unwrap_err()
                .contains("not SIGMA,ALPHA")
        );
        assert!(
            "4,x"
                .parse::<Elastic>()
                .unwrap_err()
                .contains("e.g. `4,34`")
        );
        assert!("-1,34".parse::<Elastic>().unwrap_err().contains("sigma -1"));
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(Elastic::SIMARD.problem(), None);
        let flat = Elastic {
            sigma: 0.0,
            ..Elastic::SIMARD
        };
        assert!(flat.problem().unwrap().contains("sigma 0"));
        let wild = Elastic {
            alpha: f32::INFINITY,
            ..Elastic::SIMARD
        };
        assert!(wild.problem().unwrap().contains("alpha inf"));
    }
}
