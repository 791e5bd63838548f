//! MemStorage's crash model: a power loss keeps exactly what was synced, including durable
//! entries that a later (unsynced) write replaced.

use bytes::Bytes;
use rig_raft_lite::core::Entry;
use rig_raft_lite::storage::{MemStorage, Storage};

fn entries(first: u64, last: u64, term: u64) -> Vec<Entry> {
    (first..=last)
        .map(|index| Entry {
            term,
            index,
            data: Bytes::from(format!("{term}/{index}")),
        })
        .collect()
}

fn loaded(disk: &mut MemStorage) -> Vec<(u64, u64)> {
    let l = disk.load().expect("load");
    l.restored
        .entries
        .iter()
        .map(|e| (e.index, e.term))
        .collect()
}

#[test]
fn power_loss_keeps_what_was_synced_even_when_overwritten() {
    let mut disk = MemStorage::default();
    disk.write(&entries(1, 4, 1)).unwrap();
    assert_eq!(disk.sync().unwrap(), Some((4, 1)));
    // A new leader's entries replace 3..4, then 2..: nothing synced since.
    disk.write(&entries(3, 6, 2)).unwrap();
    disk.write(&entries(2, 2, 3)).unwrap();
    assert_eq!(loaded(&mut disk), vec![(1, 1), (2, 3)], "the page cache");
    disk.crash();
    assert_eq!(
        loaded(&mut disk),
        vec![(1, 1), (2, 1), (3, 1), (4, 1)],
        "the synced log comes back"
    );
}

#[test]
fn sync_makes_the_replacement_durable_and_compaction_keeps_the_rest() {
    let mut disk = MemStorage::default();
    disk.write(&entries(1, 4, 1)).unwrap();
    disk.sync().unwrap();
    disk.write(&entries(3, 5, 2)).unwrap();
    assert_eq!(disk.sync().unwrap(), Some((5, 2)));
    disk.write(&entries(6, 7, 2)).unwrap();
    disk.compact(3, 2).unwrap();
    disk.crash();
    let l = disk.load().unwrap();
    assert_eq!(
        (l.restored.snapshot_index, l.restored.snapshot_term),
        (3, 2)
    );
    assert_eq!(l.base_version, 2);
    assert_eq!(loaded(&mut disk), vec![(4, 2), (5, 2)]);
}
