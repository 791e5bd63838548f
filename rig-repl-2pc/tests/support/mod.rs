//! A primary and a replica on loopback TCP, each over a FileLog in a temporary directory.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::Result;
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, Policy, ReplLog, StartAs};

pub fn handshake(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("test-group", [11, 12], node, b"test psk".to_vec())
}

pub fn file(dir: &Path) -> Result<FileLog> {
    FileLog::open(
        dir,
        FileLogOptions {
            segment_size: 1 << 20,
            ..Default::default()
        },
    )
}

pub fn strict() -> Policy {
    Policy::Strict {
        timeout: Duration::from_secs(5),
    }
}

pub async fn open_replica(dir: &Path) -> Result<ReplLog> {
    open_replica_at(dir, "127.0.0.1:0").await
}

pub async fn open_replica_at(dir: &Path, listen: &str) -> Result<ReplLog> {
    ReplLog::open(
        file(dir)?,
        Config::new(listen, StartAs::Replica, handshake("replica")),
    )
    .await
}

pub async fn open_primary(dir: &Path, replica: &str, policy: Policy) -> Result<ReplLog> {
    let mut config = Config::new(
        "127.0.0.1:0",
        StartAs::Primary {
            replicas: vec![replica.to_string()],
        },
        handshake("primary"),
    );
    config.policy = policy;
    ReplLog::open(file(dir)?, config).await
}

/// Directories for one pair.
pub fn dirs(root: &Path, generation: u32) -> (PathBuf, PathBuf) {
    (
        root.join(format!("primary-{generation}")),
        root.join(format!("replica-{generation}")),
    )
}

/// `n` distinct operations tagged with `tag`.
pub fn ops(tag: &str, range: std::ops::Range<u64>) -> Vec<rig_core::Operation> {
    range
        .map(|i| rig_core::Operation::new("put", format!("{tag}-{i}")))
        .collect()
}

/// Appends each op alone and returns the versions.
pub async fn append_each(log: &ReplLog, ops: Vec<rig_core::Operation>) -> Result<Vec<u64>> {
    use rig_core::Log;
    let mut out = Vec::new();
    for op in ops {
        out.push(
            log.append(vec![op], rig_core::Durability::Replicated)
                .await?,
        );
    }
    Ok(out)
}

/// Waits until `log` has committed through `version` and returns its committed entries' data.
pub async fn committed_data(log: &ReplLog, version: u64) -> Vec<String> {
    use rig_core::Log;
    while log.committed() < version {
        log.wait_committed(log.committed()).await.expect("tail");
    }
    log.read(1, usize::MAX)
        .await
        .expect("read")
        .into_iter()
        .map(|p| String::from_utf8(p.op.data.to_vec()).unwrap())
        .collect()
}

/// A service that sums the numbers it is given (ops `add` with a JSON integer).
#[derive(Default)]
pub struct Sum {
    pub version: u64,
    pub total: i64,
}

#[rig_core::async_trait]
impl rig_core::Service for Sum {
    type Output = i64;
    async fn version(&self) -> u64 {
        self.version
    }
    async fn validate(&self, op: &rig_core::Operation) -> Result<(), rig_core::Rejection> {
        op.decode::<i64>().map(|_| ())
    }
    async fn apply(
        &mut self,
        version: u64,
        op: &rig_core::Operation,
    ) -> Result<i64, rig_core::ServiceError> {
        self.total += op
            .decode::<i64>()
            .map_err(|e| rig_core::ServiceError(e.to_string()))?;
        self.version = version;
        Ok(self.total)
    }
    async fn snapshot(&self) -> Result<bytes::Bytes, rig_core::ServiceError> {
        Ok(self.total.to_string().into())
    }
    async fn restore(
        &mut self,
        version: u64,
        data: bytes::Bytes,
    ) -> Result<(), rig_core::ServiceError> {
        let text = std::str::from_utf8(&data).map_err(|e| rig_core::ServiceError(e.to_string()))?;
        self.total = text
            .parse()
            .map_err(|e: std::num::ParseIntError| rig_core::ServiceError(e.to_string()))?;
        self.version = version;
        Ok(())
    }
}
