//! The command line of the examples that use a trained network (`predict`, `serve`).

use std::path::PathBuf;

use burn::tensor::Device;

use mnist_lab::infer::{InferError, load_network, network_beside};
use mnist_lab::model::{Model, ModelConfig, ModelKind};

/// Which trained network to load: its weights, and which network they are for.
#[derive(clap::Args, Clone, Debug)]
pub struct WeightsArgs {
    /// The weights: model.safetensors of a run, a checkpoint's model-N.bpk, or a PyTorch .pt.
    #[arg(long)]
    pub weights: PathBuf,
    /// The network they are for (default: the one config.json beside them names).
    #[arg(long)]
    pub model: Option<ModelKind>,
}

impl WeightsArgs {
    /// The network's config (`--model`, else the `config.json` beside the weights) and the
    /// network with its weights, on `device`.
    pub fn load(&self, device: &Device) -> Result<(ModelConfig, Model), InferError> {
        let config = match self.model {
            Some(kind) => kind.config(),
            None => network_beside(&self.weights)?,
        };
        let network = load_network(&config, &self.weights, device)?;
        Ok((config, network))
    }
}
