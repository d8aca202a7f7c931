//! Augmentation against exact pixel moves, plots, and the suites (learning-rate sweeps, the whole
//! report) on the committed real slice: reuse, resume, divergence, REPORT.md.

mod common;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use mnist_lab::data::{
    Augmentation, DisplacementField, Distortion, Elastic, IMAGE_SIDE, MnistBatcher, MnistDataset,
    distort, distort_elastic,
};
use mnist_lab::model::ModelConfig;
use mnist_lab::train::checkpoint;
use mnist_lab::{BackendKind, ModelKind};
use mnist_lab_tools::experiment::{Preset, Reproduction, Suite, lr_sweeps};
use mnist_lab_tools::report::ReportContext;
use mnist_lab_tools::report::{LinePlot, Series};

use common::serial;

fn data() -> (MnistDataset, MnistDataset) {
    let dir = common::slice_dir();
    (
        MnistDataset::train(&dir).unwrap(),
        MnistDataset::test(&dir).unwrap().limit(300),
    )
}

/// The first `n` test images of the slice, normalized, as `[n, 28 * 28]` rows.
fn real_images(n: usize) -> Vec<Vec<f32>> {
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    let items: Vec<_> = (0..n)
        .map(|i| burn::data::dataset::Dataset::get(&test, i).unwrap())
        .collect();
    MnistBatcher::default()
        .normalize_all(&items)
        .chunks(IMAGE_SIDE * IMAGE_SIDE)
        .map(<[f32]>::to_vec)
        .collect()
}

/// `image` moved by whole pixels: `out[r][c] = image[r - down][c - right]`, background outside.
fn moved(image: &[f32], right: i64, down: i64, background: f32) -> Vec<f32> {
    let side = IMAGE_SIDE as i64;
    (0..side * side)
        .map(|i| {
            let (r, c) = (i / side - down, i % side - right);
            if (0..side).contains(&r) && (0..side).contains(&c) {
                image[(r * side + c) as usize]
            } else {
                background
            }
        })
        .collect()
}

/// `image` turned a quarter clockwise on screen: `out[r][c] = image[side - 1 - c][r]`.
fn quarter_turn(image: &[f32]) -> Vec<f32> {
    let side = IMAGE_SIDE;
    (0..side * side)
        .map(|i| image[(side - 1 - i % side) * side + i / side])
        .collect()
}

#[test]
fn distortions_move_real_pixels_exactly_on_every_backend() {
    let images = real_images(3);
    let background = MnistBatcher::default().normalize(0);
    let distortions = [
        Distortion::IDENTITY,
        Distortion {
            shift: [3.0, -2.0],
            ..Distortion::IDENTITY
        },
        Distortion {
            rotation_degrees: 90.0,
            ..Distortion::IDENTITY
        },
    ];
    let expected = [
        images[0].clone(),
        moved(&images[1], 3, -2, background),
        quarter_turn(&images[2]),
    ];
    for (kind, device) in common::compiled_devices() {
        let flat: Vec<f32> = images.concat();
        let batch = Tensor::<4>::from_data(
            TensorData::new(flat, [3, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &device,
        );
        let out = distort(batch, &distortions, background)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (i, (got, want)) in out
            .chunks(IMAGE_SIDE * IMAGE_SIDE)
            .zip(&expected)
            .enumerate()
        {
            let diff = common::max_abs_diff(got, want);
            assert!(diff < 1e-4, "{kind}, image {i}: max diff {diff}");
        }
    }
}

/// `image` with each pixel taken from a whole-pixel offset of its own:
/// `out[r][c] = image[r + down(r, c)][c + right(r, c)]`, background outside.
fn displaced(
    image: &[f32],
    offset: impl Fn(usize, usize) -> [i64; 2],
    background: f32,
) -> Vec<f32> {
    let side = IMAGE_SIDE;
    (0..side * side)
        .map(|i| {
            let [right, down] = offset(i / side, i % side);
            let (r, c) = ((i / side) as i64 + down, (i % side) as i64 + right);
            if (0..side as i64).contains(&r) && (0..side as i64).contains(&c) {
                image[r as usize * side + c as usize]
            } else {
                background
            }
        })
        .collect()
}

#[test]
fn elastic_fields_move_real_pixels_exactly_on_every_backend() {
    let images = real_images(4);
    let background = MnistBatcher::default().normalize(0);
    let side = IMAGE_SIDE;
    let uniform = |offset: [f32; 2]| DisplacementField::new(side, vec![offset; side * side]);
    // The bottom-right quarter samples one pixel up and to the left, the rest stays.
    let quarter = |r: usize, c: usize| {
        let moved = i64::from(r >= 14 && c >= 14);
        [-moved, -moved]
    };
    let quarter_field = DisplacementField::new(
        side,
        (0..side * side)
            .map(|i| quarter(i / side, i % side).map(|v| v as f32))
            .collect(),
    );
    let fields = [
        DisplacementField::zeros(side),
        uniform([-2.0, 1.0]).unwrap(),
        quarter_field.unwrap(),
        // With an affine shift of 3 to the right: 1 to the right in all.
        uniform([2.0, 0.0]).unwrap(),
    ];
    let distortions = [
        Distortion::IDENTITY,
        Distortion::IDENTITY,
        Distortion::IDENTITY,
        Distortion {
            shift: [3.0, 0.0],
            ..Distortion::IDENTITY
        },
    ];
    let expected = [
        images[0].clone(),
        displaced(&images[1], |_, _| [-2, 1], background),
        displaced(&images[2], quarter, background),
        moved(&images[3], 1, 0, background),
    ];
    for (kind, device) in common::compiled_devices() {
        let batch = Tensor::<4>::from_data(
            TensorData::new(images.concat(), [4, 1, side, side]),
            &device,
        );
        let out = distort_elastic(batch, &distortions, &fields, background)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (i, (got, want)) in out.chunks(side * side).zip(&expected).enumerate() {
            let diff = common::max_abs_diff(got, want);
            assert!(diff < 1e-4, "{kind}, image {i}: max diff {diff}");
        }
    }
    assert!(DisplacementField::new(side, vec![[0.0, 0.0]; 10]).is_none());
}

/// Simard et al.'s setting moves real digits by about a pixel and a half, the same way for the
/// same seed, and leaves their ink where it was on the whole (a smooth field, not noise).
#[test]
fn elastic_augmentation_distorts_real_digits_moderately_and_repeatably() {
    use rand::SeedableRng;
    let images = real_images(16);
    let background = MnistBatcher::default().normalize(0);
    let device = mnist_lab::BackendKind::Flex.device().unwrap();
    let elastic = Augmentation {
        elastic: Some(Elastic::SIMARD),
        ..Augmentation::NONE
    };
    let apply = |seed| {
        let batch = Tensor::<4>::from_data(
            TensorData::new(images.concat(), [16, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &device,
        );
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        elastic
            .apply(batch, &mut rng, background)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (apply(5), apply(5));
    assert_eq!(a, b);
    assert_ne!(a, apply(6));
    // Each image changed, by less than moving it 4 pixels would change it (the field's
    // standard deviation is ~1.4 pixels): a distortion, not another picture.
    let change = |x: &[f32], y: &[f32]| {
        x.iter().zip(y).map(|(x, y)| (x - y).abs()).sum::<f32>() / x.len() as f32
    };
    for (i, (got, was)) in a.chunks(IMAGE_SIDE * IMAGE_SIDE).zip(&images).enumerate() {
        let (elastic, shifted) = (change(got, was), change(&moved(was, 4, 0, background), was));
        assert!(
            elastic > 0.0 && elastic < shifted,
            "image {i}: mean change {elastic}, a 4-pixel shift's {shifted}"
        );
    }
}

#[test]
fn plots_are_written_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let plot = LinePlot {
        title: "Loss by learning rate".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        series: vec![
            Series {
                label: "lr 0.01".into(),
                points: (0..50)
                    .map(|i| (i as f64 / 10.0, 2.3 / (1.0 + i as f64)))
                    .collect(),
            },
            Series {
                label: "lr 0.001".into(),
                points: (0..50)
                    .map(|i| (i as f64 / 10.0, 2.3 - i as f64 / 40.0))
                    .collect(),
            },
        ],
    };
    let [png_path, svg_path] = plot.save(&dir.path().join("plots"), "lr").unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(
        (info.width, info.height),
        mnist_lab_tools::report::plot::PLOT_SIZE
    );
    // The first series' colour (Tableau blue) is drawn, and so is dark text.
    let rgb: Vec<&[u8]> = pixels.chunks(3).collect();
    assert!(rgb.iter().any(|p| *p == [31, 119, 180]));
    assert!(rgb.iter().filter(|p| p.iter().all(|&v| v < 60)).count() > 500);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Loss by learning rate"));
    assert!(svg.contains("lr 0.001"));
    let names: Vec<_> = std::fs::read_dir(dir.path().join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

fn suite(runs: &Path) -> Suite {
    Suite {
        backend: BackendKind::Flex,
        runs_dir: runs.to_path_buf(),
        seed: 42,
        limit_train: Some(300),
        reuse: true,
        quiet: true,
    }
}

#[test]
fn a_suite_reuses_finished_runs_and_resumes_interrupted_ones() {
    let _serial = serial();
    let (train, test) = data();
    let preset = Preset::simple_fc().at_learning_rate(0.01);
    let runs = tempfile::tempdir().unwrap();
    let suite = suite(runs.path());

    // Interrupted after epoch 2 of 5, as if the machine had gone down.
    let config = suite.config(&preset);
    config
        .trainer(BackendKind::Flex.device().unwrap(), &suite.run_dir(&preset))
        .unwrap()
        .quiet()
        .stop_after(2)
        .fit(
            &config.model,
            common::mnist_data(train.clone(), test.clone()),
        )
        .unwrap();
    let resumed = suite.run(&preset, &train, &test).unwrap();
    assert!(!resumed.reused);
    assert_eq!(
        resumed.summary.as_ref().unwrap().resumed_from_epoch,
        Some(2)
    );
    assert_eq!(resumed.history.len(), 5 * 6, "5 epochs of 6 batches");

    let fresh_runs = tempfile::tempdir().unwrap();
    let fresh = mnist_lab_tools::experiment::Suite {
        runs_dir: fresh_runs.path().to_path_buf(),
        ..suite.clone()
    }
    .run(&preset, &train, &test)
    .unwrap();
    let losses = |r: &mnist_lab_tools::experiment::RunRecord| -> Vec<f32> {
        r.history.iter().map(|h| h.loss).collect()
    };
    assert_eq!(losses(&resumed), losses(&fresh));
    assert_eq!(
        resumed.summary.as_ref().unwrap().stages[0].correct,
        fresh.summary.as_ref().unwrap().stages[0].correct
    );

    // Run again: nothing is trained, the same results come back.
    let summary_file = std::fs::read(suite.run_dir(&preset).join("summary.json")).unwrap();
    let again = suite.run(&preset, &train, &test).unwrap();
    assert!(again.reused);
    // What the file says (serde_json's float printing may differ from the value in memory in the
    // last digit, so compare with the file, and the counts with the run).
    let from_file: mnist_lab::train::RunSummary = serde_json::from_slice(&summary_file).unwrap();
    assert_eq!(again.summary.as_ref(), Some(&from_file));
    assert_eq!(
        again.summary.as_ref().unwrap().stages[0].confusion,
        resumed.summary.as_ref().unwrap().stages[0].confusion
    );
    assert_eq!(losses(&again), losses(&resumed));
    assert_eq!(
        std::fs::read(suite.run_dir(&preset).join("summary.json")).unwrap(),
        summary_file
    );

    // Another seed is another config: trained afresh, not reused.
    let other = Suite {
        seed: 7,
        ..suite.clone()
    }
    .run(&preset, &train, &test)
    .unwrap();
    assert!(!other.reused);
    assert_ne!(losses(&other), losses(&resumed));
    // And --rerun trains even the same config again.
    let rerun = Suite {
        reuse: false,
        ..suite.clone()
    }
    .run(&preset, &train, &test)
    .unwrap();
    assert!(!rerun.reused);
    assert_eq!(rerun.summary.as_ref().unwrap().resumed_from_epoch, None);
    assert_eq!(losses(&rerun), losses(&fresh));
    assert_eq!(
        checkpoint::latest(&checkpoint::checkpoint_dir(&suite.run_dir(&preset))),
        Some(5)
    );
}

#[test]
fn a_diverging_run_is_recorded_with_its_losses_and_the_sweep_goes_on() {
    let _serial = serial();
    let (train, test) = data();
    let runs = tempfile::tempdir().unwrap();
    let suite = suite(runs.path());
    let diverging = Preset::simple_cnn().at_learning_rate(1e300);
    let record = suite.run(&diverging, &train, &test).unwrap();
    assert!(record.summary.is_none());
    let failure = record.failure.as_deref().unwrap();
    assert!(
        failure.contains("diverged") && failure.contains("1e300"),
        "{failure}"
    );
    assert!(
        !record.history.is_empty(),
        "the losses up to the divergence are kept"
    );
    let plot = mnist_lab_tools::experiment::suite::lr_plot("simple_cnn", &[record]);
    assert_eq!(plot.series[0].label, "lr 1e300 (diverged)");
}

#[test]
fn the_sweeps_are_the_reports() {
    let sweeps = lr_sweeps();
    let summary: Vec<(ModelKind, Vec<f64>)> = sweeps
        .iter()
        .map(|s| {
            (
                s.presets[0].model.kind(),
                s.presets
                    .iter()
                    .map(|p| p.stages[0].learning_rate)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (ModelKind::SimpleFc, vec![1e-2, 1e-3, 1e-4]),
            (ModelKind::ComplexMlp, vec![1e-2, 1e-3, 1e-4]),
            (ModelKind::SimpleCnn, vec![1e-1, 1e-2]),
        ]
    );
    assert!(
        sweeps[1]
            .presets
            .iter()
            .all(|p| matches!(&p.model, ModelConfig::ComplexMlp(c) if c.dropout_at_test))
    );
    assert!(
        sweeps
            .iter()
            .flat_map(|s| &s.presets)
            .all(|p| p.stages[0].epochs == 5)
    );
}

#[test]
fn reproduce_writes_the_report_with_every_experiment_and_plot() {
    let _serial = serial();
    let (train, test) = data();
    let runs = tempfile::tempdir().unwrap();
    let report_dir = tempfile::tempdir().unwrap();
    let reproduction = Reproduction {
        suite: Suite {
            limit_train: Some(100),
            ..suite(runs.path())
        },
        report_dir: report_dir.path().to_path_buf(),
        with_improved: false,
    };
    let context = ReportContext::current("reproduce --test".into(), common::slice_dir());
    let done = reproduction.run(&train, &test, &context).unwrap();
    assert_eq!(done.experiments.len(), 7);
    let report = std::fs::read_to_string(&done.report_path).unwrap();
    for name in [
        "simple_fc",
        "simple_cnn",
        "provided_cnn",
        "complex_cnn",
        "complex_mlp_lr0.01",
        "complex_mlp_lr0.0001",
    ] {
        assert!(
            report.contains(&format!("| {name} |")),
            "{name} missing:\n{report}"
        );
    }
    assert!(report.contains("**the first 100 training images only**"));
    assert!(report.contains("| 99.02 / 99.32 |"), "the report's figures");
    for plot in [
        "fc_vs_cnn_loss",
        "lr_simple_fc",
        "lr_complex_mlp",
        "lr_simple_cnn",
    ] {
        assert!(report.contains(&format!("plots/{plot}.png")));
        for ext in ["png", "svg"] {
            let path = report_dir.path().join(format!("plots/{plot}.{ext}"));
            assert!(
                std::fs::metadata(&path).unwrap().len() > 1000,
                "{}",
                path.display()
            );
        }
    }
    let saved = report_dir.path().join("runs/provided_cnn/summary.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    assert_eq!(saved["stages"].as_array().unwrap().len(), 3);
    assert!(
        report_dir
            .path()
            .join("runs/simple_cnn_lr0.1/config.json")
            .exists()
    );
    // Each experiment's pictures, beside its summary and linked from the report.
    for name in ["simple_fc", "complex_cnn", "complex_mlp_lr0.01"] {
        for stem in ["confusion", "mistakes", "loss", "accuracy", "layers"] {
            let png = format!("runs/{name}/{stem}.png");
            assert!(report_dir.path().join(&png).is_file(), "{png}");
            assert!(report.contains(&format!("]({png})")), "{png} not linked");
        }
    }
    let maps = "runs/complex_cnn/feature_maps.png";
    assert!(report.contains(maps) && report_dir.path().join(maps).is_file());
    assert!(!report.contains("runs/simple_fc/feature_maps.png"));
    // No path of this machine: not the runs', the data's, nor the checkout's.
    for path in [
        runs.path(),
        report_dir.path(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    ] {
        let path = path.to_str().unwrap();
        assert!(!report.contains(path), "{path} in the report:\n{report}");
    }
    assert!(
        !report.contains("../shared"),
        "cites a file a clone does not have"
    );
    assert!(report.contains("measured 2026-11-25 on a 2-core AMD EPYC (Zen 4"));
    // Our accuracies in the table are the runs' own.
    let fc = &done.experiments[0];
    let acc = fc.summary.as_ref().unwrap().stages[0].test_accuracy;
    assert!(
        report.contains(&format!("| simple_fc | 5@0.001 | **{acc:.2}** |")),
        "{report}"
    );
    // The learning-rate sweeps reuse the report's MLP runs (same config, same directory).
    let mlp_sweep = &done.sweeps[1].1;
    assert!(mlp_sweep.iter().all(|r| r.reused));
    // ...but they were trained by this invocation: nothing is reported as reused from before.
    assert!(!report.contains("Reused finished runs"), "{report}");
    // A second invocation reuses everything, and lists each run once.
    let again = reproduction.run(&train, &test, &context).unwrap();
    let report = std::fs::read_to_string(&again.report_path).unwrap();
    let line = report
        .lines()
        .find(|l| l.starts_with("Reused finished runs"))
        .unwrap();
    assert_eq!(line.matches("complex_mlp_lr0.01,").count(), 1, "{line}");
    assert!(line.ends_with(" simple_cnn_lr0.01."), "{line}");
}

#[test]
fn throughput_prints_one_line_in_the_pytorch_twins_format() {
    use mnist_lab_tools::experiment::throughput::{ThroughputPlan, measure};
    let _serial = serial();
    let data = MnistDataset::train(&common::slice_dir()).unwrap();
    let plan = ThroughputPlan {
        warmup_batches: 1,
        windows: 1,
        window_batches: 2,
        latency_samples: 5,
    };
    let t = measure(ModelKind::SimpleFc, BackendKind::Flex, &data, plan).unwrap();
    assert!(t.train_images_per_sec > 0.0 && t.infer_images_per_sec > 0.0);
    assert!(0.0 < t.latency_p50_ms && t.latency_p50_ms <= t.latency_p99_ms);
    assert!(
        t.peak_rss_mb.is_some_and(|mb| mb > 1.0),
        "Linux reports VmHWM"
    );
    let line = t.to_string();
    let keys: Vec<&str> = line
        .split_whitespace()
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "model",
            "backend",
            "threads",
            "conv",
            "algorithm",
            "pool",
            "norm",
            "dropout",
            "linear",
            "sgd",
            "train_img_s",
            "infer_img_s",
            "latency_p50_ms",
            "latency_p99_ms",
            "peak_rss_mb"
        ]
    );
    assert!(
        line.starts_with("model=simple_fc backend=flex threads="),
        "{line}"
    );
}
