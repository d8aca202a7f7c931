//! Every class of error a user can reach from the training examples, as the examples print it:
//! each says what is wrong (naming the flag or file) and how to fix it, in a few lines. The
//! examples run `TrainArgs::parse_args` and `run_preset`; these tests call the same two with a
//! command line. (The offline download error is `data_pipeline.rs`'s; damaged run files are
//! `faults.rs`'s.)

mod common;

use std::path::Path;

use mnist_lab::data::idx;
use mnist_lab_tools::cli::TrainArgs;
use mnist_lab_tools::cli::run_preset;
use mnist_lab_tools::experiment::Preset;

use common::serial;

/// What the example prints after `error: ` for `args` (after the program name), on the committed
/// slice unless `args` names another `--data-dir`.
fn example_error(args: &[&str]) -> String {
    let slice = common::slice_dir();
    let mut line = vec!["simple_fc"];
    let given = |flag: &str| args.iter().any(|a| a.starts_with(flag));
    if !given("--limit-train") {
        line.extend(["--limit-train", "100"]);
    }
    if !given("--epoch") && !given("--stages") {
        line.extend(["--epochs", "1"]);
    }
    if !given("--data-dir") {
        line.extend(["--data-dir", slice.to_str().unwrap()]);
    }
    line.extend(args);
    let args = match TrainArgs::try_parse_from(&line) {
        Ok(args) => args,
        Err(e) => return e.to_string(),
    };
    match run_preset(&Preset::simple_fc(), &args) {
        Ok(_) => panic!("{line:?} ran"),
        Err(e) => e.to_string(),
    }
}

/// A message names `what` (each), says how to fix it (one of `fixes`), and is at most five
/// lines (not counting blank ones).
fn assert_helpful(message: &str, what: &[&str], fixes: &[&str]) {
    for w in what {
        assert!(message.contains(w), "does not name {w:?}: {message}");
    }
    assert!(
        fixes.iter().any(|f| message.contains(f)),
        "says none of {fixes:?}: {message}"
    );
    let lines = message.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 5, "{lines} lines: {message}");
    assert!(
        message.len() < 700,
        "{} characters: {message}",
        message.len()
    );
}

#[test]
fn bad_flags_name_the_flag_and_the_valid_values() {
    let m = example_error(&["--epochs", "two"]);
    assert_helpful(&m, &["'two'", "--epochs"], &["--help"]);
    let m = example_error(&["--epoch", "2"]);
    assert_helpful(&m, &["--epoch"], &["similar argument exists: '--epochs'"]);
    let m = example_error(&["--backend", "cuda"]);
    assert_helpful(&m, &["cuda"], &["expected one of flex, ndarray, wgpu"]);
    let m = example_error(&["--optimizer", "lion"]);
    assert_helpful(&m, &["lion"], &["sgd", "adam"]);
    let m = example_error(&["--stages", "2@fast"]);
    assert_helpful(&m, &["2@fast"], &["write stages like `2@0.01,2@0.001`"]);
    let m = example_error(&["--schedule", "cosine"]);
    assert_helpful(&m, &["cosine", "--schedule"], &["constant or one-cycle"]);
}

#[test]
fn settings_that_cannot_train_are_refused_before_work() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("run");
    let at = |extra: &[&str]| {
        let mut args = vec!["--out", out.to_str().unwrap()];
        args.extend(extra);
        example_error(&args)
    };
    let m = at(&["--lr=-0.1"]);
    assert_helpful(&m, &["-0.1"], &["a finite number above 0 (e.g. 0.01)"]);
    let m = at(&["--batch-size", "0"]);
    assert_helpful(&m, &["batch"], &["at least 1", "positive", "> 0"]);
    let m = at(&["--limit-train", "0"]);
    assert_helpful(&m, &["--limit-train 0"], &["give it at least 1"]);
    // The slice holds 2,000 training images.
    for n in ["0", "2000"] {
        let m = at(&["--validation", n]);
        assert_helpful(
            &m,
            &[&format!("--validation {n}"), "2000"],
            &["from 1 to 1999"],
        );
    }
    assert!(!out.join("checkpoints").exists(), "nothing trained");
}

#[test]
fn missing_and_empty_data_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = example_error(&["--data-dir", dir.path().to_str().unwrap()]);
    assert_helpful(
        &m,
        &[&dir.path().display().to_string(), "train-images-idx3-ubyte"],
        &["Point --data-dir or MNIST_DIR"],
    );
    // The four files, the training images holding none.
    let slice = common::slice_dir();
    for name in std::fs::read_dir(&slice).unwrap() {
        let name = name.unwrap().file_name();
        std::fs::copy(slice.join(&name), dir.path().join(&name)).unwrap();
    }
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    let empty = idx::IdxImages {
        count: 0,
        rows: 28,
        cols: 28,
        pixels: vec![],
    };
    idx::write_images(&images, &empty, true).unwrap();
    idx::write_labels(&dir.path().join("train-labels-idx1-ubyte.gz"), &[], true).unwrap();
    let m = example_error(&["--data-dir", dir.path().to_str().unwrap()]);
    assert_helpful(
        &m,
        &[&images.display().to_string(), "holds 0 images"],
        &["Use the complete file"],
    );
}

#[test]
fn resume_without_a_checkpoint_says_which_there_are() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let m = example_error(&["--out", out_arg, "--resume", "3"]);
    assert_helpful(
        &m,
        &["epoch 3", "holds none"],
        &["Train afresh without --resume"],
    );
    // After a run of 1 epoch: the latest is 1.
    let slice = common::slice_dir();
    let args = TrainArgs::try_parse_from([
        "simple_fc",
        "--limit-train",
        "100",
        "--epochs",
        "1",
        "--data-dir",
        slice.to_str().unwrap(),
        "--out",
        out_arg,
    ])
    .unwrap();
    run_preset(&Preset::simple_fc(), &args).unwrap();
    let m = example_error(&["--out", out_arg, "--resume", "3"]);
    assert_helpful(
        &m,
        &["epoch 3", "the latest is epoch 1"],
        &["Pass --resume 1"],
    );
    // A damaged checkpoint names its file.
    let weights = out.path().join("checkpoints/model-1.bpk");
    std::fs::write(&weights, b"not weights").unwrap();
    let m = example_error(&["--out", out_arg, "--resume", "1"]);
    assert_helpful(
        &m,
        &[&weights.display().to_string(), "damaged"],
        &["start afresh without --resume"],
    );
}

#[test]
fn an_unusable_out_directory_says_so() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under_a_file = file.join("run");
    let m = example_error(&["--out", under_a_file.to_str().unwrap()]);
    assert_helpful(
        &m,
        &[
            &under_a_file.display().to_string(),
            "cannot create the output directory",
        ],
        &["pass --out with a directory you can write"],
    );
    // Held by another run.
    let busy = dir.path().join("busy");
    let _held = mnist_lab::DirLock::acquire(&busy).unwrap();
    let m = example_error(&["--out", busy.to_str().unwrap()]);
    assert_helpful(
        &m,
        &[
            &busy.display().to_string(),
            "in use by another run (process",
        ],
        &["pass another --out"],
    );
}

#[test]
fn weights_files_that_do_not_fit_name_the_file() {
    use mnist_lab::ModelKind;
    let device = burn::tensor::Device::flex();
    let pytorch = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pytorch");
    let load = |kind: ModelKind, path: &Path| match mnist_lab::interop::load_into(
        kind.init(&device),
        path,
    ) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    };
    let missing = pytorch.join("missing.pt");
    let m = load(ModelKind::SimpleFc, &missing);
    assert_helpful(
        &m,
        &["missing.pt", "no such file"],
        &["torch.save(model.state_dict()"],
    );
    let fc = pytorch.join("simple_fc.pt");
    let m = load(ModelKind::SimpleCnn, &fc);
    assert_helpful(
        &m,
        &[
            "simple_fc.pt",
            "does not hold weights of the simple_cnn network",
        ],
        &["Check --model"],
    );
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"\x80\x02 not a pickle").unwrap();
    let m = load(ModelKind::SimpleFc, garbage.path());
    assert_helpful(
        &m,
        &[&garbage.path().display().to_string()],
        &["torch.save", "state_dict", "safetensors"],
    );
}
