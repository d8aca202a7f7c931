//! The report's learning-rate experiments: the simple FC net at 0.01 / 0.001 / 0.0001, the
//! complex MLP at the same three (dropout on at test, as the report), the simple CNN at 0.1 and
//! 0.01, 5 epochs each; one loss plot per model (PNG and SVG).
//!
//! `cargo run --release --example lr_experiments -- --data-dir ../shared/data/mnist`
//! (runs in `runs/<model>_lr<lr>/`, plots in `runs/plots/`; finished runs are reused).

use std::path::PathBuf;

use clap::Parser;
use mnist_lab::train::LearningRate;
use mnist_lab_tools::cli::SuiteArgs;
use mnist_lab_tools::experiment::run_lr_sweeps;

/// Train three models at several learning rates and plot their losses.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Where the plots go (default: <out>/plots).
    #[arg(long)]
    plots: Option<PathBuf>,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let suite = args.suite.suite()?;
    let plots = args.plots.unwrap_or_else(|| suite.runs_dir.join("plots"));
    let (train, test, _) = args.suite.data()?;
    for (sweep, records) in run_lr_sweeps(&suite, &train, &test, &plots)? {
        let plot = plots.join(format!("{}.png", sweep.name));
        println!("{} (plot {}):", sweep.presets[0].model, plot.display());
        for r in &records {
            let lr = LearningRate(r.config.training.stages[0].learning_rate);
            match r.final_accuracy() {
                Some(acc) => println!("  lr {lr}: {acc:.2}%"),
                None => println!("  lr {lr}: diverged"),
            }
        }
    }
    Ok(())
}
