//! The library used as another crate would: a network defined in this file, images written as
//! PNG files into an `ImageFolder` tree, trained by the generic trainer with checkpoints, an
//! exact resume, and an export to safetensors; image data of other sizes and class counts.

mod common;

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::activation::{log_softmax, relu};
use mnist_lab::data::{
    IdxImages, ImageBatch, ImageBatcher, ImageDataError, ImageDataset, ImageItem, MnistDataset,
    Normalization, idx,
};
use mnist_lab::interop::{self, KeyNames};
use mnist_lab::model::{ModelConfig, SimpleFcConfig};
use mnist_lab::train::{
    self, ClassificationOutput, InferenceStep, ModelInit, RunData, RunOutcome, TrainOutput,
    TrainStep, Trainer, TrainingConfig, checkpoint, parse_stages,
};

use common::{serial, weights};

/// A two-layer perceptron of our own: not one of the crate's networks.
#[derive(Module, Debug)]
struct TinyNet {
    hidden: Linear,
    out: Linear,
}

#[derive(Config, Debug)]
struct TinyNetConfig {
    inputs: usize,
    classes: usize,
    #[config(default = 32)]
    width: usize,
}

impl ModelInit for TinyNetConfig {
    type Model = TinyNet;
    fn init(&self, device: &Device) -> TinyNet {
        TinyNet {
            hidden: LinearConfig::new(self.inputs, self.width).init(device),
            out: LinearConfig::new(self.width, self.classes).init(device),
        }
    }
    fn name(&self) -> String {
        "tiny_net".into()
    }
}

impl TinyNet {
    fn output(&self, batch: ImageBatch) -> ClassificationOutput {
        let x = relu(self.hidden.forward(batch.images.flatten(1, 3)));
        train::classification_output(log_softmax(self.out.forward(x), 1), batch.targets)
    }
}

impl TrainStep for TinyNet {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        train::train_output(self, self.output(batch))
    }
}

impl InferenceStep for TinyNet {
    type Input = ImageBatch;
    type Output = ClassificationOutput;
    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.output(batch)
    }
}

/// The first `n` images of `data` as `root/digit-<label>/<index>.png`.
fn write_png_folder(data: &MnistDataset, n: usize, root: &Path) {
    use burn::data::dataset::Dataset;
    for i in 0..n {
        let item = data.get(i).unwrap();
        let dir = root.join(format!("digit-{}", item.label));
        std::fs::create_dir_all(&dir).unwrap();
        image::GrayImage::from_raw(28, 28, item.pixels.to_vec())
            .unwrap()
            .save(dir.join(format!("{i:04}.png")))
            .unwrap();
    }
}

struct PngFolders {
    _dir: tempfile::TempDir,
    train: PathBuf,
    test: PathBuf,
}

fn png_folders() -> PngFolders {
    let dir = tempfile::tempdir().unwrap();
    let slice = common::slice_dir();
    let (train, test) = (dir.path().join("train"), dir.path().join("test"));
    write_png_folder(&MnistDataset::train(&slice).unwrap(), 600, &train);
    write_png_folder(&MnistDataset::test(&slice).unwrap(), 200, &test);
    PngFolders {
        _dir: dir,
        train,
        test,
    }
}

#[test]
fn png_folders_read_back_the_exact_pixels_and_labels() {
    let folders = png_folders();
    let data = ImageDataset::from_folder(&folders.train).unwrap();
    assert_eq!(data.shape(), [1, 28, 28]);
    assert_eq!(data.num_classes(), 10);
    assert_eq!(data.class_names()[3], "digit-3");
    use burn::data::dataset::Dataset;
    assert_eq!(data.len(), 600);
    let mnist = MnistDataset::train(&common::slice_dir()).unwrap();
    // Items are ordered by class folder, then file name: find each again in MNIST's order.
    let first: ImageItem = data.get(0).unwrap();
    let index: usize = (0..600).find(|&i| mnist.labels()[i] == 0).unwrap();
    assert_eq!(first.label, 0);
    assert_eq!(first.pixels, mnist.pixels(index).unwrap());
    let mut counts = vec![0usize; 10];
    for &l in &mnist.labels()[..600] {
        counts[l as usize] += 1;
    }
    let mut ours = vec![0usize; 10];
    for &l in data.labels() {
        ours[l] += 1;
    }
    assert_eq!(ours, counts);
    // The measured normalization is MNIST's to two digits.
    let n = Normalization::of(&data);
    assert!(
        (n.mean[0] - 0.13).abs() < 0.01 && (n.std[0] - 0.31).abs() < 0.01,
        "{n:?}"
    );
}

fn trainer(out: &Path) -> Trainer<ImageBatch> {
    let config = TrainingConfig::new(parse_stages("1@0.05,1@0.01").unwrap()).with_log_interval(3);
    Trainer::new(config, Device::flex(), out).unwrap().quiet()
}

fn folder_data(folders: &PngFolders) -> RunData<ImageItem, ImageBatch> {
    let train = ImageDataset::from_folder(&folders.train).unwrap();
    let test = ImageDataset::from_folder(&folders.test).unwrap();
    let batcher = ImageBatcher::new(Normalization::of(&train));
    RunData::new(train, test, batcher)
}

#[test]
fn our_own_network_trains_on_png_folders_resumes_exactly_and_exports() {
    let _serial = serial();
    let folders = png_folders();
    let net = TinyNetConfig::new(784, 10);
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let uninterrupted: RunOutcome<TinyNet> = trainer(whole.path())
        .fit(&net, folder_data(&folders))
        .unwrap();
    let stages = &uninterrupted.summary.stages;
    assert_eq!(stages.len(), 2);
    assert!(stages[1].test_accuracy > 70.0, "{:?}", stages[1]);
    assert_eq!(stages[1].confusion.len(), 10);
    assert_eq!(uninterrupted.summary.model, "tiny_net");
    assert_eq!(uninterrupted.summary.params, 784 * 32 + 32 + 32 * 10 + 10);
    assert_eq!(
        uninterrupted.history.len(),
        2 * 12,
        "2 epochs of 12 batches of 50"
    );

    // Stopped after the first stage as if killed, then resumed from its checkpoint.
    trainer(parts.path())
        .stop_after(1)
        .fit(&net, folder_data(&folders))
        .unwrap();
    assert_eq!(
        checkpoint::latest(&checkpoint::checkpoint_dir(parts.path())),
        Some(1)
    );
    let resumed = trainer(parts.path())
        .resume_from(1)
        .fit(&net, folder_data(&folders))
        .unwrap();
    let losses = |o: &RunOutcome<TinyNet>| o.history.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&resumed), losses(&uninterrupted));
    assert_eq!(weights(&resumed.model), weights(&uninterrupted.model));

    // config.json holds our network's config; a resume with another width is refused.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(parts.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["model"]["width"], 32);
    let err = trainer(parts.path())
        .resume_from(1)
        .fit(&net.clone().with_width(16), folder_data(&folders))
        .err()
        .expect("another width cannot resume");
    assert!(err.to_string().contains("model: saved"), "{err}");

    // Out to safetensors under PyTorch-style names of our choosing, and back.
    let file = parts.path().join("tiny.safetensors");
    let names = KeyNames::new()
        .rename_prefix("hidden.", "fc1.")
        .rename_prefix("out.", "fc2.");
    interop::save_module(&resumed.model, &file, &names, "tiny_net").unwrap();
    let keys: Vec<String> = interop::pytorch_keys_of(&resumed.model, &names)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
    let device = Device::flex();
    let back = interop::load_module(net.init(&device), &file, &names, "tiny_net").unwrap();
    assert_eq!(weights(&back), weights(&resumed.model.valid()));
    // A file for another network is refused, naming both.
    let err = interop::load_module(
        TinyNetConfig::new(784, 10).with_width(8).init(&device),
        &file,
        &names,
        "tiny_net",
    )
    .expect_err("a width-32 file does not fit a width-8 net");
    assert!(
        err.to_string().contains("tiny_net") && err.to_string().contains("fc1.weight"),
        "{err}"
    );
}

#[test]
fn bad_image_folders_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let err = ImageDataset::from_folder(root).unwrap_err();
    assert!(matches!(err, ImageDataError::NoClasses { .. }), "{err}");
    assert!(err.to_string().contains("root/<class>/*.png"), "{err}");

    let save = |class: &str, name: &str, w: u32, h: u32| {
        let d = root.join(class);
        std::fs::create_dir_all(&d).unwrap();
        image::GrayImage::new(w, h).save(d.join(name)).unwrap();
    };
    save("a", "1.png", 28, 28);
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("b/notes.txt"), "not an image").unwrap();
    let err = ImageDataset::from_folder(root).unwrap_err();
    assert!(
        matches!(&err, ImageDataError::EmptyClass { class, .. } if class == "b"),
        "{err}"
    );

    save("b", "2.png", 28, 20);
    let err = ImageDataset::from_folder(root).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ImageDataError::MixedSizes {
                found: [1, 20, 28],
                expected: [1, 28, 28],
                ..
            }
        ) && msg.contains("2.png")
            && msg.contains("1.png"),
        "{msg}"
    );

    std::fs::remove_file(root.join("b/2.png")).unwrap();
    std::fs::write(root.join("b/3.png"), b"\x89PNG garbage").unwrap();
    let err = ImageDataset::from_folder(root).unwrap_err();
    assert!(
        matches!(err, ImageDataError::Unreadable { .. }) && err.to_string().contains("3.png"),
        "{err}"
    );

    // Colour anywhere: every image becomes RGB, planar.
    std::fs::remove_file(root.join("b/3.png")).unwrap();
    let mut rgb = image::RgbImage::new(28, 28);
    rgb.put_pixel(0, 0, image::Rgb([10, 20, 30]));
    rgb.save(root.join("b/4.png")).unwrap();
    let data = ImageDataset::from_folder(root).unwrap();
    assert_eq!(data.shape(), [3, 28, 28]);
    use burn::data::dataset::Dataset;
    let item = data.get(1).unwrap();
    assert_eq!(
        (item.pixels[0], item.pixels[784], item.pixels[2 * 784]),
        (10, 20, 30)
    );
}

#[test]
fn idx_data_of_any_size_and_class_count_trains_our_networks() {
    let _serial = serial();
    // 47 classes of 20x24 images, as EMNIST balanced has 47 (but of another size): the first
    // 20x24 corner of MNIST's digits, labels spread over 0..47.
    let mnist = MnistDataset::train(&common::slice_dir()).unwrap();
    let (count, rows, cols) = (470, 20, 24);
    let mut pixels = Vec::with_capacity(count * rows * cols);
    for i in 0..count {
        let image = mnist.pixels(i).unwrap();
        for r in 0..rows {
            pixels.extend_from_slice(&image[r * 28 + 2..r * 28 + 2 + cols]);
        }
    }
    let labels: Vec<u8> = (0..count).map(|i| (i % 47) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let (images_path, labels_path) = (dir.path().join("images.gz"), dir.path().join("labels"));
    let images = IdxImages {
        count,
        rows,
        cols,
        pixels,
    };
    idx::write_images(&images_path, &images, true).unwrap();
    idx::write_labels(&labels_path, &labels, false).unwrap();
    let data = ImageDataset::from_idx_files(&images_path, &labels_path).unwrap();
    assert_eq!((data.shape(), data.num_classes()), ([1, 20, 24], 47));

    let model = ModelConfig::SimpleFc(
        SimpleFcConfig::new()
            .with_input([1, 20, 24])
            .with_num_classes(47),
    );
    let out = tempfile::tempdir().unwrap();
    let config = TrainingConfig::new(parse_stages("1@0.01").unwrap());
    let batcher = ImageBatcher::new(Normalization::of(&data));
    let outcome = Trainer::new(config, Device::flex(), out.path())
        .unwrap()
        .quiet()
        .fit(&model, RunData::new(data.clone(), data, batcher))
        .unwrap();
    let stage = &outcome.summary.stages[0];
    assert_eq!(
        (stage.confusion.len(), stage.per_class_accuracy.len()),
        (47, 47)
    );
    assert_eq!(stage.confusion.iter().flatten().sum::<usize>(), 470);
    assert_eq!(outcome.summary.params, 20 * 24 * 47 + 47);

    // Images and labels that do not pair up are an error naming both files.
    idx::write_labels(&labels_path, &labels[..400], false).unwrap();
    let err = ImageDataset::from_idx_files(&images_path, &labels_path).unwrap_err();
    assert!(
        matches!(
            err,
            ImageDataError::CountMismatch {
                images: 470,
                labels: 400,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_general_image_path_gives_mnists_batches_exactly() {
    use burn::data::dataloader::batcher::Batcher;
    use burn::data::dataset::Dataset;
    use mnist_lab::data::{MnistBatcher, Split};
    let dir = common::slice_dir();
    let (general, mnist) = (
        ImageDataset::split(&dir, Split::Test).unwrap(),
        MnistDataset::test(&dir).unwrap(),
    );
    let device = Device::flex();
    let ours = ImageBatcher::new(Normalization::mnist())
        .batch((0..64).map(|i| general.get(i).unwrap()).collect(), &device);
    let theirs =
        MnistBatcher::default().batch((0..64).map(|i| mnist.get(i).unwrap()).collect(), &device);
    assert_eq!(ours.images.dims(), [64, 1, 28, 28]);
    assert_eq!(
        ours.images.into_data().try_to_vec::<f32>().unwrap(),
        theirs.images.into_data().try_to_vec::<f32>().unwrap()
    );
    assert_eq!(
        ours.targets
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .unwrap(),
        theirs
            .targets
            .into_data_as::<i64>()
            .try_to_vec::<i64>()
            .unwrap()
    );
    // A directory without the files says which one is missing.
    let empty = tempfile::tempdir().unwrap();
    let err = ImageDataset::split(empty.path(), Split::Train).unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
}
