//! A fully connected layer, `y = x · W + b` with `x` `[rows, d_in]` and `W` `[d_in, d_out]`
//! (burn's layout), and its three gradients.
//!
//! Why: at the report's batch of 50 the gradients' GEMMs are small and thin (`dW = xᵀ · dy` has
//! an inner dimension of 50), and burn-flex hands each to `gemm` with its own threading, which
//! wakes the other core for every block it splits off: the complex MLP trained faster on one
//! thread than on two (11.5k against 10.5k images/s on a 2-core Zen 4,
//! `results/performance.md`). Here the two weight-sized gradients are single-threaded `gemm`
//! calls on fixed blocks of 128 columns of `dx` (rows of `dW`), shared out once per call; the
//! forward pass is one `gemm` call threaded as burn-flex threads it, then the bias added in
//! place. A block's size is fixed by the shapes, never by the thread count, so each value
//! comes out of the same `gemm` call on one thread or many: runs repeat bit for bit at any
//! thread count.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::gemm_conv::gemm_strided;

/// Output columns (of `y` and `dx`) or rows (of `dW`) per block.
const BLOCK: usize = 128;

/// Below this many multiply-adds a gradient runs on the calling thread alone: waking another
/// costs more than the work.
const SERIAL_BELOW: usize = 1 << 21;

/// From this many multiply-adds on, the forward pass lets `gemm` thread itself (burn-flex's
/// threshold, 192³).
const GEMM_THREADS_FROM: usize = 192 * 192 * 192;

/// The sizes of one layer's matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinearGeometry {
    /// Rows of `x` (the batch).
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
}

/// A raw pointer that blocks of one output may share: each block writes only its own columns
/// or rows.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: the blocks given one `Dst` write disjoint elements (see each use).
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    /// The element `offset` places on (a method, so that closures capture the whole `Dst`).
    ///
    /// # Safety
    /// `offset` must lie within the allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: as the caller guarantees.
        unsafe { self.0.add(offset) }
    }
}

/// Runs `block(start, len)` for the blocks of [`BLOCK`] that cover `0..total`, on the rayon
/// pool when the call's `work` (multiply-adds) is worth it.
fn for_each_block(total: usize, work: usize, block: impl Fn(usize, usize) + Sync) {
    let starts = (0..total).step_by(BLOCK);
    let run = |start: usize| block(start, BLOCK.min(total - start));
    if work < SERIAL_BELOW || total <= BLOCK {
        starts.for_each(run);
    } else {
        starts.collect::<Vec<_>>().into_par_iter().for_each(run);
    }
}

/// `y = x · W + b`, `[rows, d_out]`: one `gemm` call, threaded by `gemm` itself from burn-flex's
/// size on (its inner dimension is the layer's input, large enough for `gemm`'s own split),
/// then the bias added row by row. Measured on the complex MLP: the bias read into `gemm`'s
/// accumulators (`read_dst`) made inference ~20% slower than this extra pass.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: &[f32], g: LinearGeometry) -> Vec<f32> {
    let LinearGeometry { rows, d_in, d_out } = g;
    assert!(x.len() == rows * d_in && weight.len() == d_in * d_out && bias.len() == d_out);
    // gemm writes every element of y only where it has something to sum.
    assert!(d_in > 0, "kernel::linear leaves empty inputs to burn");
    let parallelism = if rows * d_in * d_out >= GEMM_THREADS_FROM {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `fill` writes every element: gemm without `read_dst` sets all of y.
    let mut y = unsafe {
        super::fully_written(rows * d_out, |y| {
            // SAFETY: y is rows x d_out (row stride d_out), x rows x d_in, W d_in x d_out, by
            // the lengths asserted above; gemm only writes y (MaybeUninit<f32> has f32's
            // layout).
            gemm_strided(
                [rows, d_out, d_in],
                y.as_mut_ptr().cast(),
                [1, d_out as isize],
                false,
                x.as_ptr(),
                [1, d_in as isize],
                weight.as_ptr(),
                [1, d_out as isize],
                parallelism,
            )
        })
    };
    for row in y.chunks_exact_mut(d_out.max(1)) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
    y
}

/// `dx = dy · Wᵀ`, `[rows, d_in]`.
pub(crate) fn x_grad(weight: &[f32], output_grad: &[f32], g: LinearGeometry) -> Vec<f32> {
    let LinearGeometry { rows, d_in, d_out } = g;
    assert!(weight.len() == d_in * d_out && output_grad.len() == rows * d_out);
    if d_out == 0 {
        // Nothing to sum: gemm would leave dx unwritten.
        return vec![0.0; rows * d_in];
    }
    let fill = |dx: &mut [MaybeUninit<f32>]| {
        let dst = Dst(dx.as_mut_ptr().cast());
        for_each_block(d_in, rows * d_in * d_out, |start, width| {
            // SAFETY: columns start..start + width of dx (row stride d_in); Wᵀ's columns are W's
            // rows start..start + width (column stride d_out, row stride 1); all of dy. In bounds
            // by the asserted lengths; blocks write disjoint columns of dx.
            unsafe {
                gemm_strided(
                    [rows, width, d_out],
                    dst.at(start),
                    [1, d_in as isize],
                    false,
                    output_grad.as_ptr(),
                    [1, d_out as isize],
                    weight.as_ptr().add(start * d_out),
                    [d_out as isize, 1],
                    gemm::Parallelism::None,
                );
            }
        });
    };
    // SAFETY: the blocks cover all d_in columns of every row, and gemm without `read_dst`
    // writes every element of its block (its inner dimension d_out is not 0).
    unsafe { super::fully_written(rows * d_in, fill) }
}

/// `dW = xᵀ · dy`, `[d_in, d_out]`.
pub(crate) fn weight_grad(x: &[f32], output_grad: &[f32], g: LinearGeometry) -> Vec<f32> {
    let LinearGeometry { rows, d_in, d_out } = g;
    assert!(x.len() == rows * d_in && output_grad.len() == rows * d_out);
    if rows == 0 {
        // No rows to sum: gemm would leave dW unwritten.
        return vec![0.0; d_in * d_out];
    }
    // Not zeroed first: at the complex CNN's first layer (3136 x 512) that was a 6.4 MB memset
    // per step on the calling thread while the other core waited.
    let fill = |dw: &mut [MaybeUninit<f32>]| {
        let dst = Dst(dw.as_mut_ptr().cast());
        for_each_block(d_in, rows * d_in * d_out, |start, height| {
            // SAFETY: rows start..start + height of dW (contiguous); xᵀ's rows are x's columns
            // start..start + height (column stride d_in, row stride 1); all of dy. In bounds by
            // the asserted lengths; blocks write disjoint rows of dW.
            unsafe {
                gemm_strided(
                    [height, d_out, rows],
                    dst.at(start * d_out),
                    [1, d_out as isize],
                    false,
                    x.as_ptr().add(start),
                    [d_in as isize, 1],
                    output_grad.as_ptr(),
                    [1, d_out as isize],
                    gemm::Parallelism::None,
                );
            }
        });
    };
    // SAFETY: the blocks cover all d_in rows of dW, and gemm without `read_dst` writes every
    // element of its block (its inner dimension, the rows, is not 0).
    unsafe { super::fully_written(d_in * d_out, fill) }
}

/// `db` = the sum of `dy`'s rows, `[d_out]`, added up row by row in order.
pub(crate) fn bias_grad(output_grad: &[f32], d_out: usize) -> Vec<f32> {
    let mut db = vec![0.0f32; d_out];
    for row in output_grad.chunks_exact(d_out) {
        db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x · W + b` in f64, the plain triple loop.
    fn reference(x: &[f32], w: &[f32], b: &[f32], g: LinearGeometry) -> Vec<f32> {
        let mut y = vec![0.0; g.rows * g.d_out];
        for r in 0..g.rows {
            for o in 0..g.d_out {
                let dot: f64 = (0..g.d_in)
                    .map(|i| f64::from(x[r * g.d_in + i]) * f64::from(w[i * g.d_out + o]))
                    .sum();
                y[r * g.d_out + o] = (dot + f64::from(b[o])) as f32;
            }
        }
        y
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols)
            .flat_map(|c| (0..rows).map(move |r| m[r * cols + c]))
            .collect()
    }

    fn assert_close(ours: &[f32], expected: &[f32], what: &str) {
        assert_eq!(ours.len(), expected.len(), "{what}");
        for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    /// Each pass against the plain loops, on shapes below, at and across the block size and
    /// the serial threshold (the MLP's 50 x 784 x 512 among them).
    #[test]
    fn passes_match_the_triple_loop() {
        for (rows, d_in, d_out) in [(1, 1, 1), (3, 5, 10), (50, 784, 512), (7, 129, 300)] {
            let g = LinearGeometry { rows, d_in, d_out };
            let (x, w, b) = (
                values(rows * d_in, 1),
                values(d_in * d_out, 2),
                values(d_out, 3),
            );
            let dy = values(rows * d_out, 4);
            assert_close(&forward(&x, &w, &b, g), &reference(&x, &w, &b, g), "y");
            // dx = dy · Wᵀ and dW = xᵀ · dy are forward passes of other shapes, bias 0.
            let wt = transpose(&w, d_in, d_out);
            let back = LinearGeometry {
                rows,
                d_in: d_out,
                d_out: d_in,
            };
            let zeros = vec![0.0; d_in];
            assert_close(
                &x_grad(&w, &dy, g),
                &reference(&dy, &wt, &zeros, back),
                "dx",
            );
            let xt = transpose(&x, rows, d_in);
            let outer = LinearGeometry {
                rows: d_in,
                d_in: rows,
                d_out,
            };
            let zeros = vec![0.0; d_out];
            assert_close(
                &weight_grad(&x, &dy, g),
                &reference(&xt, &dy, &zeros, outer),
                "dW",
            );
            let db: Vec<f32> = (0..d_out)
                .map(|o| (0..rows).map(|r| dy[r * d_out + o]).sum())
                .collect();
            assert_eq!(bias_grad(&dy, d_out), db, "db");
        }
    }

    /// The same bits on 1 and 3 threads.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let g = LinearGeometry {
            rows: 50,
            d_in: 784,
            d_out: 512,
        };
        let (x, w, b) = (values(50 * 784, 5), values(784 * 512, 6), values(512, 7));
        let dy = values(50 * 512, 8);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                [
                    forward(&x, &w, &b, g),
                    x_grad(&w, &dy, g),
                    weight_grad(&x, &dy, g),
                ]
            })
        };
        assert_eq!(run(1), run(3));
    }
}
