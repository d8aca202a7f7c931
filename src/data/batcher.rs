//! Turning items into normalized tensors, and the loaders that feed the networks.

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, batcher::Batcher};
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::dataset::{IMAGE_PIXELS, IMAGE_SIDE, MnistItem};

/// Mean of MNIST's training pixels after scaling to `[0, 1]` (torchvision's value).
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of MNIST's training pixels after scaling to `[0, 1]`.
pub const MNIST_STD: f32 = 0.3081;
/// Training batch size of the report.
pub const DEFAULT_TRAIN_BATCH: usize = 50;
/// Test batch size of the report.
pub const DEFAULT_TEST_BATCH: usize = 100;

/// One batch of images and their classes: images `[B, C, H, W]` (normalized f32; `[B, 1, 28,
/// 28]` for MNIST) and class indices `[B]`. What our networks' step traits take.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// Normalized images, `[B, C, H, W]`.
    pub images: Tensor<4>,
    /// Class indices, `[B]`.
    pub targets: Tensor<1, Int>,
}

/// The name of [`ImageBatch`] before it took any image size.
pub type MnistBatch = ImageBatch;

/// Scales pixels to `[0, 1]` then normalizes, as torchvision's `ToTensor` + `Normalize` do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MnistBatcher {
    /// Subtracted after scaling.
    pub mean: f32,
    /// Divided by after subtracting the mean.
    pub std: f32,
}

impl Default for MnistBatcher {
    fn default() -> Self {
        Self {
            mean: MNIST_MEAN,
            std: MNIST_STD,
        }
    }
}

impl MnistBatcher {
    /// The normalized value of one pixel: `(p / 255 - mean) / std`.
    ///
    /// ```
    /// use mnist_lab::data::MnistBatcher;
    /// let b = MnistBatcher::default();
    /// assert!((b.normalize(0) + 0.4242).abs() < 1e-4);
    /// ```
    pub fn normalize(&self, pixel: u8) -> f32 {
        (pixel as f32 / 255.0 - self.mean) / self.std
    }

    /// The pixel a normalized value came from (the inverse of [`normalize`](Self::normalize),
    /// rounded and clamped to 0..=255).
    ///
    /// ```
    /// use mnist_lab::data::MnistBatcher;
    /// let b = MnistBatcher::default();
    /// assert_eq!(b.denormalize(b.normalize(200)), 200);
    /// ```
    pub fn denormalize(&self, value: f32) -> u8 {
        ((value * self.std + self.mean) * 255.0)
            .round()
            .clamp(0.0, 255.0) as u8
    }

    /// Turns a batch back into items (pixels and labels), e.g. to look at what a network sees.
    pub fn unbatch(&self, batch: MnistBatch) -> Result<Vec<MnistItem>, burn::tensor::DataError> {
        let values = batch.images.into_data().try_to_vec::<f32>()?;
        let labels = batch.targets.into_data_as::<i64>().try_to_vec::<i64>()?;
        Ok(values
            .chunks_exact(IMAGE_PIXELS)
            .zip(labels)
            .map(|(image, label)| {
                let mut item = MnistItem {
                    pixels: [0; IMAGE_PIXELS],
                    label: label as u8,
                };
                for (p, &v) in item.pixels.iter_mut().zip(image) {
                    *p = self.denormalize(v);
                }
                item
            })
            .collect())
    }

    /// Normalized pixels of `items`, image after image.
    pub fn normalize_all(&self, items: &[MnistItem]) -> Vec<f32> {
        let lut: Vec<f32> = (0..=255u8).map(|p| self.normalize(p)).collect();
        items
            .iter()
            .flat_map(|item| item.pixels.iter().map(|&p| lut[p as usize]))
            .collect()
    }
}

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let n = items.len();
        debug_assert!(items.iter().all(|i| i.pixels.len() == IMAGE_PIXELS));
        let images = TensorData::new(self.normalize_all(&items), [n, 1, IMAGE_SIDE, IMAGE_SIDE]);
        let targets: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        MnistBatch {
            images: Tensor::from_data(images, device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
        }
    }
}

/// A loader of `dataset` in batches of `batch_size` on `device`, reshuffled every epoch from
/// `shuffle_seed` when given, in file order otherwise.
///
/// The device is always set: burn's builder would otherwise pick `Device::default()`, which
/// prefers a GPU backend when one is compiled in.
pub fn mnist_loader<D>(
    dataset: D,
    batch_size: usize,
    shuffle_seed: Option<u64>,
    device: &Device,
) -> Arc<dyn DataLoader<MnistBatch>>
where
    D: Dataset<MnistItem> + 'static,
{
    super::loader(
        Arc::new(dataset),
        Arc::new(MnistBatcher::default()),
        batch_size,
        shuffle_seed,
        device,
    )
}
