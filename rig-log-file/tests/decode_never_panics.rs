//! The file log's on-disk formats from the outside, on rig-testkit's in-memory `SimFs`: random
//! batches and snapshots round-trip through a close and reopen, and whatever bytes a segment or a
//! snapshot file holds (random, damaged, or random payloads behind valid record checksums), opening
//! gives a typed error or a log whose entries read back in order: never a panic. The generators
//! are seeded, so a failure replays. (The `file_segment` fuzz target runs the same harness under
//! libFuzzer.)

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rig_core::seams::{Fs, Rand, SeededRand};
use rig_core::{Durability, Log, LogPayload, Operation, Snapshot};
use rig_log_file::{FileLog, FileLogOptions};
use rig_testkit::simfs::SimFs;

const DIR: &str = "/log";
const SEGMENT: &str = "00000000000000000001.seg";

fn options() -> FileLogOptions {
    FileLogOptions {
        segment_size: FileLogOptions::MIN_SEGMENT_SIZE,
        ..Default::default()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn open(fs: &SimFs) -> rig_core::Result<FileLog> {
    FileLog::open_with_fs(Arc::new(fs.clone()), DIR, options())
}

/// Every entry of `log`, read the way the engine replays; asserts versions are consecutive.
async fn read_all(log: &FileLog) -> Vec<LogPayload> {
    let mut out: Vec<LogPayload> = Vec::new();
    let mut from = log.first_version().max(1);
    while from <= log.committed() {
        let Ok(batch) = log.read(from, 64).await else {
            break;
        };
        let Some(last) = batch.last() else { break };
        for (i, p) in batch.iter().enumerate() {
            assert_eq!(p.version, from + i as u64, "versions out of order");
        }
        from = last.version + 1;
        out.extend(batch);
    }
    out
}

/// Opens whatever is on `fs`; if it opens, reads every entry and the snapshot, then closes.
fn open_and_read(fs: &SimFs) {
    let Ok(log) = open(fs) else { return };
    block_on(async {
        read_all(&log).await;
        let _ = log.load_snapshot().await;
        log.close().await.unwrap();
    });
}

fn write(fs: &SimFs, name: &str, bytes: &[u8]) {
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).unwrap();
    let f = fs.open(&dir.join(name), true).unwrap();
    f.set_len(0).unwrap();
    f.write_at(bytes, 0).unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(dir).unwrap();
}

fn random_bytes(rand: &SeededRand, max: u64) -> Vec<u8> {
    (0..rand.below(max + 1))
        .map(|_| rand.next_u64() as u8)
        .collect()
}

fn random_op(rand: &SeededRand) -> Operation {
    let op = Operation::new(format!("m{}", rand.below(50)), random_bytes(rand, 90));
    if rand.below(2) == 0 {
        op.with_client(rand.next_u64(), rand.next_u64())
    } else {
        op
    }
}

/// A segment header for segment `id`, as documented in rig-log-file's segment format.
fn segment_header(id: u64) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..8].copy_from_slice(b"RIGSEG\r\n");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A record frame around `body` with a correct checksum for segment 1's salt (the salt's formula
/// is rig-log-file's `segment::salt`), so the payload decoder behind the checksum is reached.
fn framed_record(body: &[u8], out: &mut Vec<u8>) {
    let salt = 1u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5249_4753_4547_0001;
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&salt.to_le_bytes());
    head[8..].copy_from_slice(&(body.len() as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head), body);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
}

#[test]
fn entries_and_snapshots_round_trip_through_a_reopen() {
    let rand = SeededRand::new(41);
    for _ in 0..20 {
        let (fs, _ctl) = SimFs::new(rand.next_u64());
        let log = open(&fs).unwrap();
        let mut written = Vec::new();
        block_on(async {
            for _ in 0..rand.below(12) {
                let batch: Vec<Operation> =
                    (0..1 + rand.below(5)).map(|_| random_op(&rand)).collect();
                let first = log.append(batch.clone(), Durability::Local).await.unwrap();
                written.extend(batch.into_iter().enumerate().map(|(i, op)| LogPayload {
                    version: first + i as u64,
                    op,
                }));
            }
            let snapshot = Snapshot {
                version: written.len() as u64,
                data: Bytes::from(random_bytes(&rand, 200)),
            };
            if snapshot.version > 0 {
                log.save_snapshot(snapshot.clone()).await.unwrap();
            }
            log.close().await.unwrap();
            let log = open(&fs).unwrap();
            assert_eq!(read_all(&log).await, written);
            if snapshot.version > 0 {
                assert_eq!(log.load_snapshot().await.unwrap(), Some(snapshot));
            }
            log.close().await.unwrap();
        });
    }
}

#[test]
fn random_segments_and_snapshot_files_never_panic() {
    let rand = SeededRand::new(42);
    for i in 0..600 {
        let (fs, _ctl) = SimFs::new(i);
        let body = random_bytes(&rand, 300);
        match i % 4 {
            0 => write(&fs, SEGMENT, &body),
            1 => write(&fs, SEGMENT, &[segment_header(1), body].concat()),
            2 => {
                // Random payloads behind valid record checksums.
                let mut seg = segment_header(1);
                for chunk in body.chunks(1 + rand.below(40) as usize) {
                    framed_record(chunk, &mut seg);
                }
                write(&fs, SEGMENT, &seg);
            }
            _ => {
                // A snapshot file: random, or a plausible header with a valid trailing checksum.
                let mut snap = body;
                if rand.below(2) == 0 {
                    let mut head = b"RIGSNAP\n".to_vec();
                    head.extend_from_slice(&1u32.to_le_bytes());
                    head.extend_from_slice(&0u32.to_le_bytes());
                    head.extend_from_slice(&5u64.to_le_bytes());
                    head.extend_from_slice(&(snap.len() as u64).to_le_bytes());
                    snap = [head, snap].concat();
                    let crc = crc32c::crc32c(&snap);
                    snap.extend_from_slice(&crc.to_le_bytes());
                }
                write(&fs, "snap-00000000000000000005.snap", &snap);
            }
        }
        open_and_read(&fs);
    }
}

#[test]
fn damaged_logs_never_panic() {
    let rand = SeededRand::new(43);
    for i in 0..150 {
        let (fs, _ctl) = SimFs::new(i);
        let log = open(&fs).unwrap();
        block_on(async {
            for _ in 0..1 + rand.below(20) {
                log.append(vec![random_op(&rand)], Durability::Local)
                    .await
                    .unwrap();
            }
            log.save_snapshot(Snapshot {
                version: 1,
                data: Bytes::from(random_bytes(&rand, 50)),
            })
            .await
            .unwrap();
            log.close().await.unwrap();
        });
        // Overwrite a few bytes of one file (a segment or the snapshot) with random ones.
        let dir = Path::new(DIR);
        let names: Vec<String> = fs
            .list_dir(dir)
            .unwrap()
            .into_iter()
            .filter(|n| n.ends_with(".seg") || n.ends_with(".snap"))
            .collect();
        let name = &names[rand.below(names.len() as u64) as usize];
        let f = fs.open(&dir.join(name), false).unwrap();
        let len = f.len().unwrap().min(2048);
        for _ in 0..1 + rand.below(4) {
            let at = rand.below(len.max(1));
            f.write_at(&[rand.next_u64() as u8], at).unwrap();
        }
        f.sync_all().unwrap();
        open_and_read(&fs);
    }
}
