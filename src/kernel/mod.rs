//! Kernels of our own where burn's are the bottleneck: the 2D convolution as one GEMM per image
//! on burn-flex (forward and both gradients), plugged in through burn's backend extension; and
//! [`keep_freed_memory`], which stops glibc from unmapping burn-flex's per-op buffers.
//!
//! The models call [`conv2d`] and [`max_pool2d`] instead of `Conv2d::forward` and
//! `MaxPool2d::forward`. On a Flex device (with or without autodiff), in `f32`, for a stride-1
//! convolution with bias and for pooling over non-overlapping windows, they run [`gemm_conv`]
//! and [`max_pool`], with our backward passes; everywhere else (ndarray, wgpu, strides, groups,
//! dilation, padding) they are exactly burn's. `results/performance.md` has the measured effect
//! of each; [`set_kernel`] switches an op back to burn's kernel for comparisons.
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

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

pub use alloc::keep_freed_memory;

mod alloc;
#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
pub mod gemm_conv;
#[cfg(feature = "flex")]
pub mod max_pool;

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
}

static BURN_CONV: AtomicBool = AtomicBool::new(false);
static BURN_POOL: AtomicBool = AtomicBool::new(false);

fn switch(op: Op) -> &'static AtomicBool {
    match op {
        Op::Conv2d => &BURN_CONV,
        Op::MaxPool2d => &BURN_POOL,
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
fn ours_apply(op: Op, x: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    {
        kernel(op) == KernelImpl::Ours
            && x.dtype() == burn::tensor::DType::F32
            && matches!(
                x.device().inner().as_dispatch(),
                burn::backend::DispatchDevice::Flex(_)
            )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (op, x);
        false
    }
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
