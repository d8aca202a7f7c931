//! Beyond the report: the fastest 99% on a CPU. The provided CNN at 12 and 24 channels without
//! dropout, two epochs of Adam in batches of 128 with one learning-rate cycle
//! ([`Preset::speedrun`]); prints the test accuracy and the seconds since the process started,
//! data loading and evaluation included.
//!
//! `cargo run --release --example speedrun -- --seed 1` (the same overrides as every training
//! example: --epochs, --lr, --batch-size, --optimizer, --schedule, --seed, --out, ...).
//! Its PyTorch twin: `reference/pytorch/mnist_reference.py speedrun --seed 1`.

use std::time::Instant;

use mnist_lab_tools::cli::TrainArgs;
use mnist_lab_tools::cli::train_preset;
use mnist_lab_tools::experiment::Preset;

fn main() {
    let started = Instant::now();
    mnist_lab_tools::cli::run_example(|| {
        let args = TrainArgs::parse_args();
        let preset = Preset::speedrun();
        // Train and evaluate; the pictures every other example draws are left out of the race.
        let (outcome, _test) = train_preset(&preset, &args)?;
        let seconds = started.elapsed().as_secs_f64();
        let s = &outcome.summary;
        let reached = s.stages.last().expect("one stage at least");
        println!(
            "speedrun: {:.2}% ({}/{}) on the {} images, {seconds:.2} s since the process \
             started ({:.2} s in the trainer, {:.0} training images/s)",
            reached.test_accuracy,
            reached.correct,
            reached.total,
            if args.validation.is_some() {
                "held-out training"
            } else {
                "test"
            },
            s.wall_seconds,
            s.train_images_per_sec
        );
        let weights = args.out_dir(&preset).join("model.safetensors");
        mnist_lab::interop::save_safetensors(&outcome.model, &weights)?;
        println!("weights for PyTorch: {}", weights.display());
        Ok(())
    });
}
