//! A multilayer perceptron with any list of hidden widths: the MNIST benchmark table's networks
//! (Simard et al. 2003's 800 hidden units, LeCun et al. 1998's 500 + 150).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use flex_kernels::{dropout, linear};

/// Configuration of [`Mlp`].
///
/// ```
/// use burn::module::Module;
/// use burn::tensor::{Device, Tensor};
/// use mnist_lab::model::MlpConfig;
/// let device = Device::flex();
/// let lecun = MlpConfig::new().with_hidden(vec![500, 150]).init(&device);
/// assert_eq!(lecun.num_params(), 785 * 500 + 501 * 150 + 151 * 10);
/// let log_probs = lecun.forward(Tensor::zeros([2, 1, 28, 28], &device));
/// assert_eq!(log_probs.dims(), [2, 10]);
/// ```
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// The hidden layers' widths, from the input on (Simard et al.'s `[800]` by default; an
    /// empty list is the one-layer network).
    #[config(default = "vec![800]")]
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden layer while training (0: none, the papers').
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// flatten -> (Linear -> ReLU -> dropout) per hidden width -> Linear to the classes ->
/// log-softmax. With the default `[800]`: 636,010 parameters.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The linear layers, the output layer last (PyTorch: `nn.ModuleList`, `layers.0.weight`).
    pub layers: Vec<Linear>,
    /// Dropout after each hidden layer (active while training).
    pub dropout: Dropout,
}

impl MlpConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let widths: Vec<usize> = std::iter::once(self.input.iter().product())
            .chain(self.hidden.iter().copied())
            .chain([self.num_classes])
            .collect();
        Mlp {
            layers: widths
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl Mlp {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    ///
    /// # Panics
    /// When `layers` is empty, which [`MlpConfig::init`] never builds.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let (output, hidden) = self
            .layers
            .split_last()
            .expect("an Mlp has an output layer");
        let x = hidden.iter().fold(images.flatten(1, 3), |x, layer| {
            dropout(&self.dropout, relu(linear(layer, x)))
        });
        log_softmax(linear(output, x), 1)
    }
}
