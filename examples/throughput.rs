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
use mnist_lab_tools::cli::ThroughputArgs;

/// Measure training and inference images/s.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    throughput: ThroughputArgs,
}

fn main() {
    // The flags and the measurement: `ThroughputArgs` (tools/src/cli/throughput_args.rs),
    // which `gpu_bench throughput` runs too.
    mnist_lab_tools::cli::run_example(|| Args::parse().throughput.run());
}
