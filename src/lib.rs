//! # mnist-lab
//!
//! The classic MNIST coursework as a reusable [Burn](https://burn.dev) library: an IDX data
//! pipeline, the five networks of the coursework's report ("the report": a one-layer network, a
//! 3-layer MLP and three CNNs), a trainer, inference, PyTorch interop and a hand-written
//! convolution. The same networks run on burn-flex (default), burn-ndarray and burn-wgpu,
//! picked at run time.
//!
//! The modules follow the data, each importing only those before it: [`data`] -> [`model`] ->
//! [`train`] -> [`infer`] and [`interop`]. The models run on burn-flex through the
//! [`flex_kernels`] crate (conv, pooling, batch norm, linear, dropout and the SGD step); the
//! report's recipes, plots and command lines live in the `mnist-lab-tools` crate beside this one.
//! The trainer is generic: any network with burn-train's `TrainStep` + `InferenceStep` ([`train::Classifier`]) on any burn `Dataset` +
//! `Batcher` (`examples/custom_model.rs` trains a LeNet-5 defined in the example).
//!
//! ```no_run
//! use mnist_lab::{BackendKind, ModelKind};
//! use mnist_lab::data::{DataLocator, MnistDataset, mnist_loader};
//!
//! let device = BackendKind::Flex.device()?;
//! let dir = DataLocator::new(None).locate()?; // --data-dir, $MNIST_DIR, cache, download
//! let test = MnistDataset::test(&dir)?;
//! let model = ModelKind::SimpleCnn.init(&device);
//! let eval = mnist_lab::train::evaluate(&model, &*mnist_loader(test, 100, None, &device))?;
//! println!("{}", eval.report_line()); // untrained: about 10%
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod conv;
pub mod data;
mod fsutil;
pub mod infer;
pub mod interop;
pub mod model;
pub mod train;

pub use backend::{BackendError, BackendKind};
pub use fsutil::{DirLock, LOCK_FILE, LockError, write_atomic};
pub use model::{Model, ModelKind, ParamCounts};
