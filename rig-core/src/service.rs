//! The [`Service`] trait: the user's state machine.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use crate::{Durability, Operation, Rejection};

/// The keys an operation reads or writes (the seed design's LockResources/UnlockResources).
///
/// The engine validates and batches operations whose resources are disjoint together, and makes an
/// operation whose resources overlap one in flight wait until that one is applied.
///
/// ```
/// use rig_core::Resources;
/// let a = Resources::keys(["user/1"]);
/// let b = Resources::keys(["user/2"]);
/// assert!(!a.overlaps(&b));
/// assert!(a.overlaps(&Resources::All));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resources {
    /// The operation may touch anything: it runs alone.
    All,
    /// The operation touches only these keys.
    Keys(Vec<String>),
}

impl Resources {
    /// Builds [`Resources::Keys`] from anything that yields strings.
    pub fn keys<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        Self::Keys(keys.into_iter().map(Into::into).collect())
    }

    /// True when the two sets share a key (or either is [`Resources::All`]).
    pub fn overlaps(&self, other: &Resources) -> bool {
        match (self, other) {
            (Self::Keys(a), Self::Keys(b)) => a.iter().any(|k| b.contains(k)),
            _ => true,
        }
    }
}

/// An error from [`Service::apply`], [`Service::snapshot`] or [`Service::restore`].
///
/// `apply` failing after an operation was logged is a bug in the service: the engine stops
/// (poisoned) rather than let replicas or restarts diverge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ServiceError(pub String);

/// The state machine rig keeps safe.
///
/// # Contract
/// - `apply` MUST be deterministic: the same operations at the same versions, from the same
///   snapshot, MUST give the same state and outputs. It runs exactly once per version, in order.
/// - `validate` MUST be a pure check against the current state: the engine guarantees it sees the
///   effect of every earlier operation whose [`resources`](Service::resources) overlap. An operation
///   that passes `validate` MUST then `apply` without error.
/// - `snapshot` returns the state at [`version`](Service::version); `restore(v, bytes)` MUST make
///   the service equal to one that applied versions `1..=v`.
///
/// ```
/// use rig_core::{async_trait, Operation, Rejection, Service, ServiceError};
///
/// #[derive(Default)]
/// struct Counter { version: u64, value: i64 }
///
/// #[async_trait]
/// impl Service for Counter {
///     type Output = i64;
///     async fn version(&self) -> u64 { self.version }
///     async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
///         match op.method.as_str() {
///             "add" => op.decode::<i64>().map(|_| ()),
///             other => Err(Rejection::new("unknown_method", other)),
///         }
///     }
///     async fn apply(&mut self, version: u64, op: &Operation) -> Result<i64, ServiceError> {
///         self.value += op.decode::<i64>().map_err(|e| ServiceError(e.to_string()))?;
///         self.version = version;
///         Ok(self.value)
///     }
///     async fn snapshot(&self) -> Result<bytes::Bytes, ServiceError> {
///         Ok(self.value.to_le_bytes().to_vec().into())
///     }
///     async fn restore(&mut self, version: u64, data: bytes::Bytes) -> Result<(), ServiceError> {
///         let raw: [u8; 8] = data[..].try_into().map_err(|_| ServiceError("bad snapshot".into()))?;
///         self.value = i64::from_le_bytes(raw);
///         self.version = version;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// What `apply` returns to the caller. Serializable so the engine can remember the latest
    /// result per client (exactly-once retries) inside snapshots.
    type Output: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    /// The last version applied to (or restored into) this service; 0 when empty.
    async fn version(&self) -> u64;

    /// Checks `op` against the current state. An `Err` rejects it; nothing is logged.
    async fn validate(&self, op: &Operation) -> Result<(), Rejection>;

    /// The keys `op` touches. The default, [`Resources::All`], runs every operation alone.
    async fn resources(&self, _op: &Operation) -> Resources {
        Resources::All
    }

    /// How durable `op` must be before it is acknowledged, when the caller does not say.
    /// `None` (the default) means the log's strongest level. The seed design: "some operations are
    /// more important than others, like creating a user".
    fn durability(&self, _op: &Operation) -> Option<Durability> {
        None
    }

    /// Applies a logged operation at `version`. An error here poisons the engine.
    async fn apply(&mut self, version: u64, op: &Operation) -> Result<Self::Output, ServiceError>;

    /// Serializes the whole state at [`version`](Service::version).
    async fn snapshot(&self) -> Result<Bytes, ServiceError>;

    /// Replaces the whole state with a snapshot taken at `version`.
    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError>;
}
