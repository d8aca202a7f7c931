//! A plain convolutional network described as data: convolutions (each with its kernel, stride,
//! padding and optional max pooling), then fully connected layers. LeNet-5's layout (LeCun et
//! al. 1998) by default, Simard et al.'s (2003) network as [`ConvNetConfig::simard`]: the MNIST
//! benchmark table's convolutional rows.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use flex_kernels::{conv2d, dropout, linear, max_pool2d};

/// One convolution of a [`ConvNet`]: `channels` maps of `kernel` x `kernel`, then max pooling
/// over `pool` x `pool` windows if any, then the activation.
#[derive(Config, Debug, PartialEq)]
pub struct ConvLayerConfig {
    /// Output channels.
    pub channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride, both ways.
    #[config(default = 1)]
    pub stride: usize,
    /// Zero padding on every side.
    #[config(default = 0)]
    pub padding: usize,
    /// Max pooling over non-overlapping `pool` x `pool` windows after the convolution.
    #[config(default = "None")]
    pub pool: Option<usize>,
}

impl ConvLayerConfig {
    /// The side of this layer's output for an input of side `side`, or `None` when nothing is
    /// left of it.
    pub fn output_side(&self, side: usize) -> Option<usize> {
        let padded = side + 2 * self.padding;
        if self.stride == 0 || self.kernel == 0 || padded < self.kernel {
            return None;
        }
        let side = (padded - self.kernel) / self.stride + 1;
        let side = side / self.pool.unwrap_or(1).max(1);
        (side > 0 && self.pool != Some(0)).then_some(side)
    }
}

/// The nonlinearity after each convolution and hidden layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `tanh(x)`, as the networks of the 1990s (LeNet-5's is a scaled tanh).
    Tanh,
}

/// Configuration of [`ConvNet`].
///
/// ```
/// use burn::module::Module;
/// use burn::tensor::{Device, Tensor};
/// use mnist_lab::model::ConvNetConfig;
/// let device = Device::flex();
/// // LeNet-5's layout: 6 maps 5x5 (padded to 32x32's 28x28), pool, 16 maps 5x5, pool, 120, 84.
/// let lenet = ConvNetConfig::new();
/// assert_eq!(lenet.features(), Some(16 * 5 * 5));
/// assert_eq!(lenet.init(&device).num_params(), 61_706);
/// // Simard et al.: 5 maps 5x5 stride 2, 50 maps 5x5 stride 2, 100 hidden units.
/// let simard = ConvNetConfig::simard();
/// assert_eq!(simard.features(), Some(50 * 5 * 5));
/// let log_probs = simard.init(&device).forward(Tensor::zeros([2, 1, 28, 28], &device));
/// assert_eq!(log_probs.dims(), [2, 10]);
/// ```
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`; square).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// The convolutions, from the input on (LeNet-5's two by default).
    #[config(default = "vec![
        ConvLayerConfig::new(6, 5).with_padding(2).with_pool(Some(2)),
        ConvLayerConfig::new(16, 5).with_pool(Some(2)),
    ]")]
    pub convs: Vec<ConvLayerConfig>,
    /// The hidden fully connected layers' widths (LeNet-5's `[120, 84]` by default).
    #[config(default = "vec![120, 84]")]
    pub hidden: Vec<usize>,
    /// The nonlinearity after every convolution and hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Dropout probability after each hidden layer while training (0: none).
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl ConvNetConfig {
    /// Simard et al.'s (2003) network: 5 maps 5x5 with stride 2 (padding 1 makes 28x28 their
    /// 29x29's 13x13), 50 maps 5x5 with stride 2 (5x5), 100 hidden units, no pooling.
    pub fn simard() -> Self {
        Self::new()
            .with_convs(vec![
                ConvLayerConfig::new(5, 5).with_stride(2).with_padding(1),
                ConvLayerConfig::new(50, 5).with_stride(2),
            ])
            .with_hidden(vec![100])
    }

    /// Values per image after the convolutions, or `None` when they leave no pixel (or a size
    /// is 0).
    pub fn features(&self) -> Option<usize> {
        let [_, height, width] = self.input;
        let mut side = height.min(width);
        let mut channels = self.input[0];
        for conv in &self.convs {
            side = conv.output_side(side)?;
            channels = conv.channels;
        }
        (channels > 0).then_some(channels * side * side)
    }

    /// Builds the network with fresh weights on `device`.
    ///
    /// # Panics
    /// When [`features`](Self::features) is `None` (`ModelConfig::problem` says why first).
    pub fn init(&self, device: &Device) -> ConvNet {
        let features = self.features().expect("convolutions that leave pixels");
        let mut channels = self.input[0];
        let mut convs = vec![];
        let mut pools = vec![];
        for c in &self.convs {
            convs.push(
                Conv2dConfig::new([channels, c.channels], [c.kernel, c.kernel])
                    .with_stride([c.stride, c.stride])
                    .with_padding(PaddingConfig2d::Explicit(
                        c.padding, c.padding, c.padding, c.padding,
                    ))
                    .init(device),
            );
            pools.push(
                c.pool
                    .map(|p| MaxPool2dConfig::new([p, p]).with_strides([p, p]).init()),
            );
            channels = c.channels;
        }
        let widths: Vec<usize> = std::iter::once(features)
            .chain(self.hidden.iter().copied())
            .chain([self.num_classes])
            .collect();
        ConvNet {
            convs,
            pools,
            fcs: widths
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
            tanh: self.activation == Activation::Tanh,
        }
    }
}

/// Convolutions (each: conv, max pooling if any, activation), flatten, hidden layers (linear,
/// activation, dropout), linear to the classes, log-softmax. 61,706 parameters in LeNet-5's
/// layout, 132,540 in Simard et al.'s.
#[derive(Module, Debug)]
pub struct ConvNet {
    /// The convolutions (PyTorch: `nn.ModuleList` `convs`).
    pub convs: Vec<Conv2d>,
    /// The pooling after each convolution, if any.
    pub pools: Vec<Option<MaxPool2d>>,
    /// The fully connected layers, the output layer last (PyTorch: `fcs`).
    pub fcs: Vec<Linear>,
    /// Dropout after each hidden layer (active while training).
    pub dropout: Dropout,
    /// `tanh` instead of ReLU after every convolution and hidden layer.
    pub tanh: bool,
}

impl ConvNet {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    ///
    /// # Panics
    /// When `fcs` is empty, which [`ConvNetConfig::init`] never builds.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.features(images).flatten(1, 3);
        let (output, hidden) = self
            .fcs
            .split_last()
            .expect("a ConvNet has an output layer");
        let x = hidden.iter().fold(x, |x, layer| {
            dropout(&self.dropout, self.activate(linear(layer, x)))
        });
        log_softmax(linear(output, x), 1)
    }

    /// The maps after the last convolution (pooled and activated): `[B, C, H, W]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        self.convs
            .iter()
            .zip(&self.pools)
            .fold(images, |x, (conv, pool)| {
                let x = conv2d(conv, x);
                // Max pooling and a nondecreasing activation commute exactly: pool first, on
                // a quarter of the values.
                let x = match pool {
                    Some(pool) => max_pool2d(pool, x),
                    None => x,
                };
                self.activate(x)
            })
    }

    /// The network's nonlinearity.
    pub fn activate<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.tanh { x.tanh() } else { relu(x) }
    }
}
