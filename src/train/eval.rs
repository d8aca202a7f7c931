//! Test-set evaluation: accuracy, loss, per-class accuracy and the confusion matrix, for any
//! number of classes.

use burn::data::dataloader::DataLoader;
use burn::data::dataset::DatasetError;
use burn::module::Module;
use burn::tensor::activation::softmax;

use crate::model::step::{ClassificationOutput, InferenceStep};

/// What a pass over a test set measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Images classified correctly.
    pub correct: usize,
    /// Images seen.
    pub total: usize,
    /// Mean loss over all images (for our networks the negative log-likelihood).
    pub mean_loss: f64,
    /// `confusion[true][predicted]`: counts, one row and column per class of the network's
    /// output.
    pub confusion: Vec<Vec<usize>>,
    /// Every image classified wrongly, in the loader's order.
    #[serde(default)]
    pub mistakes: Vec<Mistake>,
}

/// A test image the network got wrong.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mistake {
    /// Position in the evaluated set (the loader's order: the data set's for an unshuffled
    /// loader).
    pub index: usize,
    /// The true class.
    pub truth: usize,
    /// The class predicted (the output's argmax).
    pub predicted: usize,
    /// The network's probability for `predicted` (softmax of the output row).
    pub probability: f32,
}

/// A target class the network has no output for.
#[derive(Debug, thiserror::Error)]
#[error(
    "a target is class {target}, but the network has only {classes} outputs; give the network as \
     many classes as the data has"
)]
pub struct ClassOutOfRange {
    /// The label.
    pub target: i64,
    /// The network's output width.
    pub classes: usize,
}

impl Evaluation {
    /// An evaluation of nothing, for `classes` classes.
    pub fn empty(classes: usize) -> Self {
        Self {
            correct: 0,
            total: 0,
            mean_loss: 0.0,
            confusion: vec![vec![0; classes]; classes],
            mistakes: vec![],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.confusion.len()
    }

    /// Fraction classified correctly, 0 to 1 (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    /// Accuracy of each true class (NaN-free: 0 for a class with no images).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: usize = row.iter().sum();
                if n == 0 {
                    0.0
                } else {
                    row[c] as f64 / n as f64
                }
            })
            .collect()
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

    /// Counts one batch's predictions (argmax of `output`) in; returns its mean loss.
    fn count(&mut self, output: ClassificationOutput) -> Result<f64, DatasetError> {
        let [_, classes] = output.output.dims();
        if self.confusion.len() < classes {
            for row in &mut self.confusion {
                row.resize(classes, 0);
            }
            self.confusion.resize(classes, vec![0; classes]);
        }
        let loss = output.loss.into_scalar::<f32>() as f64;
        // The argmax of the output itself (as before probabilities existed here: softmax can
        // round two close classes to a tie), and its softmax probability, which is the same for
        // log-probabilities and logits.
        let predicted = output.output.clone().argmax(1);
        let top = softmax(output.output, 1)
            .gather(1, predicted.clone())
            .into_data_as::<f32>()
            .try_to_vec::<f32>()
            .map_err(DatasetError::new)?;
        let predicted = predicted
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .map_err(DatasetError::new)?;
        let truth = output
            .targets
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .map_err(DatasetError::new)?;
        for ((&t, &p), &probability) in truth.iter().zip(&predicted).zip(&top) {
            let row = usize::try_from(t)
                .ok()
                .and_then(|t| self.confusion.get_mut(t))
                .ok_or_else(|| DatasetError::new(ClassOutOfRange { target: t, classes }))?;
            row[p as usize] += 1;
            if t == p {
                self.correct += 1;
            } else {
                self.mistakes.push(Mistake {
                    index: self.total,
                    truth: t as usize,
                    predicted: p as usize,
                    probability,
                });
            }
            self.total += 1;
        }
        Ok(loss)
    }
}

/// Evaluates `model` in inference mode (dropout off, batch norm on running statistics) on every
/// batch of `loader`. The loader must produce batches on a device without autodiff.
pub fn evaluate<M, B>(model: &M, loader: &dyn DataLoader<B>) -> Result<Evaluation, DatasetError>
where
    M: InferenceStep<Input = B, Output = ClassificationOutput> + Module,
{
    crate::backend::keep_freed_memory();
    let model = model.valid();
    let mut eval = Evaluation::empty(0);
    let mut loss_sum = 0.0;
    for batch in loader.iter() {
        let before = eval.total;
        let loss = eval.count(InferenceStep::step(&model, batch?))?;
        loss_sum += loss * (eval.total - before) as f64;
    }
    if eval.total > 0 {
        eval.mean_loss = loss_sum / eval.total as f64;
    }
    Ok(eval)
}
