//! One primary, two replicas: `Strict` waits for both; every replica ends with the same log.

mod support;

use std::time::Duration;

use rig_core::{Durability, Error, Log};
use rig_repl_2pc::{Config, Policy, ReplLog, StartAs};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_waits_for_every_replica() {
    let root = tempfile::tempdir().unwrap();
    let a = open_replica(&root.path().join("a")).await.unwrap();
    let b = open_replica(&root.path().join("b")).await.unwrap();
    let mut config = Config::new(
        "127.0.0.1:0",
        StartAs::Primary {
            replicas: vec![a.local_addr().into(), b.local_addr().into()],
        },
        handshake("primary"),
    );
    config.policy = Policy::Strict {
        timeout: Duration::from_millis(300),
    };
    let primary = ReplLog::open(file(&root.path().join("p")).unwrap(), config)
        .await
        .unwrap();
    append_each(&primary, ops("x", 0..5)).await.unwrap();
    assert_eq!(committed_data(&a, 5).await, committed_data(&b, 5).await);
    assert_eq!(primary.status().replicas.len(), 2);

    // One replica down is enough to refuse acknowledgments under Strict.
    b.halt().await;
    let err = primary
        .append(ops("y", 0..1), Durability::Replicated)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable { .. } | Error::OutcomeUnknown { .. }
        ),
        "{err:?}"
    );
    assert_eq!(primary.committed(), 5);
}
