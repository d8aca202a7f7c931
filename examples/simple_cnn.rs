//! §4, Q7/Q8 of the report: the simple CNN (8,490 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_cnn` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

fn main() {
    mnist_lab::experiment::example_main(|_| mnist_lab::experiment::Preset::simple_cnn());
}
