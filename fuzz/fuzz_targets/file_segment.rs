//! The file log's on-disk formats (rig-log-file): segment headers and their record streams, and
//! snapshot files, read through `FileLog::open_with_fs` on rig-testkit's in-memory `SimFs`.
//!
//! The first byte picks which file the rest becomes: a segment of segment 1's header followed by
//! the rest's `u16`-prefixed chunks framed as records with correct (salted) checksums, the header
//! followed by the raw rest, a raw segment (header included), or a snapshot file, raw or with a
//! correct trailing checksum. Opening must give a typed error or a log
//! whose entries read back; it must never panic.
#![no_main]
use std::path::Path;
use std::sync::Arc;

use rig_core::seams::Fs;
use rig_core::Log;
use rig_log_file::{FileLog, FileLogOptions};
use rig_testkit::simfs::SimFs;

const SEGMENT: &str = "00000000000000000001.seg";
const SNAPSHOT: &str = "snap-00000000000000000005.snap";

fn segment_header(id: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(b"RIGSEG\r\n");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Segment `id`'s record salt, as rig-log-file's `segment::salt` computes it.
fn salt(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5249_4753_4547_0001
}

fn write(fs: &SimFs, path: &Path, bytes: &[u8]) {
    let f = fs.open(path, true).expect("create");
    f.write_at(bytes, 0).expect("write");
    f.sync_all().expect("sync");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let (fs, _ctl) = SimFs::new(1);
    let dir = Path::new("/log");
    fs.create_dir_all(dir).expect("mkdir");
    match mode % 5 {
        0 => {
            let mut seg = segment_header(1).to_vec();
            for c in rig_fuzz::chunks(rest) {
                rig_fuzz::record_frame(c, salt(1), &mut seg);
            }
            write(&fs, &dir.join(SEGMENT), &seg);
        }
        1 => {
            let mut seg = segment_header(1).to_vec();
            seg.extend_from_slice(rest);
            write(&fs, &dir.join(SEGMENT), &seg);
        }
        2 => write(&fs, &dir.join(SEGMENT), rest),
        3 => write(&fs, &dir.join(SNAPSHOT), rest),
        _ => {
            let mut snap = rest.to_vec();
            rig_fuzz::append_crc(&mut snap);
            write(&fs, &dir.join(SNAPSHOT), &snap);
        }
    }
    fs.sync_dir(dir).expect("sync dir");
    let options = FileLogOptions {
        segment_size: 4096,
        ..Default::default()
    };
    let Ok(log) = FileLog::open_with_fs(Arc::new(fs), dir, options) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let committed = log.committed();
        let mut from = log.first_version().max(1);
        while from <= committed {
            let Ok(batch) = log.read(from, 64).await else {
                break;
            };
            let Some(last) = batch.last() else { break };
            assert!(batch.windows(2).all(|w| w[1].version == w[0].version + 1));
            assert_eq!(batch[0].version, from);
            from = last.version + 1;
        }
        let _ = log.load_snapshot().await;
        let _ = log.close().await;
    });
});
