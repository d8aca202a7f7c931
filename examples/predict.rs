//! Ask a trained network about image files: one line per file with its three likeliest digits.
//!
//! ```sh
//! cargo run --release --example complex_cnn          # writes runs/complex_cnn/model.safetensors
//! cargo run --release --example predict -- --weights runs/complex_cnn/model.safetensors my-digit.png digits/
//! # my-digit.png: 7 (99.2%), 1 (0.4%), 2 (0.2%)
//! ```
//!
//! Any PNG or JPEG of one digit: dark on light or light on dark, any size, anywhere on the
//! canvas; it is made MNIST-style first (`mnist_lab::infer::mnist_style`). A directory means
//! every image in it. `--json` prints one JSON array instead. The network is the one named by
//! `config.json` beside the weights, or `--model`.

use std::path::{Path, PathBuf};

use clap::Parser;
use mnist_lab::infer::{InferError, Prediction, Predictor};
use mnist_lab_tools::cli::WeightsArgs;

/// Classify image files with a trained network.
#[derive(Parser, Debug)]
struct Args {
    /// The network: --weights FILE [--model KIND].
    #[command(flatten)]
    network: WeightsArgs,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Print JSON (an array of {file, top: [{class, probability}]} or {file, error}).
    #[arg(long)]
    json: bool,
    /// Image files, or directories of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = burn::tensor::Device::flex();
    let (_, network) = args.network.load(&device)?;
    let predictor = Predictor::new(network, device);
    let files = image_files(&args.files)?;
    let results: Vec<(PathBuf, Result<Prediction, InferError>)> = files
        .into_iter()
        .map(|file| {
            let prediction = predictor.predict_file(&file);
            (file, prediction)
        })
        .collect();
    if args.json {
        let entries: Vec<serde_json::Value> = results
            .iter()
            .map(|(file, result)| match result {
                Ok(p) => serde_json::json!({
                    "file": file,
                    "top": p.top(args.top).iter()
                        .map(|&(class, probability)| serde_json::json!({"class": class, "probability": probability}))
                        .collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({"file": file, "error": e.to_string()}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        for (file, result) in &results {
            match result {
                Ok(p) => {
                    let top: Vec<String> = p
                        .top(args.top)
                        .iter()
                        .map(|(class, probability)| {
                            format!("{class} ({:.1}%)", probability * 100.0)
                        })
                        .collect();
                    println!("{}: {}", file.display(), top.join(", "));
                }
                Err(e) => println!("{}: error: {e}", file.display()),
            }
        }
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} images could not be classified",
            results.len()
        )
        .into());
    }
    Ok(())
}

/// The files named, and the images (`.png`, `.jpg`, `.jpeg`) in the directories named, sorted.
fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
    };
    let mut files = vec![];
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{}: no .png or .jpg images in it", path.display()).into());
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()).into());
        }
    }
    Ok(files)
}
