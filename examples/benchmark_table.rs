//! Beyond the report: a row of the MNIST benchmark table (LeCun, Cortes and Burges' MNIST
//! page) trained as its recipe says ([`BenchmarkRow::preset`]), its test error printed beside
//! the published one.
//!
//! `cargo run --release --example benchmark_table -- --row mlp-800 --seeds 1,2,3 --record
//! results/benchmark-table.json` trains the row once per seed (into `runs/mlp_800/seed-N`;
//! with `--resume`, finished runs are reused), then adds the row to the record and writes the
//! whole table beside it as markdown (`results/benchmark-table.md`, which `reproduce` puts into
//! REPORT.md). Rows: mlp-800, mlp-800-affine, mlp-800-elastic, mlp-500-150, lenet-5; the same
//! overrides as every training example (--stages, --batch-size, --validation, ...), except with
//! `--record`, which keeps each row's own recipe only.

use std::path::PathBuf;

use clap::Parser;
use mnist_lab_tools::cli::{TrainArgs, run_preset};
use mnist_lab_tools::experiment::BenchmarkRow;
use mnist_lab_tools::experiment::benchmark::{
    RowRecord, RowRun, changes_recipe, read_record, record_row,
};
use mnist_lab_tools::report::ReportContext;

/// A row of the MNIST benchmark table.
#[derive(Parser)]
struct Args {
    /// The row to train.
    #[arg(long, value_enum)]
    row: BenchmarkRow,
    /// Train once per seed (into `<out>/seed-N`), e.g. `1,2,3`; default: `--seed` alone.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Add the row's runs to this JSON record (made if missing) and write the table as markdown
    /// beside it (the same name, `.md`).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[command(flatten)]
    train: TrainArgs,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| {
        let args = Args::parse();
        let row = args.row;
        let preset = row.preset();
        if args.record.is_some() && changes_recipe(row, &args.train)? {
            return Err(format!(
                "--record keeps {row}'s own recipe on the test set: drop the flags that change \
                 it (--validation, --limit-train, --stages, --epochs, --lr, ...), or drop --record"
            )
            .into());
        }
        if let Some(path) = &args.record {
            read_record(path)?; // a record that cannot be read would refuse the runs afterwards
        }
        let several = !args.seeds.is_empty();
        let seeds = if several {
            args.seeds.clone()
        } else {
            vec![args.train.common.seed]
        };
        let mut runs = vec![];
        for seed in seeds {
            let mut train = args.train.clone();
            train.common.seed = seed;
            if several {
                train.common.out = Some(args.train.out_dir(&preset).join(format!("seed-{seed}")));
            }
            let outcome = run_preset(&preset, &train)?;
            let run = RowRun::of(&outcome.summary).ok_or("a run without a stage")?;
            println!(
                "{row} ({}), seed {seed}: {:.2}% error ({} of {} wrong) on the {} images; \
                 published {:.2}% ({})",
                row.description(),
                run.error(),
                run.wrong,
                run.total,
                if train.validation.is_some() {
                    "held-out training"
                } else {
                    "test"
                },
                row.published_error(),
                row.source()
            );
            runs.push(run);
        }
        if let Some(path) = &args.record {
            let data_dir = args.train.common.locate_data()?;
            let flags: Vec<String> = std::env::args().skip(1).collect();
            let command = format!(
                "cargo run --release --example benchmark_table -- {}",
                flags.join(" ")
            );
            let context = ReportContext::current(command, data_dir);
            let record = RowRecord {
                host: format!("{}, {} threads", context.cpu, context.threads),
                date: context.date,
                command: context.command,
                runs,
            };
            let markdown = record_row(path, row, record)?;
            println!(
                "{} and {}:\n\n{markdown}",
                path.display(),
                path.with_extension("md").display()
            );
        }
        Ok(())
    });
}
