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
