//! The report's experiments as presets, and the one function every training example calls.

use std::path::PathBuf;

use clap::Args;

use crate::cli::CommonArgs;
use crate::data::MnistDataset;
use crate::model::ModelKind;
use crate::train::{
    OptimizerKind, RunOutcome, Trainer, TrainingConfig, TrainingStage, parse_stages,
};

/// One of the report's recipes: a model and its stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Name of the experiment (the default output directory is `runs/<name>`).
    pub name: &'static str,
    /// The network.
    pub model: ModelKind,
    /// The stages, as the report ran them.
    pub stages: Vec<TrainingStage>,
    /// The report's MLP quirk (dropout at test time).
    pub mlp_dropout_at_test: bool,
    /// What the report measured after each stage (percent), for comparison.
    pub report_accuracy: Vec<f64>,
}

impl Preset {
    /// §3, Q6: the one-layer network, 5 epochs at 0.001: 92.10%.
    pub fn simple_fc() -> Self {
        Self::new("simple_fc", ModelKind::SimpleFc, &[(5, 1e-3)], &[92.10])
    }

    /// §4, Q7/Q8: the simple CNN, 5 epochs at 0.001: 98.28%.
    pub fn simple_cnn() -> Self {
        Self::new("simple_cnn", ModelKind::SimpleCnn, &[(5, 1e-3)], &[98.28])
    }

    /// §5.1: the provided CNN, 5 epochs each at 1e-3, 1e-4, 1e-5: 97.70 / 98.53 / 98.54%.
    pub fn provided_cnn() -> Self {
        Self::new(
            "provided_cnn",
            ModelKind::ProvidedCnn,
            &[(5, 1e-3), (5, 1e-4), (5, 1e-5)],
            &[97.70, 98.53, 98.54],
        )
    }

    /// §5.2: the complex CNN, 2 epochs at 0.01 then 2 at 0.001: 99.02 / 99.32%.
    pub fn complex_cnn() -> Self {
        Self::new(
            "complex_cnn",
            ModelKind::ComplexCnn,
            &[(2, 1e-2), (2, 1e-3)],
            &[99.02, 99.32],
        )
    }

    /// The learning-rate experiments: the MLP, 5 epochs at `lr` (0.01, 0.001 or 0.0001 in the
    /// report: 97.86 / 95.97 / 89.53%), dropout left on at test time as the report's code did.
    pub fn complex_mlp(lr: f64) -> Self {
        let report = [(1e-2, 97.86), (1e-3, 95.97), (1e-4, 89.53)]
            .iter()
            .filter(|&&(rate, _)| rate == lr)
            .map(|&(_, accuracy)| accuracy)
            .collect::<Vec<f64>>();
        let mut preset = Self::new("complex_mlp", ModelKind::ComplexMlp, &[(5, lr)], &report);
        preset.mlp_dropout_at_test = true;
        preset
    }

    fn new(name: &'static str, model: ModelKind, stages: &[(usize, f64)], report: &[f64]) -> Self {
        Self {
            name,
            model,
            stages: stages
                .iter()
                .map(|&(e, lr)| TrainingStage::new(e, lr))
                .collect(),
            mlp_dropout_at_test: false,
            report_accuracy: report.to_vec(),
        }
    }
}

/// Arguments of every training example: the common ones plus overrides of the preset.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Backend, data, output and seed.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Stages as EPOCHS@LR,... (e.g. `2@0.01,2@0.001`); replaces the preset's.
    #[arg(long)]
    pub stages: Option<String>,
    /// Epochs of a single-stage run (with --lr, or the preset's first learning rate).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate of a single-stage run (with --epochs, or the preset's first epochs).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Training batch size.
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    /// sgd (momentum 0.9, as the report), adam or adamw.
    #[arg(long, default_value = "sgd")]
    pub optimizer: OptimizerKind,
    /// Continue from the checkpoint of this epoch in the output directory.
    #[arg(long)]
    pub resume: Option<usize>,
    /// Print the model's layer table and parameter counts first.
    #[arg(long)]
    pub summary: bool,
}

impl TrainArgs {
    /// The preset with the command line's overrides applied, as a checked config.
    pub fn config(&self, preset: &Preset) -> Result<TrainingConfig, crate::train::ConfigError> {
        let stages = match (&self.stages, self.epochs, self.lr) {
            (Some(text), _, _) => parse_stages(text)?,
            (None, None, None) => preset.stages.clone(),
            (None, epochs, lr) => vec![TrainingStage::new(
                epochs.unwrap_or(preset.stages[0].epochs),
                lr.unwrap_or(preset.stages[0].learning_rate),
            )],
        };
        let config = TrainingConfig::new(preset.model, stages)
            .with_batch_size(self.batch_size)
            .with_optimizer(self.optimizer)
            .with_seed(self.common.seed)
            .with_limit_train(self.limit_train)
            .with_mlp_dropout_at_test(preset.mlp_dropout_at_test);
        config.validate()?;
        Ok(config)
    }

    /// `--out`, or `runs/<preset>`.
    pub fn out_dir(&self, preset: &Preset) -> PathBuf {
        self.common.out_dir(preset.name)
    }
}

/// Runs a preset as the command line says: checks everything first, trains, prints the report's
/// lines, writes `config.json`, `history.csv`, `summary.json` and checkpoints to the output.
pub fn run_preset(
    preset: &Preset,
    args: &TrainArgs,
) -> Result<RunOutcome, Box<dyn std::error::Error>> {
    let config = args.config(preset)?;
    let out = args.out_dir(preset);
    let mut trainer = Trainer::new(config.clone(), args.common.backend, &out)?;
    if let Some(epoch) = args.resume {
        trainer = trainer.resume_from(epoch);
    }
    let dir = args.common.locate_data()?;
    let (train, test) = (MnistDataset::train(&dir)?, MnistDataset::test(&dir)?);
    if args.summary {
        println!(
            "{}",
            preset.model.init(&args.common.backend.device()?).summary()
        );
    }
    let stages: Vec<String> = config.stages.iter().map(ToString::to_string).collect();
    println!(
        "{}: {} on {}, stages {}, data {}, output {}",
        preset.name,
        preset.model,
        args.common.backend,
        stages.join(","),
        dir.display(),
        out.display()
    );
    let outcome = trainer.fit(train, test)?;
    let s = &outcome.summary;
    for (i, stage) in s.stages.iter().enumerate() {
        let report = preset
            .report_accuracy
            .get(i)
            .map_or(String::new(), |r| format!(" (report: {r:.2}%)"));
        println!(
            "stage {} ({}): {:.2}%{report}",
            i + 1,
            TrainingStage::new(stage.epochs, stage.learning_rate),
            stage.test_accuracy
        );
    }
    println!(
        "{} trainable parameters; {:.0} training images/s; {:.1} s wall; summary in {}",
        s.params,
        s.train_images_per_sec,
        s.wall_seconds,
        out.join("summary.json").display()
    );
    Ok(outcome)
}

/// `main` of a training example: parse, run, and exit non-zero with a one-line message on error.
pub fn example_main(preset: impl FnOnce(&TrainArgs) -> Preset) {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }
    let cli = Cli::parse();
    let preset = preset(&cli.args);
    crate::cli::exit_on_error(run_preset(&preset, &cli.args).map(|_| ()));
}
