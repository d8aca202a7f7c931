//! §5.2 of the report: the complex CNN with batch norm, 2 epochs at 0.01 then 2 at 0.001.
//!
//! `cargo run --release --example complex_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

fn main() {
    mnist_lab::experiment::example_main(|_| mnist_lab::experiment::Preset::complex_cnn());
}
