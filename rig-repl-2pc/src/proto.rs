//! The messages between a primary and its replicas, and their encoding.
//!
//! Every message carries the sender's epoch; a replica refuses any message from an epoch older
//! than its own with [`Msg::Fenced`]. The link's magic and protocol version travel once, in the
//! handshake (`rig_core::net::handshake`); the first byte of every message is a tag.
//!
//! Rounds are numbered: a `Prepare` carries its round id and the `Prepared` answering it echoes
//! it, so a late answer from a timed-out, rolled-back round can never count for the next round at
//! the same versions. (Tags 2, 4 and 6 carried the same messages without round ids; they are
//! retired, so an older peer's messages fail to decode instead of being misread.)

use bytes::{BufMut, BytesMut};
use rig_core::codec::{decode_payload, encode_payload, payload_len, put_varint, Reader};
use rig_core::{LogPayload, Operation};

/// The most entries one [`Msg::Entries`] carries.
pub(crate) const MAX_ENTRIES: usize = 512;
/// The most snapshot bytes one [`Msg::Snapshot`] carries (well under the link's frame limit).
pub(crate) const SNAPSHOT_CHUNK: usize = 1 << 20;
/// The largest snapshot a replica accepts (it is assembled in memory).
pub(crate) const MAX_SNAPSHOT: u64 = 1 << 34;
const MAX_OPS: usize = 1 << 20;
/// The `Prepare` message's tag.
const PREPARE: u8 = 9;
const MAX_NAME: usize = 1 << 10;

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Primary → replica, first on every link: "I am the primary of `epoch`, committed through
    /// `committed`, holding entries through `last`". The replica rolls back its uncommitted tail
    /// and catches up with `Fetch`.
    Sync {
        epoch: u64,
        primary: String,
        committed: u64,
        last: u64,
    },
    /// Primary → replica: make `ops` durable as versions `first..` without committing them;
    /// everything through `committed` is committed.
    Prepare {
        epoch: u64,
        round: u64,
        first: u64,
        ops: Vec<Operation>,
        committed: u64,
    },
    /// Primary → replica: everything through `through` is committed.
    Commit { epoch: u64, through: u64 },
    /// Primary → replica: forget the prepared entries from `from` on (round `round` failed).
    Rollback { epoch: u64, round: u64, from: u64 },
    /// Primary → replica: committed entries from `from` on, in answer to `Fetch`.
    Entries {
        epoch: u64,
        from: u64,
        ops: Vec<Operation>,
        committed: u64,
    },
    /// Replica → primary: "I hold your log through `last`, durably", in answer to the Prepare
    /// (or Rollback) of round `round`; 0 when answering anything else.
    Prepared { epoch: u64, round: u64, last: u64 },
    /// Replica → primary: "send me committed entries from `from` on".
    Fetch { epoch: u64, from: u64 },
    /// Replica → old primary: "a newer primary, of `epoch`, took over".
    Fenced { epoch: u64 },
    /// Primary → replica: bytes `offset..` of the snapshot at `version` (`total` bytes in all),
    /// in answer to a `Fetch` of entries the primary compacted. Chunks go in order.
    Snapshot {
        epoch: u64,
        version: u64,
        offset: u64,
        total: u64,
        data: bytes::Bytes,
    },
}

impl Msg {
    /// The sender's epoch.
    pub(crate) fn epoch(&self) -> u64 {
        match self {
            Msg::Sync { epoch, .. }
            | Msg::Prepare { epoch, .. }
            | Msg::Commit { epoch, .. }
            | Msg::Rollback { epoch, .. }
            | Msg::Entries { epoch, .. }
            | Msg::Prepared { epoch, .. }
            | Msg::Fetch { epoch, .. }
            | Msg::Fenced { epoch }
            | Msg::Snapshot { epoch, .. } => *epoch,
        }
    }

    /// Encodes the message.
    pub(crate) fn encode(&self) -> bytes::Bytes {
        let mut b = BytesMut::new();
        match self {
            Msg::Sync {
                epoch,
                primary,
                committed,
                last,
            } => {
                b.put_u8(1);
                put_varint(&mut b, *epoch);
                put_varint(&mut b, primary.len() as u64);
                b.put_slice(primary.as_bytes());
                put_varint(&mut b, *committed);
                put_varint(&mut b, *last);
            }
            Msg::Prepare {
                epoch,
                round,
                first,
                ops,
                committed,
            } => {
                b.put_u8(PREPARE);
                put_varint(&mut b, *epoch);
                put_varint(&mut b, *round);
                put_varint(&mut b, *committed);
                put_ops(&mut b, *first, ops);
            }
            Msg::Commit { epoch, through } => pair(&mut b, 3, *epoch, *through),
            Msg::Rollback { epoch, round, from } => {
                pair(&mut b, 10, *epoch, *round);
                put_varint(&mut b, *from);
            }
            Msg::Entries {
                epoch,
                from,
                ops,
                committed,
            } => {
                b.put_u8(5);
                put_varint(&mut b, *epoch);
                put_varint(&mut b, *committed);
                put_ops(&mut b, *from, ops);
            }
            Msg::Prepared { epoch, round, last } => {
                pair(&mut b, 11, *epoch, *round);
                put_varint(&mut b, *last);
            }
            Msg::Fetch { epoch, from } => pair(&mut b, 7, *epoch, *from),
            Msg::Fenced { epoch } => pair(&mut b, 8, *epoch, 0),
            Msg::Snapshot {
                epoch,
                version,
                offset,
                total,
                data,
            } => {
                pair(&mut b, 12, *epoch, *version);
                put_varint(&mut b, *offset);
                put_varint(&mut b, *total);
                put_varint(&mut b, data.len() as u64);
                b.put_slice(data);
            }
        }
        b.freeze()
    }

    /// Decodes a message. Never panics, whatever `buf` holds.
    pub(crate) fn decode(buf: &[u8]) -> Result<Msg, String> {
        let mut r = Reader::new(buf);
        let e = |e: rig_core::codec::CodecError| e.to_string();
        let tag = r.u8("tag").map_err(e)?;
        let epoch = r.varint("epoch").map_err(e)?;
        let msg = match tag {
            1 => {
                let n = r.len("primary", MAX_NAME).map_err(e)?;
                let primary = String::from_utf8(r.take(n, "primary").map_err(e)?.to_vec())
                    .map_err(|_| "primary is not utf-8".to_string())?;
                let committed = r.varint("committed").map_err(e)?;
                let last = r.varint("last").map_err(e)?;
                Msg::Sync {
                    epoch,
                    primary,
                    committed,
                    last,
                }
            }
            9 | 5 => {
                let round = if tag == 9 {
                    r.varint("round").map_err(e)?
                } else {
                    0
                };
                let committed = r.varint("committed").map_err(e)?;
                let (first, ops) = get_ops(&mut r)?;
                if tag == 9 {
                    Msg::Prepare {
                        epoch,
                        round,
                        first,
                        ops,
                        committed,
                    }
                } else {
                    Msg::Entries {
                        epoch,
                        from: first,
                        ops,
                        committed,
                    }
                }
            }
            3 | 7 | 8 => {
                let v = r.varint("version").map_err(e)?;
                match tag {
                    3 => Msg::Commit { epoch, through: v },
                    7 => Msg::Fetch { epoch, from: v },
                    _ => Msg::Fenced { epoch },
                }
            }
            10 | 11 => {
                let round = r.varint("round").map_err(e)?;
                let v = r.varint("version").map_err(e)?;
                if tag == 10 {
                    Msg::Rollback {
                        epoch,
                        round,
                        from: v,
                    }
                } else {
                    Msg::Prepared {
                        epoch,
                        round,
                        last: v,
                    }
                }
            }
            12 => {
                let version = r.varint("version").map_err(e)?;
                let offset = r.varint("offset").map_err(e)?;
                let total = r.varint("total").map_err(e)?;
                let n = r.len("chunk", SNAPSHOT_CHUNK).map_err(e)?;
                let data = bytes::Bytes::copy_from_slice(r.take(n, "chunk").map_err(e)?);
                if offset.checked_add(n as u64).is_none_or(|end| end > total) {
                    return Err(format!(
                        "snapshot chunk {offset}+{n} past its total {total}"
                    ));
                }
                Msg::Snapshot {
                    epoch,
                    version,
                    offset,
                    total,
                    data,
                }
            }
            t => return Err(format!("unknown message tag {t}")),
        };
        if !r.is_empty() {
            return Err("trailing bytes after message".into());
        }
        Ok(msg)
    }
}

fn pair(b: &mut BytesMut, tag: u8, epoch: u64, v: u64) {
    b.put_u8(tag);
    put_varint(b, epoch);
    put_varint(b, v);
}

/// Appends the ops section of a `Prepare` or `Entries` message (and of the local log's
/// `Prepare` runs): `first`, the count, then each op as a length-prefixed payload.
fn put_ops(b: &mut BytesMut, first: u64, ops: &[Operation]) {
    put_varint(b, first);
    put_varint(b, ops.len() as u64);
    for (i, op) in ops.iter().enumerate() {
        put_op(b, first + i as u64, op.clone());
    }
}

/// [`put_ops`] without copying any op: each is lent to the codec (which takes an owned
/// `LogPayload`) and put back.
pub(crate) fn put_ops_lent(b: &mut BytesMut, first: u64, ops: &mut [Operation]) {
    put_varint(b, first);
    put_varint(b, ops.len() as u64);
    for (i, op) in ops.iter_mut().enumerate() {
        let lent = std::mem::replace(op, Operation::new(String::new(), bytes::Bytes::new()));
        *op = put_op(b, first + i as u64, lent);
    }
}

/// Appends `op` at `version` as a length-prefixed payload, and gives it back.
fn put_op(b: &mut BytesMut, version: u64, op: Operation) -> Operation {
    let p = LogPayload { version, op };
    put_varint(b, payload_len(&p) as u64);
    encode_payload(&p, b);
    p.op
}

/// Roughly the bytes [`put_ops`] writes for `ops` (a capacity hint).
pub(crate) fn ops_len_hint(ops: &[Operation]) -> usize {
    20 + ops
        .iter()
        .map(|op| op.method.len() + op.data.len() + 24)
        .sum::<usize>()
}

/// The ops section of `ops` as versions `first..` (as [`put_ops`] writes it), without copying
/// any op. A round encodes it once: its `Prepare` ([`prepare_frame`]) and its local entry
/// (`record_codec::EncodedRun`) carry the same bytes.
pub(crate) fn encode_ops_section(first: u64, ops: &mut [Operation]) -> bytes::Bytes {
    let mut b = BytesMut::with_capacity(ops_len_hint(ops));
    put_ops_lent(&mut b, first, ops);
    b.freeze()
}

/// A `Prepare` (as [`Msg::encode`] encodes it) around an ops section from
/// [`encode_ops_section`].
pub(crate) fn prepare_frame(
    epoch: u64,
    round: u64,
    committed: u64,
    section: &[u8],
) -> bytes::Bytes {
    let mut b = BytesMut::with_capacity(31 + section.len());
    b.put_u8(PREPARE);
    put_varint(&mut b, epoch);
    put_varint(&mut b, round);
    put_varint(&mut b, committed);
    b.put_slice(section);
    b.freeze()
}

/// The ops section of an encoded `Prepare` (`None` for any other message). Only for a frame
/// [`Msg::decode`] accepted: the section is then well-formed.
pub(crate) fn prepare_ops_section(frame: &bytes::Bytes) -> Option<bytes::Bytes> {
    let mut r = Reader::new(frame);
    if r.u8("tag").ok()? != PREPARE {
        return None;
    }
    for field in ["epoch", "round", "committed"] {
        r.varint(field).ok()?;
    }
    Some(frame.slice(r.position()..))
}

/// Reads an ops section written by [`put_ops`].
pub(crate) fn get_ops(r: &mut Reader<'_>) -> Result<(u64, Vec<Operation>), String> {
    let e = |e: rig_core::codec::CodecError| e.to_string();
    let first = r.varint("first").map_err(e)?;
    let n = r.varint("count").map_err(e)?;
    if n > MAX_OPS as u64 {
        return Err(format!("{n} operations in one message"));
    }
    let mut ops = Vec::new();
    for i in 0..n {
        let len = r.len("op length", usize::MAX).map_err(e)?;
        let p = decode_payload(r.take(len, "op").map_err(e)?).map_err(e)?;
        if Some(p.version) != first.checked_add(i) {
            return Err(format!("op {i} has version {}", p.version));
        }
        ops.push(p.op);
    }
    Ok((first, ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_prepare_around_a_section_encoded_once_is_the_message_encoding() {
        let ops = vec![Operation::new("a", "1"), Operation::new("b", "")];
        let mut lent = ops.clone();
        let section = encode_ops_section(6, &mut lent);
        assert_eq!(lent, ops, "the ops lent to the encoder are put back");
        let encoded = prepare_frame(3, 4, 5, &section);
        let msg = Msg::Prepare {
            epoch: 3,
            round: 4,
            first: 6,
            ops,
            committed: 5,
        };
        assert_eq!(encoded, msg.encode());
        assert_eq!(Msg::decode(&encoded).unwrap(), msg);
        assert_eq!(prepare_ops_section(&encoded), Some(section));
        let commit = Msg::Commit {
            epoch: 3,
            through: 5,
        };
        assert_eq!(prepare_ops_section(&commit.encode()), None);
    }

    fn all() -> Vec<Msg> {
        let ops = vec![Operation::new("a", "1"), Operation::new("b", "")];
        vec![
            Msg::Sync {
                epoch: 3,
                primary: "10.0.0.1:7000".into(),
                committed: 9,
                last: 12,
            },
            Msg::Prepare {
                epoch: 1,
                round: 5,
                first: 10,
                ops: ops.clone(),
                committed: 9,
            },
            Msg::Commit {
                epoch: 1,
                through: 11,
            },
            Msg::Rollback {
                epoch: 1,
                round: 5,
                from: 10,
            },
            Msg::Entries {
                epoch: 2,
                from: 1,
                ops,
                committed: 2,
            },
            Msg::Prepared {
                epoch: 1,
                round: 5,
                last: 11,
            },
            Msg::Fetch { epoch: 1, from: 4 },
            Msg::Fenced { epoch: 7 },
            Msg::Snapshot {
                epoch: 2,
                version: 40,
                offset: 3,
                total: 10,
                data: bytes::Bytes::from_static(b"abc"),
            },
        ]
    }

    #[test]
    fn messages_round_trip() {
        for m in all() {
            assert_eq!(Msg::decode(&m.encode()), Ok(m));
        }
        assert!(Msg::decode(&[]).is_err());
        assert!(Msg::decode(&[99, 1]).is_err());
        // The retired tags (messages without round ids) are refused, not misread.
        for tag in [2u8, 4, 6] {
            assert!(Msg::decode(&[tag, 1, 1, 1]).is_err());
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Msg::decode(&bytes);
        }

        #[test]
        fn truncated_or_flipped_messages_never_panic(i in 0usize..64, b in any::<u8>()) {
            for m in all() {
                let mut bytes = m.encode().to_vec();
                let at = i % bytes.len();
                let _ = Msg::decode(&bytes[..at]);
                bytes[at] = b;
                let _ = Msg::decode(&bytes);
            }
        }
    }
}
