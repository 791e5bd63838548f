//! What a backend provides to the suite: a [`LogFactory`] and its [`Capabilities`].

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use rig_core::{Log, Result};

/// An ability a case needs beyond the [`Log`] contract every backend honours.
///
/// A case whose capability the backend lacks is reported as not applicable, by name, in the test
/// output: never skipped silently.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// [`LogFactory::reopen`] with [`Restart::Crash`] models a process crash (nothing flushed by
    /// `close`) and the reopened log MUST keep every acknowledged entry.
    CrashReopen,
    /// [`LogFactory::reopen`] with [`Restart::Wipe`] models a lost disk: the reopened log is empty.
    Wipe,
    /// The factory runs the log on a [`SimFs`](crate::simfs::SimFs) whose controller
    /// [`LogFactory::disk`] returns, so the suite can inject full disks and fsync errors.
    DiskFaults,
    /// The log is replicated across nodes the factory can crash, partition and heal through
    /// [`LogFactory::cluster`].
    Replicated,
    /// A second writer can take over the log and the first one MUST be fenced.
    Fencing,
    /// The log runs on an object store whose faults (errors, ambiguous writes) the suite can
    /// inject.
    ObjectStoreFaults,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::CrashReopen => "crash_reopen",
            Self::Wipe => "wipe",
            Self::DiskFaults => "disk_faults",
            Self::Replicated => "replicated",
            Self::Fencing => "fencing",
            Self::ObjectStoreFaults => "object_store_faults",
        };
        f.write_str(name)
    }
}

/// The set of [`Capability`]s a backend declares, explicitly.
///
/// ```
/// use rig_testkit::conformance::{Capabilities, Capability};
/// let caps = Capabilities::none().with(Capability::CrashReopen);
/// assert!(caps.has(Capability::CrashReopen));
/// assert!(!caps.has(Capability::Fencing));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<Capability>);

impl Capabilities {
    /// No capability beyond the base [`Log`] contract.
    pub fn none() -> Self {
        Self::default()
    }

    /// This set plus `capability`.
    pub fn with(mut self, capability: Capability) -> Self {
        self.0.insert(capability);
        self
    }

    /// True when the set holds `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }
}

/// How [`LogFactory::reopen`] brings a log back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The case already called [`Log::close`]; reopen from what it flushed.
    Clean,
    /// The process died without closing: drop the handle without flushing (and, on a simulated
    /// disk, lose or tear whatever was not synced), then reopen from durable state.
    Crash,
    /// The disk was lost: reopen on empty storage.
    Wipe,
}

/// Makes logs for the suite. One factory value serves one case; [`crate::conformance_tests!`]
/// evaluates the factory expression once per generated `#[test]`.
///
/// The factory owns the log's "disk" (a temporary directory, a simulated file system, an
/// in-memory store) so that [`reopen`](LogFactory::reopen) can bring the log back from it.
#[async_trait]
pub trait LogFactory: Send + Sync + 'static {
    /// The log type under test.
    type Log: Log;

    /// What this backend can do beyond the base contract.
    fn capabilities(&self) -> Capabilities;

    /// Creates a fresh, empty log on fresh storage.
    async fn create(&self) -> Result<Self::Log>;

    /// Brings `log` back after `after`: the handle is consumed (dropped or torn down first, so a
    /// lock it holds is released), and a new handle over the same storage is returned. The suite
    /// only asks for [`Restart::Crash`] and [`Restart::Wipe`] when the matching [`Capability`]
    /// is declared.
    async fn reopen(&self, log: Self::Log, after: Restart) -> Result<Self::Log>;

    /// The simulated disk the logs run on, for cases that inject disk faults. A factory that
    /// declares [`Capability::DiskFaults`] MUST return `Some`.
    fn disk(&self) -> Option<crate::simfs::SimFsController> {
        None
    }

    /// The controller of the [`FaultyObjectStore`](crate::faulty_store::FaultyObjectStore) the
    /// logs run on, for cases that inject object-store faults. A factory that declares
    /// [`Capability::ObjectStoreFaults`] MUST return `Some` (and build rig-testkit with its
    /// `object-store` feature).
    #[cfg(feature = "object-store")]
    fn object_store_faults(&self) -> Option<crate::faulty_store::FaultyObjectStoreController> {
        None
    }

    /// Opens a second writer on the storage of the log [`create`](LogFactory::create) returned
    /// last, while that log is still open: the new writer takes over and the old one MUST be
    /// fenced (it never acknowledges a write the new writer does not see). A factory that
    /// declares [`Capability::Fencing`] MUST return `Some`.
    async fn open_second_writer(&self) -> Option<Result<Self::Log>> {
        None
    }

    /// Starts a fresh replicated group on fresh storage and returns control over its nodes, for
    /// the replicated cases (leader crash mid-append, partition and heal, duplicated and
    /// reordered messages, wiped node rejoins, liveness after faults stop). A factory that
    /// declares [`Capability::Replicated`] MUST return `Some`.
    async fn cluster(&self) -> Option<Result<Box<dyn super::Cluster>>> {
        None
    }
}
