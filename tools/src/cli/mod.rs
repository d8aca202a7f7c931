//! Command-line arguments of the examples (clap), so examples stay thin: the flags every example
//! shares ([`CommonArgs`]), a training example's ([`TrainArgs`]), a suite's ([`SuiteArgs`]), a
//! trained network's ([`WeightsArgs`]), a speed measurement's ([`ThroughputArgs`]).

mod run;
mod suite_args;
mod throughput_args;
mod train_args;
mod weights_args;

pub use run::{TestSet, example_main, run_preset, train_preset};
pub use suite_args::SuiteArgs;
pub use throughput_args::ThroughputArgs;
pub use train_args::TrainArgs;
pub use weights_args::WeightsArgs;

use std::path::PathBuf;

use clap::Args;

use mnist_lab::backend::BackendKind;

/// Options common to every example: where to run, where the data is, where results go.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// Backend to run on: flex (default), ndarray, wgpu or vulkan (the last three need their
    /// cargo feature).
    #[arg(long, default_value_t = BackendKind::default())]
    pub backend: BackendKind,
    /// Directory with the four MNIST files (raw or .gz). Else $MNIST_DIR, the cache
    /// (~/.cache/mnist-lab/mnist), then a download.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where outputs go (default: runs/<example>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed for weights, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl CommonArgs {
    /// `--out`, or `runs/<name>` when not given.
    pub fn out_dir(&self, name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(name))
    }

    /// The data directory, located as [`mnist_lab::data::DataLocator`] documents.
    pub fn locate_data(&self) -> Result<PathBuf, mnist_lab::data::SourceError> {
        mnist_lab::data::DataLocator::new(self.data_dir.clone()).locate()
    }
}

/// Runs an example: [`flex_kernels::keep_freed_memory`] first, then `run`; on error, prints
/// `error: <message>` (a few lines at most) and exits with status 1.
pub fn run_example(run: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>) {
    flex_kernels::keep_freed_memory();
    exit_on_error(run());
}

fn exit_on_error(result: Result<(), Box<dyn std::error::Error>>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
