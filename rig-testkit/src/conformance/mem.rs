//! [`MemLogFactory`]: the suite's factory for rig-core's reference [`MemLog`].

use async_trait::async_trait;
use rig_core::{Log, MemLog, Result};

use super::{Capabilities, Capability, LogFactory, Restart};

/// Runs the suite against [`MemLog`]. Memory is its disk: a crash keeps everything that was
/// appended, which satisfies "keeps every acknowledged entry"; a wipe starts a new log.
///
/// ```
/// use rig_testkit::conformance::{cases, run, MemLogFactory};
/// run("versions_are_gap_free", MemLogFactory::default(), cases::versions_are_gap_free);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct MemLogFactory;

#[async_trait]
impl LogFactory for MemLogFactory {
    type Log = MemLog;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
    }

    async fn create(&self) -> Result<MemLog> {
        Ok(MemLog::new())
    }

    async fn reopen(&self, log: MemLog, after: Restart) -> Result<MemLog> {
        match after {
            Restart::Clean | Restart::Crash => {
                let reopened = log.reopen();
                if after == Restart::Crash {
                    // The crashed process's handle stops working, as it would.
                    log.close().await?;
                }
                Ok(reopened)
            }
            Restart::Wipe => Ok(MemLog::new()),
        }
    }
}
