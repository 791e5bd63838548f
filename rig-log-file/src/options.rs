//! [`FileLogOptions`]: how a [`crate::FileLog`] lays out its files.

/// Settings of a [`crate::FileLog`].
///
/// ```
/// let opts = rig_log_file::FileLogOptions { segment_size: 1 << 20, ..Default::default() };
/// assert_eq!(opts.keep_snapshots, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLogOptions {
    /// Bytes per segment file, preallocated (zero-filled) before use. A record larger than a
    /// segment is refused. Default: 64 MiB.
    pub segment_size: u64,
    /// How many snapshot files to keep (the newest ones); at least 1. Default: 2.
    pub keep_snapshots: usize,
    /// How many compacted segment files to keep for reuse instead of deleting them. Default: 2.
    pub max_free_segments: usize,
}

impl Default for FileLogOptions {
    fn default() -> Self {
        Self {
            segment_size: 64 << 20,
            keep_snapshots: 2,
            max_free_segments: 2,
        }
    }
}

impl FileLogOptions {
    /// The smallest accepted segment size.
    pub const MIN_SEGMENT_SIZE: u64 = 4096;
}
