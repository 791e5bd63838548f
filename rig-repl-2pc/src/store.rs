//! [`Store`]: a node's durable local log of [`Record`]s in a `FileLog`, and the [`LogState`] they
//! rebuild.
//!
//! Each record is one `FileLog` entry (method `2pc`, data = tag ‖ varints ‖ payload codec). The
//! `FileLog`'s own versions are local record numbers, unrelated to replicated versions.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut, BytesMut};
use rig_core::codec::{decode_payload, encode_payload, put_varint, Reader};
use rig_core::sync::Watermark;
use rig_core::{AppendFuture, Durability, Error, Log, LogPayload, Operation, Result};
use rig_log_file::FileLog;

use crate::state::{LogState, Record};

const METHOD: &str = "2pc";
const READ_CHUNK: usize = 4096;

/// A node's local log and its state.
#[derive(Debug)]
pub(crate) struct Store {
    file: FileLog,
    state: Mutex<LogState>,
    /// One writer at a time, so records reach the file in the order they are applied.
    writer: tokio::sync::Mutex<()>,
    /// The committed version, for `wait_committed`.
    committed: Arc<Watermark>,
    /// Tests: while `true`, lazily persisted records do not report durable (a slow fsync).
    #[cfg(test)]
    pub(crate) hold_lazy: tokio::sync::watch::Sender<bool>,
}

fn encode(record: &Record) -> Operation {
    let mut b = BytesMut::new();
    match record {
        Record::Prepare { version, op } => {
            b.put_u8(1);
            encode_payload(
                &LogPayload {
                    version: *version,
                    op: op.clone(),
                },
                &mut b,
            );
        }
        Record::Commit { through } => {
            b.put_u8(2);
            put_varint(&mut b, *through);
        }
        Record::Rollback { from } => {
            b.put_u8(3);
            put_varint(&mut b, *from);
        }
        Record::Epoch { epoch } => {
            b.put_u8(4);
            put_varint(&mut b, *epoch);
        }
    }
    Operation::new(METHOD, b.freeze())
}

fn decode(entry: &LogPayload) -> Result<Record> {
    let bad =
        |reason: String| Error::corrupt(format!("2pc local record {}", entry.version), reason);
    if entry.op.method != METHOD {
        return Err(bad(format!("unknown record method {:?}", entry.op.method)));
    }
    let mut r = Reader::new(&entry.op.data);
    let tag = r.u8("tag").map_err(|e| bad(e.to_string()))?;
    let record = match tag {
        1 => {
            let p = decode_payload(&entry.op.data[1..]).map_err(|e| bad(e.to_string()))?;
            return Ok(Record::Prepare {
                version: p.version,
                op: p.op,
            });
        }
        2..=4 => {
            let v = r.varint("version").map_err(|e| bad(e.to_string()))?;
            match tag {
                2 => Record::Commit { through: v },
                3 => Record::Rollback { from: v },
                _ => Record::Epoch { epoch: v },
            }
        }
        t => return Err(bad(format!("unknown record tag {t}"))),
    };
    if !r.is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    Ok(record)
}

impl Store {
    /// Opens the store over `file`, replaying every record.
    pub(crate) async fn open(file: FileLog) -> Result<Self> {
        let mut state = LogState::default();
        let mut next = file.first_version();
        loop {
            let chunk = file.read(next, READ_CHUNK).await?;
            if chunk.is_empty() {
                break;
            }
            for entry in &chunk {
                let record = decode(entry)?;
                state.apply(&record).map_err(|reason| {
                    Error::corrupt(format!("2pc local record {}", entry.version), reason)
                })?;
            }
            next += chunk.len() as u64;
        }
        let committed = Arc::new(Watermark::new(state.committed()));
        Ok(Self {
            file,
            state: Mutex::new(state),
            writer: tokio::sync::Mutex::new(()),
            committed,
            #[cfg(test)]
            hold_lazy: tokio::sync::watch::channel(false).0,
        })
    }

    /// The current state (a short lock: never hold it across an await).
    pub(crate) fn state(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().expect("2pc state lock")
    }

    /// The committed watermark.
    pub(crate) fn committed(&self) -> &Arc<Watermark> {
        &self.committed
    }

    /// The local file log (snapshots are stored there).
    pub(crate) fn file(&self) -> &FileLog {
        &self.file
    }

    /// Makes `records` durable (one fsync), then applies them to the state. An error here is
    /// fatal: the caller must stop.
    pub(crate) async fn persist(&self, records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let _writer = self.writer.lock().await;
        self.state()
            .check(&records)
            .map_err(|reason| Error::corrupt("2pc log state", reason))?;
        let ops = records.iter().map(encode).collect();
        if let Err(e) = self.file.append(ops, Durability::Local).await {
            self.committed.poison(e.clone());
            return Err(e);
        }
        self.apply(&records);
        Ok(())
    }

    /// Queues `records` behind every earlier one and applies them to the state at once; the
    /// returned future resolves when they are durable (it rides the next group commit).
    pub(crate) async fn persist_lazily(&self, records: Vec<Record>) -> Result<AppendFuture> {
        let _writer = self.writer.lock().await;
        self.state()
            .check(&records)
            .map_err(|reason| Error::corrupt("2pc log state", reason))?;
        let ops = records.iter().map(encode).collect();
        let synced = self.file.append(ops, Durability::Local);
        self.apply(&records);
        #[cfg(test)]
        let synced = {
            use futures_util::FutureExt;
            let mut held = self.hold_lazy.subscribe();
            async move {
                let _ = held.wait_for(|held| !held).await;
                synced.await
            }
            .boxed()
        };
        Ok(synced)
    }

    fn apply(&self, records: &[Record]) {
        let committed = {
            let mut state = self.state();
            for r in records {
                state.apply(r).expect("checked before writing");
            }
            state.committed()
        };
        self.committed.advance(committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for r in [
            Record::Prepare {
                version: 7,
                op: Operation::new("set", "x"),
            },
            Record::Commit { through: 3 },
            Record::Rollback { from: 4 },
            Record::Epoch { epoch: 2 },
        ] {
            let entry = LogPayload {
                version: 1,
                op: encode(&r),
            };
            assert_eq!(decode(&entry).unwrap(), r);
        }
        let junk = LogPayload {
            version: 1,
            op: Operation::new("2pc", "\u{9}"),
        };
        assert!(decode(&junk).is_err());
    }
}
