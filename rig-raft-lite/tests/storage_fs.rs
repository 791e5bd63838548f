//! FsStorage on a simulated disk: synced entries and hard state survive crashes (which lose or
//! tear unsynced writes), rewrites after a conflict never splice old records onto new ones, and
//! compaction keeps the tail; the membership file survives every crash and a damaged one is
//! `Corrupt`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::{Entry, HardState, Membership, StoredMembership};
use rig_raft_lite::storage::{FsStorage, Storage};
use rig_testkit::simfs::SimFs;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        data: Bytes::from(format!("{index}@{term}")),
    }
}

fn open(fs: &SimFs) -> FsStorage {
    FsStorage::open(Arc::new(fs.clone()), Path::new("/raft")).expect("open")
}

#[test]
fn synced_prefix_survives_crashes_across_seeds() {
    for seed in 0..60 {
        let (fs, ctl) = SimFs::new(seed);
        let rand = SeededRand::new(seed);
        // The model: the log as written, the prefix known durable, the hard state.
        let mut model: Vec<Entry> = Vec::new();
        let mut synced = 0usize;
        let mut hs = HardState::default();
        let mut disk = open(&fs);
        for _ in 0..60 {
            match rand.below(10) {
                0..=4 => {
                    // Append, sometimes after truncating a suffix (a conflict) with a higher term.
                    let term = hs.term.max(1);
                    let from = if !model.is_empty() && rand.below(3) == 0 {
                        synced.min(model.len()) as u64 + 1 - rand.below(2).min(synced as u64)
                    } else {
                        model.len() as u64 + 1
                    };
                    model.truncate((from - 1) as usize);
                    synced = synced.min(model.len());
                    let new: Vec<Entry> = (from..from + 1 + rand.below(3))
                        .map(|i| entry(i, term))
                        .collect();
                    disk.write(&new).unwrap();
                    model.extend(new);
                }
                5..=6 => {
                    let last = disk.sync().unwrap();
                    assert_eq!(last, model.last().map(|e| (e.index, e.term)));
                    synced = model.len();
                }
                7 => {
                    hs = HardState {
                        term: hs.term + 1,
                        vote: Some(rand.below(3)),
                    };
                    disk.save_hard_state(hs).unwrap();
                }
                _ => {
                    ctl.crash();
                    disk = open(&fs);
                    let loaded = disk.load().unwrap();
                    assert_eq!(loaded.restored.hard_state, hs, "seed {seed}: hard state");
                    let got = loaded.restored.entries;
                    assert!(got.len() >= synced, "seed {seed}: lost synced entries");
                    assert_eq!(
                        got[..],
                        model[..got.len()],
                        "seed {seed}: not a prefix of what was written"
                    );
                    model = got;
                    synced = model.len();
                }
            }
        }
    }
}

#[test]
fn compaction_keeps_the_tail_and_the_base() {
    let (fs, ctl) = SimFs::new(9);
    let mut disk = open(&fs);
    let all: Vec<Entry> = (1..=10).map(|i| entry(i, 1 + i / 4)).collect();
    disk.write(&all).unwrap();
    disk.sync().unwrap();
    disk.compact(6, 5).unwrap();
    disk.write(&[entry(11, 4)]).unwrap();
    disk.sync().unwrap();
    ctl.crash();
    let loaded = open(&fs).load().unwrap();
    assert_eq!(loaded.restored.snapshot_index, 6);
    assert_eq!(loaded.restored.snapshot_term, all[5].term);
    assert_eq!(loaded.base_version, 5);
    let mut tail = all[6..].to_vec();
    tail.push(entry(11, 4));
    assert_eq!(loaded.restored.entries, tail);
}

#[test]
fn membership_survives_crashes_and_damage_is_corrupt() {
    let (fs, ctl) = SimFs::new(3);
    let mut disk = open(&fs);
    assert_eq!(disk.load().expect("load").restored.membership, None);
    let previous = Membership::of_voters([1, 2, 3]);
    let mut current = previous.clone();
    current.observers.insert(4, "n4:7000".into());
    let stored = StoredMembership {
        index: 9,
        current,
        previous,
    };
    disk.save_membership(&stored).expect("save");
    drop(disk);
    ctl.crash();
    let mut disk = open(&fs);
    assert_eq!(disk.load().expect("load").restored.membership, Some(stored));
    drop(disk);

    // A flipped byte is a checksum failure, never a wrong membership.
    let path = Path::new("/raft/raft.members");
    let f = rig_core::seams::Fs::open(&fs, path, false).expect("open the file");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 3).expect("read");
    f.write_at(&[b[0] ^ 0xff], 3).expect("write");
    let err = open(&fs).load().unwrap_err();
    assert!(matches!(err, rig_core::Error::Corrupt { .. }), "{err}");
}
