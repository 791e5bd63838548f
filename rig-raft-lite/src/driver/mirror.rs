//! The committed entries as rig sees them: decoded payloads with gap-free versions. Raft indexes
//! also hold leaders' no-op entries (empty data), which carry no version and are skipped here.

use std::collections::VecDeque;

use rig_core::codec::decode_payload;
use rig_core::{Error, LogPayload, Result};

use crate::core::Entry;

/// Committed payloads after `base` (versions `base+1 ..`), with the Raft index of each.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    base: u64,
    payloads: VecDeque<(u64, LogPayload)>,
}

impl Mirror {
    pub(crate) fn new(base: u64) -> Self {
        Self {
            base,
            payloads: VecDeque::new(),
        }
    }

    /// The highest committed version.
    pub(crate) fn committed(&self) -> u64 {
        self.base + self.payloads.len() as u64
    }

    /// The lowest readable version.
    pub(crate) fn first_version(&self) -> u64 {
        self.base + 1
    }

    /// Takes in newly committed entries, in order.
    pub(crate) fn ingest(&mut self, entries: &[Entry]) -> Result<()> {
        for e in entries.iter().filter(|e| !e.data.is_empty()) {
            let p = decode_payload(&e.data).map_err(|err| Error::Corrupt {
                location: format!("raft entry {}", e.index),
                reason: err.to_string(),
            })?;
            if p.version != self.committed() + 1 {
                return Err(Error::Corrupt {
                    location: format!("raft entry {}", e.index),
                    reason: format!("version {} after {}", p.version, self.committed()),
                });
            }
            self.payloads.push_back((e.index, p));
        }
        Ok(())
    }

    /// The version of the last payload at or below Raft index `index`.
    pub(crate) fn version_at(&self, index: u64) -> u64 {
        self.base + self.payloads.partition_point(|(i, _)| *i <= index) as u64
    }

    /// The Raft index holding `version`, if held.
    pub(crate) fn index_of(&self, version: u64) -> Option<u64> {
        let pos = version.checked_sub(self.base + 1)?;
        self.payloads.get(pos as usize).map(|(i, _)| *i)
    }

    /// Committed payloads from `from`, at most `max`.
    pub(crate) fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        if from < self.first_version() {
            return Err(Error::InvalidArgument(format!(
                "version {from} was compacted (first readable is {})",
                self.first_version()
            )));
        }
        let skip = (from - self.first_version()) as usize;
        Ok(self
            .payloads
            .iter()
            .skip(skip)
            .take(max)
            .map(|(_, p)| p.clone())
            .collect())
    }

    /// Drops payloads at or below Raft index `index`; returns the new base version.
    pub(crate) fn compact_to_index(&mut self, index: u64) -> u64 {
        while self.payloads.front().is_some_and(|(i, _)| *i <= index) {
            self.payloads.pop_front();
            self.base += 1;
        }
        self.base
    }
}
