//! The report's learning-rate experiments on the 3-layer MLP: 5 epochs at `--lr` (0.01, 0.001
//! or 0.0001; default 0.01), with dropout left on at test time as the report's code did.
//!
//! `cargo run --release --example complex_mlp` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab_tools::cli::example_main;
use mnist_lab_tools::experiment::Preset;

fn main() {
    // The recipe: 784 -> 512 -> 512 -> 10 with dropout 0.2, left on at test time as the
    // report's `F.dropout(x, 0.2)` did; 5 epochs at --lr (SGD momentum 0.9, batch 50).
    // One definition, `Preset::complex_mlp` (tools/src/experiment/mod.rs), which
    // `reproduce` runs too.
    example_main(|args| Preset::complex_mlp(args.lr.unwrap_or(1e-2)));
}
