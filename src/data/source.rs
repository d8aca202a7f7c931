//! Where the MNIST files come from: an explicit directory, `MNIST_DIR`, the cache, or a download.
//!
//! The download is checked against the MD5 of the decompressed files published with MNIST
//! (the same sums as `../shared/data/mnist/README.md`), written to a temporary file and renamed
//! into the cache only once verified: the cache never holds a partial or unverified file.

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::idx::IdxError;

/// Environment variable naming a directory with the four MNIST files.
pub const MNIST_DIR_ENV: &str = "MNIST_DIR";
/// Environment variable overriding the cache directory (default `~/.cache/mnist-lab`).
pub const CACHE_DIR_ENV: &str = "MNIST_LAB_CACHE";

/// Public mirrors of the four files, tried in order.
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// One of the four files of the MNIST distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistFile {
    /// Name without extension, e.g. `train-images-idx3-ubyte`.
    pub stem: &'static str,
    /// MD5 of the decompressed file, lower-case hex.
    pub md5: Cow<'static, str>,
}

const fn mnist_file(stem: &'static str, md5: &'static str) -> MnistFile {
    MnistFile {
        stem,
        md5: Cow::Borrowed(md5),
    }
}

/// The four files: train images, train labels, test images, test labels.
pub const MNIST_FILES: [MnistFile; 4] = [
    mnist_file(
        "train-images-idx3-ubyte",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    mnist_file(
        "train-labels-idx1-ubyte",
        "a25bea736e30d166cdddb491f175f624",
    ),
    mnist_file("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
    mnist_file("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
];

/// Errors of locating or downloading the data.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A directory was named but lacks a file.
    #[error(
        "{dir}: no `{stem}` (or `{stem}.gz`) here. Point --data-dir or {MNIST_DIR_ENV} at a \
         directory with the four MNIST files"
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file stem missing.
        stem: String,
    },
    /// No local copy, and the download failed from every mirror.
    #[error(
        "MNIST is not on this machine and the download failed.\n  missing: {}\n{}\n  fix: \
         pass --data-dir or set {MNIST_DIR_ENV} to a directory holding these files (raw or \
         .gz), or put them in the cache {}",
        .missing.join(", "),
        mirror_lines(.mirrors),
        .cache_dir.display()
    )]
    DownloadFailed {
        /// The files the cache lacks, in the order they were to be fetched.
        missing: Vec<String>,
        /// What each mirror said for the first file that none of them served.
        mirrors: Vec<MirrorFailure>,
        /// Where the download would have put them.
        cache_dir: PathBuf,
    },
    /// No local copy, and this build cannot download (mnist-lab's `download` feature is off).
    #[error(
        "MNIST is not on this machine, and this build of mnist-lab cannot download it (its \
         `download` feature is off).\n  missing: {}\n  fix: pass --data-dir or set \
         {MNIST_DIR_ENV} to a directory holding these files (raw or .gz), put them in the cache \
         {}, or build with `--features download`",
        .missing.join(", "),
        .cache_dir.display()
    )]
    NoDownload {
        /// The files the cache lacks.
        missing: Vec<String>,
        /// Where a download would have put them.
        cache_dir: PathBuf,
    },
    /// Writing into the cache failed.
    #[error(
        "{path}: cannot write to the cache: {source}. Set {CACHE_DIR_ENV} to a writable directory"
    )]
    Cache {
        /// The path written.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file could not be read.
    #[error(transparent)]
    Idx(#[from] IdxError),
}

/// One mirror's answer for a file it did not serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorFailure {
    /// The file's address on the mirror.
    pub url: String,
    /// The last try's cause (a timeout, a 404, a cut connection, ...), one line.
    pub cause: String,
    /// How many times it was tried.
    pub tries: usize,
}

/// One line per mirror, `  tried URL: cause (N tries)`, or that none is configured.
fn mirror_lines(mirrors: &[MirrorFailure]) -> String {
    if mirrors.is_empty() {
        return "  tried: no mirror (the download is switched off)".into();
    }
    mirrors
        .iter()
        .map(|m| {
            let tries = if m.tries == 1 { "try" } else { "tries" };
            format!("  tried {}: {} ({} {tries})", m.url, m.cause, m.tries)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Finds `stem` in `dir`, as `stem`, `stem.gz`, or the `train-images.idx3-ubyte` spelling.
pub fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ]
    .into_iter()
    .map(|name| dir.join(name))
    .find(|p| p.is_file())
}

/// Whether `dir` holds all four MNIST files.
pub fn has_all_files(dir: &Path) -> bool {
    MNIST_FILES.iter().all(|f| find_file(dir, f.stem).is_some())
}

/// The cache directory: `$MNIST_LAB_CACHE`, else `$XDG_CACHE_HOME/mnist-lab`, else
/// `~/.cache/mnist-lab`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mnist-lab")
}

/// How to find the data, in order: explicit directory, `MNIST_DIR`, cache, download.
#[derive(Clone, Debug)]
pub struct DataLocator {
    /// `--data-dir`: used as is, never falls through to the others.
    pub explicit: Option<PathBuf>,
    /// Cache directory for MNIST (`<cache_root>/mnist`).
    pub cache_dir: PathBuf,
    /// Mirrors to download from when nothing local is found; empty disables the download.
    pub mirrors: Vec<String>,
    /// Per-request timeout of the download.
    pub timeout: Duration,
    /// The files to download and their checksums ([`MNIST_FILES`]).
    pub files: Vec<MnistFile>,
}

impl Default for DataLocator {
    fn default() -> Self {
        Self {
            explicit: None,
            cache_dir: cache_root().join("mnist"),
            mirrors: DEFAULT_MIRRORS.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(60),
            files: MNIST_FILES.to_vec(),
        }
    }
}

impl DataLocator {
    /// A locator that uses `dir` when given, else the defaults.
    pub fn new(explicit: Option<PathBuf>) -> Self {
        Self {
            explicit,
            ..Self::default()
        }
    }

    /// Returns the directory holding the four files, downloading them into the cache if needed.
    pub fn locate(&self) -> Result<PathBuf, SourceError> {
        self.locate_with_env(std::env::var_os(MNIST_DIR_ENV))
    }

    /// [`locate`](Self::locate) with the value of `MNIST_DIR` passed in (for tests).
    pub fn locate_with_env(&self, mnist_dir: Option<OsString>) -> Result<PathBuf, SourceError> {
        if let Some(dir) = &self.explicit {
            return check_dir(dir).map(|()| dir.clone());
        }
        if let Some(dir) = mnist_dir.filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return check_dir(&dir).map(|()| dir);
        }
        if has_all_files(&self.cache_dir) {
            return Ok(self.cache_dir.clone());
        }
        self.download()?;
        Ok(self.cache_dir.clone())
    }

    /// Downloads the files into the cache from the first mirror that serves each, verifying
    /// checksums. Files already in the cache are reused without network. Each file is tried
    /// twice per mirror, so one dropped connection does not fail the run.
    pub fn download(&self) -> Result<(), SourceError> {
        download_all(&self.files, &self.mirrors, &self.cache_dir, self.timeout)
    }
}

fn check_dir(dir: &Path) -> Result<(), SourceError> {
    match MNIST_FILES
        .iter()
        .find(|f| find_file(dir, f.stem).is_none())
    {
        Some(f) => Err(SourceError::MissingFile {
            dir: dir.to_path_buf(),
            stem: f.stem.to_string(),
        }),
        None => Ok(()),
    }
}

fn download_all(
    files: &[MnistFile],
    mirrors: &[String],
    dest: &Path,
    timeout: Duration,
) -> Result<(), SourceError> {
    let missing: Vec<String> = files
        .iter()
        .filter(|f| find_file(dest, f.stem).is_none())
        .map(|f| format!("{}.gz", f.stem))
        .collect();
    let failed = |mirrors| SourceError::DownloadFailed {
        missing: missing.clone(),
        mirrors,
        cache_dir: dest.to_path_buf(),
    };
    if mirrors.is_empty() {
        return Err(failed(vec![]));
    }
    #[cfg(not(feature = "download"))]
    {
        let _ = (failed, timeout);
        Err(SourceError::NoDownload {
            missing,
            cache_dir: dest.to_path_buf(),
        })
    }
    #[cfg(feature = "download")]
    download_with_ureq(files, mirrors, dest, timeout, failed)
}

/// The download itself: each missing file from the first mirror that serves it.
#[cfg(feature = "download")]
fn download_with_ureq(
    files: &[MnistFile],
    mirrors: &[String],
    dest: &Path,
    timeout: Duration,
    failed: impl Fn(Vec<MirrorFailure>) -> SourceError,
) -> Result<(), SourceError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    for file in files {
        if find_file(dest, file.stem).is_some() {
            continue;
        }
        let mut failures = Vec::new();
        let mut done = false;
        'mirrors: for mirror in mirrors {
            let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.stem);
            let mut failure = MirrorFailure {
                url: url.clone(),
                cause: String::new(),
                tries: 0,
            };
            for _attempt in 0..2 {
                failure.tries += 1;
                match download_one(&agent, &url, file, dest) {
                    Ok(()) => {
                        done = true;
                        break 'mirrors;
                    }
                    Err(Fetch::Fatal(e)) => return Err(e),
                    Err(Fetch::Failed(cause)) => failure.cause = cause,
                }
            }
            failures.push(failure);
        }
        if !done {
            return Err(failed(failures));
        }
    }
    Ok(())
}

/// Why one try of one file failed.
#[cfg(feature = "download")]
enum Fetch {
    /// This mirror did not serve it (one line: the cause); the next try or mirror may.
    Failed(String),
    /// Nothing else will help: the cache cannot be written (full, or not writable).
    Fatal(SourceError),
}

/// Fetches one file, checks the MD5 of its decompressed bytes, and renames it into `dest`.
#[cfg(feature = "download")]
fn download_one(
    agent: &ureq::Agent,
    url: &str,
    file: &MnistFile,
    dest: &Path,
) -> Result<(), Fetch> {
    let failed = |reason: String| Fetch::Failed(reason.replace('\n', " "));
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let mut body = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .reader()
        .read_to_end(&mut body)
        .map_err(|e| failed(format!("reading the body: {e}")))?;
    let mut decompressed = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decompressed)
        .map_err(|e| {
            failed(format!(
                "not a complete gzip file ({} bytes): {e}",
                body.len()
            ))
        })?;
    let found = format!("{:x}", Md5::digest(&decompressed));
    if found != file.md5 {
        // Another mirror (or try) may serve the right file.
        return Err(failed(format!(
            "checksum mismatch (md5 {found}, expected {}); the file was discarded",
            file.md5
        )));
    }
    let path = dest.join(format!("{}.gz", file.stem));
    crate::fsutil::write_atomic(&path, &body)
        .map_err(|source| Fetch::Fatal(SourceError::Cache { path, source }))
}

/// MD5 of the decompressed content of an IDX file (raw or gzipped), lower-case hex.
pub fn content_md5(path: &Path) -> Result<String, IdxError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => IdxError::Missing {
            path: path.to_path_buf(),
        },
        _ => IdxError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|source| IdxError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        out
    } else {
        bytes
    };
    Ok(format!("{:x}", Md5::digest(&bytes)))
}
