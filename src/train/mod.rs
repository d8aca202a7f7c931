//! Training and evaluation primitives: the loss, one optimizer step, and test accuracy.
//!
//! These are the pieces the Learner-style trainer is built from; they are public so a user can
//! also write their own loop in a few lines:
//!
//! ```no_run
//! use mnist_lab::{BackendKind, ModelKind, data::{MnistDataset, mnist_loader}, train};
//! let device = BackendKind::Flex.device()?;
//! let train_device = device.clone().autodiff();
//! let data = MnistDataset::train(std::path::Path::new("tests/data/mnist-slice"))?;
//! let loader = mnist_loader(data, 50, Some(42), &train_device);
//! let mut model = ModelKind::SimpleCnn.init(&train_device);
//! let mut optim = train::sgd(0.9);
//! for batch in loader.iter() {
//!     let (next, loss) = train::train_step(model, &mut optim, &batch?, 0.01);
//!     model = next;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
mod config;
mod eval;
mod trainer;

pub use config::{
    ConfigError, LearningRate, OptimizerKind, TrainingConfig, TrainingStage, format_stages,
    parse_stages,
};
pub use eval::{Evaluation, evaluate};
pub use trainer::read_config;
pub use trainer::{
    HistoryRow, RunOutcome, RunSummary, StageResult, Trainer, epoch_seed, progress_line,
    read_history,
};

use std::path::PathBuf;

use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig, momentum::MomentumConfig};
use burn::tensor::{Int, Tensor};

use crate::data::MnistBatch;
use crate::model::Model;

/// Why a training run stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration cannot run.
    #[error("invalid training configuration: {0}")]
    Config(#[from] ConfigError),
    /// The backend is not compiled in.
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    /// A data set had nothing to train on.
    #[error("the {what} set is empty")]
    EmptyData {
        /// `training` or `test`.
        what: &'static str,
    },
    /// The loader failed.
    #[error("reading a batch failed: {0}")]
    Data(burn::data::dataset::DatasetError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A checkpoint or history file is unusable.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--resume` with a config other than the one the checkpoints were trained with.
    #[error(
        "cannot resume: {} was written by a run with another configuration ({}); resume with the \
         same settings, or give another output directory to start afresh",
        path.display(),
        differences.join("; ")
    )]
    ResumeMismatch {
        /// The saved config.
        path: PathBuf,
        /// `field: saved X, now Y` for each difference.
        differences: Vec<String>,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged: loss {loss} at stage {stage} (learning rate {}), epoch {epoch}, \
         batch {batch}; lower the learning rate. {}",
        config::LearningRate(*learning_rate),
        match last_checkpoint {
            Some(e) => format!("The checkpoint of epoch {e} is the last good one."),
            None => "No checkpoint was written yet.".to_string(),
        }
    )]
    Diverged {
        /// The non-finite loss.
        loss: f32,
        /// Learning rate of the stage.
        learning_rate: f64,
        /// 1-based stage.
        stage: usize,
        /// 1-based global epoch.
        epoch: usize,
        /// 1-based batch of the epoch.
        batch: usize,
        /// Epoch of the last complete checkpoint, if any.
        last_checkpoint: Option<usize>,
    },
}

/// Maps an I/O error on `path` to [`TrainError::Io`].
pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A [`TrainError::Checkpoint`] about `path`.
pub(crate) fn record_err(path: &std::path::Path, message: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// How `config` differs from the `config.json` a run left in `out`: `None` when there is none,
/// else the differing fields (empty when they are the same).
pub fn saved_config_differences(
    out: &std::path::Path,
    config: &TrainingConfig,
) -> Result<Option<Vec<String>>, TrainError> {
    let path = out.join("config.json");
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(config_differences(&read_config(&path)?, config)))
}

/// The fields in which two configs differ, as `field: saved X, now Y`.
pub fn config_differences(saved: &TrainingConfig, now: &TrainingConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(saved), serde_json::to_value(now))
    else {
        return vec!["the configs cannot be compared".to_string()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| v.map_or("-".to_string(), |v| v.to_string());
            format!("{k}: saved {}, now {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub(crate) fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| record_err(path, e))?;
    crate::fsutil::write_atomic(path, &json).map_err(io_err(path))
}

/// Mean negative log-likelihood of `targets` under `log_probs` (`[B, 10]`), as PyTorch's
/// `F.nll_loss`.
pub fn nll_loss(log_probs: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = log_probs.dims();
    log_probs
        .gather(1, targets.reshape([batch, 1]))
        .mean()
        .neg()
}

/// SGD with PyTorch's momentum semantics (dampening 0; burn's default dampening is 0.1).
pub fn sgd(momentum: f64) -> ModuleOptimizer {
    sgd_config(momentum).init()
}

/// The config behind [`sgd`], for adding e.g. weight decay.
pub fn sgd_config(momentum: f64) -> SgdConfig {
    let momentum = (momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(momentum)
            .with_dampening(0.0)
    });
    SgdConfig::new().with_momentum(momentum)
}

/// One optimizer step on `batch` at learning rate `lr`; returns the updated model and the
/// batch's loss. `model` and `batch` must live on an autodiff device.
pub fn train_step(
    model: Model,
    optim: &mut ModuleOptimizer,
    batch: &MnistBatch,
    lr: f64,
) -> (Model, f32) {
    let log_probs = model.forward(batch.images.clone());
    let loss = nll_loss(log_probs, batch.targets.clone());
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optim.step(lr, model, grads), loss_value)
}
