//! Two writers on one store: the newer fences the older, the older fails with `Fenced` and never
//! gets an acknowledgment for a write the newer one did not replay.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rig_core::{Durability, Error, Log, LogPayload, Operation};
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::faulty_store::StallPoint;

use common::{faulty, memory, op, options};

async fn read_all(log: &S3Log) -> Vec<LogPayload> {
    let mut out = Vec::new();
    let mut next = log.first_version();
    while next <= log.committed() {
        let chunk = log.read(next, 100).await.expect("read");
        assert!(!chunk.is_empty());
        next += chunk.len() as u64;
        out.extend(chunk);
    }
    out
}

fn assert_fenced(r: rig_core::Result<u64>, what: &str) {
    match r {
        Err(Error::Fenced { reason }) => assert!(reason.contains("epoch"), "{what}: {reason}"),
        other => panic!("{what}: expected Fenced, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_instance_fences_the_first() {
    common::bounded("a_second_instance_fences_the_first", async {
        let store = memory();
        let a = S3Log::open(store.clone(), options("app")).await.unwrap();
        assert_eq!(a.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        let b = S3Log::open(store.clone(), options("app")).await.unwrap();
        assert!(b.epoch() > a.epoch());
        assert_eq!(b.committed(), 1, "b replayed a's acknowledged op");
        assert_fenced(
            a.append(vec![op(2)], Durability::Local).await,
            "a after b opened",
        );
        // Every later call on the fenced writer fails too, and it stops claiming leadership.
        assert_fenced(a.append(vec![op(3)], Durability::Applied).await, "a again");
        assert_eq!(b.append(vec![op(2)], Durability::Local).await.unwrap(), 2);
        b.close().await.unwrap();
        let c = S3Log::open(store, options("app")).await.unwrap();
        let all = read_all(&c).await;
        assert_eq!(
            all.iter().map(|p| p.op.clone()).collect::<Vec<_>>(),
            vec![op(1), op(2)]
        );
    })
    .await;
}

/// Two instances write at the same time (latency makes their PUTs interleave): the first keeps
/// appending from concurrent tasks until the second opens mid-stream; exactly one keeps writing,
/// the other is fenced, and every acknowledged op survives a reopen at the version it was
/// acknowledged with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_exactly_one_keeps_writing() {
    common::bounded("racing_writers_exactly_one_keeps_writing", async {
        for round in 0..6u64 {
            let (store, control) = faulty(memory());
            control.set_put_latency(Duration::from_millis(1 + round % 3));
            let prefix = format!("race-{round}");
            let (started_tx, started_rx) = tokio::sync::watch::channel(0u64);
            let started_tx = Arc::new(started_tx);
            let mut writers = Vec::new();
            for w in 0..2u64 {
                let store = store.clone();
                let opts = options(&prefix);
                let mut started_rx = started_rx.clone();
                let started_tx = started_tx.clone();
                writers.push(tokio::spawn(async move {
                    if w == 1 {
                        // Open while the first writer is mid-stream.
                        let _ = started_rx.wait_for(|n| *n >= 5 + round).await;
                    }
                    let log = Arc::new(S3Log::open(store, opts).await.expect("open"));
                    // Four appending tasks per writer, so batches pipeline.
                    let mut tasks = Vec::new();
                    for t in 0..4u64 {
                        let log = log.clone();
                        let started_tx = started_tx.clone();
                        tasks.push(tokio::spawn(async move {
                            let mut acked: Vec<(u64, Operation)> = Vec::new();
                            let limit = if w == 0 { 100_000 } else { 30 };
                            for i in 0..limit {
                                let o = op(w * 1_000_000 + t * 100_000 + i);
                                match log.append(vec![o.clone()], Durability::Local).await {
                                    Ok(v) => {
                                        acked.push((v, o));
                                        started_tx.send_modify(|n| *n += 1);
                                    }
                                    Err(Error::Fenced { .. }) => return (acked, true),
                                    Err(e) => panic!("writer {w}: unexpected error {e}"),
                                }
                            }
                            (acked, false)
                        }));
                    }
                    let mut acked = Vec::new();
                    let mut fenced = Vec::new();
                    for t in tasks {
                        let (a, f) = t.await.expect("append task");
                        acked.extend(a);
                        fenced.push(f);
                    }
                    assert!(
                        fenced.iter().all(|f| *f == fenced[0]),
                        "writer {w}: some tasks fenced, others not: {fenced:?}"
                    );
                    if !fenced[0] {
                        log.close().await.expect("close");
                    }
                    (acked, fenced[0])
                }));
            }
            let mut results = Vec::new();
            for w in writers {
                results.push(w.await.expect("writer task"));
            }
            let fenced: Vec<bool> = results.iter().map(|(_, f)| *f).collect();
            assert_eq!(
                fenced,
                vec![true, false],
                "round {round}: the first writer must be fenced, the second keep writing"
            );
            let mut by_version = BTreeMap::new();
            for (acked, _) in &results {
                for (v, o) in acked {
                    assert!(
                        by_version.insert(*v, o.clone()).is_none(),
                        "round {round}: version {v} acknowledged twice"
                    );
                }
            }
            assert!(
                results[1].0.len() == 120,
                "round {round}: the second writer acknowledged everything"
            );
            let log = S3Log::open(store, options(&prefix)).await.expect("reopen");
            let all = read_all(&log).await;
            for (v, o) in &by_version {
                let entry = &all[(*v - 1) as usize];
                assert_eq!(entry.version, *v);
                assert_eq!(
                    &entry.op, o,
                    "round {round}: acknowledged op at {v} lost or changed"
                );
            }
        }
    })
    .await;
}

/// The old writer's PUT is stalled before it reaches the store; a new instance opens and fences.
/// When the stalled PUT goes on, it fails with `Fenced` and the new log never holds it.
#[tokio::test]
async fn a_stalled_writer_is_fenced_when_its_put_resumes() {
    common::bounded("a_stalled_writer_is_fenced_when_its_put_resumes", async {
        let shared = memory();
        let (old_store, old_ctl) = faulty(shared.clone());
        let old = S3Log::open(old_store, options("app")).await.unwrap();
        assert_eq!(old.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        old_ctl.stall_puts(StallPoint::BeforeWrite);
        let stalled = old.append(vec![op(2)], Durability::Local);
        tokio::task::yield_now().await;
        let new = S3Log::open(shared.clone(), options("app")).await.unwrap();
        assert_eq!(new.committed(), 1);
        old_ctl.release_stalled_puts();
        assert_fenced(stalled.await, "the stalled append");
        assert_eq!(
            new.append(vec![op(20)], Durability::Local).await.unwrap(),
            2
        );
        let all = read_all(&new).await;
        assert_eq!(
            all.iter().map(|p| p.op.clone()).collect::<Vec<_>>(),
            vec![op(1), op(20)]
        );
    })
    .await;
}

/// The old writer's PUT lands but its reply is stalled; the new instance replays it, and only
/// then may the old writer acknowledge it.
#[tokio::test]
async fn a_landed_write_of_a_stalled_writer_is_replayed_by_the_new_one() {
    common::bounded(
        "a_landed_write_of_a_stalled_writer_is_replayed_by_the_new_one",
        async {
            let shared = memory();
            let (old_store, old_ctl) = faulty(shared.clone());
            let old = S3Log::open(old_store, options("app")).await.unwrap();
            old_ctl.stall_puts(StallPoint::AfterWrite);
            let stalled = old.append(vec![op(1)], Durability::Local);
            // Let the PUT reach the store.
            while old_ctl.stats().targeted_puts < 2 {
                tokio::task::yield_now().await;
            }
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let new = S3Log::open(shared.clone(), options("app")).await.unwrap();
            assert_eq!(new.committed(), 1, "the landed batch is on the chain");
            old_ctl.release_stalled_puts();
            assert_eq!(
                stalled.await.unwrap(),
                1,
                "acknowledged, and the new writer has it"
            );
            assert_eq!(read_all(&new).await[0].op, op(1));
            assert_fenced(
                old.append(vec![op(2)], Durability::Local).await,
                "old after new",
            );
        },
    )
    .await;
}

/// A batch in the old writer's pipeline lands after its predecessor lost the slot to the new
/// writer's fence: it is debris, never acknowledged, and the new writer writes over it.
#[tokio::test]
async fn pipelined_debris_of_a_fenced_writer_is_never_acknowledged() {
    common::bounded(
        "pipelined_debris_of_a_fenced_writer_is_never_acknowledged",
        async {
            let shared = memory();
            let (old_store, old_ctl) = faulty(shared.clone());
            let old = S3Log::open(
                old_store,
                rig_log_s3::S3LogOptions {
                    max_batch_delay: Duration::ZERO,
                    ..options("app")
                },
            )
            .await
            .unwrap();
            // First batch stalls before the write; the second is sealed while it is in flight and lands.
            old_ctl.stall_puts(StallPoint::BeforeWrite);
            let first = old.append(vec![op(1)], Durability::Local);
            let second = old.append(vec![op(2), op(3)], Durability::Local);
            while old_ctl.stats().targeted_puts < 3 {
                tokio::task::yield_now().await;
            }
            let new = S3Log::open(shared.clone(), options("app")).await.unwrap();
            assert_eq!(
                new.committed(),
                0,
                "nothing of the old writer was durable in order"
            );
            old_ctl.release_stalled_puts();
            assert_fenced(first.await, "first");
            assert_fenced(second.await, "second");
            // The new writer's batches land on and past the debris key.
            assert_eq!(
                new.append(vec![op(10)], Durability::Local).await.unwrap(),
                1
            );
            assert_eq!(
                new.append(vec![op(11)], Durability::Local).await.unwrap(),
                2
            );
            assert_eq!(
                new.append(vec![op(12)], Durability::Local).await.unwrap(),
                3
            );
            new.close().await.unwrap();
            let again = S3Log::open(shared, options("app")).await.unwrap();
            let ops: Vec<_> = read_all(&again).await.into_iter().map(|p| p.op).collect();
            assert_eq!(ops, vec![op(10), op(11), op(12)]);
        },
    )
    .await;
}

/// Regression: an old writer that never stops pipelining (batch delay below the PUT latency, so
/// its next batch is always sealed before the previous one lands) won the create-if-absent race
/// for every slot the new writer tried to fence, and `open` looped forever. The old writer must
/// notice the newer epoch and stop sealing, so the new writer takes over; every op the old writer
/// acknowledged survives.
#[tokio::test(start_paused = true)]
async fn a_busy_pipelining_writer_cannot_keep_a_new_writer_from_opening() {
    common::bounded(
        "a_busy_pipelining_writer_cannot_keep_a_new_writer_from_opening",
        async {
            let (store, control) = faulty(memory());
            control.set_put_latency(Duration::from_millis(3));
            let opts = S3LogOptions {
                max_batch_delay: Duration::from_millis(1),
                ..options("busy")
            };
            let old = Arc::new(S3Log::open(store.clone(), opts.clone()).await.unwrap());
            let acks = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for t in 0..4u64 {
                let old = old.clone();
                let acks = acks.clone();
                tasks.push(tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0.. {
                        let o = op(t * 1_000_000 + i);
                        match old.append(vec![o.clone()], Durability::Local).await {
                            Ok(v) => {
                                acked.push((v, o));
                                acks.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => return (acked, e),
                        }
                    }
                    unreachable!()
                }));
            }
            while acks.load(Ordering::Relaxed) < 50 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let new = tokio::time::timeout(
                Duration::from_secs(60),
                S3Log::open(store.clone(), opts.clone()),
            )
            .await
            .expect("open never won the fence slot against a pipelining old writer (livelock)")
            .expect("open");
            let mut by_version = BTreeMap::new();
            for t in tasks {
                let (acked, e) = tokio::time::timeout(Duration::from_secs(60), t)
                    .await
                    .expect("the old writer was never fenced")
                    .expect("append task");
                assert!(matches!(e, Error::Fenced { .. }), "old writer: {e:?}");
                by_version.extend(acked);
            }
            let v = new.append(vec![op(7)], Durability::Local).await.unwrap();
            assert_eq!(v, new.committed());
            new.close().await.unwrap();
            let again = S3Log::open(store, opts).await.unwrap();
            let all = read_all(&again).await;
            assert_eq!(all.len() as u64, v);
            for (v, o) in &by_version {
                assert_eq!(&all[(*v - 1) as usize].op, o, "acknowledged op at {v} lost");
            }
        },
    )
    .await;
}
