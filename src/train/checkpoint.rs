//! Per-epoch checkpoints: model, optimizer state and run state, each written atomically.
//!
//! Layout under `<out>/checkpoints/`: `model-<epoch>.bpk`, `optim-<epoch>.bpk` (burnpack bytes)
//! and `state-<epoch>.json`. The state file is written last and marks the checkpoint complete:
//! a run killed in the middle of a save leaves the previous complete checkpoint as the latest.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use super::eval::Mistake;
use super::trainer::{EpochResult, StageResult};
use super::{TrainError, io_err, record_err, write_json};
use crate::fsutil::write_atomic;

/// What a checkpoint remembers beyond the weights: enough to continue as if never stopped.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointState {
    /// Global epochs completed (1-based count).
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub steps: usize,
    /// Results of the stages finished so far.
    pub stages: Vec<StageResult>,
    /// Training images seen so far.
    pub images_trained: usize,
    /// Seconds spent in training steps so far.
    pub train_seconds: f64,
    /// The epochs finished so far (absent from checkpoints written before it was recorded).
    #[serde(default)]
    pub epochs: Vec<EpochResult>,
    /// The test images the network of this checkpoint got wrong.
    #[serde(default)]
    pub mistakes: Vec<Mistake>,
}

/// The checkpoint directory of a run directory.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

fn paths(dir: &Path, epoch: usize) -> [PathBuf; 3] {
    [
        dir.join(format!("model-{epoch}.bpk")),
        dir.join(format!("optim-{epoch}.bpk")),
        dir.join(format!("state-{epoch}.json")),
    ]
}

/// Saves a complete checkpoint of epoch `state.epoch`.
pub fn save<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    let [model_path, optim_path, state_path] = paths(dir, state.epoch);
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| record_err(&model_path, e))?;
    write_atomic(&model_path, &model_bytes).map_err(io_err(&model_path))?;
    let optim_bytes = optim.into_bytes().map_err(|e| record_err(&optim_path, e))?;
    write_atomic(&optim_path, &optim_bytes).map_err(io_err(&optim_path))?;
    write_json(&state_path, state)
}

/// Removes what a process killed in the middle of a save left in `dir`: the temporary files of
/// [`write_atomic`] (`.tmp-*`), never a complete file. Returns how many were removed.
pub fn remove_partial(dir: &Path) -> Result<usize, TrainError> {
    remove_files_where(dir, |name| name.starts_with(".tmp-"))
}

/// Removes every checkpoint file (`model-N.bpk`, `optim-N.bpk`, `state-N.json`) from `dir`: a
/// new run in a directory replaces the run that was there, and must not leave checkpoints of
/// that other run for a later resume to pick up. Returns how many files were removed.
pub fn clear(dir: &Path) -> Result<usize, TrainError> {
    remove_files_where(dir, |name| {
        [("model-", ".bpk"), ("optim-", ".bpk"), ("state-", ".json")]
            .iter()
            .any(|(prefix, suffix)| {
                name.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix(suffix))
                    .is_some_and(|n| n.parse::<usize>().is_ok())
            })
    })
}

/// Removes the files of `dir` whose names pass `doomed`; a missing directory holds none.
fn remove_files_where(dir: &Path, doomed: impl Fn(&str) -> bool) -> Result<usize, TrainError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if doomed(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The highest epoch with a complete checkpoint in `dir`, if any.
pub fn latest(dir: &Path) -> Option<usize> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("state-")?
                .strip_suffix(".json")?
                .parse()
                .ok()
        })
        .max()
}

/// The weights file of the checkpoint of `epoch` in `dir` (`model-<epoch>.bpk`).
pub fn model_path(dir: &Path, epoch: usize) -> PathBuf {
    paths(dir, epoch)[0].clone()
}

/// Whether `dir` holds a complete checkpoint of `epoch` (its state file, written last).
pub fn is_complete(dir: &Path, epoch: usize) -> bool {
    paths(dir, epoch)[2].is_file()
}

/// `module` with its weights from the burn record file `path` (a checkpoint's `model-N.bpk`).
/// A file that is not a record is an error saying `damaged(the decoder's words)`; a record of
/// another network, one adding `mismatch`.
pub(crate) fn load_weights<M: Module>(
    module: M,
    path: &Path,
    damaged: impl FnOnce(String) -> String,
    mismatch: &str,
) -> Result<M, TrainError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_err(path, damaged(e.to_string())))?;
    module
        .try_load_record(record)
        .map_err(|e| record_err(path, format!("does not fit this network ({e}); {mismatch}")))
}

/// Loads checkpoint `epoch` into `model` (which sets the architecture and device) and `optim`.
/// A checkpoint of another model or shape is an error naming the file, not a panic.
pub fn load<M: Module>(
    dir: &Path,
    epoch: usize,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, CheckpointState), TrainError> {
    let [model_path, optim_path, state_path] = paths(dir, epoch);
    // What to do about a damaged file: the checkpoint before it, or a fresh start.
    let damaged = |what: &str, e: &dyn std::fmt::Display| {
        let earlier = match epoch {
            0 | 1 => String::new(),
            e => format!("resume from an earlier epoch (--resume {}), or ", e - 1),
        };
        format!("{what} ({e}): the file is damaged. {earlier}start afresh without --resume")
    };
    let state_bytes = std::fs::read(&state_path).map_err(io_err(&state_path))?;
    let state: CheckpointState = serde_json::from_slice(&state_bytes)
        .map_err(|e| record_err(&state_path, damaged("is not a checkpoint's state", &e)))?;
    let model = load_weights(
        model,
        &model_path,
        |e| damaged("cannot be read as weights", &e),
        "was it saved by another model? Resume with the network that wrote it, or give another \
         output directory to start afresh",
    )?;
    let optim_bytes = std::fs::read(&optim_path).map_err(io_err(&optim_path))?;
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(optim_bytes))
        .map_err(|e| {
            record_err(
                &optim_path,
                damaged("cannot be read as optimizer state", &e),
            )
        })?;
    if state.epoch != epoch {
        return Err(record_err(
            &state_path,
            damaged(
                "is not the state of this epoch",
                &format!("it says epoch {}", state.epoch),
            ),
        ));
    }
    Ok((model, optim, state))
}
