//! The pictures every MNIST run leaves in its directory (what `report_run` and the report
//! write): the confusion heat map, the test images it got wrong, loss and accuracy per epoch,
//! and, given the trained network, its layer diagram and the feature maps of one test image.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorData};

use crate::report::image::enlarged;
use crate::report::pictures::{ConfusionHeatMap, FeatureMaps, LayerDiagram, MistakesGrid};
use crate::report::{PlotError, epoch_curves};
use mnist_lab::data::{IMAGE_SIDE, MnistBatcher, MnistItem};
use mnist_lab::model::Model;
use mnist_lab::train::{HistoryRow, RunOutcome, RunSummary};

/// The file stems the pictures are written under (each `.png`, and `.svg` where said).
pub mod files {
    /// Confusion matrix heat map (PNG, SVG).
    pub const CONFUSION: &str = "confusion";
    /// The test images the network got wrong (PNG).
    pub const MISTAKES: &str = "mistakes";
    /// Training loss per step window beside test loss per epoch (PNG, SVG).
    pub const LOSS: &str = "loss";
    /// Test accuracy per epoch (PNG, SVG).
    pub const ACCURACY: &str = "accuracy";
    /// The layer diagram (PNG, SVG).
    pub const LAYERS: &str = "layers";
    /// Feature maps of one test image (PNG; CNNs only).
    pub const FEATURE_MAPS: &str = "feature_maps";
}

/// How many of the wrong images the grid shows at most.
pub const MAX_MISTAKES_SHOWN: usize = 100;

/// The trained network and the test image whose feature maps are drawn.
pub struct NetworkShown<'a> {
    /// The network (on any device: it is moved to `device` without autodiff).
    pub model: &'a Model,
    /// A device without autodiff to run it on.
    pub device: &'a Device,
    /// Index of the test image (`--show-image`).
    pub image_index: usize,
}

/// Writes the run's pictures into `dir` and returns the files written. `test` is the test set
/// the run was evaluated on (its order is the one the summary's mistakes index).
pub fn write_run_pictures(
    dir: &Path,
    name: &str,
    summary: &RunSummary,
    history: &[HistoryRow],
    test: &dyn Dataset<MnistItem>,
    network: Option<NetworkShown<'_>>,
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = vec![];
    if let Some(last) = summary.stages.last() {
        let title = format!(
            "{name}: confusion matrix on {} test images ({:.2}%)",
            last.total, last.test_accuracy
        );
        written.extend(
            ConfusionHeatMap::new(title, last.confusion.clone()).save(dir, files::CONFUSION)?,
        );
    }
    if !summary.mistakes.is_empty() {
        let names: Vec<String> = (0..10).map(|c| c.to_string()).collect();
        let grid = MistakesGrid::most_confident(
            name,
            summary.test_images,
            &summary.mistakes,
            MAX_MISTAKES_SHOWN,
            &names,
            |i| test.get(i).ok().map(|item| enlarged(&item, 1)),
        );
        written.extend(grid.save(dir, files::MISTAKES)?);
    }
    let [loss, accuracy] = epoch_curves(name, summary, history);
    if loss.bounds().is_some() {
        written.extend(loss.save(dir, files::LOSS)?);
    }
    if accuracy.bounds().is_some() {
        written.extend(accuracy.save(dir, files::ACCURACY)?);
    }
    if let Some(network) = network {
        written.extend(network_pictures(dir, name, test, network)?);
    }
    Ok(written)
}

/// [`write_run_pictures`] of a run that just finished, its network's pictures included (the
/// feature maps of test image `image_index`, computed on `device`, a device without autodiff).
pub fn write_outcome_pictures(
    dir: &Path,
    name: &str,
    outcome: &RunOutcome<Model>,
    test: &dyn Dataset<MnistItem>,
    device: &Device,
    image_index: usize,
) -> Result<Vec<PathBuf>, PlotError> {
    let shown = NetworkShown {
        model: &outcome.model,
        device,
        image_index,
    };
    let (summary, history) = (&outcome.summary, &outcome.history);
    write_run_pictures(dir, name, summary, history, test, Some(shown))
}

/// The layer diagram of `network.model`, and the feature maps of test image
/// `network.image_index` for a CNN.
pub fn network_pictures(
    dir: &Path,
    name: &str,
    test: &dyn Dataset<MnistItem>,
    network: NetworkShown<'_>,
) -> Result<Vec<PathBuf>, PlotError> {
    let index = network.image_index;
    let item = test.get(index).ok().ok_or_else(|| PlotError::Draw {
        name: files::FEATURE_MAPS.into(),
        message: format!(
            "there is no test image {index}: the test set has {} (give --show-image below that)",
            test.len()
        ),
    })?;
    let model = burn::module::Module::valid(network.model);
    let batcher = MnistBatcher::default();
    let images = Tensor::<4>::from_data(
        TensorData::new(
            batcher.normalize_all(std::slice::from_ref(&item)),
            [1, 1, IMAGE_SIDE, IMAGE_SIDE],
        ),
        network.device,
    );
    let layers = model.layers(images);
    let mut written = LayerDiagram::new(name, vec![1, IMAGE_SIDE, IMAGE_SIDE], &layers)
        .save(dir, files::LAYERS)?;
    if layers.iter().any(|l| l.is_feature_maps()) {
        let title = format!(
            "{name}: test image {index} (a {}) through every convolution and pooling; each map \
             scaled to its own range",
            item.label
        );
        written.extend(
            FeatureMaps::new(title, enlarged(&item, 1), &layers)?.save(dir, files::FEATURE_MAPS)?,
        );
    }
    Ok(written)
}
