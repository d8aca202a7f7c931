//! Kernels of our own where burn's are the bottleneck on burn-flex: the 2D convolution as one
//! GEMM per image (3x3 kernels by Winograd's F(2x2, 3x3) instead, [`ConvAlgorithm`]), max
//! pooling and batch norm, forward and backward, plugged in through burn's backend extension;
//! and [`keep_freed_memory`], which stops glibc from unmapping burn-flex's per-op buffers.
//!
//! The models call [`conv2d`], [`max_pool2d`], [`batch_norm`] and [`batch_norm_max_pool2d`]
//! (and [`batch_norm_relu`], [`batch_norm_max_pool2d_relu`] where a ReLU follows) instead of
//! the layers' `forward`. On a Flex device (with or without autodiff), in `f32`, for
//! a stride-1 convolution with bias, pooling over non-overlapping windows and batch norm of 4D
//! activations, they run the kernels in `src/kernel/` (`gemm_conv.rs`, `winograd.rs`,
//! `max_pool.rs`, `batch_norm.rs`, and `norm_pool.rs` where batch norm is followed by pooling
//! or a ReLU),
//! with our backward passes; everywhere else (ndarray, wgpu, strides, groups, dilation, padding
//! not below the kernel, empty tensors, other float types) they are exactly burn's.
//! [`dropout`] draws its masks from a counter-based generator of ours (Philox) on every backend,
//! [`linear`] runs the fully connected layers, and [`FusedSgd`] (what
//! mnist-lab's `OptimizerConfig::init` gives for SGD) steps each parameter in one pass,
//! bit for bit burn's `Sgd`.
//! `results/performance.md` has the measured effect of each; [`set_kernel`] switches an op back
//! to burn's kernel for comparisons, and [`our_kernel_runs`] tells whether ours ran.
//!
//! Runs repeat bit for bit on one machine at any thread count: every sum runs in an order fixed
//! by the shapes. On another CPU the last bits can differ, since `gemm` picks its SIMD kernels
//! and block sizes from the CPU it runs on.
//!
//! ```
//! use burn::nn::conv::Conv2dConfig;
//! use burn::nn::PaddingConfig2d;
//! use burn::tensor::{Device, Distribution, Tensor};
//!
//! let device = Device::flex();
//! let layer = Conv2dConfig::new([1, 4], [3, 3])
//!     .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
//!     .init(&device);
//! let images = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
//! let ours = flex_kernels::conv2d(&layer, images.clone());
//! let burns = layer.forward(images);
//! assert_eq!(ours.dims(), [2, 4, 28, 28]);
//! assert!(ours.sub(burns).abs().max().into_scalar::<f32>() < 1e-5);
//! ```

#![warn(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "flex")]
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Dropout, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

pub use alloc::{KEEPS_FREED_MEMORY, keep_freed_memory};
pub use sgd::{FusedSgd, FusedSgdState, Momentum, SgdHyper, sgd_optimizer};

/// The widest vector instructions our own kernels use (`gemm`'s pick theirs regardless):
/// [`Simd::Widest`] the CPU has, unless the environment variable `MNIST_LAB_SIMD` says `avx2`
/// (never AVX-512: what a CPU with AVX2 only runs, measurable on one with AVX-512) or `scalar`
/// (no intrinsics). Read once per process. Every level gives the same results bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// No intrinsics.
    Scalar,
    /// At most AVX2.
    Avx2,
    /// The widest the CPU has.
    Widest,
}

impl Simd {
    /// The level this process uses (`MNIST_LAB_SIMD`: `scalar`, `avx2`, or unset / `auto`).
    pub fn current() -> Self {
        static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *LEVEL.get_or_init(|| {
            Self::parse(&std::env::var("MNIST_LAB_SIMD").unwrap_or_default()).unwrap_or_else(
                |bad| {
                    eprintln!(
                        "warning: MNIST_LAB_SIMD={bad} is not scalar, avx2 or auto; using auto"
                    );
                    Self::Widest
                },
            )
        })
    }

    /// `scalar`, `avx2`, or `auto` / empty (the widest); the text back when it is none of them.
    ///
    /// ```
    /// use flex_kernels::Simd;
    /// assert_eq!(Simd::parse("AVX2"), Ok(Simd::Avx2));
    /// assert_eq!(Simd::parse(""), Ok(Simd::Widest));
    /// assert_eq!(Simd::parse("sse"), Err("sse".to_string()));
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Widest),
            "avx2" => Ok(Self::Avx2),
            "scalar" => Ok(Self::Scalar),
            _ => Err(text.to_string()),
        }
    }
}

/// Whether our kernels may use AVX2 here: [`Simd::current`] allows it and the CPU has it
/// (never off x86-64).
#[cfg(feature = "flex")]
fn avx2_allowed() -> bool {
    #[cfg(target_arch = "x86_64")]
    return Simd::current() >= Simd::Avx2 && std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Set by the unit tests to run [`wide_fn!`]'s functions in their baseline build, to compare.
#[cfg(all(test, feature = "flex"))]
static FORCE_PORTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`wide_fn!`]'s functions must skip AVX2 (only ever in the unit tests).
#[cfg(feature = "flex")]
#[inline(always)]
fn portable_forced() -> bool {
    #[cfg(test)]
    return FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(test))]
    false
}

/// Defines `fn $name`, which runs `$body` compiled for AVX2 where [`avx2_allowed`], else for
/// x86-64's baseline: for the elementwise loops over activation planes that the compiler
/// vectorizes itself, 8 floats wide instead of SSE2's 4. The same operations in the same order
/// (Rust never fuses a multiply and an add), so the same bits. What the body calls must be
/// `#[inline(always)]` to be compiled into it. Written here rather than taken from the
/// `multiversion` crate: the choice must follow `MNIST_LAB_SIMD` (what a CPU with less runs,
/// measured on this one) and the unit tests' switch to the baseline, which its own CPU
/// detection does not.
#[cfg(feature = "flex")]
macro_rules! wide_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn wide_body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            if super::avx2_allowed() && !super::portable_forced() {
                /// # Safety
                /// The CPU must have AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn wide_avx2($($arg: $ty),*) $(-> $ret)? {
                    wide_body($($arg),*)
                }
                // SAFETY: the CPU has AVX2 (`avx2_allowed` checks).
                return unsafe { wide_avx2($($arg),*) };
            }
            wide_body($($arg),*)
        }
    };
}

mod alloc;
mod dropout;
mod sgd;
// The slice kernels are crate-private: they trust the geometry the extension builds from real
// tensors (each still asserts what its unsafe code relies on).
#[cfg(feature = "flex")]
mod batch_norm;
#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
mod gemm_conv;
#[cfg(feature = "flex")]
mod lanes;
#[cfg(feature = "flex")]
mod linear;
#[cfg(feature = "flex")]
mod max_pool;
#[cfg(feature = "flex")]
mod norm_pool;
#[cfg(feature = "flex")]
mod winograd;

/// A vector of `len` floats filled by `fill`, which gets its memory as uninitialized slots:
/// saves zeroing outputs that are overwritten anyway (measured on the complex CNN: +2-4%
/// training, +5-15% inference, `results/performance.md`).
///
/// # Safety
/// `fill` must write every one of the `len` slots. Callers assert the lengths this relies on
/// (the chunks they hand out cover exactly `len` slots) before calling.
#[cfg(feature = "flex")]
unsafe fn fully_written(
    len: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<f32>]),
) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    fill(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: the caller guarantees that `fill` initialized all `len` values.
    unsafe { values.set_len(len) };
    values
}

/// Whose kernel runs an op where ours can: ours (the default) or burn's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelImpl {
    /// Ours, on Flex.
    Ours,
    /// burn's everywhere.
    Burn,
}

impl KernelImpl {
    /// Both, ours first.
    pub const ALL: [KernelImpl; 2] = [KernelImpl::Ours, KernelImpl::Burn];

    /// The name used on command lines and in result lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::Burn => "burn",
        }
    }
}

impl std::fmt::Display for KernelImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KernelImpl {
    type Err = String;

    /// `ours` or `burn`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown kernel `{s}`: expected `ours` or `burn`"))
    }
}

/// The ops with a kernel of ours (more may come: match with a `_` arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// [`conv2d`].
    Conv2d,
    /// [`max_pool2d`].
    MaxPool2d,
    /// [`batch_norm`].
    BatchNorm,
    /// [`dropout`] (ours on every backend).
    Dropout,
    /// [`linear`].
    Linear,
    /// [`FusedSgd`]'s step (burn's `Sgd` with the same results, in one pass on Flex).
    Sgd,
}

/// Per [`Op`] (by [`op_index`]): whether it is set to burn's kernel.
static BURN: [AtomicBool; 6] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

fn switch(op: Op) -> &'static AtomicBool {
    &BURN[op_index(op)]
}

thread_local! {
    /// Runs of our kernels on this thread, by [`Op`] (see [`our_kernel_runs`]).
    static RUNS: [std::cell::Cell<u64>; 6] = const {
        [
            std::cell::Cell::new(0),
            std::cell::Cell::new(0),
            std::cell::Cell::new(0),
            std::cell::Cell::new(0),
            std::cell::Cell::new(0),
            std::cell::Cell::new(0),
        ]
    };
}

fn op_index(op: Op) -> usize {
    match op {
        Op::Conv2d => 0,
        Op::MaxPool2d => 1,
        Op::BatchNorm => 2,
        Op::Dropout => 3,
        Op::Linear => 4,
        Op::Sgd => 5,
    }
}

/// Counts one run of our kernel for `op` on this thread.
fn count_run(op: Op) {
    RUNS.with(|runs| {
        let run = &runs[op_index(op)];
        run.set(run.get() + 1);
    });
}

/// How many times one of our kernels for `op` ran on this thread so far (each forward and each
/// gradient kernel counts one). Tells whether a model takes our path or burn's: a layer our
/// kernels do not cover leaves it unchanged.
///
/// ```
/// use burn::nn::pool::MaxPool2dConfig;
/// use burn::tensor::{Device, Tensor};
/// use flex_kernels::{self as kernel, Op};
///
/// let device = Device::flex();
/// let x = Tensor::<4>::ones([1, 1, 4, 4], &device);
/// let before = kernel::our_kernel_runs(Op::MaxPool2d);
/// kernel::max_pool2d(&MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(), x.clone());
/// assert_eq!(kernel::our_kernel_runs(Op::MaxPool2d), before + 1);
/// // Overlapping windows are burn's kernel.
/// kernel::max_pool2d(&MaxPool2dConfig::new([2, 2]).with_strides([1, 1]).init(), x);
/// assert_eq!(kernel::our_kernel_runs(Op::MaxPool2d), before + 1);
/// ```
pub fn our_kernel_runs(op: Op) -> u64 {
    RUNS.with(|runs| runs[op_index(op)].get())
}

/// Chooses the kernel of `op` for every later call in this process (default: ours). For
/// comparisons (`examples/throughput.rs --conv burn`); results agree to float rounding.
pub fn set_kernel(op: Op, choice: KernelImpl) {
    switch(op).store(choice == KernelImpl::Burn, Ordering::Relaxed);
}

/// The kernel `op` uses now.
pub fn kernel(op: Op) -> KernelImpl {
    if switch(op).load(Ordering::Relaxed) {
        KernelImpl::Burn
    } else {
        KernelImpl::Ours
    }
}

/// How our convolution kernel computes a 3x3 convolution's forward pass and input gradient
/// (other kernel sizes, and layers with fewer than 8 input channels, are always im2col).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Winograd's F(2x2, 3x3) (the default): 2.25x fewer multiplications, results equal to
    /// im2col's up to float rounding.
    Winograd,
    /// One GEMM per image over its im2col patches.
    Im2col,
}

impl ConvAlgorithm {
    /// Both, the default first.
    pub const ALL: [ConvAlgorithm; 2] = [ConvAlgorithm::Winograd, ConvAlgorithm::Im2col];

    /// The name used on command lines and in result lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Winograd => "winograd",
            Self::Im2col => "im2col",
        }
    }
}

impl std::fmt::Display for ConvAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ConvAlgorithm {
    type Err = String;

    /// `winograd` or `im2col`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown algorithm `{s}`: expected `winograd` or `im2col`"))
    }
}

/// Set when [`set_conv_algorithm`] chose im2col.
static IM2COL: AtomicBool = AtomicBool::new(false);

/// Chooses the algorithm of our 3x3 convolutions for every later call in this process
/// (default: [`ConvAlgorithm::Winograd`]). For comparisons (`examples/throughput.rs
/// --conv-algorithm im2col`), and for bit-for-bit agreement with runs recorded before Winograd.
///
/// ```
/// use flex_kernels::{self as kernel, ConvAlgorithm};
/// assert_eq!(kernel::conv_algorithm(), ConvAlgorithm::Winograd);
/// assert_eq!("im2col".parse(), Ok(ConvAlgorithm::Im2col));
/// ```
pub fn set_conv_algorithm(algorithm: ConvAlgorithm) {
    IM2COL.store(algorithm == ConvAlgorithm::Im2col, Ordering::Relaxed);
}

/// The algorithm our 3x3 convolutions use now.
pub fn conv_algorithm() -> ConvAlgorithm {
    if IM2COL.load(Ordering::Relaxed) {
        ConvAlgorithm::Im2col
    } else {
        ConvAlgorithm::Winograd
    }
}

/// Whether `x` runs on Flex in `f32`, where our kernels apply, holds at least one value, and
/// `op` is set to ours. Empty tensors are burn's: its kernels define what they give.
#[cfg(feature = "flex")]
fn ours_apply<const D: usize>(op: Op, x: &Tensor<D>) -> bool {
    kernel(op) == KernelImpl::Ours
        && x.dtype() == burn::tensor::DType::F32
        && x.shape().num_elements() > 0
        && matches!(
            x.device().inner().as_dispatch(),
            burn::backend::DispatchDevice::Flex(_)
        )
}

/// `layer.forward(input)`, by our GEMM kernel where it applies (see the module docs).
pub fn conv2d(layer: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && let Some(padding) = gemm_padding(layer)
        && ours_apply(Op::Conv2d, &input)
    {
        use burn::backend::Dispatch;
        use extension::LabKernels;
        return Tensor::from_dispatch(<Dispatch as LabKernels>::lab_conv2d(
            input.into_dispatch(),
            layer.weight.val().into_dispatch(),
            bias.val().into_dispatch(),
            padding,
        ));
    }
    layer.forward(input)
}

/// `layer.forward(input)` for a batch of rows `[rows, d_in]`, by our kernel where it applies: on
/// Flex, `f32`, with a bias ([`linear`]'s blocks of `gemm` calls; the same values up to float
/// rounding).
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex();
/// let layer = LinearConfig::new(784, 512).init(&device);
/// let x = Tensor::<2>::random([50, 784], Distribution::Default, &device);
/// let ours = flex_kernels::linear(&layer, x.clone());
/// assert!(ours.sub(layer.forward(x)).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn linear(layer: &Linear, input: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && ours_apply(Op::Linear, &input)
        && layer.weight.val().dtype() == burn::tensor::DType::F32
        && bias.val().dtype() == burn::tensor::DType::F32
        && input.dims()[1] == layer.weight.dims()[0]
    {
        use burn::backend::Dispatch;
        use extension::LabKernels;
        return Tensor::from_dispatch(<Dispatch as LabKernels>::lab_linear(
            input.into_dispatch(),
            layer.weight.val().into_dispatch(),
            bias.val().into_dispatch(),
        ));
    }
    layer.forward(input)
}

/// `pool.forward(input)`, by our kernel where it applies: on Flex, `f32`, windows that do not
/// overlap (stride = kernel), no padding, no dilation, floor mode (as the report's 2x2 pooling).
pub fn max_pool2d(pool: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(window) = our_pool_window(pool)
        && ours_apply(Op::MaxPool2d, &input)
    {
        use burn::backend::Dispatch;
        use extension::LabKernels;
        return Tensor::from_dispatch(<Dispatch as LabKernels>::lab_max_pool2d(
            input.into_dispatch(),
            window,
        ));
    }
    pool.forward(input)
}

/// The window of a pooling our kernel covers (stride = kernel, no padding, no dilation, floor
/// mode), or `None`.
#[cfg(feature = "flex")]
fn our_pool_window(pool: &MaxPool2d) -> Option<[usize; 2]> {
    (pool.stride == pool.kernel_size
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        ))
    .then_some(pool.kernel_size)
}

/// `max_pool2d(pool, batch_norm(bn, input))`, in one pass where both of our kernels apply
/// ([`norm_pool`]: the normalized activation is never written out); the same values either way.
pub fn batch_norm_max_pool2d(bn: &BatchNorm, pool: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(pooled) = batch_norm_pooled_with(bn, pool, input.clone(), false) {
        return pooled;
    }
    max_pool2d(pool, batch_norm(bn, input))
}

/// `relu(batch_norm_max_pool2d(bn, pool, input))`, in one pass where our kernels apply (the
/// ReLU and its gradient applied plane by plane as the pooled values are written and its
/// gradient read); the same values either way.
pub fn batch_norm_max_pool2d_relu(bn: &BatchNorm, pool: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(output) = batch_norm_pooled_with(bn, pool, input.clone(), true) {
        return output;
    }
    relu(batch_norm_max_pool2d(bn, pool, input))
}

/// [`batch_norm_with`] followed by `pool`, where our pooling kernel covers it and is set to
/// ours, or `None`.
#[cfg(feature = "flex")]
fn batch_norm_pooled_with(
    bn: &BatchNorm,
    pool: &MaxPool2d,
    input: Tensor<4>,
    relu: bool,
) -> Option<Tensor<4>> {
    let window = our_pool_window(pool)?;
    if !ours_apply(Op::MaxPool2d, &input) {
        return None;
    }
    batch_norm_with(bn, input, window, relu)
}

/// `relu(batch_norm(bn, input))`, in one pass where our kernels apply; the same values either
/// way. burn-flex runs a ReLU and its gradient on the calling thread alone: after the complex
/// CNN's three batch norms that was ~5% of a training step's wall time.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::activation::relu;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex();
/// let bn = BatchNormConfig::new(4).init(&device);
/// let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
/// let fused = flex_kernels::batch_norm_relu(&bn, x.clone());
/// assert_eq!(fused.to_data(), relu(flex_kernels::batch_norm(&bn, x)).to_data());
/// ```
pub fn batch_norm_relu(bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(output) = batch_norm_with(bn, input.clone(), extension::NO_POOLING, true) {
        return output;
    }
    relu(batch_norm(bn, input))
}

/// The symmetric padding of a stride-1, undilated, ungrouped layer, or `None`.
#[cfg(feature = "flex")]
fn gemm_padding(layer: &Conv2d) -> Option<[usize; 2]> {
    if layer.stride != [1, 1] || layer.dilation != [1, 1] || layer.groups != 1 {
        return None;
    }
    let [kh, kw] = layer.kernel_size;
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        PaddingConfig2d::Same if kh % 2 == 1 && kw % 2 == 1 => [kh / 2, kw / 2],
        _ => return None,
    };
    (padding[0] < kh && padding[1] < kw).then_some(padding)
}

/// `bn.forward(input)` for `[batch, channels, h, w]` activations, by our kernels on Flex in
/// `f32`: training (batch statistics, and the running statistics updated exactly as burn's
/// `BatchNorm` does) on an autodiff device with the layer's training flag on, inference (the
/// running statistics) off autodiff. Elsewhere, and for a frozen layer on an autodiff device,
/// burn's.
pub fn batch_norm(bn: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(output) = batch_norm_with(bn, input.clone(), extension::NO_POOLING, false) {
        return output;
    }
    bn.forward(input)
}

/// [`batch_norm`] by our kernels, followed by max pooling over `pool` windows (fused; 1x1
/// windows, `NO_POOLING`, are the identity: none) and a ReLU where `relu` says so, or `None`
/// where they do not apply.
#[cfg(feature = "flex")]
fn batch_norm_with(
    bn: &BatchNorm,
    input: Tensor<4>,
    pool: [usize; 2],
    relu: bool,
) -> Option<Tensor<4>> {
    use burn::backend::Dispatch;
    use extension::LabKernels;
    // Our kernels read every tensor they are given as `f32` (the running statistics only in
    // inference, checked there); anything else is burn's.
    let f32 = |t: &Tensor<1>| t.dtype() == burn::tensor::DType::F32;
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    if input.dims()[1] != gamma.shape().num_elements()
        || !f32(&gamma)
        || !f32(&beta)
        || !ours_apply(Op::BatchNorm, &input)
    {
        return None;
    }
    let device = input.device();
    let (gamma, beta) = (gamma.into_dispatch(), beta.into_dispatch());
    if !device.is_autodiff() {
        let (mean, var) = (bn.running_mean.value(), bn.running_var.value());
        if !f32(&mean) || !f32(&var) {
            return None;
        }
        let mean = mean.to_device(&device).into_dispatch();
        let var = var.to_device(&device).into_dispatch();
        let x = input.into_dispatch();
        return Some(Tensor::from_dispatch(
            <Dispatch as LabKernels>::lab_batch_norm(
                x, gamma, beta, mean, var, bn.epsilon, pool, relu,
            ),
        ));
    }
    if !bn.training.is_enabled() {
        return None;
    }
    let x = input.into_dispatch();
    let stats = <Dispatch as LabKernels>::lab_batch_mean_var(x.clone());
    let mean = Tensor::<1>::from_dispatch(stats.mean);
    let var = Tensor::<1>::from_dispatch(stats.variance);
    let (mean_x, var_x) = (mean.clone().into_dispatch(), var.clone().into_dispatch());
    let output = Tensor::from_dispatch(<Dispatch as LabKernels>::lab_batch_norm_train(
        x, gamma, beta, mean_x, var_x, bn.epsilon, pool, relu,
    ));
    // burn's `BatchNorm::forward_train`, step for step.
    let momentum = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - momentum)
        .add(mean.detach().mul_scalar(momentum));
    let running_var = running_var
        .mul_scalar(1.0 - momentum)
        .add(var.detach().mul_scalar(momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Some(output)
}

/// `layer.forward(input)` with the mask from our counter-based generator (Philox 4x32-10, keyed
/// by one draw from the device's generator per call, so the device's seed governs it) on every
/// backend: active on an autodiff device with the layer's training flag on and `prob > 0`, the
/// identity otherwise, as burn's. The values equal burn's for the same mask (kept elements times
/// `1 / (1 - prob)`); the masks differ from burn's draws. [`set_kernel`]`(Op::Dropout,
/// KernelImpl::Burn)` switches back to burn's generator.
///
/// ```
/// use burn::nn::DropoutConfig;
/// use burn::tensor::{Device, Tensor};
///
/// let device = Device::flex().autodiff();
/// let layer = DropoutConfig::new(0.25).init();
/// let x = Tensor::<2>::ones([64, 64], &device);
/// device.seed(7);
/// let a = flex_kernels::dropout(&layer, x.clone());
/// device.seed(7);
/// let b = flex_kernels::dropout(&layer, x.clone());
/// assert_eq!(a.to_data(), b.to_data()); // the same seed, the same mask
/// let kept = a.clone().greater_elem(0.0).int().sum().into_scalar::<i64>();
/// assert!((2900..3250).contains(&kept)); // ~75% of 4,096
/// assert!(a.max().into_scalar::<f32>() > 1.33 && b.min().into_scalar::<f32>() == 0.0);
/// // Outside autodiff (inference) it is the identity.
/// let eval = Tensor::<2>::ones([4, 4], &Device::flex());
/// assert_eq!(flex_kernels::dropout(&layer, eval.clone()).to_data(), eval.to_data());
/// ```
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !input.device().is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    dropout_always(layer, input)
}

/// [`dropout`] active on every device and in inference too: the report's complex MLP, whose
/// code dropped activations at test time (`ComplexMlpConfig::dropout_at_test`).
pub fn dropout_always<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    if layer.prob == 0.0 {
        return input;
    }
    if kernel(Op::Dropout) == KernelImpl::Burn {
        let keep = 1.0 - layer.prob;
        let mask = input.random_like(burn::tensor::Distribution::Bernoulli(keep));
        return input * mask * (1.0 / keep);
    }
    count_run(Op::Dropout);
    dropout::drop_elements(input, layer.prob)
}

/// [`wide_fn!`]'s AVX2 builds against their baseline builds, bit for bit, through the kernels
/// that call them: batch norm with pooling and ReLU (forward, statistics, gradients), the conv's
/// bias gradient and Winograd input transform, and the SGD step.
#[cfg(all(test, feature = "flex"))]
mod wide_tests {
    use std::sync::atomic::Ordering;

    use super::batch_norm::{self, NormGeometry};
    use super::gemm_conv::{self, ConvGeometry};
    use super::max_pool::PoolGeometry;
    use super::norm_pool::{self, After};
    use super::{FORCE_PORTABLE, sgd, winograd};

    /// Values in [-4, 4) from a fixed sequence, with ties, zeros, a NaN and a negative zero.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) % 64) as f32 / 8.0 - 4.0
            })
            .collect();
        if len > 40 {
            v[7] = f32::NAN;
            v[23] = -0.0;
        }
        v
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Everything the kernels compute on the case, as bits.
    fn results() -> Vec<(&'static str, Vec<u32>)> {
        // 3 images of 5 channels of 14x14 (the complex CNN's third conv's maps: planes of 196,
        // not a multiple of the 16 lanes) and an odd 7x9 case for the pooling's edges.
        let mut out = vec![];
        for (batch, channels, [h, w]) in [(3, 5, [14, 14]), (2, 3, [7, 9])] {
            let g = NormGeometry {
                batch,
                channels,
                spatial: h * w,
            };
            let pool = PoolGeometry {
                planes: batch * channels,
                height: h,
                width: w,
                kernel: [2, 2],
            };
            let x = values(g.batch * g.channels * g.spatial, 1);
            let (mean, var) = batch_norm::mean_var(&x, &g);
            let gamma = values(channels, 2);
            let beta = values(channels, 3);
            out.push(("mean", bits(&mean)));
            out.push(("var", bits(&var)));
            let params = [&gamma[..], &beta, &mean, &var];
            for pool in [None, Some(&pool)] {
                let after = After { pool, relu: true };
                let y = norm_pool::forward(&x, params, 1e-5, &g, after);
                out.push(("norm forward", bits(&y)));
                let dy = values(y.len(), 4);
                let (dx, dgamma, dbeta) =
                    norm_pool::train_backward(&x, params, &dy, 1e-5, &g, after);
                out.push(("norm x grad", bits(&dx)));
                out.push(("norm gamma grad", bits(&dgamma)));
                out.push(("norm beta grad", bits(&dbeta)));
            }
        }
        let conv = ConvGeometry::new(2, 8, [14, 14], 16, [3, 3], [1, 1]).expect("a valid geometry");
        let input = values(2 * 8 * 14 * 14, 5);
        let input: Vec<f32> = input
            .iter()
            .map(|v| if v.is_nan() { 0.5 } else { *v })
            .collect();
        let weight = values(16 * 8 * 9, 6);
        out.push((
            "winograd",
            bits(&winograd::forward(&input, &weight, None, &conv)),
        ));
        let dy = values(2 * 16 * 14 * 14, 7);
        out.push(("bias grad", bits(&gemm_conv::bias_grad(&dy, &conv))));
        for (nesterov, decay) in [(false, None), (true, Some(5e-4))] {
            let (mut param, grad, mut velocity) =
                (values(300_000, 8), values(300_000, 9), values(300_000, 10));
            let momentum = sgd::Momentum {
                momentum: 0.9,
                dampening: 0.1,
                nesterov,
            };
            sgd::step_in_place(&mut param, &grad, &mut velocity, 0.01, momentum, decay);
            out.push(("sgd param", bits(&param)));
            out.push(("sgd velocity", bits(&velocity)));
        }
        out
    }

    #[test]
    fn the_avx2_builds_give_the_baseline_bits() {
        let wide = results();
        FORCE_PORTABLE.store(true, Ordering::Relaxed);
        let portable = results();
        FORCE_PORTABLE.store(false, Ordering::Relaxed);
        assert_eq!(wide.len(), portable.len());
        for ((what, a), (_, b)) in wide.iter().zip(&portable) {
            assert!(a == b, "{what}: the AVX2 build differs from the baseline");
        }
    }
}
