//! Beyond the report: one row of the MNIST benchmark table (LeCun, Cortes and Burges' MNIST
//! page) trained as its recipe says ([`BenchmarkRow::preset`]), its test error printed beside
//! the published one.
//!
//! `cargo run --release --example benchmark_table -- --row mlp-800 --seed 1` (rows: mlp-800,
//! mlp-800-affine, mlp-800-elastic, mlp-500-150; the same overrides as every training example:
//! --stages, --batch-size, --validation, --limit-train, --out, ...). REPORT.md's "The MNIST
//! benchmark table" has every row's figures over three seeds.

use clap::Parser;
use mnist_lab_tools::cli::{TrainArgs, run_preset};
use mnist_lab_tools::experiment::BenchmarkRow;

/// One row of the MNIST benchmark table.
#[derive(Parser)]
struct Args {
    /// The row to train.
    #[arg(long, value_enum)]
    row: BenchmarkRow,
    #[command(flatten)]
    train: TrainArgs,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| {
        let args = Args::parse();
        let row = args.row;
        let outcome = run_preset(&row.preset(), &args.train)?;
        let reached = outcome.summary.stages.last().expect("one stage at least");
        println!(
            "{row} ({}): {:.2}% error ({} of {} wrong) on the {} images; published {:.2}% ({})",
            row.description(),
            100.0 - reached.test_accuracy,
            reached.total - reached.correct,
            reached.total,
            if args.train.validation.is_some() {
                "held-out training"
            } else {
                "test"
            },
            row.published_error(),
            row.source()
        );
        Ok(())
    });
}
