//! The report's convolution exercise (Q2-Q5), or any image and kernel from text files.
//!
//! `cargo run --example conv_filter` prints the report's answers;
//! `cargo run --example conv_filter -- --image img.txt --kernel k.txt --stride 2 --padding 1`
//! convolves your own (one row per line, numbers separated by spaces or commas).

use std::path::{Path, PathBuf};

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use clap::Parser;
use mnist_lab::BackendKind;
use mnist_lab::conv::{Matrix, conv2d, largest_kernel, output_size, report_image, sharpen_kernel};

/// Convolve an image by a kernel by hand.
#[derive(Parser, Debug)]
struct Args {
    /// Image as a plain-text matrix (default: the report's 5x5 image).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Kernel as a plain-text matrix (default: the 3x3 sharpen kernel).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Stride (with --image/--kernel; the report's answers use 1 and 2).
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Zero padding on each side (with --image/--kernel).
    #[arg(long, default_value_t = 0)]
    padding: usize,
    /// Backend whose `conv2d` is checked against the hand-written result.
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
}

/// Runs burn's `conv2d` on `backend` and returns the largest difference from `ours`.
fn burn_difference(
    backend: BackendKind,
    image: &Matrix<f64>,
    kernel: &Matrix<f64>,
    stride: usize,
    padding: usize,
    ours: &Matrix<f64>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let device = backend.device()?;
    let as_tensor = |m: &Matrix<f64>| {
        let (rows, cols) = m.shape();
        let values: Vec<f32> = m
            .to_rows()
            .into_iter()
            .flatten()
            .map(|v| v as f32)
            .collect();
        Tensor::<4>::from_data(TensorData::new(values, [1, 1, rows, cols]), &device)
    };
    let options = ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1);
    let theirs = burn_conv2d(as_tensor(image), as_tensor(kernel), None, options);
    let theirs = theirs.into_data().try_to_vec::<f32>()?;
    let ours = ours.to_rows().into_iter().flatten();
    Ok(ours
        .zip(theirs)
        .map(|(a, b)| (a - b as f64).abs())
        .fold(0.0, f64::max))
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn read_matrix(path: &Path) -> Result<Matrix<f64>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Matrix::parse(&text, &path.display().to_string())?)
}

fn show<T: std::fmt::Display>(title: &str, m: &Matrix<T>) {
    println!("{title}:\n{m}");
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.image.is_some() || args.kernel.is_some() {
        let image = match &args.image {
            Some(p) => read_matrix(p)?,
            None => report_image().map(|v| v as f64),
        };
        let kernel = match &args.kernel {
            Some(p) => read_matrix(p)?,
            None => sharpen_kernel().map(|v| v as f64),
        };
        show("image", &image);
        show("kernel", &kernel);
        if args.padding > 0 {
            show(
                &format!("image with zero padding {}", args.padding),
                &image.zero_padded(args.padding),
            );
        }
        let out = conv2d(&image, &kernel, args.stride, args.padding)?;
        show(
            &format!("output (stride {}, padding {})", args.stride, args.padding),
            &out,
        );
        let diff = burn_difference(
            args.backend,
            &image,
            &kernel,
            args.stride,
            args.padding,
            &out,
        )?;
        println!(
            "burn's conv2d on {} differs by at most {diff:e}",
            args.backend
        );
        return Ok(());
    }
    let (image, kernel) = (report_image(), sharpen_kernel());
    show("image", &image);
    show("kernel (sharpen)", &kernel);
    show("Q4: stride 1, no padding", &conv2d(&image, &kernel, 1, 0)?);
    show("Q5a: stride 2, no padding", &conv2d(&image, &kernel, 2, 0)?);
    show("Q5b: image with zero padding 1", &image.zero_padded(1));
    show(
        "Q5b: stride 1, zero padding 1",
        &conv2d(&image, &kernel, 1, 1)?,
    );
    let first = output_size(28, 5, 0, 1)?;
    let second = output_size(first, 5, 0, 1)?;
    println!("Q3: 28x28 -> 5x5 conv -> {first}x{first} -> 5x5 conv -> {second}x{second}");
    let (image_f, kernel_f) = (image.map(|v| v as f64), kernel.map(|v| v as f64));
    for (stride, padding) in [(1, 0), (2, 0), (1, 1)] {
        let ours = conv2d(&image_f, &kernel_f, stride, padding)?;
        let diff = burn_difference(args.backend, &image_f, &kernel_f, stride, padding, &ours)?;
        println!(
            "burn's conv2d on {} (stride {stride}, padding {padding}) differs by at most {diff:e}",
            args.backend
        );
    }
    let largest = largest_kernel(28, 0);
    println!(
        "Q2: the largest filter on an unpadded 28x28 image is {largest}x{largest} (output {0}x{0})",
        output_size(28, largest, 0, 1)?
    );
    Ok(())
}
