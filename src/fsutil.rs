//! Small file-system helpers shared by everything that writes results: atomic writes, and the
//! lock that keeps two runs out of one output directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it into
/// place: readers see the old file or the new one, never half of one. Creates parent directories.
/// If a write fails (a full disk, say), the temporary file is removed and the old file, if any,
/// is untouched. The new file gets the mode a plain write gives it (`0o666` less the umask), not
/// the temporary file's private `0o600`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_via(path, bytes, |file, bytes| file.write_all(bytes))
}

/// [`write_atomic`] for a file the user named (an export): its directory must exist already, so
/// that a typo in it is not silently created. The error is the message to show.
pub(crate) fn write_export(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(format!("no directory {}", dir.display()));
    }
    write_atomic(path, bytes).map_err(|e| e.to_string())
}

/// [`write_atomic`], writing the bytes into the temporary file with `write`: the seam the tests
/// use to fail a write after some bytes, as a full disk does.
fn write_atomic_via(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with open(2)'s mode 0o666, which the umask narrows: a plain write's mode.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    write(tmp.as_file_mut(), bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What to do about an I/O error of a kind a user can fix, reading or writing, to follow the
/// OS's own words in a message (empty for other kinds).
pub(crate) fn io_hint(error: &io::Error) -> &'static str {
    use io::ErrorKind;
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            ". The disk is full: free some space, or pass --out on another disk (the files \
             already written, the last complete checkpoint included, are intact)"
        }
        ErrorKind::ReadOnlyFilesystem => {
            ". The disk is read-only: pass --out with a directory you can write"
        }
        ErrorKind::PermissionDenied => {
            ". Check the file's permissions, or pass --out with a directory you can write"
        }
        ErrorKind::NotADirectory => {
            ". A file is in the way: pass --out with a directory you can write"
        }
        _ => "",
    }
}

/// The name of the lock file [`DirLock`] keeps in a directory.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a directory, held while the value lives (and released by the OS when
/// the process ends, however it ends: a killed run leaves no stale lock). The file
/// [`LOCK_FILE`] stays in the directory and names the holder's process.
///
/// ```
/// use mnist_lab::{DirLock, LockError};
/// let dir = tempfile::tempdir()?;
/// let held = DirLock::acquire(dir.path())?;
/// let second = DirLock::acquire(dir.path());
/// assert!(matches!(second, Err(LockError::Busy { .. })));
/// drop(held);
/// DirLock::acquire(dir.path())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Why [`DirLock::acquire`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or another run in this one) holds the lock.
    #[error(
        "{dir} is in use by another run ({holder}): two runs in one directory would overwrite \
         each other's checkpoints. Wait for it to finish, or pass another --out"
    )]
    Busy {
        /// The directory.
        dir: PathBuf,
        /// Who holds it, as its lock file says (`process 1234: <command line>`).
        holder: String,
    },
    /// The directory could not be created (whatever the cause, the fix is another `--out`).
    #[error(
        "{dir}: cannot create the output directory ({source}): pass --out with a directory you \
         can write"
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The lock file could not be created or locked.
    #[error("{path}: cannot take the run lock: {source}{}", io_hint(source))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl DirLock {
    /// Locks `dir` (created if missing) for this process, or says who holds it. Where the file
    /// system cannot lock files at all, a warning is printed and the run goes on unlocked.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|source| LockError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "a process that has not written its name yet".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                eprintln!(
                    "warning: {}: this file system cannot lock files; make sure no other run \
                     writes into {}",
                    path.display(),
                    dir.display()
                );
                return Ok(Self { _file: file });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let command: Vec<String> = std::env::args().collect();
        let holder = format!("process {}: {}", std::process::id(), command.join(" "));
        file.set_len(0).map_err(io)?;
        file.write_all(holder.as_bytes()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that runs out of disk leaves the old file as it was and no temporary file.
    #[test]
    fn a_full_disk_leaves_the_old_file_and_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state-1.json");
        write_atomic(&path, b"the good checkpoint").unwrap();
        // 4 KiB go to disk, then the disk is full.
        let full_after_4k = |file: &mut File, bytes: &[u8]| {
            file.write_all(&bytes[..4096])?;
            Err(io::Error::from(io::ErrorKind::StorageFull))
        };
        let err = write_atomic_via(&path, &[7u8; 10_000], full_after_4k).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read(&path).unwrap(), b"the good checkpoint");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state-1.json"], "no temporary file left");
    }

    /// The mode a plain `std::fs::write` gives, whatever the umask (it was 0o600).
    #[cfg(unix)]
    #[test]
    fn written_files_get_a_plain_writes_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ours, plain) = (dir.path().join("ours"), dir.path().join("plain"));
        write_atomic(&ours, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
        // Replacing a file gives the new one the same mode too.
        write_atomic(&ours, b"y").unwrap();
        assert_eq!(mode(&ours), mode(&plain));
    }
}
