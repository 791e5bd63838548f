//! Reading committed entries back from the segment files, verifying every record.

use rig_core::codec::{self, RecordRead, RECORD_HEADER_LEN};
use rig_core::{Error, LogPayload, Result};

use crate::errors::io_err;
use crate::segment::Segment;
use crate::shared::Shared;

/// Bytes read from a file per request (more when one record is larger).
const READ_CHUNK: u64 = 1 << 20;

std::thread_local! {
    /// The read buffer of each (blocking-pool) thread, kept between reads: a fresh 1 MiB
    /// allocation per read costs page faults that dominate replay.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Up to `max` committed entries from version `from` on.
pub(crate) fn read_range(shared: &Shared, from: u64, max: usize) -> Result<Vec<LogPayload>> {
    let committed = shared.committed.get();
    if max == 0 || from > committed {
        return Ok(Vec::new());
    }
    let first = shared.first_version();
    if from < first {
        return Err(Error::InvalidArgument(format!(
            "version {from} was compacted (first readable is {first})"
        )));
    }
    let last = committed.min(from.saturating_add(max as u64 - 1));
    let mut out = Vec::with_capacity((last - from + 1).min(4096) as usize);
    for seg in shared.segments() {
        let next = from + out.len() as u64;
        if next > last {
            break;
        }
        // Copy what this read needs under the lock (not the whole index).
        let (first, seg_last, end, (v, offset)) = {
            let st = seg.state();
            (st.first, st.last, st.end, st.seek(next))
        };
        match first {
            Some(f) if seg_last >= next => {
                if f > next {
                    return Err(Error::corrupt(
                        seg.at(0),
                        format!("segment starts at version {f}, version {next} is missing"),
                    ));
                }
            }
            _ => continue,
        }
        read_segment(&seg, v, offset, end, next, last, &mut out)?;
    }
    let want = last - from + 1;
    if (out.len() as u64) < want {
        return Err(Error::corrupt(
            shared.dir.display().to_string(),
            format!(
                "committed version {last} is missing (read ended at {})",
                from + out.len() as u64 - 1
            ),
        ));
    }
    Ok(out)
}

/// Decodes records of `seg` from `offset` (where version `v` starts) up to `end`, keeping those
/// from `next` through `last`.
fn read_segment(
    seg: &Segment,
    v: u64,
    offset: u64,
    end: u64,
    next: u64,
    last: u64,
    out: &mut Vec<LogPayload>,
) -> Result<()> {
    READ_BUF.with(|b| {
        let mut buf = b.borrow_mut();
        read_into(seg, &mut buf, v, offset, end, next, last, out)
    })
}

#[allow(clippy::too_many_arguments)]
fn read_into(
    seg: &Segment,
    buf: &mut Vec<u8>,
    mut v: u64,
    mut offset: u64,
    end: u64,
    mut next: u64,
    last: u64,
    out: &mut Vec<LogPayload>,
) -> Result<()> {
    while offset < end && next <= last {
        let mut n = READ_CHUNK.min(end - offset) as usize;
        buf.resize(n, 0);
        read_at(seg, buf, offset)?;
        let mut i = 0;
        while i < n && next <= last {
            match codec::decode_record(&buf[i..n], seg.salt) {
                RecordRead::Record { payload, len } => {
                    if payload.version != v {
                        return Err(Error::corrupt(
                            seg.at(offset + i as u64),
                            format!(
                                "record holds version {} where {v} was expected",
                                payload.version
                            ),
                        ));
                    }
                    if v >= next {
                        out.push(payload);
                        next += 1;
                    }
                    v += 1;
                    i += len;
                }
                RecordRead::Incomplete if i > 0 => break,
                RecordRead::Incomplete if n >= RECORD_HEADER_LEN => {
                    // One record larger than the chunk: read exactly that record.
                    let body = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as u64;
                    let need = RECORD_HEADER_LEN as u64 + body;
                    if offset + need > end {
                        return Err(Error::corrupt(
                            seg.at(offset),
                            "record runs past the written end",
                        ));
                    }
                    n = need as usize;
                    buf.resize(n, 0);
                    read_at(seg, buf, offset)?;
                }
                RecordRead::Incomplete => {
                    return Err(Error::corrupt(
                        seg.at(offset),
                        "record runs past the written end",
                    ))
                }
                RecordRead::Empty => {
                    return Err(Error::corrupt(
                        seg.at(offset + i as u64),
                        "zeros where a record was written",
                    ))
                }
                RecordRead::Corrupt(e) => {
                    return Err(Error::corrupt(seg.at(offset + i as u64), e.to_string()))
                }
            }
        }
        offset += i as u64;
    }
    Ok(())
}

fn read_at(seg: &Segment, buf: &mut [u8], offset: u64) -> Result<()> {
    seg.file.read_exact_at(buf, offset).map_err(|e| {
        io_err(
            format!("reading {} bytes at {}", buf.len(), seg.at(offset)),
            e,
        )
    })
}
