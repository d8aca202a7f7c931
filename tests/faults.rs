//! Faults during a run, and what is left afterwards: a second run into the same directory, a
//! disk that fills up during a checkpoint, and damaged `config.json`, `history.csv`,
//! `state-N.json` or `summary.json` met by `--resume` or by a suite's reuse. Each is a clear error
//! naming the file, and nothing already written is lost.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mnist_lab::DirLock;
use mnist_lab::data::MnistDataset;
use mnist_lab::train::{RunOutcome, TrainError, checkpoint};
use mnist_lab::{BackendKind, Model, ModelKind};
use mnist_lab_tools::experiment::{Preset, RunConfig, Suite};

use common::serial;

fn slice() -> (MnistDataset, MnistDataset) {
    let dir = common::slice_dir();
    (
        MnistDataset::train(&dir).unwrap(),
        MnistDataset::test(&dir).unwrap().limit(200),
    )
}

/// The simple FC net, 3 epochs on 300 images (6 steps each).
fn config() -> RunConfig {
    common::run_config(ModelKind::SimpleFc, "3@0.01", 300)
}

fn fit(
    config: &RunConfig,
    out: &Path,
    resume: Option<usize>,
    stop_after: Option<usize>,
) -> Result<RunOutcome<Model>, TrainError> {
    let (train, test) = slice();
    let mut trainer = config
        .trainer(BackendKind::Flex.device().unwrap(), out)
        .unwrap()
        .quiet();
    if let Some(epoch) = resume {
        trainer = trainer.resume_from(epoch);
    }
    if let Some(epoch) = stop_after {
        trainer = trainer.stop_after(epoch);
    }
    trainer.fit(&config.model, common::mnist_data(train, test))
}

/// Every file under `dir` (recursively) with its bytes, sorted by path; the lock file aside.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if !path.ends_with(mnist_lab::LOCK_FILE) {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A second run into a directory that a run holds fails at once, naming the holder's process;
/// the first run's files are untouched. Once the holder is gone the directory is free again.
#[test]
fn a_second_run_into_the_same_directory_fails_at_once() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    fit(&config(), out.path(), None, Some(1)).unwrap();
    let before = snapshot(out.path());
    let held = DirLock::acquire(out.path()).unwrap();
    let err = fit(&config(), out.path(), Some(1), None).err().unwrap();
    let message = err.to_string();
    eprintln!("a second run: {message}");
    assert!(matches!(err, TrainError::Busy(_)), "{err:?}");
    assert!(
        message.contains(&format!(
            "in use by another run (process {}:",
            std::process::id()
        )),
        "{message}"
    );
    assert!(message.contains("pass another --out"), "{message}");
    assert_eq!(
        snapshot(out.path()),
        before,
        "nothing written by the refused run"
    );
    drop(held);
    let resumed = fit(&config(), out.path(), Some(1), None).unwrap();
    assert_eq!(resumed.summary.resumed_from_epoch, Some(1));
}

/// A small tmpfs, unmounted when dropped; `None` where this process may not mount one.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(bytes: usize) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Self(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// The disk fills up during a checkpoint (a 1 MiB tmpfs, filled after the checkpoint of epoch 1
/// but for 16 KiB): the error says the disk is full, no half-written file is left, checkpoint 1
/// still loads, and once there is room again the run resumes from it. Where the test may not
/// mount a tmpfs, it says so; `fsutil`'s unit test fails a write after 4 KiB on any machine.
#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_last_one() {
    let _serial = serial();
    let Some(disk) = Tmpfs::mount(1 << 20) else {
        eprintln!("cannot mount a tmpfs here (needs root): the full-disk run is not checked");
        return;
    };
    let out = disk.path().join("run");
    fit(&config(), &out, None, Some(1)).unwrap();
    let before = snapshot(&out);
    // Fill the disk but for 16 KiB: a checkpoint of the simple FC net needs ~64 KiB.
    let filler = disk.path().join("filler");
    let free = || {
        let stat = nix_free_bytes(disk.path());
        stat.saturating_sub(16 << 10)
    };
    std::fs::write(&filler, vec![0u8; free() as usize]).unwrap();
    let err = fit(&config(), &out, Some(1), None).err().unwrap();
    let message = err.to_string();
    eprintln!("a full disk: {message}");
    assert!(message.contains("The disk is full"), "{message}");
    assert!(
        message.contains("model-2.bpk"),
        "the file it was writing: {message}"
    );
    let ckpt = checkpoint::checkpoint_dir(&out);
    assert_eq!(checkpoint::latest(&ckpt), Some(1));
    let names: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with(".tmp") && !n.ends_with("-2.bpk")),
        "nothing half-written: {names:?}"
    );
    // Checkpoint 1 and the config are as they were (history.csv took epoch 2's rows, which a
    // resume from epoch 1 leaves aside).
    let after = snapshot(&out);
    for (path, bytes) in &before {
        if !path.ends_with("history.csv") {
            let now = after.iter().find(|(p, _)| p == path);
            assert_eq!(now.map(|(_, b)| b), Some(bytes), "{}", path.display());
        }
    }
    std::fs::remove_file(&filler).unwrap();
    let resumed = fit(&config(), &out, Some(1), None).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let uninterrupted = fit(&config(), fresh.path(), None, None).unwrap();
    let losses = |o: &RunOutcome<Model>| o.history.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&resumed), losses(&uninterrupted), "resumed exactly");
}

/// Free bytes on the file system of `path` (`df`'s available column).
fn nix_free_bytes(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Damages applied to a run's files.
fn damages(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("empty", vec![]),
        ("garbage", b"\x00\x01 not what it should be".to_vec()),
    ]
}

/// `--resume 2` over a damaged `config.json`, `history.csv` (cut, emptied, garbage, or a row
/// missing) or `state-2.json`: an error naming the file, and every file as it was.
#[test]
fn resume_over_damaged_files_names_the_file_and_loses_nothing() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    fit(&config(), out.path(), None, Some(2)).unwrap();
    let files = ["config.json", "history.csv", "checkpoints/state-2.json"];
    for name in files {
        let path = out.path().join(name);
        let good = std::fs::read(&path).unwrap();
        let mut broken = damages(&good);
        if name == "history.csv" {
            // A row gone from the middle; and the last row gone (cut at a line end).
            let text = String::from_utf8(good.clone()).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(3);
            broken.push(("a row missing", (lines.join("\n") + "\n").into_bytes()));
            let lines: Vec<&str> = text.lines().collect();
            let cut = lines[..lines.len() - 1].join("\n") + "\n";
            broken.push(("the last row missing", cut.into_bytes()));
        }
        for (what, bytes) in broken {
            std::fs::write(&path, &bytes).unwrap();
            let before = snapshot(out.path());
            let err = fit(&config(), out.path(), Some(2), None)
                .err()
                .unwrap_or_else(|| panic!("resumed over a {what} {name}"));
            let message = err.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "{what} {name}: {message}"
            );
            assert!(
                message.contains("afresh") || message.contains("another output directory"),
                "{what} {name} says what to do: {message}"
            );
            assert_eq!(
                snapshot(out.path()),
                before,
                "{what} {name}: nothing changed"
            );
        }
        std::fs::write(&path, &good).unwrap();
    }
    let resumed = fit(&config(), out.path(), Some(2), None).unwrap();
    assert_eq!(resumed.history.len(), 3 * 6);
}

/// A suite (what `reproduce` runs) meeting a finished run whose `config.json`, `history.csv` or
/// `summary.json` is damaged: an error naming the file, never a silent re-run over the results.
#[test]
fn a_suite_over_damaged_results_names_the_file_and_keeps_them() {
    let _serial = serial();
    let (train, test) = slice();
    let runs = tempfile::tempdir().unwrap();
    let suite = Suite {
        backend: BackendKind::Flex,
        runs_dir: runs.path().to_path_buf(),
        seed: 42,
        limit_train: Some(300),
        reuse: true,
        quiet: true,
    };
    let preset = Preset {
        stages: mnist_lab::train::parse_stages("2@0.01").unwrap(),
        ..Preset::simple_fc()
    };
    suite.run(&preset, &train, &test).unwrap();
    let dir = suite.run_dir(&preset);
    assert!(suite.run(&preset, &train, &test).unwrap().reused);
    for name in ["config.json", "history.csv", "summary.json"] {
        let path = dir.join(name);
        let good = std::fs::read(&path).unwrap();
        let mut broken = damages(&good);
        if name == "history.csv" {
            let text = String::from_utf8(good.clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let cut = lines[..lines.len() - 6].join("\n") + "\n";
            broken.push(("the last epoch missing", cut.into_bytes()));
        }
        for (what, bytes) in broken {
            std::fs::write(&path, &bytes).unwrap();
            let before = snapshot(&dir);
            let err = suite
                .run(&preset, &train, &test)
                .err()
                .unwrap_or_else(|| panic!("a {what} {name} was not an error"));
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{what} {name}: {err}"
            );
            assert_eq!(snapshot(&dir), before, "{what} {name}: nothing re-run");
        }
        std::fs::write(&path, &good).unwrap();
    }
    assert!(suite.run(&preset, &train, &test).unwrap().reused);
}
