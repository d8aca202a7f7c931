//! The IDX reader: round trips, and every error path with a message that names the file.

mod common;

use std::path::{Path, PathBuf};

use mnist_lab::data::idx::{
    self, IMAGES_MAGIC, IdxError, IdxImages, LABELS_MAGIC, encode_idx, read_images, read_labels,
};
use mnist_lab::data::{MnistDataset, SourceError};

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn images(count: usize, rows: usize, cols: usize) -> IdxImages {
    IdxImages {
        count,
        rows,
        cols,
        pixels: (0..count * rows * cols)
            .map(|i| (i * 7 % 256) as u8)
            .collect(),
    }
}

#[test]
fn images_and_labels_round_trip_raw_and_gzipped() {
    let dir = temp();
    let imgs = images(3, 28, 28);
    let labels = vec![3, 0, 9];
    for gzip in [false, true] {
        // The names lie on purpose: gzip is detected from the content.
        let ip = dir.path().join(format!("imgs-{gzip}.idx"));
        let lp = dir.path().join(format!("labels-{gzip}.idx"));
        idx::write_images(&ip, &imgs, gzip).unwrap();
        idx::write_labels(&lp, &labels, gzip).unwrap();
        let raw = std::fs::read(&ip).unwrap();
        assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gzip);
        assert_eq!(read_images(&ip).unwrap(), imgs);
        assert_eq!(read_labels(&lp).unwrap(), labels);
        let ds = MnistDataset::from_files(&ip, &lp).unwrap();
        assert_eq!(ds.labels(), &labels[..]);
        assert_eq!(ds.pixels(2).unwrap(), imgs.image(2).unwrap());
    }
}

#[test]
fn the_committed_slice_reads_with_real_digits() {
    let train = MnistDataset::train(&common::slice_dir()).unwrap();
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    assert_eq!(
        (
            burn::data::dataset::Dataset::len(&train),
            burn::data::dataset::Dataset::len(&test)
        ),
        (2000, 1000)
    );
    // The official files start with a 5, 0, 4, 1, 9 (train) and a 7, 2, 1, 0, 4 (test).
    assert_eq!(&train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&test.labels()[..5], &[7, 2, 1, 0, 4]);
    // Every class appears.
    for c in 0..10u8 {
        assert!(train.labels().contains(&c));
    }
}

#[test]
fn missing_file_says_how_to_fix_it() {
    let err = read_images(Path::new("/nonexistent/train-images-idx3-ubyte")).unwrap_err();
    assert!(matches!(err, IdxError::Missing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/train-images-idx3-ubyte") && msg.contains("MNIST_DIR"),
        "{msg}"
    );
}

#[test]
fn directory_without_the_files_names_the_missing_one() {
    let dir = temp();
    let err = MnistDataset::train(dir.path()).unwrap_err();
    assert!(matches!(err, SourceError::MissingFile { .. }));
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
}

#[test]
fn a_label_file_passed_as_images_is_named_as_such() {
    let dir = temp();
    let p = write(dir.path(), "l", &encode_idx(LABELS_MAGIC, &[2], &[1, 2]));
    let err = read_images(&p).unwrap_err();
    match &err {
        IdxError::BadMagic {
            found, expected, ..
        } => assert_eq!((*found, *expected), (2049, 2051)),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("this is a label file"), "{err}");
}

#[test]
fn garbage_is_a_bad_magic() {
    let dir = temp();
    let p = write(dir.path(), "g", b"hello world, not idx");
    let err = read_labels(&p).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::BadMagic {
                found: 0x68656c6c,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&p.display().to_string()));
}

#[test]
fn empty_and_short_headers_are_truncated_headers() {
    let dir = temp();
    for (name, bytes) in [
        ("empty", vec![]),
        ("two", vec![0, 0]),
        ("half", encode_idx(IMAGES_MAGIC, &[1, 28], &[])),
    ] {
        let p = write(dir.path(), name, &bytes);
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(err, IdxError::TruncatedHeader { expected: 16, .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("Download the file again"));
    }
}

#[test]
fn wrong_image_dims_are_rejected_by_the_dataset() {
    let dir = temp();
    let ip = dir.path().join("i");
    let lp = dir.path().join("l");
    idx::write_images(&ip, &images(2, 32, 32), true).unwrap();
    idx::write_labels(&lp, &[1, 2], true).unwrap();
    let err = MnistDataset::from_files(&ip, &lp).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::WrongDims {
                rows: 32,
                cols: 32,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("32x32, expected 28x28"), "{err}");
}

#[test]
fn truncated_payload_raw_and_gzipped() {
    let dir = temp();
    let full = encode_idx(IMAGES_MAGIC, &[2, 28, 28], &[1; 2 * 784]);
    let cut = &full[..full.len() - 100];
    let p = write(dir.path(), "raw", cut);
    let err = read_images(&p).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::Truncated {
                expected: 1568,
                found: 1468,
                ..
            }
        ),
        "{err:?}"
    );

    // A gzip stream cut short is an I/O error of the decoder, also naming the file.
    let gz = dir.path().join("full.gz");
    idx::write_images(&gz, &images(2, 28, 28), true).unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    let p = write(dir.path(), "cut.gz", &bytes[..bytes.len() / 2]);
    let err = read_images(&p).unwrap_err();
    assert!(
        matches!(err, IdxError::Io { .. } | IdxError::Truncated { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut.gz"));
}

#[test]
fn trailing_garbage_is_rejected() {
    let dir = temp();
    let mut bytes = encode_idx(LABELS_MAGIC, &[2], &[1, 2]);
    bytes.push(0);
    let p = write(dir.path(), "l", &bytes);
    let err = read_labels(&p).unwrap_err();
    assert!(
        matches!(err, IdxError::TrailingBytes { expected: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn a_header_claiming_billions_of_images_fails_fast() {
    let dir = temp();
    let p = write(
        dir.path(),
        "huge",
        &encode_idx(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[0; 64]),
    );
    assert!(matches!(read_images(&p), Err(IdxError::Oversized { .. })));
    let p = write(
        dir.path(),
        "big",
        &encode_idx(IMAGES_MAGIC, &[4_000_000, 28, 28], &[0; 64]),
    );
    assert!(matches!(
        read_images(&p),
        Err(IdxError::Truncated { found: 64, .. })
    ));
}

#[test]
fn image_and_label_counts_must_match() {
    let dir = temp();
    let ip = dir.path().join("i");
    let lp = dir.path().join("l");
    idx::write_images(&ip, &images(3, 28, 28), false).unwrap();
    idx::write_labels(&lp, &[1, 2], false).unwrap();
    let err = MnistDataset::from_files(&ip, &lp).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::CountMismatch {
                image_count: 3,
                label_count: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn labels_above_nine_are_rejected_with_their_index() {
    let dir = temp();
    let ip = dir.path().join("i");
    let lp = dir.path().join("l");
    idx::write_images(&ip, &images(3, 28, 28), false).unwrap();
    idx::write_labels(&lp, &[1, 12, 2], false).unwrap();
    let err = MnistDataset::from_files(&ip, &lp).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::LabelOutOfRange {
                index: 1,
                label: 12,
                max: 9,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_directory_is_an_io_error_not_a_panic() {
    let dir = temp();
    let err = read_labels(dir.path()).unwrap_err();
    assert!(matches!(err, IdxError::Io { .. }), "{err:?}");
}

/// The committed Fashion-MNIST slice (`tests/data/fashion-mnist-slice`, the first 500 training
/// and 200 test images of the official files, cut by `tests/data/make_slice.py`): the same
/// reader, other class names. Runs on every machine.
#[test]
fn fashion_mnist_reads_with_the_same_reader() {
    use mnist_lab::data::Flavor;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fashion-mnist-slice");
    let train = MnistDataset::train(&dir)
        .unwrap()
        .with_flavor(Flavor::FashionMnist);
    let test = MnistDataset::test(&dir)
        .unwrap()
        .with_flavor(Flavor::FashionMnist);
    assert_eq!((train.labels().len(), test.labels().len()), (500, 200));
    assert_eq!(&train.labels()[..4], &[9, 0, 0, 3]);
    let names = train.flavor.class_names();
    assert_eq!(names[train.labels()[0] as usize], "Ankle boot");
    assert_eq!(names[test.labels()[1] as usize], "Pullover");
    // Every class is there, each a real garment: no image is blank.
    let mut seen = [0usize; 10];
    train.labels().iter().for_each(|&l| seen[l as usize] += 1);
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    assert!((0..500).all(|i| train.pixels(i).unwrap().iter().any(|&p| p > 0)));
}

/// Where Debian's `dataset-fashion-mnist` is installed (the README's test command installs it):
/// the full 70,000 images read, and the committed slice is their beginning, byte for byte.
/// Without the package there is nothing to check; the test says so and passes.
#[test]
fn installed_fashion_mnist_reads_and_starts_with_the_slice() {
    let dir = mnist_lab::data::dataset::fashion_mnist_dir();
    if !dir.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!(
            "{} is not installed (apt-get install dataset-fashion-mnist): not checked",
            dir.display()
        );
        return;
    }
    let slice = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fashion-mnist-slice");
    for (split, full_count) in [
        (mnist_lab::data::Split::Train, 60_000),
        (mnist_lab::data::Split::Test, 10_000),
    ] {
        let full = MnistDataset::split(&dir, split).unwrap();
        let cut = MnistDataset::split(&slice, split).unwrap();
        assert_eq!(full.labels().len(), full_count, "{split:?}");
        let n = cut.labels().len();
        assert_eq!(&full.labels()[..n], cut.labels(), "{split:?} labels");
        assert!(
            (0..n).all(|i| full.pixels(i) == cut.pixels(i)),
            "{split:?} pixels"
        );
    }
}

/// A well-formed image file with a count of 0 is refused when read, naming the file (it used
/// to pass, and the trainer said only "the training set is empty").
#[test]
fn a_file_with_no_images_is_named() {
    let dir = temp();
    let ip = dir.path().join("train-images-idx3-ubyte");
    let lp = dir.path().join("train-labels-idx1-ubyte");
    idx::write_images(&ip, &images(0, 28, 28), false).unwrap();
    idx::write_labels(&lp, &[], false).unwrap();
    let err = MnistDataset::from_files(&ip, &lp).unwrap_err();
    assert!(matches!(err, IdxError::NoImages { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}: holds 0 images", ip.display())),
        "{message}"
    );
    assert!(message.contains("--data-dir or MNIST_DIR"), "{message}");
    let err = mnist_lab::data::ImageDataset::from_idx_files(&ip, &lp).unwrap_err();
    assert!(err.to_string().contains("holds 0 images"), "{err}");
}
