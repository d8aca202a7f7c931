//! Our kernels (`flex_kernels`) against burn's on flex: the convolution's output and the
//! gradients of input, weight and bias for every conv layer shape of the report's networks; max
//! pooling's output and input gradient; batch norm in training (output, gradients, running
//! statistics) and inference; the fully connected layer's output and three gradients; the
//! fallbacks to burn's kernels; dropout's counter-based masks
//! against burn's generator; SGD's one-pass step against burn's `Sgd`; and a complex CNN trained on the real slice with ours and with
//! burn's.

mod common;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, DropoutConfig, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use flex_kernels::{self as kernel, KernelImpl, Op, set_kernel};
use mnist_lab::data::MnistDataset;
use mnist_lab::{BackendKind, ModelKind};

use common::{max_abs_diff, serial};

/// Deterministic values in [-1, 1): no random generator, so no ordering between tests.
fn tensor(shape: [usize; 4], seed: usize, device: &Device) -> Tensor<4> {
    let len = shape.iter().product();
    let values: Vec<f32> = (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Asserts that each of our results is within `tolerance` times the largest value of burn's
/// (at least 1) of burn's result, naming the result and `context` otherwise.
fn assert_each_close<const N: usize>(
    names: [&str; N],
    ours: &[Vec<f32>],
    burns: &[Vec<f32>],
    tolerance: f32,
    context: &str,
) {
    for (what, (a, b)) in names.iter().zip(ours.iter().zip(burns)) {
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(a, b);
        assert!(
            diff <= tolerance * scale,
            "{what} of {context}: max diff {diff} (scale {scale})"
        );
    }
}

/// What [`norm_forward_backward`] returns, in order.
const NORM_RESULTS: [&str; 6] = [
    "output",
    "input grad",
    "gamma grad",
    "beta grad",
    "running mean",
    "running var",
];

/// A layer with deterministic weights and bias.
fn layer(
    channels: [usize; 2],
    kernel: [usize; 2],
    padding: PaddingConfig2d,
    device: &Device,
) -> Conv2d {
    let mut layer = Conv2dConfig::new(channels, kernel)
        .with_padding(padding)
        .init(device);
    let [c_in, c_out] = channels;
    let weight = tensor([c_out, c_in, kernel[0], kernel[1]], 1, device).mul_scalar(0.2);
    layer.weight = Param::from_tensor(weight);
    let bias = tensor([1, 1, 1, c_out], 2, device).reshape([c_out]);
    layer.bias = Some(Param::from_tensor(bias));
    layer
}

/// Runs `f` and asserts that our kernel for `op` ran `expected` times in it (on this thread):
/// a comparison with burn proves nothing if ours silently fell back.
fn expect_runs<R>(op: Op, expected: u64, what: &str, f: impl FnOnce() -> R) -> R {
    let before = kernel::our_kernel_runs(op);
    let result = f();
    let ran = kernel::our_kernel_runs(op) - before;
    assert_eq!(ran, expected, "{what}: our {op:?} kernel ran {ran} times");
    result
}

/// Output and the gradients of input, weight and bias of `sum(conv(x) * r)`; with `ours`,
/// asserts that our four kernels (forward and three gradients) ran.
fn forward_backward(layer: &Conv2d, x: Tensor<4>, ours: bool) -> [Vec<f32>; 4] {
    let r = |y: &Tensor<4>| tensor(y.dims(), 3, &y.device());
    forward_backward_with(layer, x, r, if ours { Some(4) } else { None })
}

/// [`forward_backward`] with the output's gradient `r(y)`; `Some(n)`: by our kernel, which must
/// run `n` times; `None`: by `Conv2d::forward`.
fn forward_backward_with(
    layer: &Conv2d,
    x: Tensor<4>,
    r: impl Fn(&Tensor<4>) -> Tensor<4>,
    ours: Option<u64>,
) -> [Vec<f32>; 4] {
    let x = x.require_grad();
    let (y, grads) = match ours {
        Some(runs) => expect_runs(Op::Conv2d, runs, "conv forward and backward", || {
            let y = kernel::conv2d(layer, x.clone());
            let grads = y.clone().mul(r(&y)).sum().backward();
            (y, grads)
        }),
        None => {
            let y = layer.forward(x.clone());
            let grads = y.clone().mul(r(&y)).sum().backward();
            (y, grads)
        }
    };
    let bias = layer.bias.as_ref().unwrap().val();
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        values(layer.weight.val().grad(&grads).unwrap()),
        values(bias.grad(&grads).unwrap()),
    ]
}

/// Every conv layer of the report's CNNs (complex CNN: 3x3 padding 1; simple and provided CNN:
/// 5x5 valid), and an uneven kernel with `Same` padding.
fn report_layers() -> Vec<([usize; 2], [usize; 2], PaddingConfig2d, usize)> {
    let p1 = PaddingConfig2d::Explicit(1, 1, 1, 1);
    vec![
        ([1, 32], [3, 3], p1.clone(), 28),
        ([32, 64], [3, 3], p1.clone(), 28),
        ([64, 64], [3, 3], p1, 14),
        ([1, 10], [5, 5], PaddingConfig2d::Valid, 28),
        ([10, 20], [5, 5], PaddingConfig2d::Valid, 12),
        ([3, 4], [3, 5], PaddingConfig2d::Same, 9),
    ]
}

#[test]
fn gemm_conv_matches_burn_forward_and_gradients() {
    // Another test of this file switches to burn's kernels for a while.
    let _serial = serial();
    let device = Device::flex().autodiff();
    for (channels, size, padding, side) in report_layers() {
        let layer = layer(channels, size, padding.clone(), &device);
        let x = tensor([3, channels[0], side, side], 4, &device);
        let ours = forward_backward(&layer, x.clone(), true);
        let burns = forward_backward(&layer, x, false);
        // Sums of up to 3 * 784 products, in another order than burn's: measured up to 2e-6 of
        // the largest value (weight gradients); 1e-5 of it is allowed.
        assert_each_close(
            ["output", "input grad", "weight grad", "bias grad"],
            &ours,
            &burns,
            1e-5,
            &format!("{channels:?} {size:?} {padding:?}"),
        );
    }
}

/// Where the GEMM kernel does not apply (stride, dilation, groups, no bias, asymmetric padding,
/// other backends) `kernel::conv2d` is `Conv2d::forward`, bit for bit; on other backends the
/// pooling and the batch norm are burn's too.
#[test]
fn everything_else_falls_back_to_burn() {
    // Another test of this file switches to burn's kernels for a while.
    let _serial = serial();
    let flex = Device::flex();
    let base = || Conv2dConfig::new([2, 4], [3, 3]);
    let layers = [
        base().with_stride([2, 2]).init(&flex),
        base().with_dilation([2, 2]).init(&flex),
        Conv2dConfig::new([2, 4], [3, 3]).with_groups(2).init(&flex),
        base().with_bias(false).init(&flex),
        base()
            .with_padding(PaddingConfig2d::Explicit(1, 0, 2, 0))
            .init(&flex),
    ];
    let x = tensor([2, 2, 9, 9], 5, &flex);
    for layer in &layers {
        assert_eq!(
            values(kernel::conv2d(layer, x.clone())),
            values(layer.forward(x.clone())),
            "{layer:?}"
        );
    }
    for (backend, device) in common::compiled_devices() {
        let layer = layer(
            [2, 4],
            [3, 3],
            PaddingConfig2d::Explicit(1, 1, 1, 1),
            &device,
        );
        let x = tensor([2, 2, 9, 9], 6, &device);
        let ours = values(kernel::conv2d(&layer, x.clone()));
        let burns = values(layer.forward(x));
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let x = tensor([2, 2, 8, 8], 16, &device);
        let pooled = values(kernel::max_pool2d(&pool, x.clone()));
        let bn = norm_layer(2, &device.clone().autodiff());
        let x_train = tensor([2, 2, 8, 8], 17, &device.clone().autodiff());
        let normed = values(kernel::batch_norm(&bn, x_train.clone()));
        if backend == BackendKind::Flex {
            assert!(max_abs_diff(&ours, &burns) < 1e-5, "flex");
        } else {
            assert_eq!(ours, burns, "{backend} must use burn's conv");
            assert_eq!(
                pooled,
                values(pool.forward(x)),
                "{backend} must use burn's pooling"
            );
            let burn_bn = norm_layer(2, &device.clone().autodiff());
            assert_eq!(
                normed,
                values(burn_bn.forward(x_train)),
                "{backend}: burn's batch norm"
            );
        }
    }
}

/// A batch norm of `channels` with deterministic gamma and beta (fresh running statistics).
fn norm_layer(channels: usize, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(channels).init(device);
    let gamma = tensor([1, 1, 1, channels], 10, device).add_scalar(1.5);
    bn.gamma = Param::from_tensor(gamma.reshape([channels]));
    bn.beta = Param::from_tensor(tensor([1, 1, 1, channels], 11, device).reshape([channels]));
    bn
}

/// Output, gradients of input, gamma and beta of `sum(bn(x) * r)`, and the running mean and
/// variance afterwards; with `ours`, asserts that our three kernels (statistics, normalization,
/// gradient) ran.
fn norm_forward_backward(bn: &BatchNorm, x: Tensor<4>, ours: bool) -> [Vec<f32>; 6] {
    let r = |y: &Tensor<4>| tensor(y.dims(), 12, &y.device());
    norm_forward_backward_with(bn, x, r, ours)
}

/// [`norm_forward_backward`] with the output's gradient `r(y)`.
fn norm_forward_backward_with(
    bn: &BatchNorm,
    x: Tensor<4>,
    r: impl Fn(&Tensor<4>) -> Tensor<4>,
    ours: bool,
) -> [Vec<f32>; 6] {
    let x = x.require_grad();
    let (y, grads) = if ours {
        expect_runs(Op::BatchNorm, 3, "batch norm forward and backward", || {
            let y = kernel::batch_norm(bn, x.clone());
            let grads = y.clone().mul(r(&y)).sum().backward();
            (y, grads)
        })
    } else {
        let y = bn.forward(x.clone());
        let grads = y.clone().mul(r(&y)).sum().backward();
        (y, grads)
    };
    norm_results(bn, &x, y, &grads)
}

/// The [`NORM_RESULTS`] of a training pass `y` of `bn` on `x`, given its gradients.
fn norm_results(
    bn: &BatchNorm,
    x: &Tensor<4>,
    y: Tensor<4>,
    grads: &burn::tensor::Gradients,
) -> [Vec<f32>; 6] {
    [
        values(y),
        values(x.grad(grads).unwrap()),
        values(bn.gamma.val().grad(grads).unwrap()),
        values(bn.beta.val().grad(grads).unwrap()),
        values(bn.running_mean.value()),
        values(bn.running_var.value()),
    ]
}

/// Batch norm of the complex CNN's conv outputs: training on the autodiff device (batch
/// statistics, gradients, running statistics) and inference, against burn's `BatchNorm`.
#[test]
fn batch_norm_matches_burn() {
    // Another test of this file switches to burn's kernels for a while.
    let _serial = serial();
    let device = Device::flex().autodiff();
    for shape in [[50, 32, 28, 28], [3, 64, 14, 14], [2, 5, 3, 1]] {
        let x = tensor(shape, 13, &device).mul_scalar(3.0).add_scalar(0.5);
        let ours = forward_backward_norm(shape[1], &x, &device, true);
        let burns = forward_backward_norm(shape[1], &x, &device, false);
        // Sums over up to 50 * 784 values, ours in f64, burn's in f32.
        assert_each_close(NORM_RESULTS, &ours, &burns, 1e-4, &format!("{shape:?}"));
    }
    // Inference (no autodiff): the running statistics after one training call.
    let flex = Device::flex();
    let bn = norm_layer(8, &device);
    let _ = kernel::batch_norm(&bn, tensor([4, 8, 5, 5], 14, &device));
    let bn = bn.valid();
    let x = tensor([4, 8, 5, 5], 15, &flex);
    let diff = max_abs_diff(
        &values(kernel::batch_norm(&bn, x.clone())),
        &values(bn.forward(x)),
    );
    assert!(diff < 1e-5, "inference: {diff}");
}

/// Trains and infers through `forward(bn, x, fused)` both ways on fresh [`norm_layer`]s
/// (`sum(y * r)` backward on `x`, then inference on another input of `shape`; inputs from
/// `seed`, `seed + 1`, `seed + 2`), asserts that all [`NORM_RESULTS`] and the inference are
/// the same bits, and returns the fused training output.
fn assert_fused_norm_same_bits(
    shape: [usize; 4],
    seed: usize,
    context: &str,
    forward: impl Fn(&BatchNorm, Tensor<4>, bool) -> Tensor<4>,
) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let x = tensor(shape, seed, &device).mul_scalar(3.0).add_scalar(0.5);
    let run = |fused: bool| {
        let bn = norm_layer(shape[1], &device);
        let x = x.clone().require_grad();
        let y = forward(&bn, x.clone(), fused);
        let r = tensor(y.dims(), seed + 1, &device);
        let grads = y.clone().mul(r).sum().backward();
        let outputs = norm_results(&bn, &x, y, &grads);
        let inference = forward(&bn.valid(), tensor(shape, seed + 2, &Device::flex()), fused);
        (outputs, values(inference))
    };
    let (fused, fused_inference) = run(true);
    let (unfused, unfused_inference) = run(false);
    for (what, (a, b)) in NORM_RESULTS.iter().zip(fused.iter().zip(&unfused)) {
        assert_same_bits(a, b, &format!("{what} of {context}"));
    }
    assert_same_bits(
        &fused_inference,
        &unfused_inference,
        &format!("inference of {context}"),
    );
    let [fused_output, ..] = fused;
    fused_output
}

/// Batch norm then max pooling fused into one kernel (the complex CNN's two wide layers) gives
/// the same bits as the two kernels one after the other: output, the gradients of the input,
/// gamma and beta, the running statistics, and inference; 2x2 windows with and without a
/// column left over, and 3x3 windows.
#[test]
fn fused_batch_norm_and_pooling_match_the_two_kernels_exactly() {
    let _serial = serial();
    for (shape, window) in [
        ([8, 64, 28, 28], [2, 2]),
        ([3, 64, 14, 14], [2, 2]),
        ([2, 5, 7, 5], [2, 2]),
        ([2, 4, 9, 7], [3, 3]),
    ] {
        let pool = MaxPool2dConfig::new(window).init();
        assert_fused_norm_same_bits(shape, 16, &format!("{shape:?}"), |bn, x, fused| {
            if fused {
                kernel::batch_norm_max_pool2d(bn, &pool, x)
            } else {
                kernel::max_pool2d(&pool, kernel::batch_norm(bn, x))
            }
        });
    }
}

/// Batch norm (pooled or not) with the ReLU after it fused in (the complex CNN's three layers)
/// gives the same bits as burn's ReLU after our kernel: output, the gradients of the input,
/// gamma and beta, the running statistics, and inference. The ReLU clamps 15-50% of the
/// outputs (fewer after pooling: a window's maximum).
#[test]
fn fused_relu_matches_burns_relu_after_the_norm_exactly() {
    use burn::tensor::activation::relu;
    let _serial = serial();
    let pool = MaxPool2dConfig::new([2, 2]).init();
    for (shape, pooled) in [
        ([4, 32, 28, 28], false),
        ([4, 64, 28, 28], true),
        ([2, 5, 7, 5], true),
        ([2, 3, 5, 6], false),
    ] {
        let context = format!("{shape:?}, pooled {pooled}");
        let output = assert_fused_norm_same_bits(shape, 21, &context, |bn, x, fused| {
            match (pooled, fused) {
                (true, true) => kernel::batch_norm_max_pool2d_relu(bn, &pool, x),
                (true, false) => relu(kernel::batch_norm_max_pool2d(bn, &pool, x)),
                (false, true) => kernel::batch_norm_relu(bn, x),
                (false, false) => relu(kernel::batch_norm(bn, x)),
            }
        });
        let zeros = output.iter().filter(|&&v| v == 0.0).count();
        assert!(
            zeros > output.len() / 10 && zeros < output.len() * 4 / 5,
            "{zeros} of {} clamped ({context})",
            output.len()
        );
    }
}

fn forward_backward_norm(
    channels: usize,
    x: &Tensor<4>,
    device: &Device,
    ours: bool,
) -> [Vec<f32>; 6] {
    norm_forward_backward(&norm_layer(channels, device), x.clone(), ours)
}

/// Restores our kernels when a test that switched to burn's ends, passed or not.
struct RestoreOurKernels;

impl Drop for RestoreOurKernels {
    fn drop(&mut self) {
        set_kernel(Op::Conv2d, KernelImpl::Ours);
        set_kernel(Op::MaxPool2d, KernelImpl::Ours);
        set_kernel(Op::BatchNorm, KernelImpl::Ours);
        set_kernel(Op::Dropout, KernelImpl::Ours);
        set_kernel(Op::Linear, KernelImpl::Ours);
        set_kernel(Op::Sgd, KernelImpl::Ours);
    }
}

/// Output and input gradient of `sum(pool(x) * r)`; with `ours`, asserts that our two kernels
/// (forward, gradient) ran.
fn pool_forward_backward(pool: &MaxPool2d, x: Tensor<4>, ours: bool) -> [Vec<f32>; 2] {
    let r = |y: &Tensor<4>| tensor(y.dims(), 7, &y.device());
    pool_forward_backward_with(pool, x, r, ours)
}

/// [`pool_forward_backward`] with the output's gradient `r(y)`.
fn pool_forward_backward_with(
    pool: &MaxPool2d,
    x: Tensor<4>,
    r: impl Fn(&Tensor<4>) -> Tensor<4>,
    ours: bool,
) -> [Vec<f32>; 2] {
    let x = x.require_grad();
    let (y, grads) = if ours {
        expect_runs(Op::MaxPool2d, 2, "pooling forward and backward", || {
            let y = kernel::max_pool2d(pool, x.clone());
            let grads = y.clone().mul(r(&y)).sum().backward();
            (y, grads)
        })
    } else {
        let y = pool.forward(x.clone());
        let grads = y.clone().mul(r(&y)).sum().backward();
        (y, grads)
    };
    [values(y), values(x.grad(&grads).unwrap())]
}

/// Pooling has no arithmetic: the same values and gradients as burn's, exactly, including
/// ties (the values repeat every 1000 elements) and odd sizes.
#[test]
fn max_pool_matches_burn_exactly() {
    // Another test of this file switches to burn's kernels for a while.
    let _serial = serial();
    let device = Device::flex().autodiff();
    for (kernel_size, shape) in [
        ([2, 2], [3, 64, 28, 28]),
        ([2, 2], [2, 3, 7, 9]),
        ([3, 2], [2, 2, 9, 8]),
    ] {
        let pool = MaxPool2dConfig::new(kernel_size)
            .with_strides(kernel_size)
            .init();
        let x = tensor(shape, 8, &device);
        assert_eq!(
            pool_forward_backward(&pool, x.clone(), true),
            pool_forward_backward(&pool, x, false),
            "{kernel_size:?} {shape:?}"
        );
    }
    // Overlapping windows and padding are burn's.
    let flex = Device::flex();
    let x = tensor([1, 2, 8, 8], 9, &flex);
    for pool in [
        MaxPool2dConfig::new([3, 3]).with_strides([1, 1]).init(),
        MaxPool2dConfig::new([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(),
    ] {
        assert_eq!(
            values(kernel::max_pool2d(&pool, x.clone())),
            values(pool.forward(x.clone()))
        );
    }
}

/// The complex CNN, 4 SGD steps on 200 real images, with our kernels and with burn's, from the
/// same seed: the same losses step by step to float rounding (the first step to 1e-5, later ones
/// drift apart as any two float orders do, 1e-3 by step 8 on a Zen 5), and the same test
/// accuracy.
#[test]
fn a_complex_cnn_trains_the_same_with_either_kernel() {
    let _serial = serial();
    let dir = common::slice_dir();
    let train = MnistDataset::train(&dir).unwrap();
    let test = MnistDataset::test(&dir).unwrap().limit(300);
    let mut config = common::run_config(ModelKind::ComplexCnn, "1@0.01", 200);
    config.training.log_interval = 1;
    let mut outcomes = vec![];
    for kernels in KernelImpl::ALL {
        let _restore = RestoreOurKernels;
        set_kernel(Op::Conv2d, kernels);
        set_kernel(Op::MaxPool2d, kernels);
        set_kernel(Op::BatchNorm, kernels);
        let out = tempfile::tempdir().unwrap();
        let runs = |op| kernel::our_kernel_runs(op);
        let before = [Op::Conv2d, Op::MaxPool2d, Op::BatchNorm].map(runs);
        outcomes.push(common::fit_on_flex(
            &config,
            out.path(),
            train.clone(),
            test.clone(),
        ));
        let ran = [Op::Conv2d, Op::MaxPool2d, Op::BatchNorm].map(runs);
        for (op, (before, after)) in [Op::Conv2d, Op::MaxPool2d, Op::BatchNorm]
            .iter()
            .zip(before.iter().zip(ran))
        {
            match kernels {
                KernelImpl::Ours => assert!(after > *before, "{op:?}: ours never ran"),
                KernelImpl::Burn => assert_eq!(after, *before, "{op:?}: ours ran"),
            }
        }
    }
    let losses = |i: usize| -> Vec<f32> { outcomes[i].history.iter().map(|r| r.loss).collect() };
    let (ours, burn) = (losses(0), losses(1));
    assert_eq!(ours.len(), 4);
    assert!(ours[3] < ours[0] * 0.9, "it learns: {ours:?}");
    // The first step sees the same weights: only the kernels' float order differs. Later steps
    // compound it through batch norm and momentum, by how much depends on the CPU's gemm
    // kernels (Zen 5 with AVX-512: 1e-7; a Zen 3 with AVX2 only: 8e-5 by step 2).
    for (step, (a, b)) in ours.iter().zip(&burn).enumerate() {
        let tolerance = if step == 0 { 1e-5 } else { 1e-3 };
        assert!(
            (a - b).abs() <= tolerance * b.abs(),
            "step {step}: {a} vs {b} ({ours:?} vs {burn:?})"
        );
    }
    // After 4 steps (~26% accuracy) many of the 300 images sit near a decision boundary: the
    // drift above flips up to 2 of them on an AVX2-only host (Zen 3), none on a Zen 5.
    let accuracy = |i: usize| outcomes[i].summary.stages.last().unwrap().test_accuracy;
    assert!(
        (accuracy(0) - accuracy(1)).abs() <= 1.0 + 1e-9,
        "{} vs {}",
        accuracy(0),
        accuracy(1)
    );
}

/// Asserts that `ours` and `burns` are the same bits (NaNs included).
fn assert_same_bits(ours: &[f32], burns: &[f32], what: &str) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(ours), bits(burns), "{what}");
}

/// Tensors with a zero-sized batch, channel, height or width fall back to burn's kernels and
/// give what burn gives (our convolution returned uninitialized memory for an empty image with
/// padding, where burn returns the bias).
#[test]
fn zero_sized_tensors_give_what_burn_gives() {
    let _serial = serial();
    let flex = Device::flex();
    let p1 = PaddingConfig2d::Explicit(1, 1, 1, 1);
    for (shape, c_out) in [
        ([1, 1, 0, 5], 4),
        ([1, 1, 5, 0], 4),
        ([0, 1, 5, 5], 4),
        ([2, 0, 4, 4], 3),
    ] {
        let conv = layer([shape[1], c_out], [2, 2], p1.clone(), &flex);
        let x = Tensor::<4>::zeros(shape, &flex);
        let ours = expect_runs(Op::Conv2d, 0, "empty conv input", || {
            kernel::conv2d(&conv, x.clone())
        });
        let burns = conv.forward(x);
        assert_eq!(ours.dims(), burns.dims(), "{shape:?}");
        assert_same_bits(&values(ours), &values(burns), &format!("conv {shape:?}"));
    }
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    for shape in [[0, 2, 4, 4], [2, 0, 4, 4], [2, 2, 0, 4], [2, 2, 4, 0]] {
        let x = Tensor::<4>::zeros(shape, &flex);
        let ours = expect_runs(Op::MaxPool2d, 0, "empty pooling input", || {
            kernel::max_pool2d(&pool, x.clone())
        });
        let burns = pool.forward(x);
        assert_eq!(ours.dims(), burns.dims(), "pool {shape:?}");
    }
    for shape in [[0, 2, 3, 3], [2, 2, 0, 3]] {
        let bn = norm_layer(2, &flex);
        let x = Tensor::<4>::zeros(shape, &flex);
        let ours = expect_runs(Op::BatchNorm, 0, "empty batch norm input", || {
            kernel::batch_norm(&bn, x.clone())
        });
        let burns = bn.forward(x);
        assert_eq!(ours.dims(), burns.dims(), "batch norm {shape:?}");
    }
}

/// Strided views as inputs and as output gradients (`swap_dims`, `narrow`, `expand`): our
/// kernels copy them contiguous first and agree with burn's.
#[test]
fn non_contiguous_inputs_and_gradients_match_burn() {
    let _serial = serial();
    let device = Device::flex().autodiff();
    type View<'a> = Box<dyn Fn(usize) -> Tensor<4> + 'a>;
    let views: [(&str, View); 3] = [
        (
            "swap_dims",
            Box::new(|c| tensor([3, c, 9, 10], 20, &device).swap_dims(2, 3)),
        ),
        (
            "narrow",
            Box::new(|c| tensor([3, c, 14, 10], 21, &device).narrow(2, 2, 10)),
        ),
        (
            "expand",
            Box::new(|c| tensor([1, c, 10, 10], 22, &device).expand([3, c, 10, 10])),
        ),
    ];
    // The output's gradient is a strided view too: a transposed tensor of the output's shape.
    let transposed = |seed| {
        move |y: &Tensor<4>| {
            let [b, c, h, w] = y.dims();
            tensor([b, c, w, h], seed, &y.device()).swap_dims(2, 3)
        }
    };
    for (name, view) in &views {
        let conv = layer(
            [2, 4],
            [3, 3],
            PaddingConfig2d::Explicit(1, 1, 1, 1),
            &device,
        );
        let x = view(2);
        assert_each_close(
            ["output", "input grad", "weight grad", "bias grad"],
            &forward_backward_with(&conv, x.clone(), transposed(30), Some(4)),
            &forward_backward_with(&conv, x, transposed(30), None),
            1e-5,
            &format!("conv of a {name} view"),
        );
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        let x = view(2);
        assert_eq!(
            pool_forward_backward_with(&pool, x.clone(), transposed(31), true),
            pool_forward_backward_with(&pool, x, transposed(31), false),
            "pooling of a {name} view"
        );
        let x = view(3).mul_scalar(2.0).add_scalar(0.5);
        assert_each_close(
            NORM_RESULTS,
            &norm_forward_backward_with(&norm_layer(3, &device), x.clone(), transposed(32), true),
            &norm_forward_backward_with(&norm_layer(3, &device), x, transposed(32), false),
            1e-4,
            &format!("batch norm of a {name} view"),
        );
    }
}

/// Each case our kernels leave to burn gives burn's bits, and ours never runs: an even kernel
/// with `Same` padding (asymmetric), padding as large as the kernel, pooling in ceil mode or
/// with dilation, a frozen batch norm (training flag off) on an autodiff device, and a batch
/// norm whose parameters or running statistics are not `f32` (this panicked at
/// `expect("f32")`).
#[test]
fn each_fallback_is_burns_kernel() {
    let _serial = serial();
    let flex = Device::flex();
    let x = tensor([2, 2, 9, 9], 40, &flex);
    let convs = [
        ("even kernel, Same padding", [2, 2], PaddingConfig2d::Same),
        (
            "padding = kernel",
            [2, 2],
            PaddingConfig2d::Explicit(2, 2, 2, 2),
        ),
        (
            "padding > kernel",
            [3, 3],
            PaddingConfig2d::Explicit(4, 4, 4, 4),
        ),
    ];
    for (what, size, padding) in convs {
        let conv = layer([2, 3], size, padding, &flex);
        let ours = expect_runs(Op::Conv2d, 0, what, || kernel::conv2d(&conv, x.clone()));
        assert_same_bits(&values(ours), &values(conv.forward(x.clone())), what);
    }
    let pools = [
        (
            "ceil mode",
            MaxPool2dConfig::new([2, 2])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .init(),
        ),
        (
            "dilation",
            MaxPool2dConfig::new([2, 2])
                .with_strides([2, 2])
                .with_dilation([2, 2])
                .init(),
        ),
    ];
    for (what, pool) in pools {
        let ours = expect_runs(Op::MaxPool2d, 0, what, || {
            kernel::max_pool2d(&pool, x.clone())
        });
        assert_same_bits(&values(ours), &values(pool.forward(x.clone())), what);
    }
    let autodiff = flex.clone().autodiff();
    let x = tensor([2, 2, 6, 6], 41, &autodiff);
    let frozen = norm_layer(2, &autodiff).freeze();
    let ours = expect_runs(Op::BatchNorm, 0, "frozen batch norm", || {
        kernel::batch_norm(&frozen, x.clone())
    });
    assert_same_bits(
        &values(ours),
        &values(frozen.forward(x.clone())),
        "frozen batch norm",
    );
    // A batch norm in f64, as a checkpoint saved in f64 holds it: burn's kernel. And f64
    // parameters on an f32 input, which burn refuses (its dtype check panics): refused the same
    // way, where ours panicked at `expect("f32")` in its own code.
    let f64_layer = |bn: BatchNorm| BatchNorm {
        gamma: bn.gamma.map(|t| t.cast(burn::tensor::DType::F64)),
        beta: bn.beta.map(|t| t.cast(burn::tensor::DType::F64)),
        running_mean: burn::module::RunningState::new(
            bn.running_mean.value().cast(burn::tensor::DType::F64),
        ),
        running_var: burn::module::RunningState::new(
            bn.running_var.value().cast(burn::tensor::DType::F64),
        ),
        ..bn
    };
    let bn = f64_layer(norm_layer(2, &flex));
    let x = tensor([2, 2, 6, 6], 42, &flex);
    let x64 = x.clone().cast(burn::tensor::DType::F64);
    let ours = expect_runs(Op::BatchNorm, 0, "f64 batch norm", || {
        kernel::batch_norm(&bn, x64.clone())
    });
    assert_eq!(ours.to_data(), bn.forward(x64).to_data(), "f64 batch norm");
    let panic_message = |f: &dyn Fn() -> Tensor<4>| {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("f64 parameters on f32 input");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let ours = panic_message(&|| kernel::batch_norm(&bn, x.clone()));
    let burns = panic_message(&|| bn.forward(x.clone()));
    assert_eq!(ours, burns, "the same refusal as burn's");
}

/// The same bits with 1, 2 and 3 rayon threads: our kernels' forward and gradients, and a
/// complex CNN's first training steps on the real slice (burn's own ops included).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let _serial = serial();
    let device = Device::flex().autodiff();
    let in_pool = |threads: usize, f: &(dyn Fn() -> Vec<Vec<f32>> + Sync)| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    };
    let kernels = || {
        let conv = layer(
            [32, 64],
            [3, 3],
            PaddingConfig2d::Explicit(1, 1, 1, 1),
            &device,
        );
        let x = tensor([12, 32, 14, 14], 50, &device);
        let mut all = forward_backward(&conv, x, true).to_vec();
        let x = tensor([12, 64, 14, 14], 51, &device).mul_scalar(3.0);
        all.extend(norm_forward_backward(&norm_layer(64, &device), x, true));
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        all.extend(pool_forward_backward(
            &pool,
            tensor([12, 64, 14, 14], 52, &device),
            true,
        ));
        all
    };
    let dir = common::slice_dir();
    let train = MnistDataset::train(&dir).unwrap().limit(100);
    let test = MnistDataset::test(&dir).unwrap().limit(50);
    let mut config = common::run_config(ModelKind::ComplexCnn, "1@0.01", 100);
    config.training.log_interval = 1;
    let training = || {
        let out = tempfile::tempdir().unwrap();
        let outcome = common::fit_on_flex(&config, out.path(), train.clone(), test.clone());
        let losses = outcome.history.iter().map(|r| r.loss).collect::<Vec<f32>>();
        vec![losses, common::weights(&outcome.model).concat()]
    };
    let one = (in_pool(1, &kernels), in_pool(1, &training));
    for threads in [2, 3] {
        let (k, t) = (in_pool(threads, &kernels), in_pool(threads, &training));
        for (i, (a, b)) in one.0.iter().zip(&k).enumerate() {
            assert_same_bits(a, b, &format!("kernel result {i}, 1 vs {threads} threads"));
        }
        assert_same_bits(&one.1[0], &t[0], &format!("losses, 1 vs {threads} threads"));
        assert_same_bits(
            &one.1[1],
            &t[1],
            &format!("weights, 1 vs {threads} threads"),
        );
    }
}

/// Dropout by our generator: the same seed gives the same mask on each backend, the gradient is
/// the mask, the kept share is `1 - prob`, and a different seed or call gives another mask; with
/// burn's generator chosen it is burn's `Dropout::forward`, bit for bit.
#[test]
fn dropout_masks_are_seeded_scaled_and_their_own_gradient() {
    let _serial = serial();
    let _restore = RestoreOurKernels;
    let layer = DropoutConfig::new(0.2).init();
    for (backend, device) in common::compiled_devices() {
        let device = device.autodiff();
        let x = Tensor::<2>::ones([50, 512], &device).require_grad();
        let run = |seed| {
            device.seed(seed);
            expect_runs(Op::Dropout, 1, "dropout", || {
                kernel::dropout(&layer, x.clone())
            })
        };
        let y = run(11);
        let grads = y.clone().sum().backward();
        let y = values(y);
        // Each value is 0 or 1 / 0.8 (as f32), and the gradient of sum(y) by x is y itself.
        let scale = (1.0 / 0.8f64) as f32;
        assert!(y.iter().all(|&v| v == 0.0 || v == scale), "{backend}");
        assert_eq!(values(x.grad(&grads).unwrap()), y, "{backend}: gradient");
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        // 25,600 draws: a standard deviation of 0.0025.
        assert!((kept - 0.8).abs() < 0.0125, "{backend}: kept {kept}");
        assert_eq!(values(run(11)), y, "{backend}: same seed, same mask");
        assert_ne!(values(run(12)), y, "{backend}: another seed");
        device.seed(11);
        let _ = kernel::dropout(&layer, x.clone());
        assert_ne!(
            values(kernel::dropout(&layer, x.clone())),
            y,
            "{backend}: the second call of a seed draws another key"
        );
    }

    // burn's generator, as burn's layer draws it.
    let device = Device::flex().autodiff();
    let x = tensor([4, 3, 8, 8], 5, &device);
    set_kernel(Op::Dropout, KernelImpl::Burn);
    device.seed(3);
    let ours_off = expect_runs(Op::Dropout, 0, "burn's dropout", || {
        kernel::dropout(&layer, x.clone())
    });
    device.seed(3);
    assert_same_bits(
        &values(ours_off),
        &values(layer.forward(x)),
        "burn's dropout",
    );
}

/// The fully connected layer by our kernel against burn's `Linear::forward`: output and the
/// gradients of input, weight and bias, on the report's layer shapes (and odd ones); a layer
/// without bias, and other backends, are burn's.
#[test]
fn linear_matches_burn_forward_and_gradients() {
    let _serial = serial();
    let _restore = RestoreOurKernels;
    let device = Device::flex().autodiff();
    for (rows, d_in, d_out) in [
        (50, 784, 512),
        (50, 512, 10),
        (100, 3136, 512),
        (1, 320, 50),
        (3, 5, 7),
    ] {
        let layer = LinearConfig::new(d_in, d_out).init(&device);
        let x = tensor([rows, d_in, 1, 1], rows + d_in, &device).reshape([rows, d_in]);
        let r = tensor([rows, d_out, 1, 1], d_out, &device).reshape([rows, d_out]);
        let run = |ours: bool| {
            set_kernel(
                Op::Linear,
                if ours {
                    KernelImpl::Ours
                } else {
                    KernelImpl::Burn
                },
            );
            let x = x.clone().require_grad();
            let expected_runs = if ours { 4 } else { 0 };
            expect_runs(Op::Linear, expected_runs, "linear", || {
                let y = kernel::linear(&layer, x.clone());
                let grads = (y.clone() * r.clone()).sum().backward();
                let dw = layer.weight.grad(&grads).unwrap();
                let db = layer.bias.as_ref().unwrap().grad(&grads).unwrap();
                [
                    values(y),
                    values(x.grad(&grads).unwrap()),
                    values(dw),
                    values(db),
                ]
            })
        };
        let (ours, burns) = (run(true), run(false));
        let context = format!("{rows}x{d_in}x{d_out}");
        assert_each_close(["y", "dx", "dw", "db"], &ours, &burns, 1e-5, &context);
    }
    set_kernel(Op::Linear, KernelImpl::Ours);
    // No bias: burn's.
    let layer = LinearConfig::new(6, 4).with_bias(false).init(&device);
    let x = tensor([2, 6, 1, 1], 1, &device).reshape([2, 6]);
    let y = expect_runs(Op::Linear, 0, "no bias", || {
        kernel::linear(&layer, x.clone())
    });
    assert_same_bits(&values(y), &values(layer.forward(x)), "no bias");
    // Other backends: burn's, the same values.
    for (backend, other) in common::compiled_devices() {
        if backend == BackendKind::Flex {
            continue;
        }
        let layer = LinearConfig::new(6, 4).init(&other);
        let x = tensor([2, 6, 1, 1], 1, &other).reshape([2, 6]);
        let y = expect_runs(Op::Linear, 0, "other backend", || {
            kernel::linear(&layer, x.clone())
        });
        assert_same_bits(&values(y), &values(layer.forward(x)), &format!("{backend}"));
    }
}

/// Two layers, for the optimizer tests.
#[derive(Module, Debug)]
struct TwoLayers {
    a: burn::nn::Linear,
    b: burn::nn::Linear,
}

impl TwoLayers {
    fn loss(&self, x: Tensor<2>, r: Tensor<2>) -> Tensor<1> {
        let h = burn::tensor::activation::relu(self.a.forward(x));
        (self.b.forward(h) * r).sum()
    }

    fn params(&self) -> Vec<Vec<f32>> {
        let bias = |l: &burn::nn::Linear| values(l.bias.as_ref().unwrap().val());
        vec![
            values(self.a.weight.val()),
            bias(&self.a),
            values(self.b.weight.val()),
            bias(&self.b),
        ]
    }
}

/// `model` after one step of `optim` on batch `step`'s loss.
fn sgd_step(
    model: TwoLayers,
    optim: &mut burn::optim::ModuleOptimizer,
    step: usize,
    lr: f64,
) -> TwoLayers {
    let device = model.a.weight.device();
    let x = tensor([8, 12, 1, 1], step, &device).reshape([8, 12]);
    let r = tensor([8, 5, 1, 1], step + 100, &device).reshape([8, 5]);
    let grads = model.loss(x, r).backward();
    let grads = burn::optim::GradientsParams::from_grads(grads, &model);
    optim.step(lr, model, grads)
}

#[test]
fn fused_sgd_is_burns_sgd_bit_for_bit_and_reads_its_records() {
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{ModuleOptimizer, SgdConfig};

    let _serial = serial();
    let _restore = RestoreOurKernels;
    let device = Device::flex().autodiff();
    let init = TwoLayers {
        a: LinearConfig::new(12, 16).init(&device),
        b: LinearConfig::new(16, 5).init(&device),
    };
    let report = mnist_lab::train::sgd_config(0.9);
    let configs: [(&str, SgdConfig, u64); 4] = [
        (
            "momentum 0.9, dampening 0 (the report's)",
            report.clone(),
            4,
        ),
        (
            "with weight decay",
            report
                .clone()
                .with_weight_decay(Some(WeightDecayConfig::new(5e-3))),
            4,
        ),
        (
            "burn's dampening 0.1, Nesterov",
            SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_nesterov(true))),
            4,
        ),
        // No velocity: burn's operations, nothing of ours runs.
        ("no momentum", mnist_lab::train::sgd_config(0.0), 0),
    ];
    for (what, config, runs_per_step) in configs {
        let run =
            |optim: &mut ModuleOptimizer, mut model: TwoLayers, steps: std::ops::Range<usize>| {
                for step in steps {
                    model = sgd_step(model, optim, step, 0.05);
                }
                model
            };
        let (mut burns_optim, mut ours_optim) = (config.init(), kernel::sgd_optimizer(&config));
        let burns = run(&mut burns_optim, init.clone(), 0..2);
        // The first step of each parameter has no velocity yet (burn's operations); each later
        // step runs our kernel once per parameter.
        let ours = expect_runs(Op::Sgd, runs_per_step, what, || {
            run(&mut ours_optim, init.clone(), 0..2)
        });
        let kept = ours.params();
        for (o, b) in ours.params().iter().zip(burns.params()) {
            assert_same_bits(o, &b, what);
        }
        // Each resumes from the other's record and agrees with the original.
        let (burns_record, ours_record) = (burns_optim.to_record(), ours_optim.to_record());
        let mut ours_from_burns = kernel::sgd_optimizer(&config).load_record(burns_record);
        let mut burns_from_ours = config.init().load_record(ours_record);
        let a = run(&mut ours_from_burns, ours.clone(), 2..5);
        let b = run(&mut burns_from_ours, burns.clone(), 2..5);
        let c = run(&mut ours_optim, ours.clone(), 2..5);
        for ((a, b), c) in a.params().iter().zip(b.params()).zip(c.params()) {
            assert_same_bits(a, &b, &format!("{what}: ours on burn's record"));
            assert_same_bits(a, &c, &format!("{what}: burn's on our record"));
        }
        // Stepping a copy left the copy kept before it as it was (no write into shared memory).
        assert_eq!(ours.params(), kept, "{what}: a kept copy changed");
        // burn's kernel chosen: the same bits again, nothing of ours.
        set_kernel(Op::Sgd, KernelImpl::Burn);
        let burn_chosen = expect_runs(Op::Sgd, 0, what, || {
            run(&mut kernel::sgd_optimizer(&config), init.clone(), 0..2)
        });
        set_kernel(Op::Sgd, KernelImpl::Ours);
        for (o, b) in burn_chosen.params().iter().zip(burns.params()) {
            assert_same_bits(o, &b, &format!("{what}, burn's kernel"));
        }
    }
    // Other backends take burn's operations, with the same results as burn's Sgd.
    for (backend, other) in common::compiled_devices() {
        if backend == BackendKind::Flex {
            continue;
        }
        let other = other.autodiff();
        let init = TwoLayers {
            a: LinearConfig::new(12, 16).init(&other),
            b: LinearConfig::new(16, 5).init(&other),
        };
        let step3 = |mut optim: ModuleOptimizer| {
            let mut model = init.clone();
            for step in 0..3 {
                model = sgd_step(model, &mut optim, step, 0.05);
            }
            model.params()
        };
        let ours = expect_runs(Op::Sgd, 0, "other backend", || {
            step3(kernel::sgd_optimizer(&report))
        });
        for (o, b) in ours.iter().zip(step3(report.init())) {
            assert_same_bits(o, &b, &format!("{backend}"));
        }
    }
}
