//! The trainer: stages of epochs over a model, with report-style logs, per-epoch checkpoints,
//! `history.csv`, `summary.json`, a divergence guard and exact resume.
//!
//! Hand-written on top of [`train_step`](super::train_step) rather than burn-train's `Learner`:
//! the Learner runs one learning-rate schedule over one `num_epochs`, while the report continues
//! the same model *and optimizer state* through stages and evaluates after each; it also has no
//! guard that stops on a NaN loss and keeps the last good checkpoint, and its non-TTY renderer
//! prints no metric values. The loop is [`Trainer::fit`]
//! and the parts it calls, one job each.
//!
//! Every epoch draws its shuffling, dropout and augmentation from `(seed, epoch)` alone, so a run
//! resumed from the checkpoint of epoch k computes exactly what an uninterrupted run computes.
//!
//! Generic: any network that implements burn-train's step traits ([`Classifier`]), built from
//! any config that implements [`ModelInit`], on any [`Dataset`] with any [`Batcher`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, batcher::Batcher};
use burn::data::dataset::Dataset;
use burn::data::dataset::transform::PartialDataset;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use super::checkpoint::{self, CheckpointState};
use super::config::{TrainingConfig, TrainingStage};
use super::eval::{Evaluation, Mistake, evaluate};
use super::progress::EpochProgress;
use super::{TrainError, io_err, record_err, write_json};
use crate::data::{BatchTransform, loader};
use crate::fsutil::write_atomic;
use crate::model::step::{
    Classifier, ModelInit, init_seeded, train_step_counted, trainable_params,
};

/// What one stage reached, evaluated on the test set after its last epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageResult {
    /// Epochs of the stage.
    pub epochs: usize,
    /// Its learning rate.
    pub learning_rate: f64,
    /// Test accuracy in percent.
    pub test_accuracy: f64,
    /// Test images classified correctly.
    pub correct: usize,
    /// Test images.
    pub total: usize,
    /// Mean training loss of the stage's last `log_interval` batches.
    pub final_loss: f64,
    /// Mean test loss.
    pub test_loss: f64,
    /// Test accuracy of each class, percent.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` on the test set.
    pub confusion: Vec<Vec<usize>>,
}

/// One epoch's training loss and the test set after it (every epoch is evaluated: a test pass
/// costs a few percent of an epoch of training, and draws no random numbers training uses).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochResult {
    /// 1-based global epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Test accuracy after the epoch, percent.
    pub test_accuracy: f64,
    /// Mean test loss after the epoch.
    pub test_loss: f64,
}

/// Everything a run measured: written as `summary.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// Network name ([`ModelInit::name`]).
    pub model: String,
    /// Backend name (`flex`, `ndarray`, `wgpu`, ..., see [`crate::BackendKind::name_of`]).
    pub backend: String,
    /// Trainable parameters (PyTorch's count).
    pub params: usize,
    /// Trainable plus batch-norm statistics (burn's `num_params`).
    pub params_total: usize,
    /// One entry per stage.
    pub stages: Vec<StageResult>,
    /// Training throughput: images per second of training steps (evaluation excluded).
    pub train_images_per_sec: f64,
    /// Wall time of this process's part of the run, seconds.
    pub wall_seconds: f64,
    /// The seed.
    pub seed: u64,
    /// Training images per epoch.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Epoch the run was resumed from, if it was.
    pub resumed_from_epoch: Option<usize>,
    /// Every epoch's training and test loss and test accuracy (empty in summaries written
    /// before it was recorded).
    #[serde(default)]
    pub epochs: Vec<EpochResult>,
    /// The test images the final network got wrong.
    #[serde(default)]
    pub mistakes: Vec<Mistake>,
}

/// A finished run: the trained model and what it measured.
pub struct RunOutcome<M> {
    /// The trained network (on the training device).
    pub model: M,
    /// What was measured.
    pub summary: RunSummary,
    /// Loss of every step: `(step, epoch, loss, learning rate)`.
    pub history: Vec<HistoryRow>,
}

/// One line of `history.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryRow {
    /// 1-based optimizer step.
    pub step: usize,
    /// 1-based global epoch.
    pub epoch: usize,
    /// Loss of the step's batch.
    pub loss: f32,
    /// Learning rate of the step.
    pub learning_rate: f64,
}

/// The seed of epoch `epoch`'s shuffle and dropout: a SplitMix64 step of `(seed, epoch)`.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The data of a run: training and test items `I`, and the batcher that turns them into
/// batches `B` (burn's `Dataset` and `Batcher`).
pub struct RunData<I, B> {
    /// Training items (cut to `limit_train` by the trainer).
    pub train: Arc<dyn Dataset<I>>,
    /// Test items, evaluated after each stage.
    pub test: Arc<dyn Dataset<I>>,
    /// Items to batches; the trainer gives it the device.
    pub batcher: Arc<dyn Batcher<I, B>>,
}

impl<I, B> RunData<I, B> {
    /// Training set, test set and batcher.
    pub fn new(
        train: impl Dataset<I> + 'static,
        test: impl Dataset<I> + 'static,
        batcher: impl Batcher<I, B> + 'static,
    ) -> Self {
        Self {
            train: Arc::new(train),
            test: Arc::new(test),
            batcher: Arc::new(batcher),
        }
    }
}

impl<I, B> Clone for RunData<I, B> {
    fn clone(&self) -> Self {
        Self {
            train: self.train.clone(),
            test: self.test.clone(),
            batcher: self.batcher.clone(),
        }
    }
}

/// Which checkpoint a run continues from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The checkpoint of this 1-based global epoch.
    Epoch(usize),
    /// The newest complete checkpoint.
    Latest,
}

/// What a run writes as `config.json`: the network's config, the training config and the
/// augmentation, so that the run can be repeated from its own folder.
#[derive(serde::Serialize)]
struct SavedConfig<'a, S> {
    model: &'a S,
    #[serde(flatten)]
    training: &'a TrainingConfig,
    augmentation: serde_json::Value,
}

/// Trains any [`Classifier`] from its [`ModelInit`] on any [`RunData`], on a [`Device`],
/// writing into an output directory: report-style logs, per-epoch checkpoints, `config.json`,
/// `history.csv`, `summary.json`, a divergence guard and exact resume.
///
/// ```no_run
/// use mnist_lab::data::{MnistBatcher, MnistDataset};
/// use mnist_lab::model::{ModelConfig, SimpleCnnConfig};
/// use mnist_lab::train::{RunData, Trainer, TrainingConfig, parse_stages};
/// let dir = std::path::Path::new("tests/data/mnist-slice");
/// let data = RunData::new(MnistDataset::train(dir)?, MnistDataset::test(dir)?, MnistBatcher::default());
/// let config = TrainingConfig::new(parse_stages("1@0.01")?);
/// let outcome = Trainer::new(config, burn::tensor::Device::flex(), "runs/quick")?
///     .fit(&ModelConfig::SimpleCnn(SimpleCnnConfig::new()), data)?;
/// println!("{:.2}%", outcome.summary.stages[0].test_accuracy);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer<B> {
    config: TrainingConfig,
    device: Device,
    out: PathBuf,
    resume: Option<Resume>,
    stop_after: Option<usize>,
    verbose: bool,
    transform: Option<Arc<dyn BatchTransform<B>>>,
}

impl<B> Trainer<B>
where
    B: Send + Clone + std::fmt::Debug + 'static,
{
    /// Checks the config before any work starts. `device` is the inference device (without
    /// autodiff); training runs on `device.autodiff()`.
    pub fn new(
        config: TrainingConfig,
        device: Device,
        out: impl Into<PathBuf>,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        Ok(Self {
            config,
            device: device.inner(),
            out: out.into(),
            resume: None,
            stop_after: None,
            verbose: true,
            transform: None,
        })
    }

    /// Transforms every training batch before its step (augmentation; none by default).
    pub fn with_transform(mut self, transform: impl BatchTransform<B> + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// Continues from the complete checkpoint of `epoch` in the output directory.
    pub fn resume_from(mut self, epoch: usize) -> Self {
        self.resume = Some(Resume::Epoch(epoch));
        self
    }

    /// Continues from the newest complete checkpoint in the output directory (`--resume` with
    /// no epoch). A run whose last epoch is checkpointed is complete: `fit` says so, trains
    /// nothing and returns its saved summary.
    pub fn resume_latest(mut self) -> Self {
        self.resume = Some(Resume::Latest);
        self
    }

    /// Continues as `resume` says: `None` starts afresh.
    pub fn resume(mut self, resume: Option<Resume>) -> Self {
        self.resume = resume;
        self
    }

    /// Stops after global epoch `epoch` (its checkpoint written), as if the process had been
    /// stopped there; [`resume_from`](Self::resume_from) continues it.
    pub fn stop_after(mut self, epoch: usize) -> Self {
        self.stop_after = Some(epoch);
        self
    }

    /// Prints no progress lines (results are still written).
    pub fn quiet(mut self) -> Self {
        self.verbose = false;
        self
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    /// The config as it will be written to `config.json` for the network `model`.
    pub fn run_config<S: ModelInit>(&self, model: &S) -> Result<serde_json::Value, TrainError> {
        let path = self.out.join("config.json");
        serde_json::to_value(SavedConfig {
            model,
            training: &self.config,
            augmentation: self
                .transform
                .as_ref()
                .map_or(serde_json::Value::Null, |t| t.describe()),
        })
        .map_err(|e| record_err(&path, e))
    }

    /// Trains the network `spec` builds on `data.train` (cut to `limit_train`), evaluating on
    /// `data.test` after each epoch and reporting after each stage. Resuming a run whose last
    /// epoch is already checkpointed trains nothing and returns the run's saved summary.
    pub fn fit<S, I>(
        &self,
        spec: &S,
        data: RunData<I, B>,
    ) -> Result<RunOutcome<S::Model>, TrainError>
    where
        S: ModelInit,
        S::Model: Classifier<B>,
        I: Send + Sync + Clone + std::fmt::Debug + 'static,
    {
        let started = Instant::now();
        crate::backend::keep_freed_memory();
        let (train, test) = self.datasets(&data)?;
        // Held to the end of the run: a second run into this directory fails here at once.
        let _lock = crate::fsutil::DirLock::acquire(&self.out)?;
        let resume = self.resume_epoch()?;
        self.prepare_out_dir(spec, resume)?;
        let train_device = self.device.clone().autodiff();
        let mut run = self.start(spec, resume, &train_device)?;
        let total_epochs = self.config.total_epochs();
        if resume == Some(total_epochs)
            && let Some(summary) = self.saved_summary()
        {
            if self.verbose {
                println!(
                    "{}: already complete (epoch {total_epochs} of {total_epochs} is \
                     checkpointed); nothing to train",
                    self.out.display()
                );
            }
            return Ok(RunOutcome {
                model: run.model,
                summary,
                history: run.history,
            });
        }
        let test_loader = loader(
            test.clone(),
            data.batcher.clone(),
            self.config.test_batch_size,
            None,
            &self.device,
        );
        let last_epoch = self
            .stop_after
            .map_or(total_epochs, |e| e.min(total_epochs));
        for epoch in run.state.epoch + 1..=last_epoch {
            let trained;
            (run, trained) = self.train_epoch(run, epoch, &train, &data.batcher, &train_device)?;
            self.end_epoch(&mut run, epoch, trained, &*test_loader)?;
        }
        let RunState {
            model,
            state,
            history,
            ..
        } = run;
        let summary = self.summary(
            spec.name(),
            &model,
            state,
            started,
            (train.len(), test.len()),
            resume,
        );
        write_json(&self.out.join("summary.json"), &summary)?;
        Ok(RunOutcome {
            model,
            summary,
            history,
        })
    }

    /// What `summary.json` records of a finished run: its stages' figures, speed and sizes.
    fn summary<M: Classifier<B>>(
        &self,
        name: String,
        model: &M,
        state: CheckpointState,
        started: Instant,
        (train_images, test_images): (usize, usize),
        resumed_from_epoch: Option<usize>,
    ) -> RunSummary {
        RunSummary {
            model: name,
            backend: crate::backend::BackendKind::name_of(&self.device),
            params: trainable_params(model),
            params_total: model.num_params(),
            stages: state.stages,
            train_images_per_sec: if state.train_seconds > 0.0 {
                state.images_trained as f64 / state.train_seconds
            } else {
                0.0
            },
            wall_seconds: started.elapsed().as_secs_f64(),
            seed: self.config.seed,
            train_images,
            test_images,
            resumed_from_epoch,
            epochs: state.epochs,
            mistakes: state.mistakes,
        }
    }

    /// The training set (held-out part removed, cut to `limit_train`) and the evaluation set;
    /// an empty one is an error that says why.
    fn datasets<I>(&self, data: &RunData<I, B>) -> Result<(SharedSet<I>, SharedSet<I>), TrainError>
    where
        I: Send + Sync + Clone + std::fmt::Debug + 'static,
    {
        let config = &self.config;
        let (train, test) = held_out(data, config.validation)?;
        let train: SharedSet<I> = match config.limit_train {
            Some(n) if n < train.len() => Arc::new(PartialDataset::new(train, 0, n)),
            _ => train,
        };
        if train.is_empty() {
            let reason = if config.limit_train == Some(0) {
                "`limit_train` is 0 (`--limit-train 0`): give it at least 1, or leave it out to \
                 train on every image"
            } else {
                "the data set passed to `Trainer::fit` holds no items"
            };
            return Err(TrainError::EmptyData {
                what: "training",
                reason,
            });
        }
        if test.is_empty() {
            return Err(TrainError::EmptyData {
                what: "test",
                reason: "the data set passed to `Trainer::fit` holds no items",
            });
        }
        Ok((train, test))
    }

    /// The epoch to resume from: the one asked for, or the newest complete checkpoint; an error
    /// where there is none.
    fn resume_epoch(&self) -> Result<Option<usize>, TrainError> {
        let ckpt_dir = checkpoint::checkpoint_dir(&self.out);
        let epoch = match self.resume {
            None => return Ok(None),
            Some(Resume::Epoch(epoch)) => epoch,
            Some(Resume::Latest) => checkpoint::latest(&ckpt_dir).unwrap_or(0),
        };
        if epoch == 0 || !checkpoint::is_complete(&ckpt_dir, epoch) {
            return Err(TrainError::NoCheckpoint {
                latest: checkpoint::latest(&ckpt_dir),
                dir: ckpt_dir,
                epoch,
            });
        }
        Ok(Some(epoch))
    }

    /// Refuses to resume under another config, writes `config.json`, and clears what an
    /// interrupted process left (temporary files) or, for a new run, the old run's checkpoints.
    fn prepare_out_dir<S: ModelInit>(
        &self,
        spec: &S,
        resume: Option<usize>,
    ) -> Result<(), TrainError> {
        let ckpt_dir = checkpoint::checkpoint_dir(&self.out);
        let config_path = self.out.join("config.json");
        let run_config = self.run_config(spec)?;
        if resume.is_some()
            && let Some(differences) = super::saved_config_differences(&self.out, &run_config)?
            && !differences.is_empty()
        {
            return Err(TrainError::ResumeMismatch {
                path: config_path,
                differences,
            });
        }
        write_json(&config_path, &run_config)?;
        checkpoint::remove_partial(&ckpt_dir)?;
        checkpoint::remove_partial(&self.out)?;
        if resume.is_none() {
            // A new run replaces the one that was in the directory, checkpoints included.
            checkpoint::clear(&ckpt_dir)?;
        }
        Ok(())
    }

    /// A fresh network and optimizer, or the checkpoint of `resume` with its history.
    fn start<S>(
        &self,
        spec: &S,
        resume: Option<usize>,
        train_device: &Device,
    ) -> Result<RunState<S::Model>, TrainError>
    where
        S: ModelInit,
        S::Model: Classifier<B>,
    {
        let mut run = RunState {
            model: init_seeded(spec, self.config.seed, train_device),
            optim: self.config.optimizer.init(),
            state: CheckpointState::default(),
            history: Vec::new(),
        };
        let Some(epoch) = resume else {
            return Ok(run);
        };
        let ckpt_dir = checkpoint::checkpoint_dir(&self.out);
        (run.model, run.optim, run.state) =
            checkpoint::load(&ckpt_dir, epoch, run.model, run.optim)?;
        let history_path = self.out.join("history.csv");
        run.history = read_history(&history_path, epoch)?;
        if run.history.len() != run.state.steps {
            return Err(super::record_err(
                &history_path,
                format!(
                    "holds {} steps for epochs 1 to {epoch}, but the checkpoint of epoch {epoch} \
                     took {}: the file is truncated or from another run. Resume from an earlier \
                     epoch, or start afresh without --resume",
                    run.history.len(),
                    run.state.steps
                ),
            ));
        }
        Ok(run)
    }

    /// `summary.json` of the run in the output directory, when it is there and readable.
    fn saved_summary(&self) -> Option<RunSummary> {
        let text = std::fs::read_to_string(self.out.join("summary.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// One epoch of training steps, drawn from `(seed, epoch)`: the report's progress lines,
    /// the history rows, and a stop on a non-finite loss.
    fn train_epoch<I, M>(
        &self,
        mut run: RunState<M>,
        epoch: usize,
        train: &SharedSet<I>,
        batcher: &Arc<dyn Batcher<I, B>>,
        train_device: &Device,
    ) -> Result<(RunState<M>, TrainedEpoch), TrainError>
    where
        I: Send + Sync + Clone + std::fmt::Debug + 'static,
        M: Classifier<B>,
    {
        let config = &self.config;
        let n_train = train.len();
        let stage_index = config
            .stage_of_epoch(epoch)
            .expect("epoch within the stages");
        // The loader keeps the last, partial batch: ceil(n / batch) steps an epoch.
        let steps_per_epoch = n_train.div_ceil(config.batch_size);
        let first_step = (epoch - config.first_epoch_of_stage(stage_index)) * steps_per_epoch;
        let seed = epoch_seed(config.seed, epoch);
        train_device.seed(seed);
        let loader = loader(
            train.clone(),
            batcher.clone(),
            config.batch_size,
            Some(seed),
            train_device,
        );
        let mut augment_rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let progress = EpochProgress::new(self.verbose, epoch, n_train, config.log_interval);
        let mut trained = TrainedEpoch::new(stage_index, config.log_interval);
        for (i, batch) in loader.iter().enumerate() {
            let mut batch = batch.map_err(TrainError::Data)?;
            if let Some(transform) = &self.transform {
                batch = transform.apply(batch, &mut augment_rng);
            }
            let learning_rate = config.learning_rate(stage_index, first_step + i, steps_per_epoch);
            let (next, loss, n) =
                train_step_counted(run.model, &mut run.optim, batch, learning_rate);
            run.model = next;
            if !loss.is_finite() {
                // The losses up to the divergence are kept for inspection (a resume reads
                // only the rows of checkpointed epochs).
                write_history(&self.out.join("history.csv"), &run.history)?;
                return Err(TrainError::Diverged {
                    loss,
                    learning_rate,
                    stage: stage_index + 1,
                    epoch,
                    batch: i + 1,
                    last_checkpoint: (run.state.epoch > 0).then_some(run.state.epoch),
                });
            }
            trained.record(loss, n, config.log_interval);
            run.state.steps += 1;
            run.history.push(HistoryRow {
                step: run.state.steps,
                epoch,
                loss,
                learning_rate,
            });
            progress.step(i, trained.images, loss);
        }
        progress.finish();
        Ok((run, trained))
    }

    /// After an epoch: the test set, the report's line at the end of a stage, the history and
    /// the checkpoint.
    fn end_epoch<M: Classifier<B>>(
        &self,
        run: &mut RunState<M>,
        epoch: usize,
        mut trained: TrainedEpoch,
        test_loader: &dyn DataLoader<B>,
    ) -> Result<(), TrainError> {
        let state = &mut run.state;
        state.images_trained += trained.images;
        state.train_seconds += trained.started.elapsed().as_secs_f64();
        state.epoch = epoch;
        let eval = evaluate(&run.model, test_loader).map_err(TrainError::Data)?;
        state.epochs.push(EpochResult {
            epoch,
            train_loss: trained.loss_sum / trained.steps.max(1) as f64,
            test_accuracy: 100.0 * eval.accuracy(),
            test_loss: eval.mean_loss,
        });
        let stage_index = trained.stage_index;
        if self.config.stage_of_epoch(epoch + 1) != Some(stage_index) {
            if self.verbose {
                println!("{}", eval.report_line());
            }
            let stage = self.config.stages[stage_index];
            let recent = trained.recent.make_contiguous();
            state.stages.push(stage_result(stage, &eval, recent));
        }
        state.mistakes = eval.mistakes;
        write_history(&self.out.join("history.csv"), &run.history)?;
        checkpoint::save(
            &checkpoint::checkpoint_dir(&self.out),
            &run.model,
            &run.optim,
            state,
        )
    }
}

/// Where a run stands between epochs: what a checkpoint holds, and the loss of every step.
struct RunState<M> {
    model: M,
    optim: burn::optim::ModuleOptimizer,
    state: CheckpointState,
    history: Vec<HistoryRow>,
}

/// What one epoch's steps measured.
struct TrainedEpoch {
    stage_index: usize,
    started: Instant,
    images: usize,
    steps: usize,
    loss_sum: f64,
    /// The last `log_interval` losses (a stage's `final_loss`).
    recent: VecDeque<f64>,
}

impl TrainedEpoch {
    fn new(stage_index: usize, window: usize) -> Self {
        Self {
            stage_index,
            started: Instant::now(),
            images: 0,
            steps: 0,
            loss_sum: 0.0,
            recent: VecDeque::with_capacity(window),
        }
    }

    fn record(&mut self, loss: f32, images: usize, window: usize) {
        self.images += images;
        self.steps += 1;
        self.loss_sum += loss as f64;
        if self.recent.len() == window {
            self.recent.pop_front();
        }
        self.recent.push_back(loss as f64);
    }
}

/// A data set shared between loaders.
type SharedSet<I> = Arc<dyn Dataset<I>>;

/// The training and evaluation sets of a run: `data`'s, or with `validation: Some(n)` the
/// training set without its last `n` items and those `n` items.
fn held_out<I, B>(
    data: &RunData<I, B>,
    validation: Option<usize>,
) -> Result<(SharedSet<I>, SharedSet<I>), TrainError>
where
    I: Send + Sync + Clone + std::fmt::Debug + 'static,
{
    let Some(held_out) = validation else {
        return Ok((data.train.clone(), data.test.clone()));
    };
    let n = data.train.len();
    if held_out == 0 || held_out >= n {
        return Err(super::ConfigError::BadValidation { held_out, n }.into());
    }
    Ok((
        Arc::new(PartialDataset::new(data.train.clone(), 0, n - held_out)),
        Arc::new(PartialDataset::new(data.train.clone(), n - held_out, n)),
    ))
}

fn stage_result(stage: TrainingStage, eval: &Evaluation, recent_losses: &[f64]) -> StageResult {
    StageResult {
        epochs: stage.epochs,
        learning_rate: stage.learning_rate,
        test_accuracy: 100.0 * eval.accuracy(),
        correct: eval.correct,
        total: eval.total,
        final_loss: recent_losses.iter().sum::<f64>() / recent_losses.len().max(1) as f64,
        test_loss: eval.mean_loss,
        per_class_accuracy: eval
            .per_class_accuracy()
            .iter()
            .map(|a| 100.0 * a)
            .collect(),
        confusion: eval.confusion.clone(),
    }
}

/// Reads a run's `config.json` as JSON (the network's config under `model`, the training
/// config's fields, `augmentation`).
pub fn read_config_json(path: &Path) -> Result<serde_json::Value, TrainError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| {
        record_err(
            path,
            format!(
                "is not valid JSON ({e}); delete it, or the whole run directory, to start afresh"
            ),
        )
    })
}

const HISTORY_HEADER: &str = "step,epoch,loss,lr";

fn write_history(path: &Path, rows: &[HistoryRow]) -> Result<(), TrainError> {
    let mut text = String::with_capacity(32 * rows.len() + 32);
    text.push_str(HISTORY_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{}\n",
            r.step, r.epoch, r.loss, r.learning_rate
        ));
    }
    write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

/// Reads `history.csv` back, keeping the rows of epochs up to `through_epoch`. The header, four
/// fields per row and steps counting up from 1 are checked: a file cut short inside a row, or
/// with rows missing, is an error naming the line.
pub fn read_history(path: &Path, through_epoch: usize) -> Result<Vec<HistoryRow>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let bad = |line: usize| {
        record_err(
            path,
            format!(
                "line {line} is not `{HISTORY_HEADER}`: the file is damaged. Delete the run \
                 directory to train afresh"
            ),
        )
    };
    if text.lines().next() != Some(HISTORY_HEADER) {
        return Err(bad(1));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        // Every row is written with its newline: the file was cut inside its last row.
        return Err(bad(text.lines().count()));
    }
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 4 {
            return Err(bad(i + 1));
        }
        let row = HistoryRow {
            step: f[0].parse().map_err(|_| bad(i + 1))?,
            epoch: f[1].parse().map_err(|_| bad(i + 1))?,
            loss: f[2].parse().map_err(|_| bad(i + 1))?,
            learning_rate: f[3].parse().map_err(|_| bad(i + 1))?,
        };
        if row.step != i {
            return Err(record_err(
                path,
                format!(
                    "line {}: step {} where step {i} was expected: rows are missing. Delete the \
                     run directory to train afresh",
                    i + 1,
                    row.step
                ),
            ));
        }
        if row.epoch <= through_epoch {
            rows.push(row);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::progress_line;

    #[test]
    fn progress_line_matches_the_report() {
        assert_eq!(
            progress_line(1, 5000, 60000, 0.362447),
            "Train Epoch: 1 [5000/60000 (8%)]  Loss: 0.362447"
        );
    }

    #[test]
    fn epoch_seeds_differ_and_repeat() {
        assert_eq!(epoch_seed(42, 3), epoch_seed(42, 3));
        assert_ne!(epoch_seed(42, 3), epoch_seed(42, 4));
        assert_ne!(epoch_seed(42, 3), epoch_seed(43, 3));
    }
}
