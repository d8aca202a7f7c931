//! A process killed with SIGKILL, while training or in the middle of writing a checkpoint, leaves
//! its last complete checkpoint loadable.
//!
//! Each test runs its own binary again as a child (training for a long time, or saving
//! checkpoints back to back), waits for checkpoints to appear, kills it, and loads the latest.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mnist_lab::data::MnistDataset;
use mnist_lab::train::{checkpoint, sgd};
use mnist_lab::{BackendKind, ModelKind};

/// Set in the child: the output directory it trains into.
const CHILD_OUT: &str = "MNIST_LAB_KILL_TEST_OUT";
const TEST_NAME: &str = "a_killed_run_leaves_its_last_checkpoint_loadable";
/// Set in the child of the save test: the checkpoint directory it saves into.
const CHILD_SAVE_DIR: &str = "MNIST_LAB_KILL_SAVE_DIR";
const SAVE_TEST_NAME: &str = "a_process_killed_while_saving_leaves_the_previous_checkpoint";

/// Runs test `name` of this binary again in a child process, with `var` set to `value`.
fn spawn_this_test(name: &str, var: &str, value: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads", "1"])
        .env(var, value)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `dir` holds a complete checkpoint of `epoch` or later, checking every `poll` that
/// the child still runs. The 300 s bound is against a hung child, not a speed requirement.
fn wait_for_checkpoint(child: &mut Child, dir: &Path, epoch: usize, poll: Duration, context: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while checkpoint::latest(dir).unwrap_or(0) < epoch {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{context}: the child stopped before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "{context}: no checkpoint {epoch} after 300 s"
        );
        std::thread::sleep(poll);
    }
}

fn train_until_killed(out: &str) {
    let dir = common::slice_dir();
    let config = common::run_config(ModelKind::SimpleCnn, "1000@0.01", 200);
    common::fit_on_flex(
        &config,
        Path::new(out),
        MnistDataset::train(&dir).unwrap(),
        MnistDataset::test(&dir).unwrap().limit(100),
    );
}

#[test]
fn a_killed_run_leaves_its_last_checkpoint_loadable() {
    if let Ok(out) = std::env::var(CHILD_OUT) {
        train_until_killed(&out);
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let ckpt = checkpoint::checkpoint_dir(out.path());
    let mut child = spawn_this_test(TEST_NAME, CHILD_OUT, out.path());
    wait_for_checkpoint(&mut child, &ckpt, 2, Duration::from_millis(20), "training");
    // While the child trains, a second run into its directory fails at once, naming the child.
    let err = mnist_lab::DirLock::acquire(out.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("in use by another run (process {}:", child.id())),
        "{err}"
    );
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush
    child.wait().unwrap();
    // The OS released the killed child's lock: no stale lock file blocks the next run.
    drop(mnist_lab::DirLock::acquire(out.path()).expect("the lock died with the child"));

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
fn save_until_killed(dir: &Path) {
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
            epochs: vec![],
            mistakes: vec![],
        };
        checkpoint::save(dir, &model, &optim, &state).unwrap();
    }
}

#[test]
fn a_process_killed_while_saving_leaves_the_previous_checkpoint() {
    if let Ok(dir) = std::env::var(CHILD_SAVE_DIR) {
        save_until_killed(Path::new(&dir));
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = checkpoint::checkpoint_dir(out.path());
    let mut partial_files_seen = 0;
    // Kill at several points of the save cycle: after 0, 7, 14, ... ms past a new checkpoint.
    for (round, delay_ms) in [0u64, 7, 14, 23, 31].into_iter().enumerate() {
        let before = checkpoint::latest(&dir).unwrap_or(0);
        let mut child = spawn_this_test(SAVE_TEST_NAME, CHILD_SAVE_DIR, &dir);
        let context = format!("round {round}");
        wait_for_checkpoint(
            &mut child,
            &dir,
            before + 2,
            Duration::from_millis(1),
            &context,
        );
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
