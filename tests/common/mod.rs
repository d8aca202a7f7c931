//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::Device;
use mnist_lab::BackendKind;

/// The committed slice: first 2,000 training and 1,000 test images of the official MNIST.
pub fn slice_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mnist-slice")
}

/// Every backend compiled into this test build, with its device.
pub fn compiled_devices() -> Vec<(BackendKind, Device)> {
    BackendKind::compiled()
        .into_iter()
        .map(|k| (k, k.device().expect("compiled backends give a device")))
        .collect()
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Burn's random generator (weight init, dropout) is per backend and process-wide: two trainings
/// in parallel threads of one test binary would draw from it in an interleaved order. Tests that
/// train hold this guard, so they train one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// MNIST items as the trainer takes them, batched by [`mnist_lab::data::MnistBatcher`].
pub fn mnist_data(
    train: mnist_lab::data::MnistDataset,
    test: mnist_lab::data::MnistDataset,
) -> mnist_lab::train::RunData<mnist_lab::data::MnistItem, mnist_lab::data::ImageBatch> {
    mnist_lab::train::RunData::new(train, test, mnist_lab::data::MnistBatcher::default())
}

/// `config` trained quietly on flex into `out`.
pub fn fit_on_flex(
    config: &mnist_lab::train::RunConfig,
    out: &std::path::Path,
    train: mnist_lab::data::MnistDataset,
    test: mnist_lab::data::MnistDataset,
) -> mnist_lab::train::RunOutcome<mnist_lab::Model> {
    config
        .trainer(Device::flex(), out)
        .unwrap()
        .quiet()
        .fit(&config.model, mnist_data(train, test))
        .unwrap()
}

/// One of our networks with the report's defaults, `stages`, the first `limit` training images.
pub fn run_config(
    model: mnist_lab::ModelKind,
    stages: &str,
    limit: usize,
) -> mnist_lab::train::RunConfig {
    let mut config = mnist_lab::train::RunConfig::new(
        model.config(),
        mnist_lab::train::parse_stages(stages).unwrap(),
    );
    config.training.limit_train = Some(limit);
    config
}

/// Every float tensor of a module (weights, biases, batch-norm statistics), in order.
pub fn weights<M: burn::module::Module>(model: &M) -> Vec<Vec<f32>> {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(vec![]);
    model.visit(&mut c);
    c.0
}
