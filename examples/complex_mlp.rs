//! The report's learning-rate experiments on the 3-layer MLP: 5 epochs at `--lr` (0.01, 0.001
//! or 0.0001; default 0.01), with dropout left on at test time as the report's code did.
//!
//! `cargo run --release --example complex_mlp -- --lr 0.001`

fn main() {
    mnist_lab::experiment::example_main(|args| {
        mnist_lab::experiment::Preset::complex_mlp(args.lr.unwrap_or(1e-2))
    });
}
