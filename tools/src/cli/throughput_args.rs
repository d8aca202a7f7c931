//! The flags of `examples/throughput` (and of `gpu_bench throughput`): the model, the backend,
//! whose kernels run, and how long to measure.

use clap::Args;

use flex_kernels::{ConvAlgorithm, KernelImpl, Op, set_conv_algorithm, set_kernel};
use mnist_lab::ModelKind;
use mnist_lab::data::MnistDataset;

use super::CommonArgs;
use crate::experiment::throughput::{ThroughputPlan, measure};

/// Measure training and inference images/s.
#[derive(Args, Clone, Debug)]
pub struct ThroughputArgs {
    /// Backend, data (`--out` and `--seed` are not used).
    #[command(flatten)]
    pub common: CommonArgs,
    /// The model (all five when left out).
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// The CNNs' convolution kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub conv: KernelImpl,
    /// How our kernel computes 3x3 convolutions: `winograd` or `im2col`.
    #[arg(long, default_value_t = ConvAlgorithm::Winograd)]
    pub conv_algorithm: ConvAlgorithm,
    /// The CNNs' max-pooling kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub pool: KernelImpl,
    /// The complex CNN's batch-norm kernel (after the convs): `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub norm: KernelImpl,
    /// The dropout masks' generator (MLP, provided and complex CNN): `ours` (Philox) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub dropout: KernelImpl,
    /// The fully connected layers' kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub linear: KernelImpl,
    /// SGD's step (MLP, CNNs): `ours` (one pass per parameter on flex) or `burn` (its tensor
    /// operations); the same results.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pub sgd: KernelImpl,
    /// Untimed training batches first.
    #[arg(long, default_value_t = ThroughputPlan::default().warmup_batches)]
    pub warmup: usize,
    /// Timed windows (the median is printed).
    #[arg(long, default_value_t = ThroughputPlan::default().windows)]
    pub windows: usize,
    /// Batches per window.
    #[arg(long, default_value_t = ThroughputPlan::default().window_batches)]
    pub window_batches: usize,
    /// Single images timed one by one (batch-1 latency).
    #[arg(long, default_value_t = ThroughputPlan::default().latency_samples)]
    pub latency_samples: usize,
}

impl ThroughputArgs {
    /// How long to measure, as the flags say.
    pub fn plan(&self) -> ThroughputPlan {
        ThroughputPlan {
            warmup_batches: self.warmup,
            windows: self.windows,
            window_batches: self.window_batches,
            latency_samples: self.latency_samples,
        }
    }

    /// Picks the kernels, loads the training images, and prints one line per model (the
    /// format of [`Throughput`](crate::experiment::throughput::Throughput)'s `Display`).
    pub fn run(&self) -> Result<(), Box<dyn std::error::Error>> {
        self.common.backend.device()?;
        set_kernel(Op::Conv2d, self.conv);
        set_conv_algorithm(self.conv_algorithm);
        set_kernel(Op::MaxPool2d, self.pool);
        set_kernel(Op::BatchNorm, self.norm);
        set_kernel(Op::Dropout, self.dropout);
        set_kernel(Op::Linear, self.linear);
        set_kernel(Op::Sgd, self.sgd);
        let data = MnistDataset::train(&self.common.locate_data()?)?;
        let models = match self.model {
            Some(m) => vec![m],
            None => ModelKind::ALL.to_vec(),
        };
        for model in models {
            println!(
                "{}",
                measure(model, self.common.backend, &data, self.plan())?
            );
        }
        Ok(())
    }
}
