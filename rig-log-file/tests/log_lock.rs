//! One open per directory.

mod common;

use common::{rt, small};
use rig_core::{Error, Log};
use rig_log_file::FileLog;

#[test]
fn a_second_open_of_the_same_directory_fails_until_the_first_closes() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        match FileLog::open(dir.path(), small()) {
            Err(Error::Unavailable { reason }) => {
                assert!(reason.contains("already open"), "{reason}");
                assert!(
                    reason.contains(&dir.path().display().to_string()),
                    "{reason}"
                );
            }
            other => panic!("expected a lock error, got {other:?}"),
        }
        log.close().await.unwrap();
        let again = FileLog::open(dir.path(), small()).unwrap();
        drop(again);
        FileLog::open(dir.path(), small()).unwrap();
    });
}
