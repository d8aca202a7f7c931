//! 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3): 2.25x fewer
//! multiplications than the im2col GEMM of [`super::gemm_conv`], for the forward pass and the
//! input gradient (itself a 3x3 convolution of the output's gradient).
//!
//! Each 2x2 block of output pixels (a *tile*) is computed from the 4x4 input pixels around it:
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` (Lavin and Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2015). Transformed, the sum over input channels of the 16 elementwise products is
//! 16 GEMMs `M_e [c_out, tiles] = U_e [c_out, c_in] · V_e [c_in, tiles]`, one per element `e`
//! of the 4x4 transform; `gemm` (the crate burn-flex itself calls) does them. The transforms are
//! adds and halvings, so the result differs from the direct sum only by float rounding (each
//! output is a different sum of the same products; the tests bound it against the im2col
//! kernel). No crate offers this on `f32` slices: burn's own convolutions are direct or im2col.
//!
//! A group of images (enough tiles for an efficient GEMM, fixed by the shapes alone) is one
//! task for rayon; every sum runs in an order fixed by the shapes, so results repeat bit for
//! bit at any thread count.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::gemm_conv::{ConvGeometry, IMAGES_PER_PARTIAL_SUM, gemm_into, sum_in_order};

/// Fewer input channels than this stay with im2col: each of the 16 GEMMs would sum fewer
/// products than the transforms cost (the complex CNN's first layer has one input channel).
const MIN_CHANNELS_IN: usize = 8;

/// Tiles per GEMM to aim for: images are grouped until their tiles reach it (one image of
/// 28x28 is 196 tiles; the 14x14 maps of the complex CNN's third conv are 49, so 3 images).
/// `benches/conv.rs`'s `gemm_at_winograd_shapes` times `gemm` at the shapes this gives; 256 and
/// 392 made `gemm` alone faster but the training step no faster (the transforms' buffers grow).
const TILES_PER_GEMM: usize = 128;

/// Whether [`forward`] covers `g`: a 3x3 kernel (any padding the geometry allows, 0 to 2) with
/// at least [`MIN_CHANNELS_IN`] input channels.
pub(crate) fn covers(g: &ConvGeometry) -> bool {
    g.kernel() == [3, 3] && g.channels_in() >= MIN_CHANNELS_IN && g.batch() > 0
}

/// Whether [`input_grad`] covers `g`: the forward pass of [`transposed`]`(g)`.
pub(crate) fn covers_input_grad(g: &ConvGeometry) -> bool {
    g.kernel() == [3, 3] && g.channels_out() >= MIN_CHANNELS_IN && g.batch() > 0
}

/// The tiles of one image's output: `[rows, columns]` of 2x2 blocks (the last row or column
/// of blocks is cut to the output where it has odd size).
fn tiles(g: &ConvGeometry) -> [usize; 2] {
    let [oh, ow] = g.out_size();
    [oh.div_ceil(2), ow.div_ceil(2)]
}

/// `U = G g Gᵀ` of every kernel, laid out `[16][c_out][c_in]`: element `e = 4 i + j` of the
/// 4x4 transform of `weight[o][c]` at `u[(e * c_out + o) * c_in + c]`. Computed tap by tap
/// over all kernels at once, so that every step is one vector pass and every store contiguous
/// (kernel by kernel, its 16 scattered stores took ~40 µs of the complex CNN's batch-1
/// latency of ~550, perf); the same operations in the same order for each kernel.
fn weight_transform(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let kernels = c_out * c_in;
    assert_eq!(weight.len(), 9 * kernels, "weight length");
    // taps[k][oc]: tap k (row k / 3, column k % 3) of kernel oc.
    let mut taps = vec![0.0f32; 9 * kernels];
    for (oc, w) in weight.chunks_exact(9).enumerate() {
        for (k, &value) in w.iter().enumerate() {
            taps[k * kernels + oc] = value;
        }
    }
    // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], applied to the rows of
    // taps `(a, b, c)`: `[a, (a + b + c) / 2, (a - b + c) / 2, c]`, into `out[0..4]`.
    let apply = |out: &mut [f32], [a, b, c]: [&[f32]; 3]| {
        let (r0, rest) = out.split_at_mut(kernels);
        let (r1, rest) = rest.split_at_mut(kernels);
        let (r2, r3) = rest.split_at_mut(kernels);
        r0.copy_from_slice(a);
        map3(r1, a, b, c, |a, b, c| 0.5 * (a + b + c));
        map3(r2, a, b, c, |a, b, c| 0.5 * (a - b + c));
        r3.copy_from_slice(c);
    };
    // First down the kernels' columns: gw[i][x] at `(4 x + i) * kernels`...
    let mut gw = vec![0.0f32; 12 * kernels];
    let tap = |k: usize| &taps[k * kernels..(k + 1) * kernels];
    for (x, column) in gw.chunks_exact_mut(4 * kernels).enumerate() {
        apply(column, [tap(x), tap(3 + x), tap(6 + x)]);
    }
    // ... then along their rows: element 4 i + j of U from gw[i][0..3].
    let mut u = vec![0.0f32; 16 * kernels];
    for (i, out) in u.chunks_exact_mut(4 * kernels).enumerate() {
        let g = |x: usize| &gw[(4 * x + i) * kernels..(4 * x + i + 1) * kernels];
        apply(out, [g(0), g(1), g(2)]);
    }
    u
}

/// `out[i] = f(a[i], b[i])` over the shortest of the three.
#[inline(always)]
fn map2(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = f(a, b);
    }
}

/// `out[i] = f(a[i], b[i], c[i])` over the shortest of the four.
#[inline(always)]
fn map3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = f(a, b, c);
    }
}

/// Per-thread scratch space of the transforms, sized for one image's tiles.
#[derive(Default)]
struct Scratch {
    /// One input plane with its padding, `[2 th + 2, 2 tw + 2]`.
    padded: Vec<f32>,
    /// 16 tile-sized arrays of the output transform, and 32 floats of room.
    samples: Vec<f32>,
    /// One padded row after `Bᵀ` down the rows, and its even and odd columns.
    rows: Vec<f32>,
}

impl Scratch {
    fn fit(&mut self, g: &ConvGeometry) {
        let [th, tw] = tiles(g);
        let padded = (2 * th + 2) * (2 * tw + 2) + PADDED_SLACK;
        if self.padded.len() < padded {
            self.padded.resize(padded, 0.0);
        }
        if self.samples.len() < 16 * th * tw + 32 {
            self.samples.resize(16 * th * tw + 32, 0.0);
        }
        if self.rows.len() < 4 * tw + 4 {
            self.rows.resize(4 * tw + 4, 0.0);
        }
    }
}

/// Floats past the padded plane that the AVX2 input transform may read (and ignore): its last
/// block of tiles loads 16 floats from 2 past the last tile's first column.
const PADDED_SLACK: usize = 16;

/// `V = Bᵀ d B` of every tile of `image` `[c_in, h, w]`, into columns `first..first + tiles` of
/// `v` `[16][c_in][n]`; tile `(ty, tx)` reads input rows `2 ty - ph ..+ 4` and columns
/// `2 tx - pw ..+ 4`, 0 outside. `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0],
/// [0, 1, 0, -1]]`: first down the four rows of a row of tiles, then along it, on the row's
/// even and odd columns split apart (so that every step is a contiguous vector operation).
fn input_transform(
    image: &[f32],
    g: &ConvGeometry,
    v: &mut [f32],
    n: usize,
    first: usize,
    scratch: &mut Scratch,
) {
    input_transform_with(image, g, v, n, first, scratch, super::avx2_allowed())
}

wide_fn! {
    /// [`input_transform`] by the AVX2 intrinsics when `avx2` (which the CPU must have), else by
    /// portable loops. Built for AVX2 as a whole too (`wide_fn!`), for the rows' copies into the
    /// padded plane.
    fn input_transform_with(
        image: &[f32],
        g: &ConvGeometry,
        v: &mut [f32],
        n: usize,
        first: usize,
        scratch: &mut Scratch,
        avx2: bool,
    ) {
        let [h, w] = g.input_size();
        let [ph, pw] = g.padding();
        let c_in = g.channels_in();
        let [th, tw] = tiles(g);
        let (pr, pc) = (2 * th + 2, 2 * tw + 2);
        assert_eq!(image.len(), c_in * h * w, "image length");
        scratch.fit(g);
        let padded = &mut scratch.padded[..pr * pc + PADDED_SLACK];
        // The image's rows `0..h` land at `ph..`, its columns at `pw..`; rows and columns past the
        // plane (the padding, and what the last tiles read beyond it) stay 0. Padding at most 2 and
        // `2 th + 2 >= oh + 2 = h + 2 ph` keep the image inside.
        padded.fill(0.0);
        let (rows_in, cols_in) = (h.min(pr - ph), w.min(pc - pw));
        // The last row written, element 15 of the last channel, ends inside `v`.
        assert!(
            (16 * c_in - 1) * n + first + th * tw <= v.len(),
            "the transformed tiles fit in v"
        );
        #[cfg(target_arch = "x86_64")]
        assert!(
            !avx2 || std::arch::is_x86_feature_detected!("avx2"),
            "the CPU has AVX2"
        );
        for (c, plane) in image.chunks_exact(h * w).enumerate() {
            for (y, src) in plane.chunks_exact(w).take(rows_in).enumerate() {
                let at = (y + ph) * pc + pw;
                copy_row(&mut padded[at..at + cols_in], &src[..cols_in]);
            }
            let rows: [usize; 16] = std::array::from_fn(|e| (e * c_in + c) * n + first);
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU has AVX2; `padded` holds the `pr x pc` plane and the slack, and
                // every output row `rows[e]..rows[e] + th * tw` lies in `v` (both checked above).
                unsafe { avx2::tile_rows(padded, [th, tw], v, rows) };
                continue;
            }
            let (down, split) = scratch.rows[..pc + 2 * (tw + 1)].split_at_mut(pc);
            let (even, odd) = split.split_at_mut(tw + 1);
            for ty in 0..th {
                let x: [&[f32]; 4] = std::array::from_fn(|r| &padded[(2 * ty + r) * pc..][..pc]);
                for i in 0..4 {
                    match i {
                        0 => map2(down, x[0], x[2], |a, c| a - c),
                        1 => map2(down, x[1], x[2], |b, c| b + c),
                        2 => map2(down, x[1], x[2], |b, c| c - b),
                        _ => map2(down, x[1], x[3], |b, d| b - d),
                    }
                    for ((pair, e), o) in down
                        .chunks_exact(2)
                        .zip(even.iter_mut())
                        .zip(odd.iter_mut())
                    {
                        *e = pair[0];
                        *o = pair[1];
                    }
                    // Tile tx reads even[tx], odd[tx], even[tx + 1], odd[tx + 1].
                    let (e0, e1, o0, o1) = (&even[..tw], &even[1..], &odd[..tw], &odd[1..]);
                    let at = |j: usize| rows[4 * i + j] + ty * tw;
                    map2(&mut v[at(0)..at(0) + tw], e0, e1, |a, c| a - c);
                    map2(&mut v[at(1)..at(1) + tw], o0, e1, |b, c| b + c);
                    map2(&mut v[at(2)..at(2) + tw], o0, e1, |b, c| c - b);
                    map2(&mut v[at(3)..at(3) + tw], o0, o1, |b, d| b - d);
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for a plane's short rows: up to 32 floats by two fixed-size moves
/// that may overlap (the same values twice), which the compiler keeps inline, where
/// `copy_from_slice` called libc's memmove for every row (~6% of the complex CNN's training,
/// perf). Longer rows, and rows under 4 floats, take `copy_from_slice`.
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [T], src: &[T]) {
    /// `dst[at..at + N] = src[at..at + N]` as one `N`-float value.
    #[inline(always)]
    fn block<T: Copy, const N: usize>(dst: &mut [T], src: &[T], at: usize) {
        let v: [T; N] = src[at..at + N].try_into().expect("N floats");
        dst[at..at + N].copy_from_slice(&v);
    }
    let len = src.len();
    assert_eq!(dst.len(), len);
    match len {
        16..=32 => {
            block::<T, 16>(dst, src, 0);
            block::<T, 16>(dst, src, len - 16);
        }
        8..16 => {
            block::<T, 8>(dst, src, 0);
            block::<T, 8>(dst, src, len - 8);
        }
        4..8 => {
            block::<T, 4>(dst, src, 0);
            block::<T, 4>(dst, src, len - 4);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// The transforms' AVX2 intrinsics: the input transform 8 tiles a step, and the moves that
/// split or interleave even and odd columns; the same operations in the same order as the
/// portable loops (so the same bits).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The even and the odd ones of the 16 floats at `p`.
    ///
    /// # Safety
    /// `p` points to 16 readable floats.
    #[target_feature(enable = "avx2")]
    unsafe fn split(p: *const f32) -> (__m256, __m256) {
        // SAFETY: the caller's guarantee.
        let (lo, hi) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
        // Per 128-bit lane: [l0 l2 h0 h2 | l4 l6 h4 h6]; then the 64-bit pairs reordered.
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
        let order = |x: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(x)))
        };
        (order(even), order(odd))
    }

    /// The four outputs `Aᵀ M A` (+ `bias`) of tiles `0..tiles`, element `e` of tile `i` at
    /// `m[at + e * stride + i]`, by the portable loops' operations in their order: tile `i`'s
    /// top pair to `top[2 i], top[2 i + 1]`, its bottom pair to `bottom[2 i], bottom[2 i + 1]`.
    /// 8 tiles a step: the last step's lanes past `tiles` read what follows in `m` and write
    /// past `2 tiles` (values no one reads) where both have room, else it is left out. Returns
    /// the tiles done (all of them, or a multiple of 8).
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn output_tiles(
        m: &[f32],
        [at, stride]: [usize; 2],
        tiles: usize,
        bias: f32,
        top: &mut [f32],
        bottom: &mut [f32],
    ) -> usize {
        let room = |blocks: usize| {
            at + 15 * stride + 8 * blocks <= m.len() && 16 * blocks <= top.len().min(bottom.len())
        };
        let blocks = if room(tiles.div_ceil(8)) {
            tiles.div_ceil(8)
        } else {
            (0..=tiles / 8).rev().find(|&b| room(b)).unwrap_or(0)
        };
        let src = m.as_ptr();
        let b = _mm256_set1_ps(bias);
        let (add, sub) = (|p, q| _mm256_add_ps(p, q), |p, q| _mm256_sub_ps(p, q));
        // [l0 r0 l1 r1 .. l7 r7] as two vectors.
        let interleave = |l, r| {
            let (lo, hi) = (_mm256_unpacklo_ps(l, r), _mm256_unpackhi_ps(l, r));
            (
                _mm256_permute2f128_ps::<0x20>(lo, hi),
                _mm256_permute2f128_ps::<0x31>(lo, hi),
            )
        };
        for k in 0..blocks {
            // SAFETY: the last load ends at at + 15 stride + 8 blocks <= m.len() (`room`).
            let v: [__m256; 16] = std::array::from_fn(|e| unsafe {
                _mm256_loadu_ps(src.add(at + e * stride + 8 * k))
            });
            let s: [__m256; 4] = std::array::from_fn(|j| add(add(v[j], v[4 + j]), v[8 + j]));
            let d: [__m256; 4] = std::array::from_fn(|j| sub(sub(v[4 + j], v[8 + j]), v[12 + j]));
            let pairs = [
                interleave(
                    add(add(add(s[0], s[1]), s[2]), b),
                    add(sub(sub(s[1], s[2]), s[3]), b),
                ),
                interleave(
                    add(add(add(d[0], d[1]), d[2]), b),
                    add(sub(sub(d[1], d[2]), d[3]), b),
                ),
            ];
            for (out, (first, second)) in [&mut *top, &mut *bottom].into_iter().zip(pairs) {
                // SAFETY: 16 k + 16 <= 16 blocks <= the output's length (`room`).
                unsafe {
                    _mm256_storeu_ps(out.as_mut_ptr().add(16 * k), first);
                    _mm256_storeu_ps(out.as_mut_ptr().add(16 * k + 8), second);
                }
            }
        }
        (8 * blocks).min(tiles)
    }

    /// `Z = A dY Aᵀ` of the tiles of one plane of the output's gradient whose two dimensions
    /// are even, from its even and odd columns (`even`, `odd`: `[2 th][tw]` each, followed by 8
    /// readable floats): element `e` of tile `(ty, tx)` to `z[rows[e] + ty * tw + tx]`, by the
    /// portable loops' operations in their order.
    ///
    /// # Safety
    /// The CPU has AVX2, `even` and `odd` are at least `2 th tw + 8` long, and
    /// `rows[e] + th * tw <= z.len()` for every `e`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn grad_tiles(
        even: &[f32],
        odd: &[f32],
        [th, tw]: [usize; 2],
        z: &mut [f32],
        rows: [usize; 16],
    ) {
        let (e, o, dst) = (even.as_ptr(), odd.as_ptr(), z.as_mut_ptr());
        let (add, sub) = (|p, q| _mm256_add_ps(p, q), |p, q| _mm256_sub_ps(p, q));
        let neg = |x| _mm256_xor_ps(x, _mm256_set1_ps(-0.0));
        for ty in 0..th {
            for tx in (0..tw).step_by(8) {
                let (top, bottom) = (2 * ty * tw + tx, (2 * ty + 1) * tw + tx);
                // SAFETY: the last read ends at (2 th - 1) tw + tx + 8 <= 2 th tw + 7, inside
                // the 8 floats past the columns (the caller's guarantee).
                let [a, b, c, d] = unsafe {
                    [
                        _mm256_loadu_ps(e.add(top)),
                        _mm256_loadu_ps(o.add(top)),
                        _mm256_loadu_ps(e.add(bottom)),
                        _mm256_loadu_ps(o.add(bottom)),
                    ]
                };
                // Down the rows: [a, b], [a + c, b + d], [a - c, b - d], [-c, -d].
                let down = [
                    (a, b),
                    (add(a, c), add(b, d)),
                    (sub(a, c), sub(b, d)),
                    (neg(c), neg(d)),
                ];
                for (i, (x0, x1)) in down.into_iter().enumerate() {
                    // Along the columns: [x0, x0 + x1, x0 - x1, -x1].
                    let out = [x0, add(x0, x1), sub(x0, x1), neg(x1)];
                    for (j, value) in out.into_iter().enumerate() {
                        // SAFETY: as `store_tiles` requires (the caller's guarantee).
                        unsafe { store_tiles(dst, rows[4 * i + j], [ty, tx], [th, tw], value) };
                    }
                }
            }
        }
    }

    /// Writes `src[2 i], src[2 i + 1]` to `even[i], odd[i]` for the first `8 k` of `i` such
    /// that `16 k <= src.len()` (and `8 k` within both halves); returns `8 k`.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) -> usize {
        let blocks = even.len().min(odd.len()).min(src.len() / 2) / 8;
        for k in 0..blocks {
            // SAFETY: block k reads src at 16 k..16 k + 16 and writes even and odd at
            // 8 k..8 k + 8, all within the lengths `blocks` was computed from.
            unsafe {
                let (e, o) = split(src.as_ptr().add(16 * k));
                _mm256_storeu_ps(even.as_mut_ptr().add(8 * k), e);
                _mm256_storeu_ps(odd.as_mut_ptr().add(8 * k), o);
            }
        }
        8 * blocks
    }

    /// Stores `value`, tiles `tx..tx + 8` of row `ty` of a plane's `th x tw` tiles, at
    /// `dst[row + ty * tw + tx..]`. Lanes past the row's last tile land on the next rows'
    /// first tiles, which later steps overwrite; only the plane's last tiles need a shorter
    /// store (a masked store is slow on AMD's cores; a copy of the lanes is not).
    ///
    /// # Safety
    /// The CPU has AVX2, `row + th * tw` floats are writable at `dst`, `ty < th`, `tx < tw`.
    #[inline(always)]
    unsafe fn store_tiles(
        dst: *mut f32,
        row: usize,
        [ty, tx]: [usize; 2],
        [th, tw]: [usize; 2],
        value: __m256,
    ) {
        let at = row + ty * tw + tx;
        // SAFETY: `at..at + 8` (a whole step) or `at..at + tw - tx` lies within
        // `row..row + th * tw` (the caller's guarantee).
        unsafe {
            if ty * tw + tx + 8 <= th * tw {
                _mm256_storeu_ps(dst.add(at), value);
            } else {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), value);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst.add(at), tw - tx);
            }
        }
    }

    /// `V` of the tiles of one padded plane `[2 th + 2, 2 tw + 2]` (followed by
    /// [`super::PADDED_SLACK`] readable floats): element `e` of tile `(ty, tx)` to
    /// `v[rows[e] + ty * tw + tx]`.
    ///
    /// # Safety
    /// The CPU has AVX2, `padded` is at least `(2 th + 2) (2 tw + 2) + PADDED_SLACK` long, and
    /// `rows[e] + th * tw <= v.len()` for every `e`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_rows(
        padded: &[f32],
        [th, tw]: [usize; 2],
        v: &mut [f32],
        rows: [usize; 16],
    ) {
        let pc = 2 * tw + 2;
        let (src, dst) = (padded.as_ptr(), v.as_mut_ptr());
        for ty in 0..th {
            for tx in (0..tw).step_by(8) {
                // Per input row r: columns 2 tx + (0, 1, 2, 3) of 8 tiles.
                // SAFETY: the last read ends at (2 th + 1) pc + 2 (tw - 1) + 18 = (2 th + 2) pc
                // + 14, inside the slack (the caller's guarantee).
                let cols: [[__m256; 4]; 4] = std::array::from_fn(|r| unsafe {
                    let at = src.add((2 * ty + r) * pc + 2 * tx);
                    let ((a, b), (c, d)) = (split(at), split(at.add(2)));
                    [a, b, c, d]
                });
                let combine = |f: fn(__m256, __m256) -> __m256, p: [__m256; 4], q: [__m256; 4]| {
                    [f(p[0], q[0]), f(p[1], q[1]), f(p[2], q[2]), f(p[3], q[3])]
                };
                let sub = |a, b| _mm256_sub_ps(a, b);
                let add = |a, b| _mm256_add_ps(a, b);
                let [x0, x1, x2, x3] = cols;
                let down = [
                    combine(sub, x0, x2),
                    combine(add, x1, x2),
                    combine(sub, x2, x1),
                    combine(sub, x1, x3),
                ];
                for (i, [a, b, c, d]) in down.into_iter().enumerate() {
                    let out = [sub(a, c), add(b, c), sub(c, b), sub(b, d)];
                    for (j, value) in out.into_iter().enumerate() {
                        // SAFETY: as `store_tiles` requires (the caller's guarantee).
                        unsafe { store_tiles(dst, rows[4 * i + j], [ty, tx], [th, tw], value) };
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` of every tile, from columns `first..first + tiles` of `m` `[16][c_out][n]`,
/// plus `bias`, written to `out` `[c_out, oh, ow]`. `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
fn output_transform(
    m: &[f32],
    n: usize,
    first: usize,
    g: &ConvGeometry,
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx2_allowed() {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { output_transform_avx2(m, n, first, g, bias, out, scratch) };
    }
    output_transform_body::<false>(m, n, first, g, bias, out, scratch)
}

/// [`output_transform_body`] compiled for AVX2 (the same operations, so the same bits).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn output_transform_avx2(
    m: &[f32],
    n: usize,
    first: usize,
    g: &ConvGeometry,
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Scratch,
) {
    output_transform_body::<true>(m, n, first, g, bias, out, scratch)
}

/// The output transform; `AVX2` (only where the CPU has it) with intrinsics. The tiles' top
/// and bottom pairs of outputs go to two arrays of interleaved pairs, whose `2 tw`-float rows
/// are the plane's even and odd rows: each then lands by one [`copy_row`]. (Interleaved row by
/// row straight into the plane, rows of 7 or 14 tiles left most pairs to a scalar loop.)
#[inline(always)]
fn output_transform_body<const AVX2: bool>(
    m: &[f32],
    n: usize,
    first: usize,
    g: &ConvGeometry,
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
    scratch: &mut Scratch,
) {
    let [oh, ow] = g.out_size();
    let c_out = g.channels_out();
    let [th, tw] = tiles(g);
    let t = th * tw;
    scratch.fit(g);
    // 8 arrays down the rows (s0..s3, d0..d3), the 4 outputs of each tile, and the pairs
    // (with room for a last step of 8 tiles).
    let (sd, rest) = scratch.samples[..16 * t + 32].split_at_mut(8 * t);
    let (ys, pairs) = rest.split_at_mut(4 * t);
    let (top, bottom) = pairs.split_at_mut(2 * t + 16);
    for (o, plane) in out.chunks_exact_mut(oh * ow).enumerate() {
        let b = bias.map_or(0.0, |b| b[o]);
        #[cfg(target_arch = "x86_64")]
        let done = if AVX2 {
            // SAFETY: `AVX2` only where the CPU has it (the callers check).
            unsafe { avx2::output_tiles(m, [o * n + first, c_out * n], t, b, top, bottom) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        // The rest (all of it without AVX2): down the rows into s0..s3 and d0..d3, then along.
        let rest = t - done;
        let r: [&[f32]; 16] =
            std::array::from_fn(|e| &m[(e * c_out + o) * n + first + done..][..rest]);
        for j in 0..4 {
            let (s, d) = sd[2 * j * rest..2 * (j + 1) * rest].split_at_mut(rest);
            map3(s, r[j], r[4 + j], r[8 + j], |a, b, c| a + b + c);
            map3(d, r[4 + j], r[8 + j], r[12 + j], |a, b, c| a - b - c);
        }
        let at = |k: usize| &sd[k * rest..(k + 1) * rest];
        let (s, d) = ([at(0), at(2), at(4), at(6)], [at(1), at(3), at(5), at(7)]);
        let (y00, ys_rest) = ys[..4 * rest].split_at_mut(rest);
        let (y01, ys_rest) = ys_rest.split_at_mut(rest);
        let (y10, y11) = ys_rest.split_at_mut(rest);
        map3(y00, s[0], s[1], s[2], |a, c, e| a + c + e + b);
        map3(y01, s[1], s[2], s[3], |a, c, e| a - c - e + b);
        map3(y10, d[0], d[1], d[2], |a, c, e| a + c + e + b);
        map3(y11, d[1], d[2], d[3], |a, c, e| a - c - e + b);
        for (i, (((&a, &b), &c), &d)) in y00.iter().zip(&*y01).zip(&*y10).zip(&*y11).enumerate() {
            let at = 2 * (done + i);
            top[at..at + 2].copy_from_slice(&[a, b]);
            bottom[at..at + 2].copy_from_slice(&[c, d]);
        }
        // Output row 2 ty is the first `ow` floats of row ty of `top` (`ow` is `2 tw`, or
        // `2 tw - 1` where the last tiles are cut), row 2 ty + 1 those of `bottom`.
        for ty in 0..th {
            let row = 2 * ty * tw..2 * ty * tw + ow;
            copy_row(
                &mut plane[2 * ty * ow..][..ow],
                as_uninit(&top[row.clone()]),
            );
            if 2 * ty + 1 < oh {
                copy_row(
                    &mut plane[(2 * ty + 1) * ow..][..ow],
                    as_uninit(&bottom[row]),
                );
            }
        }
    }
}

/// `values` as (initialized) `MaybeUninit` floats, to copy into an output being written.
fn as_uninit(values: &[f32]) -> &[MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and an initialized value is a valid
    // `MaybeUninit`; the slice is only read.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), values.len()) }
}

thread_local! {
    /// Each thread's transformed inputs, GEMM outputs and transform scratch, grown to the
    /// largest layer seen and then reused.
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>, Scratch)> = RefCell::default();
}

/// Runs `f` on this thread's buffers: the inputs' transforms `[16][c_in][n]`, the GEMMs'
/// outputs (or the gradient's transforms) `[16][c_out][n]`, and the scratch space.
fn with_buffers<R>(
    [c_in, c_out]: [usize; 2],
    n: usize,
    f: impl FnOnce(&mut [f32], &mut [f32], &mut Scratch) -> R,
) -> R {
    BUFFERS.with_borrow_mut(|(v, m, scratch)| {
        let (v_len, m_len) = (16 * c_in * n, 16 * c_out * n);
        if v.len() < v_len {
            v.resize(v_len, 0.0);
        }
        if m.len() < m_len {
            m.resize(m_len, 0.0);
        }
        f(&mut v[..v_len], &mut m[..m_len], scratch)
    })
}

/// The 16 GEMMs of the transform's elements: `dst_e [m, n] = lhs_e [m, k] · rhs_e` for each
/// element `e`, `rhs_e` being `[k, n]` or, with `rhs_transposed`, `[n, k]`; each argument holds
/// the 16 matrices one after another.
fn element_gemms(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    [m, k, n]: [usize; 3],
    rhs_transposed: bool,
) {
    assert_eq!(dst.len(), 16 * m * n, "dst length");
    for ((dst, lhs), rhs) in dst
        .chunks_exact_mut(m * n)
        .zip(lhs.chunks_exact(m * k))
        .zip(rhs.chunks_exact(k * n))
    {
        // SAFETY: `dst` is an exclusively borrowed, initialized m x n matrix (`gemm_into`
        // checks the operands' lengths).
        unsafe { gemm_into(dst.as_mut_ptr(), lhs, rhs, [m, k, n], rhs_transposed, false) };
    }
}

/// The convolution `[batch, c_out, oh, ow]` of `input` `[batch, c_in, h, w]` with 3x3 `weight`
/// `[c_out, c_in, 3, 3]`, plus `bias`, for a geometry [`covers`] accepts.
pub(crate) fn forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    g.check(input);
    assert!(covers(g), "not a Winograd geometry: {g:?}");
    g.check_weights(weight, bias);
    let (c_in, c_out) = (g.channels_in(), g.channels_out());
    let u = weight_transform(weight, c_out, c_in);
    let [th, tw] = tiles(g);
    let per_image = th * tw;
    let group = TILES_PER_GEMM.div_ceil(per_image).max(1);
    let (in_len, out_len) = (g.input_len(), g.output_len());
    let len = g.batch() * out_len;
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(group * out_len)
            .zip(input.par_chunks(group * in_len))
            .for_each(|(outs, images)| {
                let n = images.len() / in_len * per_image;
                with_buffers([c_in, c_out], n, |v, m, scratch| {
                    for (i, image) in images.chunks_exact(in_len).enumerate() {
                        input_transform(image, g, v, n, i * per_image, scratch);
                    }
                    element_gemms(m, &u, v, [c_out, c_in, n], false);
                    for (i, out) in outs.chunks_exact_mut(out_len).enumerate() {
                        output_transform(m, n, i * per_image, g, bias, out, scratch);
                    }
                });
            });
    };
    // SAFETY: `output` is `batch` chunks of `out_len`, zipped group by group with the `batch`
    // images, and `output_transform` writes every pixel of every plane of its chunk (the tiles
    // cover the output).
    unsafe { super::fully_written(len, fill) }
}

/// The geometry whose forward pass is `g`'s input gradient: the output's gradient convolved
/// with the kernels flipped and transposed, padded by `2 - padding` (a 3x3 kernel).
pub(crate) fn transposed(g: &ConvGeometry) -> ConvGeometry {
    let [ph, pw] = g.padding();
    ConvGeometry::new(
        g.batch(),
        g.channels_out(),
        g.out_size(),
        g.channels_in(),
        [3, 3],
        [2 - ph, 2 - pw],
    )
    .expect("the transpose of a valid 3x3 geometry is valid")
}

/// Gradient of the input `[batch, c_in, h, w]` for a geometry [`covers_input_grad`] accepts:
/// [`forward`] of the output's gradient with `weight[o][c][ky][kx]` moved to
/// `[c][o][2 - ky][2 - kx]`, under [`transposed`]`(g)`.
pub(crate) fn input_grad(output_grad: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    assert!(covers_input_grad(g), "not a Winograd geometry: {g:?}");
    g.check_weights(weight, None);
    let (c_in, c_out) = (g.channels_in(), g.channels_out());
    let mut flipped = vec![0.0f32; weight.len()];
    for (oc, kernel) in weight.chunks_exact(9).enumerate() {
        let (o, c) = (oc / c_in, oc % c_in);
        let dst = &mut flipped[(c * c_out + o) * 9..][..9];
        for (d, &w) in dst.iter_mut().zip(kernel.iter().rev()) {
            *d = w;
        }
    }
    forward(output_grad, &flipped, None, &transposed(g))
}

/// `Z = A dY Aᵀ` of every 2x2 tile of `output_grad` `[c_out, oh, ow]` (0 past its edges), into
/// columns `first..first + tiles` of `z` `[16][c_out][n]`: the gradient of `U ⊙ V` under
/// [`output_transform`]. `A = [[1, 0], [1, 1], [1, -1], [0, -1]]`.
fn grad_transform(
    output_grad: &[f32],
    g: &ConvGeometry,
    z: &mut [f32],
    n: usize,
    first: usize,
    scratch: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx2_allowed() {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { grad_transform_avx2(output_grad, g, z, n, first, scratch) };
    }
    grad_transform_body::<false>(output_grad, g, z, n, first, scratch)
}

/// [`grad_transform_body`] compiled for AVX2 (the same operations, so the same bits).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn grad_transform_avx2(
    output_grad: &[f32],
    g: &ConvGeometry,
    z: &mut [f32],
    n: usize,
    first: usize,
    scratch: &mut Scratch,
) {
    grad_transform_body::<true>(output_grad, g, z, n, first, scratch)
}

/// The gradient's transform; `AVX2` (only where the CPU has it) splits rows with intrinsics.
#[inline(always)]
fn grad_transform_body<const AVX2: bool>(
    output_grad: &[f32],
    g: &ConvGeometry,
    z: &mut [f32],
    n: usize,
    first: usize,
    scratch: &mut Scratch,
) {
    let [oh, ow] = g.out_size();
    let c_out = g.channels_out();
    let [th, tw] = tiles(g);
    scratch.fit(g);
    #[cfg(target_arch = "x86_64")]
    if AVX2 && oh % 2 == 0 && ow % 2 == 0 {
        // Even sizes (the complex CNN's): the plane's columns split apart in one pass, and
        // every tile's 16 values computed from them 8 tiles at a time (row by row, the 7 or 14
        // tiles of a row left most of them to scalar loops).
        // `Scratch::fit` gave `samples` 16 th tw + 32 floats, more than the 4 th tw + 16 here.
        let len = oh * tw;
        let (even, odd) = scratch.samples[..2 * (len + 8)].split_at_mut(len + 8);
        assert!(
            (16 * c_out - 1) * n + first + th * tw <= z.len(),
            "the transformed tiles fit in z"
        );
        for (o, plane) in output_grad.chunks_exact(oh * ow).enumerate() {
            // SAFETY: `AVX2` only where the CPU has it (the callers check).
            let done = unsafe { avx2::deinterleave(plane, &mut even[..len], &mut odd[..len]) };
            for (i, pair) in plane.chunks_exact(2).enumerate().skip(done) {
                (even[i], odd[i]) = (pair[0], pair[1]);
            }
            let rows: [usize; 16] = std::array::from_fn(|e| (e * c_out + o) * n + first);
            // SAFETY: as above; `even` and `odd` hold `2 th tw = len` floats and 8 more, and
            // every row `rows[e]..rows[e] + th * tw` lies in `z` (checked above).
            unsafe { avx2::grad_tiles(even, odd, [th, tw], z, rows) };
        }
        return;
    }
    // The even and odd columns of a tile's two rows (a b / c d), then A applied down them.
    let (split, rows) = scratch.samples[..12 * tw].split_at_mut(4 * tw);
    let (top, bottom) = split.split_at_mut(2 * tw);
    for (o, plane) in output_grad.chunks_exact(oh * ow).enumerate() {
        for ty in 0..th {
            for (dy, half) in [&mut *top, &mut *bottom].into_iter().enumerate() {
                let (even, odd) = half.split_at_mut(tw);
                let oy = 2 * ty + dy;
                if oy >= oh {
                    even.fill(0.0);
                    odd.fill(0.0);
                    continue;
                }
                let mut src = &plane[oy * ow..(oy + 1) * ow];
                let (mut even, mut odd) = (even, odd);
                #[cfg(target_arch = "x86_64")]
                if AVX2 {
                    // SAFETY: `AVX2` only where the CPU has it (the callers check).
                    let done = unsafe { avx2::deinterleave(src, even, odd) };
                    (src, even, odd) = (&src[2 * done..], &mut even[done..], &mut odd[done..]);
                }
                let mut pairs = src.chunks_exact(2);
                for ((pair, e), od) in (&mut pairs).zip(even.iter_mut()).zip(odd.iter_mut()) {
                    *e = pair[0];
                    *od = pair[1];
                }
                if let [last] = pairs.remainder() {
                    even[even.len() - 1] = *last;
                    odd[odd.len() - 1] = 0.0;
                }
            }
            let (a, b) = top.split_at(tw);
            let (c, d) = bottom.split_at(tw);
            // Down the rows: [a, b], [a + c, b + d], [a - c, b - d], [-c, -d], as (even, odd).
            let (r1e, rest) = rows.split_at_mut(tw);
            let (r1o, rest) = rest.split_at_mut(tw);
            let (r2e, rest) = rest.split_at_mut(tw);
            let (r2o, rest) = rest.split_at_mut(tw);
            let (r3e, r3o) = rest.split_at_mut(tw);
            map2(r1e, a, c, |a, c| a + c);
            map2(r1o, b, d, |b, d| b + d);
            map2(r2e, a, c, |a, c| a - c);
            map2(r2o, b, d, |b, d| b - d);
            map2(r3e, c, c, |c, _| -c);
            map2(r3o, d, d, |d, _| -d);
            let rows: [(&[f32], &[f32]); 4] = [(a, b), (r1e, r1o), (r2e, r2o), (r3e, r3o)];
            // Along the columns: [x0, x0 + x1, x0 - x1, -x1].
            for (i, (x0, x1)) in rows.into_iter().enumerate() {
                let at = |j: usize| ((4 * i + j) * c_out + o) * n + first + ty * tw;
                z[at(0)..at(0) + tw].copy_from_slice(x0);
                map2(&mut z[at(1)..at(1) + tw], x0, x1, |p, q| p + q);
                map2(&mut z[at(2)..at(2) + tw], x0, x1, |p, q| p - q);
                map2(&mut z[at(3)..at(3) + tw], x1, x1, |q, _| -q);
            }
        }
    }
}

/// Gradient of the 3x3 weight `[c_out, c_in, 3, 3]` for a geometry [`covers`] accepts, given
/// the input and the output's gradient: with `V` the inputs' transforms and `Z` the gradient's
/// ([`grad_transform`]), `dU_e = Σ_tiles Z_e · V_eᵀ` (16 GEMMs summed over the images), and
/// `dW = Gᵀ dU G`, the gradient of `U = G W Gᵀ`.
pub(crate) fn weight_grad(input: &[f32], output_grad: &[f32], g: &ConvGeometry) -> Vec<f32> {
    g.check(input);
    assert!(covers(g), "not a Winograd geometry: {g:?}");
    g.check_output_grad(output_grad);
    let (c_in, c_out) = (g.channels_in(), g.channels_out());
    let [th, tw] = tiles(g);
    let per_image = th * tw;
    let (in_len, out_len) = (g.input_len(), g.output_len());
    let partial_sums: Vec<Vec<f32>> = output_grad
        .par_chunks(IMAGES_PER_PARTIAL_SUM * out_len)
        .zip(input.par_chunks(IMAGES_PER_PARTIAL_SUM * in_len))
        .map(|(dys, images)| {
            let n = images.len() / in_len * per_image;
            let mut du = vec![0.0f32; 16 * c_out * c_in];
            with_buffers([c_in, c_out], n, |v, z, scratch| {
                for (i, (image, dy)) in images
                    .chunks_exact(in_len)
                    .zip(dys.chunks_exact(out_len))
                    .enumerate()
                {
                    input_transform(image, g, v, n, i * per_image, scratch);
                    grad_transform(dy, g, z, n, i * per_image, scratch);
                }
                // `v` is `[c_in, n]`: the transposed right-hand side `[n, c_in]`. (`gemm` packs
                // it one float at a time, as the left-hand side of `dUᵀ_e = V_e · Z_eᵀ`; an 8x8
                // transpose in registers first measured 0.93-1.05x, so it was not kept.)
                element_gemms(&mut du, z, v, [c_out, n, c_in], true);
            });
            du
        })
        .collect();
    let du = sum_in_order(partial_sums, 16 * c_out * c_in);
    // dW = Gᵀ dU G, Gᵀ = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]].
    let back =
        |[m0, m1, m2, m3]: [f32; 4]| [m0 + 0.5 * (m1 + m2), 0.5 * (m1 - m2), 0.5 * (m1 + m2) + m3];
    let mut weight_grad = vec![0.0f32; c_out * c_in * 9];
    for (oc, dw) in weight_grad.chunks_exact_mut(9).enumerate() {
        let m = |e: usize| du[e * c_out * c_in + oc];
        let cols: [[f32; 3]; 4] =
            std::array::from_fn(|j| back([m(j), m(4 + j), m(8 + j), m(12 + j)]));
        for ky in 0..3 {
            let row = back([cols[0][ky], cols[1][ky], cols[2][ky], cols[3][ky]]);
            dw[3 * ky..3 * ky + 3].copy_from_slice(&row);
        }
    }
    weight_grad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm_conv;

    /// Values in [-1, 1) from a fixed linear congruential sequence.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The largest difference, relative to the largest magnitude of `reference`.
    fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
        assert_eq!(ours.len(), reference.len());
        let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = ours
            .iter()
            .zip(reference)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        diff / scale
    }

    /// `(batch, channels_in, [height, width], channels_out, padding)`.
    type Case = (usize, usize, [usize; 2], usize, [usize; 2]);

    /// Shapes: the complex CNN's second and third convs, odd sizes (cut tiles), every padding,
    /// batches that leave a partial group.
    const CASES: [Case; 6] = [
        (3, 32, [28, 28], 64, [1, 1]),
        (7, 64, [14, 14], 64, [1, 1]),
        (2, 8, [7, 9], 11, [1, 1]),
        (4, 24, [12, 12], 16, [0, 0]),
        (1, 9, [5, 6], 10, [2, 2]),
        (5, 8, [3, 3], 8, [0, 1]),
    ];

    #[test]
    fn forward_and_gradients_match_the_im2col_kernel_to_float_rounding() {
        for (i, &(batch, c_in, size, c_out, padding)) in CASES.iter().enumerate() {
            let g = ConvGeometry::new(batch, c_in, size, c_out, [3, 3], padding).unwrap();
            assert!(covers(&g) && covers_input_grad(&g));
            let seed = i as u64 * 4;
            let input = values(g.batch() * g.input_len(), seed);
            let weight = values(g.weight_len(), seed + 1);
            let bias = values(c_out, seed + 2);
            let dy = values(g.batch() * g.output_len(), seed + 3);
            let ours = forward(&input, &weight, Some(&bias), &g);
            let reference = gemm_conv::forward(&input, &weight, Some(&bias), &g);
            let error = relative_error(&ours, &reference);
            assert!(error < 2e-6, "forward, case {i}: relative error {error}");
            let ours = input_grad(&dy, &weight, &g);
            let reference = gemm_conv::input_grad(&dy, &weight, &g);
            let error = relative_error(&ours, &reference);
            assert!(
                error < 2e-6,
                "input gradient, case {i}: relative error {error}"
            );
            let ours = weight_grad(&input, &dy, &g);
            let reference = gemm_conv::weight_grad(&input, &dy, &g);
            let error = relative_error(&ours, &reference);
            assert!(
                error < 2e-6,
                "weight gradient, case {i}: relative error {error}"
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_input_transform_gives_the_portable_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for (i, &(batch, c_in, size, c_out, padding)) in CASES.iter().enumerate() {
            let g = ConvGeometry::new(batch, c_in, size, c_out, [3, 3], padding).unwrap();
            let image = values(g.input_len(), i as u64);
            let [th, tw] = tiles(&g);
            let n = th * tw + 3;
            let run = |avx2| {
                let mut v = vec![f32::NAN; 16 * c_in * n];
                input_transform_with(&image, &g, &mut v, n, 2, &mut Scratch::default(), avx2);
                v
            };
            let (portable, avx2) = (run(false), run(true));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&portable), bits(&avx2), "case {i}");
            // The columns around the image's tiles are left as they were.
            assert!(
                portable
                    .chunks_exact(n)
                    .all(|row| row[..2].iter().chain(&row[n - 1..]).all(|x| x.is_nan()))
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_output_and_gradient_transforms_give_the_portable_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (i, &(batch, c_in, size, c_out, padding)) in CASES.iter().enumerate() {
            let g = ConvGeometry::new(batch, c_in, size, c_out, [3, 3], padding).unwrap();
            let [th, tw] = tiles(&g);
            let n = th * tw + 3;
            let m = values(16 * c_out * n, i as u64);
            let bias = values(c_out, i as u64 + 1);
            let output = |avx2: bool| {
                let mut out = vec![MaybeUninit::new(f32::NAN); g.output_len()];
                let scratch = &mut Scratch::default();
                if avx2 {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe { output_transform_avx2(&m, n, 2, &g, Some(&bias), &mut out, scratch) };
                } else {
                    output_transform_body::<false>(&m, n, 2, &g, Some(&bias), &mut out, scratch);
                }
                // SAFETY: initialized above (NaN, then overwritten).
                out.into_iter()
                    .map(|v| unsafe { v.assume_init() })
                    .collect::<Vec<f32>>()
            };
            let portable = output(false);
            assert!(
                portable.iter().all(|v| v.is_finite()),
                "every output pixel written"
            );
            assert_eq!(
                bits(&portable),
                bits(&output(true)),
                "output transform, case {i}"
            );
            let dy = values(g.output_len(), i as u64 + 2);
            let gradient = |avx2: bool| {
                let mut z = vec![f32::NAN; 16 * c_out * n];
                let scratch = &mut Scratch::default();
                if avx2 {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe { grad_transform_avx2(&dy, &g, &mut z, n, 2, scratch) };
                } else {
                    grad_transform_body::<false>(&dy, &g, &mut z, n, 2, scratch);
                }
                z
            };
            assert_eq!(
                bits(&gradient(false)),
                bits(&gradient(true)),
                "gradient transform, case {i}"
            );
        }
    }

    #[test]
    fn runs_repeat_bit_for_bit_at_any_thread_count() {
        let g = ConvGeometry::new(7, 64, [14, 14], 64, [3, 3], [1, 1]).unwrap();
        let input = values(g.batch() * g.input_len(), 9);
        let weight = values(g.weight_len(), 10);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| forward(&input, &weight, None, &g))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(1));
    }

    /// `weight_transform` as it was written kernel by kernel: the same bits.
    #[test]
    fn the_weight_transform_is_g_w_gt_kernel_by_kernel() {
        for (c_out, c_in) in [(1, 1), (3, 5), (64, 32)] {
            let weight = values(9 * c_out * c_in, (c_out * 100 + c_in) as u64);
            let mut expected = vec![0.0f32; 16 * c_out * c_in];
            for (oc, w) in weight.chunks_exact(9).enumerate() {
                let mut gw = [[0.0f32; 3]; 4];
                for x in 0..3 {
                    let (a, b, c) = (w[x], w[3 + x], w[6 + x]);
                    gw[0][x] = a;
                    gw[1][x] = 0.5 * (a + b + c);
                    gw[2][x] = 0.5 * (a - b + c);
                    gw[3][x] = c;
                }
                for (i, &[a, b, c]) in gw.iter().enumerate() {
                    let row = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                    for (j, v) in row.into_iter().enumerate() {
                        expected[(4 * i + j) * c_out * c_in + oc] = v;
                    }
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&weight_transform(&weight, c_out, c_in)),
                bits(&expected),
                "{c_out} x {c_in}"
            );
        }
    }

    #[test]
    fn copy_row_copies_every_length() {
        for len in 0..=40 {
            let src: Vec<f32> = (0..len).map(|i| i as f32 + 0.5).collect();
            let mut dst = vec![-1.0; len];
            copy_row(&mut dst, &src);
            assert_eq!(dst, src, "len {len}");
        }
    }

    #[test]
    fn only_3x3_kernels_with_enough_channels_are_covered() {
        let geometry = |c_in, c_out, kernel| {
            ConvGeometry::new(2, c_in, [10, 10], c_out, kernel, [1, 1]).unwrap()
        };
        assert!(!covers(&geometry(1, 32, [3, 3])));
        assert!(covers_input_grad(&geometry(1, 32, [3, 3])));
        assert!(!covers(&geometry(32, 32, [5, 5])));
        assert!(!covers_input_grad(&geometry(32, 4, [3, 3])));
    }
}
