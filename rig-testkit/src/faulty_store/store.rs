//! [`FaultyObjectStore`]: the wrapper itself.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use tokio::sync::watch;

use super::controller::{Decision, FaultyObjectStoreController, StallPoint, State};

const STORE: &str = "FaultyObjectStore";

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: format!("injected fault: {what}").into(),
    }
}

/// An [`ObjectStore`] that forwards to another one and injects faults decided by its
/// [`FaultyObjectStoreController`]: see the [module docs](super) for the fault kinds.
///
/// Every fault applies to `put_opts`, and only PUTs have a fixed latency, stall or fail
/// periodically. GETs, `list_with_delimiter`, copies and multipart creation
/// can be delayed and throttled; streaming lists can be throttled (not delayed); deletes and
/// multipart parts are forwarded untouched.
#[derive(Debug)]
pub struct FaultyObjectStore {
    inner: Arc<dyn ObjectStore>,
    ctl: FaultyObjectStoreController,
}

impl FaultyObjectStore {
    /// Wraps `inner`; faults are drawn from a generator seeded with `seed`. Returns the store
    /// (ready to hand to a backend) and its controller. No fault is on until the controller
    /// turns one on.
    pub fn wrap(
        inner: Arc<dyn ObjectStore>,
        seed: u64,
    ) -> (Arc<dyn ObjectStore>, FaultyObjectStoreController) {
        let ctl = FaultyObjectStoreController {
            state: Arc::new(Mutex::new(State::new(seed))),
            gate: Arc::new(watch::Sender::new(true)),
        };
        let store = Arc::new(Self {
            inner,
            ctl: ctl.clone(),
        });
        (store, ctl)
    }

    /// Decides and applies the faults that come before a request reaches the store: latency,
    /// a stall before the write, throttling and a failure before the write.
    async fn before(&self, key: &Path, put: bool, conditional: bool) -> Result<Decision> {
        let decision = self.ctl.state().decide(key.as_ref(), put, conditional);
        if !decision.latency.is_zero() {
            tokio::time::sleep(decision.latency).await;
        }
        if decision.stall == Some(StallPoint::BeforeWrite) {
            self.wait_for_release().await;
        }
        if decision.throttle {
            return Err(injected("503 slow down: request throttled"));
        }
        if decision.fail_before {
            return Err(injected("put failed before the write"));
        }
        Ok(decision)
    }

    /// Waits until the stall gate is open. A release that came between the decision and this
    /// call is not missed: the gate's current value is checked first.
    async fn wait_for_release(&self) {
        let mut gate = self.ctl.gate.subscribe();
        // The sender lives in `self.ctl`, so the channel cannot close while we wait.
        let _ = gate.wait_for(|open| *open).await;
    }
}

impl fmt::Display for FaultyObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyObjectStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let conditional = !matches!(opts.mode, PutMode::Overwrite);
        let decision = self.before(location, true, conditional).await?;
        if let Some(race) = decision.race {
            let competing = race.map_or_else(|| payload.clone(), PutPayload::from);
            self.inner.put(location, competing).await?;
        }
        let result = self.inner.put_opts(location, payload, opts).await;
        if decision.stall == Some(StallPoint::AfterWrite) {
            self.wait_for_release().await;
        }
        if decision.fail_after && result.is_ok() {
            self.ctl.state().stats.failed_after_write += 1;
            return Err(injected("put landed but the reply was lost"));
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.before(location, false, false).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.before(location, false, false).await?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let key = prefix.cloned().unwrap_or_default();
        if self.ctl.state().decide(key.as_ref(), false, false).throttle {
            return stream::once(async { Err(injected("503 slow down: list throttled")) }).boxed();
        }
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let key = prefix.cloned().unwrap_or_default();
        if self.ctl.state().decide(key.as_ref(), false, false).throttle {
            return stream::once(async { Err(injected("503 slow down: list throttled")) }).boxed();
        }
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let key = prefix.cloned().unwrap_or_default();
        self.before(&key, false, false).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.before(to, false, false).await?;
        self.inner.copy_opts(from, to, options).await
    }
}
