//! The report's §5.2 deeper network: three convs and three linear layers with batch norm.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use flex_kernels::{batch_norm_max_pool2d_relu, batch_norm_relu, conv2d, dropout, linear};

/// Configuration of [`ComplexCnn`].
#[derive(Config, Debug)]
pub struct ComplexCnnConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Output channels of the three 3x3 convolutions.
    #[config(default = "[32, 64, 64]")]
    pub channels: [usize; 3],
    /// Widths of the two hidden linear layers.
    #[config(default = "[512, 256]")]
    pub hidden: [usize; 2],
    /// Dropout probability after the two hidden linear layers.
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// conv 1->32 k3 p1, BN, relu; conv 32->64 k3 p1, BN, maxpool 2, relu; conv 64->64 k3 p1, BN,
/// maxpool 2, relu; flatten 3136; Linear 512, BN1d, relu, dropout; Linear 256, BN1d, relu,
/// dropout; Linear 10. 1,797,642 trainable parameters plus 1,856 batch-norm running statistics.
#[derive(Module, Debug)]
pub struct ComplexCnn {
    /// 1 -> 32 channels, 3x3, padding 1.
    pub conv1: Conv2d,
    /// Batch norm after conv1.
    pub bn1: BatchNorm,
    /// 32 -> 64 channels, 3x3, padding 1.
    pub conv2: Conv2d,
    /// Batch norm after conv2.
    pub bn2: BatchNorm,
    /// 64 -> 64 channels, 3x3, padding 1.
    pub conv3: Conv2d,
    /// Batch norm after conv3.
    pub bn3: BatchNorm,
    /// 3136 -> 512.
    pub fc1: Linear,
    /// Batch norm (1d) after fc1.
    pub bn4: BatchNorm,
    /// 512 -> 256.
    pub fc2: Linear,
    /// Batch norm (1d) after fc2.
    pub bn5: BatchNorm,
    /// 256 -> 10.
    pub fc3: Linear,
    /// 2x2 max pooling, stride 2.
    pub pool: MaxPool2d,
    /// Dropout after the hidden linear layers (training only).
    pub dropout: Dropout,
}

fn conv3x3(channels: [usize; 2], device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl ComplexCnnConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> ComplexCnn {
        let bn = |features| BatchNormConfig::new(features).init(device);
        let [c1, c2, c3] = self.channels;
        let [h1, h2] = self.hidden;
        // Two 2x2 poolings (padding 1 keeps the 3x3 convs' sizes).
        let features = c3 * (self.input[1] / 4) * (self.input[2] / 4);
        ComplexCnn {
            conv1: conv3x3([self.input[0], c1], device),
            bn1: bn(c1),
            conv2: conv3x3([c1, c2], device),
            bn2: bn(c2),
            conv3: conv3x3([c2, c3], device),
            bn3: bn(c3),
            fc1: LinearConfig::new(features, h1).init(device),
            bn4: bn(h1),
            fc2: LinearConfig::new(h1, h2).init(device),
            bn5: bn(h2),
            fc3: LinearConfig::new(h2, self.num_classes).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl ComplexCnn {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        // relu(bn(conv)), relu(pool(bn(conv))) twice: each norm, pooling and ReLU one kernel.
        let x = batch_norm_relu(&self.bn1, conv2d(&self.conv1, images));
        let x = batch_norm_max_pool2d_relu(&self.bn2, &self.pool, conv2d(&self.conv2, x));
        let x = batch_norm_max_pool2d_relu(&self.bn3, &self.pool, conv2d(&self.conv3, x));
        let x = x.flatten(1, 3);
        let x = dropout(&self.dropout, relu(self.bn4.forward(linear(&self.fc1, x))));
        let x = dropout(&self.dropout, relu(self.bn5.forward(linear(&self.fc2, x))));
        log_softmax(linear(&self.fc3, x), 1)
    }

    /// Batch-norm running means and variances: state, not trained parameters.
    pub fn running_statistics(&self) -> usize {
        [&self.bn1, &self.bn2, &self.bn3, &self.bn4, &self.bn5]
            .iter()
            .map(|bn| 2 * bn.gamma.shape().num_elements())
            .sum()
    }
}
