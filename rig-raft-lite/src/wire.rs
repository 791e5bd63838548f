//! The binary form of [`Message`]s on a link: a format byte, a kind byte, then fixed-width
//! little-endian fields; byte ranges of the log stream (appends, fetched frames) and snapshot
//! chunks are length-prefixed bytes.

use bytes::{BufMut, Bytes, BytesMut};
use rig_core::codec::{CodecError, Reader};

use crate::core::{Membership, Message, StoredMembership};

/// The wire format version.
/// Version 2: appends carry byte ranges of the leader's stream (frames), not entries.
pub const WIRE_FORMAT: u8 = 2;

/// Encodes `msg`.
///
/// ```
/// use rig_raft_lite::{core::Message, wire};
/// let m = Message::Vote { term: 3, last_index: 9, last_term: 2, force: true };
/// assert_eq!(wire::decode(&wire::encode(&m)).unwrap(), m);
/// ```
pub fn encode(msg: &Message) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(WIRE_FORMAT);
    let words: Vec<u64> = match msg {
        Message::PreVote {
            term,
            last_index,
            last_term,
        } => {
            b.put_u8(0);
            vec![*term, *last_index, *last_term]
        }
        Message::PreVoteResp { term, granted } => {
            b.put_u8(1);
            vec![*term, u64::from(*granted)]
        }
        Message::Vote {
            term,
            last_index,
            last_term,
            force,
        } => {
            b.put_u8(2);
            vec![*term, *last_index, *last_term, u64::from(*force)]
        }
        Message::VoteResp { term, granted } => {
            b.put_u8(3);
            vec![*term, u64::from(*granted)]
        }
        Message::Append {
            term,
            prev_index,
            prev_term,
            base,
            start,
            cont,
            bytes,
            commit,
            durable,
        } => {
            b.put_u8(4);
            let (cont_term, cont_len) = cont.unwrap_or((0, 0));
            for w in [*term, *prev_index, *prev_term, *base, *start] {
                b.put_u64_le(w);
            }
            for w in [
                u64::from(cont.is_some()),
                cont_term,
                cont_len,
                *commit,
                *durable,
            ] {
                b.put_u64_le(w);
            }
            put_bytes(&mut b, bytes);
            return b.freeze();
        }
        Message::AppendResp {
            term,
            index,
            persisted,
            reject,
            received,
        } => {
            b.put_u8(5);
            vec![
                *term,
                *index,
                *persisted,
                u64::from(reject.is_some()),
                reject.unwrap_or(0),
                *received,
            ]
        }
        Message::Heartbeat {
            term,
            commit,
            durable,
            floor,
            seq,
        } => {
            b.put_u8(6);
            vec![*term, *commit, *durable, *floor, *seq]
        }
        Message::HeartbeatResp { term, seq } => {
            b.put_u8(7);
            vec![*term, *seq]
        }
        Message::TimeoutNow { term } => {
            b.put_u8(8);
            vec![*term]
        }
        Message::Fetch { term, from, to } => {
            b.put_u8(11);
            vec![*term, *from, *to]
        }
        Message::FetchResp {
            term,
            prev_index,
            prev_term,
            bytes,
            lacking,
        } => {
            b.put_u8(12);
            for w in [*term, *prev_index, *prev_term, u64::from(*lacking)] {
                b.put_u64_le(w);
            }
            put_bytes(&mut b, bytes);
            return b.freeze();
        }
        Message::Snapshot {
            term,
            index,
            snap_term,
            offset,
            total,
            data,
        } => {
            b.put_u8(13);
            for w in [*term, *index, *snap_term, *offset, *total] {
                b.put_u64_le(w);
            }
            put_bytes(&mut b, data);
            return b.freeze();
        }
        Message::SnapshotResp {
            term,
            index,
            next,
            done,
        } => {
            b.put_u8(14);
            vec![*term, *index, *next, u64::from(*done)]
        }
        Message::Join { id, addr } => {
            b.put_u8(9);
            b.put_u64_le(*id);
            put_bytes(&mut b, addr.as_bytes());
            return b.freeze();
        }
        Message::JoinResp { term, membership } => {
            b.put_u8(10);
            b.put_u64_le(*term);
            b.put_u64_le(membership.index);
            put_bytes(&mut b, &membership.current.encode());
            put_bytes(&mut b, &membership.previous.encode());
            return b.freeze();
        }
    };
    words.iter().for_each(|w| b.put_u64_le(*w));
    b.freeze()
}

fn bytes(r: &mut Reader<'_>, what: &'static str) -> Result<Bytes, CodecError> {
    let len = r.u32_le(what)? as usize;
    Ok(Bytes::copy_from_slice(r.take(len, what)?))
}

fn put_bytes(b: &mut BytesMut, data: &[u8]) {
    b.put_u32_le(data.len() as u32);
    b.put_slice(data);
}

fn membership(r: &mut Reader<'_>) -> Result<Membership, CodecError> {
    let len = r.u32_le("membership length")? as usize;
    Membership::decode(r.take(len, "membership")?)
}

/// Decodes a message; malformed input is an error, never a wrong message.
pub fn decode(buf: &[u8]) -> Result<Message, CodecError> {
    let mut r = Reader::new(buf);
    if r.u8("format")? != WIRE_FORMAT {
        return Err(CodecError::Invalid("unknown wire format"));
    }
    let kind = r.u8("kind")?;
    let mut w = |what| r.u64_le(what);
    let msg = match kind {
        0 => Message::PreVote {
            term: w("term")?,
            last_index: w("last index")?,
            last_term: w("last term")?,
        },
        1 => Message::PreVoteResp {
            term: w("term")?,
            granted: w("granted")? == 1,
        },
        2 => Message::Vote {
            term: w("term")?,
            last_index: w("last index")?,
            last_term: w("last term")?,
            force: w("force")? == 1,
        },
        3 => Message::VoteResp {
            term: w("term")?,
            granted: w("granted")? == 1,
        },
        4 => {
            let (term, prev_index, prev_term) = (w("term")?, w("prev index")?, w("prev term")?);
            let (base, start) = (w("base")?, w("start")?);
            let (has_cont, cont_term, cont_len) = (w("cont")?, w("cont term")?, w("cont length")?);
            let (commit, durable) = (w("commit")?, w("durable")?);
            Message::Append {
                term,
                prev_index,
                prev_term,
                base,
                start,
                cont: (has_cont == 1).then_some((cont_term, cont_len)),
                bytes: bytes(&mut r, "range")?,
                commit,
                durable,
            }
        }
        5 => {
            let (term, index, persisted, rejected, hint) = (
                w("term")?,
                w("index")?,
                w("persisted")?,
                w("rejected")?,
                w("hint")?,
            );
            Message::AppendResp {
                term,
                index,
                persisted,
                reject: (rejected == 1).then_some(hint),
                received: w("received")?,
            }
        }
        6 => Message::Heartbeat {
            term: w("term")?,
            commit: w("commit")?,
            durable: w("durable")?,
            floor: w("floor")?,
            seq: w("seq")?,
        },
        7 => Message::HeartbeatResp {
            term: w("term")?,
            seq: w("seq")?,
        },
        8 => Message::TimeoutNow { term: w("term")? },
        11 => Message::Fetch {
            term: w("term")?,
            from: w("from")?,
            to: w("to")?,
        },
        12 => {
            let (term, prev_index, prev_term) = (w("term")?, w("prev index")?, w("prev term")?);
            let lacking = w("lacking")? == 1;
            Message::FetchResp {
                term,
                prev_index,
                prev_term,
                bytes: bytes(&mut r, "frames")?,
                lacking,
            }
        }
        13 => {
            let (term, index, snap_term) = (w("term")?, w("index")?, w("snapshot term")?);
            let (offset, total) = (w("offset")?, w("total")?);
            let len = r.u32_le("chunk length")? as usize;
            let data = Bytes::copy_from_slice(r.take(len, "chunk")?);
            Message::Snapshot {
                term,
                index,
                snap_term,
                offset,
                total,
                data,
            }
        }
        14 => Message::SnapshotResp {
            term: w("term")?,
            index: w("index")?,
            next: w("next")?,
            done: w("done")? == 1,
        },
        9 => {
            let id = r.u64_le("id")?;
            let len = r.u32_le("address length")? as usize;
            let addr = std::str::from_utf8(r.take(len, "address")?)
                .map_err(|_| CodecError::Invalid("address not utf-8"))?
                .to_string();
            Message::Join { id, addr }
        }
        10 => {
            let (term, index) = (r.u64_le("term")?, r.u64_le("index")?);
            let (current, previous) = (membership(&mut r)?, membership(&mut r)?);
            Message::JoinResp {
                term,
                membership: StoredMembership {
                    index,
                    current,
                    previous,
                },
            }
        }
        _ => return Err(CodecError::Invalid("unknown message kind")),
    };
    if !r.is_empty() {
        return Err(CodecError::Invalid("trailing bytes"));
    }
    Ok(msg)
}
