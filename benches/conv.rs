//! Forward and forward+backward of every conv layer in the five models, per compiled backend
//! with burn's `conv2d`, and on flex with ours (`flex_kernels::conv2d`, id `flex-ours`;
//! for 3x3 kernels also `flex-ours-im2col`, ours with Winograd switched off), plus the
//! hand-written reference at batch 1 for scale. Throughput is in FLOPs (criterion shows
//! it as elem/s: read Gelem/s as GFLOP/s). Runs with `keep_freed_memory`, as the examples do.
//!
//! `cargo bench --bench conv` (add `--features ndarray,wgpu` for the other backends).
//!
//! `gemm_at_winograd_shapes` times the `gemm` crate itself, one thread, on the 16 GEMMs that our
//! Winograd kernel hands it per task for the complex CNN's two 3x3 layers, beside a large SGEMM:
//! how fast `gemm` runs at the shapes a training step gives it (`results/performance.md`,
//! 2026-12-03). `cargo bench --bench conv -- gemm_at` runs it alone.

use std::hint::black_box;
use std::time::Duration;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flex_kernels as kernel;
use flex_kernels::ConvAlgorithm;
use mnist_lab::BackendKind;
use mnist_lab::conv::{Conv2dParams, conv2d_batched, conv2d_flops, output_size};

/// A conv layer of one of the models.
struct Layer {
    name: &'static str,
    channels: [usize; 2],
    kernel: usize,
    padding: usize,
    side: usize,
}

const LAYERS: [Layer; 5] = [
    Layer {
        name: "simple_cnn.conv1",
        channels: [1, 10],
        kernel: 5,
        padding: 0,
        side: 28,
    },
    Layer {
        name: "simple_cnn.conv2",
        channels: [10, 20],
        kernel: 5,
        padding: 0,
        side: 12,
    },
    Layer {
        name: "complex_cnn.conv1",
        channels: [1, 32],
        kernel: 3,
        padding: 1,
        side: 28,
    },
    Layer {
        name: "complex_cnn.conv2",
        channels: [32, 64],
        kernel: 3,
        padding: 1,
        side: 28,
    },
    Layer {
        name: "complex_cnn.conv3",
        channels: [64, 64],
        kernel: 3,
        padding: 1,
        side: 14,
    },
];

impl Layer {
    fn shape_id(&self, batch: usize) -> String {
        let [i, o] = self.channels;
        format!(
            "{}_{i}x{o}x{k}x{k}_on_{s}x{s}/batch{batch}",
            self.name,
            k = self.kernel,
            s = self.side
        )
    }

    fn input_shape(&self, batch: usize) -> [usize; 4] {
        [batch, self.channels[0], self.side, self.side]
    }

    fn weight_shape(&self) -> [usize; 4] {
        [self.channels[1], self.channels[0], self.kernel, self.kernel]
    }

    fn forward_flops(&self, batch: usize) -> u64 {
        let out = output_size(self.side, self.kernel, self.padding, 1).expect("model layers fit");
        conv2d_flops(self.input_shape(batch), self.weight_shape(), [out, out])
    }

    /// The first layer of a model needs no input gradient: its input is the data.
    fn needs_input_grad(&self) -> bool {
        self.channels[0] > 1
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([1, 1], [self.padding, self.padding], [1, 1], 1)
    }

    fn tensors(&self, batch: usize, device: &Device) -> (Tensor<4>, Tensor<4>, Tensor<1>) {
        let normal = Distribution::Normal(0.0, 1.0);
        (
            Tensor::random(self.input_shape(batch), normal, device),
            Tensor::random(self.weight_shape(), normal, device),
            Tensor::random([self.channels[1]], normal, device),
        )
    }
}

/// One kernel to time: burn's `conv2d` on the tensors, or ours by one algorithm through a
/// `Conv2d` module that holds them (built once, outside the timed loop).
enum Kernel {
    Burn,
    Ours(Box<Conv2d>, ConvAlgorithm),
}

impl Kernel {
    /// The kernels to time on `backend` with weight `w` and bias `b`: burn's, and ours on flex
    /// (by im2col too where Winograd applies, 3x3 kernels).
    fn all(
        backend: BackendKind,
        layer: &Layer,
        w: &Tensor<4>,
        b: &Tensor<1>,
    ) -> Vec<(String, Kernel)> {
        let mut kernels = vec![(backend.name().to_string(), Kernel::Burn)];
        if backend == BackendKind::Flex {
            let p = layer.padding;
            let mut module = Conv2dConfig::new(layer.channels, [layer.kernel; 2])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(&w.device());
            module.weight = Param::from_tensor(w.clone());
            module.bias = Some(Param::from_tensor(b.clone()));
            if layer.kernel == 3 {
                let im2col = Kernel::Ours(Box::new(module.clone()), ConvAlgorithm::Im2col);
                kernels.push(("flex-ours-im2col".to_string(), im2col));
            }
            let ours = Kernel::Ours(Box::new(module), ConvAlgorithm::Winograd);
            kernels.push(("flex-ours".to_string(), ours));
        }
        kernels
    }

    /// `conv(x)` with the layer's options, weight `w` and bias `b`.
    fn run(&self, layer: &Layer, x: &Tensor<4>, w: &Tensor<4>, b: &Tensor<1>) -> Tensor<4> {
        match self {
            Kernel::Burn => conv2d(x.clone(), w.clone(), Some(b.clone()), layer.options()),
            Kernel::Ours(module, algorithm) => {
                // Stays set for the backward pass that follows in the same iteration.
                kernel::set_conv_algorithm(*algorithm);
                kernel::conv2d(module, x.clone())
            }
        }
    }
}

fn criterion() -> Criterion {
    kernel::keep_freed_memory();
    // criterion plots through the plotters build of this crate (bundled font only).
    mnist_lab_tools::report::register_font();
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d_forward");
    for backend in BackendKind::compiled() {
        let device = backend.device().expect("compiled");
        for layer in &LAYERS {
            for batch in [50, 100] {
                let (x, w, b) = layer.tensors(batch, &device);
                group.throughput(Throughput::Elements(layer.forward_flops(batch)));
                for (id, kernel) in Kernel::all(backend, layer, &w, &b) {
                    group.bench_function(BenchmarkId::new(id, layer.shape_id(batch)), |bench| {
                        bench.iter(|| {
                            let y = kernel.run(layer, &x, &w, &b);
                            // Reading the result back waits for lazy and asynchronous backends.
                            black_box(y.into_data())
                        })
                    });
                }
            }
        }
    }
    group.finish();
}

fn forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d_forward_backward");
    for backend in BackendKind::compiled() {
        let device = backend.device().expect("compiled").autodiff();
        for layer in &LAYERS {
            for batch in [50, 100] {
                let (x, w, b) = layer.tensors(batch, &device);
                let x = x.set_require_grad(layer.needs_input_grad());
                let (w, b) = (w.require_grad(), b.require_grad());
                // Forward, weight gradient, and the input gradient where it is needed.
                let passes = if layer.needs_input_grad() { 3 } else { 2 };
                group.throughput(Throughput::Elements(passes * layer.forward_flops(batch)));
                for (id, kernel) in Kernel::all(backend, layer, &w, &b) {
                    group.bench_function(BenchmarkId::new(id, layer.shape_id(batch)), |bench| {
                        bench.iter(|| {
                            let grads = kernel.run(layer, &x, &w, &b).sum().backward();
                            black_box(w.grad(&grads).map(|g| g.into_data()))
                        })
                    });
                }
            }
        }
    }
    group.finish();
}

fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d_reference");
    let device = BackendKind::default()
        .device()
        .expect("the default backend is compiled");
    for layer in &LAYERS {
        let (x, w, b) = layer.tensors(1, &device);
        let (x, w, b) = (
            x.into_data().try_to_vec::<f32>().expect("f32"),
            w.into_data().try_to_vec::<f32>().expect("f32"),
            b.into_data().try_to_vec::<f32>().expect("f32"),
        );
        let params = Conv2dParams {
            stride: [1, 1],
            padding: [layer.padding, layer.padding],
        };
        group.throughput(Throughput::Elements(layer.forward_flops(1)));
        group.bench_function(BenchmarkId::new("reference", layer.shape_id(1)), |bench| {
            bench.iter(|| {
                black_box(conv2d_batched(
                    &x,
                    layer.input_shape(1),
                    &w,
                    layer.weight_shape(),
                    Some(&b),
                    params,
                ))
            })
        });
    }
    group.finish();
}

/// One `gemm` call of our Winograd kernel, `dst [m, n] = lhs [m, k] · rhs`, `rhs` being `[k, n]`
/// or (`rhs_transposed`) `[n, k]`, as `kernel::winograd` makes them, 16 of them per task.
#[cfg(feature = "flex")]
struct GemmShape {
    name: &'static str,
    mkn: [usize; 3],
    rhs_transposed: bool,
    /// Matrices per timed iteration: the 16 elements of the transform (1 for the large SGEMM).
    count: usize,
}

/// The complex CNN's 3x3 layers at batch 50 as the kernel groups them: a task's tiles for the
/// forward pass and the input gradient (images until 128 tiles: one 28x28 image is 196 tiles of
/// 2x2, three 14x14 ones are 147), 5 images for the weight gradient (980 and 245 tiles).
#[cfg(feature = "flex")]
const GEMM_SHAPES: [GemmShape; 7] = [
    shape("sgemm", [512, 512, 512], false, 1),
    shape("complex_cnn.conv2_forward", [64, 32, 196], false, 16),
    shape("complex_cnn.conv2_input_grad", [32, 64, 196], false, 16),
    shape("complex_cnn.conv2_weight_grad", [64, 980, 32], true, 16),
    shape("complex_cnn.conv3_forward", [64, 64, 147], false, 16),
    shape("complex_cnn.conv3_input_grad", [64, 64, 147], false, 16),
    shape("complex_cnn.conv3_weight_grad", [64, 245, 64], true, 16),
];

#[cfg(feature = "flex")]
const fn shape(
    name: &'static str,
    mkn: [usize; 3],
    rhs_transposed: bool,
    count: usize,
) -> GemmShape {
    GemmShape {
        name,
        mkn,
        rhs_transposed,
        count,
    }
}

#[cfg(feature = "flex")]
fn gemm_at_winograd_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm_at_winograd_shapes");
    for shape in &GEMM_SHAPES {
        let [m, k, n] = shape.mkn;
        let values = |len: usize| (0..len).map(|i| (i % 13) as f32 / 13.0).collect::<Vec<_>>();
        let (lhs, rhs) = (values(shape.count * m * k), values(shape.count * k * n));
        let mut dst = vec![0.0f32; shape.count * m * n];
        let rhs_strides = if shape.rhs_transposed {
            [k as isize, 1]
        } else {
            [1, n as isize]
        };
        group.throughput(Throughput::Elements((2 * m * k * n * shape.count) as u64));
        let id = format!("{}_{m}x{k}x{n}", shape.name);
        group.bench_function(BenchmarkId::new("gemm", id), |bench| {
            bench.iter(|| {
                let matrices = dst
                    .chunks_exact_mut(m * n)
                    .zip(lhs.chunks_exact(m * k))
                    .zip(rhs.chunks_exact(k * n));
                for ((dst, lhs), rhs) in matrices {
                    // SAFETY: the three slices hold the m x n, m x k and k x n matrices the
                    // strides describe, and `dst` is borrowed exclusively.
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            dst.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            lhs.as_ptr(),
                            1,
                            k as isize,
                            rhs.as_ptr(),
                            rhs_strides[0],
                            rhs_strides[1],
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                }
                black_box(&dst);
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "flex"))]
fn gemm_at_winograd_shapes(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = criterion();
    targets = forward, forward_backward, reference, gemm_at_winograd_shapes
}
criterion_main!(benches);
