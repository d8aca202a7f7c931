//! Beyond the report: the complex CNN with random distortions of the training images and a
//! 10-epoch step schedule, aiming at >= 99.6% (the faithful recipe is `complex_cnn`).
//!
//! `cargo run --release --example complex_cnn_improved -- --data-dir ../shared/data/mnist`

fn main() {
    mnist_lab::experiment::example_main(|_| mnist_lab::experiment::Preset::complex_cnn_improved());
}
