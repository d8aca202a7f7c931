//! §3, Q6 of the report: the one-layer network (7,850 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_fc` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab_tools::cli::example_main;
use mnist_lab_tools::experiment::Preset;

fn main() {
    // The recipe: 784 pixels -> 10 classes, 5 epochs at 0.001 (SGD momentum 0.9, batch 50).
    // One definition, `Preset::simple_fc` (tools/src/experiment/mod.rs), which
    // `reproduce` runs too.
    example_main(|_| Preset::simple_fc());
}
