//! The report's experiments as presets, and the one function every training example calls.

pub mod reproduce;
pub mod suite;
pub mod throughput;

pub use reproduce::{ReportContext, Reproduced, Reproduction, civil_date, report_markdown};
pub use suite::{LrSweep, RunRecord, Suite, SuiteArgs, SuiteError, lr_sweeps, run_lr_sweeps};

use std::path::PathBuf;

use clap::Args;

use crate::cli::CommonArgs;
use crate::data::{Augmentation, MnistDataset};
use crate::model::ModelKind;
use crate::train::{
    LearningRate, OptimizerKind, RunOutcome, Trainer, TrainingConfig, TrainingStage, format_stages,
    parse_stages,
};

/// One of the report's recipes: a model and its stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Name of the experiment (the default output directory is `runs/<name>`).
    pub name: String,
    /// The network.
    pub model: ModelKind,
    /// The stages, as the report ran them.
    pub stages: Vec<TrainingStage>,
    /// The report's MLP quirk (dropout at test time).
    pub mlp_dropout_at_test: bool,
    /// What the report measured after each stage (percent), for comparison.
    pub report_accuracy: Vec<f64>,
    /// Random distortions of the training images (only in the improved recipes).
    pub augmentation: Option<Augmentation>,
    /// L2 weight decay (only in the improved recipes).
    pub weight_decay: Option<f64>,
    /// What PyTorch 2.15 gave for the same recipe on this project's 2-core machine, after each
    /// stage (`../shared/REFERENCE-RESULTS.md`), for comparison.
    pub pytorch_accuracy: Vec<f64>,
    /// PyTorch's wall time for the recipe on that machine, seconds.
    pub pytorch_seconds: Option<f64>,
    /// The accuracy (percent, last stage) this crate commits to reaching with the recipe.
    pub acceptance: Option<f64>,
}

impl Preset {
    /// §3, Q6: the one-layer network, 5 epochs at 0.001: 92.10%.
    pub fn simple_fc() -> Self {
        Self::new("simple_fc", ModelKind::SimpleFc, &[(5, 1e-3)], &[92.10]).compared_with(
            &[92.01],
            2.4,
            91.5,
        )
    }

    /// §4, Q7/Q8: the simple CNN, 5 epochs at 0.001: 98.28%.
    pub fn simple_cnn() -> Self {
        Self::new("simple_cnn", ModelKind::SimpleCnn, &[(5, 1e-3)], &[98.28]).compared_with(
            &[98.24],
            29.0,
            98.0,
        )
    }

    /// §5.1: the provided CNN, 5 epochs each at 1e-3, 1e-4, 1e-5: 97.70 / 98.53 / 98.54%.
    pub fn provided_cnn() -> Self {
        Self::new(
            "provided_cnn",
            ModelKind::ProvidedCnn,
            &[(5, 1e-3), (5, 1e-4), (5, 1e-5)],
            &[97.70, 98.53, 98.54],
        )
        // The bar is PyTorch's own figure for this recipe here, not the report's 98.3+
        // (see results/training-2026-11-25.md).
        .compared_with(&[97.93, 98.16, 98.14], 88.0, 98.0)
    }

    /// §5.2: the complex CNN, 2 epochs at 0.01 then 2 at 0.001: 99.02 / 99.32%.
    pub fn complex_cnn() -> Self {
        Self::new(
            "complex_cnn",
            ModelKind::ComplexCnn,
            &[(2, 1e-2), (2, 1e-3)],
            &[99.02, 99.32],
        )
        .compared_with(&[99.10, 99.37], 308.0, 99.3)
    }

    /// Beyond the report: the complex CNN with augmentation (10 degrees, 10% zoom, 2 pixels),
    /// weight decay 5e-4 and a longer step schedule, 12 epochs: 5@0.02, 4@0.005, 3@0.001.
    /// Aims at >= 99.6%. (Without weight decay, 3@0.02, 3@0.005, 2@0.001, 2@0.0002 reached
    /// 99.54%: results/training-2026-11-25.md.)
    pub fn complex_cnn_improved() -> Self {
        let mut preset = Self::new(
            "complex_cnn_improved",
            ModelKind::ComplexCnn,
            &[(5, 2e-2), (4, 5e-3), (3, 1e-3)],
            &[],
        );
        preset.augmentation = Some(Augmentation::default());
        preset.weight_decay = Some(5e-4);
        preset.acceptance = Some(99.6);
        preset
    }

    /// The learning-rate experiments: the MLP, 5 epochs at `lr` (0.01, 0.001 or 0.0001 in the
    /// report: 97.86 / 95.97 / 89.53%), dropout left on at test time as the report's code did.
    pub fn complex_mlp(lr: f64) -> Self {
        // (learning rate, accuracy) of the report and of PyTorch here.
        let at_lr = |table: [(f64, f64); 3]| -> Vec<f64> {
            table
                .iter()
                .filter(|&&(rate, _)| rate == lr)
                .map(|&(_, accuracy)| accuracy)
                .collect()
        };
        let report = at_lr([(1e-2, 97.86), (1e-3, 95.97), (1e-4, 89.53)]);
        let pytorch = at_lr([(1e-2, 97.36), (1e-3, 95.31), (1e-4, 87.63)]);
        let name = format!("complex_mlp_lr{}", LearningRate(lr));
        let mut preset = Self::new(&name, ModelKind::ComplexMlp, &[(5, lr)], &report);
        preset.pytorch_accuracy = pytorch;
        preset.pytorch_seconds = Some(20.0);
        preset.mlp_dropout_at_test = true;
        preset
    }

    /// The same recipe with another learning rate (one stage of the preset's epochs), named
    /// `<name>_lr<lr>`; no reference figures carry over.
    pub fn at_learning_rate(&self, lr: f64) -> Self {
        let epochs = self.stages[0].epochs;
        let mut preset = Self::new(
            &format!("{}_lr{}", self.model, LearningRate(lr)),
            self.model,
            &[(epochs, lr)],
            &[],
        );
        preset.mlp_dropout_at_test = self.mlp_dropout_at_test;
        preset
    }

    /// The report's experiments in its order: simple FC, simple CNN, provided CNN, complex CNN,
    /// then the complex MLP at its three learning rates.
    pub fn report_experiments() -> Vec<Self> {
        let mut presets = vec![
            Self::simple_fc(),
            Self::simple_cnn(),
            Self::provided_cnn(),
            Self::complex_cnn(),
        ];
        presets.extend([1e-2, 1e-3, 1e-4].map(Self::complex_mlp));
        presets
    }

    /// The training config of the preset as it stands (seed 42, batch 50, SGD momentum 0.9).
    pub fn config(&self) -> TrainingConfig {
        TrainingConfig::new(self.model, self.stages.clone())
            .with_mlp_dropout_at_test(self.mlp_dropout_at_test)
            .with_augmentation(self.augmentation)
            .with_weight_decay(self.weight_decay)
    }

    fn compared_with(mut self, pytorch: &[f64], pytorch_seconds: f64, acceptance: f64) -> Self {
        self.pytorch_accuracy = pytorch.to_vec();
        self.pytorch_seconds = Some(pytorch_seconds);
        self.acceptance = Some(acceptance);
        self
    }

    fn new(name: &str, model: ModelKind, stages: &[(usize, f64)], report: &[f64]) -> Self {
        Self {
            name: name.to_string(),
            model,
            stages: stages
                .iter()
                .map(|&(e, lr)| TrainingStage::new(e, lr))
                .collect(),
            mlp_dropout_at_test: false,
            report_accuracy: report.to_vec(),
            augmentation: None,
            weight_decay: None,
            pytorch_accuracy: vec![],
            pytorch_seconds: None,
            acceptance: None,
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
    /// L2 weight decay (replaces the preset's; 0 turns it off).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Distort training images at random (10 degrees, 10% zoom, 2 pixels), whatever the preset.
    #[arg(long)]
    pub augment: bool,
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
        let mut config = TrainingConfig {
            stages,
            ..preset.config()
        }
        .with_batch_size(self.batch_size)
        .with_optimizer(self.optimizer)
        .with_seed(self.common.seed)
        .with_limit_train(self.limit_train);
        if self.augment {
            config.augmentation = Some(Augmentation::default());
        }
        if let Some(decay) = self.weight_decay {
            config.weight_decay = Some(decay);
        }
        config.validate()?;
        Ok(config)
    }

    /// `--out`, or `runs/<preset>`.
    pub fn out_dir(&self, preset: &Preset) -> PathBuf {
        self.common.out_dir(&preset.name)
    }
}

/// Runs a preset as the command line says: checks everything first, trains, prints the report's
/// lines, writes `config.json`, `history.csv`, `summary.json`, checkpoints and the final weights
/// as `model.safetensors` with PyTorch's names ([`crate::interop`]) to the output.
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
    println!(
        "{}: {} on {}, stages {}, data {}, output {}",
        preset.name,
        preset.model,
        args.common.backend,
        format_stages(&config.stages),
        dir.display(),
        out.display()
    );
    let outcome = trainer.fit(train, test)?;
    let weights = out.join("model.safetensors");
    crate::interop::save_safetensors(&outcome.model, &weights)?;
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
    println!(
        "weights for PyTorch (the report's names): {} (model.load_state_dict(safetensors.torch.load_file(path)))",
        weights.display()
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
    crate::cli::run_example(|| {
        let cli = Cli::parse();
        run_preset(&preset(&cli.args), &cli.args).map(|_| ())
    });
}
