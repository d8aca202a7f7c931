//! A user's crate: a network of its own trained by mnist-lab's trainer on the MNIST slice
//! committed in mnist-lab's repository, checkpointed, resumed, exported and loaded back.
//!
//! `cargo run --manifest-path downstream/Cargo.toml -- [DATA_DIR]` (exits non-zero on failure).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::activation::{log_softmax, relu};
use mnist_lab::data::{ImageBatch, ImageBatcher, ImageDataset, Normalization, Split};
use mnist_lab::interop::{self, KeyNames};
use mnist_lab::train::{
    self, ClassificationOutput, InferenceStep, ModelInit, RunData, TrainOutput, TrainStep, Trainer,
    TrainingConfig, parse_stages,
};

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    out: Linear,
}

#[derive(Config, Debug)]
struct MlpConfig {
    classes: usize,
}

impl ModelInit for MlpConfig {
    type Model = Mlp;
    fn init(&self, device: &Device) -> Mlp {
        Mlp {
            hidden: LinearConfig::new(784, 64).init(device),
            out: LinearConfig::new(64, self.classes).init(device),
        }
    }
}

impl Mlp {
    fn output(&self, batch: ImageBatch) -> ClassificationOutput {
        let x = relu(self.hidden.forward(batch.images.flatten(1, 3)));
        train::classification_output(log_softmax(self.out.forward(x), 1), batch.targets)
    }
}

impl TrainStep for Mlp {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        train::train_output(self, self.output(batch))
    }
}

impl InferenceStep for Mlp {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.output(batch)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/mnist-slice").into()
    });
    let data_dir = std::path::Path::new(&data_dir);
    let train_set = ImageDataset::split(data_dir, Split::Train)?;
    let test_set = ImageDataset::split(data_dir, Split::Test)?;
    let data = RunData::new(
        train_set.clone(),
        test_set,
        ImageBatcher::new(Normalization::of(&train_set)),
    );
    let net = MlpConfig::new(train_set.num_classes());
    let out = std::env::temp_dir().join(format!("mnist-lab-downstream-{}", std::process::id()));
    let trainer = || {
        let config = TrainingConfig::new(parse_stages("1@0.05,1@0.01").expect("valid stages"));
        Trainer::new(config, Device::flex(), &out).map(Trainer::quiet)
    };
    trainer()?.stop_after(1).fit(&net, data.clone())?;
    let outcome = trainer()?.resume_latest().fit(&net, data.clone())?;
    let weights = out.join("mlp.safetensors");
    interop::save_module(&outcome.model, &weights, &KeyNames::new(), "mlp")?;
    let device = Device::flex();
    let back = interop::load_module(net.init(&device), &weights, &KeyNames::new(), "mlp")?;
    let test = train::loader(data.test.clone(), data.batcher.clone(), 100, None, &device);
    let (trained, loaded) = (
        train::evaluate(&outcome.model, &*test)?,
        train::evaluate(&back, &*test)?,
    );
    std::fs::remove_dir_all(&out)?;
    println!(
        "downstream: own MLP, resumed from the newest checkpoint: {}; the exported weights give \
         the same predictions: {}",
        trained.report_line(),
        trained == loaded
    );
    if trained.accuracy() < 0.8 || trained != loaded {
        return Err("downstream check failed".into());
    }
    Ok(())
}
