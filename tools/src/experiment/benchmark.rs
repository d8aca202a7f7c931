//! The MNIST benchmark table (LeCun, Cortes and Burges' MNIST page): the published rows whose
//! networks the library has, each as a recipe ([`BenchmarkRow::preset`]) beside the error its
//! paper reports. `examples/benchmark_table.rs` trains one row.

use mnist_lab::data::{Augmentation, Elastic};
use mnist_lab::model::{MlpConfig, ModelConfig, ModelKind};
use mnist_lab::train::LrSchedule;

use super::Preset;

/// A row of the MNIST benchmark table that the library can train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchmarkRow {
    /// 2-layer NN, 800 hidden units, cross-entropy (Simard et al., ICDAR 2003): 1.6% error.
    #[value(name = "mlp-800")]
    Mlp800,
    /// The same with affine distortions (Simard et al. 2003): 1.1%.
    #[value(name = "mlp-800-affine")]
    Mlp800Affine,
    /// The same with elastic distortions (Simard et al. 2003): 0.7%.
    #[value(name = "mlp-800-elastic")]
    Mlp800Elastic,
    /// 3-layer NN, 500 + 150 hidden units (LeCun et al., Proc. IEEE 1998): 2.95%.
    #[value(name = "mlp-500-150")]
    Mlp500_150,
}

impl BenchmarkRow {
    /// Every row, in the table's order.
    pub const ALL: [Self; 4] = [
        Self::Mlp800,
        Self::Mlp800Affine,
        Self::Mlp800Elastic,
        Self::Mlp500_150,
    ];

    /// The row's name: the recipe's, and the default output directory's (`runs/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp800 => "mlp_800",
            Self::Mlp800Affine => "mlp_800_affine",
            Self::Mlp800Elastic => "mlp_800_elastic",
            Self::Mlp500_150 => "mlp_500_150",
        }
    }

    /// The row as the MNIST page words it.
    pub fn description(self) -> &'static str {
        match self {
            Self::Mlp800 => "2-layer NN, 800 HU, cross-entropy",
            Self::Mlp800Affine => "2-layer NN, 800 HU, cross-entropy, affine distortions",
            Self::Mlp800Elastic => "2-layer NN, 800 HU, cross-entropy, elastic distortions",
            Self::Mlp500_150 => "3-layer NN, 500+150 HU",
        }
    }

    /// Where the published figure comes from.
    pub fn source(self) -> &'static str {
        match self {
            Self::Mlp800 | Self::Mlp800Affine | Self::Mlp800Elastic => "Simard et al., ICDAR 2003",
            Self::Mlp500_150 => "LeCun et al., Proc. IEEE 1998",
        }
    }

    /// The published test error, in percent.
    pub fn published_error(self) -> f64 {
        match self {
            Self::Mlp800 => 1.6,
            Self::Mlp800Affine => 1.1,
            Self::Mlp800Elastic => 0.7,
            Self::Mlp500_150 => 2.95,
        }
    }

    /// What our recipe does differently from the paper's.
    pub fn differences(self) -> &'static str {
        match self {
            Self::Mlp800 | Self::Mlp800Affine | Self::Mlp800Elastic => {
                "ReLU hidden units (the paper's were logistic sigmoids), SGD with momentum in \
                 mini-batches and a one-cycle rate (the paper: plain online SGD)"
            }
            Self::Mlp500_150 => {
                "ReLU hidden units and softmax cross-entropy (the paper's: scaled tanh and \
                 mean squared error), SGD with momentum in mini-batches and a one-cycle rate"
            }
        }
    }

    /// The recipe: network, distortions, optimizer, schedule and epochs, chosen on the
    /// validation split (`--validation 10000`; results/benchmark-table.md has the choices).
    pub fn preset(self) -> Preset {
        let hidden = match self {
            Self::Mlp500_150 => vec![500, 150],
            _ => vec![800],
        };
        let (epochs, lr) = match self {
            Self::Mlp800 => (20, 0.05),
            Self::Mlp500_150 => (20, 0.1),
            Self::Mlp800Affine | Self::Mlp800Elastic => (40, 0.05),
        };
        let mut preset = Preset::new(self.name(), ModelKind::Mlp, &[(epochs, lr)]);
        preset.model = ModelConfig::Mlp(MlpConfig::new().with_hidden(hidden));
        preset.augmentation = match self {
            Self::Mlp800Affine => Some(Augmentation::default()),
            Self::Mlp800Elastic => Some(Augmentation {
                elastic: Some(Elastic::SIMARD),
                ..Augmentation::NONE
            }),
            _ => None,
        };
        preset.batch_size = 100;
        preset.schedule = Some(LrSchedule::ONE_CYCLE);
        preset
    }
}

impl std::fmt::Display for BenchmarkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
