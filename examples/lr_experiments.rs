//! The report's learning-rate experiments: the simple FC net at 0.01 / 0.001 / 0.0001, the
//! complex MLP at the same three (dropout on at test, as the report), the simple CNN at 0.1 and
//! 0.01, 5 epochs each; one loss plot per model (PNG and SVG).
//!
//! `cargo run --release --example lr_experiments -- --data-dir ../shared/data/mnist`
//! (runs in `runs/<model>_lr<lr>/`, plots in `runs/plots/`; finished runs are reused).

use std::path::PathBuf;

use clap::Parser;
use mnist_lab::cli::CommonArgs;
use mnist_lab::data::MnistDataset;
use mnist_lab::experiment::{Suite, run_lr_sweeps};
use mnist_lab::train::LearningRate;

/// Train three models at several learning rates and plot their losses.
#[derive(Parser, Debug)]
struct Args {
    /// Backend, data, seed; --out is the parent of the run directories (default: runs).
    #[command(flatten)]
    common: CommonArgs,
    /// Where the plots go (default: <out>/plots).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Train on the first N training images only.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Retrain even where a finished run of the same config exists.
    #[arg(long)]
    rerun: bool,
    /// Print one result line per run instead of the loss every 100 batches.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    mnist_lab::cli::exit_on_error(run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let runs_dir = args.common.out.clone().unwrap_or_else(|| "runs".into());
    let plots = args.plots.clone().unwrap_or_else(|| runs_dir.join("plots"));
    let suite = Suite {
        backend: args.common.backend,
        runs_dir,
        seed: args.common.seed,
        limit_train: args.limit_train,
        reuse: !args.rerun,
        quiet: args.quiet,
    };
    args.common.backend.device()?;
    let dir = args.common.locate_data()?;
    let (train, test) = (MnistDataset::train(&dir)?, MnistDataset::test(&dir)?);
    for (sweep, records) in run_lr_sweeps(&suite, &train, &test, &plots)? {
        println!(
            "{} (plot {}):",
            sweep.presets[0].model,
            plots.join(format!("{}.png", sweep.name)).display()
        );
        for r in &records {
            let lr = LearningRate(r.config.stages[0].learning_rate);
            match r.final_accuracy() {
                Some(acc) => println!("  lr {lr}: {acc:.2}%"),
                None => println!("  lr {lr}: diverged"),
            }
        }
    }
    Ok(())
}
