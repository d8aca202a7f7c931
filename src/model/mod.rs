//! The five networks of the report, each `XConfig` -> `init(&device)` -> module with `forward`
//! returning log-probabilities `[B, 10]`, and [`Model`] to pick one at run time by name.

pub mod complex_cnn;
pub mod complex_mlp;
pub mod provided_cnn;
pub mod simple_cnn;
pub mod simple_fc;

use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub use complex_cnn::{ComplexCnn, ComplexCnnConfig};
pub use complex_mlp::{ComplexMlp, ComplexMlpConfig};
pub use provided_cnn::{ProvidedCnn, ProvidedCnnConfig};
pub use simple_cnn::{SimpleCnn, SimpleCnnConfig};
pub use simple_fc::{SimpleFc, SimpleFcConfig};

/// Which of the five networks.
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
}

/// A name that is not one of the five models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model `{name}`: expected one of {}", ModelKind::ALL_NAMES.join(", "))]
pub struct UnknownModel {
    /// What was asked for.
    pub name: String,
}

impl ModelKind {
    /// All five, from the smallest.
    pub const ALL: [ModelKind; 5] = [
        Self::SimpleFc,
        Self::ComplexMlp,
        Self::SimpleCnn,
        Self::ProvidedCnn,
        Self::ComplexCnn,
    ];
    /// The names [`FromStr`] accepts (`-` works for `_` too).
    pub const ALL_NAMES: [&'static str; 5] = [
        "simple_fc",
        "complex_mlp",
        "simple_cnn",
        "provided_cnn",
        "complex_cnn",
    ];

    /// The name used on the command line, in file names and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SimpleFc => "simple_fc",
            Self::ComplexMlp => "complex_mlp",
            Self::SimpleCnn => "simple_cnn",
            Self::ProvidedCnn => "provided_cnn",
            Self::ComplexCnn => "complex_cnn",
        }
    }

    /// Builds this network with default configuration and fresh weights on `device`.
    pub fn init(self, device: &Device) -> Model {
        match self {
            Self::SimpleFc => Model::SimpleFc(SimpleFcConfig::new().init(device)),
            Self::ComplexMlp => Model::ComplexMlp(ComplexMlpConfig::new().init(device)),
            Self::SimpleCnn => Model::SimpleCnn(SimpleCnnConfig::new().init(device)),
            Self::ProvidedCnn => Model::ProvidedCnn(ProvidedCnnConfig::new().init(device)),
            Self::ComplexCnn => Model::ComplexCnn(ComplexCnnConfig::new().init(device)),
        }
    }

    /// [`init`](Self::init), with the complex MLP's dropout left on at test time when
    /// `dropout_at_test` (the report's quirk: [`ComplexMlpConfig::dropout_at_test`]); the other
    /// networks have no such option and ignore it.
    pub fn init_with_dropout_at_test(self, dropout_at_test: bool, device: &Device) -> Model {
        match self {
            Self::ComplexMlp => Model::ComplexMlp(
                ComplexMlpConfig::new()
                    .with_dropout_at_test(dropout_at_test)
                    .init(device),
            ),
            kind => kind.init(device),
        }
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

/// Any of the five networks, chosen at run time.
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
        }
    }

    /// Log-probabilities `[B, 10]` of normalized images `[B, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::SimpleFc(m) => m.forward(images),
            Self::ComplexMlp(m) => m.forward(images),
            Self::SimpleCnn(m) => m.forward(images),
            Self::ProvidedCnn(m) => m.forward(images),
            Self::ComplexCnn(m) => m.forward(images),
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
