//! §4, Q7/Q8 of the report: the simple CNN (8,490 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab::experiment::{Preset, example_main};
use mnist_lab::model::{ModelConfig, SimpleCnnConfig};
use mnist_lab::train::TrainingStage;

fn main() {
    // The recipe: two 5x5 convs of 10 and 20 channels, one linear layer; 5 epochs at 0.001.
    example_main(|_| Preset {
        model: ModelConfig::SimpleCnn(SimpleCnnConfig::new().with_channels([10, 20])),
        stages: vec![TrainingStage::new(5, 1e-3)],
        ..Preset::simple_cnn() // the report's and PyTorch's figures, for comparison
    });
}
