//! The data pipeline: IDX files -> [`MnistDataset`] -> [`MnistBatcher`] -> batches of tensors
//! (-> [`Augmentation`] for the improved recipes).

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod idx;
pub mod source;

pub use augment::{Augmentation, Distortion, distort};
pub use batcher::{
    DEFAULT_TEST_BATCH, DEFAULT_TRAIN_BATCH, MNIST_MEAN, MNIST_STD, MnistBatch, MnistBatcher,
    mnist_loader,
};
pub use dataset::{Flavor, IMAGE_PIXELS, IMAGE_SIDE, MnistDataset, MnistItem, NUM_CLASSES, Split};
pub use idx::{IdxError, IdxImages};
pub use source::{DataLocator, MNIST_DIR_ENV, SourceError};
