//! Several presets run one after another into one directory: the learning-rate sweeps and the
//! whole report. Finished runs with the same config are reused and interrupted ones resumed, so
//! a suite stopped halfway continues where it stopped.

use std::path::{Path, PathBuf};

use super::pictures::write_outcome_pictures;
use super::{Preset, RunConfig};
use crate::report::{LinePlot, PlotError, Series, loss_curve};
use mnist_lab::backend::BackendKind;
use mnist_lab::data::{MnistBatcher, MnistDataset};
use mnist_lab::train::{
    HistoryRow, LearningRate, RunData, RunSummary, TrainError, checkpoint, format_stages,
    read_history, saved_config_differences,
};

/// What one preset of a suite gave.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The recipe.
    pub preset: Preset,
    /// The config it ran with.
    pub config: RunConfig,
    /// The results, or `None` when the run diverged.
    pub summary: Option<RunSummary>,
    /// Why the run stopped early (a divergence), if it did.
    pub failure: Option<String>,
    /// The loss of every step.
    pub history: Vec<HistoryRow>,
    /// Whether the results come from an earlier run of the same config.
    pub reused: bool,
}

impl RunRecord {
    /// Test accuracy after the last stage, percent.
    pub fn final_accuracy(&self) -> Option<f64> {
        self.summary
            .as_ref()
            .and_then(|s| s.stages.last())
            .map(|s| s.test_accuracy)
    }
}

/// Runs presets on one backend into `<runs_dir>/<preset name>/`.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The backend every run uses.
    pub backend: BackendKind,
    /// Parent of the run directories.
    pub runs_dir: PathBuf,
    /// The seed of every run.
    pub seed: u64,
    /// Train on the first N images only (a quick look; the report's figures need all).
    pub limit_train: Option<usize>,
    /// Reuse finished runs of the same config, resume interrupted ones.
    pub reuse: bool,
    /// Print no per-batch lines.
    pub quiet: bool,
}

impl Suite {
    /// The config a preset runs with in this suite.
    pub fn config(&self, preset: &Preset) -> RunConfig {
        let mut config = preset.config();
        config.training.seed = self.seed;
        config.training.limit_train = self.limit_train;
        config
    }

    /// Where a preset's run lives.
    pub fn run_dir(&self, preset: &Preset) -> PathBuf {
        self.runs_dir.join(&preset.name)
    }

    /// Runs `preset`, or reuses its finished run, or resumes its last complete checkpoint, and
    /// writes a trained run's pictures into its directory ([`write_outcome_pictures`]). A divergence
    /// is recorded (with the losses up to it), not returned as an error.
    pub fn run(
        &self,
        preset: &Preset,
        train: &MnistDataset,
        test: &MnistDataset,
    ) -> Result<RunRecord, SuiteError> {
        let config = self.config(preset);
        let dir = self.run_dir(preset);
        let mut trainer = config.trainer(self.backend.device()?, &dir)?;
        let same_config = self.reuse
            && saved_config_differences(&dir, &trainer.run_config(&config.model)?)?
                .is_some_and(|d| d.is_empty());
        let record = |summary, failure, history, reused| RunRecord {
            preset: preset.clone(),
            config: config.clone(),
            summary,
            failure,
            history,
            reused,
        };
        if same_config && let Some(summary) = self.finished_summary(&dir, &config)? {
            let history_path = dir.join("history.csv");
            let history = read_history(&history_path, usize::MAX)?;
            let epochs = config.training.total_epochs();
            if history.last().map(|r| r.epoch) != Some(epochs) {
                return Err(SuiteError::Train(TrainError::Checkpoint {
                    path: history_path,
                    message: format!(
                        "ends before epoch {epochs}, the last of the finished run beside it: the \
                         file is truncated. Rerun with --rerun, or delete {} to train afresh",
                        dir.display()
                    ),
                }));
            }
            println!(
                "{}: reusing the finished run in {}",
                preset.name,
                dir.display()
            );
            return Ok(record(Some(summary), None, history, true));
        }
        if self.quiet {
            trainer = trainer.quiet();
        }
        if same_config && let Some(epoch) = checkpoint::latest(&checkpoint::checkpoint_dir(&dir)) {
            println!(
                "{}: resuming from epoch {epoch} in {}",
                preset.name,
                dir.display()
            );
            trainer = trainer.resume_from(epoch);
        }
        println!(
            "{}: {} on {}, stages {}",
            preset.name,
            preset.model,
            self.backend,
            format_stages(&config.training.stages)
        );
        let data = RunData::new(train.clone(), test.clone(), MnistBatcher::default());
        match trainer.fit(&config.model, data) {
            Ok(outcome) => {
                let device = self.backend.device()?;
                write_outcome_pictures(&dir, &preset.name, &outcome, test, &device, 0)?;
                let accuracies: Vec<String> = outcome
                    .summary
                    .stages
                    .iter()
                    .map(|s| format!("{:.2}%", s.test_accuracy))
                    .collect();
                println!(
                    "{}: {} ({:.0} s)",
                    preset.name,
                    accuracies.join(" / "),
                    outcome.summary.wall_seconds
                );
                Ok(record(Some(outcome.summary), None, outcome.history, false))
            }
            Err(e @ TrainError::Diverged { .. }) => {
                println!("{}: {e}", preset.name);
                let history = read_history(&dir.join("history.csv"), usize::MAX)?;
                Ok(record(None, Some(e.to_string()), history, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn finished_summary(
        &self,
        dir: &Path,
        config: &RunConfig,
    ) -> Result<Option<RunSummary>, TrainError> {
        let path = dir.join("summary.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let summary: RunSummary =
            serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
                path: path.clone(),
                message: format!("not a run summary: {e}"),
            })?;
        Ok(summary_matches(&summary, config, self.backend).then_some(summary))
    }
}

/// Whether `summary` is the complete result of `config` on `backend` (and not, say, of a run
/// stopped early or of another config that left its summary in the directory).
fn summary_matches(summary: &RunSummary, config: &RunConfig, backend: BackendKind) -> bool {
    let config_model = config.model.to_string();
    let config = &config.training;
    summary.backend == backend.to_string()
        && summary.model == config_model
        && summary.seed == config.seed
        && summary.stages.len() == config.stages.len()
        && summary
            .stages
            .iter()
            .zip(&config.stages)
            .all(|(s, c)| s.epochs == c.epochs && s.learning_rate == c.learning_rate)
        && config.limit_train.is_none_or(|n| summary.train_images <= n)
}

/// One learning-rate experiment of the report: a model trained at several rates.
#[derive(Clone, Debug)]
pub struct LrSweep {
    /// File stem of its plot (`lr_<model>`).
    pub name: String,
    /// The runs, one per learning rate.
    pub presets: Vec<Preset>,
}

/// The report's learning-rate experiments: the simple FC net at 0.01 / 0.001 / 0.0001, the
/// complex MLP at the same three (dropout on at test, as the report), the simple CNN at 0.1
/// and 0.01; 5 epochs each.
pub fn lr_sweeps() -> Vec<LrSweep> {
    let rates = [1e-2, 1e-3, 1e-4];
    let fc = Preset::simple_fc();
    let cnn = Preset::simple_cnn();
    vec![
        LrSweep {
            name: "lr_simple_fc".into(),
            presets: rates.iter().map(|&lr| fc.at_learning_rate(lr)).collect(),
        },
        LrSweep {
            name: "lr_complex_mlp".into(),
            presets: rates.map(Preset::complex_mlp).to_vec(),
        },
        LrSweep {
            name: "lr_simple_cnn".into(),
            presets: [1e-1, 1e-2]
                .iter()
                .map(|&lr| cnn.at_learning_rate(lr))
                .collect(),
        },
    ]
}

/// Mean loss over windows of about a tenth of an epoch, at most 100 steps (the report's log
/// interval).
fn curve(history: &[HistoryRow]) -> Vec<(f64, f64)> {
    let steps_per_epoch = history.iter().filter(|r| r.epoch == 1).count();
    loss_curve(history, (steps_per_epoch / 10).clamp(1, 100))
}

/// The loss curves of one sweep, one line per learning rate.
pub fn lr_plot(model_title: &str, records: &[RunRecord]) -> LinePlot {
    LinePlot {
        title: format!("{model_title}: training loss by learning rate"),
        x_label: "epoch".into(),
        y_label: "training loss (NLL)".into(),
        series: records
            .iter()
            .map(|r| Series {
                label: format!(
                    "lr {}{}",
                    LearningRate(r.config.training.stages[0].learning_rate),
                    if r.failure.is_some() {
                        " (diverged)"
                    } else {
                        ""
                    }
                ),
                points: curve(&r.history),
            })
            .collect(),
    }
}

/// §4.2: the loss curves of the simple FC net and the simple CNN, same recipe.
pub fn comparison_plot(title: &str, records: &[&RunRecord]) -> LinePlot {
    LinePlot {
        title: title.to_string(),
        x_label: "epoch".into(),
        y_label: "training loss (NLL)".into(),
        series: records
            .iter()
            .map(|r| Series {
                label: r.preset.model.to_string(),
                points: curve(&r.history),
            })
            .collect(),
    }
}

/// Runs every sweep and writes its plot into `plots_dir`.
pub fn run_lr_sweeps(
    suite: &Suite,
    train: &MnistDataset,
    test: &MnistDataset,
    plots_dir: &Path,
) -> Result<Vec<(LrSweep, Vec<RunRecord>)>, SuiteError> {
    let mut done = Vec::new();
    for sweep in lr_sweeps() {
        let records = sweep
            .presets
            .iter()
            .map(|p| suite.run(p, train, test))
            .collect::<Result<Vec<_>, _>>()?;
        let model = sweep.presets[0].model.kind();
        lr_plot(&model.to_string(), &records).save(plots_dir, &sweep.name)?;
        done.push((sweep, records));
    }
    Ok(done)
}

/// Why a suite stopped.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A run failed (other than by diverging).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A plot could not be written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The backend is not compiled in.
    #[error(transparent)]
    Backend(#[from] mnist_lab::backend::BackendError),
    /// A run's final network could not be loaded for its pictures.
    #[error(transparent)]
    Infer(#[from] mnist_lab::infer::InferError),
    /// The report could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
