//! What each layer of a network does to an image: its output and shape, layer by layer. The
//! pictures of the report (`mnist_lab_tools::report::pictures`) draw it: the feature maps after every convolution and
//! pooling (the report's Fig 4.1) and the layer diagram (shapes and parameters per layer).
//!
//! ```
//! use mnist_lab::ModelKind;
//! use burn::tensor::{Device, Tensor};
//! let device = Device::flex();
//! let model = ModelKind::SimpleCnn.init(&device);
//! let layers = model.layers(Tensor::zeros([1, 1, 28, 28], &device));
//! let shapes: Vec<Vec<usize>> = layers.iter().map(|l| l.shape.clone()).collect();
//! assert_eq!(shapes, [vec![10, 24, 24], vec![10, 12, 12], vec![20, 8, 8], vec![20, 4, 4], vec![320], vec![10]]);
//! assert_eq!(layers.iter().map(|l| l.params).sum::<usize>(), 8_490);
//! ```

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, relu};

use super::{ComplexCnn, ComplexMlp, ConvNet, Mlp, Model, ProvidedCnn, SimpleCnn, SimpleFc};

/// One layer (or a layer with the activation and normalization right after it) applied to the
/// first image of a batch.
#[derive(Clone, Debug)]
pub struct LayerOutput {
    /// The fields of the network it covers, as `conv1 + bn1 + relu`.
    pub name: String,
    /// What it computes, as `Conv2d 1->10, 5x5`.
    pub op: String,
    /// Trainable parameters of these layers (batch-norm running statistics not counted).
    pub params: usize,
    /// The output's shape for one image: `[channels, height, width]` after convolutions and
    /// pooling, `[features]` after linear layers.
    pub shape: Vec<usize>,
    /// The output for the first image, row-major in `shape`.
    pub values: Vec<f32>,
}

impl LayerOutput {
    /// Whether the output is a stack of 2-d maps (`[channels, height, width]`).
    pub fn is_feature_maps(&self) -> bool {
        self.shape.len() == 3
    }
}

/// Builds the trace one layer at a time; each `push` takes the batch's first image.
struct Trace(Vec<LayerOutput>);

impl Trace {
    fn push<const D: usize>(&mut self, name: &str, op: String, params: usize, x: &Tensor<D>) {
        let dims = x.dims();
        let first = x.clone().narrow(0, 0, 1);
        let values = first
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        self.0.push(LayerOutput {
            name: name.to_string(),
            op,
            params,
            shape: dims[1..].to_vec(),
            values,
        });
    }
}

fn conv_op(conv: &burn::nn::conv::Conv2d) -> String {
    let [out, inp, kh, kw] = conv.weight.dims();
    let padding = match &conv.padding {
        burn::nn::PaddingConfig2d::Explicit(top, ..) if *top > 0 => format!(", padding {top}"),
        _ => String::new(),
    };
    let stride = match conv.stride {
        [1, 1] => String::new(),
        [s, _] => format!(", stride {s}"),
    };
    format!(
        "Conv2d {}->{out}, {kh}x{kw}{stride}{padding}",
        inp * conv.groups
    )
}

fn linear_op(linear: &burn::nn::Linear) -> String {
    let [inp, out] = linear.weight.dims();
    format!("Linear {inp}->{out}")
}

/// gamma and beta: what the optimizer trains of a batch norm.
fn bn_params(bn: &BatchNorm) -> usize {
    bn.gamma.shape().num_elements() + bn.beta.shape().num_elements()
}

const POOL: &str = "MaxPool 2x2 + ReLU";

impl Model {
    /// Every layer's output on the first image of `images` (`[B, C, H, W]`, normalized as for
    /// [`forward`](Self::forward)), in order, in inference mode (dropout off, batch norm on its
    /// running statistics: pass a network and images on a device without autodiff, as
    /// [`crate::infer::load_network`] gives). burn's own layers compute it, so it is what the network computes up
    /// to float rounding. The parameters of the entries add up to the network's trainable count.
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        match self {
            Self::SimpleFc(m) => m.layers(images),
            Self::ComplexMlp(m) => m.layers(images),
            Self::SimpleCnn(m) => m.layers(images),
            Self::ProvidedCnn(m) => m.layers(images),
            Self::ComplexCnn(m) => m.layers(images),
            Self::Mlp(m) => m.layers(images),
            Self::ConvNet(m) => m.layers(images),
        }
    }
}

impl SimpleFc {
    /// See [`Model::layers`].
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x: Tensor<2> = images.flatten(1, 3);
        t.push("flatten", "Flatten".into(), 0, &x);
        let x = log_softmax(self.fc.forward(x), 1);
        t.push(
            "fc + log_softmax",
            linear_op(&self.fc),
            self.fc.num_params(),
            &x,
        );
        t.0
    }
}

impl ComplexMlp {
    /// See [`Model::layers`] (dropout is left out, also where the report kept it at test time).
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x: Tensor<2> = images.flatten(1, 3);
        t.push("flatten", "Flatten".into(), 0, &x);
        let x = relu(self.fc1.forward(x));
        let p = self.fc1.num_params();
        t.push("fc1 + relu", linear_op(&self.fc1) + " + ReLU", p, &x);
        let x = relu(self.fc2.forward(x));
        let p = self.fc2.num_params();
        t.push("fc2 + relu", linear_op(&self.fc2) + " + ReLU", p, &x);
        let x = log_softmax(self.fc3.forward(x), 1);
        let p = self.fc3.num_params();
        t.push("fc3 + log_softmax", linear_op(&self.fc3), p, &x);
        t.0
    }
}

impl Mlp {
    /// See [`Model::layers`] (dropout is left out: it is off in inference).
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x: Tensor<2> = images.flatten(1, 3);
        t.push("flatten", "Flatten".into(), 0, &x);
        linear_layers(&mut t, "layers", &self.layers, x, "ReLU", relu);
        t.0
    }
}

impl ConvNet {
    /// See [`Model::layers`] (dropout is left out: it is off in inference).
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let act = if self.tanh { "Tanh" } else { "ReLU" };
        let mut x = images;
        for (i, (conv, pool)) in self.convs.iter().zip(&self.pools).enumerate() {
            x = conv.forward(x);
            let mut op = conv_op(conv);
            if let Some(pool) = pool {
                x = pool.forward(x);
                op += &format!(" + MaxPool {0}x{0}", pool.kernel_size[0]);
            }
            x = self.activate(x);
            t.push(
                &format!("convs.{i}"),
                format!("{op} + {act}"),
                conv.num_params(),
                &x,
            );
        }
        let x: Tensor<2> = x.flatten(1, 3);
        t.push("flatten", "Flatten".into(), 0, &x);
        linear_layers(&mut t, "fcs", &self.fcs, x, act, |x| self.activate(x));
        t.0
    }
}

/// The fully connected layers of the networks that hold them as a list (`field.0`, `field.1`,
/// ...): each hidden one followed by `activate` (named `act`), the last by log-softmax.
fn linear_layers(
    t: &mut Trace,
    field: &str,
    layers: &[burn::nn::Linear],
    mut x: Tensor<2>,
    act: &str,
    activate: impl Fn(Tensor<2>) -> Tensor<2>,
) {
    let last = layers.len().saturating_sub(1);
    for (i, layer) in layers.iter().enumerate() {
        let p = layer.num_params();
        x = layer.forward(x);
        if i == last {
            x = log_softmax(x, 1);
            t.push(
                &format!("{field}.{i} + log_softmax"),
                linear_op(layer),
                p,
                &x,
            );
        } else {
            x = activate(x);
            let name = format!("{field}.{i} + {}", act.to_lowercase());
            t.push(&name, format!("{} + {act}", linear_op(layer)), p, &x);
        }
    }
}

impl SimpleCnn {
    /// See [`Model::layers`].
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x = conv_pool_layers(&mut t, &self.conv1, &self.conv2, &self.pool, images);
        let x = log_softmax(self.fc1.forward(x), 1);
        let p = self.fc1.num_params();
        t.push("fc1 + log_softmax", linear_op(&self.fc1), p, &x);
        t.0
    }
}

impl ProvidedCnn {
    /// See [`Model::layers`].
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x = conv_pool_layers(&mut t, &self.conv1, &self.conv2, &self.pool, images);
        let x = relu(self.fc1.forward(x));
        let p = self.fc1.num_params();
        t.push("fc1 + relu", linear_op(&self.fc1) + " + ReLU", p, &x);
        let x = log_softmax(self.fc2.forward(x), 1);
        let p = self.fc2.num_params();
        t.push("fc2 + log_softmax", linear_op(&self.fc2), p, &x);
        t.0
    }
}

/// conv1, pool + relu, conv2, pool + relu, flatten: the simple and the provided CNN.
fn conv_pool_layers(
    t: &mut Trace,
    conv1: &burn::nn::conv::Conv2d,
    conv2: &burn::nn::conv::Conv2d,
    pool: &burn::nn::pool::MaxPool2d,
    images: Tensor<4>,
) -> Tensor<2> {
    let x = conv1.forward(images);
    t.push("conv1", conv_op(conv1), conv1.num_params(), &x);
    let x = relu(pool.forward(x));
    t.push("pool + relu", POOL.into(), 0, &x);
    let x = conv2.forward(x);
    t.push("conv2", conv_op(conv2), conv2.num_params(), &x);
    let x = relu(pool.forward(x));
    t.push("pool + relu", POOL.into(), 0, &x);
    let x: Tensor<2> = x.flatten(1, 3);
    t.push("flatten", "Flatten".into(), 0, &x);
    x
}

impl ComplexCnn {
    /// See [`Model::layers`]. Each convolution is shown with its batch norm.
    pub fn layers(&self, images: Tensor<4>) -> Vec<LayerOutput> {
        let mut t = Trace(vec![]);
        let x = relu(self.bn1.forward(self.conv1.forward(images)));
        let p = self.conv1.num_params() + bn_params(&self.bn1);
        let op = conv_op(&self.conv1) + " + BatchNorm + ReLU";
        t.push("conv1 + bn1 + relu", op, p, &x);
        let mut x = x;
        for (name, conv, bn) in [
            ("conv2 + bn2", &self.conv2, &self.bn2),
            ("conv3 + bn3", &self.conv3, &self.bn3),
        ] {
            let y = bn.forward(conv.forward(x));
            let p = conv.num_params() + bn_params(bn);
            t.push(name, conv_op(conv) + " + BatchNorm", p, &y);
            x = relu(self.pool.forward(y));
            t.push("pool + relu", POOL.into(), 0, &x);
        }
        let x: Tensor<2> = x.flatten(1, 3);
        t.push("flatten", "Flatten".into(), 0, &x);
        let mut x = x;
        for (name, fc, bn) in [
            ("fc1 + bn4 + relu", &self.fc1, &self.bn4),
            ("fc2 + bn5 + relu", &self.fc2, &self.bn5),
        ] {
            x = relu(bn.forward(fc.forward(x)));
            let p = fc.num_params() + bn_params(bn);
            t.push(name, linear_op(fc) + " + BatchNorm + ReLU", p, &x);
        }
        let x = log_softmax(self.fc3.forward(x), 1);
        let p = self.fc3.num_params();
        t.push("fc3 + log_softmax", linear_op(&self.fc3), p, &x);
        t.0
    }
}
