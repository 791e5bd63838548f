//! rig's object-store log: the operation log and snapshots in S3 or any S3-compatible store
//! (MinIO, moto, ...) through the [`object_store`] crate, fast through group commit and safe
//! against two writers through fencing.
//!
//! # Quick start
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use rig_core::{Durability, Log, Operation, Snapshot};
//! use rig_log_s3::{S3Log, S3LogOptions, StoreConfig};
//!
//! // No bucket and no endpoint configured: an in-memory store. In production, set
//! // RIG_S3_BUCKET and the usual AWS_* variables, or fill in a `StoreConfig`.
//! let store = StoreConfig::default().build()?;
//! let opts = S3LogOptions { prefix: "rig".into(), ..Default::default() };
//! let log = S3Log::open(store.clone(), opts.clone()).await?;
//!
//! // `Local` waits for the PUT; `Applied` returns before it.
//! let v = log.append(vec![Operation::new("user_create", "ada")], Durability::Local).await?;
//! assert_eq!(v, 1);
//! log.append(vec![Operation::new("page_view", "/")], Durability::Applied).await?;
//! log.save_snapshot(Snapshot { version: 1, data: "users: ada".into() }).await?;
//! log.close().await?;
//!
//! // Failover, anywhere: a new instance restores the snapshot and replays the log after it.
//! let log = S3Log::open(store, opts).await?;
//! assert_eq!(log.load_snapshot().await?.unwrap().version, 1);
//! assert_eq!(log.read(2, 10).await?[0].op.method, "page_view");
//! # Ok::<(), rig_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Layout
//! Under the configured prefix (the seed design's layout plus one small object, `WRITER`):
//! ```text
//! LATEST                     the version of the newest snapshot, in hex
//! WRITER                     the current writer epoch
//! LOG/0000000000000462       a batch of records, named by its first version
//! LOG/0000000000000468
//! SNAPSHOT/000000000000044d  a snapshot, named by its version
//! ```
//! Every object starts with a magic and a format version and is checksummed (CRC32C); records
//! use rig-core's one record codec ([`rig_core::codec`]). An unknown format or a bad checksum is
//! [`rig_core::Error::Corrupt`], never wrong data.
//!
//! # Batching
//! Appends join an open batch and get their versions at once, in call order. The batch is
//! sealed at once when no PUT is in flight, otherwise when it reaches
//! [`S3LogOptions::max_batch_ops`] or [`S3LogOptions::max_batch_bytes`], or
//! [`S3LogOptions::max_batch_delay`] after its first operation. A sealed batch's versions are
//! fixed, so up to [`S3LogOptions::max_in_flight`] PUTs run at once; acknowledgments still come
//! in version order, and a failed batch fails every later one. Per operation,
//! [`Durability::Applied`](rig_core::Durability::Applied) resolves before the PUT (a crash may
//! lose it) and [`Durability::Local`](rig_core::Durability::Local) after it.
//!
//! # Replay
//! The log LISTs `LOG/`, GETs only listed keys, and follows the chain by key arithmetic (batch
//! `k` with `n` records is followed by `k + n`). A missing batch in the middle is reported as
//! `Corrupt` naming the missing key range, never skipped. See the `recovery` module notes in the
//! source for how debris from a fenced writer is told apart from a hole.
//!
//! # Fencing
//! The seed design assumed one instance; rig enforces it.
//! 1. On open, an instance takes the next writer *epoch* with a compare-and-swap on `WRITER`
//!    (`PutMode::Update` on its e-tag, `PutMode::Create` for the first writer). Every batch
//!    records the epoch.
//! 2. It replays the chain, then writes an empty *fence marker* at the next slot
//!    (`LOG/<next version>`) create-if-absent. If an older writer's batch landed there first, it
//!    joins the chain (it may have been acknowledged) and the marker moves to the next slot.
//! 3. Log batches are written create-if-absent (`PutMode::Create`); the new writer's first batch
//!    replaces its own marker with `PutMode::Update`. An older writer's PUT at the marked slot
//!    fails; reading the slot back it sees a newer epoch, fails every waiting append with
//!    [`Error::Fenced`](rig_core::Error::Fenced) and stops.
//! 4. An ambiguous PUT (an error reported, the object maybe written) is settled by reading the
//!    slot back and comparing the batch's unique put id; a retry never writes twice.
//! 5. While it has batches to PUT, a writer also reads `WRITER` (one read at a time, alongside
//!    the PUTs). The fence alone cannot stop a writer whose pipeline never empties: it seals each
//!    batch (fixing the next slot) before the previous one lands, so it wins every slot the new
//!    writer can learn about, and `open` would chase it forever. Seeing a newer epoch, the old
//!    writer stops sealing; its in-flight batches settle by what the store says and every
//!    other waiter fails with [`Error::Fenced`](rig_core::Error::Fenced). `open` gives up with
//!    `Unavailable` after 1000 such slots rather than chase a writer that never looks.
//!
//! A stalled old writer therefore never gets an acknowledgment for a batch the new writer did
//! not replay: its acknowledgments are in order, and its first batch at or past the fence fails.
//! The store must support conditional writes (`If-None-Match` and `If-Match` on PUT): AWS S3,
//! MinIO, moto and `InMemory` do. A bare `LocalFileSystem` lacks `PutMode::Update` and is
//! refused at open with a clear error; a local directory has its own mode, below.
//!
//! # Local directory
//! [`S3Log::open_local`] keeps the same layout in a directory on one machine (the embedded
//! durable mode of this backend), through [`LocalDirStore`]:
//! - **Fencing:** the writer takes an exclusive OS lock on [`LOCAL_LOCK_FILE`] in the directory
//!   (`flock`, through rig-core's `Fs` seam) and holds it until [`close`](rig_core::Log::close)
//!   (or until the log and its tasks are gone, or the process dies). A second writer, in another
//!   process or this one, fails at open with [`Error::Unavailable`](rig_core::Error::Unavailable)
//!   naming the directory and saying another process holds it: never a hang, never two writers.
//!   Holding the lock makes the process the only one that changes the directory, so a
//!   conditional update becomes "compare the e-tag, then replace" serialized inside the process;
//!   create-if-absent is a hard link, atomic on its own. The writer epoch and fence marker work
//!   as on S3 (they fence a dropped writer's stragglers inside one process).
//! - **Durability:** each PUT writes a staging file and `fsync`s it, publishes it with a hard
//!   link (create-if-absent) or a rename (replace), then `fsync`s the parent directory and any
//!   directory it had to create (object_store's `LocalFileSystem` with fsync on); each delete is
//!   followed by an `fsync` of its parent directory (done by [`LocalDirStore`]; `LocalFileSystem`
//!   does not). A batch is acknowledged as `Local` only after its PUT returned, so no
//!   acknowledged operation, snapshot, `LATEST` or `WRITER` is lost on power loss. A failed
//!   write or fsync is never retried: the store refuses every later call (reads too, so no
//!   read-back settles a write of unknown durability), the writer fails with `OutcomeUnknown`,
//!   and a reopen recovers from what is on disk. A staging file left by a crash (`<key>#<n>`)
//!   is never listed or read.
//! - **Readers:** [`S3Log::open_local_follower`] and [`LocalDirStore::open_reader`] take no lock
//!   and run beside the writer (objects appear atomically); a reader's store refuses writes.
//!
//! # Snapshots and cleanup
//! [`save_snapshot`](rig_core::Log::save_snapshot) waits until the snapshot's versions are
//! durable, PUTs `SNAPSHOT/<v>`, then moves `LATEST` forward only, with a conditional write.
//! [`compact`](rig_core::Log::compact) deletes log batches entirely at or below the retained
//! snapshot and older snapshots. Buckets that prefer lifecycle rules can expire old objects
//! instead, as long as the log rule is much longer than the snapshot interval (a batch still
//! needed after the newest snapshot must never expire):
//! ```json
//! {
//!   "Rules": [
//!     { "ID": "rig-snapshots", "Status": "Enabled",
//!       "Filter": { "Prefix": "rig/SNAPSHOT/" }, "Expiration": { "Days": 30 } },
//!     { "ID": "rig-logs", "Status": "Enabled",
//!       "Filter": { "Prefix": "rig/LOG/" }, "Expiration": { "Days": 7 } }
//!   ]
//! }
//! ```
//! With lifecycle rules, keep taking a snapshot at least daily: replay reports an expired batch
//! after the newest snapshot as `Corrupt` rather than skipping it.
//!
//! # Read replicas and point-in-time restore
//! [`S3Log::open_follower`] opens a read replica ([`S3Follower`], role
//! [`Follower`](rig_core::Role::Follower)): it never takes the writer epoch and never writes; it
//! lists `LOG/` after its last batch every
//! [`follower_poll_interval`](S3LogOptions::follower_poll_interval) and commits new batches on
//! the chain by replay's rules, so debris of a fenced writer is never exposed and a hole is
//! reported. A [`rig_core::Rig`] over it applies the writer's operations as they appear and
//! answers writes with [`NotLeader`](rig_core::Error::NotLeader). [`S3Log::open_at`] opens
//! the log as it was at one version (`restore --to-version V`): the newest snapshot at or below
//! `V` and the log up to `V`, or [`InvalidArgument`](rig_core::Error::InvalidArgument) when the
//! entries needed were compacted or `V` is past the log.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod chain;
mod commit;
mod config;
mod follower;
mod format;
mod io;
mod layout;
mod local;
mod log;
mod options;
mod put;
mod recovery;
mod snapshot;

pub use config::StoreConfig;
pub use follower::S3Follower;
pub use local::{LocalDirStore, LOCAL_LOCK_FILE};
pub use log::S3Log;
pub use options::S3LogOptions;
