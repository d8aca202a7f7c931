//! Batch normalization followed by max pooling and/or ReLU, in one pass over the activation
//! each way.
//!
//! In the complex CNN both of its wide layers are `relu(max_pool(batch_norm(conv(x))))`, and
//! its first is `relu(batch_norm(conv(x)))`. Done one op after the other, the normalized
//! activation is written out, read back by the pooling, and its gradient written and read twice
//! more in the backward pass: ~60 MB of memory traffic per training step for the second conv
//! alone; and burn-flex's ReLU and its gradient ran on the calling thread alone, about a tenth
//! of the main thread's time while the other core waited. Here each plane is normalized into a
//! per-thread buffer (a few KB, in L1), pooled from there and clamped at 0 as it is written; the
//! backward pass rebuilds a plane's normalized values, its pooled values, its masked and its
//! pre-pooling gradient the same way when it needs them. The formulas are the unfused kernels'
//! own ([`batch_norm`](mod@batch_norm), [`max_pool`], burn-flex's `relu` and `relu_backward`),
//! so the results are the same bits.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::batch_norm::{self, NormGeometry};
use super::max_pool::{self, PoolGeometry};

/// A plane's worth of values, possibly not written yet.
type Plane = Vec<MaybeUninit<f32>>;

/// One thread's buffers for a plane: normalized values, pre-pooling gradient, pooled values,
/// gradient after the ReLU's mask.
#[derive(Default)]
struct Planes {
    normalized: Plane,
    unpooled_grad: Plane,
    pooled: Plane,
    masked_grad: Plane,
}

thread_local! {
    static PLANES: RefCell<Planes> = RefCell::new(Planes::default());
}

/// What follows the normalization: max pooling (or none) and whether a ReLU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct After<'a> {
    /// The pooling, checked against the normalization's shape.
    pub pool: Option<&'a PoolGeometry>,
    /// Whether the (pooled) output goes through a ReLU.
    pub relu: bool,
}

impl After<'_> {
    /// Values per plane of the output.
    fn plane_len(&self, g: &NormGeometry) -> usize {
        self.pool.map_or(g.spatial, |pool| {
            let [oh, ow] = pool.out_size();
            oh * ow
        })
    }

    fn check(&self, x: &[f32], g: &NormGeometry) {
        assert_eq!(x.len(), g.batch * g.channels * g.spatial, "input length");
        if let Some(pool) = self.pool {
            assert_eq!(pool.planes, g.batch * g.channels, "planes");
            assert_eq!(pool.height * pool.width, g.spatial, "plane size");
        }
    }
}

/// burn-flex's ReLU: NaN stays NaN (PyTorch's too).
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x.is_nan() || x > 0.0 { x } else { 0.0 }
}

/// burn-flex's ReLU gradient, from the ReLU's input `x`: kept where `x` is positive or NaN.
#[inline(always)]
fn relu_grad(x: f32, grad: f32) -> f32 {
    if x.is_nan() || x > 0.0 { grad } else { 0.0 }
}

wide_fn! {
    /// `plane` (fully written) clamped at 0 in place.
    fn relu_in_place(plane: &mut [MaybeUninit<f32>]) {
        for v in plane {
            // SAFETY: the caller wrote every value.
            *v = MaybeUninit::new(relu(unsafe { v.assume_init() }));
        }
    }
}

wide_fn! {
    /// `out = relu'(x) * dy`: the gradient through the ReLU, from its input `x`.
    fn relu_backward(out: &mut [MaybeUninit<f32>], x: &[f32], dy: &[f32]) {
        for ((o, &x), &dy) in out.iter_mut().zip(x).zip(dy) {
            o.write(relu_grad(x, dy));
        }
    }
}

/// `buffer` resized to `len` and written by `fill` (the callers' kernels write whole planes), as
/// values.
fn filled(buffer: &mut Plane, len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> &[f32] {
    buffer.resize(len, MaybeUninit::new(0.0));
    fill(buffer);
    // SAFETY: every slot of a `Plane` holds an `f32`: `resize` initializes the slots it adds and
    // the kernels only ever write `f32` values (a slot `fill` missed would be stale, not
    // uninitialized).
    unsafe { assume_init(buffer) }
}

/// # Safety
/// Every value of `values` is initialized.
unsafe fn assume_init(values: &[MaybeUninit<f32>]) -> &[f32] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout; the values are initialized (caller).
    unsafe { &*(values as *const [MaybeUninit<f32>] as *const [f32]) }
}

/// `after(batch_norm(x))`: `x` normalized with `gamma`, `beta`, `mean` and `var` (as
/// [`batch_norm::normalize`]), then pooled to its window maxima `[planes, oh, ow]` and/or
/// clamped at 0, as `after` says.
pub(crate) fn forward(
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    epsilon: f64,
    g: &NormGeometry,
    after: After,
) -> Vec<f32> {
    after.check(x, g);
    for p in [gamma, beta, mean, var] {
        assert_eq!(p.len(), g.channels, "per-channel length");
    }
    let coefficients = batch_norm::channel_norms(gamma, beta, mean, var, epsilon);
    let out_len = after.plane_len(g);
    let len = g.batch * g.channels * out_len;
    if len == 0 {
        return vec![];
    }
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(out_len)
            .zip(x.par_chunks(g.spatial))
            .enumerate()
            .for_each(|(p, (out, x))| {
                let n = coefficients[p % g.channels];
                match after.pool {
                    Some(pool) => PLANES.with_borrow_mut(|planes| {
                        let normalized = filled(&mut planes.normalized, x.len(), |plane| {
                            batch_norm::normalize_plane(x, n, plane)
                        });
                        max_pool::pool_plane(normalized, pool, out)
                    }),
                    None => batch_norm::normalize_plane(x, n, out),
                }
                if after.relu {
                    relu_in_place(out);
                }
            });
    };
    // SAFETY: `out` holds `planes` planes of `out_len` and `x` as many of `spatial` (asserted),
    // and `pool_plane` and `normalize_plane` write every output plane in full.
    unsafe { super::fully_written(len, fill) }
}

/// Gradients for `x`, `gamma` and `beta` of the training [`forward`] (statistics of the batch
/// itself), given the gradient of its output: [`batch_norm::train_backward`] of the gradient
/// through the ReLU and the pooling, which is made plane by plane from the normalized plane,
/// never whole.
pub(crate) fn train_backward(
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    output_grad: &[f32],
    epsilon: f64,
    g: &NormGeometry,
    after: After,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    after.check(x, g);
    let out_len = after.plane_len(g);
    assert_eq!(
        output_grad.len(),
        g.batch * g.channels * out_len,
        "gradient length"
    );
    let coefficients = batch_norm::channel_norms(gamma, beta, mean, var, epsilon);
    batch_norm::train_backward_by_plane(x, [gamma, mean, var], epsilon, g, |p, f| {
        let plane = &x[p * g.spatial..(p + 1) * g.spatial];
        let dy = &output_grad[p * out_len..(p + 1) * out_len];
        PLANES.with_borrow_mut(|planes| {
            let Planes {
                normalized,
                unpooled_grad,
                pooled,
                masked_grad,
            } = planes;
            let n = coefficients[p % g.channels];
            let normalized = filled(normalized, g.spatial, |out| {
                batch_norm::normalize_plane(plane, n, out)
            });
            let dy = if after.relu {
                // The ReLU's input, as the forward pass made it.
                let relu_input = match after.pool {
                    Some(pool) => filled(pooled, out_len, |out| {
                        max_pool::pool_plane(normalized, pool, out)
                    }),
                    None => normalized,
                };
                filled(masked_grad, out_len, |out| {
                    relu_backward(out, relu_input, dy)
                })
            } else {
                dy
            };
            match after.pool {
                Some(pool) => f(filled(unpooled_grad, g.spatial, |out| {
                    max_pool::unpool_plane(normalized, dy, pool, out)
                })),
                None => f(dy),
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(pool: &PoolGeometry) -> After<'_> {
        After {
            pool: Some(pool),
            relu: false,
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// burn-flex's `relu` and `relu_backward` (from the ReLU's input), value by value.
    fn unfused_relu(x: &[f32]) -> Vec<f32> {
        x.iter()
            .map(|&x| if x.is_nan() || x > 0.0 { x } else { 0.0 })
            .collect()
    }

    fn unfused_relu_grad(x: &[f32], dy: &[f32]) -> Vec<f32> {
        x.iter()
            .zip(dy)
            .map(|(&x, &dy)| if x.is_nan() || x > 0.0 { dy } else { 0.0 })
            .collect()
    }

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
        let fused = forward(&x, params, 1e-5, &g, pooled(&pool));
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
        let fused = train_backward(
            &x,
            [&gamma, &beta, &mean, &var],
            &dy,
            1e-5,
            &g,
            pooled(&pool),
        );
        assert_eq!(bits(&fused.0), bits(&unfused.0), "x");
        assert_eq!(bits(&fused.1), bits(&unfused.1), "gamma");
        assert_eq!(bits(&fused.2), bits(&unfused.2), "beta");
    }

    /// With a ReLU after it, with and without pooling: the output and all three gradients are
    /// those of the kernels one after the other with burn-flex's ReLU between, bit for bit. The
    /// case's values have ties and a negative gamma, and about half the outputs are negative.
    #[test]
    fn a_relu_after_it_gives_the_unfused_bits() {
        let (x, [gamma, beta, mean, var], g, pool) = case();
        let params = [&gamma[..], &beta, &mean, &var];
        let normalized = batch_norm::normalize(&x, params, 1e-5, &g);
        for with_pool in [false, true] {
            let after = After {
                pool: with_pool.then_some(&pool),
                relu: true,
            };
            let relu_input = if with_pool {
                max_pool::forward(&normalized, &pool)
            } else {
                normalized.clone()
            };
            let clamped = relu_input.iter().filter(|&&v| v <= 0.0).count();
            assert!(
                clamped >= relu_input.len() / 10,
                "{clamped} of {}",
                relu_input.len()
            );
            let fused = forward(&x, params, 1e-5, &g, after);
            assert_eq!(
                bits(&fused),
                bits(&unfused_relu(&relu_input)),
                "pool {with_pool}"
            );

            let dy: Vec<f32> = (0..relu_input.len())
                .map(|i| ((i * 5) % 7) as f32 - 3.0)
                .collect();
            let masked = unfused_relu_grad(&relu_input, &dy);
            let unpooled = if with_pool {
                max_pool::backward(&normalized, &masked, &pool)
            } else {
                masked
            };
            let unfused =
                batch_norm::train_backward(&x, [&gamma, &mean, &var], &unpooled, 1e-5, &g);
            let fused = train_backward(&x, params, &dy, 1e-5, &g, after);
            assert_eq!(bits(&fused.0), bits(&unfused.0), "x, pool {with_pool}");
            assert_eq!(bits(&fused.1), bits(&unfused.1), "gamma, pool {with_pool}");
            assert_eq!(bits(&fused.2), bits(&unfused.2), "beta, pool {with_pool}");
        }
    }

    /// NaN passes the fused ReLU as it passes burn-flex's, and so does its gradient.
    #[test]
    fn nan_passes_the_relu() {
        let g = NormGeometry {
            batch: 1,
            channels: 1,
            spatial: 4,
        };
        let x = [1.0, f32::NAN, -1.0, 2.0];
        let params = [&[1.0f32][..], &[0.0], &[0.0], &[1.0]];
        let after = After {
            pool: None,
            relu: true,
        };
        let y = forward(&x, params, 0.0, &g, after);
        assert_eq!(y[0], 1.0);
        assert!(y[1].is_nan());
        assert_eq!((y[2], y[3]), (0.0, 2.0));
    }
}
