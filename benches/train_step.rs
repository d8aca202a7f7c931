//! One SGD step of each model at batch 50, and inference at batch 100, per compiled backend
//! (flex with our conv and pooling kernels, `flex_kernels`). Throughput is in images. Runs
//! with `keep_freed_memory`, as the examples do.
//!
//! `cargo bench --bench train_step`

use std::hint::black_box;
use std::time::Duration;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mnist_lab::data::MnistBatch;
use mnist_lab::{BackendKind, ModelKind, train};

fn random_batch(batch: usize, device: &Device) -> MnistBatch {
    MnistBatch {
        images: Tensor::random([batch, 1, 28, 28], Distribution::Normal(0.0, 1.0), device),
        targets: Tensor::<1, Int>::random([batch], Distribution::Uniform(0.0, 10.0), device),
    }
}

fn criterion() -> Criterion {
    flex_kernels::keep_freed_memory();
    // criterion plots through the plotters build of this crate (bundled font only).
    mnist_lab_tools::report::register_font();
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn sgd_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step_sgd");
    group.throughput(Throughput::Elements(50));
    for backend in BackendKind::compiled() {
        let device = backend.device().expect("compiled").autodiff();
        let batch = random_batch(50, &device);
        for kind in ModelKind::ALL {
            let mut model = Some(kind.init(&device));
            let mut optim = train::sgd(0.9);
            group.bench_function(
                BenchmarkId::new(backend.name(), format!("{kind}/batch50")),
                |bench| {
                    bench.iter(|| {
                        let (next, loss) = train::train_step(
                            model.take().expect("model"),
                            &mut optim,
                            batch.clone(),
                            0.01,
                        );
                        model = Some(next);
                        black_box(loss)
                    })
                },
            );
        }
    }
    group.finish();
}

fn inference(c: &mut Criterion) {
    let mut group = c.benchmark_group("inference");
    group.throughput(Throughput::Elements(100));
    for backend in BackendKind::compiled() {
        let device = backend.device().expect("compiled");
        let images = random_batch(100, &device).images;
        for kind in ModelKind::ALL {
            let model = kind.init(&device).valid();
            group.bench_function(
                BenchmarkId::new(backend.name(), format!("{kind}/batch100")),
                |bench| bench.iter(|| black_box(model.forward(images.clone()).into_data())),
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = sgd_step, inference
}
criterion_main!(benches);
