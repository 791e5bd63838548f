//! [`StoreConfig`]: build the object store from code or the usual environment variables.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use rig_core::{Error, Result};

use crate::io::store_error;

/// Where the log's objects live: an S3 bucket (AWS or any S3-compatible endpoint such as MinIO
/// or moto), or, with no bucket and no endpoint, an in-process [`InMemory`] store.
///
/// Fields left `None` fall back to the standard AWS variables read by
/// [`StoreConfig::from_env`] (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` /
/// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT` / `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...), plus
/// `RIG_S3_BUCKET` for the bucket.
///
/// ```
/// use rig_log_s3::StoreConfig;
/// // A local S3-compatible server: custom endpoint, path-style requests, plain http.
/// let cfg = StoreConfig {
///     bucket: Some("rig".into()),
///     endpoint: Some("http://127.0.0.1:9000".into()),
///     region: Some("us-east-1".into()),
///     access_key_id: Some("test".into()),
///     secret_access_key: Some("test".into()),
///     allow_http: true,
///     virtual_hosted_style: false,
/// };
/// let _store = cfg.build().unwrap();
/// // Nothing configured: an in-memory store (tests, examples).
/// assert!(StoreConfig::default().build().unwrap().to_string().contains("InMemory"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// The bucket. `None` with no endpoint means [`InMemory`].
    pub bucket: Option<String>,
    /// A custom endpoint (`http://127.0.0.1:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when nothing says otherwise).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// Permit plain `http://` endpoints (local servers).
    pub allow_http: bool,
    /// `bucket.host/key` requests instead of path-style `host/bucket/key` (the default, which
    /// S3-compatible servers expect).
    pub virtual_hosted_style: bool,
}

impl StoreConfig {
    /// Reads `RIG_S3_BUCKET`, `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`), `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`
    /// and `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let flag = |k: &str| var(k).is_some_and(|v| v == "true" || v == "1");
        Self {
            bucket: var("RIG_S3_BUCKET"),
            endpoint: var("AWS_ENDPOINT_URL").or_else(|| var("AWS_ENDPOINT")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            allow_http: flag("AWS_ALLOW_HTTP"),
            virtual_hosted_style: flag("AWS_VIRTUAL_HOSTED_STYLE_REQUEST"),
        }
    }

    /// Builds the store: [`object_store::aws::AmazonS3`] when a bucket or an endpoint is set
    /// (a bucket is then required), [`InMemory`] otherwise.
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>> {
        if self.bucket.is_none() && self.endpoint.is_none() {
            return Ok(Arc::new(InMemory::new()));
        }
        let bucket = self.bucket.clone().ok_or_else(|| {
            Error::InvalidArgument("an S3 endpoint is set but no bucket (RIG_S3_BUCKET)".into())
        })?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(self.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_allow_http(self.allow_http)
            .with_virtual_hosted_style_request(self.virtual_hosted_style);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &self.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &self.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let s3 = b
            .build()
            .map_err(|e| store_error("configure the S3 store", e))?;
        Ok(Arc::new(s3))
    }
}
