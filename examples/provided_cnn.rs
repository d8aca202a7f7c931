//! §5.1 of the report: PyTorch's example CNN, 5 epochs each at 1e-3, 1e-4, 1e-5.
//!
//! `cargo run --release --example provided_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

fn main() {
    mnist_lab::experiment::example_main(|_| mnist_lab::experiment::Preset::provided_cnn());
}
