//! Weights trained by the report's PyTorch code, evaluated here; and back out as safetensors.
//!
//! ```sh
//! # in PyTorch: torch.save(model.state_dict(), "complex_cnn.pt")
//! cargo run --release --example import_pytorch -- --model complex_cnn --weights complex_cnn.pt \
//!     --export complex_cnn.safetensors
//! # and back: model.load_state_dict(safetensors.torch.load_file("complex_cnn.safetensors"))
//! ```
//!
//! Prints the report's accuracy line for the 10,000 test images (eval mode; the complex MLP
//! keeps the report's dropout at test time unless `--no-dropout-at-test`).

use std::path::PathBuf;

use clap::Parser;
use mnist_lab::data::{DEFAULT_TEST_BATCH, MnistDataset, mnist_loader};
use mnist_lab::model::ModelConfig;
use mnist_lab::{ModelKind, interop};
use mnist_lab_tools::cli::CommonArgs;

/// Evaluate a PyTorch state_dict (.pt/.pth) or safetensors file on the MNIST test set.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Which network the weights are for (simple_fc, complex_mlp, simple_cnn, provided_cnn,
    /// complex_cnn), with the report's attribute names.
    #[arg(long)]
    model: ModelKind,
    /// The weights: torch.save(model.state_dict(), path) (.pt/.pth) or .safetensors.
    #[arg(long)]
    weights: PathBuf,
    /// Also write the weights as safetensors with PyTorch's names (replaced atomically).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Complex MLP only: evaluate without the report's dropout at test time.
    #[arg(long)]
    no_dropout_at_test: bool,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = args.common.backend.device()?;
    device.seed(args.common.seed);
    let config = match args.model.config() {
        ModelConfig::ComplexMlp(mlp) => {
            ModelConfig::ComplexMlp(mlp.with_dropout_at_test(!args.no_dropout_at_test))
        }
        other => other,
    };
    let model = interop::load_into(config.init(&device), &args.weights)?;
    println!(
        "loaded {} ({} tensors) into {} on {}",
        args.weights.display(),
        interop::pytorch_keys(&model).len(),
        args.model,
        args.common.backend
    );
    if let Some(out) = &args.export {
        interop::save_safetensors(&model, out)?;
        println!("exported {}", out.display());
    }
    let test = MnistDataset::test(&args.common.locate_data()?)?;
    let loader = mnist_loader(test, DEFAULT_TEST_BATCH, None, &device);
    let eval = mnist_lab::train::evaluate(&model, &*loader)?;
    println!("{}", eval.report_line());
    Ok(())
}
