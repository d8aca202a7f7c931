//! §3, Q6 of the report: the one-layer network (7,850 parameters), 5 epochs at lr 0.001.
//!
//! `cargo run --release --example simple_fc` (`-- --help` lists the overrides: --stages, --epochs,
//! --lr, --limit-train, --backend, --data-dir, --out, --seed, --resume, --summary).

fn main() {
    mnist_lab::experiment::example_main(|_| mnist_lab::experiment::Preset::simple_fc());
}
