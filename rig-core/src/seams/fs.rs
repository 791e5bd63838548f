//! The [`Fs`] seam: files and directories with explicit sync.

use std::fmt::Debug;
use std::io;
use std::path::Path;

/// A file opened through [`Fs`]. Positioned I/O only, so one handle can serve a writer and
/// readers at once.
pub trait FsFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`. Not durable until [`sync_data`](FsFile::sync_data).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes written data durable (fdatasync). After an error the file's state is unknown: callers
    /// MUST treat it as fatal and never retry-then-acknowledge.
    fn sync_data(&self) -> io::Result<()>;
    /// Makes data and metadata (including the length) durable (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// The current length.
    fn len(&self) -> io::Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with a hole) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset`, failing with `UnexpectedEof` when short.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read")),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// An exclusive lock on a path; released when dropped (or when the process dies).
pub trait FsLock: Send + Sync + Debug {}

/// Files and directories. Every method is blocking: call it from a blocking-safe context
/// (`spawn_blocking`, a dedicated thread) in async code.
///
/// # Contract
/// A created, renamed or removed directory entry is durable only after
/// [`sync_dir`](Fs::sync_dir) of its parent returns; file contents only after
/// [`FsFile::sync_data`].
pub trait Fs: Send + Sync + Debug + 'static {
    /// Opens a file for reading and writing, creating it when `create` is true.
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FsFile>>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Lists the names (not paths) of a directory's entries, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Renames `from` to `to`, replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// True when the path exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Takes an exclusive lock on `path` (created if absent), failing with `WouldBlock` when
    /// another holder (another process) has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>>;
}

/// The production [`Fs`]: std files, real fsync, `flock`-style locks.
///
/// ```
/// use rig_core::seams::{Fs, StdFs};
/// let dir = std::env::temp_dir().join(format!("rig-doc-stdfs-{}", std::process::id()));
/// let fs = StdFs;
/// fs.create_dir_all(&dir).unwrap();
/// let f = fs.open(&dir.join("a"), true).unwrap();
/// f.write_at(b"hello", 0).unwrap();
/// f.sync_data().unwrap();
/// let mut buf = [0u8; 5];
/// f.read_exact_at(&mut buf, 0).unwrap();
/// assert_eq!(&buf, b"hello");
/// fs.sync_dir(&dir).unwrap();
/// # fs.remove_file(&dir.join("a")).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(std::fs::File);

#[derive(Debug)]
struct StdLock {
    _file: std::fs::File,
}

impl FsLock for StdLock {}

impl FsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

// The production seam is the one place allowed to touch std::fs (clippy.toml).
#[allow(clippy::disallowed_methods)]
impl Fs for StdFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FsFile>> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(StdFile(f)))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(StdLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
