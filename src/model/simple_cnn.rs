//! The report's §4 convolutional network (Q7/Q8).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use flex_kernels::{conv2d, linear, max_pool2d};

/// Configuration of [`SimpleCnn`].
#[derive(Config, Debug)]
pub struct SimpleCnnConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Output channels of the two 5x5 convolutions.
    #[config(default = "[10, 20]")]
    pub channels: [usize; 2],
}

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

/// Features after two blocks of (5x5 conv, 2x2 max pool) on `[channels, height, width]` images,
/// with `channels[1]` output channels: 320 for MNIST.
pub fn conv_features_len(input: [usize; 3], channels: [usize; 2]) -> usize {
    conv_features_len_with(input, channels, [5, 5])
}

/// Features after two blocks of (`kernels[i]` square conv, 2x2 max pool), with `channels[1]`
/// output channels: 800 for MNIST with kernels `[5, 3]` and 32 channels.
///
/// ```
/// use mnist_lab::model::simple_cnn::conv_features_len_with;
/// assert_eq!(conv_features_len_with([1, 28, 28], [24, 32], [5, 3]), 32 * 5 * 5);
/// ```
pub fn conv_features_len_with(
    [_, height, width]: [usize; 3],
    channels: [usize; 2],
    [k1, k2]: [usize; 2],
) -> usize {
    let shrink = |s: usize, k: usize| s.saturating_sub(k.saturating_sub(1)) / 2;
    let side = |s: usize| shrink(shrink(s, k1), k2);
    channels[1] * side(height) * side(width)
}

impl SimpleCnnConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> SimpleCnn {
        SimpleCnn {
            conv1: Conv2dConfig::new([self.input[0], self.channels[0]], [5, 5]).init(device),
            conv2: Conv2dConfig::new(self.channels, [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(
                conv_features_len(self.input, self.channels),
                self.num_classes,
            )
            .init(device),
        }
    }
}

impl SimpleCnn {
    /// The two conv blocks, flattened: `[B, 320]` for MNIST.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        conv_features(&self.conv1, &self.conv2, &self.pool, images)
    }

    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        log_softmax(linear(&self.fc1, self.features(images)), 1)
    }
}

/// conv, pool, relu twice, then flatten: shared by [`SimpleCnn`] and the provided CNN.
pub(crate) fn conv_features(
    conv1: &Conv2d,
    conv2: &Conv2d,
    pool: &MaxPool2d,
    images: Tensor<4>,
) -> Tensor<2> {
    let x = relu(max_pool2d(pool, conv2d(conv1, images)));
    let x = relu(max_pool2d(pool, conv2d(conv2, x)));
    x.flatten(1, 3)
}
