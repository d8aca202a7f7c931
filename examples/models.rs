//! The five networks: layer tables, parameter counts, and one forward pass of real test images
//! on the chosen backend.
//!
//! `cargo run --example models -- --summary` (all five) or `--model complex_cnn --summary`.

use clap::Parser;
use mnist_lab::ModelKind;
use mnist_lab::data::{MnistDataset, mnist_loader};
use mnist_lab_tools::cli::CommonArgs;

/// Show the networks of the report.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// One model (simple_fc, complex_mlp, simple_cnn, provided_cnn, complex_cnn); all if omitted.
    #[arg(long)]
    model: Option<ModelKind>,
    /// Print each model's layer table and parameter counts.
    #[arg(long)]
    summary: bool,
    /// Test images to push through each untrained model.
    #[arg(long, default_value_t = 100)]
    images: usize,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = args.common.backend.device()?;
    device.seed(args.common.seed);
    let dir = args.common.locate_data()?;
    let test = MnistDataset::test(&dir)?.limit(args.images.max(1));
    let batch = mnist_loader(test, args.images.max(1), None, &device)
        .iter()
        .next()
        .ok_or("the test set is empty")??;
    let kinds = args.model.map_or(ModelKind::ALL.to_vec(), |k| vec![k]);
    for kind in kinds {
        let model = kind.init(&device);
        if args.summary {
            println!("{}", model.summary());
        }
        let counts = model.param_counts();
        let out = model.forward(batch.images.clone());
        println!(
            "{kind}: {} trainable parameters ({} with batch-norm statistics); forward of {:?} on {} -> {:?}",
            counts.trainable,
            counts.total,
            batch.images.dims(),
            args.common.backend,
            out.dims()
        );
    }
    Ok(())
}
