//! The engine (`rig_core::Rig`) over a FileLog, end to end.

mod common;

use std::collections::BTreeMap;

use common::rt;
use rig_core::{
    async_trait, Log, Operation, Options, Rejection, Resources, Rig, Service, ServiceError,
    SnapshotPolicy,
};
use rig_log_file::{FileLog, FileLogOptions};

/// A key-value map: `set` with `(key, value)`.
#[derive(Default)]
struct Kv {
    version: u64,
    map: BTreeMap<String, u64>,
}

#[async_trait]
impl Service for Kv {
    type Output = Option<u64>;
    async fn version(&self) -> u64 {
        self.version
    }
    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        if op.method != "set" {
            return Err(Rejection::new("unknown_method", &op.method));
        }
        op.decode::<(String, u64)>().map(|_| ())
    }
    async fn resources(&self, op: &Operation) -> Resources {
        op.decode::<(String, u64)>()
            .map_or(Resources::All, |(k, _)| Resources::keys([k]))
    }
    async fn apply(&mut self, version: u64, op: &Operation) -> Result<Self::Output, ServiceError> {
        let (k, v): (String, u64) = op.decode().map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(self.map.insert(k, v))
    }
    async fn snapshot(&self) -> Result<bytes::Bytes, ServiceError> {
        serde_json::to_vec(&self.map)
            .map(Into::into)
            .map_err(|e| ServiceError(e.to_string()))
    }
    async fn restore(&mut self, version: u64, data: bytes::Bytes) -> Result<(), ServiceError> {
        self.map = serde_json::from_slice(&data).map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(())
    }
}

fn opts() -> FileLogOptions {
    FileLogOptions {
        segment_size: 16 << 10,
        ..Default::default()
    }
}

#[test]
fn concurrent_clients_snapshots_and_reopen_rebuild_the_same_state() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            snapshot: SnapshotPolicy {
                every_ops: Some(700),
                every_bytes: None,
            },
            ..Default::default()
        };
        let rig = Rig::open_with(
            Kv::default(),
            FileLog::open(dir.path(), opts()).unwrap(),
            options.clone(),
        )
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for client in 0..16u64 {
            let rig = rig.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100u64 {
                    let op = Operation::json("set", &(format!("k{client}"), i)).unwrap();
                    rig.execute(op).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(
            rig.execute(Operation::new("drop", "")).await.is_err(),
            "rejected ops are not logged"
        );
        assert_eq!(rig.applied_version(), 1600);
        let snap = rig.snapshot_now().await.unwrap();
        assert_eq!(snap, 1600);
        assert!(
            rig.log().first_version() > 1,
            "the automatic and explicit snapshots let the log compact"
        );
        let expected = rig.state().await.map.clone();
        assert_eq!(expected.len(), 16);
        assert!(expected.values().all(|v| *v == 99));
        rig.close().await.unwrap();

        let rig = Rig::open_with(
            Kv::default(),
            FileLog::open(dir.path(), opts()).unwrap(),
            options,
        )
        .await
        .unwrap();
        assert_eq!(rig.state().await.map, expected);
        let done = rig
            .execute(Operation::json("set", &("k0", 1000u64)).unwrap())
            .await
            .unwrap();
        assert_eq!((done.version, done.output), (1601, Some(99)));
        rig.close().await.unwrap();
    });
}

#[test]
fn reopen_replays_the_log_without_a_snapshot() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let rig = Rig::open(Kv::default(), FileLog::open(dir.path(), opts()).unwrap())
            .await
            .unwrap();
        for i in 0..300u64 {
            rig.execute(Operation::json("set", &(format!("k{}", i % 7), i)).unwrap())
                .await
                .unwrap();
        }
        let expected = rig.state().await.map.clone();
        // No close: dropping the engine and the log is a process exit without shutdown.
        drop(rig);
        tokio::task::yield_now().await;
        let mut attempts = 0;
        let log = loop {
            // The engine task may still hold the log for a moment after the handle is dropped.
            match FileLog::open(dir.path(), opts()) {
                Ok(log) => break log,
                Err(rig_core::Error::Unavailable { .. }) if attempts < 100_000 => {
                    attempts += 1;
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        let rig = Rig::open(Kv::default(), log).await.unwrap();
        assert_eq!(rig.applied_version(), 300);
        assert_eq!(rig.state().await.map, expected);
    });
}
