//! The whole report in one command: every experiment, the learning-rate sweeps, the improved
//! complex CNN, the plots, and `REPORT.md` with our numbers beside the report's and PyTorch's.
//!
//! `cargo run --release --example reproduce -- --data-dir ../shared/data/mnist`
//! (about 70 minutes on 2 cores; runs in `runs/`, report and plots in `results/`). Finished
//! runs of the same config are reused and interrupted ones resumed, so it can be stopped and
//! started again; `--rerun` retrains everything.

use std::path::PathBuf;

use clap::Parser;
use mnist_lab::cli::CommonArgs;
use mnist_lab::data::MnistDataset;
use mnist_lab::experiment::{ReportContext, Reproduction, Suite};

/// Reproduce the report: train everything, write REPORT.md and the plots.
#[derive(Parser, Debug)]
struct Args {
    /// Backend, data, seed; --out is the parent of the run directories (default: runs).
    #[command(flatten)]
    common: CommonArgs,
    /// Where REPORT.md and plots/ go.
    #[arg(long, default_value = "results")]
    report_dir: PathBuf,
    /// Train on the first N training images only (a quick look, not the report's figures).
    #[arg(long)]
    limit_train: Option<usize>,
    /// Leave out the improved complex CNN (the longest run, ~45 minutes on 2 cores).
    #[arg(long)]
    skip_improved: bool,
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
    let suite = Suite {
        backend: args.common.backend,
        runs_dir: args.common.out.clone().unwrap_or_else(|| "runs".into()),
        seed: args.common.seed,
        limit_train: args.limit_train,
        reuse: !args.rerun,
        quiet: args.quiet,
    };
    args.common.backend.device()?;
    let dir = args.common.locate_data()?;
    let (train, test) = (MnistDataset::train(&dir)?, MnistDataset::test(&dir)?);
    let command = std::iter::once("cargo run --release --example reproduce --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let context = ReportContext::current(command, dir);
    let reproduction = Reproduction {
        suite,
        report_dir: args.report_dir,
        with_improved: !args.skip_improved,
    };
    let done = reproduction.run(&train, &test, &context)?;
    for r in &done.experiments {
        match r.final_accuracy() {
            Some(acc) => println!("{}: {acc:.2}%", r.preset.name),
            None => println!("{}: diverged", r.preset.name),
        }
    }
    println!("wrote {}", done.report_path.display());
    Ok(())
}
