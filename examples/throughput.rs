//! Training and inference speed of each model on each compiled backend, one line per model:
//! `model=complex_cnn backend=flex threads=2 train_img_s=... infer_img_s=... latency_p50_ms=...
//! latency_p99_ms=... peak_rss_mb=...`
//! (the format of `reference/pytorch/mnist_reference.py throughput`; `bench/compare.sh` runs
//! both sides alternately and prints the ratios).
//!
//! `cargo run --release --example throughput -- --model complex_cnn` (one model per process, so
//! that the peak memory is that model's; without --model every model runs in turn in this
//! process and the peak memory is the largest so far). Threads: `RAYON_NUM_THREADS`.

use clap::Parser;
use flex_kernels::{ConvAlgorithm, KernelImpl, Op, set_conv_algorithm, set_kernel};
use mnist_lab::ModelKind;
use mnist_lab::data::MnistDataset;
use mnist_lab_tools::cli::CommonArgs;
use mnist_lab_tools::experiment::throughput::{ThroughputPlan, measure};

/// Measure training and inference images/s.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The model (all five when left out).
    #[arg(long)]
    model: Option<ModelKind>,
    /// The CNNs' convolution kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    conv: KernelImpl,
    /// How our kernel computes 3x3 convolutions: `winograd` or `im2col`.
    #[arg(long, default_value_t = ConvAlgorithm::Winograd)]
    conv_algorithm: ConvAlgorithm,
    /// The CNNs' max-pooling kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    pool: KernelImpl,
    /// The complex CNN's batch-norm kernel (after the convs): `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    norm: KernelImpl,
    /// The dropout masks' generator (MLP, provided and complex CNN): `ours` (Philox) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    dropout: KernelImpl,
    /// The fully connected layers' kernel: `ours` (on flex) or `burn`.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    linear: KernelImpl,
    /// SGD's step (MLP, CNNs): `ours` (one pass per parameter on flex) or `burn` (its tensor
    /// operations); the same results.
    #[arg(long, default_value_t = KernelImpl::Ours)]
    sgd: KernelImpl,
    /// Untimed training batches first.
    #[arg(long, default_value_t = ThroughputPlan::default().warmup_batches)]
    warmup: usize,
    /// Timed windows (the median is printed).
    #[arg(long, default_value_t = ThroughputPlan::default().windows)]
    windows: usize,
    /// Batches per window.
    #[arg(long, default_value_t = ThroughputPlan::default().window_batches)]
    window_batches: usize,
    /// Single images timed one by one (batch-1 latency).
    #[arg(long, default_value_t = ThroughputPlan::default().latency_samples)]
    latency_samples: usize,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.backend.device()?;
    set_kernel(Op::Conv2d, args.conv);
    set_conv_algorithm(args.conv_algorithm);
    set_kernel(Op::MaxPool2d, args.pool);
    set_kernel(Op::BatchNorm, args.norm);
    set_kernel(Op::Dropout, args.dropout);
    set_kernel(Op::Linear, args.linear);
    set_kernel(Op::Sgd, args.sgd);
    let data = MnistDataset::train(&args.common.locate_data()?)?;
    let plan = ThroughputPlan {
        warmup_batches: args.warmup,
        windows: args.windows,
        window_batches: args.window_batches,
        latency_samples: args.latency_samples,
    };
    let models = match args.model {
        Some(m) => vec![m],
        None => ModelKind::ALL.to_vec(),
    };
    for model in models {
        println!("{}", measure(model, args.common.backend, &data, plan)?);
    }
    Ok(())
}
