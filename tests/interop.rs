//! PyTorch interop against fixtures made by `reference/pytorch/make_fixtures.py`: the report's
//! five networks after 20 SGD steps in PyTorch, and PyTorch's eval-mode log-probabilities for
//! the first 8 test images of the slice.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore};
use burn::tensor::Device;
use common::{compiled_devices, max_abs_diff, slice_dir};
use mnist_lab::data::{MnistDataset, mnist_loader};
use mnist_lab::interop::{self, InteropError, WeightsFormat};
use mnist_lab::{Model, ModelKind};

// The fixtures were evaluated with the complex MLP's dropout off at test time, hence
// `kind.init(..)` (dropout at test time is off by default) throughout.

/// The four models committed in both formats (the complex CNN only as .pt, to keep fixtures small).
const WITH_SAFETENSORS: [ModelKind; 5] = [
    ModelKind::SimpleFc,
    ModelKind::ComplexMlp,
    ModelKind::SimpleCnn,
    ModelKind::ProvidedCnn,
    ModelKind::ConvNet,
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pytorch")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("fixture expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// PyTorch's log-probabilities of `kind` for the 8 images, row-major.
fn torch_log_probs(expected: &serde_json::Value, kind: ModelKind) -> Vec<f32> {
    expected["log_probs"][kind.name()]
        .as_array()
        .expect("log_probs per model")
        .iter()
        .flat_map(|row| row.as_array().expect("a row").clone())
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

/// Our eval-mode log-probabilities for the first 8 test images of the slice, normalized by our
/// own pipeline (the images are checked against the fixture's pixels first).
fn our_log_probs(model: &Model, expected: &serde_json::Value, device: &Device) -> Vec<f32> {
    let test = MnistDataset::test(&slice_dir()).unwrap().limit(8);
    for (i, row) in expected["pixels"].as_array().unwrap().iter().enumerate() {
        let pixels: Vec<u8> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(test.pixels(i).unwrap(), &pixels[..], "image {i} differs");
    }
    let batch = mnist_loader(test, 8, None, device).iter().next().unwrap();
    let out = model.forward(batch.unwrap().images);
    assert_eq!(out.dims(), [8, 10]);
    out.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest `|ours - theirs| / max(1, |theirs|)`: 1e-5 absolute for log-probabilities in
/// [-1, 0], relative below. The simple FC net's log-probabilities reach -21.7, where one float32
/// ulp is 1.9e-6 and its 784-term dot products, summed in another order than PyTorch's, differ
/// by a few ulps (measured: 6e-6 on ndarray, 8.6e-6 on flex, 1.0e-5 on wgpu; every other model
/// stays under 2e-6 absolute).
fn max_scaled_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "lengths differ");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Every tensor of a model, by name, as raw bytes.
fn tensors(model: &Model) -> Vec<(String, Vec<u8>)> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect()
}

#[test]
fn pytorch_state_dicts_give_pytorchs_outputs_on_every_backend() {
    let expected = expected();
    for (backend, device) in compiled_devices() {
        for kind in ModelKind::ALL {
            let mut files = vec![fixture(&format!("{}.pt", kind.name()))];
            if WITH_SAFETENSORS.contains(&kind) {
                files.push(fixture(&format!("{}.safetensors", kind.name())));
            }
            for file in files {
                let model = interop::load_into(kind.init(&device), &file)
                    .unwrap_or_else(|e| panic!("{kind} on {backend}: {e}"));
                let ours = our_log_probs(&model, &expected, &device);
                let theirs = torch_log_probs(&expected, kind);
                let diff = max_scaled_diff(&ours, &theirs);
                assert!(
                    diff <= 1e-5,
                    "{kind} from {} on {backend}: max |ours - PyTorch| / max(1, |PyTorch|) = \
                     {diff:e} (max abs {:e})",
                    file.display(),
                    max_abs_diff(&ours, &theirs)
                );
            }
        }
    }
}

#[test]
fn pt_and_safetensors_fixtures_load_to_identical_weights() {
    let device = Device::flex();
    for kind in WITH_SAFETENSORS {
        let from_pt =
            interop::load_into(kind.init(&device), &fixture(&format!("{kind}.pt"))).unwrap();
        let from_st =
            interop::load_into(kind.init(&device), &fixture(&format!("{kind}.safetensors")))
                .unwrap();
        assert_eq!(tensors(&from_pt), tensors(&from_st), "{kind}");
    }
}

#[test]
fn export_then_import_gives_bit_identical_weights_and_pytorch_names() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::ALL {
        let pt = fixture(&format!("{kind}.pt"));
        let model = interop::load_into(kind.init(&device), &pt).unwrap();
        let out = dir.path().join(format!("{kind}.safetensors"));
        interop::save_safetensors(&model, &out).unwrap();

        let back = interop::load_into(kind.init(&device), &out).unwrap();
        assert_eq!(
            tensors(&model),
            tensors(&back),
            "{kind}: round trip changed weights"
        );

        // The export has exactly PyTorch's keys (less num_batches_tracked, which PyTorch's
        // BatchNorm fills in itself when it is absent).
        let mut torch_keys = PytorchStore::from_file(&pt).keys().unwrap();
        torch_keys.retain(|k| !k.ends_with("num_batches_tracked"));
        torch_keys.sort();
        let mut ours = SafetensorsStore::from_file(&out).keys().unwrap();
        ours.sort();
        assert_eq!(ours, torch_keys, "{kind}");
    }
}

#[test]
fn export_replaces_an_existing_file() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.safetensors");
    std::fs::write(&out, b"old").unwrap();
    let model = ModelKind::SimpleFc.init(&device);
    interop::save_safetensors(&model, &out).unwrap();
    let back = interop::load(ModelKind::SimpleFc, &out, &device).unwrap();
    assert_eq!(tensors(&model), tensors(&back));
}

fn mismatch(kind: ModelKind, file: &Path) -> interop::Mismatch {
    match interop::load(kind, file, &Device::flex()) {
        Err(InteropError::Mismatch(m)) => *m,
        Err(other) => panic!("expected a mismatch, got: {other}"),
        Ok(_) => panic!("{} loaded into {kind}", file.display()),
    }
}

#[test]
fn another_models_state_dict_is_an_error_that_lists_keys_and_shapes() {
    // Same layer names, different sizes: simple CNN's fc1 is 320 -> 10, provided CNN's 320 -> 50.
    let file = fixture("simple_cnn.pt");
    let m = mismatch(ModelKind::ProvidedCnn, &file);
    assert_eq!(m.model, "provided_cnn");
    let mut missing = m.missing.clone();
    missing.sort();
    assert_eq!(
        missing,
        [
            ("fc2.bias".to_string(), vec![10]),
            ("fc2.weight".to_string(), vec![10, 50])
        ]
    );
    assert!(m.unexpected.is_empty(), "{:?}", m.unexpected);
    let fc1w = m
        .wrong_shapes
        .iter()
        .find(|w| w.key == "fc1.weight")
        .unwrap();
    assert_eq!(
        (fc1w.expected.clone(), fc1w.found.clone()),
        (vec![50, 320], vec![10, 320])
    );
    let fc1b = m.wrong_shapes.iter().find(|w| w.key == "fc1.bias").unwrap();
    assert_eq!(
        (fc1b.expected.clone(), fc1b.found.clone()),
        (vec![50], vec![10])
    );
    let text = InteropError::Mismatch(Box::new(m)).to_string();
    for needle in [
        "simple_cnn.pt",
        "provided_cnn",
        "fc2.weight [10, 50]",
        "fc1.weight is [10, 320]",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }

    // Nothing in common: every key is listed, num_batches_tracked never is.
    let m = mismatch(ModelKind::SimpleFc, &fixture("complex_cnn.pt"));
    let mut missing: Vec<_> = m.missing.iter().map(|(k, _)| k.as_str()).collect();
    missing.sort();
    assert_eq!(missing, ["fcl.bias", "fcl.weight"]);
    assert!(m.unexpected.contains(&"conv1.weight".to_string()));
    assert!(m.unexpected.contains(&"bn5.running_var".to_string()));
    assert!(
        m.unexpected
            .iter()
            .all(|k| !k.contains("num_batches_tracked"))
    );
    assert_eq!(m.unexpected.len(), 12 + 5 * 4, "{:?}", m.unexpected);

    // And the other way round: a small model's file in the complex CNN.
    let m = mismatch(ModelKind::ComplexCnn, &fixture("simple_fc.safetensors"));
    assert_eq!(m.unexpected, ["fcl.bias", "fcl.weight"]);
    assert_eq!(m.missing.len(), 32);
    assert!(m.missing.contains(&("bn4.weight".to_string(), vec![512])));
}

#[test]
fn a_wrapped_state_dict_is_an_error_that_names_the_prefix() {
    // nn.DataParallel saves every key behind `module.`; nothing is stripped silently.
    let dir = tempfile::tempdir().unwrap();
    let wrapped = dir.path().join("wrapped.safetensors");
    let model = interop::load(
        ModelKind::ProvidedCnn,
        &fixture("provided_cnn.pt"),
        &Device::flex(),
    )
    .unwrap();
    let mut store = SafetensorsStore::from_file(&wrapped)
        .with_to_adapter(burn::store::BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .with_key_remapping(r"^(.*)$", "module.$1");
    model.save_into(&mut store).unwrap();

    let m = mismatch(ModelKind::ProvidedCnn, &wrapped);
    assert_eq!(m.wrapped_in.as_deref(), Some("module."));
    assert_eq!(m.missing.len(), 8);
    assert!(m.unexpected.contains(&"module.fc2.weight".to_string()));
    let text = InteropError::Mismatch(Box::new(m)).to_string();
    assert!(text.contains("`module.`"), "{text}");

    // A plain mismatch names no prefix.
    assert_eq!(
        mismatch(ModelKind::SimpleFc, &fixture("complex_cnn.pt")).wrapped_in,
        None
    );
}

#[test]
fn bad_files_are_errors_not_panics() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let kind = ModelKind::SimpleCnn;

    let unknown = dir.path().join("weights.bin");
    std::fs::write(&unknown, b"x").unwrap();
    let e = interop::load(kind, &unknown, &device).unwrap_err();
    assert!(matches!(e, InteropError::UnknownFormat { .. }), "{e}");
    assert!(e.to_string().contains(".safetensors"), "{e}");
    assert_eq!(
        WeightsFormat::of(Path::new("a.PTH")).unwrap(),
        WeightsFormat::PyTorch
    );

    let absent = dir.path().join("absent.pt");
    let e = interop::load(kind, &absent, &device).unwrap_err();
    assert!(matches!(e, InteropError::Read { .. }), "{e}");
    assert!(e.to_string().contains("absent.pt"), "{e}");

    let real_pt = std::fs::read(fixture("simple_cnn.pt")).unwrap();
    let real_st = std::fs::read(fixture("simple_cnn.safetensors")).unwrap();
    let cases: [(&str, Vec<u8>); 6] = [
        ("empty.pt", vec![]),
        ("garbage.pt", b"this is not a pickle".repeat(50)),
        ("truncated.pt", real_pt[..real_pt.len() / 2].to_vec()),
        ("empty.safetensors", vec![]),
        ("garbage.safetensors", vec![0xff; 300]),
        (
            "truncated.safetensors",
            real_st[..real_st.len() / 2].to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        match interop::load(kind, &path, &device) {
            Err(InteropError::Read { message, .. }) => assert!(!message.is_empty(), "{name}"),
            Err(other) => panic!("{name}: expected a read error, got {other}"),
            Ok(_) => panic!("{name} loaded"),
        }
    }
}

#[test]
fn export_to_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/w.safetensors");
    let model = ModelKind::SimpleFc.init(&Device::flex());
    let e = interop::save_safetensors(&model, &out).unwrap_err();
    assert!(matches!(e, InteropError::Write { .. }), "{e}");
    assert!(!out.exists());
}

#[test]
fn a_model_trained_here_exports_to_the_same_function() {
    let _one_at_a_time = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let slice = slice_dir();
    let (train, test) = (
        MnistDataset::train(&slice).unwrap(),
        MnistDataset::test(&slice).unwrap().limit(100),
    );
    // The complex CNN: batch-norm statistics that moved, Linear and conv weights.
    let config = common::run_config(ModelKind::ComplexCnn, "1@0.01", 200);
    let outcome = common::fit_on_flex(&config, &dir.path().join("run"), train, test);
    let out = dir.path().join("trained.safetensors");
    interop::save_safetensors(&outcome.model, &out).unwrap();

    let device = Device::flex();
    let trained = outcome.model.valid();
    let back = interop::load(ModelKind::ComplexCnn, &out, &device).unwrap();
    assert_eq!(tensors(&trained), tensors(&back));
    let expected = expected();
    assert_eq!(
        our_log_probs(&trained, &expected, &device),
        our_log_probs(&back, &expected, &device)
    );
}
