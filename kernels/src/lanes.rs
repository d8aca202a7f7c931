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

/// `(sum(a), sum(f(a, b)))` over two planes of the same length, as [`lane_sum`]: two passes
/// over `a` (in L1 for a plane). In one loop for both sums the compiler paired a lane of each in
/// one vector and went value by value; the additions are the same, lane by lane, either way.
#[inline(always)]
pub fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> (f64, f64) {
    assert_eq!(a.len(), b.len(), "plane lengths");
    /// One sum in lanes, its tail in `f64` from 0.
    #[inline(always)]
    fn sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
        let mut acc = [0.0f32; LANES];
        let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail = chunks_a
            .remainder()
            .iter()
            .zip(chunks_b.remainder())
            .fold(0.0f64, |sum, (&a, &b)| sum + f(a, b) as f64);
        for (ca, cb) in chunks_a.zip(chunks_b) {
            for ((acc, &a), &b) in acc.iter_mut().zip(ca).zip(cb) {
                *acc += f(a, b);
            }
        }
        acc.iter().map(|&v| v as f64).sum::<f64>() + tail
    }
    (sum(a, b, |a, _| a), sum(a, b, f))
}

wide_fn! {
    /// `sum(plane)`, as [`lane_sum`].
    pub fn plane_sum(plane: &[f32]) -> f64 {
        lane_sum(plane, |v| v)
    }
}

wide_fn! {
    /// `sum((v - mean)²)` over one plane, as [`lane_sum`].
    pub fn squared_deviation_sum(plane: &[f32], mean: f32) -> f64 {
        lane_sum(plane, |v| (v - mean) * (v - mean))
    }
}

wide_fn! {
    /// `(sum(dy), sum(dy * (x - mean)))` over one plane, as [`lane_sum2`].
    pub fn gradient_sums(dy: &[f32], x: &[f32], mean: f32) -> (f64, f64) {
        lane_sum2(dy, x, |dy, x| dy * (x - mean))
    }
}
