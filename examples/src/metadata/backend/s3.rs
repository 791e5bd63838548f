//! `--backend s3`: the log and snapshots under `--prefix`, in a bucket or in a local directory.
//!
//! With `--bucket` (and `--s3-endpoint` for MinIO or moto) the log lives in that bucket; without
//! `--s3-endpoint` the bucket is on AWS S3 itself. With neither (on the command line or in
//! `RIG_S3_BUCKET` / `AWS_ENDPOINT_URL`), or with `--s3-dir`, it lives in a local directory
//! (`--s3-dir`, else `--data-dir`) in the same layout: rig-log-s3's local mode, where an
//! exclusive lock file fences a second writer (it fails at start naming the directory) and
//! every write is fsynced with its directory before it is acknowledged.
//!
//! `--role replica` opens a read replica of the same place instead of the writer (no lock, no
//! writer epoch, never writes): it tails the writer's batches and serves reads from its own
//! state, which may lag. Writes get 421 naming `--primary-http` (the writer's HTTP address)
//! when it is given, as a 2PC replica names its primary. `/status` shows role `follower`, mode
//! `replica`, the leader, and the lag as `version` (applied here) against `committed` (the
//! writer's durable chain as of the replica's last poll of the store).

use std::path::{Path, PathBuf};

use rig_core::{AppendFuture, Durability, Error, Log, LogPayload, Operation, Rig, Role, Snapshot};
use rig_log_s3::{S3Follower, S3Log, S3LogOptions, StoreConfig};

use super::{flags, BackendArgs, BackendError};
use crate::metadata::node::{BackendDetails, NodeControl};
use crate::metadata::MetadataService;

/// Where `--backend s3` keeps the log.
#[derive(Debug, Clone)]
pub enum S3Place {
    /// A bucket on AWS S3 or an S3-compatible endpoint.
    Bucket(StoreConfig),
    /// A local directory in the same layout, fenced by a lock file.
    LocalDir(PathBuf),
}

/// Picks the place the flags name: `--s3-dir`, else a bucket from `--bucket` / `--s3-endpoint`
/// or the environment, else `default_dir` (the `--data-dir`; `None`: a bucket or `--s3-dir` is
/// required).
///
/// ```
/// use std::path::Path;
/// use rig_examples::metadata::backend::{s3_place, BackendArgs, S3Place};
/// let args = BackendArgs { s3_dir: Some("/srv/log".into()), ..Default::default() };
/// assert!(matches!(s3_place(&args, None).unwrap(), S3Place::LocalDir(d) if d == Path::new("/srv/log")));
/// ```
pub fn s3_place(args: &BackendArgs, default_dir: Option<&Path>) -> Result<S3Place, BackendError> {
    if let Some(dir) = &args.s3_dir {
        if args.bucket.is_some() || args.s3_endpoint.is_some() {
            return Err(flags(
                "--s3-dir keeps the log in a local directory; drop --bucket and --s3-endpoint",
            ));
        }
        return Ok(S3Place::LocalDir(dir.clone()));
    }
    let cfg = bucket_config(args);
    match (&cfg.bucket, &cfg.endpoint, default_dir) {
        (None, None, Some(dir)) => Ok(S3Place::LocalDir(dir.to_path_buf())),
        (None, None, None) => Err(flags(
            "--backend s3 needs --bucket (on AWS S3), --bucket with --s3-endpoint (MinIO, moto), \
             or --s3-dir for a local directory",
        )),
        (None, Some(e), _) => Err(flags(format!("--s3-endpoint {e} needs --bucket"))),
        _ => Ok(S3Place::Bucket(cfg)),
    }
}

/// The store the flags name: `--bucket` and `--s3-endpoint` override `RIG_S3_BUCKET` and
/// `AWS_ENDPOINT_URL`; region and credentials come from the usual `AWS_*` variables.
///
/// ```
/// use rig_examples::metadata::backend::{store_config, BackendArgs};
/// let args = BackendArgs {
///     bucket: Some("b".into()),
///     s3_endpoint: Some("http://127.0.0.1:9000".into()),
///     ..Default::default()
/// };
/// let cfg = store_config(&args).unwrap();
/// assert!(cfg.allow_http);
/// ```
pub fn store_config(args: &BackendArgs) -> Result<StoreConfig, BackendError> {
    match s3_place(args, None)? {
        S3Place::Bucket(cfg) => Ok(cfg),
        S3Place::LocalDir(dir) => Err(flags(format!(
            "--s3-dir {} names a local directory, not a bucket",
            dir.display()
        ))),
    }
}

fn bucket_config(args: &BackendArgs) -> StoreConfig {
    let mut cfg = StoreConfig::from_env();
    if args.bucket.is_some() {
        cfg.bucket = args.bucket.clone();
    }
    if let Some(endpoint) = &args.s3_endpoint {
        cfg.endpoint = Some(endpoint.clone());
        cfg.allow_http |= endpoint.starts_with("http://");
    }
    cfg
}

/// The log options for `--prefix` (a key prefix, no leading slash; a trailing one is dropped).
pub fn s3_options(args: &BackendArgs) -> Result<S3LogOptions, BackendError> {
    if args.prefix.is_empty() || args.prefix.starts_with('/') {
        return Err(flags(format!(
            "--prefix {:?} must be a non-empty key prefix without a leading slash",
            args.prefix
        )));
    }
    Ok(S3LogOptions {
        prefix: args.prefix.trim_end_matches('/').to_owned(),
        ..Default::default()
    })
}

/// Opens the writer of the log under `--prefix` in a bucket or in `--s3-dir` (see
/// [`open_s3_in`] for the `--data-dir` default). Taking the writer epoch fences any older
/// instance on the same prefix: its next write fails and it stops.
pub async fn open_s3(args: &BackendArgs) -> Result<S3Log, BackendError> {
    open_place(s3_place(args, None)?, args).await
}

/// Like [`open_s3`], with `data_dir` as the local directory when no bucket, endpoint or
/// `--s3-dir` is given. In a local directory a second writer fails at once with an error naming
/// the directory (the lock file is held).
pub async fn open_s3_in(args: &BackendArgs, data_dir: &Path) -> Result<S3Log, BackendError> {
    open_place(s3_place(args, Some(data_dir))?, args).await
}

async fn open_place(place: S3Place, args: &BackendArgs) -> Result<S3Log, BackendError> {
    let options = s3_options(args)?;
    match place {
        S3Place::Bucket(cfg) => Ok(S3Log::open(cfg.build()?, options).await?),
        S3Place::LocalDir(dir) => {
            tracing::info!(dir = %dir.display(), prefix = %options.prefix, "s3 backend on a local directory");
            Ok(S3Log::open_local(&dir, options).await?)
        }
    }
}

/// Whether an s3 node writes or follows (`--role`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Role {
    /// The writer (no `--role`, or `--role primary`): takes the writer epoch, fences older ones.
    Writer,
    /// A read replica (`--role replica`).
    Replica {
        /// The writer's HTTP address, sent to clients with 421 (`--primary-http`).
        primary_http: Option<String>,
    },
}

/// The role `--role` names for `--backend s3`, with the writer's HTTP address of a replica
/// (`--primary-http`, which only a replica takes).
///
/// ```
/// use rig_examples::metadata::backend::{s3_role, BackendArgs, S3Role};
/// let args = BackendArgs { role: Some("replica".into()), ..Default::default() };
/// let role = s3_role(&args, Some("10.0.0.1:8080")).unwrap();
/// assert_eq!(role, S3Role::Replica { primary_http: Some("10.0.0.1:8080".into()) });
/// assert!(s3_role(&BackendArgs::default(), Some("10.0.0.1:8080")).is_err());
/// ```
pub fn s3_role(args: &BackendArgs, primary_http: Option<&str>) -> Result<S3Role, BackendError> {
    match (args.role.as_deref(), primary_http) {
        (None | Some("primary"), None) => Ok(S3Role::Writer),
        (None | Some("primary"), Some(_)) => Err(flags(
            "--primary-http names the writer to a replica; it needs --role replica",
        )),
        (Some("replica"), primary) => Ok(S3Role::Replica {
            primary_http: primary.map(str::to_owned),
        }),
        (Some(other), _) => Err(flags(format!(
            "--role {other:?}: expected primary (the writer, the default) or replica"
        ))),
    }
}

/// A read replica of an S3 log: rig-log-s3's follower, which names the writer's HTTP address
/// (when known) as the leader, so the engine and the API answer writes with 421 pointing there.
#[derive(Debug)]
pub struct S3Replica {
    follower: S3Follower,
    primary_http: Option<String>,
}

impl S3Replica {
    fn not_leader(&self) -> Error {
        Error::NotLeader {
            leader: self.primary_http.clone(),
        }
    }
}

#[rig_core::async_trait]
impl Log for S3Replica {
    fn name(&self) -> &'static str {
        self.follower.name()
    }

    fn strongest_durability(&self) -> Durability {
        self.follower.strongest_durability()
    }

    fn append(&self, _ops: Vec<Operation>, _durability: Durability) -> AppendFuture {
        let refused = self.not_leader();
        Box::pin(async move { Err(refused) })
    }

    async fn read(&self, from: u64, max: usize) -> rig_core::Result<Vec<LogPayload>> {
        self.follower.read(from, max).await
    }

    fn committed(&self) -> u64 {
        self.follower.committed()
    }

    fn durable(&self) -> u64 {
        self.follower.durable()
    }

    fn first_version(&self) -> u64 {
        self.follower.first_version()
    }

    async fn wait_committed(&self, after: u64) -> rig_core::Result<u64> {
        self.follower.wait_committed(after).await
    }

    /// The writer takes snapshots; a replica only loads them.
    async fn save_snapshot(&self, _snapshot: Snapshot) -> rig_core::Result<()> {
        Err(self.not_leader())
    }

    async fn load_snapshot(&self) -> rig_core::Result<Option<Snapshot>> {
        self.follower.load_snapshot().await
    }

    async fn compact(&self, through: u64) -> rig_core::Result<()> {
        self.follower.compact(through).await
    }

    fn role(&self) -> Role {
        Role::Follower {
            leader: self.primary_http.clone(),
        }
    }

    async fn read_barrier(&self) -> rig_core::Result<u64> {
        self.follower.read_barrier().await
    }

    async fn close(&self) -> rig_core::Result<()> {
        self.follower.close().await
    }
}

/// Opens a read replica of the log the flags name (a bucket, `--s3-dir`, else `data_dir`, as
/// [`open_s3_in`] picks) that sends writers to `primary_http`. It takes no lock and no epoch, so
/// it runs beside the writer, on the same machine for a local directory.
pub async fn open_s3_replica_in(
    args: &BackendArgs,
    data_dir: &Path,
    primary_http: Option<String>,
) -> Result<S3Replica, BackendError> {
    let options = s3_options(args)?;
    let follower = match s3_place(args, Some(data_dir))? {
        S3Place::Bucket(cfg) => S3Log::open_follower(cfg.build()?, options).await?,
        S3Place::LocalDir(dir) => {
            tracing::info!(dir = %dir.display(), prefix = %options.prefix, "s3 replica of a local directory");
            S3Log::open_local_follower(&dir, options).await?
        }
    };
    Ok(S3Replica {
        follower,
        primary_http,
    })
}

/// `/status` details of an S3 replica: mode `replica` (its lag is `committed - version`).
pub fn s3_replica_control() -> NodeControl {
    NodeControl::none().with_details(|| BackendDetails {
        mode: Some("replica".to_owned()),
        ..Default::default()
    })
}

/// `/status` details of an S3 writer: its epoch.
pub fn s3_control(rig: Rig<MetadataService, S3Log>) -> NodeControl {
    NodeControl::none().with_details(move || BackendDetails {
        epoch: Some(rig.log().epoch()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bucket_is_refused_with_the_reason() {
        let args = BackendArgs {
            s3_endpoint: Some("http://127.0.0.1:1".into()),
            bucket: None,
            prefix: "p".into(),
            ..Default::default()
        };
        // RIG_S3_BUCKET may be set by the test script; only an unset one is checked here.
        if std::env::var("RIG_S3_BUCKET").is_err() {
            assert!(store_config(&args)
                .unwrap_err()
                .to_string()
                .contains("--bucket"));
        }
        let bad_prefix = BackendArgs {
            prefix: "/abs".into(),
            ..Default::default()
        };
        assert!(s3_options(&bad_prefix).is_err());
        let ok = BackendArgs {
            prefix: "a/b/".into(),
            ..Default::default()
        };
        assert_eq!(s3_options(&ok).unwrap().prefix, "a/b");
    }

    #[test]
    fn no_bucket_and_no_endpoint_means_the_data_dir_and_s3_dir_excludes_a_bucket() {
        let none = BackendArgs::default();
        // The test script may export a bucket or endpoint; only a clean environment is checked.
        if std::env::var("RIG_S3_BUCKET").is_err() && std::env::var("AWS_ENDPOINT_URL").is_err() {
            let place = s3_place(&none, Some(Path::new("/tmp/d"))).unwrap();
            assert!(matches!(place, S3Place::LocalDir(d) if d == Path::new("/tmp/d")));
            let e = s3_place(&none, None).unwrap_err().to_string();
            assert!(e.contains("--s3-dir"), "{e}");
        }
        let both = BackendArgs {
            s3_dir: Some("/tmp/x".into()),
            bucket: Some("b".into()),
            ..Default::default()
        };
        assert!(matches!(s3_place(&both, None), Err(BackendError::Flags(_))));
        let dir_only = BackendArgs {
            s3_dir: Some("/tmp/x".into()),
            ..Default::default()
        };
        assert!(store_config(&dir_only).is_err());
    }
}
