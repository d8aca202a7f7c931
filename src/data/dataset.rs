//! MNIST and Fashion-MNIST as a burn [`Dataset`] of 28x28 grayscale images with labels.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use super::idx::{self, IdxError, IdxImages};
use super::source::{MNIST_FILES, SourceError, find_file};

/// Image side in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// Which half of the official split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 60,000 training images (`train-*`).
    Train,
    /// 10,000 test images (`t10k-*`).
    Test,
}

impl Split {
    /// The image and label files of this split in `dir`, under MNIST's names (raw or `.gz`).
    pub(crate) fn files(self, dir: &Path) -> Result<(PathBuf, PathBuf), SourceError> {
        let (images, labels) = match self {
            Split::Train => (MNIST_FILES[0].stem, MNIST_FILES[1].stem),
            Split::Test => (MNIST_FILES[2].stem, MNIST_FILES[3].stem),
        };
        let find = |stem: &str| {
            find_file(dir, stem).ok_or_else(|| SourceError::MissingFile {
                dir: dir.to_path_buf(),
                stem: stem.to_string(),
            })
        };
        Ok((find(images)?, find(labels)?))
    }
}

/// Which data set the files hold: the same format, other class names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Handwritten digits.
    #[default]
    Mnist,
    /// Zalando's clothing images (`apt-get install dataset-fashion-mnist`).
    FashionMnist,
}

impl Flavor {
    /// Human names of the ten classes.
    pub fn class_names(self) -> [&'static str; NUM_CLASSES] {
        match self {
            Self::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Self::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// Where Debian's `dataset-fashion-mnist` package installs the files.
    pub const FASHION_MNIST_DEBIAN_DIR: &'static str = "/usr/share/datasets/fashion-mnist";
}

/// One image and its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistItem {
    /// Row-major pixels, 0 to 255.
    pub pixels: [u8; IMAGE_PIXELS],
    /// Class, 0 to 9.
    pub label: u8,
}

/// Images and labels in memory (~47 MB for the 60,000 training images), cheap to clone.
#[derive(Clone, Debug)]
pub struct MnistDataset {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
    /// Which class names apply.
    pub flavor: Flavor,
}

impl MnistDataset {
    /// The training split from a directory with the four files (raw or `.gz`).
    pub fn train(dir: &Path) -> Result<Self, SourceError> {
        Self::split(dir, Split::Train)
    }

    /// The test split from a directory with the four files.
    pub fn test(dir: &Path) -> Result<Self, SourceError> {
        Self::split(dir, Split::Test)
    }

    /// One split from a directory; the file names are the standard ones.
    pub fn split(dir: &Path, split: Split) -> Result<Self, SourceError> {
        let (images, labels) = split.files(dir)?;
        Ok(Self::from_files(&images, &labels)?)
    }

    /// Reads an image file and its label file, checking that they are 28x28, pair up, and that
    /// every label is a class.
    pub fn from_files(images_path: &Path, labels_path: &Path) -> Result<Self, IdxError> {
        let images = idx::read_images(images_path)?;
        let labels = idx::read_labels(labels_path)?;
        Self::from_idx(images, images_path, labels, labels_path)
    }

    /// Builds the data set from parsed IDX contents; the paths only name them in errors.
    pub fn from_idx(
        images: IdxImages,
        images_path: &Path,
        labels: Vec<u8>,
        labels_path: &Path,
    ) -> Result<Self, IdxError> {
        if (images.rows, images.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
            return Err(IdxError::WrongDims {
                path: images_path.to_path_buf(),
                rows: images.rows as u32,
                cols: images.cols as u32,
                expected_rows: IMAGE_SIDE as u32,
                expected_cols: IMAGE_SIDE as u32,
            });
        }
        if images.count == 0 {
            return Err(IdxError::NoImages {
                path: images_path.to_path_buf(),
            });
        }
        if images.count != labels.len() {
            return Err(IdxError::CountMismatch {
                images: images_path.to_path_buf(),
                image_count: images.count,
                labels: labels_path.to_path_buf(),
                label_count: labels.len(),
            });
        }
        idx::check_labels(labels_path, &labels, (NUM_CLASSES - 1) as u8)?;
        Ok(Self {
            pixels: Arc::new(images.pixels),
            labels: Arc::new(labels),
            flavor: Flavor::Mnist,
        })
    }

    /// The same data, labelled with another flavor's class names.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The first `n` items only (all of them when `n` is larger). Shares no memory with `self`.
    pub fn limit(&self, n: usize) -> Self {
        let n = n.min(self.labels.len());
        Self {
            pixels: Arc::new(self.pixels[..n * IMAGE_PIXELS].to_vec()),
            labels: Arc::new(self.labels[..n].to_vec()),
            flavor: self.flavor,
        }
    }

    /// Every label, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of item `index`.
    pub fn pixels(&self, index: usize) -> Option<&[u8]> {
        self.pixels
            .get(index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS)
    }
}

/// Asked for an item past the end of the data set.
#[derive(Debug, thiserror::Error)]
#[error("index {index} is out of range for a data set of {len} items")]
pub struct IndexOutOfRange {
    /// The index asked for.
    pub index: usize,
    /// Items in the data set.
    pub len: usize,
}

impl Dataset<MnistItem> for MnistDataset {
    fn get(&self, index: usize) -> Result<MnistItem, DatasetError> {
        let pixels = self.pixels(index).ok_or_else(|| {
            DatasetError::new(IndexOutOfRange {
                index,
                len: self.len(),
            })
        })?;
        let mut item = MnistItem {
            pixels: [0; IMAGE_PIXELS],
            label: self.labels[index],
        };
        item.pixels.copy_from_slice(pixels);
        Ok(item)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The directories searched for Fashion-MNIST when none is given.
pub fn fashion_mnist_dir() -> PathBuf {
    PathBuf::from(Flavor::FASHION_MNIST_DEBIAN_DIR)
}
