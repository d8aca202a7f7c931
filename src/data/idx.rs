//! Reading and writing the IDX files MNIST ships in, raw or gzipped.
//!
//! Hand-written on purpose: burn's `MnistDataset` only downloads into its own cache and has no
//! constructor from a path, and no maintained crate reads IDX with checked headers. The format
//! is small: a 4-byte magic `[0, 0, type, rank]`, `rank` big-endian `u32` dimensions, then the
//! payload. Only unsigned bytes (type `0x08`) are used by MNIST and Fashion-MNIST.
//!
//! Every header is checked against the payload before anything large is allocated: a header
//! that claims 4 billion images fails with [`IdxError::Truncated`] after reading what is really
//! there, it never reserves memory for the claim.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// IDX magic number of an image file: unsigned bytes, rank 3 (`count x rows x cols`).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic number of a label file: unsigned bytes, rank 1 (`count`).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The largest payload accepted, in bytes (4 GiB). MNIST's largest file is 47 MB.
pub const MAX_PAYLOAD_BYTES: u64 = 4 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What can go wrong reading an IDX file. Each variant names the file and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file is not there.
    #[error(
        "{path}: file not found. Point --data-dir or the MNIST_DIR environment variable at a \
         directory holding the four MNIST files"
    )]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file exists but could not be read (permissions, a directory, a broken gzip stream).
    #[error("{path}: cannot read: {source}. Check the file, or download it again")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// What the OS or the gzip decoder said.
        source: io::Error,
    },
    /// The first four bytes are not an IDX magic number of the expected kind.
    #[error(
        "{path}: not an IDX {expected_kind} file (magic 0x{found:08x}, expected 0x{expected:08x}){hint}"
    )]
    BadMagic {
        /// The file being read.
        path: PathBuf,
        /// The magic found.
        found: u32,
        /// The magic wanted.
        expected: u32,
        /// `images` or `labels`.
        expected_kind: &'static str,
        /// A hint when the file is the other kind of IDX file.
        hint: &'static str,
    },
    /// The header ends before all its dimensions.
    #[error(
        "{path}: truncated: the file ends after {found} bytes, inside its {expected}-byte header. \
         Download the file again"
    )]
    TruncatedHeader {
        /// The file being read.
        path: PathBuf,
        /// Bytes the header needs.
        expected: u64,
        /// Bytes there were.
        found: u64,
    },
    /// Images of a size other than the one asked for.
    #[error("{path}: images are {rows}x{cols}, expected {expected_rows}x{expected_cols}")]
    WrongDims {
        /// The file being read.
        path: PathBuf,
        /// Rows in the file.
        rows: u32,
        /// Columns in the file.
        cols: u32,
        /// Rows wanted.
        expected_rows: u32,
        /// Columns wanted.
        expected_cols: u32,
    },
    /// The header claims more data than is allowed at all.
    #[error(
        "{path}: the header claims {claimed} payload bytes, more than the {limit}-byte limit; \
         the file is corrupt or not an MNIST-style IDX file"
    )]
    Oversized {
        /// The file being read.
        path: PathBuf,
        /// Payload size the header implies.
        claimed: u128,
        /// [`MAX_PAYLOAD_BYTES`].
        limit: u64,
    },
    /// The payload is shorter than the header says.
    #[error(
        "{path}: truncated: the header promises {expected} payload bytes but only {found} follow. \
         Download the file again"
    )]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Payload bytes promised.
        expected: u64,
        /// Payload bytes found.
        found: u64,
    },
    /// Bytes follow the payload.
    #[error(
        "{path}: {expected} payload bytes are followed by trailing data; the file is corrupt or \
         two files were concatenated. Download the file again"
    )]
    TrailingBytes {
        /// The file being read.
        path: PathBuf,
        /// Payload bytes promised (and read).
        expected: u64,
    },
    /// Images and labels do not pair up.
    #[error(
        "{images} holds {image_count} images but {labels} holds {label_count} labels; use the \
         label file that belongs to these images"
    )]
    CountMismatch {
        /// Image file.
        images: PathBuf,
        /// Images in it.
        image_count: usize,
        /// Label file.
        labels: PathBuf,
        /// Labels in it.
        label_count: usize,
    },
    /// A well-formed image file that holds no image: nothing to train or test on.
    #[error(
        "{path}: holds 0 images (its header's count is 0). Use the complete file (MNIST's hold \
         60,000 training and 10,000 test images), or point --data-dir or MNIST_DIR at a \
         directory with complete files"
    )]
    NoImages {
        /// The image file.
        path: PathBuf,
    },
    /// A label outside `0..classes`.
    #[error("{path}: label {label} at index {index} is not a class (expected 0..={max})")]
    LabelOutOfRange {
        /// Label file.
        path: PathBuf,
        /// Position of the bad label.
        index: usize,
        /// The label.
        label: u8,
        /// The largest valid label.
        max: u8,
    },
}

/// A stack of grayscale images as stored in an IDX file: `count * rows * cols` bytes, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// Pixels, 0 (black) to 255 (white), image after image.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `index`, or `None` past the end.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        self.pixels.get(index * size..(index + 1) * size)
    }
}

/// Reads an IDX image file (magic 2051), gzipped or not: the content decides, not the name.
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    read_images_from(path, open_file(path)?)
}

/// Reads an IDX label file (magic 2049), gzipped or not.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    read_labels_from(path, open_file(path)?)
}

/// Reads IDX images from the raw or gzipped bytes of any reader; `path` only names the source
/// in errors.
///
/// ```
/// use mnist_lab::data::idx::{IdxError, read_images_from};
/// let header_only = [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28];
/// let err = read_images_from("in-memory".as_ref(), &header_only[..]).unwrap_err();
/// assert!(matches!(err, IdxError::Truncated { expected: 784, found: 0, .. }));
/// ```
pub fn read_images_from(path: &Path, reader: impl Read) -> Result<IdxImages, IdxError> {
    let mut reader = unzip_if_gzipped(path, reader)?;
    let (dims, pixels) = read_idx_from(path, &mut reader, IMAGES_MAGIC)?;
    Ok(IdxImages {
        count: dims[0] as usize,
        rows: dims[1] as usize,
        cols: dims[2] as usize,
        pixels,
    })
}

/// Reads IDX labels from the raw or gzipped bytes of any reader; `path` only names the source
/// in errors.
pub fn read_labels_from(path: &Path, reader: impl Read) -> Result<Vec<u8>, IdxError> {
    let mut reader = unzip_if_gzipped(path, reader)?;
    read_idx_from(path, &mut reader, LABELS_MAGIC).map(|(_, labels)| labels)
}

/// Checks that every label is at most `max`.
pub fn check_labels(path: &Path, labels: &[u8], max: u8) -> Result<(), IdxError> {
    match labels.iter().position(|&l| l > max) {
        Some(index) => Err(IdxError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            max,
        }),
        None => Ok(()),
    }
}

/// Writes images as an IDX file, gzipped when `gzip` is true. Used to cut the test slice and by
/// tests; the write goes to a temporary file renamed into place, so a crash leaves no half file.
pub fn write_images(path: &Path, images: &IdxImages, gzip: bool) -> io::Result<()> {
    let dims = [images.count as u32, images.rows as u32, images.cols as u32];
    write_idx(path, IMAGES_MAGIC, &dims, &images.pixels, gzip)
}

/// Writes labels as an IDX file, gzipped when `gzip` is true, atomically.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> io::Result<()> {
    write_idx(path, LABELS_MAGIC, &[labels.len() as u32], labels, gzip)
}

/// Encodes an IDX file in memory (not gzipped).
pub fn encode_idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + payload.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn write_idx(path: &Path, magic: u32, dims: &[u32], payload: &[u8], gzip: bool) -> io::Result<()> {
    let bytes = encode_idx(magic, dims, payload);
    let bytes = if gzip {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&bytes)?;
        encoder.finish()?
    } else {
        bytes
    };
    crate::fsutil::write_atomic(path, &bytes)
}

fn kind_of(magic: u32) -> &'static str {
    if magic == IMAGES_MAGIC {
        "images"
    } else {
        "labels"
    }
}

/// Opens `path` for reading, telling a missing file apart from other errors.
fn open_file(path: &Path) -> Result<BufReader<File>, IdxError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => IdxError::Missing {
                path: path.to_path_buf(),
            },
            _ => IdxError::Io {
                path: path.to_path_buf(),
                source,
            },
        })
}

/// Sniffs gzip by the first two bytes and returns a reader of the IDX bytes.
fn unzip_if_gzipped<'a>(
    path: &Path,
    mut reader: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, IdxError> {
    let mut head = [0u8; 2];
    let n = read_up_to(&mut reader, &mut head).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = io::Cursor::new(head[..n].to_vec()).chain(reader);
    if n == 2 && head == GZIP_MAGIC {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_up_to(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Parses IDX bytes from any reader; `path` only names the source in errors.
pub fn read_idx_from(
    path: &Path,
    reader: &mut dyn Read,
    magic: u32,
) -> Result<(Vec<u32>, Vec<u8>), IdxError> {
    let io_err = |source: io::Error| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let rank = (magic & 0xff) as usize;
    let header_len = 4 + 4 * rank;
    let mut header = vec![0u8; header_len];
    let got = read_up_to(reader, &mut header[..4]).map_err(io_err)?;
    let found_magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if got < 4 {
        return Err(IdxError::TruncatedHeader {
            path: path.to_path_buf(),
            expected: header_len as u64,
            found: got as u64,
        });
    }
    if found_magic != magic {
        let other = if magic == IMAGES_MAGIC {
            LABELS_MAGIC
        } else {
            IMAGES_MAGIC
        };
        let hint = if found_magic == other {
            if magic == IMAGES_MAGIC {
                ": this is a label file; pass the matching *-images-idx3-ubyte file"
            } else {
                ": this is an image file; pass the matching *-labels-idx1-ubyte file"
            }
        } else {
            ""
        };
        return Err(IdxError::BadMagic {
            path: path.to_path_buf(),
            found: found_magic,
            expected: magic,
            expected_kind: kind_of(magic),
            hint,
        });
    }
    let got = read_up_to(reader, &mut header[4..]).map_err(io_err)?;
    if got < header_len - 4 {
        return Err(IdxError::TruncatedHeader {
            path: path.to_path_buf(),
            expected: header_len as u64,
            found: 4 + got as u64,
        });
    }
    let dims: Vec<u32> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let claimed: u128 = dims.iter().map(|&d| d as u128).product();
    if claimed > MAX_PAYLOAD_BYTES as u128 {
        return Err(IdxError::Oversized {
            path: path.to_path_buf(),
            claimed,
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let expected = claimed as u64;
    // Grows with the bytes actually present; the header's claim is never pre-allocated.
    let mut payload = Vec::new();
    reader
        .take(expected)
        .read_to_end(&mut payload)
        .map_err(io_err)?;
    if (payload.len() as u64) < expected {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            expected,
            found: payload.len() as u64,
        });
    }
    let mut extra = [0u8; 1];
    if read_up_to(reader, &mut extra).map_err(io_err)? > 0 {
        return Err(IdxError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok((dims, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], magic: u32) -> Result<(Vec<u32>, Vec<u8>), IdxError> {
        read_idx_from(Path::new("mem.idx"), &mut &bytes[..], magic)
    }

    #[test]
    fn parses_a_small_label_file() {
        let bytes = encode_idx(LABELS_MAGIC, &[3], &[7, 2, 1]);
        assert_eq!(
            parse(&bytes, LABELS_MAGIC).unwrap(),
            (vec![3], vec![7, 2, 1])
        );
    }

    #[test]
    fn a_huge_claim_is_rejected_without_allocating_it() {
        // 4 billion 28x28 images: 3 TB claimed, 10 bytes present.
        let bytes = encode_idx(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[0; 10]);
        assert!(matches!(
            parse(&bytes, IMAGES_MAGIC),
            Err(IdxError::Oversized { .. })
        ));
        let bytes = encode_idx(IMAGES_MAGIC, &[1_000_000, 28, 28], &[0; 10]);
        match parse(&bytes, IMAGES_MAGIC) {
            Err(IdxError::Truncated {
                expected, found, ..
            }) => {
                assert_eq!((expected, found), (784_000_000, 10))
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}
