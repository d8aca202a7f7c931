//! Datasets to batches on a device: burn's `DataLoader`, always with an explicit device.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::Dataset;
use burn::tensor::Device;

/// burn's loader builder takes a `Batcher` by value; this shares one behind an `Arc`.
struct SharedBatcher<I, B>(Arc<dyn Batcher<I, B>>);

impl<I, B> Batcher<I, B> for SharedBatcher<I, B> {
    fn batch(&self, items: Vec<I>, device: &Device) -> B {
        self.0.batch(items, device)
    }
}

/// A loader of `dataset` in batches of `batch_size` on `device`, reshuffled from
/// `shuffle_seed` when given, in order otherwise. The device is always set: burn's builder would
/// otherwise pick `Device::default()`, which prefers a GPU backend when one is compiled in.
pub fn loader<I, B>(
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, B>>,
    batch_size: usize,
    shuffle_seed: Option<u64>,
    device: &Device,
) -> Arc<dyn DataLoader<B>>
where
    I: Send + Sync + Clone + std::fmt::Debug + 'static,
    B: Send + Clone + std::fmt::Debug + 'static,
{
    let builder = DataLoaderBuilder::new(SharedBatcher(batcher))
        .batch_size(batch_size)
        .set_device(device.clone());
    match shuffle_seed {
        Some(seed) => builder.shuffle(seed).build(dataset),
        None => builder.build(dataset),
    }
}
