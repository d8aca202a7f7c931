//! A preset run as the command line says: config, data, trainer, fit, report.

use mnist_lab::Model;
use mnist_lab::train::{RunOutcome, format_stages};

use super::TrainArgs;
use crate::experiment::{ExperimentError, Preset, report_run};

/// Runs a preset as the command line says, in the report's order: config, data, trainer, fit
/// ([`train_preset`]); then [`report_run`]. What [`example_main`] does for the examples that
/// need no more.
pub fn run_preset(preset: &Preset, args: &TrainArgs) -> Result<RunOutcome<Model>, ExperimentError> {
    let (outcome, test) = train_preset(preset, args)?;
    let device = args.common.backend.device()?;
    report_run(
        preset,
        &outcome,
        &args.out_dir(preset),
        &*test,
        &device,
        args.show_image,
    )?;
    Ok(outcome)
}

/// The test images of a run, as [`train_preset`] returns them.
pub type TestSet = std::sync::Arc<dyn burn::data::dataset::Dataset<mnist_lab::data::MnistItem>>;

/// Config, data, trainer and fit of a preset as the command line says, without the pictures
/// and weights of [`report_run`]; returns the outcome and the test set.
pub fn train_preset(
    preset: &Preset,
    args: &TrainArgs,
) -> Result<(RunOutcome<Model>, TestSet), ExperimentError> {
    let config = args.config(preset)?;
    let out = args.out_dir(preset);
    let (data, dir) = args.mnist()?;
    let device = args.common.backend.device()?;
    if args.summary {
        println!("{}", config.model.init(&device).summary());
    }
    println!(
        "{}: {} on {}, stages {}, data {}, output {}",
        preset.name,
        config.model,
        args.common.backend,
        format_stages(&config.training.stages),
        dir.display(),
        out.display()
    );
    let trainer = config.trainer(device.clone(), &out)?.resume(args.resume());
    let test = data.test.clone();
    let outcome = trainer.fit(&config.model, data)?;
    Ok((outcome, test))
}

/// `main` of a training example that runs one preset as it is: parse, [`run_preset`], and exit
/// non-zero with a one-line message on error.
pub fn example_main(preset: impl FnOnce(&TrainArgs) -> Preset) {
    super::run_example(|| {
        let args = TrainArgs::parse_args();
        run_preset(&preset(&args), &args).map(|_| ())?;
        Ok(())
    });
}
