//! # mnist-lab
//!
//! The classic MNIST coursework as a reusable [Burn](https://burn.dev) library: an IDX data
//! pipeline, the report's five networks, training primitives, and a hand-written convolution.
//! The same networks run on burn-flex (default), burn-ndarray and burn-wgpu, picked at run time.
//!
//! The modules follow the data: [`data`] -> [`model`] -> [`train`] -> [`report`]; [`kernel`]
//! holds the conv, pooling, batch-norm and linear kernels the models run on burn-flex (and their
//! dropout and SGD step), [`experiment`] the report's recipes. The trainer is generic: any network with
//! burn-train's `TrainStep` + `InferenceStep` ([`train::Classifier`]) on any burn `Dataset` +
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

pub mod backend;
pub mod cli;
pub mod conv;
pub mod data;
pub mod experiment;
pub mod fsutil;
pub mod infer;
pub mod interop;
pub mod kernel;
pub mod model;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod train;

pub use backend::{BackendError, BackendKind};
pub use fsutil::write_atomic;
pub use model::{Model, ModelKind, ParamCounts};
