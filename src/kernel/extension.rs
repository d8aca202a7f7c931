//! Our kernels plugged into burn through a backend extension: forward ops on Flex, and on
//! `Autodiff<Flex>` the same ops with backward steps that call our gradient kernels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Backend, DType, Flex, TensorMetadata, backend_extension, get_or_init_device_settings,
};
use burn::tensor::TensorData;

use super::gemm_conv::{self, ConvGeometry};
use super::max_pool::{self, PoolGeometry};

/// Stride-1 convolution with bias and explicit symmetric padding, and its two gradients; max
/// pooling over non-overlapping windows, and its gradient.
#[backend_extension(Flex, Autodiff)]
pub trait LabKernels: Backend {
    /// Max pooling of `x` `[batch, channels, h, w]` with window and stride `kernel`, no padding.
    fn lab_max_pool2d(x: FloatTensor<Self>, kernel: [usize; 2]) -> FloatTensor<Self> {
        Self::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false)
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
}

/// burn's options for the convolutions this extension computes.
pub(crate) fn options(padding: [usize; 2]) -> ConvOptions<2> {
    ConvOptions::new([1, 1], padding, [1, 1], 1)
}

/// The geometry of `x` convolved with `weight`, or `None` where the GEMM kernels do not apply
/// (not `f32`, not 4D, channel counts that disagree, padding not below the kernel).
fn geometry(x: &FlexTensor, weight: &FlexTensor, padding: [usize; 2]) -> Option<ConvGeometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if xs.num_dims() != 4 || ws.num_dims() != 4 || xs[1] != ws[1] {
        return None;
    }
    let g = ConvGeometry {
        batch: xs[0],
        channels_in: xs[1],
        height: xs[2],
        width: xs[3],
        channels_out: ws[0],
        kernel: [ws[2], ws[3]],
        padding,
    };
    g.is_supported().then_some(g)
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

fn flex_tensor(values: Vec<f32>, shape: impl Into<Vec<usize>>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The pooling geometry of `x`, or `None` where our kernel does not apply.
fn pool_geometry(x: &FlexTensor, kernel: [usize; 2]) -> Option<PoolGeometry> {
    let shape = x.layout().shape();
    (x.dtype() == DType::F32 && shape.num_dims() == 4 && kernel[0] > 0 && kernel[1] > 0).then(
        || PoolGeometry {
            planes: shape[0] * shape[1],
            height: shape[2],
            width: shape[3],
            kernel,
        },
    )
}

impl LabKernels for Flex {
    fn lab_max_pool2d(x: FlexTensor, kernel: [usize; 2]) -> FlexTensor {
        let Some(g) = pool_geometry(&x, kernel) else {
            return Flex::max_pool2d(x, kernel, kernel, [0, 0], [1, 1], false);
        };
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
        let [oh, ow] = g.out_size();
        let out = gemm_conv::forward(&values(&x), &values(&weight), Some(&values(&bias)), &g);
        flex_tensor(out, [g.batch, g.channels_out, oh, ow])
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
        let dx = gemm_conv::input_grad(&values(&output_grad), &values(&weight), &g);
        flex_tensor(dx, [g.batch, g.channels_in, g.height, g.width])
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
        let dw = gemm_conv::weight_grad(&values(&x), &values(&output_grad), &g);
        flex_tensor(
            dw,
            [g.channels_out, g.channels_in, g.kernel[0], g.kernel[1]],
        )
    }
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
            grads.register::<B>(node.id, B::conv2d_bias_backward(x, bias, grad));
        }
    }
}

impl<B: Backend + LabKernels, C: CheckpointStrategy> LabKernels for Autodiff<B, C> {
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
