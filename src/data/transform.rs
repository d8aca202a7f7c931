//! Transforms of training batches (augmentation), passed to the trainer by the caller.

use rand::rngs::Xoshiro256PlusPlus;

/// A random change of each training batch before its step: augmentation. The trainer draws
/// `rng` from `(seed, epoch)`, so a resumed run transforms exactly as an uninterrupted one.
/// `data::ImageAugmentation` (rotation, zoom, shift) is one.
pub trait BatchTransform<B>: Send + Sync {
    /// The transformed batch.
    fn apply(&self, batch: B, rng: &mut Xoshiro256PlusPlus) -> B;
    /// What `config.json` records of it (under `augmentation`), so that a resume with other
    /// settings is refused.
    fn describe(&self) -> serde_json::Value;
}
