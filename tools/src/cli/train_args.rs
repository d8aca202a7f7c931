//! The command line of the training examples: the common flags plus overrides of a recipe.

use std::path::PathBuf;

use clap::Args;

use super::CommonArgs;
use crate::experiment::{OverrideError, Preset, RunConfig};
use mnist_lab::data::{Augmentation, Elastic, MnistBatcher, MnistDataset};
use mnist_lab::train::{
    LrSchedule, OptimizerKind, Resume, RunData, TrainingStage, format_stages, parse_stages,
};

/// Arguments of every training example: the common ones plus overrides of the preset.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Backend, data, output and seed.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Stages as EPOCHS@LR,... (e.g. `2@0.01,2@0.001`); replaces the preset's.
    #[arg(long, conflicts_with_all = ["epochs", "lr"])]
    pub stages: Option<String>,
    /// Epochs of a one-stage recipe (a recipe of several stages refuses it: use --stages).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate of a one-stage recipe (a recipe of several stages refuses it: use
    /// --stages).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Training batch size (default: the preset's; the report's is 50).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// sgd, adam or adamw (default: the preset's; the report's is sgd, momentum 0.9). Settings
    /// of the preset's optimizer that apply to the new one are kept (Adam's betas for AdamW,
    /// the weight decay); SGD gets momentum 0.9.
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    /// How the rate moves within each stage: constant (the report's) or one-cycle (up from a
    /// tenth of the stage's rate over its first quarter, down to a hundredth). Default: the
    /// preset's.
    #[arg(long)]
    pub schedule: Option<LrSchedule>,
    /// Continue the run in the output directory: from the newest complete checkpoint, or from
    /// the checkpoint of epoch N. A complete run says so and exits.
    #[arg(long, value_name = "N", num_args = 0..=1)]
    pub resume: Option<Option<usize>>,
    /// L2 weight decay (replaces the preset's; 0 turns it off).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Distort training images at random (10 degrees, 10% zoom, 2 pixels), whatever the preset.
    #[arg(long)]
    pub augment: bool,
    /// Also distort training images elastically (Simard et al. 2003), after the affine
    /// distortions of the preset or --augment if any: `--elastic` for their sigma 4, alpha 34,
    /// `--elastic SIGMA,ALPHA` for another setting.
    #[arg(long, value_name = "SIGMA,ALPHA", num_args = 0..=1, default_missing_value = "4,34")]
    pub elastic: Option<Elastic>,
    /// Hold out the last N training images and evaluate on them instead of the test set: tune a
    /// recipe without looking at the test images (e.g. `--validation 10000`; `config.json`
    /// keeps it, so a resume holds out the same images).
    #[arg(long, value_name = "N")]
    pub validation: Option<usize>,
    /// Print the model's layer table and parameter counts first.
    #[arg(long)]
    pub summary: bool,
    /// The test image (index) whose feature maps `feature_maps.png` shows.
    #[arg(long, default_value_t = 0, value_name = "INDEX")]
    pub show_image: usize,
}

impl TrainArgs {
    /// The preset with the command line's overrides applied, as a checked config. An override
    /// keeps every part of the recipe it does not name, or is refused with the reason.
    pub fn config(&self, preset: &Preset) -> Result<RunConfig, OverrideError> {
        let mut config = preset.config();
        config.training.stages = self.stages(preset)?;
        if let Some(batch_size) = self.batch_size {
            config.training.batch_size = batch_size;
        }
        if let Some(kind) = self.optimizer {
            config.training.optimizer = config.training.optimizer.switched_to(kind);
        }
        if self.weight_decay.is_some() {
            let optimizer = config.training.optimizer.clone();
            config.training.optimizer = optimizer.with_weight_decay(self.weight_decay);
        }
        if let Some(schedule) = self.schedule {
            config.training.schedule = Some(schedule);
        }
        config.training.seed = self.common.seed;
        config.training.limit_train = self.limit_train;
        config.training.validation = self.validation;
        if self.augment {
            config.augmentation = Some(Augmentation::default());
        }
        if let Some(elastic) = self.elastic {
            let affine = config.augmentation.unwrap_or(Augmentation::NONE);
            config.augmentation = Some(Augmentation {
                elastic: Some(elastic),
                ..affine
            });
        }
        config.validate()?;
        Ok(config)
    }

    /// The stages: `--stages`, the preset's, or its one stage with `--epochs` / `--lr`.
    fn stages(&self, preset: &Preset) -> Result<Vec<TrainingStage>, OverrideError> {
        if let Some(text) = &self.stages {
            return Ok(parse_stages(text)?);
        }
        if self.epochs.is_none() && self.lr.is_none() {
            return Ok(preset.stages.clone());
        }
        if let [stage] = preset.stages[..] {
            return Ok(vec![TrainingStage::new(
                self.epochs.unwrap_or(stage.epochs),
                self.lr.unwrap_or(stage.learning_rate),
            )]);
        }
        // Several stages: which would the flag change? Say so rather than guess.
        let (flag, suggestion): (String, Vec<TrainingStage>) = match (self.epochs, self.lr) {
            (Some(epochs), None) => (
                format!("--epochs {epochs}"),
                preset
                    .stages
                    .iter()
                    .map(|s| TrainingStage::new(epochs, s.learning_rate))
                    .collect(),
            ),
            (epochs, lr) => {
                let lr = lr.unwrap_or(preset.stages[0].learning_rate);
                let mut stages = preset.stages.clone();
                stages[0] = TrainingStage::new(epochs.unwrap_or(stages[0].epochs), lr);
                let flags = match epochs {
                    Some(epochs) => format!("--epochs {epochs} --lr {lr}"),
                    None => format!("--lr {lr}"),
                };
                (flags, stages)
            }
        };
        Err(OverrideError::SeveralStages {
            flag,
            recipe: preset.name.clone(),
            stages: format_stages(&preset.stages),
            suggestion: format_stages(&suggestion),
        })
    }

    /// `--resume` as the trainer takes it.
    pub fn resume(&self) -> Option<Resume> {
        self.resume
            .map(|epoch| epoch.map_or(Resume::Latest, Resume::Epoch))
    }

    /// `--out`, or `runs/<preset>`.
    pub fn out_dir(&self, preset: &Preset) -> PathBuf {
        self.common.out_dir(&preset.name)
    }

    /// The official training and test sets, located as `--data-dir` and
    /// [`mnist_lab::data::DataLocator`] say, as the trainer takes them, with their directory.
    pub fn mnist(
        &self,
    ) -> Result<
        (
            RunData<mnist_lab::data::MnistItem, mnist_lab::data::ImageBatch>,
            PathBuf,
        ),
        crate::experiment::ExperimentError,
    > {
        let dir = self.common.locate_data()?;
        let data = RunData::new(
            MnistDataset::train(&dir)?,
            MnistDataset::test(&dir)?,
            MnistBatcher::default(),
        );
        Ok((data, dir))
    }

    /// The process's command line, parsed (`--help` and errors exit as clap does).
    pub fn parse_args() -> Self {
        Self::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// `args` (the program name first) parsed, or clap's error: what [`Self::parse_args`]
    /// prints for a bad flag.
    ///
    /// ```
    /// use mnist_lab_tools::cli::TrainArgs;
    /// let args = TrainArgs::try_parse_from(["simple_fc", "--epochs", "2"]).unwrap();
    /// assert_eq!(args.epochs, Some(2));
    /// let err = TrainArgs::try_parse_from(["simple_fc", "--epochs", "two"]).unwrap_err();
    /// assert!(err.to_string().contains("invalid value 'two' for '--epochs <EPOCHS>'"));
    /// ```
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: TrainArgs,
        }
        Cli::try_parse_from(args).map(|cli| cli.args)
    }
}
