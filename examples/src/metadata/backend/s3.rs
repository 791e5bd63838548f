//! `--backend s3`: the log and snapshots under `--prefix` in a bucket.
//!
//! Without `--s3-endpoint` the bucket is on AWS S3 itself. There is deliberately no "local
//! directory" mode: rig-log-s3 needs conditional writes (`If-None-Match`, `If-Match`) to fence a
//! second writer, which object_store's `LocalFileSystem` lacks, and an in-memory store would
//! lose every user at exit. For a local log use `--backend file`; to try the S3 backend locally,
//! run MinIO or moto and pass its URL as `--s3-endpoint`.

use rig_core::Rig;
use rig_log_s3::{S3Log, S3LogOptions, StoreConfig};

use super::{flags, BackendArgs, BackendError};
use crate::metadata::node::{BackendDetails, NodeControl};
use crate::metadata::MetadataService;

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
    let mut cfg = StoreConfig::from_env();
    if args.bucket.is_some() {
        cfg.bucket = args.bucket.clone();
    }
    if let Some(endpoint) = &args.s3_endpoint {
        cfg.endpoint = Some(endpoint.clone());
        cfg.allow_http |= endpoint.starts_with("http://");
    }
    match (&cfg.bucket, &cfg.endpoint) {
        (None, None) => Err(flags(
            "--backend s3 needs --bucket (on AWS S3) or --bucket with --s3-endpoint (MinIO, moto); \
             a local directory cannot host the S3 log (no conditional writes to fence a second \
             writer): use --backend file for a local log",
        )),
        (None, Some(e)) => Err(flags(format!("--s3-endpoint {e} needs --bucket"))),
        _ => Ok(cfg),
    }
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

/// Opens the writer of the log under `--prefix`. Taking the writer epoch fences any older
/// instance on the same prefix: its next write fails and it stops.
pub async fn open_s3(args: &BackendArgs) -> Result<S3Log, BackendError> {
    let store = store_config(args)?.build()?;
    Ok(S3Log::open(store, s3_options(args)?).await?)
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
}
