//! Batch normalization followed by max pooling, in one pass over the activation each way.
//!
//! In the complex CNN both of its wide layers are `max_pool(batch_norm(conv(x)))`. Done one op
//! after the other, the normalized activation is written out, read back by the pooling, and its
//! gradient written and read twice more in the backward pass: ~60 MB of memory traffic per
//! training step for the second conv alone. Here each plane is normalized into a per-thread
//! buffer (a few KB, in L1) and pooled from there; the backward pass rebuilds a plane's
//! normalized values and its pre-pooling gradient the same way when it needs them. The
//! formulas are the unfused kernels' own ([`batch_norm`](mod@batch_norm),
//! [`max_pool`]), so the results are the same bits.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::batch_norm::{self, NormGeometry};
use super::max_pool::{self, PoolGeometry};

/// A plane's worth of values, possibly not written yet.
type Plane = Vec<MaybeUninit<f32>>;

thread_local! {
    /// Each thread's normalized plane and pre-pooling gradient plane.
    static PLANES: RefCell<(Plane, Plane)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The pooling of each plane of `g`, checked against the normalization's shape.
fn check(x: &[f32], g: &NormGeometry, pool: &PoolGeometry) {
    assert_eq!(x.len(), g.batch * g.channels * g.spatial, "input length");
    assert_eq!(pool.planes, g.batch * g.channels, "planes");
    assert_eq!(pool.height * pool.width, g.spatial, "plane size");
}

/// Runs `f` on plane `x`'s normalized values, in this thread's buffer.
fn with_normalized<R>(
    x: &[f32],
    coefficients: batch_norm::ChannelNorm,
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    PLANES.with_borrow_mut(|(normalized, _)| {
        normalized.resize(x.len(), MaybeUninit::new(0.0));
        batch_norm::normalize_plane(x, coefficients, normalized);
        // SAFETY: `normalize_plane` wrote all `x.len()` values.
        f(unsafe { assume_init(normalized) })
    })
}

/// # Safety
/// Every value of `values` is initialized.
unsafe fn assume_init(values: &[MaybeUninit<f32>]) -> &[f32] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout; the values are initialized (caller).
    unsafe { &*(values as *const [MaybeUninit<f32>] as *const [f32]) }
}

/// `max_pool(batch_norm(x))`: the window maxima `[planes, oh, ow]` of `x` normalized with
/// `gamma`, `beta`, `mean` and `var` (as [`batch_norm::normalize`]).
pub(crate) fn forward(
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    epsilon: f64,
    g: &NormGeometry,
    pool: &PoolGeometry,
) -> Vec<f32> {
    check(x, g, pool);
    for p in [gamma, beta, mean, var] {
        assert_eq!(p.len(), g.channels, "per-channel length");
    }
    let coefficients = batch_norm::channel_norms(gamma, beta, mean, var, epsilon);
    let [oh, ow] = pool.out_size();
    let len = pool.planes * oh * ow;
    if len == 0 {
        return vec![];
    }
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(oh * ow)
            .zip(x.par_chunks(g.spatial))
            .enumerate()
            .for_each(|(p, (out, x))| {
                with_normalized(x, coefficients[p % g.channels], |normalized| {
                    max_pool::pool_plane(normalized, pool, out)
                });
            });
    };
    // SAFETY: `pool_plane` writes every output plane in full.
    unsafe { super::fully_written(len, fill) }
}

/// Gradients for `x`, `gamma` and `beta` of the training [`forward`] (statistics of the batch
/// itself), given the gradient of the pooled output: [`batch_norm::train_backward`] of the
/// pooling's gradient, which is made plane by plane from the normalized plane, never whole.
pub(crate) fn train_backward(
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    pooled_grad: &[f32],
    epsilon: f64,
    g: &NormGeometry,
    pool: &PoolGeometry,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check(x, g, pool);
    let [oh, ow] = pool.out_size();
    assert_eq!(pooled_grad.len(), pool.planes * oh * ow, "gradient length");
    let coefficients = batch_norm::channel_norms(gamma, beta, mean, var, epsilon);
    let out_len = oh * ow;
    batch_norm::train_backward_by_plane(x, [gamma, mean, var], epsilon, g, |p, f| {
        let plane = &x[p * g.spatial..(p + 1) * g.spatial];
        let dy = &pooled_grad[p * out_len..(p + 1) * out_len];
        PLANES.with_borrow_mut(|(normalized, grad)| {
            normalized.resize(g.spatial, MaybeUninit::new(0.0));
            grad.resize(g.spatial, MaybeUninit::new(0.0));
            batch_norm::normalize_plane(plane, coefficients[p % g.channels], normalized);
            // SAFETY: `normalize_plane` wrote the whole plane, then `unpool_plane` its gradient.
            max_pool::unpool_plane(unsafe { assume_init(normalized) }, dy, pool, grad);
            f(unsafe { assume_init(grad) })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images of three channels of 6x5 planes (an odd column left over by 2x2 windows),
    /// values with ties; one gamma negative (the normalization reverses the order there).
    fn case() -> (Vec<f32>, [Vec<f32>; 4], NormGeometry, PoolGeometry) {
        let g = NormGeometry {
            batch: 2,
            channels: 3,
            spatial: 30,
        };
        let pool = PoolGeometry {
            planes: 6,
            height: 6,
            width: 5,
            kernel: [2, 2],
        };
        let x: Vec<f32> = (0..180)
            .map(|i| ((i * 7) % 11) as f32 * 0.5 - 2.0)
            .collect();
        let (mean, var) = batch_norm::mean_var(&x, &g);
        (
            x,
            [vec![1.5, -0.5, 1.0], vec![0.25, 2.0, -1.0], mean, var],
            g,
            pool,
        )
    }

    #[test]
    fn forward_is_pooling_of_the_normalization_bit_for_bit() {
        let (x, [gamma, beta, mean, var], g, pool) = case();
        let params = [&gamma[..], &beta, &mean, &var];
        let unfused = max_pool::forward(&batch_norm::normalize(&x, params, 1e-5, &g), &pool);
        let fused = forward(&x, params, 1e-5, &g, &pool);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused), bits(&unfused));
    }

    #[test]
    fn gradients_are_the_unfused_ones_bit_for_bit() {
        let (x, [gamma, beta, mean, var], g, pool) = case();
        let [oh, ow] = pool.out_size();
        let dy: Vec<f32> = (0..pool.planes * oh * ow)
            .map(|i| ((i * 5) % 7) as f32 - 3.0)
            .collect();
        let normalized = batch_norm::normalize(&x, [&gamma, &beta, &mean, &var], 1e-5, &g);
        let unpooled = max_pool::backward(&normalized, &dy, &pool);
        let unfused = batch_norm::train_backward(&x, [&gamma, &mean, &var], &unpooled, 1e-5, &g);
        let fused = train_backward(&x, [&gamma, &beta, &mean, &var], &dy, 1e-5, &g, &pool);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused.0), bits(&unfused.0), "x");
        assert_eq!(bits(&fused.1), bits(&unfused.1), "gamma");
        assert_eq!(bits(&fused.2), bits(&unfused.2), "beta");
    }
}
