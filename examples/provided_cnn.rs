//! §5.1 of the report: PyTorch's example CNN, 5 epochs each at 1e-3, 1e-4, 1e-5.
//!
//! `cargo run --release --example provided_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab::experiment::{Preset, example_main};
use mnist_lab::model::{ModelConfig, ProvidedCnnConfig};
use mnist_lab::train::parse_stages;

fn main() {
    // The recipe: PyTorch's example CNN (hidden layer of 50, dropout 0.5), three stages of 5
    // epochs continuing one optimizer state, at 1e-3, 1e-4 and 1e-5.
    example_main(|_| Preset {
        model: ModelConfig::ProvidedCnn(ProvidedCnnConfig::new().with_hidden(50).with_dropout(0.5)),
        stages: parse_stages("5@1e-3,5@1e-4,5@1e-5").expect("valid stages"),
        ..Preset::provided_cnn() // the report's and PyTorch's figures, for comparison
    });
}
