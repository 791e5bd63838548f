//! A fault-injecting [`ObjectStore`] wrapper for tests: PUTs that fail before the write, PUTs that
//! land but report failure, latency, and a gate that stalls PUTs before or after they land.
//!
//! rig-log-s3's tests no longer use it: they run on rig-testkit's `FaultyObjectStore`, which has
//! every fault here (fixed PUT latency, periodic failures, stall gates, a log-PUT count). Only the
//! PUT latency injection of `benches/src/s3.rs` and `rig-log-s3/examples/s3_bench.rs` still
//! includes this file by `#[path]`; delete it once they switch to `FaultyObjectStore` (the
//! benches package then needs rig-testkit with the `object-store` feature).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use tokio::sync::watch;

/// Where a stalled PUT waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Before the object is written.
    BeforeWrite,
    /// After the object is written, before the reply.
    AfterWrite,
}

#[derive(Debug, Default)]
struct Faults {
    /// Every n-th PUT to a `LOG/` key fails without writing (0: never).
    fail_before_every: u64,
    /// Every n-th PUT to a `LOG/` key is written, then reported failed (0: never).
    fail_after_every: u64,
    /// The next n PUTs to `LOG/` keys fail without writing.
    fail_before_next: u32,
    /// The next n PUTs to `LOG/` keys are written, then reported failed.
    fail_after_next: u32,
    /// Every PUT to `LOG/` keys waits this long before it is written.
    put_latency: Duration,
    /// Every PUT to `LOG/` keys stalls here while the gate is closed.
    stall: Option<Stall>,
    /// When set, only PUTs to keys ending with this stall.
    stall_only: Option<String>,
    log_puts: u64,
}

/// The controller of one [`FaultyStore`].
#[derive(Debug, Clone)]
pub(crate) struct FaultControl {
    faults: Arc<Mutex<Faults>>,
    gate: Arc<watch::Sender<bool>>,
}

#[allow(dead_code)] // each test binary uses a different subset
impl FaultControl {
    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap()
    }
    /// Every `n`-th log PUT fails before the write and every `m`-th lands but reports an error.
    pub(crate) fn fail_periodically(&self, n: u64, m: u64) {
        let mut f = self.faults();
        f.fail_before_every = n;
        f.fail_after_every = m;
    }
    /// The next `n` log PUTs fail without writing.
    pub(crate) fn fail_before_next(&self, n: u32) {
        self.faults().fail_before_next = n;
    }
    /// The next `n` log PUTs land, then report an error.
    pub(crate) fn fail_after_next(&self, n: u32) {
        self.faults().fail_after_next = n;
    }
    /// Every log PUT waits `latency` before it is written.
    pub(crate) fn put_latency(&self, latency: Duration) {
        self.faults().put_latency = latency;
    }
    /// Log PUTs stall at `at` until [`release`](Self::release).
    pub(crate) fn stall(&self, at: Stall) {
        self.faults().stall = Some(at);
        self.gate.send_replace(false);
    }
    /// Only PUTs to keys ending with `suffix` stall (e.g. one batch's 16 hex digits).
    pub(crate) fn stall_only(&self, suffix: &str) {
        self.faults().stall_only = Some(suffix.into());
    }
    /// Lets stalled PUTs go on.
    pub(crate) fn release(&self) {
        let mut f = self.faults();
        f.stall = None;
        f.stall_only = None;
        drop(f);
        self.gate.send_replace(true);
    }
    /// How many log PUTs were attempted.
    pub(crate) fn log_puts(&self) -> u64 {
        self.faults().log_puts
    }
}

/// Wraps any store; faults apply to PUTs whose key contains `LOG/`.
#[derive(Debug)]
pub(crate) struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    control: FaultControl,
}

impl FaultyStore {
    /// Wraps `inner` and returns the store and its controller.
    pub(crate) fn wrap(inner: Arc<dyn ObjectStore>) -> (Arc<Self>, FaultControl) {
        let control = FaultControl {
            faults: Arc::default(),
            gate: Arc::new(watch::Sender::new(true)),
        };
        let store = Arc::new(Self {
            inner,
            control: control.clone(),
        });
        (store, control)
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected fault: {what}").into(),
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        if !location.as_ref().contains("LOG/") {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let (latency, stall, before, after) = {
            let mut f = self.control.faults();
            f.log_puts += 1;
            let n = f.log_puts;
            let before = f.fail_before_next > 0
                || (f.fail_before_every > 0 && n.is_multiple_of(f.fail_before_every));
            f.fail_before_next = f.fail_before_next.saturating_sub(u32::from(before));
            let after = !before
                && (f.fail_after_next > 0
                    || (f.fail_after_every > 0 && n.is_multiple_of(f.fail_after_every)));
            f.fail_after_next = f.fail_after_next.saturating_sub(u32::from(after));
            let stall = f.stall.filter(|_| {
                f.stall_only
                    .as_ref()
                    .is_none_or(|k| location.as_ref().ends_with(k.as_str()))
            });
            (f.put_latency, stall, before, after)
        };
        let mut gate = self.control.gate.subscribe();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if stall == Some(Stall::BeforeWrite) {
            let _ = gate.wait_for(|open| *open).await;
        }
        if before {
            return Err(injected("put failed before the write"));
        }
        let result = self.inner.put_opts(location, payload, opts).await;
        if stall == Some(Stall::AfterWrite) {
            let _ = gate.wait_for(|open| *open).await;
        }
        if after && result.is_ok() {
            return Err(injected("put landed but the reply was lost"));
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
