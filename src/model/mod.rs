//! The five networks of the report and the two of the MNIST benchmark table (a perceptron of
//! any widths, [`Mlp`], and a plain convolutional network described as data, [`ConvNet`]), each
//! `XConfig` -> `init(&device)` -> module with `forward` returning log-probabilities
//! `[B, classes]`; [`ModelConfig`] holds one network's config (as data, in `config.json`) and
//! builds a [`Model`], any of the seven picked at run time.
//!
//! Every network implements burn-train's `TrainStep` and `InferenceStep` on an [`ImageBatch`],
//! so it trains under our [`Trainer`](crate::train::Trainer) and under burn's `Learner` alike;
//! a network of your own does the same in a dozen lines (`examples/custom_model.rs`).

mod activation;
pub mod complex_cnn;
pub mod complex_mlp;
pub mod conv_net;
pub mod layers;
pub mod mlp;
pub mod provided_cnn;
pub mod simple_cnn;
pub mod simple_fc;
pub mod step;

use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use self::step::{
    ClassificationOutput, InferenceStep, ModelInit, TrainOutput, TrainStep, classification_output,
    train_output,
};
use crate::data::ImageBatch;

pub use activation::log_softmax;
pub use complex_cnn::{ComplexCnn, ComplexCnnConfig};
pub use complex_mlp::{ComplexMlp, ComplexMlpConfig};
pub use conv_net::{Activation, ConvLayerConfig, ConvNet, ConvNetConfig};
pub use layers::LayerOutput;
pub use mlp::{Mlp, MlpConfig};
pub use provided_cnn::{ProvidedCnn, ProvidedCnnConfig};
pub use simple_cnn::{SimpleCnn, SimpleCnnConfig};
pub use simple_fc::{SimpleFc, SimpleFcConfig};

/// Which of the seven networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// [`SimpleFc`]: one linear layer.
    SimpleFc,
    /// [`ComplexMlp`]: three linear layers with dropout.
    ComplexMlp,
    /// [`SimpleCnn`]: two convs and one linear layer.
    SimpleCnn,
    /// [`ProvidedCnn`]: PyTorch's classic example CNN.
    ProvidedCnn,
    /// [`ComplexCnn`]: three convs, three linear layers, batch norm.
    ComplexCnn,
    /// [`Mlp`]: any list of hidden widths (the MNIST benchmark table's perceptrons).
    Mlp,
    /// [`ConvNet`]: convolutions and hidden layers as data (LeNet-5, Simard et al.'s network).
    ConvNet,
}

/// A name that is not one of the seven models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model `{name}`: expected one of {}", ModelKind::names().join(", "))]
pub struct UnknownModel {
    /// What was asked for.
    pub name: String,
}

impl ModelKind {
    /// All seven: the report's five from the smallest, then the benchmark table's two.
    pub const ALL: [ModelKind; 7] = [
        Self::SimpleFc,
        Self::ComplexMlp,
        Self::SimpleCnn,
        Self::ProvidedCnn,
        Self::ComplexCnn,
        Self::Mlp,
        Self::ConvNet,
    ];
    /// The names [`FromStr`] accepts (`-` works for `_` too), from [`name`](Self::name).
    pub fn names() -> [&'static str; 7] {
        Self::ALL.map(Self::name)
    }

    /// The name used on the command line, in file names and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SimpleFc => "simple_fc",
            Self::ComplexMlp => "complex_mlp",
            Self::SimpleCnn => "simple_cnn",
            Self::ProvidedCnn => "provided_cnn",
            Self::ComplexCnn => "complex_cnn",
            Self::Mlp => "mlp",
            Self::ConvNet => "conv_net",
        }
    }

    /// Builds this network with default configuration and fresh weights on `device`.
    pub fn init(self, device: &Device) -> Model {
        self.config().init(device)
    }

    /// This network's default configuration (the report's; the MLP's is Simard et al.'s 800
    /// hidden units, the conv net's LeNet-5's layout).
    pub fn config(self) -> ModelConfig {
        match self {
            Self::SimpleFc => ModelConfig::SimpleFc(SimpleFcConfig::new()),
            Self::ComplexMlp => ModelConfig::ComplexMlp(ComplexMlpConfig::new()),
            Self::SimpleCnn => ModelConfig::SimpleCnn(SimpleCnnConfig::new()),
            Self::ProvidedCnn => ModelConfig::ProvidedCnn(ProvidedCnnConfig::new()),
            Self::ComplexCnn => ModelConfig::ComplexCnn(ComplexCnnConfig::new()),
            Self::Mlp => ModelConfig::Mlp(MlpConfig::new()),
            Self::ConvNet => ModelConfig::ConvNet(ConvNetConfig::new()),
        }
    }
}

/// One of the seven networks with its hyperparameters, as data: what `config.json` holds under
/// `model` (`{"complex_cnn": {"dropout": 0.5, ...}}`).
///
/// ```
/// use mnist_lab::model::{ComplexMlpConfig, ModelConfig, ModelKind};
/// let report_mlp = ModelConfig::ComplexMlp(ComplexMlpConfig::new().with_dropout_at_test(true));
/// assert_eq!(report_mlp.kind(), ModelKind::ComplexMlp);
/// let json = serde_json::to_string(&report_mlp)?;
/// assert!(json.starts_with(r#"{"complex_mlp":{"#), "{json}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelConfig {
    /// See [`SimpleFcConfig`].
    SimpleFc(SimpleFcConfig),
    /// See [`ComplexMlpConfig`].
    ComplexMlp(ComplexMlpConfig),
    /// See [`SimpleCnnConfig`].
    SimpleCnn(SimpleCnnConfig),
    /// See [`ProvidedCnnConfig`].
    ProvidedCnn(ProvidedCnnConfig),
    /// See [`ComplexCnnConfig`].
    ComplexCnn(ComplexCnnConfig),
    /// See [`MlpConfig`].
    Mlp(MlpConfig),
    /// See [`ConvNetConfig`].
    ConvNet(ConvNetConfig),
}

impl ModelConfig {
    /// Which network.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::SimpleFc(_) => ModelKind::SimpleFc,
            Self::ComplexMlp(_) => ModelKind::ComplexMlp,
            Self::SimpleCnn(_) => ModelKind::SimpleCnn,
            Self::ProvidedCnn(_) => ModelKind::ProvidedCnn,
            Self::ComplexCnn(_) => ModelKind::ComplexCnn,
            Self::Mlp(_) => ModelKind::Mlp,
            Self::ConvNet(_) => ModelKind::ConvNet,
        }
    }

    /// What makes this config impossible to build, or `None`: a size of 0, convolutions that
    /// leave no pixel of the input, a dropout probability outside `[0, 1)`. (burn would panic
    /// inside `init` or the first forward pass instead.)
    ///
    /// ```
    /// use mnist_lab::model::{ModelConfig, ProvidedCnnConfig};
    /// let bad = ModelConfig::ProvidedCnn(ProvidedCnnConfig::new().with_kernel_sizes(Some([0, 3])));
    /// assert!(bad.problem().unwrap().contains("kernel_sizes [0, 3]"));
    /// assert_eq!(ModelConfig::ProvidedCnn(ProvidedCnnConfig::new()).problem(), None);
    /// ```
    pub fn problem(&self) -> Option<String> {
        let ([c, h, w], classes) = match self {
            Self::SimpleFc(m) => (m.input, m.num_classes),
            Self::ComplexMlp(m) => (m.input, m.num_classes),
            Self::SimpleCnn(m) => (m.input, m.num_classes),
            Self::ProvidedCnn(m) => (m.input, m.num_classes),
            Self::ComplexCnn(m) => (m.input, m.num_classes),
            Self::Mlp(m) => (m.input, m.num_classes),
            Self::ConvNet(m) => (m.input, m.num_classes),
        };
        let zero = |name: &str, values: &[usize]| {
            values.contains(&0).then(|| {
                format!("{self}: {name} {values:?} holds a 0; every size must be at least 1")
            })
        };
        let dropout = |p: f64| {
            (!(0.0..1.0).contains(&p)).then(|| {
                format!(
                    "{self}: dropout {p} is outside [0, 1) (0 turns it off; the report uses 0.5)"
                )
            })
        };
        let no_pixels = |features: usize, what: String| {
            (features == 0).then(|| {
                format!("{self}: {what} leave no pixel of a {h}x{w} input; use smaller kernels or a larger input")
            })
        };
        zero("input", &[c, h, w])
            .or_else(|| zero("num_classes", &[classes]))
            .or_else(|| match self {
                Self::SimpleFc(_) => None,
                Self::ComplexMlp(m) => zero("hidden", &[m.hidden]).or_else(|| dropout(m.dropout)),
                Self::SimpleCnn(m) => zero("channels", &m.channels).or_else(|| {
                    no_pixels(
                        simple_cnn::conv_features_len(m.input, m.channels),
                        "two 5x5 convolutions and poolings".into(),
                    )
                }),
                Self::ProvidedCnn(m) => {
                    let kernels = m.kernel_sizes.unwrap_or([5, 5]);
                    zero("channels", &m.channels)
                        .or_else(|| zero("kernel_sizes", &kernels))
                        .or_else(|| zero("hidden", &[m.hidden]))
                        .or_else(|| dropout(m.dropout))
                        .or_else(|| {
                            no_pixels(
                                simple_cnn::conv_features_len_with(m.input, m.channels, kernels),
                                format!("kernels {kernels:?} and two poolings"),
                            )
                        })
                }
                Self::ComplexCnn(m) => zero("channels", &m.channels)
                    .or_else(|| zero("hidden", &m.hidden))
                    .or_else(|| dropout(m.dropout))
                    .or_else(|| no_pixels((h / 4) * (w / 4), "two poolings".into())),
                Self::Mlp(m) => zero("hidden", &m.hidden).or_else(|| dropout(m.dropout)),
                Self::ConvNet(m) => {
                    let sizes: Vec<usize> = m
                        .convs
                        .iter()
                        .flat_map(|c| [c.channels, c.kernel, c.stride, c.pool.unwrap_or(1)])
                        .collect();
                    zero("convs' channels, kernels, strides and pools", &sizes)
                        .or_else(|| zero("hidden", &m.hidden))
                        .or_else(|| dropout(m.dropout))
                        .or_else(|| {
                            no_pixels(
                                m.features().unwrap_or(0),
                                format!("convolutions {:?}", m.convs),
                            )
                        })
                }
            })
    }

    /// The network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> Model {
        match self {
            Self::SimpleFc(c) => Model::SimpleFc(c.init(device)),
            Self::ComplexMlp(c) => Model::ComplexMlp(c.init(device)),
            Self::SimpleCnn(c) => Model::SimpleCnn(c.init(device)),
            Self::ProvidedCnn(c) => Model::ProvidedCnn(c.init(device)),
            Self::ComplexCnn(c) => Model::ComplexCnn(c.init(device)),
            Self::Mlp(c) => Model::Mlp(c.init(device)),
            Self::ConvNet(c) => Model::ConvNet(c.init(device)),
        }
    }
}

impl fmt::Display for ModelConfig {
    /// The network's name (`complex_cnn`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().name())
    }
}

impl From<ModelKind> for ModelConfig {
    fn from(kind: ModelKind) -> Self {
        kind.config()
    }
}

impl ModelInit for ModelConfig {
    type Model = Model;

    fn init(&self, device: &Device) -> Model {
        ModelConfig::init(self, device)
    }

    fn name(&self) -> String {
        self.kind().to_string()
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| UnknownModel {
                name: s.to_string(),
            })
    }
}

/// Any of the seven networks, chosen at run time.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Model {
    /// See [`SimpleFc`].
    SimpleFc(SimpleFc),
    /// See [`ComplexMlp`].
    ComplexMlp(ComplexMlp),
    /// See [`SimpleCnn`].
    SimpleCnn(SimpleCnn),
    /// See [`ProvidedCnn`].
    ProvidedCnn(ProvidedCnn),
    /// See [`ComplexCnn`].
    ComplexCnn(ComplexCnn),
    /// See [`Mlp`].
    Mlp(Mlp),
    /// See [`ConvNet`].
    ConvNet(ConvNet),
}

/// Parameter counts, PyTorch's way and burn's way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParamCounts {
    /// What the optimizer updates: PyTorch's `sum(p.numel() for p in model.parameters())`.
    pub trainable: usize,
    /// Burn's `num_params()`: trainable plus batch-norm running means and variances.
    pub total: usize,
}

impl Model {
    /// Which network this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::SimpleFc(_) => ModelKind::SimpleFc,
            Self::ComplexMlp(_) => ModelKind::ComplexMlp,
            Self::SimpleCnn(_) => ModelKind::SimpleCnn,
            Self::ProvidedCnn(_) => ModelKind::ProvidedCnn,
            Self::ComplexCnn(_) => ModelKind::ComplexCnn,
            Self::Mlp(_) => ModelKind::Mlp,
            Self::ConvNet(_) => ModelKind::ConvNet,
        }
    }

    /// Log-probabilities `[B, classes]` of normalized images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::SimpleFc(m) => m.forward(images),
            Self::ComplexMlp(m) => m.forward(images),
            Self::SimpleCnn(m) => m.forward(images),
            Self::ProvidedCnn(m) => m.forward(images),
            Self::ComplexCnn(m) => m.forward(images),
            Self::Mlp(m) => m.forward(images),
            Self::ConvNet(m) => m.forward(images),
        }
    }

    /// Trainable and total parameter counts.
    pub fn param_counts(&self) -> ParamCounts {
        let total = self.num_params();
        let running = match self {
            Self::ComplexCnn(m) => m.running_statistics(),
            _ => 0,
        };
        ParamCounts {
            trainable: total - running,
            total,
        }
    }

    /// The layer tree with per-layer parameter counts, then the totals (`--summary`).
    pub fn summary(&self) -> String {
        let counts = self.param_counts();
        let tree = match self {
            Self::SimpleFc(m) => m.to_string(),
            Self::ComplexMlp(m) => m.to_string(),
            Self::SimpleCnn(m) => m.to_string(),
            Self::ProvidedCnn(m) => m.to_string(),
            Self::ComplexCnn(m) => m.to_string(),
            Self::Mlp(m) => m.to_string(),
            Self::ConvNet(m) => m.to_string(),
        };
        let mut out = format!(
            "{}\n{tree}\ntrainable parameters: {}\n",
            self.kind(),
            counts.trainable
        );
        if counts.total != counts.trainable {
            out += &format!(
                "batch-norm running statistics: {}\ntotal (burn num_params): {}\n",
                counts.total - counts.trainable,
                counts.total
            );
        }
        out
    }
}

/// burn-train's step traits for networks whose `forward` maps an [`ImageBatch`]'s images to
/// log-probabilities: NLL loss, the log-probabilities as the output metrics read.
macro_rules! image_classifier_steps {
    ($($network:ty),* $(,)?) => {$(
        impl TrainStep for $network {
            type Input = ImageBatch;
            type Output = ClassificationOutput;

            fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
                train_output(self, classification_output(self.forward(batch.images), batch.targets))
            }
        }

        impl InferenceStep for $network {
            type Input = ImageBatch;
            type Output = ClassificationOutput;

            fn step(&self, batch: ImageBatch) -> ClassificationOutput {
                classification_output(self.forward(batch.images), batch.targets)
            }
        }
    )*};
}

image_classifier_steps!(
    Model,
    SimpleFc,
    ComplexMlp,
    SimpleCnn,
    ProvidedCnn,
    ComplexCnn,
    Mlp,
    ConvNet
);
