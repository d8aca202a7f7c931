//! A trained network as an ONNX model, for ONNX Runtime (servers, C#, Java, mobile),
//! onnxruntime-web (a static page) or TensorRT.
//!
//! ```sh
//! cargo run --release --example complex_cnn      # writes runs/complex_cnn/model.safetensors
//! cargo run --release --features onnx --example export_onnx -- \
//!     --weights runs/complex_cnn/model.safetensors --out complex_cnn.onnx
//! # complex_cnn.onnx: complex_cnn, images [N, 1, 28, 28] -> log_probs [N, 10]
//! ```
//!
//! The same weight arguments as `predict` and `serve`: a run's `model.safetensors`, a
//! checkpoint's `model-N.bpk` or a PyTorch `.pt`, the network named by `config.json` beside
//! them or `--model`. The input is `(pixel / 255 - mean) / std`; mean, std and the class names
//! are in the model's metadata (`mnist_lab.mean`, `mnist_lab.std`, `mnist_lab.class_names`).

use std::path::PathBuf;

use clap::Parser;
use mnist_lab::interop::{self, OnnxMetadata};
use mnist_lab_tools::cli::WeightsArgs;

/// Export a trained network to ONNX.
#[derive(Parser, Debug)]
struct Args {
    /// The network: --weights FILE [--model KIND].
    #[command(flatten)]
    network: WeightsArgs,
    /// The ONNX file to write (replaced only once the new one is complete).
    #[arg(long)]
    out: PathBuf,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = burn::tensor::Device::flex();
    let (_, network) = args.network.load(&device)?;
    let name = network.kind().name();
    let onnx = interop::export_model(&network, &OnnxMetadata::mnist(name))?;
    onnx.save(&args.out)?;
    println!(
        "{}: {name}, {} -> {} ({} bytes)",
        args.out.display(),
        onnx.input,
        onnx.output,
        onnx.bytes.len()
    );
    Ok(())
}
