//! The command line of the examples that run suites of recipes (`lr_experiments`, `reproduce`).

use std::path::PathBuf;

use super::CommonArgs;
use crate::experiment::Suite;
use mnist_lab::data::MnistDataset;

/// Command-line arguments of the examples that run suites (`lr_experiments`, `reproduce`).
#[derive(clap::Args, Clone, Debug)]
pub struct SuiteArgs {
    /// Backend, data, seed; --out is the parent of the run directories (default: runs).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Train on the first N training images only (a quick look, not the report's figures).
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Retrain even where a finished run of the same config exists.
    #[arg(long)]
    pub rerun: bool,
    /// Print one result line per run instead of the loss every 100 batches.
    #[arg(long)]
    pub quiet: bool,
}

impl SuiteArgs {
    /// The suite these arguments ask for, its backend checked.
    pub fn suite(&self) -> Result<Suite, mnist_lab::backend::BackendError> {
        self.common.backend.device()?;
        Ok(Suite {
            backend: self.common.backend,
            runs_dir: self.common.out.clone().unwrap_or_else(|| "runs".into()),
            seed: self.common.seed,
            limit_train: self.limit_train,
            reuse: !self.rerun,
            quiet: self.quiet,
        })
    }

    /// The training and test sets, located as `--data-dir` and [`mnist_lab::data::DataLocator`] say,
    /// with the directory they came from.
    pub fn data(
        &self,
    ) -> Result<(MnistDataset, MnistDataset, PathBuf), crate::experiment::ExperimentError> {
        let dir = self.common.locate_data()?;
        Ok((MnistDataset::train(&dir)?, MnistDataset::test(&dir)?, dir))
    }
}
