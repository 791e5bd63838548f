//! Object names under the log's prefix: `LATEST`, `WRITER`, `LOG/<16 hex>`, `SNAPSHOT/<16 hex>`.

use object_store::path::Path;

/// Where each object of one log lives.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    prefix: String,
}

impl Layout {
    /// A layout under `prefix` (may be empty; surrounding slashes are ignored).
    pub(crate) fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Self { prefix }
    }

    fn path(&self, rest: &str) -> Path {
        Path::from(format!("{}{rest}", self.prefix))
    }

    /// The object holding the version of the newest snapshot.
    pub(crate) fn latest(&self) -> Path {
        self.path("LATEST")
    }

    /// The object holding the current writer epoch.
    pub(crate) fn writer(&self) -> Path {
        self.path("WRITER")
    }

    /// The folder of log batches.
    pub(crate) fn log_dir(&self) -> Path {
        self.path("LOG")
    }

    /// The folder of snapshots.
    pub(crate) fn snapshot_dir(&self) -> Path {
        self.path("SNAPSHOT")
    }

    /// The batch whose first version is `first`.
    pub(crate) fn log(&self, first: u64) -> Path {
        self.path(&format!("LOG/{first:016x}"))
    }

    /// The snapshot at `version`.
    pub(crate) fn snapshot(&self, version: u64) -> Path {
        self.path(&format!("SNAPSHOT/{version:016x}"))
    }
}

/// The version in a `LOG/<16 hex>` or `SNAPSHOT/<16 hex>` key, or `None` for a foreign name.
pub(crate) fn key_version(path: &Path) -> Option<u64> {
    let name = path.filename()?;
    if name.len() != 16 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(name, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_hex_digits_under_the_prefix() {
        let l = Layout::new("/app/rig/");
        assert_eq!(l.log(0x462).as_ref(), "app/rig/LOG/0000000000000462");
        assert_eq!(
            l.snapshot(0x48e).as_ref(),
            "app/rig/SNAPSHOT/000000000000048e"
        );
        assert_eq!(l.latest().as_ref(), "app/rig/LATEST");
        assert_eq!(Layout::new("").writer().as_ref(), "WRITER");
        assert_eq!(key_version(&l.log(0x462)), Some(0x462));
        assert_eq!(key_version(&Path::from("LOG/tmp")), None);
        assert_eq!(key_version(&Path::from("LOG/000000000000046g")), None);
    }
}
