//! Pipelined rounds against hand-driven peers: a real primary with several rounds in flight
//! before a fake replica answers any, answers out of order, a failed round with later rounds in
//! flight; and a real replica taking several Prepares back to back.

use std::time::Duration;

use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::net::Link;
use rig_core::seams::{SeededRand, TcpTransport, Transport};
use rig_core::{AppendFuture, Durability, Error, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

use crate::proto::Msg;
use crate::{Config, Policy, ReplLog, StartAs};

fn hs(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("pipeline-test", [1, 2], node, b"psk".to_vec())
}

fn op(data: &str) -> Vec<Operation> {
    vec![Operation::new("put", data.to_string())]
}

async fn send(link: &mut Link, msg: Msg) {
    link.send(&msg.encode()).await.unwrap();
}

/// The next message that is not a `Commit`.
async fn recv(link: &mut Link) -> Msg {
    loop {
        match Msg::decode(&link.recv().await.unwrap()).unwrap() {
            Msg::Commit { .. } => continue,
            other => return other,
        }
    }
}

fn prepared(round: u64, last: u64) -> Msg {
    Msg::Prepared {
        epoch: 1,
        round,
        last,
    }
}

/// A real primary whose one replica is the returned link (synced, holding nothing).
async fn primary_with_fake_replica(
    dir: &std::path::Path,
    policy: Policy,
    max_rounds: usize,
) -> (ReplLog, Link) {
    let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let replicas = vec![addr];
    let mut config = Config::new("127.0.0.1:0", StartAs::Primary { replicas }, hs("p"));
    config.policy = policy;
    config.max_rounds_in_flight = max_rounds;
    let file = FileLog::open(dir.join("p"), FileLogOptions::default()).unwrap();
    let primary = ReplLog::open(file, config).await.unwrap();
    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &hs("fake-replica"), &SeededRand::new(2))
        .await
        .unwrap();
    assert!(matches!(recv(&mut link).await, Msg::Sync { .. }));
    send(&mut link, prepared(0, 0)).await;
    (primary, link)
}

/// Starts three appends, one at a time, each only once the previous one's Prepare reached the
/// replica: three rounds in flight, none answered. Returns the appends and the round ids.
async fn three_rounds(primary: &ReplLog, link: &mut Link) -> (Vec<AppendFuture>, Vec<u64>) {
    let (mut appends, mut ids) = (Vec::new(), Vec::new());
    for (i, data) in ["a", "b", "c"].into_iter().enumerate() {
        appends.push(primary.append(op(data), Durability::Replicated));
        let Msg::Prepare {
            round, first, ops, ..
        } = recv(link).await
        else {
            panic!("expected a Prepare")
        };
        assert_eq!((first, ops.len()), (i as u64 + 1, 1));
        ids.push(round);
    }
    let rounds = primary.status().rounds;
    assert_eq!(rounds.in_flight, 3, "{rounds:?}");
    assert_eq!(rounds.max_in_flight, 3, "{rounds:?}");
    (appends, ids)
}

/// Waits until the primary processed the replica's answers through `last`.
async fn answered_through(primary: &ReplLog, last: u64) {
    while primary.status().replicas[0].last != Some(last) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Several rounds go out before the replica answered the first; answered newest first, none
/// commits before the oldest one is answered, then all commit, in version order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_overlap_and_commit_in_version_order() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::Strict {
        timeout: Duration::from_secs(60),
    };
    let (primary, mut link) = primary_with_fake_replica(dir.path(), policy, 8).await;
    let (appends, ids) = three_rounds(&primary, &mut link).await;

    send(&mut link, prepared(ids[2], 3)).await;
    send(&mut link, prepared(ids[1], 2)).await;
    answered_through(&primary, 2).await;
    // Rounds 2 and 3 are prepared everywhere, but round 1 is not: nothing may commit over it.
    assert_eq!(primary.committed(), 0, "committed past an unprepared round");

    send(&mut link, prepared(ids[0], 3)).await;
    let mut versions = Vec::new();
    for a in appends {
        versions.push(a.await.unwrap());
    }
    assert_eq!(versions, [1, 2, 3]);
    // The replica is told to commit through 3, never past a version before it was prepared.
    loop {
        match Msg::decode(&link.recv().await.unwrap()).unwrap() {
            Msg::Commit { through: 3, .. } => break,
            Msg::Commit { through, .. } => assert!(through < 3),
            other => panic!("unexpected {other:?}"),
        }
    }
    let rounds = primary.status().rounds;
    assert_eq!((rounds.in_flight, rounds.started, rounds.ops), (0, 3, 3));
    assert!(rounds.commits >= 1 && rounds.commits <= 3, "{rounds:?}");
    primary.close().await.unwrap();
}

/// Round 1 times out while rounds 2 and 3 (answered) are in flight: all three are rolled back
/// and fail, none is acknowledged; the versions are reused by the next round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_round_fails_every_round_in_flight_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::Strict {
        timeout: Duration::from_millis(300),
    };
    let (primary, mut link) = primary_with_fake_replica(dir.path(), policy, 8).await;
    let (appends, ids) = three_rounds(&primary, &mut link).await;
    send(&mut link, prepared(ids[1], 2)).await;
    send(&mut link, prepared(ids[2], 3)).await;
    for a in appends {
        let outcome = a.await;
        // The replica got every Prepare: it may hold them, so the outcome is unknown.
        assert!(
            matches!(outcome, Err(Error::OutcomeUnknown { .. })),
            "a round after the failed one: {outcome:?}"
        );
    }
    assert_eq!(
        recv(&mut link).await,
        Msg::Rollback {
            epoch: 1,
            round: ids[0],
            from: 1
        }
    );
    assert_eq!(primary.committed(), 0);
    send(&mut link, prepared(ids[0], 0)).await;

    let next = primary.append(op("d"), Durability::Replicated);
    let Msg::Prepare { round, first, .. } = recv(&mut link).await else {
        panic!("expected a Prepare")
    };
    assert_eq!(first, 1, "the failed rounds' versions are reused");
    send(&mut link, prepared(round, 1)).await;
    assert_eq!(next.await.unwrap(), 1);
    let read = primary.read(1, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].op.data, "d");
    primary.close().await.unwrap();
}

/// A real replica takes Prepares sent back to back (no answer awaited in between) and answers
/// each one, in order, once durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_answers_back_to_back_prepares_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileLog::open(dir.path().join("r"), FileLogOptions::default()).unwrap();
    let replica = ReplLog::open(file, Config::new("127.0.0.1:0", StartAs::Replica, hs("r")))
        .await
        .unwrap();
    let conn = TcpTransport.connect(replica.local_addr()).await.unwrap();
    let (_, mut link) = connect(conn, &hs("fake-primary"), &SeededRand::new(1))
        .await
        .unwrap();
    let sync = Msg::Sync {
        epoch: 1,
        primary: "fake-primary".into(),
        committed: 0,
        last: 0,
    };
    send(&mut link, sync).await;
    assert_eq!(recv(&mut link).await, prepared(0, 0));
    for round in 1..=20u64 {
        let prepare = Msg::Prepare {
            epoch: 1,
            round,
            first: round,
            ops: op(&format!("v{round}")),
            // Each Prepare commits the one before it.
            committed: round - 1,
        };
        send(&mut link, prepare).await;
    }
    for round in 1..=20u64 {
        assert_eq!(recv(&mut link).await, prepared(round, round));
    }
    replica.wait_committed(18).await.unwrap();
    let read = replica.read(1, 100).await.unwrap();
    assert_eq!(read.len(), 19);
    assert_eq!(read[18].op.data, "v19");
    replica.close().await.unwrap();
}

/// With `max_rounds_in_flight: 1` the next round goes out only once the previous one
/// committed; 0 is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_at_a_time_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::Strict {
        timeout: Duration::from_secs(60),
    };
    let (primary, mut link) = primary_with_fake_replica(dir.path(), policy, 1).await;
    let first = primary.append(op("a"), Durability::Replicated);
    let Msg::Prepare { round, .. } = recv(&mut link).await else {
        panic!("expected a Prepare")
    };
    let second = primary.append(op("b"), Durability::Replicated);
    send(&mut link, prepared(round, 1)).await;
    // Round 2's Prepare goes out only after round 1's Commit.
    let raw = Msg::decode(&link.recv().await.unwrap()).unwrap();
    assert!(matches!(raw, Msg::Commit { through: 1, .. }), "{raw:?}");
    let Msg::Prepare {
        round, first: v, ..
    } = recv(&mut link).await
    else {
        panic!("expected a Prepare")
    };
    assert_eq!(v, 2);
    send(&mut link, prepared(round, 2)).await;
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (1, 2));
    assert_eq!(primary.status().rounds.max_in_flight, 1);
    primary.close().await.unwrap();

    let mut config = Config::new("127.0.0.1:0", StartAs::Replica, hs("zero"));
    config.max_rounds_in_flight = 0;
    let file = FileLog::open(dir.path().join("z"), FileLogOptions::default()).unwrap();
    let refused = ReplLog::open(file, config).await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
}

/// A commit decided while later rounds are in flight goes to the replica with the next round's
/// Prepare (no `Commit` of its own); once nothing is in flight, a `Commit` goes out alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_rides_the_next_prepare_while_rounds_are_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::Strict {
        timeout: Duration::from_secs(60),
    };
    let (primary, mut link) = primary_with_fake_replica(dir.path(), policy, 8).await;
    let (appends, ids) = three_rounds(&primary, &mut link).await;
    let mut appends = appends.into_iter();
    send(&mut link, prepared(ids[0], 1)).await;
    assert_eq!(appends.next().unwrap().await.unwrap(), 1);

    // Formed after the commit of 1: its Prepare carries it, and nothing went out before it.
    let fourth = primary.append(op("d"), Durability::Replicated);
    let raw = Msg::decode(&link.recv().await.unwrap()).unwrap();
    let Msg::Prepare {
        round,
        first: 4,
        committed: 1,
        ..
    } = raw
    else {
        panic!("expected round 4's Prepare carrying commit point 1, got {raw:?}")
    };
    send(&mut link, prepared(ids[1], 2)).await;
    send(&mut link, prepared(ids[2], 3)).await;
    send(&mut link, prepared(round, 4)).await;
    let mut versions: Vec<u64> = Vec::new();
    for a in appends.chain([fourth]) {
        versions.push(a.await.unwrap());
    }
    assert_eq!(versions, [2, 3, 4]);
    // Nothing in flight carries the commit point any more: it goes out alone.
    let raw = Msg::decode(&link.recv().await.unwrap()).unwrap();
    assert!(matches!(raw, Msg::Commit { through: 4, .. }), "{raw:?}");
    primary.close().await.unwrap();
}

/// An op acknowledged while later rounds are in flight has its `Commit` record written with
/// the next write, not at once: a primary killed before that write reopens with the op only
/// prepared, and commits it again before anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_whose_commit_record_was_not_written_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::Strict {
        timeout: Duration::from_secs(60),
    };
    let (primary, mut link) = primary_with_fake_replica(dir.path(), policy, 8).await;
    let (appends, ids) = three_rounds(&primary, &mut link).await;
    send(&mut link, prepared(ids[0], 1)).await;
    let acked = appends.into_iter().next().unwrap();
    assert_eq!(acked.await.unwrap(), 1);
    assert_eq!(primary.committed(), 1);
    primary.halt().await;
    drop(link);

    // On disk: 1 prepared (and whatever of rounds 2 and 3 got there), its commit not: rounds
    // 2 and 3 were still in flight, so nothing was written after the commit.
    let file = FileLog::open(dir.path().join("p"), FileLogOptions::default()).unwrap();
    let store = crate::store::Store::open(file).await.unwrap();
    let (committed, last) = {
        let s = store.state();
        (s.committed(), s.last())
    };
    assert_eq!(committed, 0, "the commit record was written at once");
    assert!(last >= 1, "the acknowledged op is not durably prepared");
    store.file().close().await.unwrap();
    drop(store);

    // Reopened as a primary (no replica to wait for), it recommits its prepared tail.
    let replicas = Vec::new();
    let config = Config::new("127.0.0.1:0", StartAs::Primary { replicas }, hs("p"));
    let file = FileLog::open(dir.path().join("p"), FileLogOptions::default()).unwrap();
    let reopened = ReplLog::open(file, config).await.unwrap();
    let committed = tokio::time::timeout(Duration::from_secs(30), reopened.wait_committed(0));
    assert!(committed.await.expect("never recommitted").unwrap() >= 1);
    let read = reopened.read(1, 1).await.unwrap();
    assert_eq!(read[0].op.data, "a");
    reopened.close().await.unwrap();
}
