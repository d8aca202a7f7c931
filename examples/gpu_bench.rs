//! The one binary `bench/gpu.sh` ships to a GPU machine: `examples/throughput` and the main job
//! (`examples/complex_cnn`) as two subcommands, so that the bundle holds one copy of the code
//! they share (each build is ~100 MB stripped, almost all of it burn's).
//!
//! `cargo run --release --features wgpu --example gpu_bench -- throughput --model simple_cnn
//! --backend wgpu`, or `-- complex-cnn --backend wgpu` (each takes the flags of the example it
//! stands for; `-- help` lists them).

use clap::{Parser, Subcommand};
use mnist_lab_tools::cli::{ThroughputArgs, TrainArgs, run_example, run_preset};
use mnist_lab_tools::experiment::Preset;

/// examples/throughput and examples/complex_cnn in one binary.
#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Training and inference images/s, as `examples/throughput`.
    Throughput(ThroughputArgs),
    /// The main job, as `examples/complex_cnn`.
    ComplexCnn(TrainArgs),
}

fn main() {
    run_example(|| match Args::parse().command {
        Command::Throughput(args) => args.run(),
        Command::ComplexCnn(args) => {
            run_preset(&Preset::complex_cnn(), &args)?;
            Ok(())
        }
    });
}
