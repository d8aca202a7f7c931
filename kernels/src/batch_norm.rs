//! Batch normalization of `[batch, channels, h, w]` activations on `f32` slices: the batch
//! statistics, the normalization, and the training gradient, each one pass per channel plane.
//!
//! burn 0.22's default `batch_norm_train` (which burn-flex keeps) builds them from tensor ops:
//! it swaps the batch and channel axes and copies the activation twice to take the means, then
//! normalizes in four elementwise passes, and its backward does the same again; profiled on the
//! complex CNN, those copies were most of the layout copies left in a step
//! (`results/performance.md`). The formulas are burn's (biased variance, as burn feeds its running
//! statistics); each plane is summed in `f32` lanes, the planes in `f64`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::lanes::{gradient_sums, plane_sum, squared_deviation_sum};

/// The shape of one normalization: `batch` images of `channels` planes of `spatial` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NormGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Channels (one mean and variance each).
    pub channels: usize,
    /// Values per plane (`h * w`).
    pub spatial: usize,
}

impl NormGeometry {
    fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    /// The planes of channel `c`, image by image.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let (s, cs) = (self.spatial, self.channels * self.spatial);
        (0..self.batch).map(move |n| &x[n * cs + c * s..n * cs + (c + 1) * s])
    }

    fn count(&self) -> f64 {
        (self.batch * self.spatial) as f64
    }
}

/// Per-channel mean and biased variance (the mean of squared deviations).
pub(crate) fn mean_var(x: &[f32], g: &NormGeometry) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), g.len(), "input length");
    let stats: Vec<(f32, f32)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = g.planes(x, c).map(plane_sum).sum();
            let mean = sum / g.count();
            let m = mean as f32;
            let squares: f64 = g.planes(x, c).map(|p| squared_deviation_sum(p, m)).sum();
            (m, (squares / g.count()) as f32)
        })
        .collect();
    stats.into_iter().unzip()
}

/// One channel's normalization `(x - mean) * scale + beta`, `scale = gamma / sqrt(var + eps)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChannelNorm {
    mean: f32,
    scale: f32,
    beta: f32,
}

/// The normalization of each channel.
pub(super) fn channel_norms(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> Vec<ChannelNorm> {
    gamma
        .iter()
        .zip(beta)
        .zip(mean.iter().zip(var))
        .map(|((&gm, &beta), (&mean, &v))| ChannelNorm {
            mean,
            scale: gm / (v as f64 + epsilon).sqrt() as f32,
            beta,
        })
        .collect()
}

wide_fn! {
    /// One plane `(x - mean) * scale + beta`: the normalization's only formula, shared with the
    /// fused normalization and pooling (`norm_pool`), which must give the same bits. Subtracting the
    /// mean first, as burn does: folding it into one shift, `x * scale + (beta - mean * scale)`,
    /// loses the digits of `x` that the mean cancels (mean 1000, variance 1e-4: off by ~1e-2).
    pub(super) fn normalize_plane(x: &[f32], n: ChannelNorm, out: &mut [MaybeUninit<f32>]) {
        out.iter_mut().zip(x).for_each(|(o, &x)| {
            o.write((x - n.mean) * n.scale + n.beta);
        });
    }
}

/// `(x - mean) / sqrt(var + eps) * gamma + beta`, channel by channel.
pub(crate) fn normalize(
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    epsilon: f64,
    g: &NormGeometry,
) -> Vec<f32> {
    assert_eq!(x.len(), g.len(), "input length");
    for p in [gamma, beta, mean, var] {
        assert_eq!(p.len(), g.channels, "per-channel length");
    }
    let coefficients = channel_norms(gamma, beta, mean, var, epsilon);
    if x.is_empty() {
        return vec![];
    }
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(g.spatial)
            .zip(x.par_chunks(g.spatial))
            .enumerate()
            .for_each(|(plane, (o, x))| {
                normalize_plane(x, coefficients[plane % g.channels], o);
            });
    };
    // SAFETY: `out` and `x` have the same length (asserted) and `spatial > 0` (`x` is not
    // empty), so their planes pair up one to one and every value is written.
    unsafe { super::fully_written(x.len(), fill) }
}

/// Gradients of the training normalization (statistics of the batch itself) for `x`, `gamma`
/// and `beta`, given the gradient of the output: burn's `batch_norm_train_backward`.
pub(crate) fn train_backward(
    x: &[f32],
    [gamma, mean, var]: [&[f32]; 3],
    output_grad: &[f32],
    epsilon: f64,
    g: &NormGeometry,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(output_grad.len(), g.len(), "gradient length");
    train_backward_by_plane(x, [gamma, mean, var], epsilon, g, |plane, f| {
        f(&output_grad[plane * g.spatial..(plane + 1) * g.spatial])
    })
}

wide_fn! {
    /// One plane of the input's gradient, `scale (dy - mean(dy) - (x - mean) s mean(dy x_hat))`.
    fn write_x_grad(dx: &mut [MaybeUninit<f32>], x: &[f32], dy: &[f32], c: [f32; 5]) {
        let [scale, mean_dy, m, s, mean_dyx] = c;
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            dx.write(scale * (dy - mean_dy - (x - m) * s * mean_dyx));
        }
    }
}

/// [`train_backward`], where `with_plane_grad(p, f)` runs `f` on the output's gradient of plane
/// `p` (image `p / channels`, channel `p % channels`): the fused normalization and pooling
/// makes it from the pooled gradient, plane by plane, instead of holding all of it.
pub(super) fn train_backward_by_plane(
    x: &[f32],
    [gamma, mean, var]: [&[f32]; 3],
    epsilon: f64,
    g: &NormGeometry,
    with_plane_grad: impl Fn(usize, &mut dyn FnMut(&[f32])) + Sync,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), g.len(), "input length");
    let inv_std: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (v as f64 + epsilon).sqrt())
        .collect();
    let plane_x = |p: usize| &x[p * g.spatial..(p + 1) * g.spatial];
    // Per channel: sum(dy) (beta's gradient) and sum(dy * x_hat) (gamma's).
    let sums: Vec<(f64, f64)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c];
            let (mut dy_sum, mut dyx_sum) = (0.0, 0.0);
            for n in 0..g.batch {
                let p = n * g.channels + c;
                with_plane_grad(p, &mut |dy| {
                    assert_eq!(dy.len(), g.spatial, "plane gradient length");
                    let (a, b) = gradient_sums(dy, plane_x(p), m);
                    dy_sum += a;
                    dyx_sum += b;
                });
            }
            (dy_sum, dyx_sum * inv_std[c])
        })
        .collect();
    let fill = |x_grad: &mut [MaybeUninit<f32>]| {
        if x_grad.is_empty() {
            return;
        }
        x_grad
            .par_chunks_mut(g.spatial)
            .enumerate()
            .for_each(|(plane, dx)| {
                let c = plane % g.channels;
                let (dy_sum, dyx_sum) = sums[c];
                let (m, s) = (mean[c], inv_std[c] as f32);
                let scale = gamma[c] * s;
                let mean_dy = (dy_sum / g.count()) as f32;
                let mean_dyx = (dyx_sum / g.count()) as f32;
                let mut written = false;
                with_plane_grad(plane, &mut |dy| {
                    assert_eq!(dy.len(), g.spatial, "plane gradient length");
                    write_x_grad(dx, plane_x(plane), dy, [scale, mean_dy, m, s, mean_dyx]);
                    written = true;
                });
                assert!(written, "no gradient for plane {plane}");
            });
    };
    // SAFETY: the planes of `x_grad` and `x` pair up one to one, and each plane is written in
    // full from a gradient of the plane's length (asserted; no plane when the input is empty).
    let x_grad = unsafe { super::fully_written(x.len(), fill) };
    let gamma_grad = sums.iter().map(|&(_, dyx)| dyx as f32).collect();
    let beta_grad = sums.iter().map(|&(dy, _)| dy as f32).collect();
    (x_grad, gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images of two channels of 3 values.
    const X: [f32; 12] = [
        1.0, 2.0, 3.0, /* c1 */ 10.0, 10.0, 10.0, // image 0
        5.0, 6.0, 7.0, /* c1 */ 10.0, 12.0, 14.0, // image 1
    ];
    const G: NormGeometry = NormGeometry {
        batch: 2,
        channels: 2,
        spatial: 3,
    };

    #[test]
    fn statistics_are_per_channel_over_batch_and_plane() {
        let (mean, var) = mean_var(&X, &G);
        assert_eq!(mean, [4.0, 11.0]);
        // Channel 0: deviations -3 -2 -1 1 2 3 -> 28 / 6; channel 1: -1 -1 -1 -1 1 3 -> 14 / 6.
        assert_eq!(var, [28.0 / 6.0, 14.0 / 6.0]);
    }

    #[test]
    fn normalization_scales_and_shifts_each_channel() {
        let (mean, var) = mean_var(&X, &G);
        let out = normalize(&X, [&[2.0, 1.0], &[0.5, -1.0], &mean, &var], 0.0, &G);
        let s0 = 2.0 / (28.0f32 / 6.0).sqrt();
        assert!((out[0] - (0.5 - 3.0 * s0)).abs() < 1e-6);
        assert!((out[8] - (0.5 + 3.0 * s0)).abs() < 1e-6);
        let s1 = 1.0 / (14.0f32 / 6.0).sqrt();
        assert!((out[11] - (-1.0 + 3.0 * s1)).abs() < 1e-6);
    }

    /// A large mean against a small variance (mean 1000, variance 1e-4): within float rounding
    /// of the exact normalization. Folding the mean into one shift was off by ~1e-2 here.
    #[test]
    fn normalization_subtracts_the_mean_first() {
        let g = NormGeometry {
            batch: 1,
            channels: 1,
            spatial: 64,
        };
        let x: Vec<f32> = (0..64)
            .map(|i| 1000.0 + ((i % 8) as f32 - 3.5) * 0.0078125)
            .collect();
        let (gamma, beta, mean, var) = (1.5f32, 0.25f32, 1000.0f32, 1e-4f32);
        let out = normalize(&x, [&[gamma], &[beta], &[mean], &[var]], 1e-5, &g);
        let worst = x
            .iter()
            .zip(&out)
            .map(|(&x, &o)| {
                let exact = (x as f64 - mean as f64) / (var as f64 + 1e-5).sqrt() * gamma as f64
                    + beta as f64;
                (o as f64 - exact).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "off by {worst}");
    }

    /// The gradient against central differences of `sum(out * r)` computed in f64 through the
    /// definition (the statistics depend on x).
    #[test]
    fn training_gradient_matches_finite_differences() {
        let gamma = [1.5f32, -0.5];
        let beta = [0.25f32, 2.0];
        let r: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let eps = 1e-5;
        let objective = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
            let mut total = 0.0;
            for c in 0..2 {
                let idx: Vec<usize> = (0..2)
                    .flat_map(|n| (0..3).map(move |s| n * 6 + c * 3 + s))
                    .collect();
                let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / 6.0;
                let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / 6.0;
                for &i in &idx {
                    total +=
                        ((x[i] - mean) / (var + eps).sqrt() * gamma[c] + beta[c]) * r[i] as f64;
                }
            }
            total
        };
        let to64 = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let (x64, g64, b64) = (to64(&X), to64(&gamma), to64(&beta));
        let (mean, var) = mean_var(&X, &G);
        let (dx, dgamma, dbeta) = train_backward(&X, [&gamma, &mean, &var], &r, eps, &G);
        let h = 1e-4;
        let numeric = |v: &[f64], i: usize, f: &dyn Fn(&[f64]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        };
        for (i, &ours) in dx.iter().enumerate() {
            let expected = numeric(&x64, i, &|x| objective(x, &g64, &b64));
            assert!(
                (ours as f64 - expected).abs() < 1e-3,
                "dx[{i}]: {ours} vs {expected}"
            );
        }
        for c in 0..2 {
            let expected = numeric(&g64, c, &|g| objective(&x64, g, &b64));
            assert!((dgamma[c] as f64 - expected).abs() < 1e-3, "dgamma[{c}]");
            let expected = numeric(&b64, c, &|b| objective(&x64, &g64, b));
            assert!((dbeta[c] as f64 - expected).abs() < 1e-3, "dbeta[{c}]");
        }
    }
}
