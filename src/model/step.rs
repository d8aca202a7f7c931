//! What the trainer asks of a network: burn-train's step traits, and how to build it.
//!
//! The trainer is bound by burn-train's own [`TrainStep`] and [`InferenceStep`] (the traits of
//! burn's `LearnerModel`) with [`ClassificationOutput`] as their output, so a network that runs
//! under burn's `Learner` runs under ours too, and the other way round. A network implements
//! them in a few lines (`model.rs` of burn's MNIST example does the same); our five networks
//! implement them through [`classification_output`].

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor};
pub use burn_train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

/// A classifier the trainer can train on batches of type `B`: burn-train's step traits with
/// [`ClassificationOutput`], plus [`Module`] (weights, checkpoints, devices). Implemented for
/// every type that has them; never implement it by hand.
pub trait Classifier<B>:
    TrainStep<Input = B, Output = ClassificationOutput>
    + InferenceStep<Input = B, Output = ClassificationOutput>
    + Module
    + Clone
    + Send
    + 'static
{
}

impl<M, B> Classifier<B> for M where
    M: TrainStep<Input = B, Output = ClassificationOutput>
        + InferenceStep<Input = B, Output = ClassificationOutput>
        + Module
        + Clone
        + Send
        + 'static
{
}

/// How to build a network: its config. The trainer builds it from the run's seed (on the CPU,
/// see [`init_seeded`]) and writes the config into `config.json` next to the results, so it
/// must serialize. A `#[derive(Config)]` struct with an `init(&device)` method implements this
/// in three lines:
///
/// ```
/// # use burn::{config::Config, module::Module, nn::{Linear, LinearConfig}, tensor::Device};
/// # #[derive(Module, Debug)] pub struct Net { fc: Linear }
/// #[derive(Config, Debug)]
/// pub struct NetConfig { #[config(default = 10)] classes: usize }
/// impl mnist_lab::train::ModelInit for NetConfig {
///     type Model = Net;
///     fn init(&self, device: &Device) -> Net { Net { fc: LinearConfig::new(784, self.classes).init(device) } }
/// }
/// ```
pub trait ModelInit: serde::Serialize {
    /// The network it builds.
    type Model: Module;
    /// The network with fresh weights on `device`, drawn from the device's generator.
    fn init(&self, device: &Device) -> Self::Model;
    /// The name written into `summary.json` (default: `"model"`).
    fn name(&self) -> String {
        "model".to_string()
    }
}

/// The CPU device the same seed gives the same initial weights on, whatever device trains:
/// burn-flex when compiled in, else burn-ndarray, else `device` itself.
pub fn init_device(device: &Device) -> Device {
    #[cfg(feature = "flex")]
    let cpu = Some(Device::flex());
    #[cfg(all(not(feature = "flex"), feature = "ndarray"))]
    #[allow(deprecated)]
    let cpu = Some(Device::ndarray());
    #[cfg(not(any(feature = "flex", feature = "ndarray")))]
    let cpu: Option<Device> = None;
    match cpu {
        Some(cpu) if device.is_autodiff() => cpu.autodiff(),
        Some(cpu) => cpu,
        None => device.clone(),
    }
}

/// `spec`'s network with its weights drawn from `seed` on the CPU ([`init_device`]) and moved
/// to `device`: the same seed gives the same initial weights on flex, ndarray and wgpu, so runs
/// on different backends can be compared step by step. (burn's generators are per backend: the
/// same seed on wgpu would give other weights.)
pub fn init_seeded<S: ModelInit>(spec: &S, seed: u64, device: &Device) -> S::Model {
    let cpu = init_device(device);
    cpu.seed(seed);
    let model = spec.init(&cpu);
    // burn initializes parameters lazily, at first use, from the generator of the device they
    // are on by then: draw them all now, from the seed, in the module's field order.
    materialize(&model);
    if &cpu == device {
        model
    } else {
        // `fork`, not `to_device`: the weights become leaves of `device`'s autodiff graph.
        model.fork(device)
    }
}

/// Computes every lazily initialized parameter of `model` now.
fn materialize<M: Module>(model: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
        fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
            let _ = param.val();
        }
        fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, burn::tensor::Bool>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}

/// Mean negative log-likelihood of `targets` under `log_probs` (`[B, C]`), as PyTorch's
/// `F.nll_loss`.
pub fn nll_loss(log_probs: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = log_probs.dims();
    log_probs
        .gather(1, targets.reshape([batch, 1]))
        .mean()
        .neg()
}

/// The [`ClassificationOutput`] of a network that returns log-probabilities: NLL loss, the
/// log-probabilities as the output burn's metrics read (their argmax is the prediction).
pub fn classification_output(
    log_probs: Tensor<2>,
    targets: Tensor<1, Int>,
) -> ClassificationOutput {
    ClassificationOutput {
        loss: nll_loss(log_probs.clone(), targets.clone()),
        output: log_probs,
        targets,
    }
}

/// The gradients of `output`'s loss with respect to `model`'s weights, as [`TrainStep::step`]
/// returns them.
pub fn train_output<M: Module>(
    model: &M,
    output: ClassificationOutput,
) -> TrainOutput<ClassificationOutput> {
    TrainOutput::new(model, output.loss.backward(), output)
}

/// One optimizer step on `batch` at learning rate `lr`: returns the updated model and the
/// batch's loss. `model` and `batch` must live on an autodiff device.
pub fn train_step<M, B>(model: M, optim: &mut ModuleOptimizer, batch: B, lr: f64) -> (M, f32)
where
    M: TrainStep<Input = B, Output = ClassificationOutput> + Module,
{
    let (model, loss, _) = train_step_counted(model, optim, batch, lr);
    (model, loss)
}

/// [`train_step`], also returning how many items the batch held (from its targets).
pub(crate) fn train_step_counted<M, B>(
    model: M,
    optim: &mut ModuleOptimizer,
    batch: B,
    lr: f64,
) -> (M, f32, usize)
where
    M: TrainStep<Input = B, Output = ClassificationOutput> + Module,
{
    let TrainOutput { grads, item } = TrainStep::step(&model, batch);
    let [n] = item.targets.dims();
    let loss = item.loss.into_scalar::<f32>();
    (model.optimize(optim, lr.into(), grads), loss, n)
}

/// Trainable parameters of a model on an autodiff device (PyTorch's
/// `sum(p.numel() for p in model.parameters())`): burn's `num_params` also counts running
/// statistics such as batch norm's, which need no gradient.
pub fn trainable_params<M: Module>(model: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}
