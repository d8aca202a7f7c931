//! What a training run does, as data: saved as `config.json` next to its results.

use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use super::schedule::LrSchedule;

/// One stage of training: `epochs` epochs at a constant `learning_rate`. Stages continue the
/// same model and optimizer state, as the report's "continued to train for 2 epochs with
/// lr=0.001".
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainingStage {
    /// Passes over the training set.
    pub epochs: usize,
    /// Learning rate of every step of the stage.
    pub learning_rate: f64,
}

impl TrainingStage {
    /// A stage of `epochs` epochs at `learning_rate`.
    pub fn new(epochs: usize, learning_rate: f64) -> Self {
        Self {
            epochs,
            learning_rate,
        }
    }
}

impl fmt::Display for TrainingStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.epochs, LearningRate(self.learning_rate))
    }
}

/// Shows a learning rate compactly: `0.001`, but `1e-5` and `1e300` rather than long digits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearningRate(pub f64);

impl fmt::Display for LearningRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x != 0.0 && !(1e-4..1e4).contains(&x.abs()) {
            write!(f, "{x:e}")
        } else {
            write!(f, "{x}")
        }
    }
}

/// A configuration that cannot run, caught before any work starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A stage not written as `EPOCHS@LR`.
    #[error("stage `{spec}` is not EPOCHS@LEARNING_RATE; write stages like `2@0.01,2@0.001`")]
    BadStage {
        /// The offending piece.
        spec: String,
    },
    /// No stages at all.
    #[error("no training stages; give at least one as EPOCHS@LEARNING_RATE, e.g. `5@0.001`")]
    NoStages,
    /// A stage of zero epochs.
    #[error("stage {index} ({stage}) has 0 epochs; every stage needs at least 1")]
    ZeroEpochs {
        /// 1-based stage number.
        index: usize,
        /// The stage.
        stage: TrainingStage,
    },
    /// A learning rate that is zero, negative or not a number.
    #[error(
        "stage {index} has learning rate {learning_rate}; it must be a finite number above 0 (e.g. 0.01)"
    )]
    BadLearningRate {
        /// 1-based stage number.
        index: usize,
        /// The rate.
        learning_rate: f64,
    },
    /// A batch size of zero.
    #[error(
        "{which} batch size is 0; it must be at least 1 (the report uses 50 for training, 100 for testing)"
    )]
    ZeroBatch {
        /// `training` or `test`.
        which: &'static str,
    },
    /// Momentum outside `[0, 1)`.
    #[error("momentum {0} is outside [0, 1); the report uses 0.9")]
    BadMomentum(f64),
    /// A log interval of zero.
    #[error("log interval is 0 batches; it must be at least 1 (the report logs every 100)")]
    ZeroLogInterval,
    /// A weight decay that is negative or not a number.
    #[error("weight decay {0} must be a finite number >= 0 (0 turns it off; e.g. 5e-4)")]
    BadWeightDecay(f64),
    /// Augmentation bounds that cannot be used.
    #[error("augmentation: {0}")]
    BadAugmentation(String),
    /// A validation split that leaves nothing to train on or nothing to validate on.
    #[error(
        "--validation {held_out} (`validation`) holds out {held_out} of the {n} training items; \
         give a number from 1 to {} (e.g. 10000)",
        n.saturating_sub(1)
    )]
    BadValidation {
        /// Images asked to be held out.
        held_out: usize,
        /// Training items there are.
        n: usize,
    },
    /// A network config that cannot be built.
    #[error("model config: {0}")]
    BadModel(String),
    /// A learning-rate schedule that cannot be used.
    #[error("learning-rate schedule: {0}")]
    BadSchedule(String),
    /// An optimizer name that is not known.
    #[error("unknown optimizer `{0}`: expected one of sgd, adam, adamw")]
    UnknownOptimizer(String),
}

/// Parses `2@0.01,2@0.001` into stages.
///
/// ```
/// use mnist_lab::train::{TrainingStage, parse_stages};
/// assert_eq!(parse_stages("2@0.01, 2@1e-3")?, vec![TrainingStage::new(2, 0.01), TrainingStage::new(2, 0.001)]);
/// # Ok::<(), mnist_lab::train::ConfigError>(())
/// ```
pub fn parse_stages(text: &str) -> Result<Vec<TrainingStage>, ConfigError> {
    let stages = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|spec| {
            let bad = || ConfigError::BadStage {
                spec: spec.to_string(),
            };
            let (epochs, lr) = spec.split_once('@').ok_or_else(bad)?;
            Ok(TrainingStage {
                epochs: epochs.trim().parse().map_err(|_| bad())?,
                learning_rate: lr.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    validate_stages(&stages)?;
    Ok(stages)
}

/// Stages as `--stages` takes them: `2@0.01,2@0.001` (the inverse of [`parse_stages`]).
///
/// ```
/// use mnist_lab::train::{format_stages, parse_stages};
/// let stages = parse_stages("5@1e-3, 5@1e-5")?;
/// assert_eq!(format_stages(&stages), "5@0.001,5@1e-5");
/// assert_eq!(parse_stages(&format_stages(&stages))?, stages);
/// # Ok::<(), mnist_lab::train::ConfigError>(())
/// ```
pub fn format_stages(stages: &[TrainingStage]) -> String {
    stages
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn validate_stages(stages: &[TrainingStage]) -> Result<(), ConfigError> {
    if stages.is_empty() {
        return Err(ConfigError::NoStages);
    }
    for (i, stage) in stages.iter().enumerate() {
        if stage.epochs == 0 {
            return Err(ConfigError::ZeroEpochs {
                index: i + 1,
                stage: *stage,
            });
        }
        if !(stage.learning_rate.is_finite() && stage.learning_rate > 0.0) {
            return Err(ConfigError::BadLearningRate {
                index: i + 1,
                learning_rate: stage.learning_rate,
            });
        }
    }
    Ok(())
}

/// Which optimizer family, by name (`--optimizer sgd|adam|adamw`); [`OptimizerConfig`] holds
/// the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with PyTorch's momentum (dampening 0), as in the report.
    #[default]
    Sgd,
    /// Adam with burn's defaults (betas 0.9, 0.999).
    Adam,
    /// AdamW with burn's defaults.
    AdamW,
}

impl FromStr for OptimizerKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(Self::Sgd),
            "adam" => Ok(Self::Adam),
            "adamw" => Ok(Self::AdamW),
            _ => Err(ConfigError::UnknownOptimizer(s.to_string())),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sgd => "sgd",
            Self::Adam => "adam",
            Self::AdamW => "adamw",
        })
    }
}

impl OptimizerKind {
    /// This optimizer with SGD momentum `momentum` (PyTorch's: dampening 0; ignored by Adam
    /// and AdamW) and L2 weight decay `weight_decay` (none when `None` or 0; AdamW keeps burn's
    /// own default decay, 1e-4, unless one is given).
    pub fn config(self, momentum: f64, weight_decay: Option<f64>) -> OptimizerConfig {
        match self {
            Self::Sgd => OptimizerConfig::Sgd(super::sgd_config(momentum)),
            Self::Adam => OptimizerConfig::Adam(AdamConfig::new()),
            Self::AdamW => OptimizerConfig::AdamW(AdamWConfig::new()),
        }
        .with_weight_decay(weight_decay)
    }
}

/// The optimizer, as burn configures it: one of burn's own configs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// burn's SGD (for PyTorch's momentum, dampening 0: [`super::sgd_config`]).
    Sgd(SgdConfig),
    /// burn's Adam.
    Adam(AdamConfig),
    /// burn's AdamW.
    AdamW(AdamWConfig),
}

impl Default for OptimizerConfig {
    /// The report's: SGD, momentum 0.9, dampening 0.
    fn default() -> Self {
        OptimizerKind::Sgd.config(0.9, None)
    }
}

impl OptimizerConfig {
    /// A fresh optimizer. SGD steps by [`flex_kernels::FusedSgd`]: burn's `Sgd`, bit for bit,
    /// in one pass per parameter on Flex.
    pub fn init(&self) -> ModuleOptimizer {
        match self {
            Self::Sgd(c) => flex_kernels::sgd_optimizer(c),
            Self::Adam(c) => c.init(),
            Self::AdamW(c) => c.init(),
        }
    }

    /// This optimizer with L2 weight decay `decay` instead of its own (none when `None` or 0;
    /// AdamW keeps its own when `None`).
    pub fn with_weight_decay(self, decay: Option<f64>) -> Self {
        let decay = decay.filter(|&d| d > 0.0);
        let l2 = decay.map(|d| WeightDecayConfig::new(d as f32));
        match self {
            Self::Sgd(c) => Self::Sgd(c.with_weight_decay(l2)),
            Self::Adam(c) => Self::Adam(c.with_weight_decay(l2)),
            Self::AdamW(c) => Self::AdamW(match decay {
                Some(d) => c.with_weight_decay(d as f32),
                None => c,
            }),
        }
    }

    /// Which family.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            Self::Sgd(_) => OptimizerKind::Sgd,
            Self::Adam(_) => OptimizerKind::Adam,
            Self::AdamW(_) => OptimizerKind::AdamW,
        }
    }

    /// SGD's momentum (0 without), `None` for Adam and AdamW. (burn's optimizer configs keep
    /// their fields private; this and [`weight_decay`](Self::weight_decay) read them from the
    /// serialized form, the one `config.json` holds.)
    pub fn momentum(&self) -> Option<f64> {
        let Self::Sgd(c) = self else { return None };
        let value = serde_json::to_value(c).ok()?;
        Some(value["momentum"]["momentum"].as_f64().unwrap_or(0.0))
    }

    /// The L2 weight decay, if any.
    pub fn weight_decay(&self) -> Option<f64> {
        let value = match self {
            Self::Sgd(c) => serde_json::to_value(c),
            Self::Adam(c) => serde_json::to_value(c),
            Self::AdamW(c) => serde_json::to_value(c),
        }
        .ok()?;
        let decay = &value["weight_decay"];
        decay["penalty"].as_f64().or_else(|| decay.as_f64())
    }

    /// Adam's and AdamW's `(beta_1, beta_2, epsilon)`, `None` for SGD.
    pub fn adam_moments(&self) -> Option<(f32, f32, f32)> {
        let value = match self {
            Self::Sgd(_) => return None,
            Self::Adam(c) => serde_json::to_value(c),
            Self::AdamW(c) => serde_json::to_value(c),
        }
        .ok()?;
        let get = |key: &str| value[key].as_f64().map(|v| v as f32);
        Some((get("beta_1")?, get("beta_2")?, get("epsilon")?))
    }

    /// This optimizer switched to `kind`, keeping every setting that still applies: the same
    /// kind is unchanged; Adam <-> AdamW keep their betas and epsilon; the L2 weight decay
    /// carries over wherever the new kind has one (AdamW's decoupled decay stays its own);
    /// SGD gets the report's momentum, 0.9.
    ///
    /// ```
    /// use burn::optim::AdamConfig;
    /// use mnist_lab::train::{OptimizerConfig, OptimizerKind};
    /// let adam = OptimizerConfig::Adam(AdamConfig::new().with_beta_1(0.7).with_beta_2(0.9));
    /// let adamw = adam.switched_to(OptimizerKind::AdamW);
    /// assert_eq!(adamw.kind(), OptimizerKind::AdamW);
    /// assert_eq!(adamw.adam_moments(), Some((0.7, 0.9, 1e-5)));
    /// assert_eq!(adamw.switched_to(OptimizerKind::Sgd).momentum(), Some(0.9));
    /// ```
    pub fn switched_to(self, kind: OptimizerKind) -> Self {
        if kind == self.kind() {
            return self;
        }
        let l2 = match self {
            Self::AdamW(_) => None,
            _ => self.weight_decay(),
        };
        let moments = self.adam_moments();
        let switched = match kind {
            OptimizerKind::Sgd => kind.config(0.9, None),
            OptimizerKind::Adam => Self::Adam(match moments {
                Some((b1, b2, eps)) => AdamConfig::new()
                    .with_beta_1(b1)
                    .with_beta_2(b2)
                    .with_epsilon(eps),
                None => AdamConfig::new(),
            }),
            OptimizerKind::AdamW => Self::AdamW(match moments {
                Some((b1, b2, eps)) => AdamWConfig::new()
                    .with_beta_1(b1)
                    .with_beta_2(b2)
                    .with_epsilon(eps),
                None => AdamWConfig::new(),
            }),
        };
        match (kind, l2) {
            (OptimizerKind::AdamW, _) | (_, None) => switched,
            (_, l2) => switched.with_weight_decay(l2),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(m) = self.momentum()
            && !(0.0..1.0).contains(&m)
        {
            return Err(ConfigError::BadMomentum(m));
        }
        if let Some(decay) = self.weight_decay()
            && !(decay.is_finite() && decay >= 0.0)
        {
            return Err(ConfigError::BadWeightDecay(decay));
        }
        Ok(())
    }
}

/// How a network is trained, whatever the network and data: stages, batch sizes, optimizer,
/// seed. Two runs with equal configs (and the same network and data) on the same machine and
/// backend compute the same losses.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// Stages, run in order on the same model and optimizer state.
    pub stages: Vec<TrainingStage>,
    /// Images per training step.
    #[config(default = 50)]
    pub batch_size: usize,
    /// Images per evaluation batch.
    #[config(default = 100)]
    pub test_batch_size: usize,
    /// The optimizer (default: the report's SGD, momentum 0.9, dampening 0).
    #[config(default = "OptimizerConfig::default()")]
    pub optimizer: OptimizerConfig,
    /// Seed of the weights, the shuffling, dropout and augmentation.
    #[config(default = 42)]
    pub seed: u64,
    /// Batches between two log lines.
    #[config(default = 100)]
    pub log_interval: usize,
    /// Train on the first N training images only (all when `None`).
    #[config(default = "None")]
    pub limit_train: Option<usize>,
    /// How the rate moves within each stage ([`LrSchedule::Constant`], the report's, when
    /// `None`).
    #[config(default = "None")]
    pub schedule: Option<LrSchedule>,
    /// Hold out the last N training items and evaluate on them instead of the test set (to
    /// tune a recipe without looking at the test set); `None`: train on all, test on the test
    /// set.
    #[config(default = "None")]
    pub validation: Option<usize>,
}

impl TrainingConfig {
    /// Checks everything that can be checked before work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_stages(&self.stages)?;
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroBatch { which: "training" });
        }
        if self.test_batch_size == 0 {
            return Err(ConfigError::ZeroBatch { which: "test" });
        }
        if self.log_interval == 0 {
            return Err(ConfigError::ZeroLogInterval);
        }
        self.schedule.unwrap_or_default().validate()?;
        self.optimizer.validate()
    }

    /// Total epochs over all stages.
    pub fn total_epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// The learning rate of step `step` (0-based, counted from the stage's start) of stage
    /// `stage`, when each epoch takes `steps_per_epoch` steps.
    pub fn learning_rate(&self, stage: usize, step: usize, steps_per_epoch: usize) -> f64 {
        let s = self.stages[stage];
        self.schedule.unwrap_or_default().learning_rate(
            s.learning_rate,
            step,
            s.epochs * steps_per_epoch,
        )
    }

    /// The first global epoch (1-based) of stage `stage` (0-based).
    pub fn first_epoch_of_stage(&self, stage: usize) -> usize {
        1 + self.stages[..stage].iter().map(|s| s.epochs).sum::<usize>()
    }

    /// The stage (0-based) that global epoch `epoch` (1-based) belongs to.
    pub fn stage_of_epoch(&self, epoch: usize) -> Option<usize> {
        let mut end = 0;
        self.stages.iter().position(|s| {
            end += s.epochs;
            epoch <= end
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_and_bad_ones_say_why() {
        assert_eq!(parse_stages("5@1e-3,5@1e-4").unwrap().len(), 2);
        assert_eq!(parse_stages(""), Err(ConfigError::NoStages));
        assert!(matches!(
            parse_stages("2:0.01"),
            Err(ConfigError::BadStage { .. })
        ));
        assert!(matches!(
            parse_stages("0@0.01"),
            Err(ConfigError::ZeroEpochs { index: 1, .. })
        ));
        assert!(matches!(
            parse_stages("1@0.1,2@-0.01"),
            Err(ConfigError::BadLearningRate { index: 2, .. })
        ));
        assert!(matches!(
            parse_stages("1@NaN"),
            Err(ConfigError::BadLearningRate { .. })
        ));
        let msg = parse_stages("two@0.1").unwrap_err().to_string();
        assert!(
            msg.contains("`two@0.1`") && msg.contains("2@0.01,2@0.001"),
            "{msg}"
        );
    }

    #[test]
    fn epochs_map_to_stages() {
        let config = TrainingConfig::new(parse_stages("2@0.01,3@0.001").unwrap());
        assert_eq!(config.total_epochs(), 5);
        let stages: Vec<_> = (1..=6).map(|e| config.stage_of_epoch(e)).collect();
        assert_eq!(
            stages,
            vec![Some(0), Some(0), Some(1), Some(1), Some(1), None]
        );
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_accepted_values() {
        let ok = TrainingConfig::new(vec![TrainingStage::new(1, 0.01)]);
        assert_eq!(ok.validate(), Ok(()));
        let msg = ok
            .clone()
            .with_batch_size(0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("at least 1") && msg.contains("50"), "{msg}");
        let sgd = |momentum, decay| OptimizerKind::Sgd.config(momentum, decay);
        assert!(
            ok.clone()
                .with_optimizer(sgd(1.0, None))
                .validate()
                .is_err()
        );
        assert_eq!(sgd(0.9, Some(5e-4)).momentum(), Some(0.9));
        assert!((sgd(0.9, Some(5e-4)).weight_decay().unwrap() - 5e-4).abs() < 1e-9);
        let decay = ok
            .clone()
            .with_optimizer(OptimizerConfig::Sgd(
                super::super::sgd_config(0.9)
                    .with_weight_decay(Some(WeightDecayConfig::new(-1e-4))),
            ))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(decay.contains(">= 0") && decay.contains("5e-4"), "{decay}");
        let mut empty = ok.clone();
        empty.stages.clear();
        assert_eq!(empty.validate(), Err(ConfigError::NoStages));
        assert!(ok.with_log_interval(0).validate().is_err());
        assert_eq!("AdamW".parse::<OptimizerKind>(), Ok(OptimizerKind::AdamW));
        assert!(
            "rmsprop"
                .parse::<OptimizerKind>()
                .unwrap_err()
                .to_string()
                .contains("sgd, adam, adamw")
        );
    }
}
