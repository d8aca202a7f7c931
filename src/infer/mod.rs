//! Using a trained network: load its weights, classify images, get the likeliest classes with
//! their probabilities.
//!
//! [`Predictor`] takes any network with our step traits (the five here, or one of your own) and
//! 28x28 grey images as MNIST has them; [`mnist_style`] turns any picture of a digit (PNG, JPEG,
//! a canvas drawing, a photo) into one, the way MNIST's digits were made. [`load_network`] reads
//! our `model.safetensors`, a checkpoint's `model-N.bpk`, or a PyTorch `.pt`.
//!
//! ```no_run
//! use mnist_lab::infer::{Predictor, load_network, network_beside};
//! use std::path::Path;
//!
//! let weights = Path::new("runs/complex_cnn/model.safetensors");
//! let device = burn::tensor::Device::flex();
//! // The network is the one `config.json` beside the weights names.
//! let network = load_network(&network_beside(weights)?, weights, &device)?;
//! let predictor = Predictor::new(network, device);
//! let prediction = predictor.predict_file(Path::new("my-digit.png"))?;
//! for (class, probability) in prediction.top(3) {
//!     println!("{class}: {:.1}%", probability * 100.0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod preprocess;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, activation::softmax};

pub use preprocess::{
    DIGIT_BOX, INK_THRESHOLD, MAX_STROKE_WIDTH, MIN_CONTRAST, PreprocessError, mnist_style,
    stroke_width,
};

use crate::data::{IMAGE_PIXELS, ImageBatch, MnistBatcher, MnistItem};
use crate::model::{Model, ModelConfig};
use crate::train::{ClassificationOutput, InferenceStep};

/// What a network says of one image: a probability per class.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// One per class, summing to 1.
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The `k` likeliest classes, likeliest first, with their probabilities (ties: the lower
    /// class first).
    ///
    /// ```
    /// use mnist_lab::infer::Prediction;
    /// let p = Prediction { probabilities: vec![0.1, 0.6, 0.3] };
    /// assert_eq!(p.top(2), [(1, 0.6), (2, 0.3)]);
    /// assert_eq!(p.class(), 1);
    /// ```
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> =
            self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }

    /// The likeliest class.
    pub fn class(&self) -> usize {
        self.top(1).first().map_or(0, |&(c, _)| c)
    }
}

/// Why an image could not be classified, or a network not loaded.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The image file could not be read or decoded.
    #[error("{path}: cannot read it as an image ({source}); give a PNG or JPEG file", path = path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        source: image::ImageError,
    },
    /// The image holds no digit.
    #[error("{path}: {source}", path = path.display())]
    NoDigit {
        /// The file (or `<request>` for bytes).
        path: PathBuf,
        /// Why.
        source: PreprocessError,
    },
    /// The weights could not be loaded.
    #[error(transparent)]
    Weights(#[from] crate::interop::InteropError),
    /// A checkpoint or `config.json` could not be read.
    #[error(transparent)]
    Run(#[from] crate::train::TrainError),
    /// No `config.json` beside the weights to say which network they are.
    #[error(
        "{}: no config.json beside it to say which network it holds; pass --model (simple_fc, \
         complex_mlp, simple_cnn, provided_cnn, complex_cnn)",
        weights.display()
    )]
    UnknownNetwork {
        /// The weights file.
        weights: PathBuf,
    },
}

/// The network `config.json` beside `weights` names (a run directory holds both; a checkpoint
/// `checkpoints/model-N.bpk` looks one directory up).
pub fn network_beside(weights: &Path) -> Result<ModelConfig, InferError> {
    let dir = weights.parent().unwrap_or(Path::new("."));
    let candidates = [dir.join("config.json"), dir.join("../config.json")];
    let Some(config) = candidates.iter().find(|p| p.is_file()) else {
        return Err(InferError::UnknownNetwork {
            weights: weights.to_path_buf(),
        });
    };
    Ok(crate::train::RunConfig::read(config)?.model)
}

/// The network `config` describes, with its weights from `weights`: our `model.safetensors` or a
/// PyTorch `.pt`/`.pth`/`.safetensors` (PyTorch's names, [`crate::interop`]), or a checkpoint's
/// `model-N.bpk` (burn's record). Dropout is off (inference), as in evaluation.
pub fn load_network(
    config: &ModelConfig,
    weights: &Path,
    device: &Device,
) -> Result<Model, InferError> {
    crate::backend::keep_freed_memory();
    let network = config.init(device);
    if weights.extension().is_some_and(|e| e == "bpk") {
        return Ok(load_record(network, weights)?);
    }
    Ok(crate::interop::load_into(network, weights)?)
}

/// Any module with its weights from a burn record file (`model-N.bpk` of a checkpoint).
pub fn load_record<M: Module>(module: M, path: &Path) -> Result<M, crate::train::TrainError> {
    crate::train::checkpoint::load_weights(
        module,
        path,
        |e| {
            format!(
                "cannot be read as weights ({e}): the file is damaged; give another weights file"
            )
        },
        "pass the --model that wrote it",
    )
}

/// A network ready to classify 28x28 grey images, normalized as in training.
#[derive(Clone, Debug)]
pub struct Predictor<M> {
    network: M,
    batcher: MnistBatcher,
    device: Device,
}

impl<M> Predictor<M>
where
    M: InferenceStep<Input = ImageBatch, Output = ClassificationOutput>,
{
    /// `network` on `device`, its inputs normalized with MNIST's mean and deviation.
    pub fn new(network: M, device: Device) -> Self {
        Self {
            network,
            batcher: MnistBatcher::default(),
            device,
        }
    }

    /// Inputs normalized with `batcher` instead (a network trained on other data).
    pub fn with_batcher(mut self, batcher: MnistBatcher) -> Self {
        self.batcher = batcher;
        self
    }

    /// The network's probabilities for each image: MNIST-style grey values (light ink on
    /// black, as [`mnist_style`] makes them), in one batch.
    pub fn predict_pixels(&self, images: &[[u8; IMAGE_PIXELS]]) -> Vec<Prediction> {
        if images.is_empty() {
            return vec![];
        }
        use burn::data::dataloader::batcher::Batcher;
        let items = images
            .iter()
            .map(|&pixels| MnistItem { pixels, label: 0 })
            .collect();
        let batch = self.batcher.batch(items, &self.device);
        let output = self.network.step(batch).output;
        probabilities(output)
    }

    /// The network's probabilities for any picture of one digit ([`mnist_style`] first).
    pub fn predict_image(
        &self,
        image: &image::DynamicImage,
    ) -> Result<Prediction, PreprocessError> {
        let pixels = mnist_style(&image.to_luma8())?;
        Ok(self.predict_pixels(&[pixels]).remove(0))
    }

    /// [`Self::predict_image`] of a PNG or JPEG file.
    pub fn predict_file(&self, path: &Path) -> Result<Prediction, InferError> {
        let image = image::open(path).map_err(|source| InferError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        self.predict_image(&image)
            .map_err(|source| InferError::NoDigit {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// Softmax of each row: the networks end in log-softmax (or logits), either gives the same.
fn probabilities(output: Tensor<2>) -> Vec<Prediction> {
    let [_, classes] = output.dims();
    let values = softmax(output, 1)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output");
    values
        .chunks_exact(classes)
        .map(|p| Prediction {
            probabilities: p.to_vec(),
        })
        .collect()
}
