//! [`S3LogOptions`]: the prefix, group commit limits and retry settings.

use std::time::Duration;

/// How an [`S3Log`](crate::S3Log) lays out and batches its objects.
///
/// ```
/// use std::time::Duration;
/// let opts = rig_log_s3::S3LogOptions {
///     prefix: "prod/users".into(),
///     max_batch_delay: Duration::from_millis(2),
///     ..Default::default()
/// };
/// assert_eq!(opts.max_in_flight, 8);
/// ```
#[derive(Debug, Clone)]
pub struct S3LogOptions {
    /// Where the log lives in the store: `<prefix>/LATEST`, `<prefix>/LOG/...`. May be empty.
    pub prefix: String,
    /// Seal the open batch once it holds this many operations.
    pub max_batch_ops: usize,
    /// Seal the open batch once its encoded operations reach this many bytes.
    pub max_batch_bytes: usize,
    /// Seal the open batch at the latest this long after its first operation arrived, while
    /// other PUTs are in flight. With nothing in flight a batch is sealed at once.
    pub max_batch_delay: Duration,
    /// How many batch PUTs may be in flight at once. Acknowledgments stay in version order.
    pub max_in_flight: usize,
    /// Attempts per PUT whose outcome is an error (after each, the object is read back first).
    /// When they are used up, the batch and every later one fail with `OutcomeUnknown`.
    pub put_attempts: u32,
    /// The first retry backoff, doubled per failed attempt.
    pub retry_backoff: Duration,
    /// Seed for put ids; `None` seeds from the process (production). Tests pass a seed.
    pub seed: Option<u64>,
    /// How often a follower ([`S3Log::open_follower`](crate::S3Log::open_follower)) lists `LOG/`
    /// for new batches.
    pub follower_poll_interval: Duration,
}

impl Default for S3LogOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            max_batch_ops: 1024,
            max_batch_bytes: 4 << 20,
            max_batch_delay: Duration::from_millis(2),
            max_in_flight: 8,
            put_attempts: 4,
            retry_backoff: Duration::from_millis(50),
            seed: None,
            follower_poll_interval: Duration::from_millis(100),
        }
    }
}
