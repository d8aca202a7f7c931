//! The report's §3 network: one fully connected layer from 784 pixels to 10 classes.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};

use crate::data::{IMAGE_PIXELS, NUM_CLASSES};

/// Configuration of [`SimpleFc`] (no hyperparameters: the layer sizes are MNIST's).
#[derive(Config, Debug)]
pub struct SimpleFcConfig {}

/// flatten 784 -> Linear 10 -> log-softmax. 7,850 parameters.
#[derive(Module, Debug)]
pub struct SimpleFc {
    /// The only layer (the report calls it `fcl`).
    pub fc: Linear,
}

impl SimpleFcConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> SimpleFc {
        SimpleFc {
            fc: LinearConfig::new(IMAGE_PIXELS, NUM_CLASSES).init(device),
        }
    }
}

impl SimpleFc {
    /// Log-probabilities `[B, 10]` of images `[B, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, ..] = images.dims();
        let x = images.reshape([batch, IMAGE_PIXELS]);
        log_softmax(self.fc.forward(x), 1)
    }
}
