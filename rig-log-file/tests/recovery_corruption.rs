//! Damaged files: every region of a segment and of a snapshot. Each damage is detected as
//! `Corrupt` naming the file, or repaired when it is a torn tail at the very end.
// Tests damage the files directly, behind the log's back.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{append_n, op, read_all, rt, small};
use rig_core::{Error, Log, Snapshot};
use rig_log_file::FileLog;

const HEADER: u64 = 32;
const RECORDS: u64 = 600;

/// A closed log of `RECORDS` entries over several segments; returns its segments holding data.
fn build(dir: &Path) -> Vec<PathBuf> {
    rt().block_on(async {
        let log = FileLog::open(dir, small()).unwrap();
        append_n(&log, 1, RECORDS).await;
        log.save_snapshot(Snapshot {
            version: 10,
            data: Bytes::from_static(b"snapshot state"),
        })
        .await
        .unwrap();
        log.close().await.unwrap();
    });
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".seg") && !n.starts_with("free-")
        })
        .filter(|p| std::fs::read(p).unwrap()[HEADER as usize..HEADER as usize + 4] != [0; 4])
        .collect();
    segs.sort();
    assert!(segs.len() >= 3, "{segs:?}");
    segs
}

/// `(offset, total length)` of every record frame in a segment file.
fn records(path: &Path) -> Vec<(u64, u64)> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = HEADER as usize;
    loop {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        if len == 0 {
            return out;
        }
        out.push((off as u64, 8 + len as u64));
        off += 8 + len;
    }
}

fn flip(path: &Path, offset: u64, bit: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 1 << bit;
    std::fs::write(path, bytes).unwrap();
}

fn open(dir: &Path) -> Result<FileLog, Error> {
    FileLog::open(dir, small())
}

fn assert_corrupt_at(result: Result<FileLog, Error>, path: &Path, region: &str) {
    match result {
        Err(Error::Corrupt { location, reason }) => {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                location.contains(&*name),
                "{region}: location {location} should name {name} ({reason})"
            );
            assert!(
                location.contains("offset"),
                "{region}: location {location} should give an offset"
            );
        }
        Err(e) => panic!("{region}: expected Corrupt, got {e}"),
        Ok(_) => panic!("{region}: damage went unnoticed"),
    }
}

/// Every region of a segment that is not the last one: header, length, checksum, payload.
#[test]
fn damage_in_an_earlier_segment_is_corrupt() {
    let recs_of_middle = {
        let dir = tempfile::tempdir().unwrap();
        let segs = build(dir.path());
        records(&segs[1])
    };
    let (first_off, first_len) = recs_of_middle[0];
    let (mid_off, mid_len) = recs_of_middle[recs_of_middle.len() / 2];
    let (last_off, last_len) = *recs_of_middle.last().unwrap();
    let cases: Vec<(&str, u64)> = vec![
        ("header magic", 0),
        ("header format", 8),
        ("header segment id", 16),
        ("header checksum", 24),
        ("first record length", first_off),
        ("first record length high byte", first_off + 3),
        ("first record checksum", first_off + 5),
        ("first record payload", first_off + 8 + first_len / 2 - 4),
        ("middle record length", mid_off + 1),
        ("middle record checksum", mid_off + 7),
        ("middle record payload", mid_off + mid_len - 1),
        (
            "last record of the segment, payload",
            last_off + last_len - 2,
        ),
        ("last record of the segment, length", last_off),
    ];
    for (region, offset) in cases {
        for bit in [0u8, 6] {
            let dir = tempfile::tempdir().unwrap();
            let segs = build(dir.path());
            flip(&segs[1], offset, bit);
            assert_corrupt_at(open(dir.path()), &segs[1], region);
        }
    }
}

#[test]
fn damage_followed_by_good_records_in_the_last_segment_is_corrupt() {
    for pick in ["first", "middle"] {
        for field in [0u64, 4, 9] {
            let dir = tempfile::tempdir().unwrap();
            let segs = build(dir.path());
            let last = segs.last().unwrap();
            let recs = records(last);
            assert!(recs.len() >= 3);
            let (off, _) = if pick == "first" {
                recs[0]
            } else {
                recs[recs.len() / 2]
            };
            flip(last, off + field, 2);
            assert_corrupt_at(
                open(dir.path()),
                last,
                &format!("{pick} record of the last segment, byte {field}"),
            );
        }
    }
    // The header of the last segment too.
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path());
    flip(segs.last().unwrap(), 3, 0);
    assert_corrupt_at(
        open(dir.path()),
        segs.last().unwrap(),
        "last segment header",
    );
}

#[test]
fn a_damaged_or_torn_final_record_is_repaired_as_a_torn_tail() {
    // Bit flips in the final record's length, checksum and payload, and a half-written record.
    type Damage = Box<dyn Fn(&Path, u64, u64)>;
    let damage: Vec<(&str, Damage)> = vec![
        ("length", Box::new(|p, off, _| flip(p, off, 1))),
        ("checksum", Box::new(|p, off, _| flip(p, off + 6, 3))),
        ("payload", Box::new(|p, off, len| flip(p, off + len - 1, 0))),
        (
            "half written",
            Box::new(|p, off, len| {
                let mut bytes = std::fs::read(p).unwrap();
                bytes[(off + len / 2) as usize..(off + len) as usize].fill(0);
                std::fs::write(p, bytes).unwrap();
            }),
        ),
    ];
    for (what, damage) in damage {
        let dir = tempfile::tempdir().unwrap();
        let segs = build(dir.path());
        let last = segs.last().unwrap();
        let (off, len) = *records(last).last().unwrap();
        damage(last, off, len);
        rt().block_on(async {
            let log = open(dir.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(log.committed(), RECORDS - 1, "{what}");
            let all = read_all(&log, 1).await;
            assert!(
                all.iter()
                    .zip(1..)
                    .all(|(p, v)| p.version == v && p.op == op(v)),
                "{what}"
            );
            // The tail was zeroed: the next append reuses the version and the log reopens clean.
            assert_eq!(
                log.append(vec![op(RECORDS)], rig_core::Durability::Local)
                    .await
                    .unwrap(),
                RECORDS,
                "{what}"
            );
            log.close().await.unwrap();
            let log = open(dir.path()).unwrap();
            assert_eq!(log.committed(), RECORDS, "{what}");
        });
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail_and_stale_records_never_pass() {
    let dir = tempfile::tempdir().unwrap();
    let segs = build(dir.path());
    let last = segs.last().unwrap();
    let (off, len) = *records(last).last().unwrap();
    let end = off + len;
    // Copy a whole valid record from another segment after the end: under the last segment's
    // salt it does not verify, so it is stale bytes, not data.
    let donor = std::fs::read(&segs[0]).unwrap();
    let (doff, dlen) = records(&segs[0])[0];
    let mut bytes = std::fs::read(last).unwrap();
    bytes[end as usize..(end + dlen) as usize]
        .copy_from_slice(&donor[doff as usize..(doff + dlen) as usize]);
    std::fs::write(last, bytes).unwrap();
    rt().block_on(async {
        let log = open(dir.path()).unwrap();
        assert_eq!(log.committed(), RECORDS);
        assert_eq!(read_all(&log, 1).await.len() as u64, RECORDS);
    });
    // Repaired: the bytes after the end are zero again.
    let bytes = std::fs::read(last).unwrap();
    assert!(bytes[end as usize..].iter().all(|b| *b == 0));
}

#[test]
fn every_region_of_a_snapshot_file_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let snap = dir.path().join("snap-00000000000000000010.snap");
    let len = std::fs::metadata(&snap).unwrap().len();
    // magic, format, version, length, data, checksum
    for offset in [0, 9, 17, 25, 33, len - 2] {
        let original = std::fs::read(&snap).unwrap();
        flip(&snap, offset, 4);
        rt().block_on(async {
            let log = open(dir.path()).unwrap();
            match log.load_snapshot().await {
                Err(Error::Corrupt { location, .. }) => {
                    assert!(location.contains("snap-"), "{location}")
                }
                other => panic!("offset {offset}: expected Corrupt, got {other:?}"),
            }
            log.close().await.unwrap();
        });
        std::fs::write(&snap, original).unwrap();
    }
    rt().block_on(async {
        let log = open(dir.path()).unwrap();
        assert_eq!(log.load_snapshot().await.unwrap().unwrap().version, 10);
    });
}
