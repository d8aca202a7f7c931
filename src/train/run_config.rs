//! One of our runs as data: the network's config, the training config and the augmentation,
//! exactly what the trainer writes as `config.json`.

use std::path::Path;

use crate::data::{Augmentation, ImageAugmentation, ImageBatch, MnistBatcher};
use crate::model::{ComplexMlpConfig, ModelConfig, ModelKind};
use crate::train::{
    ConfigError, OptimizerConfig, OptimizerKind, TrainError, Trainer, TrainingConfig,
    TrainingStage, read_config_json,
};

/// A run of one of our networks on MNIST-style images: `config.json`.
///
/// ```
/// use mnist_lab::train::RunConfig;
/// use mnist_lab::model::ModelKind;
/// use mnist_lab::train::parse_stages;
/// let config = RunConfig::new(ModelKind::ComplexCnn.config(), parse_stages("2@0.01,2@0.001")?);
/// let json = serde_json::to_value(&config).unwrap();
/// assert_eq!(json["stages"][1]["learning_rate"], 0.001);
/// assert_eq!(json["model"]["complex_cnn"]["dropout"], 0.5);
/// # Ok::<(), mnist_lab::train::ConfigError>(())
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    /// The network and its hyperparameters.
    pub model: ModelConfig,
    /// Stages, batch sizes, optimizer, seed.
    #[serde(flatten)]
    pub training: TrainingConfig,
    /// Random distortions of the training images (none in the report's recipes).
    #[serde(default)]
    pub augmentation: Option<Augmentation>,
}

impl RunConfig {
    /// `model` trained through `stages` with the report's defaults (batch 50, SGD momentum 0.9,
    /// seed 42, no augmentation).
    pub fn new(model: ModelConfig, stages: Vec<TrainingStage>) -> Self {
        Self {
            model,
            training: TrainingConfig::new(stages),
            augmentation: None,
        }
    }

    /// The same run with another optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.training.optimizer = optimizer;
        self
    }

    /// The same run with (or without) augmentation.
    pub fn with_augmentation(mut self, augmentation: Option<Augmentation>) -> Self {
        self.augmentation = augmentation;
        self
    }

    /// Checks everything that can be checked before work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(problem) = self.model.problem() {
            return Err(ConfigError::BadModel(problem));
        }
        self.training.validate()?;
        if let Some(problem) = self.augmentation.as_ref().and_then(Augmentation::problem) {
            return Err(ConfigError::BadAugmentation(problem));
        }
        Ok(())
    }

    /// The trainer of this run on `device` into `out`, with the augmentation as its batch
    /// transform (over MNIST's background, a black pixel).
    pub fn trainer(
        &self,
        device: burn::tensor::Device,
        out: &Path,
    ) -> Result<Trainer<ImageBatch>, TrainError> {
        self.validate()?;
        let trainer = Trainer::new(self.training.clone(), device, out)?;
        Ok(match self.augmentation {
            Some(bounds) => trainer.with_transform(ImageAugmentation {
                bounds,
                background: MnistBatcher::default().normalize(0),
            }),
            None => trainer,
        })
    }

    /// Reads a run's `config.json`, as written by this version or by the versions before the
    /// generic trainer (whose `model` was a name and whose optimizer fields were flat).
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let json = read_config_json(path)?;
        let bad = |e: serde_json::Error| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "not a training config ({e}); delete it, or the whole run directory, to start \
                 afresh"
            ),
        };
        let config: Self = if json.get("model").is_some_and(serde_json::Value::is_string) {
            serde_json::from_value::<LegacyConfig>(json)
                .map_err(bad)?
                .into()
        } else {
            serde_json::from_value(json).map_err(bad)?
        };
        match config.model.problem() {
            Some(problem) => Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("{problem}; fix `model` in it, or delete the run to start afresh"),
            }),
            None => Ok(config),
        }
    }
}

/// `config.json` as the crate wrote it up to 2026-11 (one flat struct naming one of the five
/// networks). A missing field takes [`TrainingConfig`]'s default, as it did then.
#[derive(serde::Deserialize)]
struct LegacyConfig {
    model: ModelKind,
    stages: Vec<TrainingStage>,
    batch_size: Option<usize>,
    test_batch_size: Option<usize>,
    #[serde(default)]
    optimizer: OptimizerKind,
    /// SGD momentum; the old default was the report's 0.9.
    momentum: Option<f64>,
    seed: Option<u64>,
    log_interval: Option<usize>,
    #[serde(default)]
    limit_train: Option<usize>,
    #[serde(default)]
    mlp_dropout_at_test: bool,
    #[serde(default)]
    augmentation: Option<Augmentation>,
    #[serde(default)]
    weight_decay: Option<f64>,
}

impl From<LegacyConfig> for RunConfig {
    fn from(c: LegacyConfig) -> Self {
        let model = match c.model {
            ModelKind::ComplexMlp => ModelConfig::ComplexMlp(
                ComplexMlpConfig::new().with_dropout_at_test(c.mlp_dropout_at_test),
            ),
            kind => kind.config(),
        };
        let defaults = TrainingConfig::new(c.stages);
        let training = TrainingConfig {
            batch_size: c.batch_size.unwrap_or(defaults.batch_size),
            test_batch_size: c.test_batch_size.unwrap_or(defaults.test_batch_size),
            optimizer: c
                .optimizer
                .config(c.momentum.unwrap_or(0.9), c.weight_decay),
            seed: c.seed.unwrap_or(defaults.seed),
            log_interval: c.log_interval.unwrap_or(defaults.log_interval),
            limit_train: c.limit_train,
            ..defaults
        };
        Self {
            model,
            training,
            augmentation: c.augmentation,
        }
    }
}
