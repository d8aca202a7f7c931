//! Markdown for people: tables, and `REPORT.md` (the reproduction of the report) rendered from
//! plain report-level inputs (names and numbers, no training types), so its layout is a pure
//! function, tested on its own. `experiment::report_input` fills them from the runs.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::context::ReportContext;
use mnist_lab::train::LearningRate;

/// A markdown table: a header and rows of cells (already formatted).
///
/// ```
/// use mnist_lab_tools::report::Table;
/// let mut table = Table::new(["model", "accuracy (%)"]);
/// table.row(["simple_fc", "92.10"]);
/// assert_eq!(table.to_markdown(), "| model | accuracy (%) |\n|---|---|\n| simple_fc | 92.10 |\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names and no rows.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    /// Adds a row (as many cells as columns; `|` in a cell is escaped).
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
        self
    }

    /// The table in GitHub's markdown, one line per row.
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut md = line(&self.header);
        md.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for row in &self.rows {
            md.push_str(&line(row));
        }
        md
    }
}

/// Accuracies as `97.70 / 98.53`, `-` for none.
pub fn percents(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// One experiment's row of the report: ours beside the reference figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExperimentRow {
    /// The experiment's name.
    pub name: String,
    /// Its stages, as `2@0.01, 2@0.001`.
    pub stages: String,
    /// Our test accuracy after each stage; `None` if the run diverged.
    pub accuracy: Option<Vec<f64>>,
    /// PyTorch's on the same machine, per stage.
    pub pytorch_accuracy: Vec<f64>,
    /// The coursework report's, per stage.
    pub report_accuracy: Vec<f64>,
    /// The accuracy committed to.
    pub acceptance: Option<f64>,
    /// Whether the run reached it; `None` where it is not judged (no bar, a partial split).
    pub passed: Option<bool>,
    /// Our wall time, seconds.
    pub wall_seconds: Option<f64>,
    /// PyTorch's, seconds.
    pub pytorch_seconds: Option<f64>,
    /// Our training throughput.
    pub train_images_per_sec: Option<f64>,
}

/// One run of a learning-rate sweep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepRow {
    /// Its learning rate.
    pub learning_rate: f64,
    /// Its epochs.
    pub epochs: usize,
    /// Our test accuracy; `None` if the run diverged.
    pub accuracy: Option<f64>,
    /// Our final training loss (mean of the last log interval).
    pub final_loss: Option<f64>,
    /// The report's accuracy.
    pub report_accuracy: Vec<f64>,
}

/// One learning-rate sweep: a table and its loss plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepSection {
    /// The section's title (the network).
    pub title: String,
    /// The plot's file stem under `plots/`.
    pub plot: String,
    /// Its runs.
    pub rows: Vec<SweepRow>,
}

/// One picture of `REPORT.md`: a PNG (and its SVG, if drawn), paths relative to the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Picture {
    /// What it shows.
    pub caption: String,
    /// The PNG.
    pub png: String,
    /// The SVG of the same figure, where there is one.
    pub svg: Option<String>,
}

/// The pictures of one experiment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PictureSection {
    /// The experiment.
    pub name: String,
    /// A remark (such as why a picture is missing).
    pub note: Option<String>,
    /// Its pictures, in order.
    pub pictures: Vec<Picture>,
}

/// Everything `REPORT.md` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportInput {
    /// Where and how it was produced.
    pub context: ReportContext,
    /// The backend trained on.
    pub backend: String,
    /// The seed of every run.
    pub seed: u64,
    /// `Some(n)`: only the first `n` training images were used.
    pub limit_train: Option<usize>,
    /// Where the runs' directories are.
    pub runs_dir: PathBuf,
    /// The experiments, in the report's order.
    pub experiments: Vec<ExperimentRow>,
    /// Names of the runs reused from an earlier invocation.
    pub reused: Vec<String>,
    /// A paragraph on the recipe that goes beyond the report, if it ran.
    pub beyond_the_report: Option<String>,
    /// The learning-rate sweeps.
    pub sweeps: Vec<SweepSection>,
    /// The MNIST benchmark table as `benchmark_table --record` last wrote it
    /// ([`crate::experiment::benchmark::render_markdown`]), if it has run.
    pub benchmark_table: Option<String>,
    /// Where the "PyTorch here" figures come from (tool, machine, date).
    pub pytorch_source: String,
    /// Each experiment's pictures.
    pub pictures: Vec<PictureSection>,
}

/// `REPORT.md`: the header, the experiments table, the loss plot of §4.2, the learning-rate
/// tables and plots.
pub fn render_report(input: &ReportInput) -> String {
    let mut md = String::new();
    let c = &input.context;
    let split = match input.limit_train {
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
        c.command, c.date, c.cpu, c.threads, input.backend, input.seed, c.data
    );
    let _ = writeln!(
        md,
        "\"PyTorch here\" is {}; \"report\" is the coursework report's single run on another \
         machine. Seed-to-seed spread is ~0.1-0.3 points.\n",
        input.pytorch_source
    );
    let _ = writeln!(md, "## Test accuracy after each stage (%)\n");
    let mut table = Table::new([
        "experiment",
        "stages",
        "ours",
        "PyTorch here",
        "report",
        "bar",
        "ok",
        "wall s (PyTorch)",
        "train img/s",
    ]);
    let seconds = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.0}"));
    for r in &input.experiments {
        let ours = r
            .accuracy
            .as_ref()
            .map_or("diverged".to_string(), |a| format!("**{}**", percents(a)));
        table.row([
            r.name.clone(),
            r.stages.clone(),
            ours,
            percents(&r.pytorch_accuracy),
            percents(&r.report_accuracy),
            r.acceptance.map_or("-".into(), |b| format!(">= {b}")),
            match r.passed {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None => "-".into(),
            },
            format!(
                "{} ({})",
                seconds(r.wall_seconds),
                seconds(r.pytorch_seconds)
            ),
            seconds(r.train_images_per_sec),
        ]);
    }
    md.push_str(&table.to_markdown());
    if !input.reused.is_empty() {
        let _ = writeln!(
            md,
            "\nReused finished runs of the same config (their wall times are from when they ran): \
             {}.",
            input.reused.join(", ")
        );
    }
    if let Some(text) = &input.beyond_the_report {
        let _ = writeln!(md, "\n{text}");
    }
    let _ = writeln!(md, "\n## Training loss: simple FC vs simple CNN (§4.2)\n");
    let _ = writeln!(md, "![FC vs CNN loss](plots/fc_vs_cnn_loss.png)\n");
    let _ = writeln!(md, "## Learning rates\n");
    for sweep in &input.sweeps {
        let _ = writeln!(md, "### {}\n", sweep.title);
        let mut table = Table::new([
            "learning rate",
            "epochs",
            "ours (%)",
            "report (%)",
            "final training loss",
        ]);
        for r in &sweep.rows {
            table.row([
                LearningRate(r.learning_rate).to_string(),
                r.epochs.to_string(),
                r.accuracy.map_or("diverged".into(), |a| format!("{a:.2}")),
                percents(&r.report_accuracy),
                r.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
            ]);
        }
        md.push_str(&table.to_markdown());
        let _ = writeln!(md, "\n![{}](plots/{}.png)\n", sweep.plot, sweep.plot);
    }
    if let Some(table) = &input.benchmark_table {
        let _ = writeln!(md, "## The MNIST benchmark table\n");
        let _ = writeln!(
            md,
            "Beyond the report: rows of the published MNIST table (LeCun, Cortes and Burges' \
             MNIST page) trained by `examples/benchmark_table.rs`, each row's recipe chosen on \
             the validation split; a row is reproduced when our mean error is at most the \
             published one + 0.1 points ([the choices and what differs from the papers]\
             (benchmark-table-notes.md)).\n"
        );
        let _ = writeln!(md, "{}", table.trim_end());
        let _ = writeln!(md);
    }
    if !input.pictures.is_empty() {
        let _ = writeln!(md, "## Each experiment's pictures\n");
        let _ = writeln!(
            md,
            "The confusion matrix (rows: true class, columns: predicted), the training loss beside \
             the test loss and accuracy after each epoch, the test images the final network got \
             wrong (the most confident mistakes first), the layer diagram, and for the CNNs the \
             feature maps of test image 0 after every convolution and pooling (the report's Fig \
             4.1). The training examples (`cargo run --release --example complex_cnn`) write the \
             same pictures into their output directory.\n"
        );
    }
    for section in &input.pictures {
        let _ = writeln!(md, "### {}\n", section.name);
        if let Some(note) = &section.note {
            let _ = writeln!(md, "{note}\n");
        }
        for p in &section.pictures {
            let svg = p
                .svg
                .as_ref()
                .map_or(String::new(), |svg| format!(" ([SVG]({svg}))"));
            let _ = writeln!(md, "{}{svg}:\n\n![{}]({})\n", p.caption, p.caption, p.png);
        }
    }
    let runs_dir = input.runs_dir.to_string_lossy();
    let runs_dir = if input.runs_dir.is_absolute() {
        "the run directory".to_string()
    } else {
        format!("`{runs_dir}/<experiment>/`")
    };
    let _ = writeln!(
        md,
        "Every run's `config.json` and `summary.json` (and the pictures above) are in \
         `runs/<experiment>/` next to this file; its per-step losses (`history.csv`) and \
         checkpoints stay in {runs_dir}, on the machine that trained it."
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ReportInput {
        ReportInput {
            context: ReportContext {
                command: "reproduce".into(),
                date: "2026-12-01".into(),
                cpu: "AMD EPYC".into(),
                threads: 2,
                data: "$MNIST_DIR".into(),
            },
            backend: "flex".into(),
            seed: 42,
            limit_train: None,
            runs_dir: "runs".into(),
            experiments: vec![
                ExperimentRow {
                    name: "complex_cnn".into(),
                    stages: "2@0.01, 2@0.001".into(),
                    accuracy: Some(vec![99.1, 99.41]),
                    pytorch_accuracy: vec![99.10, 99.37],
                    report_accuracy: vec![99.02, 99.32],
                    acceptance: Some(99.3),
                    passed: Some(true),
                    wall_seconds: Some(489.4),
                    pytorch_seconds: Some(308.0),
                    train_images_per_sec: Some(498.2),
                },
                ExperimentRow {
                    name: "complex_mlp_lr0.01".into(),
                    stages: "5@0.01".into(),
                    ..Default::default()
                },
            ],
            reused: vec!["simple_fc".into()],
            beyond_the_report: None,
            benchmark_table: Some("| row |\n|---|\n| 2-layer NN |\n".into()),
            sweeps: vec![SweepSection {
                title: "simple_fc".into(),
                plot: "lr_simple_fc".into(),
                rows: vec![SweepRow {
                    learning_rate: 0.01,
                    epochs: 5,
                    accuracy: Some(92.5),
                    final_loss: Some(0.28123),
                    report_accuracy: vec![],
                }],
            }],
            pytorch_source: "PyTorch 2.15 on another day".into(),
            pictures: vec![PictureSection {
                name: "complex_cnn".into(),
                note: None,
                pictures: vec![Picture {
                    caption: "Confusion matrix".into(),
                    png: "runs/complex_cnn/confusion.png".into(),
                    svg: Some("runs/complex_cnn/confusion.svg".into()),
                }],
            }],
        }
    }

    #[test]
    fn the_report_shows_each_figure_in_its_column() {
        let md = render_report(&input());
        assert!(md.contains(
            "| complex_cnn | 2@0.01, 2@0.001 | **99.10 / 99.41** | 99.10 / 99.37 | 99.02 / 99.32 \
             | >= 99.3 | yes | 489 (308) | 498 |"
        ), "{md}");
        assert!(
            md.contains("| complex_mlp_lr0.01 | 5@0.01 | diverged | - | - | - | - | - (-) | - |")
        );
        assert!(md.contains("| 0.01 | 5 | 92.50 | - | 0.2812 |"), "{md}");
        assert!(md.contains("Reused finished runs of the same config (their wall times are from when they ran): simple_fc."));
        assert!(md.contains("the full official split"));
        assert!(md.contains("![lr_simple_fc](plots/lr_simple_fc.png)"));
        assert!(md.contains("\"PyTorch here\" is PyTorch 2.15 on another day;"));
        assert!(
            md.contains(
                "### complex_cnn\n\nConfusion matrix ([SVG](runs/complex_cnn/confusion.svg)):\n\n\
             ![Confusion matrix](runs/complex_cnn/confusion.png)\n"
            ),
            "{md}"
        );
        assert!(md.contains("from `$MNIST_DIR`"));
        assert!(
            md.contains("## The MNIST benchmark table\n\nBeyond the report")
                && md.contains("| row |\n|---|\n| 2-layer NN |\n\n## Each experiment's pictures"),
            "{md}"
        );
    }

    #[test]
    fn an_absolute_runs_dir_is_not_named() {
        let mut input = input();
        input.runs_dir = "/home/someone/runs".into();
        let md = render_report(&input);
        assert!(!md.contains("/home/someone"), "{md}");
        assert!(md.contains("checkpoints stay in the run directory"));
    }

    #[test]
    fn a_partial_split_says_so() {
        let mut input = input();
        input.limit_train = Some(300);
        assert!(render_report(&input).contains("**the first 300 training images only**"));
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        let mut table = Table::new(["a"]);
        table.row(["x|y"]);
        assert_eq!(table.to_markdown(), "| a |\n|---|\n| x\\|y |\n");
    }
}
