//! The whole report in one command: every experiment, the learning-rate sweeps, the plots, and
//! `REPORT.md` with our numbers beside the report's and PyTorch's.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::Preset;
use super::suite::{LrSweep, RunRecord, Suite, SuiteError, comparison_plot, run_lr_sweeps};
use crate::data::MnistDataset;
use crate::fsutil::write_atomic;
use crate::train::{LearningRate, TrainingStage, write_json};

/// Where and how the report was produced, for its header.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportContext {
    /// The command line that produced it.
    pub command: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// CPU model name.
    pub cpu: String,
    /// Threads available to the process.
    pub threads: usize,
    /// Where the data came from.
    pub data_dir: PathBuf,
}

impl ReportContext {
    /// The context of this process: today's date (UTC), the CPU of `/proc/cpuinfo`, the
    /// available parallelism.
    pub fn current(command: String, data_dir: PathBuf) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".to_string());
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let (y, m, d) = civil_date(days as i64);
        Self {
            command,
            date: format!("{y:04}-{m:02}-{d:02}"),
            cpu,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            data_dir,
        }
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
/// Written out because one date in a report header does not justify a date-time dependency.
///
/// ```
/// use mnist_lab::experiment::civil_date;
/// assert_eq!(civil_date(0), (1970, 1, 1));
/// assert_eq!(civil_date(20_417), (2025, 11, 25));
/// ```
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

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
    /// Runs (or reuses) every experiment, draws the plots, writes `REPORT.md`.
    pub fn run(
        &self,
        train: &MnistDataset,
        test: &MnistDataset,
        context: &ReportContext,
    ) -> Result<Reproduced, SuiteError> {
        let plots_dir = self.report_dir.join("plots");
        let mut presets = Preset::report_experiments();
        if self.with_improved {
            presets.push(Preset::complex_cnn_improved());
        }
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
        let text = report_markdown(context, &self.suite, &experiments, &sweeps);
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

fn percents(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn stages_text(stages: &[TrainingStage]) -> String {
    stages
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `REPORT.md`: the experiments table, the learning-rate tables and the plots.
pub fn report_markdown(
    context: &ReportContext,
    suite: &Suite,
    experiments: &[RunRecord],
    sweeps: &[(LrSweep, Vec<RunRecord>)],
) -> String {
    let mut md = String::new();
    let split = match suite.limit_train {
        Some(n) => format!(
            "**the first {n} training images only** (a quick look: the report's figures need \
             all 60,000)"
        ),
        None => "the full official split (60,000 training / 10,000 test images)".to_string(),
    };
    let _ = writeln!(md, "# The report, reproduced by mnist-lab\n");
    let _ = writeln!(
        md,
        "Produced by `{}` on {}: {}, {} threads, backend {}, seed {}, {split} from `{}`. \
         Batch 50, SGD momentum 0.9 (dampening 0), test batch 100, as the report.\n",
        context.command,
        context.date,
        context.cpu,
        context.threads,
        suite.backend,
        suite.seed,
        context.data_dir.display()
    );
    let _ = writeln!(
        md,
        "\"PyTorch here\" is PyTorch 2.15 CPU on the same recipe, data and 2-core machine \
         (`../shared/REFERENCE-RESULTS.md`); \"report\" is the coursework report's single run on \
         another machine. Seed-to-seed spread is ~0.1-0.3 points.\n"
    );
    let _ = writeln!(md, "## Test accuracy after each stage (%)\n");
    let _ = writeln!(
        md,
        "| experiment | stages | ours | PyTorch here | report | bar | ok | wall s (PyTorch) | train img/s |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for r in experiments {
        let p = &r.preset;
        let (ours, wall, speed) = match &r.summary {
            Some(s) => (
                format!(
                    "**{}**",
                    percents(&s.stages.iter().map(|s| s.test_accuracy).collect::<Vec<_>>())
                ),
                format!("{:.0}", s.wall_seconds),
                format!("{:.0}", s.train_images_per_sec),
            ),
            None => ("diverged".into(), "-".into(), "-".into()),
        };
        let ok = match (p.acceptance, r.final_accuracy()) {
            (Some(bar), Some(acc)) if suite.limit_train.is_none() => {
                if acc >= bar {
                    "yes"
                } else {
                    "**no**"
                }
            }
            _ => "-",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {ours} | {} | {} | {} | {ok} | {wall} ({}) | {speed} |",
            p.name,
            stages_text(&r.config.training.stages),
            percents(&p.pytorch_accuracy),
            percents(&p.report_accuracy),
            p.acceptance.map_or("-".into(), |b| format!(">= {b}")),
            p.pytorch_seconds.map_or("-".into(), |s| format!("{s:.0}")),
        );
    }
    // Runs reused from an earlier invocation (not those this one trained and then reused).
    let all: Vec<&RunRecord> = experiments
        .iter()
        .chain(sweeps.iter().flat_map(|(_, rs)| rs))
        .collect();
    let mut reused: Vec<&str> = all
        .iter()
        .filter(|r| r.reused)
        .map(|r| r.preset.name.as_str())
        .filter(|name| !all.iter().any(|r| !r.reused && r.preset.name == *name))
        .collect();
    reused.dedup();
    if !reused.is_empty() {
        let _ = writeln!(
            md,
            "\nReused finished runs of the same config (their wall times are from when they ran): \
             {}.",
            reused.join(", ")
        );
    }
    if let Some(improved) = experiments.iter().find(|r| r.preset.augmentation.is_some())
        && let Some(a) = improved.preset.augmentation
    {
        let _ = writeln!(
            md,
            "\n`{}` goes beyond the report: the same network with random distortions of every \
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
        );
    }
    let _ = writeln!(md, "\n## Training loss: simple FC vs simple CNN (§4.2)\n");
    let _ = writeln!(md, "![FC vs CNN loss](plots/fc_vs_cnn_loss.png)\n");
    let _ = writeln!(md, "## Learning rates\n");
    for (sweep, records) in sweeps {
        let _ = writeln!(md, "### {}\n", sweep.presets[0].model);
        let _ = writeln!(
            md,
            "| learning rate | epochs | ours (%) | report (%) | final training loss |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for r in records {
            let stage = r.config.training.stages[0];
            let (acc, loss) = match &r.summary {
                Some(s) => (
                    format!("{:.2}", s.stages[0].test_accuracy),
                    format!("{:.4}", s.stages[0].final_loss),
                ),
                None => ("diverged".into(), "-".into()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {acc} | {} | {loss} |",
                LearningRate(stage.learning_rate),
                stage.epochs,
                percents(&r.preset.report_accuracy),
            );
        }
        let _ = writeln!(md, "\n![{}](plots/{}.png)\n", sweep.name, sweep.name);
    }
    let _ = writeln!(
        md,
        "Every run's `config.json` and `summary.json` are in `runs/<experiment>/` next to this \
         file; its per-step losses (`history.csv`) and checkpoints stay in the run directory, \
         `{}/<experiment>/`, on the machine that trained it.",
        suite.runs_dir.display()
    );
    md
}
