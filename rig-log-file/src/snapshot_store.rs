//! Snapshot files: written to a temporary file, synced, renamed, directory synced; the newest K
//! are kept.
//!
//! # Snapshot file format (version 1), named `snap-<version, 20 digits>.snap`
//! ```text
//! offset 0   8 bytes  magic "RIGSNAP\n"
//!        8   u32 LE   format version (1)
//!       12   u32 LE   reserved (0)
//!       16   u64 LE   snapshot version
//!       24   u64 LE   data length N
//!       32   N bytes  data (the engine's snapshot envelope)
//!     32+N   u32 LE   crc32c of bytes 0..32+N
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rig_core::seams::Fs;
use rig_core::{Error, Result, Snapshot};

use crate::errors::io_err;

const MAGIC: &[u8; 8] = b"RIGSNAP\n";
const FORMAT: u32 = 1;
const HEADER_LEN: usize = 32;

/// The file name of the snapshot at `version`.
pub(crate) fn file_name(version: u64) -> String {
    format!("snap-{version:020}.snap")
}

/// The version in a snapshot file name, if `name` is one.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snap-")?.strip_suffix(".snap")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes a snapshot file.
pub(crate) fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + snapshot.data.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&snapshot.version.to_le_bytes());
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a snapshot file read from `path`, which is named for `version`.
pub(crate) fn decode(buf: &[u8], version: u64, path: &Path) -> Result<Snapshot> {
    let at = |offset: usize| format!("{} offset {offset}", path.display());
    if buf.len() < HEADER_LEN + 4 {
        return Err(Error::corrupt(
            at(0),
            format!(
                "snapshot file is {} bytes, shorter than a header",
                buf.len()
            ),
        ));
    }
    if &buf[..8] != MAGIC {
        return Err(Error::corrupt(at(0), "not a rig snapshot (bad magic)"));
    }
    let body = &buf[..buf.len() - 4];
    let stored = u32::from_le_bytes(buf[buf.len() - 4..].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(Error::corrupt(
            at(body.len()),
            format!(
                "snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        ));
    }
    let format = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(Error::corrupt(
            at(8),
            format!("unknown snapshot format {format} (this build reads format {FORMAT})"),
        ));
    }
    let stored_version = u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(buf[24..32].try_into().expect("8 bytes"));
    if stored_version != version {
        return Err(Error::corrupt(
            at(16),
            format!("file holds version {stored_version}, its name says {version}"),
        ));
    }
    if len != (body.len() - HEADER_LEN) as u64 || buf[12..16] != [0; 4] {
        return Err(Error::corrupt(
            at(24),
            format!("data length {len} does not match the file"),
        ));
    }
    Ok(Snapshot {
        version,
        data: Bytes::copy_from_slice(&body[HEADER_LEN..]),
    })
}

/// The snapshot files of one log directory.
#[derive(Debug)]
pub(crate) struct SnapshotStore {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    keep: usize,
    /// The newest snapshot version on disk.
    newest: Mutex<Option<u64>>,
}

impl SnapshotStore {
    /// The store over `dir`, whose entries are `names`.
    pub(crate) fn new(fs: Arc<dyn Fs>, dir: PathBuf, keep: usize, names: &[String]) -> Self {
        let newest = names.iter().filter_map(|n| parse_name(n)).max();
        Self {
            fs,
            dir,
            keep: keep.max(1),
            newest: Mutex::new(newest),
        }
    }

    /// The newest snapshot version on disk.
    pub(crate) fn newest(&self) -> Option<u64> {
        *self.newest.lock().expect("snapshot lock")
    }

    fn io(&self, what: &str, path: &Path, e: std::io::Error) -> Error {
        io_err(format!("{what} {}", path.display()), e)
    }

    /// Writes `snapshot` durably, then deletes all but the newest `keep` files. An older snapshot
    /// than the newest on disk is not written (the newer one already covers it).
    pub(crate) fn save(&self, snapshot: &Snapshot) -> Result<()> {
        if self.newest().is_some_and(|n| n > snapshot.version) {
            return Ok(());
        }
        let path = self.dir.join(file_name(snapshot.version));
        let tmp = self
            .dir
            .join(format!("{}.tmp", file_name(snapshot.version)));
        let bytes = encode(snapshot);
        let f = self
            .fs
            .open(&tmp, true)
            .map_err(|e| self.io("creating", &tmp, e))?;
        let written = f
            .set_len(0)
            .and_then(|()| f.write_at(&bytes, 0))
            .and_then(|()| f.sync_all())
            .map_err(|e| self.io("writing", &tmp, e));
        if let Err(e) = written {
            drop(f);
            // Best effort: leftovers are removed at the next open.
            let _ = self.fs.remove_file(&tmp);
            return Err(e);
        }
        self.fs
            .rename(&tmp, &path)
            .map_err(|e| self.io("renaming into place", &path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| self.io("syncing directory", &self.dir, e))?;
        {
            let mut newest = self.newest.lock().expect("snapshot lock");
            *newest = Some(newest.map_or(snapshot.version, |n| n.max(snapshot.version)));
        }
        self.prune()
    }

    fn prune(&self) -> Result<()> {
        let names = self
            .fs
            .list_dir(&self.dir)
            .map_err(|e| self.io("listing", &self.dir, e))?;
        let mut versions: Vec<u64> = names.iter().filter_map(|n| parse_name(n)).collect();
        versions.sort_unstable();
        if versions.len() <= self.keep {
            return Ok(());
        }
        for v in &versions[..versions.len() - self.keep] {
            let path = self.dir.join(file_name(*v));
            self.fs
                .remove_file(&path)
                .map_err(|e| self.io("removing", &path, e))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| self.io("syncing directory", &self.dir, e))
    }

    /// Loads the newest snapshot. A damaged newest file is [`Error::Corrupt`]: an older one may
    /// not be replayable (the log may be compacted past it), so it is not silently used instead.
    pub(crate) fn load(&self) -> Result<Option<Snapshot>> {
        let Some(version) = self.newest() else {
            return Ok(None);
        };
        let path = self.dir.join(file_name(version));
        let f = self
            .fs
            .open(&path, false)
            .map_err(|e| self.io("opening", &path, e))?;
        let len = f
            .len()
            .map_err(|e| self.io("reading the length of", &path, e))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, 0)
            .map_err(|e| self.io("reading", &path, e))?;
        decode(&buf, version, &path).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_every_bit_flip_is_caught() {
        let s = Snapshot {
            version: 9,
            data: Bytes::from_static(b"state"),
        };
        let bytes = encode(&s);
        let p = Path::new("snap");
        assert_eq!(decode(&bytes, 9, p).unwrap(), s);
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                matches!(decode(&bad, 9, p), Err(Error::Corrupt { .. })),
                "bit {i}"
            );
        }
        assert!(decode(&bytes[..bytes.len() - 1], 9, p).is_err());
        assert!(decode(&bytes, 8, p).is_err());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&file_name(5)), Some(5));
        assert_eq!(parse_name("snap-5.snap"), None);
        assert_eq!(parse_name(&format!("{}.tmp", file_name(5))), None);
    }
}
