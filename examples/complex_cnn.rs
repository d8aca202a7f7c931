//! §5.2 of the report: the complex CNN with batch norm, 2 epochs at 0.01 then 2 at 0.001.
//!
//! `cargo run --release --example complex_cnn` (`-- --help` lists the overrides: --stages,
//! --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary, --show-image).

use mnist_lab_tools::cli::{TrainArgs, run_example};
use mnist_lab_tools::experiment::{Preset, report_run};

fn main() {
    run_example(|| {
        let args = TrainArgs::parse_args();
        // The recipe: 3 convs with batch norm and pooling, 3 linear layers with dropout 0.5;
        // SGD with momentum 0.9 at batch 50; 2 epochs at 0.01, then 2 at 0.001 on the same
        // optimizer state. One definition, `Preset::complex_cnn` (tools/src/experiment/mod.rs),
        // which `reproduce` runs too.
        let recipe = Preset::complex_cnn();
        // The command line's overrides (--stages, --seed, --batch-size, ...) on top of it.
        let config = args.config(&recipe)?;
        // Data: --data-dir, $MNIST_DIR, the cache, or a download of the official files.
        let (data, _dir) = args.mnist()?;
        let device = args.common.backend.device()?;
        let out = args.out_dir(&recipe);
        if args.summary {
            println!("{}", config.model.init(&device).summary());
        }
        // The trainer: checkpoints every epoch into `out`; --resume continues the newest.
        let trainer = config.trainer(device.clone(), &out)?.resume(args.resume());
        let test = data.test.clone();
        let outcome = trainer.fit(&config.model, data)?;
        // Accuracy per stage beside the report's; weights for PyTorch as model.safetensors; the
        // pictures (confusion matrix, wrong images, curves, layers, feature maps) beside them.
        report_run(&recipe, &outcome, &out, &*test, &device, args.show_image)?;
        Ok(())
    });
}
