//! The pictures of a run, as the training examples write them: a real (short) training on the
//! committed slice, then every picture checked against the numbers it draws.

mod common;

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorData};
use common::{serial, slice_dir};
use mnist_lab::ModelKind;
use mnist_lab::data::{IMAGE_SIDE, MnistBatcher, MnistDataset};
use mnist_lab::infer::{Predictor, load_network, network_beside};
use mnist_lab_tools::cli::TrainArgs;
use mnist_lab_tools::cli::run_preset;
use mnist_lab_tools::experiment::Preset;
use mnist_lab_tools::experiment::pictures::{NetworkShown, network_pictures};
use mnist_lab_tools::report::PlotError;
use mnist_lab_tools::report::pictures::{ConfusionHeatMap, FeatureMaps, LayerDiagram};

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn a_training_example_leaves_every_picture_and_they_show_its_numbers() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let dir = slice_dir();
    let args = TrainArgs::try_parse_from([
        "simple_cnn",
        "--data-dir",
        dir.to_str().unwrap(),
        "--stages",
        "1@0.01,1@0.001",
        "--limit-train",
        "600",
        "--show-image",
        "3",
        "--out",
        out.path().to_str().unwrap(),
    ])
    .unwrap();
    let outcome = run_preset(&Preset::simple_cnn(), &args).unwrap();
    let summary = &outcome.summary;
    let test = MnistDataset::test(&dir).unwrap();

    // Every epoch is evaluated; the last epoch of each stage agrees with the stage's result.
    assert_eq!(summary.epochs.len(), 2);
    for (epoch, stage) in summary.epochs.iter().zip(&summary.stages) {
        assert_eq!(epoch.test_accuracy, stage.test_accuracy);
        assert_eq!(epoch.test_loss, stage.test_loss);
        let losses: Vec<f64> = outcome
            .history
            .iter()
            .filter(|r| r.epoch == epoch.epoch)
            .map(|r| r.loss as f64)
            .collect();
        assert_eq!(losses.len(), 12, "600 images at batch 50");
        assert_eq!(
            epoch.train_loss,
            losses.iter().sum::<f64>() / losses.len() as f64
        );
    }

    // The mistakes are the final network's, image by image, with its probabilities.
    let last = summary.stages.last().unwrap();
    assert!(
        last.correct < last.total,
        "a 1-epoch network makes mistakes"
    );
    assert_eq!(summary.mistakes.len(), last.total - last.correct);
    let weights = out.path().join("model.safetensors");
    let device = Device::flex();
    let network = load_network(&network_beside(&weights).unwrap(), &weights, &device).unwrap();
    let predictor = Predictor::new(network, device.clone());
    let mut off_diagonal = vec![vec![0; 10]; 10];
    for m in &summary.mistakes {
        let item = test.get(m.index).unwrap();
        assert_eq!(m.truth, item.label as usize);
        assert_ne!(m.truth, m.predicted);
        let again = &predictor.predict_pixels(&[item.pixels])[0];
        assert_eq!(again.class(), m.predicted, "image {}", m.index);
        let p = again.probabilities[m.predicted];
        assert!((p - m.probability).abs() < 1e-5, "{p} vs {}", m.probability);
        assert!(m.probability >= 0.1 && m.probability <= 1.0);
        off_diagonal[m.truth][m.predicted] += 1;
    }
    for (t, (ours, counted)) in off_diagonal.iter().zip(&last.confusion).enumerate() {
        for p in (0..10).filter(|&p| p != t) {
            assert_eq!(ours[p], counted[p], "cell {t},{p}");
        }
    }

    // The files, at the sizes their figures have.
    for file in [
        "confusion.png",
        "confusion.svg",
        "mistakes.png",
        "loss.png",
        "loss.svg",
        "accuracy.png",
        "accuracy.svg",
        "layers.png",
        "layers.svg",
        "feature_maps.png",
    ] {
        let path = out.path().join(file);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
            "{file}"
        );
    }
    assert_eq!(png_size(&out.path().join("confusion.png")), (660, 660));
    assert_eq!(png_size(&out.path().join("loss.png")), (900, 560));
    // Every count of the confusion matrix is written in its cell.
    let svg = std::fs::read_to_string(out.path().join("confusion.svg")).unwrap();
    for row in &last.confusion {
        for count in row {
            assert!(svg.contains(&format!(">\n{count}\n<")), "count {count}");
        }
    }
    // The diagram names each layer's shape and parameters.
    let svg = std::fs::read_to_string(out.path().join("layers.svg")).unwrap();
    for text in [
        "simple_cnn: 8,490 trainable parameters",
        "output [10, 24, 24]  |  260 parameters",
        "output [20, 8, 8]  |  5,020 parameters",
        "output [320]",
        "output [10]  |  3,210 parameters",
    ] {
        assert!(svg.contains(text), "{text} not in layers.svg");
    }
}

#[test]
fn layer_traces_add_up_to_each_network_and_end_in_its_output() {
    let device = Device::flex();
    let test = MnistDataset::test(&slice_dir()).unwrap();
    let items: Vec<_> = (0..2).map(|i| test.get(i).unwrap()).collect();
    let images = Tensor::<4>::from_data(
        TensorData::new(
            MnistBatcher::default().normalize_all(&items),
            [2, 1, IMAGE_SIDE, IMAGE_SIDE],
        ),
        &device,
    );
    for kind in ModelKind::ALL {
        let model = kind.init(&device);
        let layers = model.layers(images.clone());
        let params: usize = layers.iter().map(|l| l.params).sum();
        assert_eq!(params, model.param_counts().trainable, "{kind}");
        let last = layers.last().unwrap();
        assert_eq!(last.shape, [10], "{kind}");
        // The trace's output is the network's own (our kernels vs burn's: float rounding).
        let forward = model.forward(images.clone()).narrow(0, 0, 1);
        let forward = forward.into_data().try_to_vec::<f32>().unwrap();
        assert!(
            common::max_abs_diff(&forward, &last.values) < 1e-4,
            "{kind}: {forward:?} vs {:?}",
            last.values
        );
        for l in &layers {
            assert_eq!(
                l.values.len(),
                l.shape.iter().product::<usize>(),
                "{kind} {}",
                l.name
            );
        }
    }
    let shapes = |kind: ModelKind| -> Vec<Vec<usize>> {
        kind.init(&device)
            .layers(images.clone())
            .iter()
            .filter(|l| l.is_feature_maps())
            .map(|l| l.shape.clone())
            .collect()
    };
    assert_eq!(
        shapes(ModelKind::ComplexCnn),
        [
            vec![32, 28, 28],
            vec![64, 28, 28],
            vec![64, 14, 14],
            vec![64, 14, 14],
            vec![64, 7, 7]
        ]
    );
    assert!(shapes(ModelKind::ComplexMlp).is_empty());
}

#[test]
fn pictures_that_cannot_be_drawn_say_why() {
    let device = Device::flex();
    let test = MnistDataset::test(&slice_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fc = ModelKind::SimpleFc.init(&device);
    let layers = fc.layers(Tensor::zeros([1, 1, 28, 28], &device));
    let err = FeatureMaps::new(
        "fc",
        mnist_lab_tools::report::image::GrayImage::new(28, 28),
        &layers,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no convolutional or pooling layers: feature maps are drawn for the CNNs"),
        "{err}"
    );
    // The MLPs still get their layer diagram, and no feature maps.
    let written = network_pictures(
        dir.path(),
        "simple_fc",
        &test,
        NetworkShown {
            model: &fc,
            device: &device,
            image_index: 0,
        },
    )
    .unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["layers.png", "layers.svg"]);
    let err = network_pictures(
        dir.path(),
        "simple_fc",
        &test,
        NetworkShown {
            model: &fc,
            device: &device,
            image_index: 1000,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "there is no test image 1000: the test set has 1000 (give --show-image below that)"
        ),
        "{err}"
    );
    assert!(matches!(
        ConfusionHeatMap::new("empty", vec![]).save(dir.path(), "c"),
        Err(PlotError::Empty(_))
    ));
    // A directory that cannot be written to: the error names the file.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = LayerDiagram::new("simple_fc", vec![1, 28, 28], &layers)
        .save(&blocker, "layers")
        .unwrap_err();
    assert!(err.to_string().contains("layers.png"), "{err}");
}
