//! Batching, normalization, shuffling and where the data comes from (including the downloader,
//! against an HTTP server on 127.0.0.1 that the test starts itself).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use burn::data::dataset::Dataset;
use burn::tensor::Int;
use mnist_lab::BackendKind;
use mnist_lab::data::source::{MNIST_FILES, MnistFile, content_md5, find_file};
use mnist_lab::data::{DataLocator, MnistBatcher, MnistDataset, SourceError, mnist_loader};

#[test]
fn first_batch_has_the_right_shapes_and_normalization() {
    let device = BackendKind::Flex.device().unwrap();
    let train = MnistDataset::train(&common::slice_dir()).unwrap();
    let loader = mnist_loader(train.clone(), 50, None, &device);
    let batch = loader.iter().next().unwrap().unwrap();
    assert_eq!(batch.images.dims(), [50, 1, 28, 28]);
    assert_eq!(batch.targets.dims(), [50]);
    let pixels = batch.images.into_data().try_to_vec::<f32>().unwrap();
    // The first pixel of the first image is black: (0 / 255 - 0.1307) / 0.3081.
    assert!((pixels[0] - -0.4242).abs() < 1e-4, "{}", pixels[0]);
    // Its brightest pixel is 255: (1 - 0.1307) / 0.3081 = 2.8215.
    let max = pixels[..784].iter().cloned().fold(f32::MIN, f32::max);
    assert!((max - 2.8215).abs() < 1e-3, "{max}");
    let targets = batch
        .targets
        .into_data_as::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    assert_eq!(&targets[..5], &[5, 0, 4, 1, 9]);
    // 2,000 images in batches of 50.
    assert_eq!(loader.iter().count(), 40);
    assert_eq!(loader.num_items(), 2000);
}

#[test]
fn normalization_matches_torchvision_values() {
    let b = MnistBatcher::default();
    assert!((b.normalize(0) - (-0.424_212_9)).abs() < 1e-6);
    assert!((b.normalize(255) - 2.821_486_5).abs() < 1e-5);
    assert!((b.normalize(128) - ((128.0 / 255.0 - 0.1307) / 0.3081)).abs() < 1e-6);
}

fn labels_in_order(
    loader: &dyn burn::data::dataloader::DataLoader<mnist_lab::data::MnistBatch>,
) -> Vec<i64> {
    loader
        .iter()
        .flat_map(|b| {
            b.unwrap()
                .targets
                .into_data_as::<i64>()
                .try_to_vec::<i64>()
                .unwrap()
        })
        .collect()
}

#[test]
fn shuffling_is_seeded_and_reshuffles_each_epoch() {
    let device = BackendKind::Flex.device().unwrap();
    let test = MnistDataset::test(&common::slice_dir()).unwrap().limit(300);
    let file_order: Vec<i64> = test.labels().iter().map(|&l| l as i64).collect();
    let a = mnist_loader(test.clone(), 100, Some(7), &device);
    let b = mnist_loader(test.clone(), 100, Some(7), &device);
    let c = mnist_loader(test.clone(), 100, Some(8), &device);
    let plain = mnist_loader(test, 100, None, &device);
    let a1 = labels_in_order(&*a);
    assert_eq!(a1, labels_in_order(&*b), "same seed, same order");
    assert_ne!(a1, labels_in_order(&*c), "another seed, another order");
    assert_ne!(a1, file_order, "shuffled");
    let a2 = labels_in_order(&*a);
    assert_ne!(a1, a2, "a new epoch reshuffles");
    let mut sorted1 = a1.clone();
    sorted1.sort();
    let mut sorted_file = file_order.clone();
    sorted_file.sort();
    assert_eq!(sorted1, sorted_file, "a permutation of the same items");
    assert_eq!(labels_in_order(&*plain), file_order);
}

#[test]
fn int_targets_survive_on_every_backend() {
    for (kind, device) in common::compiled_devices() {
        let test = MnistDataset::test(&common::slice_dir()).unwrap().limit(10);
        let batch = mnist_loader(test, 10, None, &device)
            .iter()
            .next()
            .unwrap()
            .unwrap();
        let t: burn::tensor::Tensor<1, Int> = batch.targets;
        let v = t.into_data_as::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(v, vec![7, 2, 1, 0, 4, 1, 4, 9, 5, 9], "{kind}");
    }
}

#[test]
fn dataset_get_past_the_end_is_an_error() {
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    let err = test.get(1000).unwrap_err();
    assert!(
        err.to_string()
            .contains("index 1000 is out of range for a data set of 1000 items")
    );
}

// ---- where the data comes from ----

fn copy_slice_to(dir: &Path) {
    for f in MNIST_FILES {
        let src = find_file(&common::slice_dir(), f.stem).unwrap();
        std::fs::copy(src, dir.join(format!("{}.gz", f.stem))).unwrap();
    }
}

/// The four files of the slice with their own checksums, as a mirror would serve them.
fn slice_files() -> Vec<MnistFile> {
    MNIST_FILES
        .iter()
        .map(|f| MnistFile {
            stem: f.stem,
            md5: content_md5(&find_file(&common::slice_dir(), f.stem).unwrap())
                .unwrap()
                .into(),
        })
        .collect()
}

#[test]
fn explicit_dir_then_env_then_cache() {
    let explicit = tempfile::tempdir().unwrap();
    let env = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    copy_slice_to(explicit.path());
    copy_slice_to(env.path());
    copy_slice_to(cache.path());
    let locator = |explicit_dir: Option<&Path>| DataLocator {
        explicit: explicit_dir.map(Path::to_path_buf),
        cache_dir: cache.path().to_path_buf(),
        mirrors: vec![],
        ..DataLocator::default()
    };
    let env_var = Some(env.path().as_os_str().to_owned());
    assert_eq!(
        locator(Some(explicit.path()))
            .locate_with_env(env_var.clone())
            .unwrap(),
        explicit.path()
    );
    assert_eq!(locator(None).locate_with_env(env_var).unwrap(), env.path());
    assert_eq!(locator(None).locate_with_env(None).unwrap(), cache.path());

    // An explicit directory without the files is an error, never a silent fall-through.
    let empty = tempfile::tempdir().unwrap();
    let err = locator(Some(empty.path()))
        .locate_with_env(None)
        .unwrap_err();
    assert!(matches!(err, SourceError::MissingFile { .. }));
    assert!(err.to_string().contains("--data-dir"), "{err}");
}

/// What the test server answers for one request.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    NotFound,
    /// Promise the whole body, send half, close.
    CutShort(Vec<u8>),
    /// Read the request, then say nothing for 30 seconds.
    Silent,
}

/// A tiny HTTP/1.1 server on 127.0.0.1. `script` maps a path to the replies for its 1st, 2nd, ...
/// request (the last one repeats). Serves at most `max_requests`, then stops by itself.
fn serve(script: HashMap<String, Vec<Reply>>, max_requests: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mnist/", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let n = seen.entry(path.clone()).or_default();
            let reply = script
                .get(&path)
                .map(|replies| replies[(*n).min(replies.len() - 1)].clone())
                .unwrap_or(Reply::NotFound);
            *n += 1;
            let _ = match reply {
                Reply::Ok(body) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|_| stream.write_all(&body)),
                Reply::NotFound => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
                Reply::CutShort(body) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|_| stream.write_all(&body[..body.len() / 2])),
                Reply::Silent => {
                    std::thread::sleep(Duration::from_secs(30));
                    Ok(())
                }
            };
        }
    });
    (url, hits)
}

fn slice_bytes(stem: &str) -> Vec<u8> {
    std::fs::read(find_file(&common::slice_dir(), stem).unwrap()).unwrap()
}

fn all_ok() -> HashMap<String, Vec<Reply>> {
    MNIST_FILES
        .iter()
        .map(|f| {
            (
                format!("/mnist/{}.gz", f.stem),
                vec![Reply::Ok(slice_bytes(f.stem))],
            )
        })
        .collect()
}

fn downloader(cache: &Path, mirrors: Vec<String>) -> DataLocator {
    DataLocator {
        explicit: None,
        cache_dir: cache.to_path_buf(),
        mirrors,
        timeout: Duration::from_secs(10),
        files: slice_files(),
    }
}

fn cache_entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

#[test]
fn download_verifies_and_a_second_run_needs_no_network() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("mnist");
    let (url, hits) = serve(all_ok(), 4);
    let dir = downloader(&cache_dir, vec![url.clone()])
        .locate_with_env(None)
        .unwrap();
    assert_eq!(dir, cache_dir);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    let mut names = cache_entries(&cache_dir);
    names.sort();
    assert_eq!(
        names.len(),
        4,
        "only the four verified files, no temporaries: {names:?}"
    );
    assert_eq!(MnistDataset::test(&dir).unwrap().labels().len(), 1000);
    // The server has stopped; the cache is reused without network.
    downloader(&cache_dir, vec![url])
        .locate_with_env(None)
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[test]
fn not_found_everywhere_says_which_variable_to_set() {
    let cache = tempfile::tempdir().unwrap();
    let (url, _) = serve(HashMap::new(), 8);
    let err = downloader(cache.path(), vec![url])
        .locate_with_env(None)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::DownloadFailed { .. }));
    assert!(
        msg.contains("404") && msg.contains("MNIST_DIR") && msg.contains("--data-dir"),
        "{msg}"
    );
    assert!(cache_entries(cache.path()).is_empty());
}

/// Offline (a mirror that answers 404, one where nothing listens): one short message, one line
/// per mirror with its cause, the missing files, and the fix. It was ~2,500 characters, each
/// mirror's failure nesting the whole message again.
#[test]
fn offline_the_error_is_one_short_message() {
    let cache = tempfile::tempdir().unwrap();
    let (answers_404, _) = serve(HashMap::new(), 8);
    let nothing_listens = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mnist/", listener.local_addr().unwrap())
    };
    let err = downloader(
        &cache.path().join("mnist"),
        vec![answers_404.clone(), nothing_listens.clone()],
    )
    .locate_with_env(None)
    .unwrap_err();
    let msg = err.to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 5, "{msg}");
    assert_eq!(
        lines[0],
        "MNIST is not on this machine and the download failed."
    );
    assert_eq!(
        lines[1],
        "  missing: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
         t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
    );
    let tried = |line: &str, base: &str| {
        line.starts_with(&format!(
            "  tried {}/train-images-idx3-ubyte.gz: ",
            base.trim_end_matches('/')
        )) && line.ends_with("(2 tries)")
    };
    assert!(
        tried(lines[2], &answers_404) && lines[2].contains("404"),
        "{msg}"
    );
    assert!(tried(lines[3], &nothing_listens), "{msg}");
    assert!(
        lines[4].starts_with("  fix: pass --data-dir or set MNIST_DIR to a directory"),
        "{msg}"
    );
    assert!(msg.len() < 800, "{} characters: {msg}", msg.len());
    assert!(
        cache_entries(cache.path())
            .iter()
            .all(|n| !n.starts_with(".tmp"))
    );
}

#[test]
fn wrong_checksum_is_discarded() {
    let cache = tempfile::tempdir().unwrap();
    let mut script = all_ok();
    // Serve the test labels where the train labels should be: valid gzip, wrong content.
    script.insert(
        "/mnist/train-labels-idx1-ubyte.gz".into(),
        vec![Reply::Ok(slice_bytes("t10k-labels-idx1-ubyte"))],
    );
    let (url, _) = serve(script, 16);
    let err = downloader(cache.path(), vec![url])
        .locate_with_env(None)
        .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let names = cache_entries(cache.path());
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("train-labels") || n.starts_with(".tmp")),
        "{names:?}"
    );
}

#[test]
fn a_cut_connection_is_retried_and_a_dead_mirror_skipped() {
    let cache = tempfile::tempdir().unwrap();
    let mut script = all_ok();
    let stem = "train-images-idx3-ubyte";
    script.insert(
        format!("/mnist/{stem}.gz"),
        vec![
            Reply::CutShort(slice_bytes(stem)),
            Reply::Ok(slice_bytes(stem)),
        ],
    );
    let (good, hits) = serve(script, 16);
    let (dead, _) = serve(HashMap::new(), 16);
    let dir = downloader(cache.path(), vec![dead, good])
        .locate_with_env(None)
        .unwrap();
    assert_eq!(MnistDataset::train(&dir).unwrap().labels().len(), 2000);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        5,
        "four files, one of them twice"
    );
}

#[test]
fn a_silent_server_times_out_and_leaves_nothing_in_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let script = MNIST_FILES
        .iter()
        .map(|f| (format!("/mnist/{}.gz", f.stem), vec![Reply::Silent]))
        .collect();
    let (url, _) = serve(script, 1);
    let mut locator = downloader(cache.path(), vec![url]);
    locator.timeout = Duration::from_secs(1);
    let err = locator.locate_with_env(None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::DownloadFailed { .. }));
    assert!(msg.contains("timeout"), "{msg}");
    assert!(cache_entries(cache.path()).is_empty());
}
