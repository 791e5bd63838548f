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
}

/// The entries a node holds (committed and prepared), its commit point and its epoch.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogState {
    ops: Vec<Operation>,
    committed: u64,
    epoch: u64,
}

impl LogState {
    /// The last version held, committed or prepared.
    pub(crate) fn last(&self) -> u64 {
        self.ops.len() as u64
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
        self.ops.get(usize::try_from(version.checked_sub(1)?).ok()?)
    }

    /// Entries `from..=through` (clamped to what is held).
    pub(crate) fn range(&self, from: u64, through: u64) -> Vec<Operation> {
        let end = through.min(self.last());
        (from.max(1)..=end)
            .filter_map(|v| self.get(v).cloned())
            .collect()
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
            }
        }
        Ok(())
    }

    /// Applies one record. A record that would leave a gap or rewrite a committed entry is an
    /// error: the local log is damaged or was written by a buggy peer.
    pub(crate) fn apply(&mut self, record: &Record) -> Result<(), String> {
        match record {
            Record::Prepare { version, op } => {
                if *version <= self.committed {
                    return Err(format!("prepare of committed version {version}"));
                }
                if *version > self.last() + 1 {
                    return Err(format!(
                        "prepare of version {version} after {}",
                        self.last()
                    ));
                }
                self.ops.truncate((*version - 1) as usize);
                self.ops.push(op.clone());
            }
            Record::Commit { through } => {
                self.committed = self.committed.max((*through).min(self.last()));
            }
            Record::Rollback { from } => {
                let keep = from.saturating_sub(1).max(self.committed);
                self.ops.truncate(keep as usize);
            }
            Record::Epoch { epoch } => self.epoch = self.epoch.max(*epoch),
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
            s.apply(&prep(v)).unwrap();
        }
        s.apply(&Record::Commit { through: 2 }).unwrap();
        assert_eq!((s.committed(), s.last()), (2, 4));
        s.apply(&Record::Rollback { from: 1 }).unwrap();
        assert_eq!(s.last(), 2, "a rollback never touches committed entries");
        s.apply(&prep(3)).unwrap();
        s.apply(&Record::Commit { through: 9 }).unwrap();
        assert_eq!(s.committed(), 3, "commit is clamped to what is held");
        assert!(s.apply(&prep(2)).is_err());
        assert!(s.apply(&prep(9)).is_err());
        assert_eq!(s.range(2, 10).len(), 2);
        s.apply(&Record::Epoch { epoch: 4 }).unwrap();
        s.apply(&Record::Epoch { epoch: 2 }).unwrap();
        assert_eq!(s.epoch(), 4);
    }
}
