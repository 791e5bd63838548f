//! The core's in-memory log keeps one frame buffer per append (a batch) and serves stream
//! ranges as slices of it. Whatever the batches, truncations and compactions, a range of the
//! stream must equal the same range of the frames encoded from scratch.

use bytes::{Bytes, BytesMut};
use rig_raft_lite::core::stream::encode_frames;
use rig_raft_lite::core::{Entry, MemLog};

fn entry(index: u64, term: u64) -> Entry {
    let len = (index as usize * 7) % 23;
    Entry {
        term,
        index,
        data: Bytes::from(vec![index as u8; len]),
    }
}

fn batch(from: u64, to: u64, term: u64) -> Vec<Entry> {
    (from..=to).map(|i| entry(i, term)).collect()
}

/// The stream of `entries` (the first after an entry of `prev_term`) encoded in one go.
fn expected_stream(entries: &[Entry], prev_term: u64) -> Bytes {
    let mut out = BytesMut::new();
    encode_frames(entries, prev_term, &mut out);
    out.freeze()
}

/// Reads the whole stream from entry `from` in pieces of `piece` bytes.
fn read_all(log: &MemLog, from: u64, piece: usize) -> Vec<u8> {
    let (mut next, mut skip, mut out) = (from, 0usize, Vec::new());
    loop {
        let (bytes, n, s) = log.read_stream(next, skip, piece, usize::MAX);
        if bytes.is_empty() {
            return out;
        }
        out.extend_from_slice(&bytes);
        (next, skip) = (n, s);
    }
}

#[test]
fn ranges_across_batches_truncations_and_compaction_match_one_encoding() {
    let mut log = MemLog::default();
    log.truncate_append(&batch(1, 5, 1));
    log.truncate_append(&batch(6, 9, 1));
    // Replaces 7..=9 of the second batch: its tail must not leak into the stream.
    log.truncate_append(&batch(7, 12, 2));
    log.truncate_append(&batch(13, 13, 2));
    let mut all = batch(1, 6, 1);
    all.extend(batch(7, 13, 2));
    let want = expected_stream(&all, 0);

    for piece in [1, 5, 32, 33, 100, 10_000] {
        assert_eq!(read_all(&log, 1, piece), want, "piece {piece}");
    }
    assert_eq!(log.frames(1, 13, usize::MAX, usize::MAX), want);
    // Frames of 4..=8 span three batches.
    let start = log.end_pos(3).expect("held") as usize;
    let end = log.end_pos(8).expect("held") as usize;
    assert_eq!(
        log.frames(4, 8, usize::MAX, usize::MAX),
        want.slice(start..end)
    );
    for i in 1..=13 {
        let (s, e) = (log.end_pos(i - 1).unwrap(), log.end_pos(i).unwrap());
        let frame = log.frame(i).expect("held");
        assert_eq!(frame, want.slice(s as usize..e as usize), "frame {i}");
        assert_eq!(log.frame_len(i), Some(frame.len()));
    }

    // Compacting through the middle of a batch keeps the rest of it readable.
    log.compact(8);
    let from = log.end_pos(8).expect("the compaction point") as usize;
    assert_eq!(read_all(&log, 9, 7), want.slice(from..));
    assert_eq!(log.frame(8), None);
    log.truncate_append(&batch(14, 15, 3));
    let mut tail = batch(9, 12, 2);
    tail.extend(batch(13, 13, 2));
    tail.extend(batch(14, 15, 3));
    assert_eq!(read_all(&log, 9, 3), expected_stream(&tail, 2));
    // Compacting everything, then appending, starts a fresh batch at the same position.
    log.compact(15);
    assert_eq!(read_all(&log, 16, 64), Vec::<u8>::new());
    log.truncate_append(&batch(16, 17, 3));
    assert_eq!(
        read_all(&log, 16, 64),
        expected_stream(&batch(16, 17, 3), 3)
    );
}
