//! Our kernels plugged into burn through a backend extension: forward ops on Flex, and on
//! `Autodiff<Flex>` the same ops with backward steps that call our gradient kernels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Backend, DType, ExtensionType, Flex, TensorMetadata, backend_extension,
    get_or_init_device_settings,
};
use burn::tensor::{Scalar, TensorData};

use super::Op;
use super::batch_norm::{self, NormGeometry};
use super::gemm_conv::{self, ConvGeometry};
use super::linear::{self, LinearGeometry};
use super::max_pool::{self, PoolGeometry};
use super::norm_pool;
use super::sgd::{self, Momentum};
use super::winograd;

/// Per-channel batch statistics, `[channels]` each.
#[derive(ExtensionType)]
pub struct MeanVar<B: Backend> {
    /// Mean.
    pub mean: FloatTensor<B>,
    /// Biased variance.
    pub variance: FloatTensor<B>,
}

/// Gradients of a training batch norm.
#[derive(ExtensionType)]
pub struct BatchNormGrads<B: Backend> {
    /// Of the input.
    pub x: FloatTensor<B>,
    /// Of `gamma`, `[channels]`.
    pub gamma: FloatTensor<B>,
    /// Of `beta`, `[channels]`.
    pub beta: FloatTensor<B>,
}

/// A parameter and its momentum's velocity after one SGD step.
#[derive(ExtensionType)]
pub struct SgdStep<B: Backend> {
    /// The parameter.
    pub param: FloatTensor<B>,
    /// The velocity.
    pub velocity: FloatTensor<B>,
}

/// The pooling window of a batch norm that is not followed by pooling: 1x1 windows, the
/// identity.
pub const NO_POOLING: [usize; 2] = [1, 1];

/// Stride-1 convolution with bias and explicit symmetric padding, and its two gradients; max
/// pooling over non-overlapping windows, and its gradient; batch normalization of 4D
/// activations, and its training gradient.
#[backend_extension(Flex, Autodiff)]
pub trait LabKernels: Backend {
    /// Mean and biased variance per channel of `x` `[batch, channels, h, w]` (no gradient).
    fn lab_batch_mean_var(x: FloatTensor<Self>) -> MeanVar<Self>;

    /// Batch norm of `x` with `mean` and `variance` as constants (inference), followed by max
    /// pooling over `pool` windows ([`NO_POOLING`], 1x1 windows, the identity, for none), then
    /// by a ReLU where `relu` says so.
    #[allow(clippy::too_many_arguments)]
    fn lab_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self> {
        let normalized = Self::batch_norm(x, gamma, beta, mean, variance, epsilon);
        let pooled = if pool == NO_POOLING {
            normalized
        } else {
            Self::lab_max_pool2d(normalized, pool)
        };
        if relu { Self::relu(pooled) } else { pooled }
    }

    /// [`Self::lab_batch_norm`] with the batch's own statistics `mean` and `variance` (from
    /// [`Self::lab_batch_mean_var`]): differentiable in `x` (through the statistics too),
    /// `gamma` and `beta`.
    #[allow(clippy::too_many_arguments)]
    fn lab_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Gradients of [`Self::lab_batch_norm_train`] from the (pooled, clamped) output's
    /// gradient.
    #[allow(clippy::too_many_arguments)]
    fn lab_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> BatchNormGrads<Self> {
        let output_grad = if pool == NO_POOLING && !relu {
            output_grad
        } else {
            let normalized = Self::batch_norm(
                x.clone(),
                gamma.clone(),
                beta,
                mean.clone(),
                variance.clone(),
                epsilon,
            );
            let output_grad = if relu {
                // The ReLU's input: the normalized values, pooled where a pooling follows.
                let relu_input = if pool == NO_POOLING {
                    normalized.clone()
                } else {
                    Self::lab_max_pool2d(normalized.clone(), pool)
                };
                Self::relu_backward(relu_input, output_grad)
            } else {
                output_grad
            };
            if pool == NO_POOLING {
                output_grad
            } else {
                Self::lab_max_pool2d_backward(normalized, output_grad, pool)
            }
        };
        let grads = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, output_grad);
        BatchNormGrads {
            x: grads.x_grad,
            gamma: grads.gamma_grad,
            beta: grads.beta_grad,
        }
    }

    /// Max pooling of `x` `[batch, channels, h, w]` with window and stride `kernel`, no padding.
    fn lab_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        burn_max_pool2d::<Self>(x, kernel)
    }

    /// Gradient of `x` for [`Self::lab_max_pool2d`] from the output's gradient.
    fn lab_max_pool2d_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        let (stride, padding, dilation) = (kernel, [0, 0], [1, 1]);
        let int_dtype = get_or_init_device_settings::<Self>(&x.device()).int_dtype;
        let pooled = Self::max_pool2d_with_indices(
            x.clone(),
            kernel,
            stride,
            padding,
            dilation,
            false,
            int_dtype,
        );
        Self::max_pool2d_with_indices_backward(
            x,
            kernel,
            stride,
            padding,
            dilation,
            false,
            output_grad,
            pooled.indices,
        )
        .x_grad
    }

    /// `conv2d(x, weight, bias)` with stride 1, dilation 1, one group and `padding`.
    fn lab_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self>;

    /// Gradient of `x` `[batch, c_in, h, w]` from the output's gradient.
    fn lab_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options(padding))
    }

    /// Gradient of the weight `[c_out, c_in, kh, kw]` from the output's gradient.
    fn lab_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options(padding))
    }

    /// `x · weight + bias` of `x` `[rows, d_in]`, `weight` `[d_in, d_out]` and `bias` `[d_out]`
    /// (a `Linear` layer), all `f32`.
    fn lab_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Gradient of `x` `[rows, d_in]` from the output's gradient: `dy · weightᵀ`.
    fn lab_linear_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::float_matmul(output_grad, Self::float_transpose(weight))
    }

    /// Gradient of the weight `[d_in, d_out]` from the output's gradient: `xᵀ · dy`.
    fn lab_linear_weight_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::float_matmul(Self::float_transpose(x), output_grad)
    }

    /// Gradient of the bias `[d_out]`: the sum of the output gradient's rows.
    fn lab_linear_bias_backward(output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let d_out = output_grad.shape()[1];
        Self::float_reshape(Self::float_sum_dim(output_grad, 0), [d_out].into())
    }

    /// One step of SGD with momentum on `param` (burn's `Sgd`: weight decay, then the velocity
    /// `grad * (1 - dampening) + velocity * momentum`, then `param - step * lr`): the parameter
    /// and the velocity after it. This default is burn's tensor operations, one by one.
    fn lab_sgd_momentum_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        lr: f64,
        momentum: Momentum,
        weight_decay: Option<f32>,
    ) -> SgdStep<Self> {
        let dtype = param.dtype();
        let times =
            |t: FloatTensor<Self>, v: f64| Self::float_mul_scalar(t, Scalar::new(v, &dtype));
        let grad = match weight_decay {
            Some(penalty) => Self::float_add(times(param.clone(), f64::from(penalty)), grad),
            None => grad,
        };
        let velocity = Self::float_add(
            times(grad.clone(), 1.0 - momentum.dampening),
            times(velocity, f64::from(momentum.momentum)),
        );
        let step = if momentum.nesterov {
            Self::float_add(times(velocity.clone(), f64::from(momentum.momentum)), grad)
        } else {
            velocity.clone()
        };
        SgdStep {
            param: Self::float_sub(param, times(step, lr)),
            velocity,
        }
    }

    /// Gradient of the bias `[c_out]` from the output's gradient.
    fn lab_conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_bias_backward(x, bias, output_grad)
    }
}

/// burn's max pooling over non-overlapping `kernel` windows: [`LabKernels::lab_max_pool2d`]
/// where ours does not apply.
fn burn_max_pool2d<B: Backend>(x: FloatTensor<B>, kernel: [usize; 2]) -> FloatTensor<B> {
    B::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false)
}

/// burn's options for the convolutions this extension computes.
fn options(padding: [usize; 2]) -> ConvOptions<2> {
    ConvOptions::new([1, 1], padding, [1, 1], 1)
}

/// The geometry of `x` convolved with `weight`, or `None` where the GEMM kernels do not apply
/// (not `f32`, not 4D, channel counts that disagree, an empty tensor, padding not below the
/// kernel).
fn geometry(x: &FlexTensor, weight: &FlexTensor, padding: [usize; 2]) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if xs.num_dims() != 4 || ws.num_dims() != 4 || xs[1] != ws[1] {
        return None;
    }
    if xs.num_elements() == 0 || ws.num_elements() == 0 {
        return None;
    }
    ConvGeometry::new(xs[0], xs[1], [xs[2], xs[3]], ws[0], [ws[2], ws[3]], padding)
}

/// Whether all of `tensors` are `f32`.
fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// The values of `tensor`, contiguous (a copy only when it is a strided view).
fn values(tensor: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) => slice.into(),
        None => tensor
            .to_contiguous()
            .as_slice::<f32>()
            .expect("f32")
            .to_vec()
            .into(),
    }
}

/// `tensor` as one whose storage holds exactly its values in order (a copy only when it is a
/// view), so that its storage can be written element by element.
fn whole(tensor: FlexTensor) -> FlexTensor {
    let len = tensor.layout().shape().num_elements();
    if tensor.layout().contiguous_offsets() == Some((0, len))
        && tensor.bytes().len() == len * std::mem::size_of::<f32>()
    {
        return tensor;
    }
    flex_tensor(
        values(&tensor).into_owned(),
        tensor.layout().shape().to_vec(),
    )
}

fn flex_tensor(values: Vec<f32>, shape: impl Into<Vec<usize>>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The pooling geometry of `x`, or `None` where our kernel does not apply (not 4D `f32`,
/// empty, an empty window).
fn pool_geometry(x: &FlexTensor, kernel: [usize; 2]) -> Option<PoolGeometry> {
    let shape = x.layout().shape();
    (x.dtype() == DType::F32
        && shape.num_dims() == 4
        && shape.num_elements() > 0
        && kernel[0] > 0
        && kernel[1] > 0)
        .then(|| PoolGeometry {
            planes: shape[0] * shape[1],
            height: shape[2],
            width: shape[3],
            kernel,
        })
}

/// The normalization geometry of a non-empty 4D `f32` `x`, or `None`.
fn norm_geometry(x: &FlexTensor) -> Option<NormGeometry> {
    let shape = x.layout().shape();
    (x.dtype() == DType::F32 && shape.num_dims() == 4 && shape.num_elements() > 0).then(|| {
        NormGeometry {
            batch: shape[0],
            channels: shape[1],
            spatial: shape[2] * shape[3],
        }
    })
}

impl LabKernels for Flex {
    fn lab_batch_mean_var(x: FlexTensor) -> MeanVar<Self> {
        let g = norm_geometry(&x).expect("kernel::batch_norm checks for 4D f32");
        super::count_run(Op::BatchNorm);
        let (mean, variance) = batch_norm::mean_var(&values(&x), &g);
        MeanVar {
            mean: flex_tensor(mean, [g.channels]),
            variance: flex_tensor(variance, [g.channels]),
        }
    }

    fn lab_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> FlexTensor {
        let Some(g) = norm_geometry(&x).filter(|_| all_f32(&[&gamma, &beta, &mean, &variance]))
        else {
            // burn's kernels.
            let normalized = Self::batch_norm(x, gamma, beta, mean, variance, epsilon);
            let pooled = if pool == NO_POOLING {
                normalized
            } else {
                burn_max_pool2d::<Self>(normalized, pool)
            };
            return if relu { Self::relu(pooled) } else { pooled };
        };
        super::count_run(Op::BatchNorm);
        let params = [&gamma, &beta, &mean, &variance].map(|t| values(t));
        let params = [&params[0][..], &params[1], &params[2], &params[3]];
        let shape = x.layout().shape().to_vec();
        if pool == NO_POOLING && !relu {
            let out = batch_norm::normalize(&values(&x), params, epsilon, &g);
            return flex_tensor(out, shape);
        }
        let pool = (pool != NO_POOLING).then(|| {
            pool_geometry(&x, pool).expect("kernel::batch_norm_max_pool2d checks the window")
        });
        let out_shape = match &pool {
            Some(pool) => {
                super::count_run(Op::MaxPool2d);
                let [oh, ow] = pool.out_size();
                [shape[0], shape[1], oh, ow]
            }
            None => [shape[0], shape[1], shape[2], shape[3]],
        };
        let after = norm_pool::After {
            pool: pool.as_ref(),
            relu,
        };
        let out = norm_pool::forward(&values(&x), params, epsilon, &g, after);
        flex_tensor(out, out_shape)
    }

    fn lab_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> FlexTensor {
        Self::lab_batch_norm(x, gamma, beta, mean, variance, epsilon, pool, relu)
    }

    fn lab_batch_norm_train_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        output_grad: FlexTensor,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> BatchNormGrads<Self> {
        let g = norm_geometry(&x).expect("the forward pass checked the input");
        let pool = (pool != NO_POOLING)
            .then(|| pool_geometry(&x, pool).expect("the forward pass checked the window"));
        super::count_run(Op::BatchNorm);
        if pool.is_some() {
            super::count_run(Op::MaxPool2d);
        }
        let shape = x.layout().shape().to_vec();
        let (x, output_grad) = (values(&x), values(&output_grad));
        let (dx, dgamma, dbeta) = if pool.is_some() || relu {
            let params = [&gamma, &beta, &mean, &variance].map(|t| values(t));
            let params = [&params[0][..], &params[1], &params[2], &params[3]];
            let after = norm_pool::After {
                pool: pool.as_ref(),
                relu,
            };
            norm_pool::train_backward(&x, params, &output_grad, epsilon, &g, after)
        } else {
            let params = [&gamma, &mean, &variance].map(|t| values(t));
            let params = [&params[0][..], &params[1], &params[2]];
            batch_norm::train_backward(&x, params, &output_grad, epsilon, &g)
        };
        BatchNormGrads {
            x: flex_tensor(dx, shape),
            gamma: flex_tensor(dgamma, [g.channels]),
            beta: flex_tensor(dbeta, [g.channels]),
        }
    }

    fn lab_max_pool2d(x: FlexTensor, kernel: [usize; 2]) -> FlexTensor {
        let Some(g) = pool_geometry(&x, kernel) else {
            return burn_max_pool2d::<Self>(x, kernel);
        };
        super::count_run(Op::MaxPool2d);
        let shape = x.layout().shape();
        let [oh, ow] = g.out_size();
        let out = max_pool::forward(&values(&x), &g);
        flex_tensor(out, [shape[0], shape[1], oh, ow])
    }

    fn lab_max_pool2d_backward(
        x: FlexTensor,
        output_grad: FlexTensor,
        kernel: [usize; 2],
    ) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let g = pool_geometry(&x, kernel).expect("the forward pass checked the input");
        super::count_run(Op::MaxPool2d);
        let dx = max_pool::backward(&values(&x), &values(&output_grad), &g);
        flex_tensor(dx, shape.to_vec())
    }

    fn lab_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        padding: [usize; 2],
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, padding).filter(|_| bias.dtype() == DType::F32) else {
            return Flex::conv2d(x, weight, Some(bias), options(padding));
        };
        super::count_run(Op::Conv2d);
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let out = if winograd_on() && winograd::covers(&g) {
            winograd::forward(&x, &weight, Some(&bias), &g)
        } else {
            gemm_conv::forward(&x, &weight, Some(&bias), &g)
        };
        flex_tensor(out, g.output_shape())
    }

    fn lab_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        padding: [usize; 2],
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, padding) else {
            return Flex::conv2d_x_backward(x, weight, output_grad, options(padding));
        };
        super::count_run(Op::Conv2d);
        let (output_grad, weight) = (values(&output_grad), values(&weight));
        let dx = if winograd_on() && winograd::covers_input_grad(&g) {
            winograd::input_grad(&output_grad, &weight, &g)
        } else {
            gemm_conv::input_grad(&output_grad, &weight, &g)
        };
        flex_tensor(dx, g.input_shape())
    }

    fn lab_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        padding: [usize; 2],
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, padding) else {
            return Flex::conv2d_weight_backward(x, weight, output_grad, options(padding));
        };
        super::count_run(Op::Conv2d);
        let (x, output_grad) = (values(&x), values(&output_grad));
        let dw = if winograd_on() && winograd::covers(&g) {
            winograd::weight_grad(&x, &output_grad, &g)
        } else {
            gemm_conv::weight_grad(&x, &output_grad, &g)
        };
        flex_tensor(dw, g.weight_shape())
    }

    fn lab_conv2d_bias_backward(
        x: FlexTensor,
        bias: FlexTensor,
        output_grad: FlexTensor,
    ) -> FlexTensor {
        let shape = output_grad.layout().shape();
        // Only the output's shape matters for the sum: a 1x1 geometry with that output.
        let g = (output_grad.dtype() == DType::F32
            && shape.num_dims() == 4
            && shape.num_elements() > 0)
            .then(|| ConvGeometry::new(shape[0], 1, [shape[2], shape[3]], shape[1], [1, 1], [0, 0]))
            .flatten();
        let Some(g) = g else {
            return Flex::conv2d_bias_backward(x, bias, output_grad);
        };
        super::count_run(Op::Conv2d);
        let db = gemm_conv::bias_grad(&values(&output_grad), &g);
        flex_tensor(db, [g.output_shape()[1]])
    }

    fn lab_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let g = linear_geometry(&x, &weight);
        assert!(all_f32(&[&bias]) && bias.layout().shape().num_elements() == g.d_out);
        super::count_run(Op::Linear);
        let y = linear::forward(&values(&x), &values(&weight), &values(&bias), g);
        flex_tensor(y, [g.rows, g.d_out])
    }

    fn lab_linear_x_backward(weight: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
        let ws = weight.layout().shape();
        let g = LinearGeometry {
            rows: output_grad.layout().shape()[0],
            d_in: ws[0],
            d_out: ws[1],
        };
        super::count_run(Op::Linear);
        let dx = linear::x_grad(&values(&weight), &values(&output_grad), g);
        flex_tensor(dx, [g.rows, g.d_in])
    }

    fn lab_linear_weight_backward(x: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
        let xs = x.layout().shape();
        let g = LinearGeometry {
            rows: xs[0],
            d_in: xs[1],
            d_out: output_grad.layout().shape()[1],
        };
        super::count_run(Op::Linear);
        let dw = linear::weight_grad(&values(&x), &values(&output_grad), g);
        flex_tensor(dw, [g.d_in, g.d_out])
    }

    fn lab_linear_bias_backward(output_grad: FlexTensor) -> FlexTensor {
        let d_out = output_grad.layout().shape()[1];
        super::count_run(Op::Linear);
        flex_tensor(linear::bias_grad(&values(&output_grad), d_out), [d_out])
    }

    fn lab_sgd_momentum_step(
        param: FlexTensor,
        grad: FlexTensor,
        velocity: FlexTensor,
        lr: f64,
        momentum: Momentum,
        weight_decay: Option<f32>,
    ) -> SgdStep<Self> {
        assert!(
            all_f32(&[&param, &grad, &velocity])
                && grad.layout().shape() == param.layout().shape()
                && velocity.layout().shape() == param.layout().shape(),
            "kernel::sgd checks the shapes and types"
        );
        super::count_run(Op::Sgd);
        let (mut param, mut velocity) = (whole(param), whole(velocity));
        let grad = values(&grad);
        // Written in place where the tensor is ours alone; copied once where it is shared.
        sgd::step_in_place(
            param.storage_mut::<f32>(),
            &grad,
            velocity.storage_mut::<f32>(),
            lr,
            momentum,
            weight_decay,
        );
        SgdStep { param, velocity }
    }
}

/// The sizes of `x` `[rows, d_in]` times `weight` `[d_in, d_out]`; the caller
/// ([`super::linear`]) has checked that both are 2D `f32` and agree.
fn linear_geometry(x: &FlexTensor, weight: &FlexTensor) -> LinearGeometry {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    assert!(
        xs.num_dims() == 2 && ws.num_dims() == 2 && xs[1] == ws[0] && all_f32(&[x, weight]),
        "kernel::linear checks the shapes and types"
    );
    LinearGeometry {
        rows: xs[0],
        d_in: xs[1],
        d_out: ws[1],
    }
}

/// Whether [`super::conv_algorithm`] is Winograd.
fn winograd_on() -> bool {
    super::conv_algorithm() == super::ConvAlgorithm::Winograd
}

/// The backward step: what burn's own `conv2d` registers, with the inner backend's GEMM
/// gradients in place of `conv2d_x_backward` / `conv2d_weight_backward`.
#[derive(Debug)]
struct LabConv2dBackward;

impl<B: Backend + LabKernels> Backward<B, 3> for LabConv2dBackward {
    type State = (NodeId, NodeId, NodeId, [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, bias_state, padding) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        let bias = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(bias_state);

        if let Some(node) = node_x {
            let dx = B::lab_conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), padding);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::lab_conv2d_weight_backward(x.clone(), weight, grad.clone(), padding);
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, B::lab_conv2d_bias_backward(x, bias, grad));
        }
    }
}

/// The linear layer's backward step: our three gradient kernels on the saved input and weight.
#[derive(Debug)]
struct LabLinearBackward;

impl<B: Backend + LabKernels> Backward<B, 3> for LabLinearBackward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::lab_linear_x_backward(weight, grad.clone()));
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::lab_linear_weight_backward(x, grad.clone()));
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, B::lab_linear_bias_backward(grad));
        }
    }
}

impl<B: Backend + LabKernels, C: CheckpointStrategy> LabKernels for Autodiff<B, C> {
    fn lab_batch_mean_var(x: FloatTensor<Self>) -> MeanVar<Self> {
        let stats = B::lab_batch_mean_var(x.into_primitive());
        MeanVar {
            mean: FloatTensor::<Self>::new(stats.mean),
            variance: FloatTensor::<Self>::new(stats.variance),
        }
    }

    fn lab_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        pool: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self> {
        let (mean, variance) = (mean.into_primitive(), variance.into_primitive());
        match LabBatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta_state = prep.checkpoint(&beta);
                let output = B::lab_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                    pool,
                    relu,
                );
                let params = (x_state, gamma_state, beta_state);
                prep.finish((params, mean, variance, epsilon, (pool, relu)), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lab_batch_norm_train(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                mean,
                variance,
                epsilon,
                pool,
                relu,
            )),
        }
    }

    fn lab_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        match LabMaxPool2dBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish(
                    (x_state, kernel),
                    B::lab_max_pool2d(x.into_primitive(), kernel),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lab_max_pool2d(x.into_primitive(), kernel)),
        }
    }

    fn lab_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match LabConv2dBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let bias_state = prep.checkpoint(&bias);
                prep.finish(
                    (x_state, weight_state, bias_state, padding),
                    B::lab_conv2d(
                        x.into_primitive(),
                        weight.into_primitive(),
                        bias.into_primitive(),
                        padding,
                    ),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lab_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                padding,
            )),
        }
    }

    fn lab_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match LabLinearBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::lab_linear(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish((x_state, weight_state), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lab_linear(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

/// The pooling's backward step: our gradient kernel on the saved input.
#[derive(Debug)]
struct LabMaxPool2dBackward;

impl<B: Backend + LabKernels> Backward<B, 1> for LabMaxPool2dBackward {
    type State = (NodeId, [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, kernel) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::lab_max_pool2d_backward(x, grad, kernel));
        }
    }
}

/// The training batch norm's backward step (and the pooling's and ReLU's after it, when fused):
/// our gradient kernels on the saved input.
#[derive(Debug)]
struct LabBatchNormBackward;

impl<B: Backend + LabKernels> Backward<B, 3> for LabBatchNormBackward {
    /// Input, gamma and beta (checkpointed), mean and variance (constants of the graph),
    /// epsilon, the pooling window and whether a ReLU follows.
    type State = (
        (NodeId, NodeId, NodeId),
        B::FloatTensorPrimitive,
        B::FloatTensorPrimitive,
        f64,
        ([usize; 2], bool),
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let ((x_state, gamma_state, beta_state), mean, variance, epsilon, (pool, relu)) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
        let beta = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(beta_state);
        let g = B::lab_batch_norm_train_backward(
            x, gamma, beta, mean, variance, grad, epsilon, pool, relu,
        );
        for (node, grad) in [(node_x, g.x), (node_gamma, g.gamma), (node_beta, g.beta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}
