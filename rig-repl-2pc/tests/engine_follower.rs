//! The engine over a 2PC pair: writes go through the primary's `Rig`; the replica's `Rig`
//! applies committed entries as they arrive, serves reads, and redirects writes.

mod support;

use bytes::Bytes;
use rig_core::{async_trait, Error, Operation, Rejection, Rig, Service, ServiceError};
use support::*;

/// Sums the numbers it is given.
#[derive(Default)]
struct Sum {
    version: u64,
    total: i64,
}

#[async_trait]
impl Service for Sum {
    type Output = i64;
    async fn version(&self) -> u64 {
        self.version
    }
    async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
        op.decode::<i64>().map(|_| ())
    }
    async fn apply(&mut self, version: u64, op: &Operation) -> Result<i64, ServiceError> {
        self.total += op
            .decode::<i64>()
            .map_err(|e| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(self.total)
    }
    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        Ok(self.total.to_string().into())
    }
    async fn restore(&mut self, version: u64, data: Bytes) -> Result<(), ServiceError> {
        let text = std::str::from_utf8(&data).map_err(|e| ServiceError(e.to_string()))?;
        self.total = text
            .parse()
            .map_err(|e: std::num::ParseIntError| ServiceError(e.to_string()))?;
        self.version = version;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_engine_follows_and_redirects() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let primary = open_primary(&pd, replica.local_addr(), strict())
        .await
        .unwrap();
    let primary_addr = primary.local_addr().to_string();
    let writer = Rig::open(Sum::default(), primary).await.unwrap();
    let follower = Rig::open(Sum::default(), replica).await.unwrap();

    for n in 1..=10 {
        writer
            .execute(Operation::json("add", &n).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(writer.state().await.total, 55);
    let err = follower
        .execute(Operation::json("add", &1).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotLeader { leader: Some(l) } if *l == primary_addr),
        "{err:?}"
    );
    // The follower applies what the primary committed (tailing, not polling a timer).
    while follower.state().await.version < 10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(follower.state().await.total, 55);
}
