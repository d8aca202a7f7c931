//! The trainer on the committed real slice: determinism, exact resume, a complete summary, and
//! a clean stop on divergence.

mod common;

use std::path::Path;

use mnist_lab::data::{Augmentation, Elastic, ImageBatch, MnistBatcher, MnistDataset, MnistItem};
use mnist_lab::train::RunConfig;
use mnist_lab::train::{
    LrSchedule, OptimizerKind, RunData, RunOutcome, TrainError, Trainer, checkpoint, parse_stages,
};
use mnist_lab::{BackendKind, Model, ModelKind};

use common::{serial, weights};

type Data = RunData<MnistItem, ImageBatch>;

fn data_of(train: MnistDataset, test: MnistDataset) -> Data {
    RunData::new(train, test, MnistBatcher::default())
}

fn data() -> Data {
    let dir = common::slice_dir();
    data_of(
        MnistDataset::train(&dir).unwrap(),
        MnistDataset::test(&dir).unwrap().limit(500),
    )
}

fn config(model: ModelKind, stages: &str) -> RunConfig {
    let mut config = RunConfig::new(model.config(), parse_stages(stages).unwrap());
    config.training = config
        .training
        .with_limit_train(Some(600))
        .with_log_interval(4);
    config
}

/// A quiet trainer on flex writing into `out`.
fn flex_trainer(config: &RunConfig, out: &Path) -> Trainer<ImageBatch> {
    config
        .trainer(BackendKind::Flex.device().unwrap(), out)
        .unwrap()
        .quiet()
}

fn run(config: RunConfig, out: &Path) -> RunOutcome<Model> {
    flex_trainer(&config, out)
        .fit(&config.model, data())
        .unwrap()
}

fn losses(outcome: &RunOutcome<Model>) -> Vec<f32> {
    outcome.history.iter().map(|r| r.loss).collect()
}

#[test]
fn same_seed_same_losses() {
    let _serial = serial();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = run(config(ModelKind::ProvidedCnn, "1@0.01"), a.path());
    let second = run(config(ModelKind::ProvidedCnn, "1@0.01"), b.path());
    assert_eq!(losses(&first).len(), 12);
    assert_eq!(losses(&first), losses(&second));
    let mut seven = config(ModelKind::ProvidedCnn, "1@0.01");
    seven.training.seed = 7;
    let other = run(seven, b.path());
    assert_ne!(losses(&first), losses(&other));
}

#[test]
fn resume_latest_continues_from_the_newest_checkpoint_and_a_complete_run_says_so() {
    let _serial = serial();
    let fc = config(ModelKind::SimpleFc, "2@0.01,1@0.001");
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = run(fc.clone(), whole.path());

    // Nothing to resume from: an error that names the directory, not a fresh start.
    let parts = tempfile::tempdir().unwrap();
    let err = flex_trainer(&fc, parts.path())
        .resume_latest()
        .fit(&fc.model, data())
        .err()
        .expect("no checkpoint to resume");
    assert!(
        matches!(err, TrainError::NoCheckpoint { latest: None, .. }),
        "{err}"
    );

    // Stopped after epoch 2 of 3: `resume_latest` picks epoch 2 and ends where an
    // uninterrupted run ends.
    flex_trainer(&fc, parts.path())
        .stop_after(2)
        .fit(&fc.model, data())
        .unwrap();
    let resumed = flex_trainer(&fc, parts.path())
        .resume_latest()
        .fit(&fc.model, data())
        .unwrap();
    assert_eq!(resumed.summary.resumed_from_epoch, Some(2));
    assert_eq!(losses(&resumed), losses(&uninterrupted));
    assert_eq!(weights(&resumed.model), weights(&uninterrupted.model));

    // Complete: resuming trains nothing, returns the saved summary and leaves it as it was.
    let summary_path = parts.path().join("summary.json");
    let saved = std::fs::read(&summary_path).unwrap();
    let again = flex_trainer(&fc, parts.path())
        .resume_latest()
        .fit(&fc.model, data())
        .unwrap();
    let on_disk: mnist_lab::train::RunSummary = serde_json::from_slice(&saved).unwrap();
    assert_eq!(again.summary, on_disk, "the saved summary, not a new one");
    assert_eq!(again.summary.resumed_from_epoch, Some(2));
    assert_eq!(again.summary.wall_seconds, on_disk.wall_seconds);
    let counts =
        |s: &mnist_lab::train::RunSummary| s.stages.iter().map(|st| st.correct).collect::<Vec<_>>();
    assert_eq!(counts(&again.summary), counts(&resumed.summary));
    assert_eq!(losses(&again), losses(&uninterrupted));
    assert_eq!(weights(&again.model), weights(&uninterrupted.model));
    assert_eq!(
        std::fs::read(&summary_path).unwrap(),
        saved,
        "summary.json untouched"
    );
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let _serial = serial();
    // The complex CNN: batch norm running statistics, dropout and momentum all must resume.
    let stages = "1@0.02,1@0.005";
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = run(config(ModelKind::ComplexCnn, stages), whole.path());

    let parts = tempfile::tempdir().unwrap();
    let complex = config(ModelKind::ComplexCnn, stages);
    let stopped = flex_trainer(&complex, parts.path())
        .stop_after(1)
        .fit(&complex.model, data())
        .unwrap();
    assert_eq!(stopped.summary.stages.len(), 1);
    assert_eq!(
        checkpoint::latest(&checkpoint::checkpoint_dir(parts.path())),
        Some(1)
    );
    let resumed = flex_trainer(&complex, parts.path())
        .resume_from(1)
        .fit(&complex.model, data())
        .unwrap();

    assert_eq!(
        losses(&resumed),
        losses(&uninterrupted),
        "same losses, momentum included"
    );
    assert_eq!(
        weights(&resumed.model),
        weights(&uninterrupted.model),
        "same weights and statistics"
    );
    // Exact counts; accuracies equal up to the JSON round trip of the checkpoint state.
    for (a, b) in resumed
        .summary
        .stages
        .iter()
        .zip(&uninterrupted.summary.stages)
    {
        assert_eq!(
            (a.correct, a.total, &a.confusion),
            (b.correct, b.total, &b.confusion)
        );
        assert!((a.final_loss - b.final_loss).abs() < 1e-9);
        for (x, y) in a.per_class_accuracy.iter().zip(&b.per_class_accuracy) {
            assert!((x - y).abs() < 1e-9);
        }
    }
    assert_eq!(resumed.summary.stages.len(), 2);
    assert_eq!(resumed.summary.resumed_from_epoch, Some(1));
}

#[test]
fn a_run_writes_a_complete_summary_config_history_and_checkpoints() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let outcome = run(config(ModelKind::SimpleCnn, "1@0.05,1@0.01"), out.path());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["model"], "simple_cnn");
    assert_eq!(summary["backend"], "flex");
    assert_eq!(summary["params"], 8490);
    assert_eq!(summary["seed"], 42);
    for key in ["train_images_per_sec", "wall_seconds"] {
        assert!(summary[key].as_f64().unwrap() > 0.0, "{key}");
    }
    let stages = summary["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    for (stage, lr) in stages.iter().zip([0.05, 0.01]) {
        assert_eq!(stage["epochs"], 1);
        assert_eq!(stage["learning_rate"], lr);
        assert_eq!(stage["total"], 500);
        let (correct, accuracy) = (
            stage["correct"].as_u64().unwrap(),
            stage["test_accuracy"].as_f64().unwrap(),
        );
        assert!((accuracy - correct as f64 / 5.0).abs() < 1e-9);
        assert!(stage["final_loss"].as_f64().unwrap() > 0.0);
        assert_eq!(stage["per_class_accuracy"].as_array().unwrap().len(), 10);
    }
    assert!(
        outcome.summary.stages[1].test_accuracy > 60.0,
        "{:?}",
        outcome.summary.stages[1]
    );

    let saved = RunConfig::read(&out.path().join("config.json")).unwrap();
    assert_eq!(
        saved.training.stages,
        parse_stages("1@0.05,1@0.01").unwrap()
    );
    assert_eq!(saved.model.kind(), ModelKind::SimpleCnn);
    let history = std::fs::read_to_string(out.path().join("history.csv")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "step,epoch,loss,lr");
    assert_eq!(lines.len(), 1 + 24);
    assert!(lines[24].starts_with("24,2,"));
    assert_eq!(
        checkpoint::latest(&checkpoint::checkpoint_dir(out.path())),
        Some(2)
    );
}

#[test]
fn divergence_stops_cleanly_and_keeps_the_last_good_checkpoint() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let diverging = config(ModelKind::SimpleCnn, "1@0.01,1@1e300");
    let err = flex_trainer(&diverging, out.path())
        .fit(&diverging.model, data())
        .err()
        .expect("a learning rate of 1e300 (infinite in f32) diverges");
    match &err {
        TrainError::Diverged {
            stage,
            learning_rate,
            last_checkpoint,
            epoch,
            ..
        } => {
            assert_eq!(
                (*stage, *learning_rate, *last_checkpoint, *epoch),
                (2, 1e300, Some(1), 2)
            );
        }
        other => panic!("expected Diverged, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("learning rate 1e300")
            && msg.contains("stage 2")
            && msg.contains("epoch 1 is the last good one"),
        "{msg}"
    );
    let dir = checkpoint::checkpoint_dir(out.path());
    assert_eq!(checkpoint::latest(&dir), Some(1));
    let device = BackendKind::Flex.device().unwrap().autodiff();
    let (_, _, state) = checkpoint::load(
        &dir,
        1,
        ModelKind::SimpleCnn.init(&device),
        mnist_lab::train::sgd(0.9),
    )
    .unwrap();
    assert_eq!(state.epoch, 1);
}

#[test]
fn a_checkpoint_of_another_model_is_a_clear_error() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    run(config(ModelKind::SimpleFc, "1@0.01"), out.path());
    let device = BackendKind::Flex.device().unwrap().autodiff();
    let dir = checkpoint::checkpoint_dir(out.path());
    let err = checkpoint::load(
        &dir,
        1,
        ModelKind::SimpleCnn.init(&device),
        mnist_lab::train::sgd(0.9),
    )
    .err()
    .expect("a simple FC checkpoint does not fit the simple CNN");
    let msg = err.to_string();
    assert!(
        msg.contains("model-1.bpk") && msg.contains("does not fit this network"),
        "{msg}"
    );
}

#[test]
fn invalid_configs_fail_before_any_work() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let mut bad = config(ModelKind::SimpleFc, "1@0.01");
    bad.training.batch_size = 0;
    let err = bad
        .trainer(BackendKind::Flex.device().unwrap(), out.path())
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing written"
    );
    // Network configs burn would panic on: each named, before any work.
    use mnist_lab::model::{ComplexCnnConfig, ModelConfig, ProvidedCnnConfig};
    let provided = ProvidedCnnConfig::new();
    for (model, says) in [
        (
            ModelConfig::ProvidedCnn(provided.clone().with_channels([0, 20])),
            "channels [0, 20] holds a 0",
        ),
        (
            ModelConfig::ProvidedCnn(provided.clone().with_kernel_sizes(Some([25, 5]))),
            "kernels [25, 5] and two poolings leave no pixel of a 28x28 input",
        ),
        (
            ModelConfig::ProvidedCnn(provided.with_dropout(1.0)),
            "dropout 1 is outside [0, 1)",
        ),
        (
            ModelConfig::ComplexCnn(ComplexCnnConfig::new().with_input([1, 3, 28])),
            "two poolings leave no pixel of a 3x28 input",
        ),
    ] {
        let mut bad = config(ModelKind::ProvidedCnn, "1@0.01");
        bad.model = model;
        let err = bad
            .trainer(BackendKind::Flex.device().unwrap(), out.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains(says), "{err}");
    }
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn empty_data_sets_are_errors_not_zero_accuracy() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let dir = common::slice_dir();
    let (train, test) = (
        MnistDataset::train(&dir).unwrap(),
        MnistDataset::test(&dir).unwrap(),
    );
    let fc = config(ModelKind::SimpleFc, "1@0.01");
    let trainer = || flex_trainer(&fc, out.path());
    let err = trainer()
        .fit(&fc.model, data_of(train.clone(), test.limit(0)))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "the test set is empty: the data set passed to `Trainer::fit` holds no items"
    );
    let err = trainer()
        .fit(&fc.model, data_of(train.limit(0), test.clone()))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "the training set is empty: the data set passed to `Trainer::fit` holds no items"
    );
    let mut limited = fc.clone();
    limited.training.limit_train = Some(0);
    let err = flex_trainer(&limited, out.path())
        .fit(&limited.model, data_of(train, test))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("`limit_train` is 0 (`--limit-train 0`): give it at least 1"),
        "{err}"
    );
}

#[test]
fn corrupt_checkpoint_files_are_errors_naming_the_file() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    run(config(ModelKind::SimpleFc, "1@0.01"), out.path());
    let dir = checkpoint::checkpoint_dir(out.path());
    let device = BackendKind::Flex.device().unwrap().autodiff();
    let load = || {
        checkpoint::load(
            &dir,
            1,
            ModelKind::SimpleFc.init(&device),
            mnist_lab::train::sgd(0.9),
        )
    };
    let original: Vec<(String, Vec<u8>)> = ["model-1.bpk", "optim-1.bpk", "state-1.json"]
        .iter()
        .map(|name| (name.to_string(), std::fs::read(dir.join(name)).unwrap()))
        .collect();
    for (name, bytes) in &original {
        for (what, broken) in [
            ("truncated", bytes[..bytes.len() / 2].to_vec()),
            ("empty", vec![]),
            ("garbage", b"not a checkpoint at all".to_vec()),
        ] {
            std::fs::write(dir.join(name), &broken).unwrap();
            let err = load()
                .err()
                .unwrap_or_else(|| panic!("{what} {name} loaded"));
            assert!(
                err.to_string().contains(name.as_str()),
                "{what} {name}: {err}"
            );
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    assert!(load().is_ok());
}

#[test]
fn augmented_runs_repeat_and_resume_exactly() {
    let _serial = serial();
    // Affine and elastic distortions: a resumed run draws the same of both.
    let augmented = || {
        config(ModelKind::SimpleCnn, "1@0.02,1@0.005").with_augmentation(Some(Augmentation {
            elastic: Some(Elastic::SIMARD),
            ..Augmentation::default()
        }))
    };
    let cnn = augmented();
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let first = run(augmented(), a.path());
    let plain = run(config(ModelKind::SimpleCnn, "1@0.02,1@0.005"), b.path());
    assert_ne!(
        losses(&first),
        losses(&plain),
        "distorted images give other losses"
    );
    flex_trainer(&cnn, c.path())
        .stop_after(1)
        .fit(&cnn.model, data())
        .unwrap();
    let resumed = flex_trainer(&cnn, c.path())
        .resume_from(1)
        .fit(&cnn.model, data())
        .unwrap();
    assert_eq!(losses(&resumed), losses(&first));
    assert_eq!(weights(&resumed.model), weights(&first.model));
}

#[test]
fn resuming_with_another_config_is_refused_and_names_the_difference() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let (first, other) = (
        config(ModelKind::SimpleFc, "1@0.01,1@0.001"),
        config(ModelKind::SimpleFc, "1@0.01,1@0.002"),
    );
    flex_trainer(&first, out.path())
        .stop_after(1)
        .fit(&first.model, data())
        .unwrap();
    let saved = std::fs::read(out.path().join("config.json")).unwrap();
    let err = flex_trainer(&other, out.path())
        .resume_from(1)
        .fit(&other.model, data())
        .err()
        .expect("another learning rate cannot resume");
    let msg = err.to_string();
    assert!(matches!(err, TrainError::ResumeMismatch { .. }), "{msg}");
    assert!(
        msg.contains("stages: saved") && msg.contains("0.001") && msg.contains("0.002"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(out.path().join("config.json")).unwrap(),
        saved,
        "the saved config is left as it was"
    );
    // Another network is refused too, naming the model.
    let cnn = config(ModelKind::SimpleCnn, "1@0.01,1@0.001");
    let err = flex_trainer(&cnn, out.path())
        .resume_from(1)
        .fit(&cnn.model, data())
        .err()
        .expect("another network cannot resume");
    assert!(err.to_string().contains("model: saved"), "{err}");
    // The same config resumes.
    flex_trainer(&first, out.path())
        .resume_from(1)
        .fit(&first.model, data())
        .unwrap();
}

#[test]
fn configs_saved_by_earlier_versions_still_load() {
    // config.json as the first release wrote it (results/runs/complex_cnn/ of 2026-11-25).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs");
    let config = RunConfig::read(&fixtures.join("complex_cnn-2026-11-25.json")).unwrap();
    assert_eq!(config.model.kind(), ModelKind::ComplexCnn);
    assert_eq!(config.augmentation, None);
    assert_eq!(
        config.training.stages,
        parse_stages("2@0.01,2@0.001").unwrap()
    );
    assert_eq!(config.training.optimizer.kind(), OptimizerKind::Sgd);
    assert_eq!(config.training.optimizer.momentum(), Some(0.9));
    // The report's MLP, with the flat `mlp_dropout_at_test` and `weight_decay` (results/runs/complex_mlp_lr0.01/, 2026-11-25).
    let mlp = RunConfig::read(&fixtures.join("complex_mlp-2026-11-25.json")).unwrap();
    match &mlp.model {
        mnist_lab::model::ModelConfig::ComplexMlp(c) => assert!(c.dropout_at_test),
        other => panic!("expected the complex MLP, got {other}"),
    }
    assert_eq!(mlp.training.optimizer.weight_decay(), None);
    // Today's format round-trips.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec(&mlp).unwrap()).unwrap();
    let again = RunConfig::read(&path).unwrap();
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&mlp).unwrap()
    );
    std::fs::write(&path, r#"{"model": "complex_cnn"}"#).unwrap();
    let err = RunConfig::read(&path).unwrap_err();
    assert!(
        err.to_string().contains("not a training config") && err.to_string().contains("stages"),
        "{err}"
    );
    std::fs::write(&path, r#"{"model": {"complex_cnn": {"#).unwrap();
    let err = RunConfig::read(&path).unwrap_err();
    assert!(
        err.to_string().contains("config.json") && err.to_string().contains("not valid JSON"),
        "{err}"
    );
    // A network that cannot be built: named with the file, not a panic in `init`.
    let mut zero = serde_json::to_value(&mlp).unwrap();
    zero["model"]["complex_mlp"]["hidden"] = 0.into();
    std::fs::write(&path, serde_json::to_vec(&zero).unwrap()).unwrap();
    let err = RunConfig::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("hidden [0] holds a 0"),
        "{err}"
    );
}

#[test]
fn a_new_run_in_a_used_directory_leaves_no_checkpoints_of_the_old_one() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    run(config(ModelKind::SimpleFc, "3@0.01"), out.path());
    let dir = checkpoint::checkpoint_dir(out.path());
    assert_eq!(checkpoint::latest(&dir), Some(3));
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    run(config(ModelKind::SimpleFc, "1@0.02"), out.path());
    assert_eq!(
        checkpoint::latest(&dir),
        Some(1),
        "epochs 2 and 3 were the old run's"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["model-1.bpk", "notes.txt", "optim-1.bpk", "state-1.json"]
    );
}

#[test]
fn weight_decay_shrinks_the_weights() {
    let _serial = serial();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = run(config(ModelKind::SimpleFc, "2@0.01"), a.path());
    let decayed = run(
        config(ModelKind::SimpleFc, "2@0.01")
            .with_optimizer(OptimizerKind::Sgd.config(0.9, Some(0.5))),
        b.path(),
    );
    let norm = |m: &Model| -> f32 { weights(m).iter().flatten().map(|w| w * w).sum() };
    assert!(
        norm(&decayed.model) < 0.5 * norm(&plain.model),
        "{} vs {}",
        norm(&decayed.model),
        norm(&plain.model)
    );
}

/// The trainer evaluates every epoch; the test passes must change nothing training computes.
/// The complex MLP with dropout kept at test time draws random numbers in every test pass, so a
/// test pass that leaked into the generator would show here: a loop of the same steps with one
/// test pass at the end only must give the same losses, bit for bit, and the same final
/// evaluation.
#[test]
fn evaluating_every_epoch_changes_nothing_training_computes() {
    use std::sync::Arc;

    use burn::data::dataset::{Dataset, transform::PartialDataset};
    use mnist_lab::model::{ComplexMlpConfig, ModelConfig};
    use mnist_lab::train::{self, epoch_seed, evaluate, init_seeded};

    let _serial = serial();
    let mut config = config(ModelKind::ComplexMlp, "2@0.01,1@0.001");
    config.model = ModelConfig::ComplexMlp(ComplexMlpConfig::new().with_dropout_at_test(true));
    let out = tempfile::tempdir().unwrap();
    let outcome = run(config.clone(), out.path());
    assert_eq!(outcome.summary.epochs.len(), 3, "epoch 1 is evaluated too");

    let device = BackendKind::Flex.device().unwrap();
    let train_device = device.clone().autodiff();
    let Data {
        train: full,
        test,
        batcher,
    } = data();
    let train: Arc<dyn Dataset<MnistItem>> = Arc::new(PartialDataset::new(full, 0, 600));
    let mut model = init_seeded(&config.model, config.training.seed, &train_device);
    let mut optim = config.training.optimizer.init();
    let mut losses = vec![];
    for (epoch, lr) in [(1, 0.01), (2, 0.01), (3, 0.001)] {
        let seed = epoch_seed(config.training.seed, epoch);
        train_device.seed(seed);
        let loader = train::loader(
            train.clone(),
            batcher.clone(),
            50,
            Some(seed),
            &train_device,
        );
        for batch in loader.iter() {
            let (next, loss) = train::train_step(model, &mut optim, batch.unwrap(), lr);
            model = next;
            losses.push(loss);
        }
    }
    let test_loader = train::loader(
        test,
        batcher,
        config.training.test_batch_size,
        None,
        &device,
    );
    let eval = evaluate(&model, &*test_loader).unwrap();
    assert_eq!(self::losses(&outcome), losses);
    let last = outcome.summary.stages.last().unwrap();
    assert_eq!(last.test_accuracy, 100.0 * eval.accuracy());
    assert_eq!(last.test_loss, eval.mean_loss);
    assert_eq!(outcome.summary.mistakes, eval.mistakes);
}

#[test]
fn a_one_cycle_run_sets_each_steps_rate_and_resumes_exactly() {
    let _serial = serial();
    let mut cycle = config(ModelKind::ProvidedCnn, "2@0.02");
    cycle.training.schedule = Some(LrSchedule::ONE_CYCLE);
    cycle.training.optimizer = OptimizerKind::Adam.config(0.9, None);
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = run(cycle.clone(), whole.path());
    // 600 images in batches of 50: 12 steps an epoch, one cycle over the stage's 24.
    let rates: Vec<f64> = uninterrupted
        .history
        .iter()
        .map(|r| r.learning_rate)
        .collect();
    let expected: Vec<f64> = (0..24)
        .map(|step| LrSchedule::ONE_CYCLE.learning_rate(0.02, step, 24))
        .collect();
    assert_eq!(rates, expected);
    assert_eq!((rates[0], rates[6]), (0.002, 0.02)); // up over round(0.25 * 24) steps
    assert!(rates[6..].windows(2).all(|w| w[1] < w[0]));

    let parts = tempfile::tempdir().unwrap();
    flex_trainer(&cycle, parts.path())
        .stop_after(1)
        .fit(&cycle.model, data())
        .unwrap();
    let resumed = flex_trainer(&cycle, parts.path())
        .resume_from(1)
        .fit(&cycle.model, data())
        .unwrap();
    assert_eq!(losses(&resumed), losses(&uninterrupted));
    assert_eq!(weights(&resumed.model), weights(&uninterrupted.model));

    // The same run at the constant peak rate computes something else.
    let mut constant = cycle.clone();
    constant.training.schedule = None;
    let flat = run(constant, tempfile::tempdir().unwrap().path());
    assert!(flat.history.iter().all(|r| r.learning_rate == 0.02));
    assert_ne!(losses(&flat), losses(&uninterrupted));
}

#[test]
fn a_validation_run_evaluates_on_held_out_training_items_and_keeps_the_split() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let mut held = config(ModelKind::SimpleFc, "1@0.01,1@0.01");
    held.training.validation = Some(300);
    let outcome = flex_trainer(&held, out.path())
        .stop_after(1)
        .fit(&held.model, data())
        .unwrap();
    // The slice's 2,000 training images: the last 300 evaluated, the first 600 of the rest
    // trained on (`limit_train`).
    let s = &outcome.summary;
    assert_eq!((s.train_images, s.test_images), (600, 300));
    assert_eq!(s.stages[0].total, 300);
    let saved = std::fs::read_to_string(out.path().join("config.json")).unwrap();
    assert!(saved.contains(r#""validation": 300"#), "{saved}");
    // A resume without the split would evaluate on other images: refused, naming it.
    let mut whole = held.clone();
    whole.training.validation = None;
    let err = flex_trainer(&whole, out.path())
        .resume_from(1)
        .fit(&whole.model, data())
        .err()
        .expect("an error")
        .to_string();
    assert!(err.contains("validation: saved 300"), "{err}");
    // Holding out everything is an error before any work.
    let mut all = held.clone();
    all.training.validation = Some(2000);
    let empty = tempfile::tempdir().unwrap();
    let err = flex_trainer(&all, empty.path())
        .fit(&all.model, data())
        .err()
        .expect("an error")
        .to_string();
    assert!(err.contains("from 1 to 1999"), "{err}");
    assert!(!empty.path().join("config.json").exists());
}
