//! The report's complex CNN trained from a user's crate with the library alone (no tools crate,
//! default features): the speed a dependent gets, to set beside `examples/complex_cnn`.
//!
//! `cargo run --release --manifest-path downstream/Cargo.toml --bin complex_cnn -- DATA_DIR
//! [STAGES] [LIMIT_TRAIN] [OUT]` (defaults: `2@0.01,2@0.001`, every image, a temporary directory).

use burn::tensor::Device;
use mnist_lab::ModelKind;
use mnist_lab::data::{DataLocator, MnistBatcher, MnistDataset};
use mnist_lab::train::{RunConfig, RunData, parse_stages};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = DataLocator::new(args.first().map(Into::into)).locate()?;
    let stages = parse_stages(args.get(1).map_or("2@0.01,2@0.001", String::as_str))?;
    let mut config = RunConfig::new(ModelKind::ComplexCnn.config(), stages);
    config.training.limit_train = args.get(2).map(|n| n.parse()).transpose()?;
    let out = args.get(3).map_or_else(
        || std::env::temp_dir().join(format!("mnist-lab-complex-cnn-{}", std::process::id())),
        Into::into,
    );
    let data = RunData::new(
        MnistDataset::train(&dir)?,
        MnistDataset::test(&dir)?,
        MnistBatcher::default(),
    );
    let outcome = config.trainer(Device::flex(), &out)?.fit(&config.model, data)?;
    let s = &outcome.summary;
    println!(
        "complex_cnn from a dependent: {:.2}% after {} stages, {:.0} training images/s, {:.1} s \
         in the trainer; {}",
        s.stages.last().map_or(0.0, |st| st.test_accuracy),
        s.stages.len(),
        s.train_images_per_sec,
        s.wall_seconds,
        out.display()
    );
    Ok(())
}
