//! The report's convolution exercise (Q2-Q5), or any image and kernel from text files.
//!
//! `cargo run --example conv_filter` prints the report's answers;
//! `cargo run --example conv_filter -- --image img.txt --kernel k.txt --stride 2 --padding 1`
//! convolves your own (one row per line, numbers separated by spaces or commas).

use std::path::{Path, PathBuf};

use clap::Parser;
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
}

fn main() {
    mnist_lab::cli::exit_on_error(run(Args::parse()));
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
        let as_f64 = |m: Matrix<i64>| {
            Matrix::from_rows(
                m.to_rows()
                    .into_iter()
                    .map(|r| r.into_iter().map(|v| v as f64).collect())
                    .collect(),
            )
        };
        let image = match &args.image {
            Some(p) => read_matrix(p)?,
            None => as_f64(report_image())?,
        };
        let kernel = match &args.kernel {
            Some(p) => read_matrix(p)?,
            None => as_f64(sharpen_kernel())?,
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
    let largest = largest_kernel(28, 0);
    println!(
        "Q2: the largest filter on an unpadded 28x28 image is {largest}x{largest} (output {0}x{0})",
        output_size(28, largest, 0, 1)?
    );
    Ok(())
}
