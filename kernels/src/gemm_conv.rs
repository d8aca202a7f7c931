//! Stride-1 convolution on `f32` slices as one GEMM per image, forward and both gradients.
//!
//! burn-flex 0.22 convolves in tiles of 512 output pixels: for every (image, tile) it fills a
//! freshly zeroed im2col buffer, calls `gemm` (which re-packs the weights each time) and scatters
//! the tile's result channel by channel into NCHW. Profiled on the complex CNN, that work around
//! the GEMMs took about half of a training step (`results/performance.md`). Here each image is
//! one GEMM over all its pixels: its patches are copied once into a per-thread buffer that lives
//! as long as the thread, and the GEMM writes NCHW rows directly. The gradients are GEMMs of the
//! same shape: the weight gradient sums `dY · patchesᵀ` over the images, and the input gradient
//! is the patches' gradient `weightᵀ · dY` added back onto the pixels (`col2im`; stride 1 only).
//!
//! No crate offers this for burn tensors; `gemm` (the kernel burn-flex itself calls) does the
//! arithmetic, rayon spreads the images over the threads. 3x3 kernels with 8 or more channels
//! go to `winograd.rs` unless [`super::ConvAlgorithm::Im2col`] is chosen; these kernels are its
//! reference in the tests.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::lanes::plane_sum;

/// The shapes of one 2D convolution with stride 1, dilation 1 and one group. Built only through
/// [`ConvGeometry::new`], which refuses what the kernels do not cover and shapes whose buffer
/// lengths overflow `usize`; every kernel below checks its slices against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    batch: usize,
    channels_in: usize,
    height: usize,
    width: usize,
    channels_out: usize,
    /// `[height, width]`.
    kernel: [usize; 2],
    /// Zero padding on both sides, `[rows, columns]`; each below the kernel's extent.
    padding: [usize; 2],
}

impl ConvGeometry {
    /// The geometry of `batch` images `[channels_in, height, width]` convolved with
    /// `channels_out` kernels `[channels_in, kh, kw]` and `padding`, or `None` unless the kernels
    /// cover it: a non-empty kernel, padding below the kernel's extent (every output pixel sees
    /// the image, as in every layer here), a non-empty output, and buffer lengths (input,
    /// output, weight, patches) that fit in `usize`.
    pub(crate) fn new(
        batch: usize,
        channels_in: usize,
        [height, width]: [usize; 2],
        channels_out: usize,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> Option<Self> {
        let g = Self {
            batch,
            channels_in,
            height,
            width,
            channels_out,
            kernel,
            padding,
        };
        (g.is_supported() && g.checked_lengths().is_some()).then_some(g)
    }

    fn is_supported(&self) -> bool {
        let [kh, kw] = self.kernel;
        kh > 0
            && kw > 0
            && self.padding[0] < kh
            && self.padding[1] < kw
            && self
                .height
                .saturating_add(self.padding[0].saturating_mul(2))
                >= kh
            && self.width.saturating_add(self.padding[1].saturating_mul(2)) >= kw
    }

    /// Input, output, weight and patch-buffer lengths, `None` if one overflows.
    fn checked_lengths(&self) -> Option<[usize; 4]> {
        let out = |size: usize, pad: usize, k: usize| {
            size.checked_add(pad.checked_mul(2)?)?
                .checked_add(1)?
                .checked_sub(k)
        };
        let oh = out(self.height, self.padding[0], self.kernel[0])?;
        let ow = out(self.width, self.padding[1], self.kernel[1])?;
        let spatial = oh.checked_mul(ow)?;
        let patch = self
            .channels_in
            .checked_mul(self.kernel[0])?
            .checked_mul(self.kernel[1])?;
        let input = self
            .channels_in
            .checked_mul(self.height)?
            .checked_mul(self.width)?
            .checked_mul(self.batch)?;
        let output = self
            .channels_out
            .checked_mul(spatial)?
            .checked_mul(self.batch)?;
        let weight = self.channels_out.checked_mul(patch)?;
        Some([input, output, weight, patch.checked_mul(spatial)?])
    }

    /// Output `[height, width]`: `input + 2 * padding - kernel + 1`.
    pub(crate) fn out_size(&self) -> [usize; 2] {
        [
            self.height + 2 * self.padding[0] + 1 - self.kernel[0],
            self.width + 2 * self.padding[1] + 1 - self.kernel[1],
        ]
    }

    /// `[batch, channels_in, height, width]`.
    pub(crate) fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.channels_in, self.height, self.width]
    }

    /// `[batch, channels_out, oh, ow]`.
    pub(crate) fn output_shape(&self) -> [usize; 4] {
        let [oh, ow] = self.out_size();
        [self.batch, self.channels_out, oh, ow]
    }

    /// `[channels_out, channels_in, kh, kw]`.
    pub(crate) fn weight_shape(&self) -> [usize; 4] {
        let [kh, kw] = self.kernel;
        [self.channels_out, self.channels_in, kh, kw]
    }

    /// Images in the batch.
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// Input channels.
    pub(crate) fn channels_in(&self) -> usize {
        self.channels_in
    }

    /// Output channels.
    pub(crate) fn channels_out(&self) -> usize {
        self.channels_out
    }

    /// Input `[height, width]`.
    pub(crate) fn input_size(&self) -> [usize; 2] {
        [self.height, self.width]
    }

    /// Kernel `[height, width]`.
    pub(crate) fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    /// Zero padding `[rows, columns]`.
    pub(crate) fn padding(&self) -> [usize; 2] {
        self.padding
    }

    fn patch_len(&self) -> usize {
        self.channels_in * self.kernel[0] * self.kernel[1]
    }

    pub(crate) fn input_len(&self) -> usize {
        self.channels_in * self.height * self.width
    }

    pub(crate) fn output_len(&self) -> usize {
        let [oh, ow] = self.out_size();
        self.channels_out * oh * ow
    }

    pub(crate) fn weight_len(&self) -> usize {
        self.channels_out * self.patch_len()
    }

    /// Panics unless `output_grad` is the gradient of a whole batch's output.
    pub(crate) fn check_output_grad(&self, output_grad: &[f32]) {
        assert_eq!(
            output_grad.len(),
            self.batch * self.output_len(),
            "gradient length"
        );
    }

    /// Panics unless `weight` (and `bias`, where given) have this convolution's lengths.
    pub(crate) fn check_weights(&self, weight: &[f32], bias: Option<&[f32]>) {
        assert_eq!(weight.len(), self.weight_len(), "weight length");
        if let Some(bias) = bias {
            assert_eq!(bias.len(), self.channels_out, "bias length");
        }
    }

    /// Panics unless the geometry is one [`Self::new`] accepts (a geometry is built only there;
    /// this guards the unsafe GEMM all the same) and `input` is a whole batch.
    pub(crate) fn check(&self, input: &[f32]) {
        self.check_geometry();
        assert_eq!(input.len(), self.batch * self.input_len(), "input length");
    }

    fn check_geometry(&self) {
        assert!(
            self.is_supported() && self.checked_lengths().is_some(),
            "unsupported geometry {self:?}"
        );
    }
}

thread_local! {
    /// Each thread's im2col buffer, grown to the largest layer seen and then reused.
    static PATCHES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the first `len` floats of this thread's patch buffer (grown as needed).
fn with_patch_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    PATCHES.with_borrow_mut(|buffer| {
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

/// Runs `f` with this thread's patch buffer holding `image`'s patches `[patch_len, oh * ow]`.
fn with_patches<R>(image: &[f32], g: &ConvGeometry, f: impl FnOnce(&[f32]) -> R) -> R {
    let [oh, ow] = g.out_size();
    with_patch_buffer(g.patch_len() * oh * ow, |patches| {
        im2col(image, g, patches);
        f(patches)
    })
}

/// The output columns `first..end` of patch row `(_, _, kx)` whose input column
/// `ox + kx - pw` lies inside the image (the others are padding).
fn columns_inside(g: &ConvGeometry, kx: usize) -> (usize, usize) {
    let [_, ow] = g.out_size();
    let pw = g.padding[1];
    let first = pw.saturating_sub(kx).min(ow);
    (first, (g.width + pw).saturating_sub(kx).clamp(first, ow))
}

/// Copies one image's `[channels_in, height, width]` patches into `patches`, laid out
/// `[channels_in * kh * kw, oh * ow]`: row `(c, ky, kx)` holds `image[c][oy + ky - ph][ox + kx - pw]`
/// for every output pixel `(oy, ox)`, 0 where that falls in the padding.
pub(crate) fn im2col(image: &[f32], g: &ConvGeometry, patches: &mut [f32]) {
    let [oh, ow] = g.out_size();
    let [kh, kw] = g.kernel;
    let [ph, pw] = g.padding;
    let (h, w) = (g.height, g.width);
    g.check_geometry();
    assert_eq!(image.len(), g.input_len(), "image length");
    assert_eq!(
        patches.len(),
        g.patch_len() * oh * ow,
        "patch buffer length"
    );
    let mut rows = patches.chunks_exact_mut(oh * ow);
    for plane in image.chunks_exact(h * w) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("one row per (channel, ky, kx)");
                let (first, end) = columns_inside(g, kx);
                for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                    let iy = oy + ky;
                    if iy < ph || iy - ph >= h {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[(iy - ph) * w..(iy - ph + 1) * w];
                    dst[..first].fill(0.0);
                    if end > first {
                        dst[first..end].copy_from_slice(&src[first + kx - pw..end + kx - pw]);
                    }
                    dst[end..].fill(0.0);
                }
            }
        }
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs`, row-major, where `rhs` is `[k, n]` or, with
/// `rhs_transposed`, `[n, k]`; `accumulate` adds to `dst` instead of overwriting it.
///
/// # Safety
/// `dst` points to `m * n` writable floats that nothing else accesses during the call, all
/// initialized when `accumulate`.
pub(crate) unsafe fn gemm_into(
    dst: *mut f32,
    lhs: &[f32],
    rhs: &[f32],
    [m, k, n]: [usize; 3],
    rhs_transposed: bool,
    accumulate: bool,
) {
    assert_eq!(lhs.len(), m * k, "lhs length");
    assert_eq!(rhs.len(), k * n, "rhs length");
    let rhs_strides = if rhs_transposed {
        [k as isize, 1]
    } else {
        [1, n as isize]
    };
    // SAFETY: `lhs` and `rhs` hold exactly the m x k and k x n matrices the strides describe
    // (checked above); `dst` as the caller guarantees.
    unsafe {
        gemm_strided(
            [m, n, k],
            dst,
            [1, n as isize],
            accumulate,
            lhs.as_ptr(),
            [1, k as isize],
            rhs.as_ptr(),
            rhs_strides,
            gemm::Parallelism::None,
        );
    }
}

/// The one `gemm` call of our kernels: `dst[m x n] (+)= lhs[m x k] · rhs[k x n]`, each operand
/// given by its pointer and (column, row) strides in elements; `accumulate` adds to `dst`
/// (gemm's `read_dst`) instead of overwriting it.
///
/// # Safety
/// The pointers and strides must address valid `m x n`, `m x k` and `k x n` matrices, `dst`
/// writable, not overlapping the others and (when `accumulate`) initialized, and no other
/// thread may touch `dst`'s elements during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_strided(
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    dst_strides: [isize; 2],
    accumulate: bool,
    lhs: *const f32,
    lhs_strides: [isize; 2],
    rhs: *const f32,
    rhs_strides: [isize; 2],
    parallelism: gemm::Parallelism,
) {
    // SAFETY: as the caller guarantees.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_strides[0],
            dst_strides[1],
            accumulate,
            lhs,
            lhs_strides[0],
            lhs_strides[1],
            rhs,
            rhs_strides[0],
            rhs_strides[1],
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs`, as [`gemm_into`], into an initialized matrix.
fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    shape: [usize; 3],
    rhs_transposed: bool,
    accumulate: bool,
) {
    assert_eq!(dst.len(), shape[0] * shape[2], "dst length");
    // SAFETY: `dst` is an exclusively borrowed, initialized m x n matrix.
    unsafe {
        gemm_into(
            dst.as_mut_ptr(),
            lhs,
            rhs,
            shape,
            rhs_transposed,
            accumulate,
        )
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]` into memory that is read only with `accumulate`.
///
/// # Safety
/// With `accumulate`, all of `dst` must be initialized.
unsafe fn matmul_uninit(
    dst: &mut [MaybeUninit<f32>],
    lhs: &[f32],
    rhs: &[f32],
    shape: [usize; 3],
    accumulate: bool,
) {
    assert_eq!(dst.len(), shape[0] * shape[2], "dst length");
    // SAFETY: `dst` is an exclusively borrowed m x n matrix, initialized when `accumulate`
    // (the caller's guarantee); `gemm` writes every element.
    unsafe { gemm_into(dst.as_mut_ptr().cast(), lhs, rhs, shape, false, accumulate) }
}

/// The convolution `[batch, channels_out, oh, ow]` of `input` `[batch, channels_in, h, w]` with
/// `weight` `[channels_out, channels_in, kh, kw]`, plus `bias` `[channels_out]`.
pub(crate) fn forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    g.check(input);
    g.check_weights(weight, bias);
    let [oh, ow] = g.out_size();
    let spatial = oh * ow;
    let len = g.batch * g.output_len();
    if len == 0 {
        return vec![];
    }
    if g.input_len() == 0 {
        // No input channels, or an image of zero rows or columns with padding: every output
        // pixel sees only zeros, so the output is the bias.
        let mut output = vec![0.0f32; len];
        if let Some(bias) = bias {
            for (row, &b) in output.chunks_exact_mut(spatial).zip(bias.iter().cycle()) {
                row.fill(b);
            }
        }
        return output;
    }
    let fill = |output: &mut [MaybeUninit<f32>]| {
        // One output chunk per input image: `batch` of each (the lengths were checked above).
        output
            .par_chunks_mut(g.output_len())
            .zip(input.par_chunks(g.input_len()))
            .for_each(|(out, image)| {
                if let Some(bias) = bias {
                    for (row, &b) in out.chunks_exact_mut(spatial).zip(bias) {
                        row.iter_mut().for_each(|v| {
                            v.write(b);
                        });
                    }
                }
                with_patches(image, g, |patches| {
                    let shape = [g.channels_out, g.patch_len(), spatial];
                    // SAFETY: without a bias the GEMM writes all of `out` without reading
                    // it; with one, the bias rows above initialized all of it.
                    unsafe { matmul_uninit(out, weight, patches, shape, bias.is_some()) };
                });
            });
    };
    // SAFETY: `output` is `batch` chunks of `channels_out x spatial`, each zipped with one of
    // the `batch` images (`input_len() > 0`), and each is the GEMM's whole output.
    unsafe { super::fully_written(len, fill) }
}

/// Images per partial sum of the weight gradient. Fixed, not chosen by the thread count or by
/// rayon's work stealing, so that the sum is added up in the same order on every run at any
/// thread count: training on one machine repeats bit for bit. (Not across CPUs: `gemm` picks its
/// kernels and block sizes from the CPU it runs on.)
pub(crate) const IMAGES_PER_PARTIAL_SUM: usize = 5;

/// The sum of `partials`, each `len` long, added up in their order (see
/// [`IMAGES_PER_PARTIAL_SUM`]).
///
/// From [`PARALLEL_FROM`] values read, stretches of `CHUNK` values are summed on the rayon
/// pool: the order of the sum for each value stays the partials' order, so the threads change
/// no bit.
pub(crate) fn sum_in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    const CHUNK: usize = 4096;
    let mut total = vec![0.0f32; len];
    for partial in &partials {
        assert_eq!(partial.len(), len, "partial sum length");
    }
    let add = |(i, total): (usize, &mut [f32])| {
        for partial in &partials {
            let partial = &partial[i * CHUNK..i * CHUNK + total.len()];
            total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
        }
    };
    if len * partials.len() < PARALLEL_FROM {
        total.chunks_mut(CHUNK).enumerate().for_each(add);
    } else {
        total.par_chunks_mut(CHUNK).enumerate().for_each(add);
    }
    total
}

/// From this many values read, [`sum_in_order`] and [`bias_grad`] share the work out over the
/// rayon pool (below it, waking the other core costs more than the pass; the complex CNN's
/// passes are 0.2-2.5 M values and ran on the calling thread alone while the other core waited).
const PARALLEL_FROM: usize = 1 << 17;

/// Gradient of the weight `[channels_out, channels_in, kh, kw]`, given the input and the
/// gradient of the output: the sum over images of `dY · patchesᵀ`.
pub(crate) fn weight_grad(input: &[f32], output_grad: &[f32], g: &ConvGeometry) -> Vec<f32> {
    g.check(input);
    g.check_output_grad(output_grad);
    let [oh, ow] = g.out_size();
    let spatial = oh * ow;
    if g.batch == 0 || spatial == 0 || g.channels_out == 0 || g.input_len() == 0 {
        // No image, no output pixel, or only padding to multiply: the gradient is 0.
        return vec![0.0f32; g.weight_len()];
    }
    let partial_sums: Vec<Vec<f32>> = output_grad
        .par_chunks(IMAGES_PER_PARTIAL_SUM * g.output_len())
        .zip(input.par_chunks(IMAGES_PER_PARTIAL_SUM * g.input_len()))
        .map(|(dys, images)| {
            let mut dw = vec![0.0f32; g.weight_len()];
            for (dy, image) in dys
                .chunks_exact(g.output_len())
                .zip(images.chunks_exact(g.input_len()))
            {
                with_patches(image, g, |patches| {
                    let shape = [g.channels_out, spatial, g.patch_len()];
                    matmul(&mut dw, dy, patches, shape, true, true);
                });
            }
            dw
        })
        .collect();
    sum_in_order(partial_sums, g.weight_len())
}

/// Gradient of the bias `[channels_out]`: the output's gradient summed over images and pixels
/// (each plane in `f32` lanes, the planes in `f64`, in a fixed order). burn's default swaps the
/// batch and channel axes of the gradient first: a copy of the whole activation.
pub(crate) fn bias_grad(output_grad: &[f32], g: &ConvGeometry) -> Vec<f32> {
    g.check_geometry();
    g.check_output_grad(output_grad);
    let [oh, ow] = g.out_size();
    let spatial = oh * ow;
    if spatial == 0 || g.channels_out == 0 {
        return vec![0.0; g.channels_out];
    }
    // Channel by channel, its planes in image order: the same sums on one thread or many.
    let channel_sum = |c: usize| {
        let mut sum = 0.0f64;
        for image in output_grad.chunks_exact(g.output_len()) {
            sum += plane_sum(&image[c * spatial..(c + 1) * spatial]);
        }
        sum as f32
    };
    if output_grad.len() < PARALLEL_FROM {
        (0..g.channels_out).map(channel_sum).collect()
    } else {
        (0..g.channels_out)
            .into_par_iter()
            .map(channel_sum)
            .collect()
    }
}

/// Gradient of the input `[batch, channels_in, h, w]`, given the weight and the gradient of the
/// output: per image, the gradient of the patches `weightᵀ · dY` (one GEMM), added back onto
/// the pixels they were copied from ([`col2im`]).
///
/// The first version ran the forward kernel on `dY` with flipped weights: its patches of `dY`
/// are `channels_out / channels_in` times larger than these (1.8 MB per image in the complex
/// CNN's second conv) and mostly padding where the kernel is large against the image (5x5 on
/// the simple CNN's 8x8 maps: 75% zeros, each multiplied in the GEMM).
pub(crate) fn input_grad(output_grad: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    g.check_geometry();
    g.check_output_grad(output_grad);
    g.check_weights(weight, None);
    let [oh, ow] = g.out_size();
    let spatial = oh * ow;
    let (patch_len, c_out) = (g.patch_len(), g.channels_out);
    let len = g.batch * g.input_len();
    if len == 0 {
        return vec![];
    }
    if spatial == 0 || c_out == 0 {
        return vec![0.0; len];
    }
    // `weightᵀ`, `[patch_len, channels_out]`, dense for the GEMM.
    let mut weight_t = vec![0.0f32; weight.len()];
    for (o, row) in weight.chunks_exact(patch_len).enumerate() {
        for (i, &w) in row.iter().enumerate() {
            weight_t[i * c_out + o] = w;
        }
    }
    let mut input_grad = vec![0.0f32; len];
    input_grad
        .par_chunks_mut(g.input_len())
        .zip(output_grad.par_chunks(g.output_len()))
        .for_each(|(dx, dy)| {
            with_patch_buffer(patch_len * spatial, |cols| {
                matmul(
                    cols,
                    &weight_t,
                    dy,
                    [patch_len, c_out, spatial],
                    false,
                    false,
                );
                col2im(cols, g, dx);
            })
        });
    input_grad
}

/// The adjoint of [`im2col`]: adds each value of `patches` `[channels_in * kh * kw, oh * ow]`
/// onto the pixel of `image` `[channels_in, height, width]` it would have been copied from;
/// values that fall in the padding are dropped.
pub(crate) fn col2im(patches: &[f32], g: &ConvGeometry, image: &mut [f32]) {
    let [oh, ow] = g.out_size();
    let [kh, kw] = g.kernel;
    let [ph, pw] = g.padding;
    let (h, w) = (g.height, g.width);
    g.check_geometry();
    assert_eq!(image.len(), g.input_len(), "image length");
    assert_eq!(
        patches.len(),
        g.patch_len() * oh * ow,
        "patch buffer length"
    );
    if oh * ow == 0 {
        return;
    }
    let mut rows = patches.chunks_exact(oh * ow);
    for plane in image.chunks_exact_mut(h * w) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("one row per (channel, ky, kx)");
                let (first, end) = columns_inside(g, kx);
                if end == first {
                    continue;
                }
                for (oy, src) in row.chunks_exact(ow).enumerate() {
                    let iy = oy + ky;
                    if iy < ph || iy - ph >= h {
                        continue;
                    }
                    let dst = &mut plane[(iy - ph) * w..(iy - ph + 1) * w];
                    let dst = &mut dst[first + kx - pw..end + kx - pw];
                    for (d, &v) in dst.iter_mut().zip(&src[first..end]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, loop by loop: the reference the GEMM kernels are checked against.
    fn naive_forward(input: &[f32], weight: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let [oh, ow] = g.out_size();
        let [kh, kw] = g.kernel;
        let [ph, pw] = g.padding;
        let mut out = vec![0.0; g.batch * g.channels_out * oh * ow];
        for b in 0..g.batch {
            for o in 0..g.channels_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = bias[o];
                        for c in 0..g.channels_in {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (iy, ix) = (oy + ky, ox + kx);
                                    if iy < ph
                                        || ix < pw
                                        || iy - ph >= g.height
                                        || ix - pw >= g.width
                                    {
                                        continue;
                                    }
                                    sum += input[((b * g.channels_in + c) * g.height + iy - ph)
                                        * g.width
                                        + ix
                                        - pw]
                                        * weight[((o * g.channels_in + c) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        out[((b * g.channels_out + o) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }
        out
    }

    /// Deterministic values in [-1, 1) with exact binary fractions.
    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 + seed * 101) % 64) as f32 / 32.0 - 1.0)
            .collect()
    }

    fn geometries() -> Vec<ConvGeometry> {
        let g = |batch, channels_in, size, channels_out, kernel, padding| {
            ConvGeometry::new(batch, channels_in, size, channels_out, kernel, padding)
                .expect("a supported test geometry")
        };
        vec![
            g(3, 2, [7, 6], 4, [3, 3], [1, 1]),
            g(2, 3, [8, 8], 5, [5, 5], [0, 0]),
            g(7, 2, [5, 4], 3, [3, 3], [1, 1]),
            g(2, 1, [5, 9], 3, [3, 2], [2, 1]),
            g(1, 2, [1, 1], 2, [3, 3], [1, 1]),
            g(2, 1, [1, 2], 2, [5, 5], [2, 2]),
            g(4, 3, [2, 3], 2, [1, 1], [0, 0]),
        ]
    }

    fn assert_close(ours: &[f32], expected: &[f32], what: &str) {
        assert_eq!(ours.len(), expected.len(), "{what}: length");
        for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for g in geometries() {
            let input = values(g.batch * g.input_len(), 1);
            let weight = values(g.channels_out * g.patch_len(), 2);
            let bias = values(g.channels_out, 3);
            let expected = naive_forward(&input, &weight, &bias, &g);
            assert_close(
                &forward(&input, &weight, Some(&bias), &g),
                &expected,
                &format!("{g:?}"),
            );
            let zero_bias = vec![0.0; g.channels_out];
            assert_close(
                &forward(&input, &weight, None, &g),
                &naive_forward(&input, &weight, &zero_bias, &g),
                &format!("{g:?} without bias"),
            );
        }
    }

    /// Both gradients against the definition's: `d<dY, conv(x, w)>/dw` and `/dx` are exact
    /// sums of products, so the gradients of the linear map `x, w -> conv` can be read off by
    /// convolving unit vectors.
    #[test]
    fn gradients_match_the_definition() {
        for g in geometries() {
            let input = values(g.batch * g.input_len(), 4);
            let weight = values(g.channels_out * g.patch_len(), 5);
            let dy = values(g.batch * g.output_len(), 6);
            let zero_bias = vec![0.0; g.channels_out];
            let dot = |x: &[f32], w: &[f32]| -> f32 {
                naive_forward(x, w, &zero_bias, &g)
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let unit = |len, i| {
                let mut v = vec![0.0f32; len];
                v[i] = 1.0;
                v
            };
            let expected_dw: Vec<f32> = (0..weight.len())
                .map(|i| dot(&input, &unit(weight.len(), i)))
                .collect();
            let expected_dx: Vec<f32> = (0..input.len())
                .map(|i| dot(&unit(input.len(), i), &weight))
                .collect();
            assert_close(
                &weight_grad(&input, &dy, &g),
                &expected_dw,
                &format!("dw {g:?}"),
            );
            assert_close(
                &input_grad(&dy, &weight, &g),
                &expected_dx,
                &format!("dx {g:?}"),
            );
        }
    }

    #[test]
    fn im2col_lays_out_patches_with_zero_padding() {
        let g = ConvGeometry::new(1, 1, [2, 2], 1, [2, 2], [1, 1]).unwrap();
        let mut patches = vec![f32::NAN; 4 * 9];
        im2col(&[1.0, 2.0, 3.0, 4.0], &g, &mut patches);
        // Row (ky, kx) over the 3x3 output pixels.
        #[rustfmt::skip]
        let expected = [
            0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0,
            0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0,
            0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0,
            1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(patches, expected);
    }

    #[test]
    fn bias_gradient_sums_each_channel_over_images_and_pixels() {
        for g in geometries() {
            let [oh, ow] = g.out_size();
            let dy = values(g.batch * g.output_len(), 7);
            let expected: Vec<f32> = (0..g.channels_out)
                .map(|o| {
                    (0..g.batch)
                        .flat_map(|b| (0..oh * ow).map(move |p| (b, p)))
                        .map(|(b, p)| dy[(b * g.channels_out + o) * oh * ow + p] as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            assert_close(&bias_grad(&dy, &g), &expected, &format!("{g:?}"));
        }
    }

    /// Above [`PARALLEL_FROM`] the bias gradient and the partial sums run on the rayon pool
    /// and give the bits of the one-thread loops (the same order per value).
    #[test]
    fn the_pooled_sums_are_the_serial_ones_bit_for_bit() {
        let g = ConvGeometry::new(8, 1, [32, 32], 16, [1, 1], [0, 0]).unwrap();
        let dy = values(g.batch * g.output_len(), 3);
        assert!(dy.len() >= PARALLEL_FROM);
        let spatial = 32 * 32;
        let serial: Vec<f32> = (0..g.channels_out)
            .map(|c| {
                let mut sum = 0.0f64;
                for image in dy.chunks_exact(g.output_len()) {
                    sum += plane_sum(&image[c * spatial..(c + 1) * spatial]);
                }
                sum as f32
            })
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&bias_grad(&dy, &g)), bits(&serial));

        let len = 50_001; // not a multiple of the chunk
        let partials: Vec<Vec<f32>> = (0..3).map(|seed| values(len, seed)).collect();
        assert!(len * partials.len() >= PARALLEL_FROM);
        let mut serial = vec![0.0f32; len];
        for partial in &partials {
            serial.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
        }
        assert_eq!(bits(&sum_in_order(partials, len)), bits(&serial));
    }

    /// `<im2col(x), p> == <x, col2im(p)>` exactly (small integers), on every test geometry.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for g in geometries() {
            let [oh, ow] = g.out_size();
            let image: Vec<f32> = (0..g.input_len()).map(|i| (i % 7) as f32 - 3.0).collect();
            let cols: Vec<f32> = (0..g.patch_len() * oh * ow)
                .map(|i| (i % 5) as f32 - 2.0)
                .collect();
            let mut patches = vec![f32::NAN; cols.len()];
            im2col(&image, &g, &mut patches);
            let mut back = vec![0.0f32; image.len()];
            col2im(&cols, &g, &mut back);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
            assert_eq!(dot(&patches, &cols), dot(&image, &back), "{g:?}");
        }
    }

    #[test]
    fn unsupported_geometries_are_refused() {
        let new = |c_in, hw, c_out, kernel, padding| {
            ConvGeometry::new(2, c_in, hw, c_out, kernel, padding)
        };
        assert!(new(2, [7, 6], 4, [3, 3], [1, 1]).is_some());
        assert!(
            new(2, [7, 6], 4, [3, 3], [3, 1]).is_none(),
            "padding as large as the kernel"
        );
        assert!(
            new(3, [4, 8], 5, [5, 5], [0, 0]).is_none(),
            "kernel larger than the padded input"
        );
        assert!(new(3, [4, 8], 5, [0, 5], [0, 0]).is_none(), "empty kernel");
        let huge = usize::MAX / 2;
        assert!(
            new(huge, [4, 4], 1, [1, 1], [0, 0]).is_none(),
            "input length overflows"
        );
        assert!(
            new(1, [4, 4], huge, [1, 1], [0, 0]).is_none(),
            "output length overflows"
        );
        assert!(
            new(1, [4, huge], 1, [1, 1], [huge, 0]).is_none(),
            "padded size overflows"
        );
        // Input 2^61 values fits, its patches (17x17 per pixel) do not.
        let side = 1 << 30;
        assert!(
            new(1, [side, side], 1, [17, 17], [8, 8]).is_none(),
            "patches overflow"
        );
    }

    /// A geometry the constructor refuses never reaches the GEMM: each public-to-the-crate kernel
    /// checks it first (they were `pub` and skipped the check; in release builds the lengths
    /// wrapped and gemm got one-element buffers).
    #[test]
    fn every_kernel_checks_its_geometry() {
        let crafted = ConvGeometry {
            batch: 1,
            channels_in: 1,
            height: 2,
            width: 2,
            channels_out: 1,
            kernel: [3, 3],
            padding: [3, 3],
        };
        let one = [0.0f32; 1];
        type Run<'a> = Box<dyn Fn() + 'a>;
        let runs: [(&str, Run); 6] = [
            (
                "forward",
                Box::new(|| drop(forward(&one, &one, None, &crafted))),
            ),
            (
                "weight_grad",
                Box::new(|| drop(weight_grad(&one, &one, &crafted))),
            ),
            ("bias_grad", Box::new(|| drop(bias_grad(&one, &crafted)))),
            (
                "input_grad",
                Box::new(|| drop(input_grad(&one, &one, &crafted))),
            ),
            ("im2col", Box::new(|| im2col(&one, &crafted, &mut [0.0]))),
            ("col2im", Box::new(|| col2im(&one, &crafted, &mut [0.0]))),
        ];
        for (name, run) in runs {
            let message =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).expect_err(name);
            let message = message
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert!(
                message.contains("unsupported geometry"),
                "{name}: {message}"
            );
        }
    }

    /// Images with no values (no input channels, or zero rows or columns with padding) convolve
    /// to the bias everywhere: the first version left the output uninitialized.
    #[test]
    fn empty_images_convolve_to_the_bias() {
        for (c_in, hw) in [(0, [3, 3]), (1, [0, 5]), (2, [4, 0])] {
            let g = ConvGeometry::new(2, c_in, hw, 3, [2, 2], [1, 1]).expect("supported");
            let [oh, ow] = g.out_size();
            let bias = [0.5f32, -1.0, 2.0];
            let out = forward(&[], &vec![0.25; g.weight_len()], Some(&bias), &g);
            let expected: Vec<f32> = (0..2)
                .flat_map(|_| bias.iter().flat_map(|&b| std::iter::repeat_n(b, oh * ow)))
                .collect();
            assert_eq!(out, expected, "{g:?}");
            assert_eq!(
                forward(&[], &vec![0.25; g.weight_len()], None, &g),
                vec![0.0; expected.len()]
            );
            let dy = values(g.batch * g.output_len(), 1);
            assert_eq!(weight_grad(&[], &dy, &g), vec![0.0; g.weight_len()]);
            assert!(input_grad(&dy, &vec![0.25; g.weight_len()], &g).is_empty());
        }
    }
}
