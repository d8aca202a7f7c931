//! §4, Q7/Q8 of the report: the simple CNN (8,490 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab_tools::cli::example_main;
use mnist_lab_tools::experiment::Preset;

fn main() {
    // The recipe: two 5x5 convs (10 and 20 channels) with pooling, one linear layer; 5
    // epochs at 0.001 (SGD momentum 0.9, batch 50).
    // One definition, `Preset::simple_cnn` (tools/src/experiment/mod.rs), which
    // `reproduce` runs too.
    example_main(|_| Preset::simple_cnn());
}
