//! Training and evaluation of any classifier: the step traits it needs, one optimizer step,
//! test accuracy, and the [`Trainer`] built from them. Nothing here knows MNIST or our five
//! networks: a network is anything with burn-train's `TrainStep` + `InferenceStep`
//! ([`Classifier`]), data is any burn `Dataset` + `Batcher`.
//!
//! The pieces are public so a user can also write their own loop in a few lines:
//!
//! ```no_run
//! use mnist_lab::{data::{MnistBatcher, MnistDataset}, model::ModelKind, train};
//! let device = burn::tensor::Device::flex().autodiff();
//! let data = MnistDataset::train(std::path::Path::new("tests/data/mnist-slice"))?;
//! let loader = train::loader(std::sync::Arc::new(data), std::sync::Arc::new(MnistBatcher::default()), 50, Some(42), &device);
//! let mut model = ModelKind::SimpleCnn.init(&device);
//! let mut optim = train::sgd(0.9);
//! for batch in loader.iter() {
//!     let (next, loss) = train::train_step(model, &mut optim, batch?, 0.01);
//!     model = next;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
mod config;
mod eval;
mod progress;
mod run_config;
mod schedule;
mod trainer;

pub use crate::data::{BatchTransform, loader};
pub use crate::model::step::{
    ClassificationOutput, Classifier, InferenceStep, ModelInit, TrainOutput, TrainStep,
    classification_output, init_device, init_seeded, nll_loss, train_output, train_step,
    trainable_params,
};
pub use config::{
    ConfigError, LearningRate, OptimizerConfig, OptimizerKind, TrainingConfig, TrainingStage,
    format_stages, parse_stages,
};
pub use eval::{ClassOutOfRange, Evaluation, Mistake, evaluate};
pub use progress::progress_line;
pub use run_config::RunConfig;
pub use schedule::LrSchedule;
pub use trainer::{
    EpochResult, HistoryRow, Resume, RunData, RunOutcome, RunSummary, StageResult, Trainer,
    epoch_seed, read_config_json, read_history,
};

use std::path::PathBuf;

use burn::optim::{ModuleOptimizer, SgdConfig, momentum::MomentumConfig};

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
    #[error("the {what} set is empty: {reason}")]
    EmptyData {
        /// `training` or `test`.
        what: &'static str,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// The loader failed.
    #[error("reading a batch failed: {0}")]
    Data(burn::data::dataset::DatasetError),
    /// A file could not be written or read.
    #[error("{path}: {source}{}", crate::fsutil::io_hint(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `--resume N` where no complete checkpoint of epoch N is.
    #[error(
        "cannot resume from epoch {epoch}: {} holds no complete checkpoint of it ({}). {}",
        dir.display(),
        match latest { Some(e) => format!("the latest is epoch {e}"), None => "it holds none".into() },
        match latest {
            Some(e) => format!("Pass --resume {e}, or train afresh without --resume"),
            None => "Train afresh without --resume, or pass the --out of the run to resume".into(),
        }
    )]
    NoCheckpoint {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The epoch asked for.
        epoch: usize,
        /// The latest complete checkpoint there, if any.
        latest: Option<usize>,
    },
    /// Another run holds the output directory.
    #[error(transparent)]
    Busy(#[from] crate::fsutil::LockError),
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
        /// Learning rate of the step that diverged.
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

/// How `config` (as [`Trainer::run_config`] gives it) differs from the `config.json` a run left
/// in `out`: `None` when there is none, else the differing fields (empty when they are the
/// same).
pub fn saved_config_differences(
    out: &std::path::Path,
    config: &serde_json::Value,
) -> Result<Option<Vec<String>>, TrainError> {
    let path = out.join("config.json");
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(config_differences(&read_config_json(&path)?, config)))
}

/// The top-level fields in which two configs (as JSON) differ, as `field: saved X, now Y`;
/// `null` is the same as absent, and floats that the JSON round trip moved are the same.
///
/// ```
/// use mnist_lab::train::config_differences;
/// let saved = serde_json::json!({"seed": 42, "adam": {"beta_2": 0.9990000128746032}});
/// let now = serde_json::json!({"seed": 7, "adam": {"beta_2": 0.9990000128746033}, "schedule": null});
/// assert_eq!(config_differences(&saved, &now), vec!["seed: saved 42, now 7"]);
/// ```
pub fn config_differences(saved: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (saved, now) else {
        return vec!["the configs cannot be compared".to_string()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !equivalent(a.get(*k), b.get(*k)))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| v.map_or("-".to_string(), |v| v.to_string());
            format!("{k}: saved {}, now {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// Whether two config values mean the same, at any depth: a field that is `null` (an `Option`
/// added since, `None`) is the same as an absent one, and numbers equal to 1e-12 relative are
/// the same (serde_json reads a float back up to one unit in the last place off, so an f32
/// field such as Adam's `beta_2` would otherwise differ from itself after a save).
fn equivalent(a: Option<&serde_json::Value>, b: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equivalent(Some(x), Some(y)))
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => x
            .keys()
            .chain(y.keys())
            .all(|k| equivalent(x.get(k), y.get(k))),
        (x, y) => x == y,
    }
}

/// Writes `value` as pretty JSON to `path`, atomically (as the trainer writes `config.json` and
/// `summary.json`).
pub fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| record_err(path, e))?;
    crate::fsutil::write_atomic(path, &json).map_err(io_err(path))
}

/// SGD with PyTorch's momentum semantics (dampening 0; burn's default dampening is 0.1).
pub fn sgd(momentum: f64) -> ModuleOptimizer {
    flex_kernels::sgd_optimizer(&sgd_config(momentum))
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
