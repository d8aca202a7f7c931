//! Sums over activation planes in `f32` lanes, for the batch-norm statistics and gradients and
//! the convolution's bias gradient.

/// Lanes of the sums below: 16 independent `f32` accumulators, so that the loops
/// vectorize (one `f64` accumulator made them latency-bound: a serial add chain per value).
const LANES: usize = 16;

/// `sum(f(v))` over one plane: `f32` in [`LANES`] lanes, the lanes added in `f64`. The order of
/// the additions is fixed by the plane's length alone, so results repeat bit for bit.
#[inline(always)]
pub fn lane_sum(plane: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0.0f32; LANES];
    let chunks = plane.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v) as f64).sum();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    acc.iter().map(|&a| a as f64).sum::<f64>() + tail
}

/// `(sum(a), sum(f(a, b)))` over two planes of the same length, as [`lane_sum`].
#[inline(always)]
pub fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> (f64, f64) {
    let (mut acc_a, mut acc_f) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .fold((0.0f64, 0.0f64), |(sa, sf), (&a, &b)| {
            (sa + a as f64, sf + f(a, b) as f64)
        });
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc_a[i] += ca[i];
            acc_f[i] += f(ca[i], cb[i]);
        }
    }
    let total = |acc: [f32; LANES]| acc.iter().map(|&v| v as f64).sum::<f64>();
    (total(acc_a) + tail.0, total(acc_f) + tail.1)
}
