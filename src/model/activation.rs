//! The networks' output activation, exportable to ONNX.

use burn::tensor::Tensor;

/// burn's `log_softmax(x, dim)`, except on burn's capture device (ONNX export, feature `onnx`),
/// where it is written as `x - max - log(sum(exp(x - max)))`: burn records `log_softmax` as one
/// fused operation that burn-onnx 0.22 cannot lower, and these it can. Training and inference
/// run burn's own, bit for bit. Use it in a network of your own that should export.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
/// let ours = mnist_lab::model::log_softmax(x.clone(), 1);
/// assert_eq!(ours.to_data(), burn::tensor::activation::log_softmax(x, 1).to_data());
/// ```
pub fn log_softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "onnx")]
    if matches!(
        x.device().inner().as_dispatch(),
        burn::backend::DispatchDevice::Capture(_)
    ) {
        return log_softmax_in_parts(x, dim);
    }
    burn::tensor::activation::log_softmax(x, dim)
}

/// `x - max - log(sum(exp(x - max)))` along `dim`: log-softmax in operations burn-onnx lowers.
#[cfg(feature = "onnx")]
fn log_softmax_in_parts<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let (max, _) = x.clone().max_dim_with_indices(dim);
    let shifted = x - max;
    shifted.clone() - shifted.exp().sum_dim(dim).log()
}

#[cfg(all(test, feature = "onnx"))]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    /// The formula used on the capture device, on flex: burn's values up to rounding.
    #[test]
    fn the_exported_formula_is_log_softmax() {
        let x = Tensor::<2>::random([4, 10], Distribution::Normal(0.0, 5.0), &Device::flex());
        let formula = super::log_softmax_in_parts(x.clone(), 1);
        let burn = burn::tensor::activation::log_softmax(x, 1);
        let diff = (formula - burn).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{diff}");
    }
}
