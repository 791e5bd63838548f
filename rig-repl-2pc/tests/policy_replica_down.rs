//! Failure policies with the replica down: `Strict` never acknowledges without it, `SemiSync`
//! continues alone and catches the replica up when it returns.

mod support;

use std::time::Duration;

use rig_core::{Durability, Error, Log};
use rig_repl_2pc::{Mode, Policy};
use support::*;

const SHORT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_gives_no_ack_without_the_replica_and_recovers() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let addr = replica.local_addr().to_string();
    let primary = open_primary(&pd, &addr, Policy::Strict { timeout: SHORT })
        .await
        .unwrap();
    append_each(&primary, ops("a", 0..3)).await.unwrap();
    replica.halt().await;

    for _ in 0..3 {
        let err = primary
            .append(ops("down", 0..1), Durability::Replicated)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unavailable { .. } | Error::OutcomeUnknown { .. }
            ),
            "{err:?}"
        );
    }
    assert_eq!(
        primary.committed(),
        3,
        "nothing committed without the replica"
    );

    // The replica comes back on the same address; writes flow again without a restart.
    let replica = open_replica_at(&rd, &addr).await.unwrap();
    let v = loop {
        match primary
            .append(ops("up", 0..1), Durability::Replicated)
            .await
        {
            Ok(v) => break v,
            Err(Error::Unavailable { .. } | Error::OutcomeUnknown { .. }) => continue,
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(v, 4, "failed rounds left no gap");
    let data = committed_data(&replica, 4).await;
    assert_eq!(data, ["a-0", "a-1", "a-2", "up-0"]);
    assert_eq!(primary.status().mode, Mode::Sync);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_sync_continues_alone_and_catches_the_replica_up() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let addr = replica.local_addr().to_string();
    let primary = open_primary(&pd, &addr, Policy::SemiSync { timeout: SHORT })
        .await
        .unwrap();
    append_each(&primary, ops("a", 0..2)).await.unwrap();
    replica.halt().await;

    // Acknowledged alone after the timeout, then without waiting at all.
    assert_eq!(
        append_each(&primary, ops("alone", 0..20)).await.unwrap(),
        (3..23).collect::<Vec<_>>()
    );
    let status = primary.status();
    assert_eq!(status.mode, Mode::Degraded);
    assert!(status.replicas[0].lagging);
    assert!(status.replicas[0].lag >= 20, "{status:?}");

    // The replica returns: it is streamed the backlog and the primary waits for it again.
    let replica = open_replica_at(&rd, &addr).await.unwrap();
    let data = committed_data(&replica, 22).await;
    assert_eq!(data.len(), 22);
    assert_eq!(data[21], "alone-19");
    loop {
        append_each(&primary, ops("more", 0..1)).await.unwrap();
        if primary.status().mode == Mode::Sync {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // In sync: the next acknowledged op is on the replica as soon as it is acknowledged
    // (prepared durably; its commit follows).
    let v = append_each(&primary, ops("sync", 0..1)).await.unwrap()[0];
    let data = committed_data(&replica, v).await;
    assert_eq!(data.last().unwrap(), "sync-0");
    assert_eq!(primary.status().replicas[0].lag, 0);
}
