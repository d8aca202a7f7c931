//! Kernels of our own where burn's are the bottleneck on burn-flex: the 2D convolution as one
//! GEMM per image, max pooling and batch norm, forward and backward, plugged in through burn's
//! backend extension; and [`keep_freed_memory`], which stops glibc from unmapping burn-flex's
//! per-op buffers.
//!
//! The models call [`conv2d`], [`max_pool2d`] and [`batch_norm`] instead of the layers'
//! `forward`. On a Flex device (with or without autodiff), in `f32`, for a stride-1 convolution
//! with bias, pooling over non-overlapping windows and batch norm of 4D activations, they run
//! [`gemm_conv`], [`max_pool`] and [`batch_norm`](mod@batch_norm), with our backward passes;
//! everywhere else (ndarray, wgpu, strides, groups, dilation, padding) they are exactly burn's.
//! `results/performance.md` has the measured effect of each; [`set_kernel`] switches an op back
//! to burn's kernel for comparisons.
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
//! let ours = mnist_lab::kernel::conv2d(&layer, images.clone());
//! let burns = layer.forward(images);
//! assert_eq!(ours.dims(), [2, 4, 28, 28]);
//! assert!(ours.sub(burns).abs().max().into_scalar::<f32>() < 1e-5);
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use burn::nn::BatchNorm;
#[cfg(feature = "flex")]
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

pub use alloc::keep_freed_memory;

mod alloc;
#[cfg(feature = "flex")]
pub mod batch_norm;
#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
pub mod gemm_conv;
#[cfg(feature = "flex")]
mod lanes;
#[cfg(feature = "flex")]
pub mod max_pool;

/// A vector of `len` floats filled by `fill`, which gets its memory as uninitialized slots:
/// saves zeroing outputs that are overwritten anyway (measured on the complex CNN: +2-4%
/// training, +5-15% inference, `results/performance.md`).
///
/// # Safety
/// `fill` must write every one of the `len` slots.
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

/// The ops with a kernel of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`conv2d`].
    Conv2d,
    /// [`max_pool2d`].
    MaxPool2d,
    /// [`batch_norm`].
    BatchNorm,
}

static BURN_CONV: AtomicBool = AtomicBool::new(false);
static BURN_POOL: AtomicBool = AtomicBool::new(false);
static BURN_NORM: AtomicBool = AtomicBool::new(false);

fn switch(op: Op) -> &'static AtomicBool {
    match op {
        Op::Conv2d => &BURN_CONV,
        Op::MaxPool2d => &BURN_POOL,
        Op::BatchNorm => &BURN_NORM,
    }
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

/// Whether `x` runs on Flex in `f32`, where our kernels apply, and `op` is set to ours.
#[cfg(feature = "flex")]
fn ours_apply(op: Op, x: &Tensor<4>) -> bool {
    kernel(op) == KernelImpl::Ours
        && x.dtype() == burn::tensor::DType::F32
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

/// `pool.forward(input)`, by our kernel where it applies: on Flex, `f32`, windows that do not
/// overlap (stride = kernel), no padding, no dilation, floor mode (as the report's 2x2 pooling).
pub fn max_pool2d(pool: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if pool.stride == pool.kernel_size
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
        && ours_apply(Op::MaxPool2d, &input)
    {
        use burn::backend::Dispatch;
        use extension::LabKernels;
        return Tensor::from_dispatch(<Dispatch as LabKernels>::lab_max_pool2d(
            input.into_dispatch(),
            pool.kernel_size,
        ));
    }
    pool.forward(input)
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
    if input.dims()[1] == bn.gamma.shape().num_elements() && ours_apply(Op::BatchNorm, &input) {
        use burn::backend::Dispatch;
        use extension::LabKernels;
        let device = input.device();
        let (gamma, beta) = (
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
        );
        if !device.is_autodiff() {
            let mean = bn.running_mean.value().to_device(&device).into_dispatch();
            let var = bn.running_var.value().to_device(&device).into_dispatch();
            return Tensor::from_dispatch(<Dispatch as LabKernels>::lab_batch_norm(
                input.into_dispatch(),
                gamma,
                beta,
                mean,
                var,
                bn.epsilon,
            ));
        }
        if bn.training.is_enabled() {
            let stats = <Dispatch as LabKernels>::lab_batch_mean_var(input.clone().into_dispatch());
            let mean = Tensor::<1>::from_dispatch(stats.mean);
            let var = Tensor::<1>::from_dispatch(stats.variance);
            let output = Tensor::from_dispatch(<Dispatch as LabKernels>::lab_batch_norm_train(
                input.into_dispatch(),
                gamma,
                beta,
                mean.clone().into_dispatch(),
                var.clone().into_dispatch(),
                bn.epsilon,
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
            return output;
        }
    }
    bn.forward(input)
}
