//! The whole report in one command: every experiment, the learning-rate sweeps, the plots, and
//! `REPORT.md` with our numbers beside the report's and PyTorch's.

use std::path::PathBuf;

use super::Preset;
use super::pictures::{NetworkShown, write_run_pictures};
use super::suite::{LrSweep, RunRecord, Suite, SuiteError, comparison_plot, run_lr_sweeps};
use crate::report::{
    ExperimentRow, Picture, PictureSection, ReportContext, ReportInput, SweepRow, SweepSection,
    render_report,
};
use mnist_lab::data::MnistDataset;
use mnist_lab::infer::load_network;
use mnist_lab::train::{LearningRate, TrainingStage, checkpoint, write_json};
use mnist_lab::write_atomic;

/// What to run.
#[derive(Clone, Debug)]
pub struct Reproduction {
    /// How runs are made.
    pub suite: Suite,
    /// Where `REPORT.md` and `plots/` go.
    pub report_dir: PathBuf,
    /// Also run the improved complex CNN recipe (the longest run).
    pub with_improved: bool,
}

/// Everything a reproduction measured.
pub struct Reproduced {
    /// The report's experiments (and the improved recipe when asked), in order.
    pub experiments: Vec<RunRecord>,
    /// The learning-rate sweeps.
    pub sweeps: Vec<(LrSweep, Vec<RunRecord>)>,
    /// The report file.
    pub report_path: PathBuf,
}

impl Reproduction {
    /// The recipes a reproduction runs, in the report's order: [`Preset::report_experiments`],
    /// and [`Preset::complex_cnn_improved`] when `with_improved`. The examples run the same
    /// constructors (`tests/recipes.rs` checks it).
    pub fn presets(with_improved: bool) -> Vec<Preset> {
        let mut presets = Preset::report_experiments();
        if with_improved {
            presets.push(Preset::complex_cnn_improved());
        }
        presets
    }

    /// Runs (or reuses) every experiment, draws the plots, writes `REPORT.md`.
    pub fn run(
        &self,
        train: &MnistDataset,
        test: &MnistDataset,
        context: &ReportContext,
    ) -> Result<Reproduced, SuiteError> {
        let plots_dir = self.report_dir.join("plots");
        let presets = Self::presets(self.with_improved);
        let experiments = presets
            .iter()
            .map(|p| self.suite.run(p, train, test))
            .collect::<Result<Vec<_>, _>>()?;
        let fc_cnn: Vec<&RunRecord> = experiments
            .iter()
            .filter(|r| matches!(r.preset.name.as_str(), "simple_fc" | "simple_cnn"))
            .collect();
        comparison_plot("Simple FC vs simple CNN: training loss (5@0.001)", &fc_cnn)
            .save(&plots_dir, "fc_vs_cnn_loss")?;
        let sweeps = run_lr_sweeps(&self.suite, train, test, &plots_dir)?;
        // The small files of every run, to commit beside the report (checkpoints and per-step
        // histories stay in the run directories).
        for record in experiments
            .iter()
            .chain(sweeps.iter().flat_map(|(_, rs)| rs))
        {
            let dir = self.report_dir.join("runs").join(&record.preset.name);
            write_json(&dir.join("config.json"), &record.config)?;
            if let Some(summary) = &record.summary {
                write_json(&dir.join("summary.json"), summary)?;
            }
        }
        let pictures = self.experiment_pictures(&experiments, test)?;
        let mut input = report_input(context, &self.suite, &experiments, &sweeps);
        input.pictures = pictures;
        // The benchmark table's rows train apart (`examples/benchmark_table.rs --record`); the
        // report shows the table as they last wrote it next to REPORT.md.
        input.benchmark_table =
            std::fs::read_to_string(self.report_dir.join("benchmark-table.md")).ok();
        let text = render_report(&input);
        let report_path = self.report_dir.join("REPORT.md");
        write_atomic(&report_path, text.as_bytes()).map_err(|source| SuiteError::Io {
            path: report_path.clone(),
            source,
        })?;
        Ok(Reproduced {
            experiments,
            sweeps,
            report_path,
        })
    }
}

impl Reproduction {
    /// Draws each experiment's pictures into `<report_dir>/runs/<name>/` (the network from its
    /// last checkpoint, feature maps of test image 0) and lists them for the report.
    fn experiment_pictures(
        &self,
        experiments: &[RunRecord],
        test: &MnistDataset,
    ) -> Result<Vec<PictureSection>, SuiteError> {
        let device = self.suite.backend.device()?;
        let mut sections = vec![];
        for record in experiments {
            let Some(summary) = &record.summary else {
                continue;
            };
            let name = &record.preset.name;
            let dir = self.report_dir.join("runs").join(name);
            let weights = checkpoint::model_path(
                &checkpoint::checkpoint_dir(&self.suite.run_dir(&record.preset)),
                record.config.training.total_epochs(),
            );
            let model = load_network(&record.config.model, &weights, &device)?;
            let shown = NetworkShown {
                model: &model,
                device: &device,
                image_index: 0,
            };
            let written =
                write_run_pictures(&dir, name, summary, &record.history, test, Some(shown))?;
            let stems: Vec<String> = written
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
                .collect();
            let has = |stem: &str| {
                written
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == stem))
            };
            let pictures = stems
                .iter()
                .map(|stem| Picture {
                    caption: picture_caption(stem).to_string(),
                    png: format!("runs/{name}/{stem}.png"),
                    svg: has(&format!("{stem}.svg")).then(|| format!("runs/{name}/{stem}.svg")),
                })
                .collect();
            let note = (summary.mistakes.is_empty()
                && summary.stages.last().is_some_and(|s| s.correct < s.total))
            .then(|| {
                "Reused from a run made before the wrong images and the per-epoch test \
                     figures were recorded: no grid of wrong images, test figures at the end of \
                     each stage only (`--rerun` draws them all)."
                    .to_string()
            });
            sections.push(PictureSection {
                name: name.clone(),
                note,
                pictures,
            });
        }
        Ok(sections)
    }
}

/// What the picture of file stem `stem` ([`super::pictures::files`]) shows.
fn picture_caption(stem: &str) -> &'static str {
    use super::pictures::files;
    match stem {
        files::CONFUSION => "Confusion matrix on the test set",
        files::LOSS => "Training loss beside the test loss after each epoch",
        files::ACCURACY => "Test accuracy after each epoch",
        files::MISTAKES => "Test images it got wrong (true -> predicted, probability)",
        files::LAYERS => "Layers: output shapes and parameters",
        files::FEATURE_MAPS => "Feature maps of test image 0 (Fig 4.1)",
        _ => "Picture",
    }
}

fn stages_text(stages: &[TrainingStage]) -> String {
    stages
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `REPORT.md` shows of these runs ([`render_report`] lays it out): each experiment beside
/// its reference figures, the runs reused from an earlier invocation, the learning-rate sweeps.
pub fn report_input(
    context: &ReportContext,
    suite: &Suite,
    experiments: &[RunRecord],
    sweeps: &[(LrSweep, Vec<RunRecord>)],
) -> ReportInput {
    let rows = experiments
        .iter()
        .map(|r| {
            let reference = &r.preset.reference;
            let summary = r.summary.as_ref();
            ExperimentRow {
                name: r.preset.name.clone(),
                stages: stages_text(&r.config.training.stages),
                accuracy: summary.map(|s| s.stages.iter().map(|s| s.test_accuracy).collect()),
                pytorch_accuracy: reference.pytorch_accuracy.clone(),
                report_accuracy: reference.report_accuracy.clone(),
                acceptance: reference.acceptance,
                // Judged on the full split only.
                passed: match (reference.acceptance, r.final_accuracy()) {
                    (Some(bar), Some(acc)) if suite.limit_train.is_none() => Some(acc >= bar),
                    _ => None,
                },
                wall_seconds: summary.map(|s| s.wall_seconds),
                pytorch_seconds: reference.pytorch_seconds,
                train_images_per_sec: summary.map(|s| s.train_images_per_sec),
            }
        })
        .collect();
    // Runs reused from an earlier invocation (not those this one trained and then reused).
    let all: Vec<&RunRecord> = experiments
        .iter()
        .chain(sweeps.iter().flat_map(|(_, rs)| rs))
        .collect();
    let mut reused: Vec<String> = vec![];
    for r in all.iter().filter(|r| r.reused) {
        // Each name once (the sweeps reuse the report's MLP runs), in the report's order.
        let trained_here = all
            .iter()
            .any(|o| !o.reused && o.preset.name == r.preset.name);
        if !trained_here && !reused.contains(&r.preset.name) {
            reused.push(r.preset.name.clone());
        }
    }
    let beyond_the_report = experiments.iter().find_map(|improved| {
        let a = improved.preset.augmentation?;
        Some(format!(
            "`{}` goes beyond the report: the same network with random distortions of every \
             training image (rotation up to {} degrees, zoom up to {}%, shift up to {} pixels){} \
             and a longer step schedule.",
            improved.preset.name,
            a.max_rotation_degrees,
            a.max_zoom * 100.0,
            a.max_shift_pixels,
            match improved.config.training.optimizer.weight_decay() {
                Some(decay) if decay > 0.0 => format!(", weight decay {}", LearningRate(decay)),
                _ => String::new(),
            }
        ))
    });
    let sweeps = sweeps
        .iter()
        .map(|(sweep, records)| SweepSection {
            title: sweep.presets[0].model.to_string(),
            plot: sweep.name.clone(),
            rows: records
                .iter()
                .map(|r| {
                    let stage = r.config.training.stages[0];
                    let result = r.summary.as_ref().map(|s| &s.stages[0]);
                    SweepRow {
                        learning_rate: stage.learning_rate,
                        epochs: stage.epochs,
                        accuracy: result.map(|s| s.test_accuracy),
                        final_loss: result.map(|s| s.final_loss),
                        report_accuracy: r.preset.reference.report_accuracy.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    ReportInput {
        context: context.clone(),
        backend: suite.backend.to_string(),
        seed: suite.seed,
        limit_train: suite.limit_train,
        runs_dir: suite.runs_dir.clone(),
        experiments: rows,
        reused,
        beyond_the_report,
        benchmark_table: None,
        sweeps,
        pytorch_source: super::PYTORCH_SOURCE.to_string(),
        pictures: vec![],
    }
}
