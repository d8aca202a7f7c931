//! §5.2 of the report: the complex CNN with batch norm, 2 epochs at 0.01 then 2 at 0.001.
//!
//! `cargo run --release --example complex_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary, --show-image).

use mnist_lab::cli::TrainArgs;
use mnist_lab::experiment::{Preset, report_run};
use mnist_lab::model::{ComplexCnnConfig, ModelConfig};
use mnist_lab::train::parse_stages;

fn main() {
    mnist_lab::cli::run_example(|| {
        let args = TrainArgs::parse_args();
        // The recipe: the network (3 convs with batch norm, 3 linear layers with dropout 0.5),
        // SGD with momentum 0.9 at batch 50, two stages on one optimizer state.
        let recipe = Preset {
            model: ModelConfig::ComplexCnn(ComplexCnnConfig::new().with_dropout(0.5)),
            stages: parse_stages("2@0.01,2@0.001")?,
            ..Preset::complex_cnn() // the report's and PyTorch's figures, for comparison
        };
        // The command line may override stages, seed, batch size, optimizer.
        let config = args.config(&recipe)?;
        // Data: --data-dir, $MNIST_DIR, the cache, or a download of the official files.
        let (data, _dir) = args.mnist()?;
        // The trainer: backend, output directory, resume, all from the command line.
        let (device, out) = (args.common.backend.device()?, args.out_dir(&recipe));
        if args.summary {
            println!("{}", config.model.init(&device).summary());
        }
        let mut trainer = config.trainer(device.clone(), &out)?;
        if let Some(epoch) = args.resume {
            trainer = trainer.resume_from(epoch);
        }
        let test = data.test.clone();
        let outcome = trainer.fit(&config.model, data)?;
        // Accuracy per stage beside the report's; weights for PyTorch as model.safetensors; the
        // pictures (confusion matrix, wrong images, curves, layers, feature maps) beside them.
        report_run(&recipe, &outcome, &out, &*test, &device, args.show_image)?;
        Ok(())
    });
}
