//! ONNX export (feature `onnx`): every network of ours and a user's own exports with a symbolic
//! batch axis, its metadata and no trace of training; what cannot be exported is an error that
//! names the operation and the layer. ONNX Runtime's side is `tests/onnx/run.sh`: with
//! `MNIST_LAB_ONNX_CHECK=DIR`, `every_network_exports...` writes each network's `.onnx` and our
//! log-probabilities of the 1,000 committed test images there for `tests/onnx/check.py`.
#![cfg(feature = "onnx")]

mod common;
// The LeNet-5 a user writes, exactly as `examples/custom_model.rs` has it.
#[allow(dead_code)]
#[path = "../examples/custom_model.rs"]
mod custom_model;

use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use mnist_lab::data::{MnistDataset, mnist_loader};
use mnist_lab::interop::{self, OnnxDim, OnnxError, OnnxExport, OnnxMetadata};
use mnist_lab::train::{ModelInit, Trainer, TrainingConfig, parse_stages};
use mnist_lab::{Model, ModelKind};
use onnx_ir::{Message, ModelProto};

/// The 1,000 committed test images, normalized as in training, in one batch.
fn test_images(device: &Device) -> Tensor<4> {
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    let loader = mnist_loader(test, 1000, None, device);
    let batch = loader.iter().next().unwrap().unwrap();
    assert_eq!(batch.images.dims(), [1000, 1, 28, 28]);
    batch.images
}

/// `kind` trained for one short stage on the slice's 2,000 training images: clear classes, so
/// that ONNX Runtime's answers can be compared class for class.
fn trained(kind: ModelKind, out: &Path) -> Model {
    let train = MnistDataset::train(&common::slice_dir()).unwrap();
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    let config = common::run_config(kind, "1@0.02", 2000);
    common::fit_on_flex(&config, out, train, test).model.valid()
}

fn check_signature(onnx: &OnnxExport, classes: usize) {
    let fixed = |n| OnnxDim::Fixed(n);
    assert_eq!(onnx.input.name, "images");
    assert_eq!(
        onnx.input.shape,
        [OnnxDim::Symbol("N".into()), fixed(1), fixed(28), fixed(28)]
    );
    assert_eq!(onnx.output.name, "log_probs");
    assert_eq!(
        onnx.output.shape,
        [OnnxDim::Symbol("N".into()), fixed(classes)]
    );
    assert_eq!(onnx.input.to_string(), "images [N, 1, 28, 28]");
}

/// The model as ONNX Runtime reads it: its metadata, and the operators of its graph.
fn parse(onnx: &OnnxExport) -> (Vec<(String, String)>, Vec<String>) {
    let proto = ModelProto::parse_from_bytes(&onnx.bytes).unwrap();
    let metadata = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let ops = proto.graph.node.iter().map(|n| n.op_type.clone()).collect();
    (metadata, ops)
}

/// Writes `NAME.onnx` and `NAME.logprobs` (our log-probabilities, `[1000, classes]` f32
/// little-endian) where `tests/onnx/check.py` reads them.
fn write_for_onnx_runtime(dir: &Path, name: &str, onnx: &OnnxExport, log_probs: Tensor<2>) {
    onnx.save(&dir.join(format!("{name}.onnx"))).unwrap();
    let values = log_probs.into_data().try_to_vec::<f32>().unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}.logprobs")), bytes).unwrap();
}

#[test]
fn every_network_exports_with_a_symbolic_batch_its_metadata_and_no_training_ops() {
    let _serial = common::serial();
    let device = Device::flex();
    let images = test_images(&device);
    let check_dir = std::env::var_os("MNIST_LAB_ONNX_CHECK").map(std::path::PathBuf::from);
    let runs = tempfile::tempdir().unwrap();
    let mut exported = vec![];
    for kind in ModelKind::ALL {
        let model = trained(kind, &runs.path().join(kind.name()));
        let onnx = interop::export_model(&model, &OnnxMetadata::mnist(kind.name())).unwrap();
        exported.push((kind.name().to_string(), onnx, model.forward(images.clone())));
    }
    // A user's own network, with its own normalization and class names.
    let train =
        mnist_lab::data::ImageDataset::split(&common::slice_dir(), mnist_lab::data::Split::Train)
            .unwrap();
    let normalization = mnist_lab::data::Normalization::of(&train);
    let lenet = custom_model::LeNet5Config::new(10);
    let trainer = Trainer::new(
        TrainingConfig::new(parse_stages("1@0.02").unwrap()),
        Device::flex(),
        runs.path().join("lenet5"),
    )
    .unwrap()
    .quiet();
    let test =
        mnist_lab::data::ImageDataset::split(&common::slice_dir(), mnist_lab::data::Split::Test)
            .unwrap();
    let batcher = mnist_lab::data::ImageBatcher::new(normalization.clone());
    let lenet_model = trainer
        .fit(&lenet, mnist_lab::train::RunData::new(train, test, batcher))
        .unwrap()
        .model
        .valid();
    let class_names: Vec<String> = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ]
    .map(String::from)
    .to_vec();
    let metadata = OnnxMetadata {
        network: lenet.name(),
        normalization: normalization.clone(),
        class_names: class_names.clone(),
    };
    let onnx = interop::export_onnx(
        &lenet_model,
        [1, 28, 28],
        &metadata,
        custom_model::LeNet5::forward,
    )
    .unwrap();
    // Our log-probabilities of the images normalized as LeNet-5 was trained (measured on the
    // slice, not MNIST's figures): un-normalize MNIST's batch and normalize it again.
    let pixels = images.clone() * mnist_lab::data::MNIST_STD + mnist_lab::data::MNIST_MEAN;
    let lenet_images = (pixels - normalization.mean[0]) / normalization.std[0];
    exported.push(("lenet5".into(), onnx, lenet_model.forward(lenet_images)));

    for (name, onnx, log_probs) in exported {
        check_signature(&onnx, 10);
        let (metadata, ops) = parse(&onnx);
        let value = |key: &str| {
            metadata
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name}: no {key} in {metadata:?}"))
        };
        assert_eq!(value("mnist_lab.network"), name);
        if name == "lenet5" {
            let mean: Vec<f32> = serde_json::from_str(&value("mnist_lab.mean")).unwrap();
            assert_eq!(mean, normalization.mean);
            let names: Vec<String> = serde_json::from_str(&value("mnist_lab.class_names")).unwrap();
            assert_eq!(names, class_names);
        } else {
            assert_eq!(value("mnist_lab.mean"), "[0.1307]");
            assert_eq!(value("mnist_lab.std"), "[0.3081]");
            assert_eq!(
                value("mnist_lab.class_names"),
                r#"["0","1","2","3","4","5","6","7","8","9"]"#
            );
        }
        // Nothing of training: no dropout, no random numbers; the layers are there.
        for op in &ops {
            assert!(
                !op.contains("Dropout") && !op.starts_with("Random") && op != "Bernoulli",
                "{name}: {op} in {ops:?}"
            );
        }
        let has = |op: &str| ops.iter().any(|o| o == op);
        assert!(has("Gemm") || has("MatMul"), "{name}: {ops:?}");
        if name.ends_with("cnn") || name == "lenet5" {
            assert!(has("Conv"), "{name}: {ops:?}");
        }
        println!(
            "{name}: {} bytes, {} nodes: {ops:?}",
            onnx.bytes.len(),
            ops.len()
        );
        if let Some(dir) = &check_dir {
            std::fs::create_dir_all(dir).unwrap();
            write_for_onnx_runtime(dir, &name, &onnx, log_probs);
        }
    }
}

/// A network with an operation burn-onnx 0.22 does not lower (a cosine), and one with burn's
/// own `log_softmax` (one fused operation there, which it does not lower either).
#[derive(Module, Debug)]
struct Wavy {
    fc: Linear,
}

impl Wavy {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        mnist_lab::model::log_softmax(self.fc.forward(images.flatten(1, 3)).cos(), 1)
    }

    fn forward_with_burns_log_softmax(&self, images: Tensor<4>) -> Tensor<2> {
        burn::tensor::activation::log_softmax(self.fc.forward(images.flatten(1, 3)), 1)
    }
}

#[test]
fn an_operation_with_no_onnx_form_is_an_error_naming_it_and_its_layer() {
    let model = Wavy {
        fc: LinearConfig::new(784, 10).init(&Device::flex()),
    };
    let metadata = OnnxMetadata::mnist("wavy");
    let err = interop::export_onnx(&model, [1, 28, 28], &metadata, Wavy::forward).unwrap_err();
    match &err {
        OnnxError::UnsupportedOperation { operation, layer } => {
            assert_eq!(operation, "Cos");
            assert_eq!(layer, "after layer `fc`");
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("`Cos` after layer `fc`"), "{message}");
    assert!(
        !message.contains("mnist_lab::model::log_softmax"),
        "{message}"
    );

    let err = interop::export_onnx(
        &model,
        [1, 28, 28],
        &metadata,
        Wavy::forward_with_burns_log_softmax,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, OnnxError::UnsupportedOperation { operation, .. } if operation == "LogSoftmax"),
        "{err:?}"
    );
    assert!(
        message.contains("`mnist_lab::model::log_softmax`"),
        "{message}"
    );
}

#[test]
fn bad_shapes_and_paths_are_errors_and_leave_files_whole() {
    let device = Device::flex();
    let model = ModelKind::SimpleFc.init(&device);
    let metadata = OnnxMetadata::mnist("simple_fc");
    let err = interop::export_onnx(&model, [1, 0, 28], &metadata, Model::forward).unwrap_err();
    assert!(matches!(err, OnnxError::EmptyImage([1, 0, 28])), "{err}");
    assert!(
        err.to_string().contains("give [channels, height, width]"),
        "{err}"
    );

    let onnx = interop::export_model(&model, &metadata).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/model.onnx");
    let err = onnx.save(&missing).unwrap_err();
    assert!(err.to_string().contains("no directory"), "{err}");
    assert!(!missing.parent().unwrap().exists());
    // A file already there is replaced whole.
    let file = dir.path().join("model.onnx");
    std::fs::write(&file, b"an older model").unwrap();
    onnx.save(&file).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), onnx.bytes);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}
