//! SGD with momentum in one pass over each parameter: burn's `Sgd`, bit for bit, without its
//! six tensor passes per step.
//!
//! Why: burn's `Sgd` updates a parameter through separate tensor operations (weight decay, the
//! gradient times `1 - dampening`, the velocity times the momentum, their sum, the step times
//! the learning rate, the difference), each a pass over the parameter that allocates its
//! output. On the complex MLP (670k parameters, batches of 50) those passes were ~6% of a
//! training step on a 2-core Zen 4. [`FusedSgd`] computes the same `f32` expressions in the same
//! order, element by element in one pass on Flex, writing the parameter and the velocity in
//! place where no one else holds them; elsewhere (other backends, the first step of a
//! parameter, `Op::Sgd` set to burn's) it runs burn's tensor operations. Its state is recorded
//! under the same names as burn's `SgdState` (`<param>.momentum.velocity`), so checkpoints move
//! between the two.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{
    LearningRate, ModuleOptimizer, Optimizer, RecordState, SgdConfig, StateSink, StateSource,
    join_path,
};
use burn::tensor::{Device, Tensor};

/// burn's `SgdConfig` read out: its fields are private, so they come from its serialized form
/// (the one `config.json` holds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    /// Momentum, `None` without.
    pub momentum: Option<Momentum>,
    /// L2 penalty added to the gradient (`param * penalty + grad`), `None` without.
    pub weight_decay: Option<f32>,
}

/// Momentum as burn's `MomentumConfig` gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Momentum {
    /// The velocity's factor (burn keeps it as `f32`).
    pub momentum: f32,
    /// The gradient's share is `1 - dampening` (PyTorch's default and the report's: 0).
    pub dampening: f64,
    /// Nesterov's variant: the step is `velocity * momentum + grad`.
    pub nesterov: bool,
}

impl SgdHyper {
    /// The settings of `config` (gradient clipping is the [`ModuleOptimizer`]'s, see
    /// [`sgd_optimizer`]).
    ///
    /// ```
    /// use burn::optim::{SgdConfig, momentum::MomentumConfig};
    /// use flex_kernels::SgdHyper;
    /// let momentum = MomentumConfig::new().with_momentum(0.9).with_dampening(0.0);
    /// let hyper = SgdHyper::of(&SgdConfig::new().with_momentum(Some(momentum)));
    /// let momentum = hyper.momentum.unwrap();
    /// assert_eq!((momentum.momentum, momentum.dampening), (0.9, 0.0));
    /// assert_eq!(hyper.weight_decay, None);
    /// ```
    pub fn of(config: &SgdConfig) -> Self {
        Self::from_serialized(&serde_json::to_value(config).unwrap_or_default())
    }

    /// [`Self::of`] from the config's serialized form.
    fn from_serialized(value: &serde_json::Value) -> Self {
        let momentum = value["momentum"].as_object().map(|m| Momentum {
            // burn's Momentum::new takes `momentum` as f32 and keeps dampening as f64.
            momentum: m["momentum"].as_f64().unwrap_or(0.9) as f32,
            dampening: m["dampening"].as_f64().unwrap_or(0.1),
            nesterov: m["nesterov"].as_bool().unwrap_or(false),
        });
        let weight_decay = value["weight_decay"]["penalty"].as_f64().map(|p| p as f32);
        Self {
            momentum,
            weight_decay,
        }
    }
}

/// burn's SGD as a [`ModuleOptimizer`] stepping by [`FusedSgd`], with the gradient clipping
/// `config` asks for (what mnist-lab's `OptimizerConfig::init` gives for SGD).
///
/// ```
/// let optimizer = flex_kernels::sgd_optimizer(&burn::optim::SgdConfig::new());
/// assert!(!optimizer.has_gradient_clipping());
/// ```
pub fn sgd_optimizer(config: &SgdConfig) -> ModuleOptimizer {
    // SgdConfig's fields are private: all of them come from its serialized form.
    let value = serde_json::to_value(config).unwrap_or_default();
    let mut optimizer = ModuleOptimizer::from(FusedSgd {
        hyper: SgdHyper::from_serialized(&value),
    });
    let clipping = serde_json::from_value::<Option<GradientClippingConfig>>(
        value["gradient_clipping"].clone(),
    )
    .ok()
    .flatten();
    if let Some(clipping) = clipping {
        optimizer = optimizer.with_grad_clipping(clipping.init());
    }
    optimizer
}

/// burn's `Sgd` computed in one pass per parameter on Flex (see the module docs).
#[derive(Clone, Debug)]
pub struct FusedSgd {
    /// The settings.
    pub hyper: SgdHyper,
}

/// A parameter's state, recorded as burn's `SgdState` is: `momentum.velocity` when there is
/// momentum.
#[derive(Clone)]
pub struct FusedSgdState<const D: usize> {
    /// The momentum's velocity, after the parameter's first step.
    pub velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for FusedSgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(velocity) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, "momentum"),
                "velocity",
                velocity.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let momentum = join_path(prefix, "momentum");
        let velocity = if src.has_under(&momentum) {
            // burn's MomentumState requires its velocity: without one, the record is foreign.
            Some(Tensor::from_data(
                src.take_tensor(&momentum, "velocity")?,
                device,
            ))
        } else {
            None
        };
        Some(Self { velocity })
    }
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = FusedSgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        #[cfg(feature = "flex")]
        let velocity = match (self.hyper.momentum, velocity) {
            // The velocity is moved, not cloned, into the kernel: a second handle would make
            // Flex copy it before writing.
            (Some(momentum), Some(velocity))
                if super::ours_apply(super::Op::Sgd, &tensor)
                    && grad.dtype() == tensor.dtype()
                    && velocity.dtype() == tensor.dtype()
                    && grad.shape() == tensor.shape()
                    && velocity.shape() == tensor.shape() =>
            {
                use super::extension::LabKernels;
                use burn::backend::Dispatch;
                let out = <Dispatch as LabKernels>::lab_sgd_momentum_step(
                    tensor.into_dispatch(),
                    grad.into_dispatch(),
                    velocity.into_dispatch(),
                    lr,
                    momentum,
                    self.hyper.weight_decay,
                );
                return (
                    Tensor::from_dispatch(out.param),
                    Some(FusedSgdState {
                        velocity: Some(Tensor::from_dispatch(out.velocity)),
                    }),
                );
            }
            (_, velocity) => velocity,
        };
        self.burn_step(lr, tensor, grad, velocity)
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.velocity = state.velocity.map(|v| v.to_device(device));
        state
    }
}

impl FusedSgd {
    /// burn's `Sgd::step` (with `Momentum::transform` and `WeightDecay::transform`), operation
    /// for operation.
    fn burn_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        mut grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<FusedSgdState<D>>) {
        if let Some(penalty) = self.hyper.weight_decay {
            grad = tensor.clone().mul_scalar(penalty).add(grad);
        }
        let mut new_velocity = None;
        if let Some(m) = self.hyper.momentum {
            let v = match velocity {
                Some(v) => grad
                    .clone()
                    .mul_scalar(1.0 - m.dampening)
                    .add(v.mul_scalar(m.momentum)),
                None => grad.clone(),
            };
            grad = if m.nesterov {
                v.clone().mul_scalar(m.momentum).add(grad)
            } else {
                v.clone()
            };
            new_velocity = Some(v);
        }
        let delta = grad.mul_scalar(lr);
        (
            tensor - delta,
            Some(FusedSgdState {
                velocity: new_velocity,
            }),
        )
    }
}

/// One step over slices, in place: the expressions of [`FusedSgd::burn_step`] element by
/// element, each rounded to `f32` as burn's tensor operations round them (`lr` and `1 -
/// dampening` are cast to `f32` as burn-flex casts a scalar operand).
#[cfg(feature = "flex")]
pub(crate) fn step_in_place(
    param: &mut [f32],
    grad: &[f32],
    velocity: &mut [f32],
    lr: f64,
    momentum: Momentum,
    weight_decay: Option<f32>,
) {
    assert!(param.len() == grad.len() && param.len() == velocity.len());
    let rule = UpdateRule {
        lr: lr as f32,
        keep: (1.0 - momentum.dampening) as f32,
        momentum: momentum.momentum,
        nesterov: momentum.nesterov,
        weight_decay,
    };
    let run =
        |param: &mut [f32], grad: &[f32], velocity: &mut [f32]| update(param, grad, velocity, rule);
    // Each element on its own: the split changes nothing but who computes it.
    if param.len() < PARALLEL_FROM {
        run(param, grad, velocity);
    } else {
        use rayon::prelude::*;
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(velocity.par_chunks_mut(CHUNK))
            .for_each(|((p, g), v)| run(p, g, v));
    }
}

/// [`step_in_place`]'s coefficients.
#[cfg(feature = "flex")]
#[derive(Clone, Copy)]
struct UpdateRule {
    lr: f32,
    /// `1 - dampening`.
    keep: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: Option<f32>,
}

#[cfg(feature = "flex")]
wide_fn! {
    /// [`step_in_place`] on one run of elements.
    fn update(param: &mut [f32], grad: &[f32], velocity: &mut [f32], rule: UpdateRule) {
        let UpdateRule { lr, keep, momentum: m, nesterov, weight_decay } = rule;
        for ((p, &g), v) in param.iter_mut().zip(grad).zip(velocity.iter_mut()) {
            let g = match weight_decay {
                Some(penalty) => *p * penalty + g,
                None => g,
            };
            *v = g * keep + *v * m;
            let step = if nesterov { *v * m + g } else { *v };
            *p -= step * lr;
        }
    }
}

/// From this many elements on, the step is shared out over the rayon pool in chunks of
/// [`CHUNK`].
#[cfg(feature = "flex")]
const PARALLEL_FROM: usize = 1 << 18;

#[cfg(feature = "flex")]
const CHUNK: usize = 1 << 16;

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    #[test]
    fn one_step_is_the_formula() {
        let mut p = [1.0f32, -2.0];
        let mut v = [0.5f32, 0.25];
        let m = Momentum {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        };
        step_in_place(&mut p, &[0.1, 0.2], &mut v, 0.01, m, None);
        assert_eq!(v, [0.1 + 0.5 * 0.9, 0.2 + 0.25 * 0.9]);
        assert_eq!(p, [1.0 - v[0] * 0.01, -2.0 - v[1] * 0.01]);
    }

    #[test]
    fn the_parallel_split_changes_no_bit() {
        let len = PARALLEL_FROM + 3 * CHUNK + 17;
        let wave = |k: usize| (0..len).map(move |i| ((i * k) % 1999) as f32 / 999.5 - 1.0);
        let (mut p, g, mut v): (Vec<f32>, Vec<f32>, Vec<f32>) =
            (wave(7).collect(), wave(13).collect(), wave(29).collect());
        let m = Momentum {
            momentum: 0.9,
            dampening: 0.1,
            nesterov: true,
        };
        let (mut p1, mut v1) = (p.clone(), v.clone());
        for i in 0..len {
            step_in_place(
                &mut p1[i..=i],
                &g[i..=i],
                &mut v1[i..=i],
                0.05,
                m,
                Some(1e-3),
            );
        }
        step_in_place(&mut p, &g, &mut v, 0.05, m, Some(1e-3));
        assert!(p.iter().zip(&p1).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(v.iter().zip(&v1).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
