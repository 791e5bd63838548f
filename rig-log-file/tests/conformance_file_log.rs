//! rig-testkit's Log conformance suite against FileLog on real files.

use std::path::PathBuf;
use std::sync::Mutex;

use rig_core::{Log, Result};
use rig_log_file::{FileLog, FileLogOptions};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};

/// Logs in a temporary directory; small segments so cases cross segment boundaries.
#[derive(Debug)]
struct FileLogFactory {
    root: tempfile::TempDir,
    /// Bumped by a wipe: the new log lives in a fresh directory.
    generation: Mutex<u32>,
}

impl FileLogFactory {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("temp dir"),
            generation: Mutex::new(0),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("log-{}", self.generation.lock().unwrap()))
    }

    fn options() -> FileLogOptions {
        FileLogOptions {
            segment_size: 16 << 10,
            ..Default::default()
        }
    }
}

#[rig_core::async_trait]
impl LogFactory for FileLogFactory {
    type Log = FileLog;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
    }

    async fn create(&self) -> Result<FileLog> {
        FileLog::open(self.dir(), Self::options())
    }

    async fn reopen(&self, log: FileLog, after: Restart) -> Result<FileLog> {
        match after {
            Restart::Clean => {
                log.close().await?;
                drop(log);
            }
            // In-process, a crash keeps the page cache like a killed process does; the real
            // SIGKILL test is crash_sigkill.rs.
            Restart::Crash => drop(log),
            Restart::Wipe => {
                drop(log);
                *self.generation.lock().unwrap() += 1;
            }
        }
        FileLog::open(self.dir(), Self::options())
    }
}

rig_testkit::conformance_tests!(FileLogFactory::new());
