//! A node's replicated log as it stands: entries, commit point and epoch, rebuilt from the
//! local records a node persists.

use rig_core::Operation;

/// What a node persists in its local log, in order. Replaying the records from the start
/// rebuilds the [`LogState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// Version `version` holds `op` (prepared, not yet committed).
    Prepare { version: u64, op: Operation },
    /// Every entry through `through` is committed.
    Commit { through: u64 },
    /// Uncommitted entries from `from` on are gone.
    Rollback { from: u64 },
    /// This node saw epoch `epoch`.
    Epoch { epoch: u64 },
    /// The whole state from here on (compaction, or a snapshot installed from the primary):
    /// versions through `base` are in a snapshot, `tail` holds versions `base+1..`, committed
    /// through `committed`. Replay may start at a checkpoint: records before it are not needed.
    Checkpoint {
        base: u64,
        committed: u64,
        epoch: u64,
        tail: Vec<Operation>,
    },
}

/// The entries a node holds (committed and prepared), its commit point and its epoch.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogState {
    /// Versions through `base` were compacted (they are in a snapshot).
    base: u64,
    /// Versions `base+1..=last`.
    ops: Vec<Operation>,
    committed: u64,
    epoch: u64,
}

impl LogState {
    /// The last version held, committed or prepared.
    pub(crate) fn last(&self) -> u64 {
        self.base + self.ops.len() as u64
    }

    /// The last compacted version (0: none); entries start after it.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// How many entries are held in memory.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.ops.len()
    }

    /// The last committed version.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// The highest epoch seen.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The entry at `version`, if held.
    pub(crate) fn get(&self, version: u64) -> Option<&Operation> {
        let i = version.checked_sub(self.base + 1)?;
        self.ops.get(usize::try_from(i).ok()?)
    }

    /// Entries `from..=through` (clamped to what is held: nothing at or below the base).
    pub(crate) fn range(&self, from: u64, through: u64) -> Vec<Operation> {
        let from = from.max(self.base + 1);
        let end = through.min(self.last());
        if from > end {
            return Vec::new();
        }
        let i = (from - self.base - 1) as usize;
        self.ops[i..i + (end - from + 1) as usize].to_vec()
    }

    /// The checkpoint that compacts this state through `through` (at most the commit point).
    pub(crate) fn checkpoint(&self, through: u64) -> Record {
        let base = through.min(self.committed).max(self.base);
        Record::Checkpoint {
            base,
            committed: self.committed,
            epoch: self.epoch,
            tail: self.range(base + 1, self.last()),
        }
    }

    /// Checks that `records` would apply cleanly, without copying any entry.
    pub(crate) fn check(&self, records: &[Record]) -> Result<(), String> {
        let (mut last, mut committed) = (self.last(), self.committed);
        for r in records {
            match r {
                Record::Prepare { version, .. } => {
                    if *version <= committed || *version > last + 1 {
                        return Err(format!(
                            "prepare of version {version} (last {last}, committed {committed})"
                        ));
                    }
                    last = *version;
                }
                Record::Commit { through } => committed = committed.max((*through).min(last)),
                Record::Rollback { from } => last = last.min(from.saturating_sub(1).max(committed)),
                Record::Epoch { .. } => {}
                Record::Checkpoint {
                    base,
                    committed: c,
                    tail,
                    ..
                } => {
                    last = base + tail.len() as u64;
                    if *c < *base || *c > last {
                        return Err(format!(
                            "checkpoint at {base} committed through {c} with entries through {last}"
                        ));
                    }
                    committed = *c;
                }
            }
        }
        Ok(())
    }

    /// Applies one record. A record that would leave a gap or rewrite a committed entry is an
    /// error: the local log is damaged or was written by a buggy peer.
    pub(crate) fn apply(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::Prepare { version, op } => {
                if version <= self.committed {
                    return Err(format!("prepare of committed version {version}"));
                }
                if version > self.last() + 1 {
                    return Err(format!(
                        "prepare of version {version} after {}",
                        self.last()
                    ));
                }
                self.ops.truncate((version - 1 - self.base) as usize);
                self.ops.push(op);
            }
            Record::Commit { through } => {
                self.committed = self.committed.max(through.min(self.last()));
            }
            Record::Rollback { from } => {
                let keep = from.saturating_sub(1).max(self.committed);
                self.ops.truncate((keep - self.base) as usize);
            }
            Record::Epoch { epoch } => self.epoch = self.epoch.max(epoch),
            Record::Checkpoint {
                base,
                committed,
                epoch,
                tail,
            } => {
                let last = base + tail.len() as u64;
                if committed < base || committed > last {
                    return Err(format!(
                        "checkpoint at {base} committed through {committed} with entries through {last}"
                    ));
                }
                self.base = base;
                self.ops = tail;
                self.committed = committed;
                self.epoch = self.epoch.max(epoch);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(version: u64) -> Record {
        Record::Prepare {
            version,
            op: Operation::new("op", version.to_string()),
        }
    }

    #[test]
    fn prepare_commit_rollback() {
        let mut s = LogState::default();
        for v in 1..=4 {
            s.apply(prep(v)).unwrap();
        }
        s.apply(Record::Commit { through: 2 }).unwrap();
        assert_eq!((s.committed(), s.last()), (2, 4));
        s.apply(Record::Rollback { from: 1 }).unwrap();
        assert_eq!(s.last(), 2, "a rollback never touches committed entries");
        s.apply(prep(3)).unwrap();
        s.apply(Record::Commit { through: 9 }).unwrap();
        assert_eq!(s.committed(), 3, "commit is clamped to what is held");
        assert!(s.apply(prep(2)).is_err());
        assert!(s.apply(prep(9)).is_err());
        assert_eq!(s.range(2, 10).len(), 2);
        s.apply(Record::Epoch { epoch: 4 }).unwrap();
        s.apply(Record::Epoch { epoch: 2 }).unwrap();
        assert_eq!(s.epoch(), 4);
    }

    #[test]
    fn a_checkpoint_drops_the_compacted_prefix() {
        let mut s = LogState::default();
        for v in 1..=5 {
            s.apply(prep(v)).unwrap();
        }
        s.apply(Record::Commit { through: 3 }).unwrap();
        let cp = s.checkpoint(9);
        assert!(
            matches!(cp, Record::Checkpoint { base: 3, .. }),
            "clamped to the commit point"
        );
        s.check(std::slice::from_ref(&cp)).unwrap();
        s.apply(cp.clone()).unwrap();
        assert_eq!((s.base(), s.committed(), s.last(), s.held()), (3, 3, 5, 2));
        assert_eq!(s.get(3), None);
        assert_eq!(
            s.range(1, 9),
            vec![Operation::new("op", "4"), Operation::new("op", "5")]
        );
        s.apply(Record::Rollback { from: 5 }).unwrap();
        s.apply(prep(5)).unwrap();
        s.apply(prep(6)).unwrap();
        assert_eq!(s.last(), 6);
        assert!(s.apply(prep(3)).is_err(), "below the base");
        let bad = Record::Checkpoint {
            base: 4,
            committed: 9,
            epoch: 1,
            tail: vec![],
        };
        assert!(s.check(std::slice::from_ref(&bad)).is_err() && s.apply(bad.clone()).is_err());
    }
}
