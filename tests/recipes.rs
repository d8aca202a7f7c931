//! One recipe, one place: each example that trains one of the report's recipes runs the preset
//! that `reproduce` runs, and the command line's overrides keep what they do not name or refuse.

use burn::optim::AdamConfig;
use mnist_lab::data::{Augmentation, Elastic};
use mnist_lab::train::{OptimizerConfig, OptimizerKind, Resume, format_stages};
use mnist_lab_tools::cli::TrainArgs;
use mnist_lab_tools::experiment::{OverrideError, Preset, Reproduction};

fn args(flags: &[&str]) -> TrainArgs {
    TrainArgs::try_parse_from(std::iter::once("example").chain(flags.iter().copied())).unwrap()
}

/// The example files and the preset each must run.
const EXAMPLES: [(&str, &str); 7] = [
    ("simple_fc", "Preset::simple_fc()"),
    ("simple_cnn", "Preset::simple_cnn()"),
    ("provided_cnn", "Preset::provided_cnn()"),
    ("complex_cnn", "Preset::complex_cnn()"),
    ("complex_mlp", "Preset::complex_mlp("),
    ("complex_cnn_improved", "Preset::complex_cnn_improved()"),
    // The main job of `bench/gpu.sh`'s binary.
    ("gpu_bench", "Preset::complex_cnn()"),
];

/// Asserts that the source of `examples/<name>.rs` builds no part of a recipe itself: a struct
/// literal or a `with_` call on a preset would be a second definition.
fn assert_defines_no_recipe(name: &str, source: &str) {
    for second in [
        "Preset {",
        "Config::new()",
        "parse_stages(",
        "TrainingStage::new(",
    ] {
        assert!(
            !source.contains(second),
            "examples/{name}.rs redefines part of its recipe: {second}"
        );
    }
}

#[test]
fn each_example_runs_the_preset_reproduce_runs_and_defines_no_recipe_of_its_own() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for (name, call) in EXAMPLES {
        let source = std::fs::read_to_string(format!("{dir}/{name}.rs")).unwrap();
        assert!(
            source.contains(call),
            "examples/{name}.rs does not call {call}"
        );
        assert_defines_no_recipe(name, &source);
    }
    // `reproduce` runs the same constructors (with `--improved`, the improved recipe too).
    let names: Vec<String> = Reproduction::presets(true)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    for name in [
        "simple_fc",
        "simple_cnn",
        "provided_cnn",
        "complex_cnn",
        "complex_cnn_improved",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "reproduce does not run {name}: {names:?}"
        );
    }
    let complex = Preset::complex_cnn();
    assert_eq!(format_stages(&complex.stages), "2@0.01,2@0.001");
    assert_eq!(
        complex.model.to_string(),
        Preset::complex_cnn().model.to_string()
    );
}

#[test]
fn no_override_is_the_recipe_itself() {
    for preset in [
        Preset::complex_cnn(),
        Preset::speedrun(),
        Preset::complex_cnn_improved(),
    ] {
        let config = args(&[]).config(&preset).unwrap();
        let json = |c: &mnist_lab::train::RunConfig| serde_json::to_value(c).unwrap();
        assert_eq!(json(&config), json(&preset.config()), "{}", preset.name);
    }
}

#[test]
fn switching_the_optimizer_keeps_the_settings_that_still_apply() {
    let speedrun = Preset::speedrun();
    // The speedrun's Adam has betas (0.7, 0.9): --optimizer adam changes nothing, adamw keeps them.
    let adam = args(&["--optimizer", "adam"]).config(&speedrun).unwrap();
    assert_eq!(
        adam.training.optimizer.adam_moments(),
        Some((0.7, 0.9, 1e-5))
    );
    let adamw = args(&["--optimizer", "adamw"]).config(&speedrun).unwrap();
    assert_eq!(adamw.training.optimizer.kind(), OptimizerKind::AdamW);
    assert_eq!(
        adamw.training.optimizer.adam_moments(),
        Some((0.7, 0.9, 1e-5))
    );
    // Nor does it drop the batch size, the schedule or the stages.
    assert_eq!(adamw.training.batch_size, 128);
    assert_eq!(adamw.training.schedule, speedrun.schedule);
    assert_eq!(adamw.training.stages, speedrun.stages);
    // SGD gets the report's momentum; the improved recipe's weight decay carries over to Adam.
    let sgd = args(&["--optimizer", "sgd"]).config(&speedrun).unwrap();
    assert_eq!(sgd.training.optimizer.momentum(), Some(0.9));
    let improved = args(&["--optimizer", "adam"])
        .config(&Preset::complex_cnn_improved())
        .unwrap();
    assert_eq!(
        improved.training.optimizer.weight_decay(),
        Some(5e-4_f32 as f64)
    );
    assert!(improved.augmentation.is_some());
    // And the library's own switch: Adam -> AdamW -> Adam comes back to the same betas.
    let back = OptimizerConfig::Adam(AdamConfig::new().with_beta_1(0.7))
        .switched_to(OptimizerKind::AdamW)
        .switched_to(OptimizerKind::Adam);
    assert_eq!(back.adam_moments(), Some((0.7, 0.999, 1e-5)));
}

#[test]
fn epochs_or_lr_on_a_recipe_of_several_stages_is_refused_with_the_stages_to_give() {
    let complex = Preset::complex_cnn();
    let err = args(&["--epochs", "3"]).config(&complex).unwrap_err();
    assert!(matches!(err, OverrideError::SeveralStages { .. }));
    let message = err.to_string();
    assert!(message.contains("--epochs 3"), "{message}");
    assert!(message.contains("2@0.01,2@0.001"), "{message}");
    assert!(message.contains("--stages 3@0.01,3@0.001"), "{message}");
    let message = args(&["--lr", "0.05"])
        .config(&complex)
        .unwrap_err()
        .to_string();
    assert!(message.contains("--stages 2@0.05,2@0.001"), "{message}");
    // A one-stage recipe takes them as they are; --stages replaces any recipe's stages.
    let fc = args(&["--epochs", "3", "--lr", "0.01"])
        .config(&Preset::simple_fc())
        .unwrap();
    assert_eq!(format_stages(&fc.training.stages), "3@0.01");
    let staged = args(&["--stages", "1@0.02,1@0.002"])
        .config(&complex)
        .unwrap();
    assert_eq!(format_stages(&staged.training.stages), "1@0.02,1@0.002");
    // --stages with --epochs is a contradiction clap refuses.
    let both = TrainArgs::try_parse_from(["example", "--stages", "1@0.1", "--epochs", "2"]);
    assert!(both.is_err());
}

#[test]
fn the_other_overrides_change_only_what_they_name() {
    let complex = Preset::complex_cnn();
    let base = serde_json::to_value(complex.config()).unwrap();
    for (flags, key) in [
        (&["--batch-size", "64"][..], "batch_size"),
        (&["--seed", "7"][..], "seed"),
        (&["--limit-train", "100"][..], "limit_train"),
        (&["--validation", "500"][..], "validation"),
        (&["--schedule", "one-cycle"][..], "schedule"),
        (&["--weight-decay", "0.001"][..], "optimizer"),
        (&["--augment"][..], "augmentation"),
        (&["--elastic"][..], "augmentation"),
    ] {
        let changed = serde_json::to_value(args(flags).config(&complex).unwrap()).unwrap();
        let (a, b) = (base.as_object().unwrap(), changed.as_object().unwrap());
        let differing: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
        assert_eq!(differing, [key], "{flags:?}");
    }
}

#[test]
fn elastic_distortions_come_on_top_of_the_affine_ones() {
    let augmentation =
        |flags: &[&str], preset: &Preset| args(flags).config(preset).unwrap().augmentation.unwrap();
    let complex = Preset::complex_cnn();
    assert_eq!(
        augmentation(&["--elastic"], &complex),
        Augmentation {
            elastic: Some(Elastic::SIMARD),
            ..Augmentation::NONE
        }
    );
    assert_eq!(
        augmentation(&["--elastic", "6,36", "--augment"], &complex),
        Augmentation {
            elastic: Some(Elastic {
                sigma: 6.0,
                alpha: 36.0
            }),
            ..Augmentation::default()
        }
    );
    // The improved recipe keeps its own affine bounds.
    let improved = Preset::complex_cnn_improved();
    assert_eq!(
        augmentation(&["--elastic"], &improved),
        Augmentation {
            elastic: Some(Elastic::SIMARD),
            ..improved.augmentation.unwrap()
        }
    );
    let err = TrainArgs::try_parse_from(["example", "--elastic", "0,34"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("elastic sigma 0 is not within"), "{err}");
}

#[test]
fn resume_without_an_epoch_means_the_newest_checkpoint() {
    assert_eq!(args(&[]).resume(), None);
    assert_eq!(args(&["--resume"]).resume(), Some(Resume::Latest));
    assert_eq!(args(&["--resume", "3"]).resume(), Some(Resume::Epoch(3)));
}

#[test]
fn each_benchmark_row_is_one_recipe_and_the_example_defines_none() {
    use mnist_lab::model::ModelConfig;
    use mnist_lab_tools::experiment::BenchmarkRow;
    let mut names = vec![];
    for row in BenchmarkRow::ALL {
        let preset = row.preset();
        assert_eq!(preset.name, row.name());
        match &preset.model {
            ModelConfig::Mlp(mlp) => {
                let widths: &[usize] = if row == BenchmarkRow::Mlp500_150 {
                    &[500, 150]
                } else {
                    &[800]
                };
                assert_eq!(mlp.hidden, widths, "{row}");
            }
            ModelConfig::ConvNet(net) => {
                assert_eq!(row, BenchmarkRow::LeNet5);
                assert_eq!(
                    (net.features(), &net.hidden[..]),
                    (Some(400), &[120, 84][..])
                );
            }
            other => panic!("{row}: {}", other.kind()),
        }
        // The recipe runs as it is.
        let config = args(&[]).config(&preset).unwrap();
        let augmentation = config.augmentation;
        match row {
            BenchmarkRow::Mlp800Affine => {
                assert_eq!(augmentation, Some(Augmentation::default()))
            }
            BenchmarkRow::Mlp800Elastic => assert_eq!(
                augmentation,
                Some(Augmentation {
                    elastic: Some(Elastic::SIMARD),
                    ..Augmentation::NONE
                })
            ),
            _ => assert_eq!(augmentation, None, "{row}"),
        }
        assert!(row.published_error() > 0.0 && !row.source().is_empty());
        names.push(row.name());
    }
    names.dedup();
    assert_eq!(names.len(), BenchmarkRow::ALL.len());
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/benchmark_table.rs"
    ))
    .unwrap();
    assert!(source.contains("row.preset()"));
    assert_defines_no_recipe("benchmark_table", &source);
}

#[test]
fn the_benchmark_record_keeps_each_rows_latest_runs_and_refuses_what_it_cannot_read() {
    use mnist_lab_tools::experiment::BenchmarkRow;
    use mnist_lab_tools::experiment::benchmark::{
        RecordError, RowRecord, RowRun, read_record, record_row, render_markdown,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results").join("table.json");
    let record = |wrong: &[usize]| RowRecord {
        host: "a host".into(),
        date: "2026-12-07".into(),
        command: "cargo run --release --example benchmark_table -- --row mlp-800".into(),
        runs: wrong
            .iter()
            .enumerate()
            .map(|(i, &wrong)| RowRun {
                seed: i as u64 + 1,
                wrong,
                total: 10_000,
                seconds: 90.0,
            })
            .collect(),
    };
    assert!(read_record(&path).unwrap().is_empty());
    record_row(&path, BenchmarkRow::Mlp800, record(&[170, 180, 190])).unwrap();
    let md = record_row(&path, BenchmarkRow::Mlp500_150, record(&[150])).unwrap();
    // A row run again replaces its old runs; the other row stays.
    let md_again = record_row(&path, BenchmarkRow::Mlp800, record(&[160, 160, 163])).unwrap();
    assert_ne!(md, md_again);
    let table = read_record(&path).unwrap();
    assert_eq!(table.len(), 2);
    assert_eq!(table["mlp_800"].runs.len(), 3);
    assert!((table["mlp_800"].mean_error() - 1.61).abs() < 1e-9);
    assert!(table["mlp_800"].reproduces(BenchmarkRow::Mlp800)); // 1.61 <= 1.6 + 0.1
    assert!(!record(&[171, 171, 171]).reproduces(BenchmarkRow::Mlp800)); // 1.71
    assert_eq!(
        std::fs::read_to_string(path.with_extension("md")).unwrap(),
        render_markdown(&table)
    );
    assert!(
        md_again.contains("| **1.61** (1.60-1.63) | yes | 1.5 | 1, 2, 3 | a host, 2026-12-07 |")
    );
    assert!(md_again.contains("not run yet"), "{md_again}");

    // A damaged record is named, with the fix, and left as it is.
    std::fs::write(&path, "{ half").unwrap();
    let err = record_row(&path, BenchmarkRow::Mlp800, record(&[1])).unwrap_err();
    assert!(matches!(err, RecordError::Read { .. }));
    assert!(
        err.to_string().contains("move it away to start a new one"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ half");
}
