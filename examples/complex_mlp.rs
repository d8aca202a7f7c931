//! The report's learning-rate experiments on the 3-layer MLP: 5 epochs at `--lr` (0.01, 0.001
//! or 0.0001; default 0.01), with dropout left on at test time as the report's code did.
//!
//! `cargo run --release --example complex_mlp -- --lr 0.001`

use mnist_lab::experiment::{Preset, example_main};
use mnist_lab::model::{ComplexMlpConfig, ModelConfig};

fn main() {
    example_main(|args| {
        // The recipe: 784 -> 512 -> 512 -> 10 with dropout 0.2, left on at test time as the
        // report's `F.dropout(x, 0.2)` did; 5 epochs at --lr.
        let mlp = ComplexMlpConfig::new()
            .with_hidden(512)
            .with_dropout(0.2)
            .with_dropout_at_test(true);
        Preset {
            model: ModelConfig::ComplexMlp(mlp),
            ..Preset::complex_mlp(args.lr.unwrap_or(1e-2)) // stages and the report's figures
        }
    });
}
