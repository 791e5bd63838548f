//! What a power loss on a majority at once costs in each commit mode (the crate docs state it):
//! ops acknowledged once committed (`Durability::Applied`) are lost in Volatile mode when every
//! node that received them loses power before the background sync, and never in Strict mode;
//! ops acknowledged at `Durability::Replicated` (the `durable` watermark) survive in both.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::SeededRand;
use rig_core::{Durability, Log, Operation};
use rig_raft_lite::core::CommitMode;
use support::sim_group::SimGroup;

/// Appends `n` ops at `durability`, cuts the power of every node at once, restarts them and
/// returns how many acknowledged ops the recovered group still holds, plus the durable and
/// committed watermarks seen just before the power loss.
async fn acked_after_power_loss(
    mode: CommitMode,
    durability: Durability,
    n: u64,
) -> (u64, u64, u64) {
    let group = Arc::new(SimGroup::start(3, mode, SeededRand::new(5), |o| {
        o.sync_interval = Duration::from_secs(1);
    }));
    let (leader, _) = group.converge(5).await;
    // Let the background sync make the leader's no-op durable, so what follows is all new.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut acked = Vec::new();
    for i in 0..n {
        let v = leader
            .append(vec![Operation::new(format!("op{i}"), "")], durability)
            .await
            .expect("acknowledged");
        acked.push((v, format!("op{i}")));
    }
    let (durable, committed) = (leader.durable(), leader.committed());
    for id in 1..=3 {
        group.power_off(id).await;
    }
    let (leader, _) = group.converge(5).await;
    let log = leader.read(1, 10_000).await.expect("read");
    let kept = acked
        .iter()
        .filter(|(v, m)| {
            log.get((*v - 1) as usize)
                .is_some_and(|p| &p.op.method == m)
        })
        .count() as u64;
    group.shutdown().await;
    (kept, durable, committed)
}

#[tokio::test(start_paused = true)]
async fn volatile_mode_loses_committed_ops_when_a_majority_loses_power() {
    let (kept, durable, committed) =
        acked_after_power_loss(CommitMode::Volatile, Durability::Applied, 20).await;
    assert!(
        durable < committed,
        "acknowledged before the background sync"
    );
    assert!(
        kept < 20,
        "the unsynced acknowledged ops are gone ({kept} kept)"
    );
}

#[tokio::test(start_paused = true)]
async fn volatile_mode_keeps_ops_acknowledged_as_durable() {
    let (kept, _, _) =
        acked_after_power_loss(CommitMode::Volatile, Durability::Replicated, 5).await;
    assert_eq!(kept, 5, "the durable watermark survives a power loss");
}

#[tokio::test(start_paused = true)]
async fn strict_mode_loses_nothing_when_a_majority_loses_power() {
    let (kept, durable, committed) =
        acked_after_power_loss(CommitMode::Strict, Durability::Applied, 20).await;
    assert_eq!(
        durable, committed,
        "Strict commits only what a majority fsynced"
    );
    assert_eq!(kept, 20);
}

/// Writes `n` ops through the leader, restarts a follower (cutting its power, or only its
/// process), then lets the leader idle: whether the follower's committed version reaches the
/// leader's within 5 s of simulated time. The leader believes the follower holds everything it
/// acknowledged before the restart, and no write follows to reveal otherwise.
async fn follower_catches_up_after_restart(mode: CommitMode, power_loss: bool) -> bool {
    let group = SimGroup::start(3, mode, SeededRand::new(9), |o| {
        o.sync_interval = Duration::from_secs(1);
    });
    let (leader, _) = group.converge(9).await;
    for i in 0..10 {
        let op = vec![Operation::new(format!("op{i}"), "")];
        leader
            .append(op, Durability::Applied)
            .await
            .expect("acknowledged");
    }
    let follower = (1..=3).find(|&id| id != leader.id()).expect("a follower");
    if power_loss {
        group.power_off(follower).await;
    } else {
        group.crash_process(follower).await;
    }
    group.boot(follower);
    let node = group
        .up()
        .into_iter()
        .find(|n| n.id() == follower)
        .expect("booted");
    let target = leader.committed();
    let caught_up = async {
        while node.committed() < target {
            node.wait_committed(node.committed()).await.expect("tail");
        }
    };
    let done = tokio::time::timeout(Duration::from_secs(5), caught_up)
        .await
        .is_ok();
    group.shutdown().await;
    done
}

#[tokio::test(start_paused = true)]
async fn a_follower_that_lost_unsynced_entries_catches_up_with_an_idle_leader() {
    assert!(follower_catches_up_after_restart(CommitMode::Volatile, true).await);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_follower_learns_the_commit_from_an_idle_leader() {
    assert!(follower_catches_up_after_restart(CommitMode::Strict, false).await);
}

/// A follower's process crashes with entries it received but has not synced (they survive in
/// the page cache) and it restarts; the leader's durable watermark then counts that follower.
/// Everything at or below the watermark must survive a power loss on every node: the restarted
/// node may report as persisted only what it synced.
#[tokio::test(start_paused = true)]
async fn the_durable_watermark_survives_a_power_loss_after_a_follower_process_crash() {
    let group = SimGroup::start(3, CommitMode::Volatile, SeededRand::new(3), |o| {
        o.sync_interval = Duration::from_secs(1);
    });
    let (leader, _) = group.converge(3).await;
    let mut others = (1..=3).filter(|&id| id != leader.id());
    let (restarted, cut_off) = (others.next().unwrap(), others.next().unwrap());
    // Only the leader and the restarted follower can make entries durable on a majority.
    group.router.isolate(cut_off);
    let mut acked = Vec::new();
    for i in 0..5 {
        let op = vec![Operation::new(format!("op{i}"), "")];
        let v = leader
            .append(op, Durability::Applied)
            .await
            .expect("acknowledged");
        acked.push((v, format!("op{i}")));
    }
    group.crash_process(restarted).await;
    group.boot(restarted);
    // Wait for the leader's background sync (the restarted node's comes a second after its boot).
    let last = acked.last().unwrap().0;
    for _ in 0..99 {
        if leader.durable() >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let durable = leader.durable();
    assert_eq!(durable, last, "the acknowledged ops became durable");
    for id in 1..=3 {
        group.power_off(id).await;
    }
    let (leader, _) = group.converge(3).await;
    let log = leader.read(1, 10_000).await.expect("read");
    for (v, method) in acked.iter().filter(|(v, _)| *v <= durable) {
        let kept = log
            .get((*v - 1) as usize)
            .is_some_and(|p| &p.op.method == method);
        assert!(kept, "version {v} was durable ({durable}) and is gone");
    }
    group.shutdown().await;
}
