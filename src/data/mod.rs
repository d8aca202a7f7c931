//! The data pipeline: IDX files -> [`MnistDataset`] -> [`MnistBatcher`] -> batches of tensors
//! (-> [`Augmentation`], affine and [`Elastic`], for the improved recipes); images of any size, channel count and number
//! of classes, from IDX files or an `ImageFolder` tree -> [`ImageDataset`] -> [`ImageBatcher`].

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod elastic;
pub mod idx;
pub mod image;
mod loader;
pub mod source;
mod transform;

pub use augment::{Augmentation, Distortion, ImageAugmentation, distort, distort_elastic};
pub use batcher::{
    DEFAULT_TEST_BATCH, DEFAULT_TRAIN_BATCH, ImageBatch, MNIST_MEAN, MNIST_STD, MnistBatch,
    MnistBatcher, mnist_loader,
};
pub use dataset::{Flavor, IMAGE_PIXELS, IMAGE_SIDE, MnistDataset, MnistItem, NUM_CLASSES, Split};
pub use elastic::{DisplacementField, Elastic};
pub use idx::{IdxError, IdxImages};
pub use image::{ImageBatcher, ImageDataError, ImageDataset, ImageItem, Normalization};
pub use loader::loader;
pub use source::{DataLocator, MNIST_DIR_ENV, MirrorFailure, SourceError};
pub use transform::BatchTransform;
