//! Max pooling over non-overlapping windows (stride = kernel, no padding) on `f32` slices,
//! forward and backward.
//!
//! burn-flex 0.22 pools through a general 3D kernel that tracks an `i64` index per output and
//! walks each window with index arithmetic; profiled on the complex CNN its forward alone took
//! about a fifth of a training step (`results/performance.md`). Here each window is read once,
//! and the backward finds the window's maximum again instead of storing indices (8 bytes per
//! output in burn). Ties: the first maximum wins (as in burn and PyTorch); a NaN wins over
//! numbers, and the first NaN over later ones.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// The shapes of one pooling: `planes` (batch x channels) planes of `height x width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGeometry {
    /// Batch size times channels.
    pub planes: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Window (and stride) `[height, width]`, each at least 1.
    pub kernel: [usize; 2],
}

impl PoolGeometry {
    /// Output `[height, width]`: whole windows only (rows or columns left over are dropped).
    pub fn out_size(&self) -> [usize; 2] {
        [self.height / self.kernel[0], self.width / self.kernel[1]]
    }

    fn check(&self, input: &[f32]) {
        assert!(self.kernel[0] > 0 && self.kernel[1] > 0, "empty window");
        assert_eq!(
            input.len(),
            self.planes * self.height * self.width,
            "input length"
        );
    }
}

/// The larger of two candidates `(value, position)`, the first on a tie; a NaN wins over a
/// number, the first of two NaNs. For windows other than 2x2.
#[inline(always)]
fn larger(first: (f32, usize), second: (f32, usize)) -> (f32, usize) {
    let take_second = second.0 > first.0 || (second.0.is_nan() && !first.0.is_nan());
    if take_second { second } else { first }
}

/// The maximum of window `(oy, ox)` of `plane` and where it is (a flat index into the plane).
fn window_max(plane: &[f32], g: &PoolGeometry, oy: usize, ox: usize) -> (f32, usize) {
    let [kh, kw] = g.kernel;
    let top_left = oy * kh * g.width + ox * kw;
    let mut best = (plane[top_left], top_left);
    for dy in 0..kh {
        let row = top_left + dy * g.width;
        for (i, &v) in plane.iter().enumerate().skip(row).take(kw) {
            best = larger(best, (v, i));
        }
    }
    best
}

// The report's 2x2 windows get their own code, without branches: maxima of real data are
// unpredictable, and a first version with `if`s per element mispredicted so often that it was
// no faster than burn's.

/// The maximum of a 2x2 window `[a, b; c, d]`; NaN if any is NaN.
#[inline(always)]
fn max4(a: f32, b: f32, c: f32, d: f32) -> f32 {
    let max2 = |x: f32, y: f32| if x > y { x } else { y };
    let m = max2(max2(a, b), max2(c, d));
    if a.is_nan() | b.is_nan() | c.is_nan() | d.is_nan() {
        f32::NAN
    } else {
        m
    }
}

/// Which of `[a, b, c, d]` (row-major) holds the maximum: the first one, or the first NaN.
#[inline(always)]
fn argmax4(a: f32, b: f32, c: f32, d: f32) -> usize {
    let m = max4(a, b, c, d);
    let mut at = 3usize;
    for (i, v) in [(2, c), (1, b), (0, a)] {
        // `v == m` never holds for a NaN `m`; then the NaNs are the candidates.
        let hit = 0usize.wrapping_sub(((v == m) | v.is_nan()) as usize);
        at = (i & hit) | (at & !hit);
    }
    at
}

/// Maxima of the 2x2 windows over one pair of input rows: `out[i]` of
/// `top[2i], top[2i + 1], bottom[2i], bottom[2i + 1]`. No intrinsics: the compiler's own
/// vectors, AVX2 through [`pool_plane`]; an AVX-512 version of it (as [`unpool_row_2x2`] has)
/// made inference 8% slower on the complex CNN (measured, not kept).
#[inline(always)]
fn pool_row_2x2(top: &[f32], bottom: &[f32], out: &mut [MaybeUninit<f32>]) {
    let n = out.len();
    let (top, bottom) = (&top[..2 * n], &bottom[..2 * n]);
    for i in 0..n {
        out[i].write(max4(
            top[2 * i],
            top[2 * i + 1],
            bottom[2 * i],
            bottom[2 * i + 1],
        ));
    }
}

/// The gradient of one pair of input rows under [`pool_row_2x2`]: `grad[i]` goes to the
/// maximum of window `i`, 0 to the other three.
#[inline(always)]
fn unpool_row_2x2(
    [top, bottom]: [&[f32]; 2],
    grad: &[f32],
    [dx_top, dx_bottom]: [&mut [MaybeUninit<f32>]; 2],
) {
    #[cfg(target_arch = "x86_64")]
    if super::Simd::current() == super::Simd::Widest
        && std::arch::is_x86_feature_detected!("avx512f")
    {
        // SAFETY: the CPU has AVX-512F (the function checks the slices' lengths itself).
        return unsafe { avx512::unpool_row([top, bottom], grad, [dx_top, dx_bottom]) };
    }
    #[cfg(target_arch = "x86_64")]
    if super::avx2_allowed() {
        // SAFETY: the CPU has AVX2 (the function checks the slices' lengths itself).
        return unsafe { avx2::unpool_row([top, bottom], grad, [dx_top, dx_bottom]) };
    }
    unpool_row_2x2_scalar([top, bottom], grad, [dx_top, dx_bottom]);
}

/// What the vectorized gradient rows rely on: the rows hold the `2 * windows` values of their
/// windows.
#[cfg(target_arch = "x86_64")]
fn check_rows(
    [top, bottom]: [&[f32]; 2],
    windows: usize,
    [dx_top, dx_bottom]: [&[MaybeUninit<f32>]; 2],
) {
    let shortest = top
        .len()
        .min(bottom.len())
        .min(dx_top.len())
        .min(dx_bottom.len());
    assert!(shortest >= 2 * windows, "rows shorter than their windows");
}

/// [`unpool_row_2x2`] without SIMD intrinsics.
#[inline(always)]
fn unpool_row_2x2_scalar(
    [top, bottom]: [&[f32]; 2],
    grad: &[f32],
    [dx_top, dx_bottom]: [&mut [MaybeUninit<f32>]; 2],
) {
    let n = grad.len();
    let (top, bottom) = (&top[..2 * n], &bottom[..2 * n]);
    let (dx_top, dx_bottom) = (&mut dx_top[..2 * n], &mut dx_bottom[..2 * n]);
    for i in 0..n {
        let at = argmax4(top[2 * i], top[2 * i + 1], bottom[2 * i], bottom[2 * i + 1]);
        let to = |k: usize| if at == k { grad[i] } else { 0.0 };
        dx_top[2 * i].write(to(0));
        dx_top[2 * i + 1].write(to(1));
        dx_bottom[2 * i].write(to(2));
        dx_bottom[2 * i + 1].write(to(3));
    }
}

/// Window maxima `[planes, oh, ow]` of `input` `[planes, height, width]`.
pub(crate) fn forward(input: &[f32], g: &PoolGeometry) -> Vec<f32> {
    g.check(input);
    let [oh, ow] = g.out_size();
    let len = g.planes * oh * ow;
    if len == 0 {
        return vec![];
    }
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(oh * ow)
            .zip(input.par_chunks(g.height * g.width))
            .for_each(|(out, plane)| pool_plane(plane, g, out));
    };
    // SAFETY: `pool_plane` writes every output plane in full.
    unsafe { super::fully_written(len, fill) }
}

wide_fn! {
    /// The window maxima `[oh, ow]` of one plane `[height, width]`, written in full.
    pub(super) fn pool_plane(plane: &[f32], g: &PoolGeometry, out: &mut [MaybeUninit<f32>]) {
        let [oh, ow] = g.out_size();
        let w = g.width;
        assert_eq!(out.len(), oh * ow, "output plane length");
        if ow == 0 {
            return;
        }
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            if g.kernel == [2, 2] {
                let rows = &plane[2 * oy * w..];
                pool_row_2x2(rows, &rows[w..], out_row);
            } else {
                for (ox, o) in out_row.iter_mut().enumerate() {
                    o.write(window_max(plane, g, oy, ox).0);
                }
            }
        }
    }
}

/// Gradient of the input: each output's gradient goes to its window's maximum, 0 elsewhere.
pub(crate) fn backward(input: &[f32], output_grad: &[f32], g: &PoolGeometry) -> Vec<f32> {
    g.check(input);
    let [oh, ow] = g.out_size();
    assert_eq!(output_grad.len(), g.planes * oh * ow, "gradient length");
    let plane_len = g.height * g.width;
    if input.is_empty() {
        return vec![];
    }
    let fill = |input_grad: &mut [MaybeUninit<f32>]| {
        let dy_len = (oh * ow).max(1);
        input_grad
            .par_chunks_mut(plane_len)
            .zip(input.par_chunks(plane_len))
            .enumerate()
            .for_each(|(p, (dx, plane))| {
                let dy = output_grad.get(p * dy_len..(p + 1) * dy_len).unwrap_or(&[]);
                unpool_plane(plane, dy, g, dx)
            });
    };
    // SAFETY: `unpool_plane` writes every plane of the gradient in full.
    unsafe { super::fully_written(input.len(), fill) }
}

/// The gradient `[height, width]` of one plane from its outputs' gradient `[oh, ow]`, written
/// in full: each window's maximum gets its output's gradient, everything else 0.
pub(super) fn unpool_plane(
    plane: &[f32],
    dy: &[f32],
    g: &PoolGeometry,
    dx: &mut [MaybeUninit<f32>],
) {
    let [oh, ow] = g.out_size();
    let w = g.width;
    let zero = MaybeUninit::new(0.0f32);
    assert_eq!(dx.len(), g.height * w, "gradient plane length");
    if g.kernel != [2, 2] || oh * ow == 0 {
        dx.fill(zero);
        for (oy, dy_row) in dy.chunks_exact(ow.max(1)).take(oh).enumerate() {
            for (ox, &grad) in dy_row.iter().enumerate() {
                dx[window_max(plane, g, oy, ox).1] = MaybeUninit::new(grad);
            }
        }
        return;
    }
    assert_eq!(dy.len(), oh * ow, "output gradient plane length");
    let (windowed, rows_left_over) = dx.split_at_mut(2 * oh * w);
    for ((dx_rows, rows), dy_row) in windowed
        .chunks_exact_mut(2 * w)
        .zip(plane.chunks_exact(2 * w))
        .zip(dy.chunks_exact(ow))
    {
        let (dx_top, dx_bottom) = dx_rows.split_at_mut(w);
        let (top, bottom) = rows.split_at(w);
        unpool_row_2x2([top, bottom], dy_row, [&mut *dx_top, &mut *dx_bottom]);
        dx_top[2 * ow..].fill(zero);
        dx_bottom[2 * ow..].fill(zero);
    }
    rows_left_over.fill(zero);
}

/// The 2x2 gradient rows with AVX-512 (16 windows per step, masked at the row's end), picked at
/// run time. The crate is built for baseline x86-64, where the scalar loop stays scalar (and
/// takes a branch per NaN check): the pooling gradient was ~5% of a complex CNN training step
/// and ~10% of a simple CNN one. Same results bit for bit: `_mm512_max_ps(x, y)` is
/// `if x > y { x } else { y }`, as in [`max4`], and the winner masks are [`argmax4`]'s.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Lane `i` takes element `2i` (`EVEN`) or `2i + 1` (`ODD`) of the 32 floats `[lo, hi]`.
    const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
    /// Interleave `[a, b]` back: `a0 b0 a1 b1 ...` (`LOW`: windows 0-7; `HIGH`: 8-15).
    const LOW: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
    const HIGH: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

    fn index(lanes: [i32; 16]) -> __m512i {
        // SAFETY: `[i32; 16]` and `__m512i` have the same size; any bits are a valid vector.
        unsafe { std::mem::transmute(lanes) }
    }

    /// Masks for `windows` (at most 16) windows: over the windows, and over their 2 * windows
    /// floats as two 16-lane halves.
    fn masks(windows: usize) -> (__mmask16, __mmask16, __mmask16) {
        let bits = |n: usize| {
            if n >= 16 {
                0xffff
            } else {
                (1u32 << n) as u16 - 1
            }
        };
        let floats = 2 * windows;
        (bits(windows), bits(floats), bits(floats.saturating_sub(16)))
    }

    /// The four corners `[a, b, c, d]` of 16 windows starting at window `at`, and its masks.
    ///
    /// # Safety
    /// AVX-512F; `top` and `bottom` hold `2 * n` floats, `at < n`.
    #[target_feature(enable = "avx512f")]
    unsafe fn corners(
        top: &[f32],
        bottom: &[f32],
        at: usize,
        n: usize,
    ) -> ([__m512; 4], __mmask16) {
        let (window_mask, lo, hi) = masks(n - at);
        let (even, odd) = (index(EVEN), index(ODD));
        // SAFETY: the masks only touch the `2 * (n - at)` floats from `2 * at` on.
        unsafe {
            let load = |row: &[f32]| {
                let p = row.as_ptr().add(2 * at);
                (
                    _mm512_maskz_loadu_ps(lo, p),
                    _mm512_maskz_loadu_ps(hi, p.wrapping_add(16)),
                )
            };
            let ((t0, t1), (b0, b1)) = (load(top), load(bottom));
            (
                [
                    _mm512_permutex2var_ps(t0, even, t1),
                    _mm512_permutex2var_ps(t0, odd, t1),
                    _mm512_permutex2var_ps(b0, even, b1),
                    _mm512_permutex2var_ps(b0, odd, b1),
                ],
                window_mask,
            )
        }
    }

    /// [`super::max4`] of each window: NaN where any corner is NaN.
    #[target_feature(enable = "avx512f")]
    fn max4([a, b, c, d]: [__m512; 4]) -> __m512 {
        let m = _mm512_max_ps(_mm512_max_ps(a, b), _mm512_max_ps(c, d));
        let nan =
            _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(c, d);
        _mm512_mask_mov_ps(m, nan, _mm512_set1_ps(f32::NAN))
    }

    /// [`super::unpool_row_2x2`] (the gradient of the first `2 * grad.len()` values of each row).
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn unpool_row(
        [top, bottom]: [&[f32]; 2],
        grad: &[f32],
        [dx_top, dx_bottom]: [&mut [MaybeUninit<f32>]; 2],
    ) {
        let n = grad.len();
        super::check_rows([top, bottom], n, [&*dx_top, &*dx_bottom]);
        let (low, high) = (index(LOW), index(HIGH));
        for at in (0..n).step_by(16) {
            // SAFETY: as `corners` requires; loads and stores stay within the windows `at..n`.
            unsafe {
                let (corners, mask) = corners(top, bottom, at, n);
                let m = max4(corners);
                let g = _mm512_maskz_loadu_ps(mask, grad.as_ptr().add(at));
                // A corner holds the maximum, or is a NaN (then `m` is NaN too).
                let hit = |v: __m512| {
                    _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, m)
                        | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v)
                };
                let [a, b, c, _] = corners;
                let (ha, hb, hc) = (hit(a), hit(b), hit(c));
                let wins = [ha, hb & !ha, hc & !(ha | hb), !(ha | hb | hc)];
                let [ga, gb, gc, gd] = wins.map(|w| _mm512_maskz_mov_ps(w, g));
                let (_, lo, hi) = masks(n - at);
                for (row, (x, y)) in [(&mut *dx_top, (ga, gb)), (&mut *dx_bottom, (gc, gd))] {
                    let p = row.as_mut_ptr().add(2 * at).cast::<f32>();
                    _mm512_mask_storeu_ps(p, lo, _mm512_permutex2var_ps(x, low, y));
                    _mm512_mask_storeu_ps(
                        p.wrapping_add(16),
                        hi,
                        _mm512_permutex2var_ps(x, high, y),
                    );
                }
            }
        }
    }
}

/// The 2x2 gradient rows with AVX2 (8 windows per step), for CPUs without AVX-512 (Zen 3 and
/// older, many laptops). On a 2-core Zen 3 the scalar rows took 15% of a whole `speedrun`
/// training run (perf). Same results bit for bit as the scalar code: `_mm256_max_ps(x, y)` is
/// `if x > y { x } else { y }`, as in [`max4`].
///
/// No masked loads or stores: on AMD's Zen 3 `vmaskmovps` stores are microcoded, and a first
/// version that masked every step (the report's rows are 12 and 5 windows, so most steps were
/// partial) still took 14.9% of a `speedrun` run there (perf). A row of 8 windows or more ends
/// with a step over its last 8 windows, overlapping the one before (the overlap is written
/// twice with the same values); a shorter row goes through an 8-window buffer on the stack.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// The gradient of 8 whole windows: reads 16 floats at `top` and `bottom` and 8 at `grad`,
    /// writes 16 at `dx_top` and `dx_bottom`.
    ///
    /// # Safety
    /// The CPU has AVX2; the pointers are valid for those reads and writes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn eight_windows(
        [top, bottom]: [*const f32; 2],
        grad: *const f32,
        [dx_top, dx_bottom]: [*mut f32; 2],
    ) {
        // SAFETY: the caller's.
        unsafe {
            // The corners of 8 windows, in the window order [0, 1, 4, 5 | 2, 3, 6, 7] that
            // `shuffle_ps` leaves within its 128-bit halves (and `unpack` undoes below).
            let corners = |p: *const f32| {
                let (x, y) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
                (
                    _mm256_shuffle_ps::<0b10_00_10_00>(x, y),
                    _mm256_shuffle_ps::<0b11_01_11_01>(x, y),
                )
            };
            let ((a, b), (c, d)) = (corners(top), corners(bottom));
            let m = _mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d));
            let nan = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b),
                _mm256_cmp_ps::<_CMP_UNORD_Q>(c, d),
            );
            let m = _mm256_blendv_ps(m, _mm256_set1_ps(f32::NAN), nan);
            // The gradients of windows 0..8, put in the same order.
            let g = _mm256_loadu_ps(grad);
            let g = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(g)));
            // A corner holds the maximum, or is a NaN (then `m` is NaN too).
            let hit = |v: __m256| {
                _mm256_or_ps(
                    _mm256_cmp_ps::<_CMP_EQ_OQ>(v, m),
                    _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
                )
            };
            let (ha, hb, hc) = (hit(a), hit(b), hit(c));
            let (ab, abc) = (_mm256_or_ps(ha, hb), _mm256_or_ps(_mm256_or_ps(ha, hb), hc));
            let ones = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
            let wins = [
                ha,
                _mm256_andnot_ps(ha, hb),
                _mm256_andnot_ps(ab, hc),
                _mm256_andnot_ps(abc, ones),
            ];
            let [ga, gb, gc, gd] = wins.map(|w| _mm256_and_ps(w, g));
            for (p, (x, y)) in [(dx_top, (ga, gb)), (dx_bottom, (gc, gd))] {
                _mm256_storeu_ps(p, _mm256_unpacklo_ps(x, y));
                _mm256_storeu_ps(p.add(8), _mm256_unpackhi_ps(x, y));
            }
        }
    }

    /// [`super::unpool_row_2x2`] (the gradient of the first `2 * grad.len()` values of each row).
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn unpool_row(
        [top, bottom]: [&[f32]; 2],
        grad: &[f32],
        [dx_top, dx_bottom]: [&mut [MaybeUninit<f32>]; 2],
    ) {
        let n = grad.len();
        super::check_rows([top, bottom], n, [&*dx_top, &*dx_bottom]);
        if n >= 8 {
            // Steps at 0, 8, 16, ... and a last one at n - 8 (overlapping when 8 does not
            // divide n).
            let starts = (0..n - 7)
                .step_by(8)
                .chain((!n.is_multiple_of(8)).then_some(n - 8));
            for at in starts {
                // SAFETY: windows `at..at + 8` lie within the `n` windows whose `2n` values
                // the rows hold (checked above), and `at + 8 <= n` values of `grad`.
                unsafe {
                    eight_windows(
                        [top.as_ptr().add(2 * at), bottom.as_ptr().add(2 * at)],
                        grad.as_ptr().add(at),
                        [&mut *dx_top, &mut *dx_bottom]
                            .map(|row| row.as_mut_ptr().add(2 * at).cast()),
                    )
                }
            }
        } else if n > 0 {
            let mut rows = [[0.0f32; 16]; 2];
            let mut g = [0.0f32; 8];
            rows[0][..2 * n].copy_from_slice(&top[..2 * n]);
            rows[1][..2 * n].copy_from_slice(&bottom[..2 * n]);
            g[..n].copy_from_slice(grad);
            let mut dx = [[0.0f32; 16]; 2];
            let [dx0, dx1] = &mut dx;
            // SAFETY: the buffers hold 16, 16, 8, 16 and 16 floats.
            unsafe {
                eight_windows(
                    [rows[0].as_ptr(), rows[1].as_ptr()],
                    g.as_ptr(),
                    [dx0.as_mut_ptr(), dx1.as_mut_ptr()],
                )
            };
            for (row, values) in [(dx_top, dx[0]), (dx_bottom, dx[1])] {
                for (d, v) in row[..2 * n].iter_mut().zip(values) {
                    d.write(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_take_their_maximum_and_route_the_gradient_back_to_it() {
        // One 3x5 plane, 2x2 windows: the last row and column are left over.
        #[rustfmt::skip]
        let plane = [
            1.0, 5.0, 2.0, 2.0, 9.0,
            3.0, 4.0, 0.0, -1.0, 9.0,
            8.0, 8.0, 8.0, 8.0, 9.0,
        ];
        let g = PoolGeometry {
            planes: 1,
            height: 3,
            width: 5,
            kernel: [2, 2],
        };
        assert_eq!(g.out_size(), [1, 2]);
        assert_eq!(forward(&plane, &g), [5.0, 2.0]);
        // The tie in the second window (2.0 twice) goes to the first.
        #[rustfmt::skip]
        let expected = [
            0.0, 10.0, 20.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(backward(&plane, &[10.0, 20.0], &g), expected);
    }

    #[test]
    fn nan_wins_and_planes_are_independent() {
        let input = [1.0, f32::NAN, 3.0, 2.0, -4.0, -3.0, -2.0, -1.0];
        let g = PoolGeometry {
            planes: 2,
            height: 2,
            width: 2,
            kernel: [2, 2],
        };
        let out = forward(&input, &g);
        assert!(out[0].is_nan());
        assert_eq!(out[1], -1.0);
        assert_eq!(
            backward(&input, &[1.0, 2.0], &g),
            [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]
        );
    }

    /// The branch-free 2x2 code agrees with the general loop on every window of ties and NaNs.
    #[test]
    fn two_by_two_code_agrees_with_the_general_loop() {
        let choices = [0.0, 1.0, f32::NAN];
        let g = PoolGeometry {
            planes: 1,
            height: 2,
            width: 2,
            kernel: [2, 2],
        };
        for n in 0..81 {
            let w: Vec<f32> = (0..4).map(|i| choices[n / 3usize.pow(i) % 3]).collect();
            let (value, at) = window_max(&w, &g, 0, 0);
            assert_eq!(argmax4(w[0], w[1], w[2], w[3]), at, "{w:?}");
            let m = max4(w[0], w[1], w[2], w[3]);
            assert!(m == value || (m.is_nan() && value.is_nan()), "{w:?}");
        }
    }

    /// Which code computes the gradient rows.
    #[derive(Clone, Copy)]
    enum Rows {
        Scalar,
        /// What [`unpool_row_2x2`] picks on this CPU.
        Picked,
        #[cfg(target_arch = "x86_64")]
        Avx2,
    }

    /// The 2x2 rows (vectorized where the CPU allows) against the general window loop (the
    /// gradient bit for bit), and the scalar gradient rows against the vectorized ones (the
    /// picked ones and, where the CPU has it, AVX2), on rows of 1 to 40 windows (full and
    /// partial 16-window steps), an odd column and row left over, and values full of ties,
    /// signed zeros and NaNs.
    #[test]
    fn two_by_two_rows_agree_with_the_general_loop() {
        let choices = [0.0, -0.0, 1.0, f32::NAN, 1.0, 2.0, -1.0];
        for windows in 1..=40 {
            for (height, width) in [(4, 2 * windows), (5, 2 * windows + 1)] {
                let g = PoolGeometry {
                    planes: 2,
                    height,
                    width,
                    kernel: [2, 2],
                };
                let input: Vec<f32> = (0..2 * height * width)
                    .map(|i| choices[(i * 5 + i / 3) % choices.len()])
                    .collect();
                let [oh, ow] = g.out_size();
                let grad: Vec<f32> = (0..2 * oh * ow).map(|i| i as f32 + 1.0).collect();
                let mut expected_out = Vec::new();
                let mut expected_dx = vec![0.0f32; input.len()];
                for (p, plane) in input.chunks_exact(height * width).enumerate() {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (value, at) = window_max(plane, &g, oy, ox);
                            expected_out.push(value);
                            expected_dx[p * height * width + at] = grad[(p * oh + oy) * ow + ox];
                        }
                    }
                }
                // Values equal (a tie of 0 and -0 may give either zero), NaN where NaN.
                let out = forward(&input, &g);
                assert_eq!(out.len(), expected_out.len());
                for (i, (&a, &b)) in out.iter().zip(&expected_out).enumerate() {
                    assert!(a == b || (a.is_nan() && b.is_nan()), "{g:?} output {i}");
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let dx = backward(&input, &grad, &g);
                assert_eq!(bits(&dx), bits(&expected_dx), "{g:?}");
                for oy in 0..oh {
                    let rows = &input[2 * oy * width..];
                    let (top, bottom) = (&rows[..width], &rows[width..2 * width]);
                    let dy = &grad[oy * ow..(oy + 1) * ow];
                    let run = |rows: Rows| {
                        let mut out = vec![MaybeUninit::new(0.0f32); ow];
                        let mut dx = vec![MaybeUninit::new(0.0f32); 2 * width];
                        let (dx_top, dx_bottom) = dx.split_at_mut(width);
                        pool_row_2x2(top, bottom, &mut out);
                        let (rows_in, dx_rows) = ([top, bottom], [dx_top, dx_bottom]);
                        match rows {
                            Rows::Scalar => unpool_row_2x2_scalar(rows_in, dy, dx_rows),
                            Rows::Picked => unpool_row_2x2(rows_in, dy, dx_rows),
                            // SAFETY: only run where the CPU has AVX2 (below).
                            #[cfg(target_arch = "x86_64")]
                            Rows::Avx2 => unsafe { avx2::unpool_row(rows_in, dy, dx_rows) },
                        }
                        // SAFETY: all initialized above.
                        let read = |v: Vec<MaybeUninit<f32>>| -> Vec<u32> {
                            v.iter()
                                .map(|x| unsafe { x.assume_init() }.to_bits())
                                .collect()
                        };
                        (read(out), read(dx))
                    };
                    assert_eq!(run(Rows::Scalar), run(Rows::Picked), "{g:?} row pair {oy}");
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("avx2") {
                        assert_eq!(run(Rows::Scalar), run(Rows::Avx2), "AVX2, {g:?} {oy}");
                    }
                }
            }
        }
    }

    #[test]
    fn uneven_windows() {
        let input: Vec<f32> = (0..12).map(|v| ((v * 7) % 12) as f32).collect();
        // 2x6 plane, 2x3 windows.
        let g = PoolGeometry {
            planes: 1,
            height: 2,
            width: 6,
            kernel: [2, 3],
        };
        // Rows: [0, 7, 2, 9, 4, 11] and [6, 1, 8, 3, 10, 5].
        assert_eq!(forward(&input, &g), [8.0, 11.0]);
        let dx = backward(&input, &[1.0, 2.0], &g);
        assert_eq!(dx[8], 1.0);
        assert_eq!(dx[5], 2.0);
        assert_eq!(dx.iter().sum::<f32>(), 3.0);
    }
}
