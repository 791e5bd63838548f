//! The committed entries as rig sees them: payloads with gap-free versions. Raft indexes also
//! hold leaders' no-op entries (empty data), which carry no version and are skipped here.
//! Payloads are kept encoded (sharing the entries' buffers) and decoded again when read: the
//! mirror costs no copy per entry, and reads are rare next to appends on a leader.

use std::collections::VecDeque;

use bytes::Bytes;
use rig_core::codec::{decode_payload, Reader, PAYLOAD_FORMAT};
use rig_core::{Error, LogPayload, Result};

use crate::core::{is_control, Entry};

/// Committed payloads after `base` (versions `base+1 ..`), with the Raft index of each.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    base: u64,
    /// A Raft index at which the state is `base` (the compaction point or the snapshot's).
    base_index: u64,
    payloads: VecDeque<(u64, Bytes)>,
}

/// The version a payload carries, read without decoding the rest (which [`decode`] checks when
/// the payload is read).
pub(crate) fn version_of(index: u64, data: &[u8]) -> Result<u64> {
    let mut r = Reader::new(data);
    let corrupt = |reason: String| Error::Corrupt {
        location: format!("raft entry {index}"),
        reason,
    };
    match r.u8("format") {
        Ok(PAYLOAD_FORMAT) => r.varint("version").map_err(|e| corrupt(e.to_string())),
        Ok(other) => Err(corrupt(format!("unknown payload format {other}"))),
        Err(e) => Err(corrupt(e.to_string())),
    }
}

fn decode(index: u64, data: &[u8]) -> Result<LogPayload> {
    decode_payload(data).map_err(|err| Error::Corrupt {
        location: format!("raft entry {index}"),
        reason: err.to_string(),
    })
}

impl Mirror {
    /// An empty mirror at version `base`, reached at Raft index `base_index`.
    pub(crate) fn new(base: u64, base_index: u64) -> Self {
        Self {
            base,
            base_index,
            payloads: VecDeque::new(),
        }
    }

    /// The Raft index at which the state is version `version`, if held (`base` included).
    pub(crate) fn index_at_version(&self, version: u64) -> Option<u64> {
        if version == self.base {
            return Some(self.base_index);
        }
        self.index_of(version)
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
    pub(crate) fn ingest(&mut self, entries: Vec<Entry>) -> Result<()> {
        // No-ops and control entries (memberships) carry no version.
        for e in entries
            .into_iter()
            .filter(|e| !e.data.is_empty() && !is_control(&e.data))
        {
            let version = version_of(e.index, &e.data)?;
            if version != self.committed() + 1 {
                return Err(Error::Corrupt {
                    location: format!("raft entry {}", e.index),
                    reason: format!("version {version} after {}", self.committed()),
                });
            }
            // Moved, not cloned: one reference count fewer per entry.
            self.payloads.push_back((e.index, e.data));
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
        self.payloads
            .range(skip.min(self.payloads.len())..)
            .take(max)
            .map(|(i, data)| decode(*i, data))
            .collect()
    }

    /// Drops payloads at or below Raft index `index`; returns the new base version.
    pub(crate) fn compact_to_index(&mut self, index: u64) -> u64 {
        while self.payloads.front().is_some_and(|(i, _)| *i <= index) {
            self.payloads.pop_front();
            self.base += 1;
        }
        self.base_index = self.base_index.max(index);
        self.base
    }
}
