//! Image data sets of any size, channel count and number of classes: IDX files (MNIST,
//! Fashion-MNIST, KMNIST, EMNIST) and folders in torchvision's `ImageFolder` layout
//! (`root/<class>/*.png`), with their normalization and batcher.
//!
//! The folder reader is ours rather than burn-dataset's `ImageFolderDataset`: that one decodes
//! lazily and `unwrap`s the decode (an unreadable PNG panics mid-epoch), does not check that all
//! images have one size, and its `vision` feature pulls reqwest and tokio for downloads. Ours
//! decodes every image up front with the `image` crate and reports the first problem as a typed
//! error naming the file.
//!
//! ```no_run
//! use mnist_lab::data::{ImageBatcher, ImageDataset, Normalization};
//! let dir = std::path::Path::new("tests/data/mnist-slice");
//! let train = ImageDataset::from_idx_files(
//!     &dir.join("train-images-idx3-ubyte.gz"),
//!     &dir.join("train-labels-idx1-ubyte.gz"),
//! )?;
//! assert_eq!((train.shape(), train.num_classes()), ([1, 28, 28], 10));
//! let batcher = ImageBatcher::new(Normalization::of(&train));
//! # Ok::<(), mnist_lab::data::ImageDataError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};

use super::batcher::ImageBatch;
use super::idx::{self, IdxError};

/// One image: `channels x height x width` bytes, channel-major (planar), and its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// Pixels 0 to 255, `[C, H, W]` row-major.
    pub pixels: Vec<u8>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Class index.
    pub label: usize,
}

/// Why an image data set could not be read. Each names the file or folder and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ImageDataError {
    /// An IDX file could not be read.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// A split's files are not in the directory.
    #[error(transparent)]
    Source(#[from] super::SourceError),
    /// A folder or file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The root holds no class folders.
    #[error(
        "{}: no class folders; an image folder holds one sub-folder per class, \
         `root/<class>/*.png` (torchvision's ImageFolder layout)",
        root.display()
    )]
    NoClasses {
        /// The root folder.
        root: PathBuf,
    },
    /// A class folder holds no image.
    #[error(
        "{}: class `{class}` has no images (.png, .jpg or .jpeg); add some or remove the folder",
        dir.display()
    )]
    EmptyClass {
        /// The class name.
        class: String,
        /// Its folder.
        dir: PathBuf,
    },
    /// A file with an image extension that does not decode.
    #[error("{}: not a readable image ({message}); replace or remove the file", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// An image of another size than the first one.
    #[error(
        "{}: image is {found:?} (channels, height, width), but {} is {expected:?}; all images \
         of a data set must have one size (resize them first)",
        path.display(),
        first.display()
    )]
    MixedSizes {
        /// The file of another size.
        path: PathBuf,
        /// Its shape.
        found: [usize; 3],
        /// The first image's shape.
        expected: [usize; 3],
        /// The first image.
        first: PathBuf,
    },
    /// Images and labels do not pair up.
    #[error(
        "{} holds {images} images but {} holds {labels} labels; give the label file of the \
         same split",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Its image count.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Its label count.
        labels: usize,
    },
}

/// Images of one shape `[C, H, W]` with class labels, in memory (cheap to clone).
#[derive(Clone, Debug)]
pub struct ImageDataset {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<usize>>,
    shape: [usize; 3],
    class_names: Arc<Vec<String>>,
}

impl ImageDataset {
    /// An IDX image file of any `rows x cols` and its label file (MNIST, Fashion-MNIST, KMNIST,
    /// EMNIST: raw or gzipped). The classes are `0..=max label`, named by their numbers.
    pub fn from_idx_files(images_path: &Path, labels_path: &Path) -> Result<Self, ImageDataError> {
        let images = idx::read_images(images_path)?;
        let labels = idx::read_labels(labels_path)?;
        if images.count == 0 {
            return Err(idx::IdxError::NoImages {
                path: images_path.to_path_buf(),
            }
            .into());
        }
        if images.count != labels.len() {
            return Err(ImageDataError::CountMismatch {
                images_path: images_path.to_path_buf(),
                images: images.count,
                labels_path: labels_path.to_path_buf(),
                labels: labels.len(),
            });
        }
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        Ok(Self {
            shape: [1, images.rows, images.cols],
            pixels: Arc::new(images.pixels),
            labels: Arc::new(labels.into_iter().map(usize::from).collect()),
            class_names: Arc::new((0..classes).map(|c| c.to_string()).collect()),
        })
    }

    /// One split of a directory holding the four files under MNIST's names (raw or `.gz`):
    /// MNIST, Fashion-MNIST (`/usr/share/datasets/fashion-mnist`), KMNIST, EMNIST converted to
    /// these names.
    pub fn split(dir: &Path, split: super::Split) -> Result<Self, ImageDataError> {
        let (images, labels) = split.files(dir)?;
        Self::from_idx_files(&images, &labels)
    }

    /// A folder in torchvision's `ImageFolder` layout: one sub-folder per class (sorted by
    /// name, as torchvision does: the first is class 0), each holding `.png`, `.jpg` or `.jpeg`
    /// images of one size. Grayscale images give one channel; if any image has colour, all
    /// become RGB (alpha is dropped).
    pub fn from_folder(root: &Path) -> Result<Self, ImageDataError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageDataError::Io { path, source }
        };
        let mut classes: Vec<(String, PathBuf)> = std::fs::read_dir(root)
            .map_err(io(root))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(ImageDataError::NoClasses {
                root: root.to_path_buf(),
            });
        }
        let mut files: Vec<(PathBuf, usize)> = Vec::new();
        for (label, (class, dir)) in classes.iter().enumerate() {
            let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(io(dir))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_image_file(p))
                .collect();
            if images.is_empty() {
                return Err(ImageDataError::EmptyClass {
                    class: class.clone(),
                    dir: dir.clone(),
                });
            }
            images.sort();
            files.extend(images.into_iter().map(|p| (p, label)));
        }
        let decoded = files
            .iter()
            .map(|(path, _)| {
                image::open(path).map_err(|e| ImageDataError::Unreadable {
                    path: path.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let channels = if decoded.iter().any(|i| i.color().has_color()) {
            3
        } else {
            1
        };
        let (first_path, first) = (&files[0].0, &decoded[0]);
        let shape = [channels, first.height() as usize, first.width() as usize];
        let mut pixels = Vec::with_capacity(files.len() * shape.iter().product::<usize>());
        for ((path, _), image) in files.iter().zip(&decoded) {
            let found = [channels, image.height() as usize, image.width() as usize];
            if found != shape {
                return Err(ImageDataError::MixedSizes {
                    path: path.clone(),
                    found,
                    expected: shape,
                    first: first_path.clone(),
                });
            }
            if channels == 1 {
                pixels.extend_from_slice(image.to_luma8().as_raw());
            } else {
                let rgb = image.to_rgb8();
                for c in 0..3 {
                    pixels.extend(rgb.as_raw().iter().skip(c).step_by(3));
                }
            }
        }
        Ok(Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(files.into_iter().map(|(_, l)| l).collect()),
            shape,
            class_names: Arc::new(classes.into_iter().map(|(name, _)| name).collect()),
        })
    }

    /// `[channels, height, width]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The class names, by index (folder names, or the numbers of an IDX file's labels).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Every label, in order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    fn image_len(&self) -> usize {
        self.shape.iter().product()
    }
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        let n = self.image_len();
        let pixels = self.pixels.get(index * n..(index + 1) * n).ok_or_else(|| {
            DatasetError::new(super::dataset::IndexOutOfRange {
                index,
                len: self.len(),
            })
        })?;
        Ok(ImageItem {
            pixels: pixels.to_vec(),
            shape: self.shape,
            label: self.labels[index],
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Per-channel mean and standard deviation of pixels scaled to `[0, 1]`, as torchvision's
/// `Normalize(mean, std)` takes them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel.
    pub std: Vec<f32>,
}

impl Normalization {
    /// MNIST's (torchvision's figures): mean 0.1307, std 0.3081.
    pub fn mnist() -> Self {
        Self {
            mean: vec![super::MNIST_MEAN],
            std: vec![super::MNIST_STD],
        }
    }

    /// Measured on `data` (use the training set): each channel's mean and population standard
    /// deviation over all its pixels. A constant channel gets std 1 (no division by zero).
    /// On MNIST's training images it gives MNIST's figures to two digits:
    ///
    /// ```no_run
    /// use mnist_lab::data::{ImageDataset, Normalization};
    /// let dir = std::path::Path::new("tests/data/mnist-slice");
    /// let train = ImageDataset::from_idx_files(&dir.join("train-images-idx3-ubyte.gz"), &dir.join("train-labels-idx1-ubyte.gz"))?;
    /// let n = Normalization::of(&train);
    /// assert!((n.mean[0] - 0.13).abs() < 0.01 && (n.std[0] - 0.31).abs() < 0.01, "{n:?}");
    /// # Ok::<(), mnist_lab::data::ImageDataError>(())
    /// ```
    pub fn of(data: &ImageDataset) -> Self {
        let [channels, h, w] = data.shape;
        let plane = h * w;
        let mut sums = vec![(0u64, 0u64); channels];
        for image in data.pixels.chunks_exact(data.image_len().max(1)) {
            for (c, sum) in sums.iter_mut().enumerate() {
                for &p in &image[c * plane..(c + 1) * plane] {
                    sum.0 += p as u64;
                    sum.1 += (p as u64) * (p as u64);
                }
            }
        }
        let n = (data.len() * plane).max(1) as f64;
        let (mean, std) = sums
            .iter()
            .map(|&(s, sq)| {
                let mean = s as f64 / n / 255.0;
                let var = (sq as f64 / n / (255.0 * 255.0) - mean * mean).max(0.0);
                let std = var.sqrt();
                (mean as f32, if std > 0.0 { std as f32 } else { 1.0 })
            })
            .unzip();
        Self { mean, std }
    }
}

/// Turns [`ImageItem`]s of one shape into an [`ImageBatch`], scaling pixels to `[0, 1]` and
/// normalizing each channel (torchvision's `ToTensor` + `Normalize`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageBatcher {
    /// The normalization.
    pub normalization: Normalization,
}

impl ImageBatcher {
    /// A batcher for images normalized by `normalization`.
    pub fn new(normalization: Normalization) -> Self {
        Self { normalization }
    }

    /// The normalized value of `pixel` in channel `channel` (a normalization of one channel
    /// applies to all).
    pub fn normalize(&self, channel: usize, pixel: u8) -> f32 {
        let Normalization { mean, std } = &self.normalization;
        let c = channel.min(mean.len().min(std.len()).saturating_sub(1));
        let (m, s) = (
            mean.get(c).copied().unwrap_or(0.0),
            std.get(c).copied().unwrap_or(1.0),
        );
        (pixel as f32 / 255.0 - m) / s
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let n = items.len();
        let shape = items.first().map_or([1, 0, 0], |i| i.shape);
        debug_assert!(
            items.iter().all(|i| i.shape == shape),
            "one shape per batch"
        );
        let plane = (shape[1] * shape[2]).max(1);
        let luts: Vec<Vec<f32>> = (0..shape[0].max(1))
            .map(|c| (0..=255u8).map(|p| self.normalize(c, p)).collect())
            .collect();
        let mut values = Vec::with_capacity(n * shape.iter().product::<usize>());
        for item in &items {
            for (plane_pixels, lut) in item.pixels.chunks(plane).zip(luts.iter().cycle()) {
                values.extend(plane_pixels.iter().map(|&p| lut[p as usize]));
            }
        }
        let targets: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        let [c, h, w] = shape;
        ImageBatch {
            images: Tensor::from_data(TensorData::new(values, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
        }
    }
}
