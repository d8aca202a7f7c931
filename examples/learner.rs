//! The report's complex CNN recipe driven by burn-train's own `Learner` instead of our trainer:
//! the two stages (2 epochs at 0.01, then 2 at 0.001, one optimizer state) as one
//! `SequentialLrScheduler`, burn's accuracy / loss / learning-rate metrics, its dashboard on a
//! terminal (feature `tui`, on by default) and its CLI renderer otherwise, its checkpoints.
//! Our kernels run under it as under our trainer: the network is the same module.
//!
//! `cargo run --release --example learner` (`-- --limit-train 2000 --epochs 1` for a quick look;
//! `-- --resume 2` continues from burn's checkpoint of epoch 2).

use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn_train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn_train::{ExecutionStrategy, Learner, MultiDeviceOptim, SupervisedTraining};
use clap::Parser;
use mnist_lab::data::{MnistDataset, mnist_loader};
use mnist_lab::model::ModelKind;
use mnist_lab::train::{self, init_seeded};
use mnist_lab_tools::cli::CommonArgs;

/// Train the complex CNN with burn-train's Learner.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Train on the first N training images only.
    #[arg(long)]
    limit_train: Option<usize>,
    /// Epochs of each of the two stages (the report: 2).
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Continue from burn's checkpoint of this epoch in the output directory.
    #[arg(long)]
    resume: Option<usize>,
    /// Run burn's multi-device strategy over this many copies of the device (data parallel,
    /// optimizer on the first); 1 is the single-device strategy.
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| {
        let args = Args::parse();
        let dir = args.common.locate_data()?;
        let device = args.common.backend.device()?;
        let train_device = device.clone().autodiff();
        let mut train_set = MnistDataset::train(&dir)?;
        if let Some(n) = args.limit_train {
            train_set = train_set.limit(n);
        }
        let steps_per_epoch = train_set.labels().len().div_ceil(50);
        let train_loader = mnist_loader(train_set, 50, Some(args.common.seed), &train_device);
        let test_loader = mnist_loader(MnistDataset::test(&dir)?, 100, None, &device);

        // The same network, weights drawn from the seed as our trainer draws them.
        let model = init_seeded(
            &ModelKind::ComplexCnn.config(),
            args.common.seed,
            &train_device,
        );
        // The report's stages as one schedule: the optimizer (and its momentum) carries on.
        let schedule = SequentialLrSchedulerConfig::new(
            vec![
                LrSchedulerConfig::Constant(0.01),
                LrSchedulerConfig::Constant(0.001),
            ],
            vec![args.epochs * steps_per_epoch],
        )
        .init()?;
        let out = args.common.out_dir("learner");
        let mut training = SupervisedTraining::new(&out, train_loader, test_loader.clone())
            // Always name the device: burn's default strategy runs on `Device::default()`,
            // which prefers a GPU backend whenever one is compiled in.
            .with_training_strategy(
                match args.devices {
                    0 | 1 => ExecutionStrategy::single(train_device.clone()),
                    n => ExecutionStrategy::multi(
                        vec![train_device.clone(); n],
                        MultiDeviceOptim::OptimMainDevice,
                    ),
                }
                .into(),
            )
            .metric_train_numeric(AccuracyMetric::new())
            .metric_valid_numeric(AccuracyMetric::new())
            .metric_train_numeric(LossMetric::new())
            .metric_valid_numeric(LossMetric::new())
            .metric_train_numeric(LearningRateMetric::new())
            .with_default_checkpointers()
            .num_epochs(2 * args.epochs)
            .summary();
        if let Some(epoch) = args.resume {
            training = training.checkpoint(epoch);
        }
        let started = std::time::Instant::now();
        let result = training.launch(Learner::new(model, train::sgd(0.9), schedule));
        if let Some(error) = result.error {
            return Err(format!("burn's Learner stopped: {error}").into());
        }
        let seconds = started.elapsed().as_secs_f64();
        // The report's line, from our evaluation of the Learner's model.
        let eval = train::evaluate(&result.model, &*test_loader)?;
        println!("{}", eval.report_line());
        println!(
            "{} epochs in {seconds:.1} s ({:.0} training images/s with validation); burn's \
             checkpoints and logs in {}",
            2 * args.epochs,
            (2 * args.epochs * steps_per_epoch * 50) as f64 / seconds,
            out.display()
        );
        Ok(())
    });
}
