//! SimFs behaviour: durability rules, crash fates, fsync failures, full disk, bit flips.

use std::io::ErrorKind;
use std::path::Path;

use rig_core::seams::{Fs, FsFile};

use super::SimFs;

fn read_all(f: &dyn FsFile) -> Vec<u8> {
    let mut buf = vec![0; f.len().unwrap() as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

fn setup(seed: u64) -> (SimFs, super::SimFsController, Box<dyn FsFile>) {
    let (fs, ctl) = SimFs::new(seed);
    fs.create_dir_all(Path::new("/d")).unwrap();
    let f = fs.open(Path::new("/d/f"), true).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    (fs, ctl, f)
}

#[test]
fn synced_data_and_names_survive_a_crash() {
    let (fs, ctl, f) = setup(1);
    f.write_at(b"durable", 0).unwrap();
    f.sync_data().unwrap();
    ctl.crash();
    assert!(
        f.read_at(&mut [0; 1], 0).is_err(),
        "handles die with the crash"
    );
    let f = fs.open(Path::new("/d/f"), false).unwrap();
    assert_eq!(read_all(&*f), b"durable");
}

#[test]
fn names_need_sync_dir() {
    let (fs, ctl, f) = setup(2);
    f.write_at(b"x", 0).unwrap();
    f.sync_data().unwrap();
    let g = fs.open(Path::new("/d/g"), true).unwrap();
    g.sync_data().unwrap();
    fs.rename(Path::new("/d/f"), Path::new("/d/h")).unwrap();
    assert_eq!(fs.list_dir(Path::new("/d")).unwrap(), ["g", "h"]);
    ctl.crash();
    assert_eq!(
        fs.list_dir(Path::new("/d")).unwrap(),
        ["f"],
        "unsynced create and rename revert"
    );
    fs.rename(Path::new("/d/f"), Path::new("/d/h")).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    ctl.crash();
    assert_eq!(fs.list_dir(Path::new("/d")).unwrap(), ["h"]);
    fs.remove_file(Path::new("/d/h")).unwrap();
    ctl.crash();
    assert_eq!(
        fs.list_dir(Path::new("/d")).unwrap(),
        ["h"],
        "unsynced remove reverts"
    );
}

#[test]
fn unsynced_writes_are_kept_dropped_or_torn_at_sector_boundaries() {
    let (mut kept, mut dropped, mut torn) = (0, 0, 0);
    for seed in 0..60 {
        let (fs, ctl, f) = setup(seed);
        f.write_at(&[b'o'; 2048], 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(&[b'n'; 1500], 100).unwrap();
        ctl.crash();
        let data = read_all(&*fs.open(Path::new("/d/f"), false).unwrap());
        assert_eq!(data.len(), 2048);
        let new: Vec<usize> = (0..2048).filter(|&i| data[i] == b'n').collect();
        match new.len() {
            0 => dropped += 1,
            1500 => kept += 1,
            n => {
                torn += 1;
                assert_eq!(new[0], 100, "a torn write keeps a prefix");
                assert_eq!((100 + n) % 512, 0, "torn at a sector boundary, kept {n}");
                assert!(new.windows(2).all(|w| w[1] == w[0] + 1));
            }
        }
    }
    assert!(
        kept > 0 && dropped > 0 && torn > 0,
        "kept {kept} dropped {dropped} torn {torn}"
    );
}

#[test]
fn failed_fsync_reads_back_old_or_new_and_the_retry_succeeds() {
    let (mut old, mut new) = (0, 0);
    for seed in 0..40 {
        let (_fs, ctl, f) = setup(seed);
        f.write_at(b"old", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"new", 0).unwrap();
        ctl.fail_next_syncs(1);
        assert!(f.sync_data().is_err());
        assert!(f.sync_data().is_ok(), "the retried fsync reports success");
        match read_all(&*f).as_slice() {
            b"old" => old += 1,
            b"new" => new += 1,
            other => panic!("unexpected contents {other:?}"),
        }
        assert_eq!(ctl.stats().failed_syncs, 1);
    }
    assert!(old > 0 && new > 0, "old {old} new {new}");
}

#[test]
fn full_disk_refuses_writes() {
    let (_fs, ctl, f) = setup(3);
    ctl.set_space_left(Some(10));
    assert_eq!(
        f.write_at(&[0; 11], 0).unwrap_err().kind(),
        ErrorKind::StorageFull
    );
    f.write_at(&[1; 10], 0).unwrap();
    assert_eq!(
        f.write_at(&[2], 10).unwrap_err().kind(),
        ErrorKind::StorageFull
    );
    assert_eq!(read_all(&*f), [1; 10]);
    ctl.heal();
    f.write_at(&[2], 10).unwrap();
    assert_eq!(ctl.stats().disk_full_errors, 2);
}

#[test]
fn bit_flips_at_rest_and_on_read() {
    let (_fs, ctl, f) = setup(4);
    f.write_at(&[0; 64], 0).unwrap();
    f.sync_data().unwrap();
    let (path, bit) = ctl.flip_random_bit().expect("a file to flip");
    assert_eq!(path, Path::new("/d/f"));
    let data = read_all(&*f);
    assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
    assert_eq!(data[(bit / 8) as usize], 1 << (bit % 8));
    ctl.set_read_flip_rate(1_000_000);
    let flipped = read_all(&*f);
    assert_eq!(
        flipped.iter().map(|b| b.count_ones()).sum::<u32>() % 2,
        0,
        "one more flip"
    );
    ctl.heal();
    assert_eq!(
        read_all(&*f),
        data,
        "read flips do not change the data at rest"
    );
}

#[test]
fn locks_are_exclusive_and_die_with_the_holder() {
    let (fs, ctl, _f) = setup(5);
    let lock = fs.lock(Path::new("/d/LOCK")).unwrap();
    assert_eq!(
        fs.lock(Path::new("/d/LOCK")).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(lock);
    let _again = fs.lock(Path::new("/d/LOCK")).unwrap();
    ctl.crash();
    fs.lock(Path::new("/d/LOCK"))
        .expect("a crash releases locks");
}

#[test]
fn same_seed_same_disk() {
    let run = |seed| {
        let (fs, ctl, f) = setup(seed);
        for i in 0..20u64 {
            f.write_at(&[i as u8; 700], i * 300).unwrap();
            if i % 7 == 0 {
                f.sync_data().unwrap();
            }
        }
        ctl.crash();
        (
            read_all(&*fs.open(Path::new("/d/f"), false).unwrap()),
            ctl.stats(),
        )
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0);
}

#[test]
fn missing_parents_and_files_are_not_found() {
    let (fs, _ctl) = SimFs::new(6);
    let e = fs.open(Path::new("/nope/f"), true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        fs.open(Path::new("/f"), false).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs.list_dir(Path::new("/nope")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
