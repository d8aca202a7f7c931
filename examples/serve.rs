//! A trained network behind a drawing page: draw a digit in the browser, see the top 3 update.
//!
//! ```sh
//! cargo run --release --example complex_cnn
//! cargo run --release --features serve --example serve -- --weights runs/complex_cnn/model.safetensors
//! # then open http://127.0.0.1:8080/
//! curl -s --data-binary @tests/data/digits/7-as-is.png -H 'Content-Type: image/png' http://127.0.0.1:8080/api/predict
//! ```
//!
//! `--static DIR` instead writes the page as static files that classify in the browser (the
//! network as ONNX in onnxruntime-web; needs `--features serve,onnx` and `bash web/build.sh`):
//!
//! ```sh
//! bash web/build.sh
//! cargo run --release --features serve,onnx --example serve -- --weights runs/complex_cnn/model.safetensors --static site/
//! python3 -m http.server -d site 8000    # or any static file host; then open http://127.0.0.1:8000/
//! ```
//!
//! `--load CLIENTS,REQUESTS` instead measures the server on loopback: CLIENTS threads each
//! POSTing a real test digit REQUESTS times, then prints requests/s and p50/p99 latency.

use mnist_lab_tools::serve::tokio;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mnist_lab::data::MnistDataset;
use mnist_lab::infer::Predictor;
use mnist_lab_tools::cli::WeightsArgs;
use mnist_lab_tools::serve::{AppState, load_test};

/// Serve a trained network: a drawing page and a JSON API.
#[derive(Parser, Debug)]
struct Args {
    /// The network: --weights FILE [--model KIND].
    #[command(flatten)]
    network: WeightsArgs,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// MNIST files for the page's "random test digit" (default: $MNIST_DIR, or none).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Measure instead: CLIENTS,REQUESTS concurrent clients x requests each, on loopback.
    #[arg(long, value_parser = parse_load)]
    load: Option<(usize, usize)>,
    /// Write the page as static files into DIR instead of serving it (with `--features onnx`).
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Where the static page's WebAssembly and onnxruntime-web files are (`bash web/build.sh`).
    #[arg(long, default_value = "web/dist")]
    assets: PathBuf,
}

/// The page as static files: the network exported to ONNX beside it.
#[cfg(feature = "onnx")]
fn write_static(
    network: &mnist_lab::Model,
    dir: &std::path::Path,
    assets: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use mnist_lab::interop::{OnnxMetadata, export_model};
    let metadata = OnnxMetadata::mnist(network.kind().name());
    let onnx = export_model(network, &metadata)?;
    let model_json = serde_json::json!({
        "network": metadata.network,
        "mean": metadata.normalization.mean,
        "std": metadata.normalization.std,
        "class_names": metadata.class_names,
    });
    let written = mnist_lab_tools::serve::write_static_site(dir, &onnx.bytes, &model_json, assets)?;
    println!(
        "{}: the drawing page as {} static files ({} -> {}); serve the directory with any static file host",
        dir.display(),
        written.len(),
        onnx.input,
        onnx.output
    );
    Ok(())
}

#[cfg(not(feature = "onnx"))]
fn write_static(
    _: &mnist_lab::Model,
    _: &std::path::Path,
    _: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    Err("--static needs the ONNX exporter: build with --features serve,onnx".into())
}

fn parse_load(text: &str) -> Result<(usize, usize), String> {
    let (c, r) = text
        .split_once(',')
        .ok_or_else(|| format!("`{text}`: give CLIENTS,REQUESTS, e.g. 8,100"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{s}` is not a positive number"))
    };
    Ok((number(c)?, number(r)?))
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = burn::tensor::Device::flex();
    let (config, network) = args.network.load(&device)?;
    if let Some(dir) = &args.static_dir {
        return write_static(&network, dir, &args.assets);
    }
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os(mnist_lab::data::MNIST_DIR_ENV).map(PathBuf::from));
    let samples = data_dir.and_then(|dir| MnistDataset::test(&dir).ok());
    let state = Arc::new(AppState::new(
        Predictor::new(network, device),
        &config.to_string(),
        samples,
    ));
    let runtime = tokio::runtime::Runtime::new()?;
    let addr = if args.load.is_some() {
        "127.0.0.1:0"
    } else {
        args.addr.as_str()
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| format!("cannot listen on {addr}: {e}; pass another --addr"))?;
    let local = listener.local_addr()?;
    let Some((clients, requests)) = args.load else {
        println!(
            "{config} from {}: http://{local}/",
            args.network.weights.display()
        );
        runtime.block_on(mnist_lab_tools::serve::serve(listener, state))?;
        return Ok(());
    };
    runtime.spawn(mnist_lab_tools::serve::serve(listener, state));
    let digit = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits/7-as-is.png"),
    )?;
    let report = load_test(local, clients, requests, &digit);
    println!(
        "{clients} clients x {requests} requests: {} errors, {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms",
        report.errors,
        report.requests_per_second(),
        report.p50_ms,
        report.p99_ms
    );
    if report.errors > 0 {
        return Err(format!("{} of {} requests failed", report.errors, report.requests).into());
    }
    Ok(())
}
