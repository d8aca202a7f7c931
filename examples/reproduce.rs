//! The whole report in one command: every experiment, the learning-rate sweeps, the improved
//! complex CNN, the plots, and `REPORT.md` with our numbers beside the report's and PyTorch's.
//!
//! `cargo run --release --example reproduce -- --data-dir ../shared/data/mnist`
//! (on 2 cores of a Zen 3 EPYC: 15.5 minutes with `--skip-improved`, 2026-12-01; the improved
//! recipe adds ~30; runs in `runs/`, report, plots and pictures in `results/`). Finished
//! runs of the same config are reused and interrupted ones resumed, so it can be stopped and
//! started again; `--rerun` retrains everything.

use std::path::PathBuf;

use clap::Parser;
use mnist_lab_tools::cli::SuiteArgs;
use mnist_lab_tools::experiment::Reproduction;
use mnist_lab_tools::report::ReportContext;

/// Reproduce the report: train everything, write REPORT.md and the plots.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Where REPORT.md and plots/ go.
    #[arg(long, default_value = "results")]
    report_dir: PathBuf,
    /// Leave out the improved complex CNN (the longest run, ~50 minutes on 2 cores).
    #[arg(long)]
    skip_improved: bool,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let suite = args.suite.suite()?;
    let (train, test, dir) = args.suite.data()?;
    let command = std::iter::once("cargo run --release --example reproduce --".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let reproduction = Reproduction {
        suite,
        report_dir: args.report_dir,
        with_improved: !args.skip_improved,
    };
    let done = reproduction.run(&train, &test, &ReportContext::current(command, dir))?;
    for r in &done.experiments {
        match r.final_accuracy() {
            Some(acc) => println!("{}: {acc:.2}%", r.preset.name),
            None => println!("{}: diverged", r.preset.name),
        }
    }
    println!("wrote {}", done.report_path.display());
    Ok(())
}
