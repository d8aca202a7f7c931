//! The report's §5.1 "provided" network: PyTorch's classic MNIST example without `Dropout2d`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use super::simple_cnn::{conv_features, conv_features_len_with};
use flex_kernels::{dropout, linear};

/// Configuration of [`ProvidedCnn`].
#[derive(Config, Debug)]
pub struct ProvidedCnnConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Output channels of the two 5x5 convolutions.
    #[config(default = "[10, 20]")]
    pub channels: [usize; 2],
    /// Side of the two square convolution kernels (`None`: 5 and 5, as the report's).
    #[config(default = "None")]
    pub kernel_sizes: Option<[usize; 2]>,
    /// Width of the hidden fully connected layer.
    #[config(default = 50)]
    pub hidden: usize,
    /// Dropout probability before the last layer.
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// The simple CNN's convs, then Linear 320->50, relu, dropout 0.5, Linear 50->10.
/// 21,840 parameters.
#[derive(Module, Debug)]
pub struct ProvidedCnn {
    /// 1 -> 10 channels, 5x5.
    pub conv1: Conv2d,
    /// 10 -> 20 channels, 5x5.
    pub conv2: Conv2d,
    /// 2x2 max pooling, stride 2.
    pub pool: MaxPool2d,
    /// 320 -> 50.
    pub fc1: Linear,
    /// 50 -> 10.
    pub fc2: Linear,
    /// Dropout between the two linear layers (training only).
    pub dropout: Dropout,
}

impl ProvidedCnnConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> ProvidedCnn {
        let [k1, k2] = self.kernel_sizes.unwrap_or([5, 5]);
        let features = conv_features_len_with(self.input, self.channels, [k1, k2]);
        ProvidedCnn {
            conv1: Conv2dConfig::new([self.input[0], self.channels[0]], [k1, k1]).init(device),
            conv2: Conv2dConfig::new(self.channels, [k2, k2]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(features, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.num_classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl ProvidedCnn {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = conv_features(&self.conv1, &self.conv2, &self.pool, images);
        let x = dropout(&self.dropout, relu(linear(&self.fc1, x)));
        log_softmax(linear(&self.fc2, x), 1)
    }
}
