//! Test-set evaluation: accuracy, per-class accuracy and the confusion matrix.

use burn::data::dataloader::DataLoader;
use burn::data::dataset::DatasetError;
use burn::module::Module;

use super::nll_loss;
use crate::data::{MnistBatch, NUM_CLASSES};
use crate::model::Model;

/// What a pass over a test set measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Images classified correctly.
    pub correct: usize,
    /// Images seen.
    pub total: usize,
    /// Mean negative log-likelihood over all images.
    pub mean_loss: f64,
    /// `confusion[true][predicted]`: counts.
    pub confusion: [[usize; NUM_CLASSES]; NUM_CLASSES],
}

impl Evaluation {
    /// Fraction classified correctly, 0 to 1 (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    /// Accuracy of each true class (NaN-free: 0 for a class with no images).
    pub fn per_class_accuracy(&self) -> [f64; NUM_CLASSES] {
        std::array::from_fn(|c| {
            let row: usize = self.confusion[c].iter().sum();
            if row == 0 {
                0.0
            } else {
                self.confusion[c][c] as f64 / row as f64
            }
        })
    }

    /// The report's line: `Accuracy of the network on the test images: 99.320%; correct: 9932
    /// out of 10000`.
    pub fn report_line(&self) -> String {
        format!(
            "Accuracy of the network on the test images: {:.3}%; correct: {} out of {}",
            100.0 * self.accuracy(),
            self.correct,
            self.total
        )
    }
}

/// Evaluates `model` in inference mode (dropout off, batch norm on running statistics) on every
/// batch of `loader`. The loader must produce batches on a device without autodiff.
pub fn evaluate(
    model: &Model,
    loader: &dyn DataLoader<MnistBatch>,
) -> Result<Evaluation, DatasetError> {
    let model = model.valid();
    let mut eval = Evaluation {
        correct: 0,
        total: 0,
        mean_loss: 0.0,
        confusion: [[0; NUM_CLASSES]; NUM_CLASSES],
    };
    let mut loss_sum = 0.0;
    for batch in loader.iter() {
        let batch = batch?;
        let [n] = batch.targets.dims();
        let log_probs = model.forward(batch.images);
        loss_sum += nll_loss(log_probs.clone(), batch.targets.clone()).into_scalar::<f32>() as f64
            * n as f64;
        let predicted = log_probs
            .argmax(1)
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .map_err(DatasetError::new)?;
        let truth = batch
            .targets
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .map_err(DatasetError::new)?;
        for (&t, &p) in truth.iter().zip(&predicted) {
            eval.confusion[t as usize][p as usize] += 1;
            eval.correct += usize::from(t == p);
            eval.total += 1;
        }
    }
    if eval.total > 0 {
        eval.mean_loss = loss_sum / eval.total as f64;
    }
    Ok(eval)
}
