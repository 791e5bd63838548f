//! How a node's [`Record`]s are stored as local log entries (method `2pc`, data = tag ‖
//! varints ‖ payload codec): each record is one `FileLog` entry, except that a run of `Prepare`
//! records at consecutive versions (a round's) is one entry holding them all (tag 6, the ops
//! section of the wire's `Prepare`): one checksum, one allocation and one index entry per round
//! instead of per op. Tag 1 (one prepare per entry, written before runs) is still read; an
//! older reader fails cleanly on tag 6 (an unknown tag).

use bytes::{BufMut, BytesMut};
use rig_core::codec::{decode_payload, encode_payload, put_varint, Reader};
use rig_core::{Error, LogPayload, Operation, Result};

use crate::proto::{get_ops, ops_len_hint, put_ops_lent};
use crate::state::Record;

/// The `FileLog` method of every local entry.
pub(crate) const METHOD: &str = "2pc";
/// The tag of a local entry holding a run of prepares (tags 1 to 5 hold one record each).
const PREPARES: u8 = 6;

/// One record's entry (not for prepares: they go in runs, see [`encode_all`]).
pub(crate) fn encode(record: &Record) -> Operation {
    let mut b = BytesMut::new();
    match record {
        // (Tag 1, one prepare per entry, is still read: logs written before runs.)
        Record::Prepare { .. } => unreachable!("prepares are written in runs (encode_prepares)"),
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
        Record::Checkpoint {
            base,
            committed,
            epoch,
            tail,
        } => {
            b.put_u8(5);
            put_varint(&mut b, *base);
            put_varint(&mut b, *committed);
            put_varint(&mut b, *epoch);
            put_varint(&mut b, tail.len() as u64);
            let mut one = BytesMut::new();
            for (i, op) in tail.iter().enumerate() {
                one.clear();
                let p = LogPayload {
                    version: base + 1 + i as u64,
                    op: op.clone(),
                };
                encode_payload(&p, &mut one);
                put_varint(&mut b, one.len() as u64);
                b.put_slice(&one);
            }
        }
    }
    Operation::new(METHOD, b.freeze())
}

/// A run of prepares whose ops section is encoded already (a round's, for its `Prepare`, or
/// the section of a `Prepare` a replica received): [`encode_all`] writes it as is instead of
/// encoding the ops again.
#[derive(Debug)]
pub(crate) struct EncodedRun {
    /// The version of the run's first op.
    pub(crate) first: u64,
    /// How many ops the section holds.
    pub(crate) count: usize,
    /// The section, as `proto::encode_ops_section` writes it, of exactly those ops.
    pub(crate) section: bytes::Bytes,
}

/// The local log entries for `records`: each run of `Prepare` records at consecutive versions
/// (a round's, or what a replica takes from one message) is ONE entry (tag 6: the ops section
/// of the wire's `Prepare`), every other record an entry of its own. The ops are lent to the
/// encoder and put back, never copied; the run `encoded` names (if `records` hold it, whole)
/// is not encoded again.
pub(crate) fn encode_all(records: &mut [Record], encoded: Option<&EncodedRun>) -> Vec<Operation> {
    let mut entries = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let mut run = prepare_run(rest);
        let reuse = match (&rest[0], encoded) {
            (Record::Prepare { version, .. }, Some(e)) => *version == e.first && run >= e.count,
            _ => false,
        };
        if let (true, Some(e)) = (reuse, encoded) {
            run = e.count;
        }
        let (head, tail) = rest.split_at_mut(run.max(1));
        entries.push(match (run, encoded) {
            (0, _) => encode(&head[0]),
            (_, Some(e)) if reuse => {
                let mut b = BytesMut::with_capacity(1 + e.section.len());
                b.put_u8(PREPARES);
                b.put_slice(&e.section);
                Operation::new(METHOD, b.freeze())
            }
            _ => encode_prepares(head),
        });
        rest = tail;
    }
    entries
}

/// How many `Prepare` records at consecutive versions start `records`.
fn prepare_run(records: &[Record]) -> usize {
    let mut next = None;
    records
        .iter()
        .take_while(|r| match r {
            Record::Prepare { version, .. } if next.is_none_or(|n| n == *version) => {
                next = Some(version + 1);
                true
            }
            _ => false,
        })
        .count()
}

/// One entry (tag 6) for a run of `Prepare` records at consecutive versions.
fn encode_prepares(run: &mut [Record]) -> Operation {
    let mut ops: Vec<Operation> = run
        .iter_mut()
        .map(|r| match r {
            Record::Prepare { op, .. } => {
                std::mem::replace(op, Operation::new(String::new(), bytes::Bytes::new()))
            }
            _ => unreachable!("a run holds only prepares"),
        })
        .collect();
    let Some(Record::Prepare { version: first, .. }) = run.first() else {
        unreachable!("a run holds one prepare at least")
    };
    let mut b = BytesMut::with_capacity(1 + ops_len_hint(&ops));
    b.put_u8(PREPARES);
    put_ops_lent(&mut b, *first, &mut ops);
    for (r, lent) in run.iter_mut().zip(ops) {
        if let Record::Prepare { op, .. } = r {
            *op = lent;
        }
    }
    Operation::new(METHOD, b.freeze())
}

/// The records one local log entry holds (several for a run of prepares).
pub(crate) fn decode(entry: &LogPayload) -> Result<Vec<Record>> {
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
            return Ok(vec![Record::Prepare {
                version: p.version,
                op: p.op,
            }]);
        }
        PREPARES => {
            let (first, ops) = get_ops(&mut r).map_err(bad)?;
            if !r.is_empty() {
                return Err(bad("trailing bytes".into()));
            }
            if first == 0 || ops.is_empty() {
                return Err(bad(format!("{} prepares from version {first}", ops.len())));
            }
            let records = ops.into_iter().enumerate();
            return Ok(records
                .map(|(i, op)| Record::Prepare {
                    version: first + i as u64,
                    op,
                })
                .collect());
        }
        2..=4 => {
            let v = r.varint("version").map_err(|e| bad(e.to_string()))?;
            match tag {
                2 => Record::Commit { through: v },
                3 => Record::Rollback { from: v },
                _ => Record::Epoch { epoch: v },
            }
        }
        5 => {
            let e = |e: rig_core::codec::CodecError| bad(e.to_string());
            let base = r.varint("base").map_err(e)?;
            let committed = r.varint("committed").map_err(e)?;
            let epoch = r.varint("epoch").map_err(e)?;
            let n = r.varint("count").map_err(e)?;
            let mut tail = Vec::new();
            for i in 0..n {
                let len = r.len("entry length", usize::MAX).map_err(e)?;
                let p = decode_payload(r.take(len, "entry").map_err(e)?).map_err(e)?;
                if Some(p.version) != base.checked_add(i + 1) {
                    return Err(bad(format!(
                        "checkpoint entry {i} has version {}",
                        p.version
                    )));
                }
                tail.push(p.op);
            }
            Record::Checkpoint {
                base,
                committed,
                epoch,
                tail,
            }
        }
        t => return Err(bad(format!("unknown record tag {t}"))),
    };
    if !r.is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    Ok(vec![record])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(version: u64, data: &str) -> Record {
        Record::Prepare {
            version,
            op: Operation::new("set", data.to_string()),
        }
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            prep(7, "x"),
            prep(8, "y"),
            Record::Commit { through: 3 },
            Record::Rollback { from: 4 },
            Record::Epoch { epoch: 2 },
            Record::Checkpoint {
                base: 4,
                committed: 5,
                epoch: 2,
                tail: vec![Operation::new("a", "1"), Operation::new("b", "")],
            },
            prep(9, ""),
            prep(11, "z"),
        ];
        let mut lent = records.clone();
        let entries = encode_all(&mut lent, None);
        assert_eq!(lent, records, "the ops lent to the encoder are put back");
        // 7..=8 in one entry, one entry per other record, 9 and 11 (not consecutive) apart.
        assert_eq!(entries.len(), 7);
        let decoded: Vec<Record> = entries
            .into_iter()
            .flat_map(|op| decode(&LogPayload { version: 1, op }).unwrap())
            .collect();
        assert_eq!(decoded, records);

        // A run encoded already is written as is: the same entries.
        let mut ops = vec![Operation::new("set", "x"), Operation::new("set", "y")];
        let encoded = EncodedRun {
            first: 7,
            count: 2,
            section: crate::proto::encode_ops_section(7, &mut ops),
        };
        let mut again = records.clone();
        let reused = encode_all(&mut again, Some(&encoded));
        assert_eq!(reused, encode_all(&mut records.clone(), None));
        // A run that is not the one named (it starts elsewhere) is encoded as usual.
        let mut shifted = records[1..].to_vec();
        let reused = encode_all(&mut shifted, Some(&encoded));
        assert_eq!(reused, encode_all(&mut records[1..].to_vec(), None));

        // One prepare per entry (tag 1), as written before runs, still reads.
        let mut old = BytesMut::new();
        old.put_u8(1);
        let p = LogPayload {
            version: 7,
            op: Operation::new("set", "x"),
        };
        encode_payload(&p, &mut old);
        let entry = LogPayload {
            version: 1,
            op: Operation::new(METHOD, old.freeze()),
        };
        assert_eq!(decode(&entry).unwrap(), vec![prep(7, "x")]);

        // An empty run, and one with trailing bytes, are refused.
        let empty = LogPayload {
            version: 1,
            op: Operation::new(METHOD, vec![PREPARES, 5, 0]),
        };
        assert!(decode(&empty).is_err());
        let mut run = encode_all(&mut [prep(3, "x")], None)
            .remove(0)
            .data
            .to_vec();
        run.push(0);
        let trailing = LogPayload {
            version: 1,
            op: Operation::new(METHOD, run),
        };
        assert!(decode(&trailing).is_err());
        let junk = LogPayload {
            version: 1,
            op: Operation::new("2pc", "\u{9}"),
        };
        assert!(decode(&junk).is_err());
    }
}
