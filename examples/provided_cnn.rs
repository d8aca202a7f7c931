//! §5.1 of the report: PyTorch's example CNN, 5 epochs each at 1e-3, 1e-4, 1e-5.
//!
//! `cargo run --release --example provided_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab_tools::cli::example_main;
use mnist_lab_tools::experiment::Preset;

fn main() {
    // The recipe: PyTorch's example CNN (convs of 10 and 20 channels, hidden 50, dropout
    // 0.5); 5 epochs each at 1e-3, 1e-4 and 1e-5 (SGD momentum 0.9, batch 50).
    // One definition, `Preset::provided_cnn` (tools/src/experiment/mod.rs), which
    // `reproduce` runs too.
    example_main(|_| Preset::provided_cnn());
}
