//! §3, Q6 of the report: the one-layer network (7,850 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_fc` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

use mnist_lab::experiment::{Preset, example_main};
use mnist_lab::model::{ModelConfig, SimpleFcConfig};
use mnist_lab::train::TrainingStage;

fn main() {
    // The recipe: 784 pixels -> 10 classes, 5 epochs at 0.001 (SGD momentum 0.9, batch 50).
    example_main(|_| Preset {
        model: ModelConfig::SimpleFc(SimpleFcConfig::new().with_num_classes(10)),
        stages: vec![TrainingStage::new(5, 1e-3)],
        ..Preset::simple_fc() // the report's and PyTorch's figures, for comparison
    });
}
