//! Your own network through mnist-lab's trainer: a LeNet-5 written here, trained on
//! Fashion-MNIST where Debian's package is installed (`apt-get install dataset-fashion-mnist`),
//! else on MNIST (found as the other examples find it), or on any `--data-dir`; with
//! checkpoints, exact `--resume`, `summary.json`, safetensors weights for PyTorch and, with
//! `--features onnx`, `model.onnx` for ONNX Runtime.
//!
//! `cargo run --release --example custom_model -- --epochs 3`

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use clap::Parser;
use mnist_lab::data::{
    DataLocator, ImageBatch, ImageBatcher, ImageDataset, Normalization, SourceError, Split,
};
// mnist-lab's `log_softmax` is burn's, written in operations ONNX export can lower.
use mnist_lab::model::log_softmax;
use mnist_lab::train::{self, ClassificationOutput, Resume, RunData, Trainer, TrainingConfig};

/// LeNet-5 (LeCun et al. 1998) with ReLU: conv 6@5x5 (padded), pool, conv 16@5x5, pool,
/// 120, 84, classes.
#[derive(Module, Debug)]
pub struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: AvgPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

/// Its config: what `config.json` records under `model`.
#[derive(Config, Debug)]
pub struct LeNet5Config {
    /// Output classes (the data set's).
    pub classes: usize,
}

impl train::ModelInit for LeNet5Config {
    type Model = LeNet5;
    fn init(&self, device: &Device) -> LeNet5 {
        LeNet5 {
            conv1: Conv2dConfig::new([1, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(16 * 5 * 5, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, self.classes).init(device),
        }
    }
    fn name(&self) -> String {
        "lenet5".into()
    }
}

impl LeNet5 {
    /// Log-probabilities `[B, classes]` of `[B, 1, 28, 28]` images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x))); // 6 x 14 x 14
        let x = self.pool.forward(relu(self.conv2.forward(x))); // 16 x 5 x 5
        let x = relu(self.fc1.forward(x.flatten(1, 3)));
        log_softmax(self.fc3.forward(relu(self.fc2.forward(x))), 1)
    }
    fn output(&self, batch: ImageBatch) -> ClassificationOutput {
        train::classification_output(self.forward(batch.images), batch.targets)
    }
}

// burn-train's step traits: what our trainer (and burn's Learner) asks of a network.
impl train::TrainStep for LeNet5 {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> train::TrainOutput<ClassificationOutput> {
        train::train_output(self, self.output(batch))
    }
}
impl train::InferenceStep for LeNet5 {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.output(batch)
    }
}

/// Train a LeNet-5 written in this file with mnist-lab's trainer.
#[derive(Parser)]
struct Args {
    /// A directory with the four files under MNIST's names (Fashion-MNIST, MNIST, KMNIST).
    /// Default: Debian's Fashion-MNIST when installed, else MNIST ($MNIST_DIR, the cache, a
    /// download).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Where checkpoints, config.json, history.csv, summary.json and the weights go.
    #[arg(long, default_value = "runs/custom_model")]
    out: std::path::PathBuf,
    /// Epochs at learning rate 0.01 (SGD, momentum 0.9, batch 50).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Continue from the newest complete checkpoint, or from that of epoch N.
    #[arg(long, value_name = "N", num_args = 0..=1)]
    resume: Option<Option<usize>>,
}

/// Where Debian's `dataset-fashion-mnist` puts the files.
const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// `--data-dir`, else Fashion-MNIST where installed, else MNIST as the other examples find it.
fn data_dir(explicit: Option<std::path::PathBuf>) -> Result<std::path::PathBuf, SourceError> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if mnist_lab::data::source::has_all_files(FASHION_MNIST.as_ref()) {
        return Ok(FASHION_MNIST.into());
    }
    let dir = DataLocator::new(None).locate()?;
    println!(
        "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); training on \
         MNIST in {}",
        dir.display()
    );
    Ok(dir)
}

fn main() {
    mnist_lab_tools::cli::run_example(|| {
        let args = Args::parse();
        let data_dir = data_dir(args.data_dir)?;
        let train = ImageDataset::split(&data_dir, Split::Train)?;
        let test = ImageDataset::split(&data_dir, Split::Test)?;
        let normalization = Normalization::of(&train); // measured, not MNIST's
        #[cfg(feature = "onnx")]
        let class_names = train.class_names().to_vec();
        let batcher = ImageBatcher::new(normalization.clone());
        let model = LeNet5Config::new(train.num_classes());
        let config = TrainingConfig::new(vec![train::TrainingStage::new(args.epochs, 0.01)]);
        let trainer = Trainer::new(config, Device::flex(), &args.out)?;
        let trainer = trainer.resume(args.resume.map(|e| e.map_or(Resume::Latest, Resume::Epoch)));
        let outcome = trainer.fit(&model, RunData::new(train, test, batcher))?;
        let weights = args.out.join("model.safetensors");
        mnist_lab::interop::save_module(&outcome.model, &weights, &Default::default(), "lenet5")?;
        let stage = &outcome.summary.stages[0];
        println!(
            "LeNet-5: {:.2}% after {} epochs",
            stage.test_accuracy, args.epochs
        );
        println!("per class (%): {:.1?}", stage.per_class_accuracy);
        println!("weights: {}", weights.display());
        // With `--features onnx`: the network for ONNX Runtime, with its normalization and
        // class names in the model's metadata.
        #[cfg(feature = "onnx")]
        {
            let metadata = mnist_lab::interop::OnnxMetadata {
                network: "lenet5".into(),
                normalization,
                class_names,
            };
            let onnx = mnist_lab::interop::export_onnx(
                &outcome.model,
                [1, 28, 28],
                &metadata,
                LeNet5::forward,
            )?;
            let file = args.out.join("model.onnx");
            onnx.save(&file)?;
            println!(
                "onnx: {} ({} -> {})",
                file.display(),
                onnx.input,
                onnx.output
            );
        }
        Ok(())
    });
}
