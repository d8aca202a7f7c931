//! A training process killed with SIGKILL leaves its last complete checkpoint loadable.
//!
//! The test runs its own binary again as a child that trains for a long time, waits until the
//! child has written two checkpoints, kills it, and loads the latest checkpoint.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mnist_lab::data::MnistDataset;
use mnist_lab::train::{Trainer, TrainingConfig, checkpoint, parse_stages, sgd};
use mnist_lab::{BackendKind, ModelKind};

/// Set in the child: the output directory it trains into.
const CHILD_OUT: &str = "MNIST_LAB_KILL_TEST_OUT";
const TEST_NAME: &str = "a_killed_run_leaves_its_last_checkpoint_loadable";

fn train_until_killed(out: &str) {
    let dir = common::slice_dir();
    let config = TrainingConfig::new(ModelKind::SimpleCnn, parse_stages("1000@0.01").unwrap())
        .with_limit_train(Some(200));
    Trainer::new(config, BackendKind::Flex, out)
        .unwrap()
        .quiet()
        .fit(
            MnistDataset::train(&dir).unwrap(),
            MnistDataset::test(&dir).unwrap().limit(100),
        )
        .unwrap();
}

#[test]
fn a_killed_run_leaves_its_last_checkpoint_loadable() {
    if let Ok(out) = std::env::var(CHILD_OUT) {
        train_until_killed(&out);
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let ckpt = checkpoint::checkpoint_dir(out.path());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--test-threads", "1"])
        .env(CHILD_OUT, out.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // A bound against a hung child, not a speed requirement.
    let deadline = Instant::now() + Duration::from_secs(300);
    while checkpoint::latest(&ckpt).unwrap_or(0) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child stopped before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "no second checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush
    child.wait().unwrap();

    let latest = checkpoint::latest(&ckpt).unwrap();
    assert!(latest >= 2);
    let device = BackendKind::Flex.device().unwrap().autodiff();
    let (_, _, state) =
        checkpoint::load(&ckpt, latest, ModelKind::SimpleCnn.init(&device), sgd(0.9))
            .expect("the latest complete checkpoint loads");
    assert_eq!(state.epoch, latest);
    // history.csv is replaced atomically too: it holds whole epochs only.
    let history = std::fs::read_to_string(out.path().join("history.csv")).unwrap();
    assert_eq!(
        (history.lines().count() - 1) % 4,
        0,
        "4 steps per epoch of 200 images"
    );
}
