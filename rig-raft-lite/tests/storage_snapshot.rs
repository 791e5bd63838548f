//! A member's side of snapshot streaming on disk: staged chunks never touch the current snapshot
//! or log (a crash midway leaves both intact), a complete image is verified before it is
//! installed, installing replaces the log durably, and a crash between writing the snapshot and
//! rewriting the log is finished by the next load. On FsStorage (simulated disk) and MemStorage.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rig_core::seams::Fs;
use rig_core::Snapshot;
use rig_raft_lite::core::{Entry, Membership, SnapshotImage, SnapshotMeta, StoredMembership};
use rig_raft_lite::storage::{encode_snapshot_image, FsStorage, MemStorage, Storage};
use rig_testkit::simfs::SimFs;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        data: Bytes::from(format!("{index}@{term}")),
    }
}

fn image(index: u64, term: u64, version: u64, data: &'static [u8]) -> SnapshotImage {
    let meta = SnapshotMeta {
        index,
        term,
        membership: StoredMembership {
            index: 1,
            current: Membership::of_voters([1, 2, 3]),
            previous: Membership::of_voters([1, 2, 3]),
        },
    };
    let snapshot = Snapshot {
        version,
        data: Bytes::from_static(data),
    };
    SnapshotImage {
        bytes: encode_snapshot_image(&meta, &snapshot),
        meta,
    }
}

fn open(fs: &SimFs) -> FsStorage {
    FsStorage::open(Arc::new(fs.clone()), Path::new("/raft")).expect("open")
}

/// A disk holding entries 1..=5 (term 1, synced) and a snapshot through 3.
fn prepared(disk: &mut dyn Storage) {
    let entries: Vec<Entry> = (1..=5).map(|i| entry(i, 1)).collect();
    disk.write(&entries).unwrap();
    disk.sync().unwrap();
    disk.save_snapshot(&image(3, 1, 3, b"state@3")).unwrap();
}

fn stage_all(disk: &mut dyn Storage, bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(7).enumerate() {
        disk.stage_snapshot((i * 7) as u64, chunk).unwrap();
    }
}

/// What a reload finds: (compaction point, entry indexes, snapshot index, engine snapshot).
fn reload(disk: &mut dyn Storage) -> (u64, Vec<u64>, Option<u64>, Option<Snapshot>) {
    let loaded = disk.load().unwrap();
    let r = loaded.restored;
    (
        r.snapshot_index,
        r.entries.iter().map(|e| e.index).collect(),
        r.snapshot.map(|s| s.meta.index),
        disk.load_snapshot().unwrap(),
    )
}

fn old_state() -> Option<Snapshot> {
    Some(Snapshot {
        version: 3,
        data: Bytes::from_static(b"state@3"),
    })
}

#[test]
fn a_crash_while_staging_leaves_the_snapshot_and_log_intact() {
    let (fs, ctl) = SimFs::new(1);
    let mut disk = open(&fs);
    prepared(&mut disk);
    let incoming = image(10, 2, 8, b"state@8");
    disk.stage_snapshot(0, &incoming.bytes[..9]).unwrap();
    ctl.crash();
    let mut disk = open(&fs);
    assert_eq!(
        reload(&mut disk),
        (0, vec![1, 2, 3, 4, 5], Some(3), old_state())
    );
    // A staged image that fails verification is dropped, and nothing changes either.
    let mut damaged = incoming.bytes.to_vec();
    damaged[20] ^= 4;
    stage_all(&mut disk, &damaged);
    assert!(disk
        .install_snapshot(damaged.len() as u64)
        .unwrap()
        .is_none());
    stage_all(&mut disk, &incoming.bytes[..20]);
    let short = disk.install_snapshot(incoming.bytes.len() as u64).unwrap();
    assert!(short.is_none(), "an image shorter than announced");
    assert_eq!(
        reload(&mut disk),
        (0, vec![1, 2, 3, 4, 5], Some(3), old_state())
    );

    let mut mem = MemStorage::default();
    prepared(&mut mem);
    mem.stage_snapshot(0, &incoming.bytes[..9]).unwrap();
    mem.crash();
    assert!(mem
        .install_snapshot(incoming.bytes.len() as u64)
        .unwrap()
        .is_none());
    assert_eq!(
        reload(&mut mem),
        (0, vec![1, 2, 3, 4, 5], Some(3), old_state())
    );
}

#[test]
fn an_installed_snapshot_replaces_the_log_durably() {
    let incoming = image(10, 2, 8, b"state@8");
    let new_state = Some(Snapshot {
        version: 8,
        data: Bytes::from_static(b"state@8"),
    });
    let (fs, ctl) = SimFs::new(2);
    let mut disk = open(&fs);
    prepared(&mut disk);
    stage_all(&mut disk, &incoming.bytes);
    let installed = disk
        .install_snapshot(incoming.bytes.len() as u64)
        .unwrap()
        .expect("a good image installs");
    assert_eq!(
        installed.image, incoming,
        "the stream is the file, verbatim"
    );
    ctl.crash();
    let mut disk = open(&fs);
    assert_eq!(reload(&mut disk), (10, vec![], Some(10), new_state.clone()));
    assert_eq!(disk.load().unwrap().base_version, 8);
    // The log goes on after the snapshot.
    disk.write(&[entry(11, 2)]).unwrap();
    disk.sync().unwrap();
    assert_eq!(
        reload(&mut disk),
        (10, vec![11], Some(10), new_state.clone())
    );

    let mut mem = MemStorage::default();
    prepared(&mut mem);
    stage_all(&mut mem, &incoming.bytes);
    assert!(mem
        .install_snapshot(incoming.bytes.len() as u64)
        .unwrap()
        .is_some());
    mem.crash();
    assert_eq!(reload(&mut mem), (10, vec![], Some(10), new_state));
}

#[test]
fn a_crash_between_the_snapshot_and_the_log_is_finished_by_load() {
    let (fs, ctl) = SimFs::new(3);
    let mut disk = open(&fs);
    prepared(&mut disk);
    drop(disk);
    // Install's first step (the snapshot file renamed in place), then the crash.
    let incoming = image(10, 2, 8, b"state@8");
    let tmp = Path::new("/raft/raft.snap.tmp");
    let f = fs.open(tmp, true).unwrap();
    f.write_at(&incoming.bytes, 0).unwrap();
    f.sync_all().unwrap();
    fs.rename(tmp, Path::new("/raft/raft.snap")).unwrap();
    fs.sync_dir(Path::new("/raft")).unwrap();
    ctl.crash();
    let mut disk = open(&fs);
    let (offset, entries, snap, _) = reload(&mut disk);
    assert_eq!((offset, entries, snap), (10, vec![], Some(10)));
    // A node's own snapshot inside its log (compaction kept some entries) keeps the log.
    let (fs, _ctl) = SimFs::new(4);
    let mut disk = open(&fs);
    prepared(&mut disk);
    assert_eq!(
        reload(&mut disk),
        (0, vec![1, 2, 3, 4, 5], Some(3), old_state())
    );
}
