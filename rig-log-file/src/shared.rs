//! State shared by the [`crate::FileLog`] handle, the writer thread and blocking tasks.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};

use rig_core::seams::{Fs, FsLock};
use rig_core::sync::Watermark;
use rig_core::{Durability, Error, LogPayload, Result};
use tokio::sync::oneshot;

use crate::errors::poisoned;
use crate::preparer::Preparer;
use crate::segment::Segment;
use crate::snapshot_store::SnapshotStore;
use crate::FileLogOptions;

/// One `append` call waiting for the writer.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) first: u64,
    pub(crate) payloads: Vec<LogPayload>,
    pub(crate) durability: Durability,
    pub(crate) done: oneshot::Sender<Result<u64>>,
}

impl Pending {
    pub(crate) fn last(&self) -> u64 {
        self.first + self.payloads.len() as u64 - 1
    }

    pub(crate) fn fail(self, e: &Error) {
        // The caller may have dropped its future; the outcome is then nobody's business.
        let _ = self.done.send(Err(e.clone()));
    }

    pub(crate) fn succeed(self) {
        let _ = self.done.send(Ok(self.first));
    }
}

/// The append queue. Its lock is held only to push, to take everything, or to roll back.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) batches: Vec<Pending>,
    /// The version the next `append` call gets.
    pub(crate) next_version: u64,
    pub(crate) closing: bool,
    pub(crate) poison: Option<Error>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) dir: PathBuf,
    pub(crate) options: FileLogOptions,
    pub(crate) queue: Mutex<Queue>,
    pub(crate) queue_cv: Condvar,
    /// Every segment holding entries, oldest first; the last one is the writer's active segment.
    pub(crate) segments: RwLock<Vec<Arc<Segment>>>,
    /// The highest version written in full (readable); advanced by the writer.
    pub(crate) committed: Watermark,
    pub(crate) preparer: Preparer,
    pub(crate) snapshots: SnapshotStore,
    pub(crate) lock: Mutex<Option<Box<dyn FsLock>>>,
}

impl Shared {
    pub(crate) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("append queue lock")
    }

    /// The poison, if an earlier failure may have lost data.
    pub(crate) fn check_poison(&self) -> Result<()> {
        match &self.queue().poison {
            Some(p) => Err(p.clone()),
            None => Ok(()),
        }
    }

    /// Stops the log for good after `cause`: every queued and later append fails, every waiter of
    /// the committed watermark fails. Never retried: the data's fate is unknown.
    pub(crate) fn poison(&self, cause: &Error) -> Error {
        let p = poisoned(cause);
        tracing::error!(error = %p, dir = %self.dir.display(), "file log poisoned");
        let queued = {
            let mut q = self.queue();
            if q.poison.is_none() {
                q.poison = Some(p.clone());
            }
            std::mem::take(&mut q.batches)
        };
        for b in queued {
            b.fail(&p);
        }
        self.committed.poison(p.clone());
        p
    }

    /// The segments as of now (cheap: clones of `Arc`s).
    pub(crate) fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().expect("segments lock").clone()
    }

    /// The lowest version still held, or `committed + 1` when none is.
    pub(crate) fn first_version(&self) -> u64 {
        let segs = self.segments.read().expect("segments lock");
        segs.iter()
            .find_map(|s| s.state().first)
            .unwrap_or_else(|| self.committed.get() + 1)
    }
}
