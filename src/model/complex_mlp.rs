//! The report's 3-layer perceptron of the learning-rate experiments.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::log_softmax;
use flex_kernels::{dropout, dropout_always, linear};

/// Configuration of [`ComplexMlp`].
#[derive(Config, Debug)]
pub struct ComplexMlpConfig {
    /// Input images: `[channels, height, width]` (MNIST's: `[1, 28, 28]`).
    #[config(default = "[1, 28, 28]")]
    pub input: [usize; 3],
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Width of both hidden layers.
    #[config(default = 512)]
    pub hidden: usize,
    /// Dropout probability after each hidden layer.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Keep dropout on at evaluation time too, as the report's code did: it called
    /// `F.dropout(x, 0.2)` without `training=self.training`, so its test accuracy was measured
    /// with dropout active. Off by default; turn it on to reproduce the report's figures.
    #[config(default = false)]
    pub dropout_at_test: bool,
}

/// 784 -> 512 relu dropout -> 512 relu dropout -> 10 -> log-softmax. 669,706 parameters.
#[derive(Module, Debug)]
pub struct ComplexMlp {
    /// First hidden layer.
    pub fc1: Linear,
    /// Second hidden layer.
    pub fc2: Linear,
    /// Output layer.
    pub fc3: Linear,
    /// Dropout after each hidden layer (active while training).
    pub dropout: Dropout,
    /// See [`ComplexMlpConfig::dropout_at_test`].
    pub dropout_at_test: bool,
}

impl ComplexMlpConfig {
    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> ComplexMlp {
        ComplexMlp {
            fc1: LinearConfig::new(self.input.iter().product(), self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.hidden).init(device),
            fc3: LinearConfig::new(self.hidden, self.num_classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            dropout_at_test: self.dropout_at_test,
        }
    }
}

impl ComplexMlp {
    /// Log-probabilities `[B, classes]` of images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = images.flatten(1, 3);
        let x = self.drop(relu(linear(&self.fc1, x)));
        let x = self.drop(relu(linear(&self.fc2, x)));
        log_softmax(linear(&self.fc3, x), 1)
    }

    fn drop(&self, x: Tensor<2>) -> Tensor<2> {
        // Dropout is a no-op outside autodiff; the report's quirk needs it in eval too.
        if self.dropout_at_test && !x.device().is_autodiff() {
            return dropout_always(&self.dropout, x);
        }
        dropout(&self.dropout, x)
    }
}
