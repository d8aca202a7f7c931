//! The report's §4 convolutional network (Q7/Q8).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};

use crate::data::NUM_CLASSES;
use crate::kernel::{conv2d, max_pool2d};

/// Configuration of [`SimpleCnn`].
#[derive(Config, Debug)]
pub struct SimpleCnnConfig {}

/// conv 1->10 k5, maxpool 2, relu, conv 10->20 k5, maxpool 2, relu, flatten 320, Linear 10.
/// 8,490 parameters.
#[derive(Module, Debug)]
pub struct SimpleCnn {
    /// 1 -> 10 channels, 5x5: 28x28 -> 24x24.
    pub conv1: Conv2d,
    /// 10 -> 20 channels, 5x5: 12x12 -> 8x8.
    pub conv2: Conv2d,
    /// 2x2 max pooling, stride 2.
    pub pool: MaxPool2d,
    /// 320 -> 10.
    pub fc1: Linear,
}

/// Features after the two conv blocks of the simple and provided CNNs: 20 channels of 4x4.
pub const CONV_FEATURES: usize = 20 * 4 * 4;

impl SimpleCnnConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> SimpleCnn {
        SimpleCnn {
            conv1: Conv2dConfig::new([1, 10], [5, 5]).init(device),
            conv2: Conv2dConfig::new([10, 20], [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(CONV_FEATURES, NUM_CLASSES).init(device),
        }
    }
}

impl SimpleCnn {
    /// The two conv blocks, flattened: `[B, 320]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        conv_features(&self.conv1, &self.conv2, &self.pool, images)
    }

    /// Log-probabilities `[B, 10]` of images `[B, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        log_softmax(self.fc1.forward(self.features(images)), 1)
    }
}

/// conv, pool, relu twice, then flatten: shared by [`SimpleCnn`] and the provided CNN.
pub(crate) fn conv_features(
    conv1: &Conv2d,
    conv2: &Conv2d,
    pool: &MaxPool2d,
    images: Tensor<4>,
) -> Tensor<2> {
    let [batch, ..] = images.dims();
    let x = relu(max_pool2d(pool, conv2d(conv1, images)));
    let x = relu(max_pool2d(pool, conv2d(conv2, x)));
    x.reshape([batch, CONV_FEATURES])
}
