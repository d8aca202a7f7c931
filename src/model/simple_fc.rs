//! The report's §3 network: one fully connected layer from the pixels (784 for MNIST) to the
//! classes.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use flex_kernels::linear;

use super::log_softmax;

/// Configuration of [`SimpleFc`].
#[derive(Config, Debug)]
pub struct SimpleFcConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
}

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
            fc: LinearConfig::new(self.input.iter().product(), self.num_classes).init(device),
        }
    }
}

impl SimpleFc {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]` (`[B, 1, 28, 28]` for MNIST).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        log_softmax(linear(&self.fc, images.flatten(1, 3)), 1)
    }
}
