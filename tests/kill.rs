//! A process killed with SIGKILL, while training or in the middle of writing a checkpoint, leaves
//! its last complete checkpoint loadable.
//!
//! Each test runs its own binary again as a child (training for a long time, or saving
//! checkpoints back to back), waits for checkpoints to appear, kills it, and loads the latest.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mnist_lab::data::MnistDataset;
use mnist_lab::train::{Trainer, TrainingConfig, checkpoint, parse_stages, sgd};
use mnist_lab::{BackendKind, ModelKind};

/// Set in the child: the output directory it trains into.
const CHILD_OUT: &str = "MNIST_LAB_KILL_TEST_OUT";
const TEST_NAME: &str = "a_killed_run_leaves_its_last_checkpoint_loadable";
/// Set in the child of the save test: the checkpoint directory it saves into.
const CHILD_SAVE_DIR: &str = "MNIST_LAB_KILL_SAVE_DIR";
const SAVE_TEST_NAME: &str = "a_process_killed_while_saving_leaves_the_previous_checkpoint";

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

/// Saves checkpoints of the complex CNN (about 21 MB each with momentum) back to back, so that
/// nearly all of the child's time is spent inside `checkpoint::save`.
fn save_until_killed(dir: &std::path::Path) {
    let device = BackendKind::Flex.device().unwrap().autodiff();
    let model = ModelKind::ComplexCnn.init(&device);
    let optim = sgd(0.9);
    let first = checkpoint::latest(dir).unwrap_or(0) + 1;
    for epoch in first.. {
        let state = checkpoint::CheckpointState {
            epoch,
            steps: epoch,
            stages: vec![],
            images_trained: 0,
            train_seconds: 0.0,
        };
        checkpoint::save(dir, &model, &optim, &state).unwrap();
    }
}

#[test]
fn a_process_killed_while_saving_leaves_the_previous_checkpoint() {
    if let Ok(dir) = std::env::var(CHILD_SAVE_DIR) {
        save_until_killed(std::path::Path::new(&dir));
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = checkpoint::checkpoint_dir(out.path());
    let mut partial_files_seen = 0;
    // Kill at several points of the save cycle: after 0, 7, 14, ... ms past a new checkpoint.
    for (round, delay_ms) in [0u64, 7, 14, 23, 31].into_iter().enumerate() {
        let before = checkpoint::latest(&dir).unwrap_or(0);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", SAVE_TEST_NAME, "--test-threads", "1"])
            .env(CHILD_SAVE_DIR, &dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while checkpoint::latest(&dir).unwrap_or(0) < before + 2 {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child stopped by itself"
            );
            assert!(
                Instant::now() < deadline,
                "round {round}: no checkpoints after 300 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();

        let latest = checkpoint::latest(&dir).unwrap();
        let device = BackendKind::Flex.device().unwrap().autodiff();
        let (_, _, state) =
            checkpoint::load(&dir, latest, ModelKind::ComplexCnn.init(&device), sgd(0.9))
                .unwrap_or_else(|e| panic!("round {round}: checkpoint {latest} is broken: {e}"));
        assert_eq!(state.epoch, latest);
        partial_files_seen += checkpoint::remove_partial(&dir).unwrap();
    }
    // Temporary files are the only trace of the interrupted saves, and they are gone now.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("{partial_files_seen} half-written files were left by 5 kills and removed");
}
