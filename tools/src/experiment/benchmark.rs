//! The MNIST benchmark table (LeCun, Cortes and Burges' MNIST page): the published rows whose
//! networks the library has, each as a recipe ([`BenchmarkRow::preset`]) beside the error its
//! paper reports. `examples/benchmark_table.rs` trains one row.

use mnist_lab::data::{Augmentation, Elastic};
use mnist_lab::model::{ConvNetConfig, MlpConfig, ModelConfig};
use mnist_lab::train::LrSchedule;

use super::Preset;

/// A row of the MNIST benchmark table that the library can train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchmarkRow {
    /// 2-layer NN, 800 hidden units, cross-entropy (Simard et al., ICDAR 2003): 1.6% error.
    #[value(name = "mlp-800")]
    Mlp800,
    /// The same with affine distortions (Simard et al. 2003): 1.1%.
    #[value(name = "mlp-800-affine")]
    Mlp800Affine,
    /// The same with elastic distortions (Simard et al. 2003): 0.7%.
    #[value(name = "mlp-800-elastic")]
    Mlp800Elastic,
    /// 3-layer NN, 500 + 150 hidden units (LeCun et al., Proc. IEEE 1998): 2.95%.
    #[value(name = "mlp-500-150")]
    Mlp500_150,
    /// LeNet-5 (LeCun et al., Proc. IEEE 1998): 0.95%.
    #[value(name = "lenet-5")]
    LeNet5,
}

impl BenchmarkRow {
    /// Every row, in the table's order.
    pub const ALL: [Self; 5] = [
        Self::Mlp800,
        Self::Mlp800Affine,
        Self::Mlp800Elastic,
        Self::Mlp500_150,
        Self::LeNet5,
    ];

    /// The row's name: the recipe's, and the default output directory's (`runs/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp800 => "mlp_800",
            Self::Mlp800Affine => "mlp_800_affine",
            Self::Mlp800Elastic => "mlp_800_elastic",
            Self::Mlp500_150 => "mlp_500_150",
            Self::LeNet5 => "lenet_5",
        }
    }

    /// The row as the MNIST page words it.
    pub fn description(self) -> &'static str {
        match self {
            Self::Mlp800 => "2-layer NN, 800 HU, cross-entropy",
            Self::Mlp800Affine => "2-layer NN, 800 HU, cross-entropy, affine distortions",
            Self::Mlp800Elastic => "2-layer NN, 800 HU, cross-entropy, elastic distortions",
            Self::Mlp500_150 => "3-layer NN, 500+150 HU",
            Self::LeNet5 => "LeNet-5",
        }
    }

    /// Where the published figure comes from.
    pub fn source(self) -> &'static str {
        match self {
            Self::Mlp800 | Self::Mlp800Affine | Self::Mlp800Elastic => "Simard et al., ICDAR 2003",
            Self::Mlp500_150 | Self::LeNet5 => "LeCun et al., Proc. IEEE 1998",
        }
    }

    /// The published test error, in percent.
    pub fn published_error(self) -> f64 {
        match self {
            Self::Mlp800 => 1.6,
            Self::Mlp800Affine => 1.1,
            Self::Mlp800Elastic => 0.7,
            Self::Mlp500_150 => 2.95,
            Self::LeNet5 => 0.95,
        }
    }

    /// What our recipe does differently from the paper's.
    pub fn differences(self) -> &'static str {
        match self {
            Self::Mlp800 | Self::Mlp800Affine | Self::Mlp800Elastic => {
                "ReLU hidden units (which the 2003 paper predates), SGD with momentum in \
                 mini-batches of 100 and a one-cycle rate"
            }
            Self::Mlp500_150 => {
                "ReLU hidden units and softmax cross-entropy (the 1998 paper's networks used \
                 sigmoid-type units), SGD with momentum in mini-batches of 100 and a one-cycle \
                 rate"
            }
            Self::LeNet5 => {
                "ReLU and max pooling (the paper: scaled tanh and trainable subsampling), every \
                 C3 map connected to every S2 map (the paper: a partial table), a linear output \
                 layer with softmax cross-entropy (the paper: RBF units), 28x28 images padded by \
                 2 (the paper: 32x32 images), SGD with momentum in mini-batches of 100 and a \
                 one-cycle rate"
            }
        }
    }

    /// The recipe: network, distortions, optimizer, schedule and epochs, chosen on the
    /// validation split (`--validation 10000`; `results/benchmark-table-notes.md` has the choices).
    pub fn preset(self) -> Preset {
        let model = match self {
            Self::Mlp500_150 => ModelConfig::Mlp(MlpConfig::new().with_hidden(vec![500, 150])),
            Self::LeNet5 => ModelConfig::ConvNet(ConvNetConfig::new()),
            _ => ModelConfig::Mlp(MlpConfig::new().with_hidden(vec![800])),
        };
        let (epochs, lr) = match self {
            Self::Mlp800 => (20, 0.05),
            Self::Mlp500_150 => (20, 0.1),
            Self::LeNet5 => (20, 0.05),
            Self::Mlp800Affine | Self::Mlp800Elastic => (40, 0.05),
        };
        let mut preset = Preset::new(self.name(), model.kind(), &[(epochs, lr)]);
        preset.model = model;
        preset.augmentation = match self {
            Self::Mlp800Affine => Some(Augmentation::default()),
            Self::Mlp800Elastic => Some(Augmentation {
                elastic: Some(Elastic::SIMARD),
                ..Augmentation::NONE
            }),
            _ => None,
        };
        preset.batch_size = 100;
        preset.schedule = Some(LrSchedule::ONE_CYCLE);
        preset
    }
}

impl std::fmt::Display for BenchmarkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One finished run of a row: its seed, how many test images it got wrong, its time.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowRun {
    /// The run's seed.
    pub seed: u64,
    /// Test images it classified wrong, of `total`.
    pub wrong: usize,
    /// Test images.
    pub total: usize,
    /// Seconds in the trainer (data loading, training, evaluation after each epoch).
    pub seconds: f64,
}

impl RowRun {
    /// The run as its summary says (the last stage's test figures).
    pub fn of(summary: &mnist_lab::train::RunSummary) -> Option<Self> {
        let last = summary.stages.last()?;
        Some(Self {
            seed: summary.seed,
            wrong: last.total - last.correct,
            total: last.total,
            seconds: summary.wall_seconds,
        })
    }

    /// Test error in percent.
    pub fn error(&self) -> f64 {
        100.0 * self.wrong as f64 / self.total.max(1) as f64
    }
}

/// A row's runs on one host, with the command that made them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowRecord {
    /// The host's CPU ([`crate::report::cpu_name`]) and threads.
    pub host: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The command that trained them.
    pub command: String,
    /// One per seed.
    pub runs: Vec<RowRun>,
}

impl RowRecord {
    /// Mean test error over the runs, in percent.
    pub fn mean_error(&self) -> f64 {
        self.runs.iter().map(RowRun::error).sum::<f64>() / self.runs.len().max(1) as f64
    }

    /// Whether the mean error is at or below the published figure + 0.1 points: the row counts
    /// as reproduced.
    pub fn reproduces(&self, row: BenchmarkRow) -> bool {
        !self.runs.is_empty() && self.mean_error() <= row.published_error() + 0.1 + 1e-9
    }
}

/// The table's record, row name -> its runs: what `benchmark_table --record FILE` keeps in
/// `FILE` (JSON), so that rows trained at different times make one table.
pub type BenchmarkRecord = std::collections::BTreeMap<String, RowRecord>;

/// The table as markdown: every row in the table's order, the published error beside ours
/// (mean and range over the seeds), whether it is reproduced (mean <= published + 0.1), the
/// minutes per run, and the host, date and command of each.
///
/// ```
/// use mnist_lab_tools::experiment::benchmark::{
///     BenchmarkRecord, RowRecord, RowRun, render_markdown,
/// };
/// let run = |seed, wrong| RowRun { seed, wrong, total: 10_000, seconds: 60.0 };
/// let mut record = BenchmarkRecord::new();
/// record.insert("mlp_800".into(), RowRecord {
///     host: "AMD EPYC (family 25, model 1), 2 threads".into(),
///     date: "2026-12-07".into(),
///     command: "benchmark_table --row mlp-800 --seeds 1,2,3".into(),
///     runs: vec![run(1, 150), run(2, 160), run(3, 170)],
/// });
/// let md = render_markdown(&record);
/// assert!(md.contains("| 1.60 | **1.60** (1.50-1.70) | yes | 1.0 |"), "{md}");
/// let lecun = "| 3-layer NN, 500+150 HU | LeCun et al., Proc. IEEE 1998 | 2.95 | not run yet |";
/// assert!(md.contains(lecun), "{md}");
/// ```
pub fn render_markdown(record: &BenchmarkRecord) -> String {
    let mut table = crate::report::Table::new([
        "row",
        "source",
        "published error %",
        "ours: mean (min-max)",
        "reproduced",
        "minutes per run",
        "seeds",
        "host, date",
    ]);
    let mut commands = vec![];
    for row in BenchmarkRow::ALL {
        let mut cells = vec![
            row.description().to_string(),
            row.source().to_string(),
            format!("{:.2}", row.published_error()),
        ];
        match record.get(row.name()).filter(|r| !r.runs.is_empty()) {
            Some(r) => {
                let errors = r.runs.iter().map(RowRun::error);
                let min = errors.clone().fold(f64::INFINITY, f64::min);
                let max = errors.fold(0.0, f64::max);
                let minutes = r.runs.iter().map(|x| x.seconds).sum::<f64>() / 60.0;
                let seeds: Vec<String> = r.runs.iter().map(|x| x.seed.to_string()).collect();
                cells.extend([
                    format!("**{:.2}** ({min:.2}-{max:.2})", r.mean_error()),
                    if r.reproduces(row) { "yes" } else { "**no**" }.to_string(),
                    format!("{:.1}", minutes / r.runs.len() as f64),
                    seeds.join(", "),
                    format!("{}, {}", r.host, r.date),
                ]);
                commands.push(format!("- {}: `{}`", row.name(), r.command));
            }
            None => cells.extend(["not run yet", "-", "-", "-", "-"].map(String::from)),
        }
        table.row(cells);
    }
    let mut md = table.to_markdown();
    md += "\nWhat differs from the papers:\n\n";
    for row in BenchmarkRow::ALL {
        md += &format!("- {}: {}.\n", row.name(), row.differences());
    }
    if !commands.is_empty() {
        md += "\nCommands:\n\n";
        md += &commands.join("\n");
        md += "\n";
    }
    md
}

/// Why the table's record could not be updated; nothing already written is changed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record exists but cannot be read as one.
    #[error(
        "cannot read the benchmark record `{}`: {message}; fix it, or move it away to start a \
         new one",
        path.display()
    )]
    Read {
        /// The record.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The record or its markdown could not be written.
    #[error("cannot write `{}`: {message}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The record at `path`, or an empty one if there is none yet (check it before training: a
/// record that cannot be read would refuse the runs afterwards).
pub fn read_record(path: &std::path::Path) -> Result<BenchmarkRecord, RecordError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| RecordError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BenchmarkRecord::new()),
        Err(e) => Err(RecordError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Reads the record at `path` ([`read_record`]), puts `record` in as `row`'s (replacing what it
/// had), writes it back and the table beside it as markdown (`path` with `.md`), each
/// atomically; returns the markdown.
pub fn record_row(
    path: &std::path::Path,
    row: BenchmarkRow,
    record: RowRecord,
) -> Result<String, RecordError> {
    let mut table = read_record(path)?;
    table.insert(row.name().to_string(), record);
    let markdown = render_markdown(&table);
    let json = serde_json::to_string_pretty(&table).expect("a record serializes") + "\n";
    let md_path = path.with_extension("md");
    for (file, bytes) in [(path.to_path_buf(), json), (md_path, markdown.clone())] {
        mnist_lab::write_atomic(&file, bytes.as_bytes()).map_err(|e| RecordError::Write {
            path: file.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(markdown)
}

/// Whether `args` change `row`'s recipe (anything but the seed, the output directory, the
/// data directory, the backend, `--resume`, `--summary` and `--show-image`): the table's record
/// keeps the recipe's own figures only, on the test set.
///
/// ```
/// use mnist_lab_tools::cli::TrainArgs;
/// use mnist_lab_tools::experiment::BenchmarkRow;
/// use mnist_lab_tools::experiment::benchmark::changes_recipe;
/// let args = |flags: &[&str]| TrainArgs::try_parse_from([&["x"], flags].concat()).unwrap();
/// let row = BenchmarkRow::Mlp800;
/// assert!(!changes_recipe(row, &args(&["--seed", "3", "--out", "/tmp/r"])).unwrap());
/// assert!(changes_recipe(row, &args(&["--validation", "10000"])).unwrap());
/// assert!(changes_recipe(row, &args(&["--epochs", "2"])).unwrap());
/// ```
pub fn changes_recipe(
    row: BenchmarkRow,
    args: &crate::cli::TrainArgs,
) -> Result<bool, super::OverrideError> {
    let preset = row.preset();
    let mut asked = args.config(&preset)?;
    let mut recipe = preset.config();
    asked.training.seed = 0;
    recipe.training.seed = 0;
    let json = |c: &super::RunConfig| serde_json::to_value(c).expect("a config serializes");
    Ok(json(&asked) != json(&recipe))
}
