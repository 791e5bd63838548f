//! Group commit and PUT settlement under injected object store faults: durability levels,
//! in-order acknowledgments, ambiguous PUTs, retries and their exhaustion.

mod common;

use std::time::Duration;

use futures_util::FutureExt;
use object_store::path::Path;
use object_store::ObjectStore;
use rig_core::{Durability, Error, Log, Snapshot};
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::faulty_store::{FaultyObjectStoreController, StallPoint};

use common::{faulty, memory, op, options};

fn eager() -> S3LogOptions {
    // Seal every append at once so several PUTs are in flight.
    S3LogOptions {
        max_batch_delay: Duration::ZERO,
        ..options("app")
    }
}

async fn open_faulty(
    opts: S3LogOptions,
) -> (
    S3Log,
    FaultyObjectStoreController,
    std::sync::Arc<dyn ObjectStore>,
) {
    let shared = memory();
    let (store, control) = faulty(shared.clone());
    let log = S3Log::open(store, opts).await.unwrap();
    (log, control, shared)
}

/// How many log PUTs were attempted.
fn log_puts(control: &FaultyObjectStoreController) -> u64 {
    control.stats().targeted_puts
}

async fn settle(control: &FaultyObjectStoreController, puts: u64) {
    while log_puts(control) < puts {
        tokio::task::yield_now().await;
    }
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

async fn log_keys(store: &dyn ObjectStore) -> usize {
    use futures_util::TryStreamExt;
    store
        .list(Some(&Path::from("app/LOG")))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

/// `Applied` resolves before the PUT and is readable at once; `Local` resolves only after it.
#[tokio::test]
async fn applied_resolves_before_the_put_local_after() {
    common::bounded("applied_resolves_before_the_put_local_after", async {
        let (log, control, _) = open_faulty(options("app")).await;
        control.stall_puts(StallPoint::BeforeWrite);
        let mut applied = log.append(vec![op(1)], Durability::Applied);
        assert_eq!((&mut applied).now_or_never().map(|r| r.unwrap()), Some(1));
        let mut local = log.append(vec![op(2)], Durability::Local);
        settle(&control, 2).await;
        assert!(
            (&mut local).now_or_never().is_none(),
            "Local resolved before its PUT landed"
        );
        assert_eq!(log.committed(), 2);
        assert_eq!(log.durable(), 0);
        assert_eq!(
            log.read(1, 5).await.unwrap().len(),
            2,
            "applied entries are readable"
        );
        control.release_stalled_puts();
        assert_eq!(local.await.unwrap(), 2);
        assert_eq!(log.durable(), 2);
    })
    .await;
}

/// A later batch that lands first is not acknowledged until every earlier batch is durable.
#[tokio::test]
async fn acknowledgments_stay_in_version_order() {
    common::bounded("acknowledgments_stay_in_version_order", async {
        let (log, control, _) = open_faulty(eager()).await;
        control.stall_puts(StallPoint::BeforeWrite);
        control.stall_only_keys_ending_with(Some("0000000000000001"));
        let mut first = log.append(vec![op(1)], Durability::Local);
        let mut second = log.append(vec![op(2), op(3)], Durability::Local);
        settle(&control, 3).await;
        assert!(
            (&mut second).now_or_never().is_none(),
            "batch 2 acknowledged before batch 1"
        );
        assert!((&mut first).now_or_never().is_none());
        assert_eq!(log.durable(), 0);
        control.release_stalled_puts();
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(second.await.unwrap(), 2);
        assert_eq!(log.durable(), 3);
    })
    .await;
}

/// A PUT that lands but reports an error is recognised by its put id: acknowledged, written once.
#[tokio::test]
async fn an_ambiguous_put_is_settled_by_its_put_id() {
    common::bounded("an_ambiguous_put_is_settled_by_its_put_id", async {
        let (log, control, shared) = open_faulty(options("app")).await;
        let before = log_puts(&control);
        control.fail_after_next_puts(1);
        assert_eq!(log.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        assert_eq!(
            log_puts(&control) - before,
            1,
            "settled without writing again"
        );
        log.close().await.unwrap();
        assert_eq!(log_keys(shared.as_ref()).await, 1);
        let log = S3Log::open(shared, options("app")).await.unwrap();
        assert_eq!(log.read(1, 10).await.unwrap().len(), 1);
    })
    .await;
}

/// A PUT that fails before the write is retried, after reading back that it did not land.
#[tokio::test]
async fn failed_puts_are_retried() {
    common::bounded("failed_puts_are_retried", async {
        let (log, control, _) = open_faulty(options("app")).await;
        let before = log_puts(&control);
        control.fail_before_next_puts(2);
        assert_eq!(log.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        assert_eq!(log_puts(&control) - before, 3);
    })
    .await;
}

/// When every attempt fails, the batch and every later one fail with `OutcomeUnknown` and the
/// writer stops; a new instance continues from what is durable.
#[tokio::test]
async fn exhausted_retries_fail_with_outcome_unknown_and_stop_the_writer() {
    common::bounded(
        "exhausted_retries_fail_with_outcome_unknown_and_stop_the_writer",
        async {
            let opts = S3LogOptions {
                put_attempts: 3,
                ..eager()
            };
            let (log, control, shared) = open_faulty(opts).await;
            assert_eq!(log.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
            control.fail_before_next_puts(1000);
            let failing = log.append(vec![op(2)], Durability::Local);
            let later = log.append(vec![op(3)], Durability::Local);
            for r in [failing.await, later.await] {
                assert!(matches!(r, Err(Error::OutcomeUnknown { .. })), "{r:?}");
            }
            assert!(log.append(vec![op(4)], Durability::Applied).await.is_err());
            control.fail_before_next_puts(0);
            let log = S3Log::open(shared, options("app")).await.unwrap();
            assert_eq!(log.committed(), 1);
            assert_eq!(log.append(vec![op(5)], Durability::Local).await.unwrap(), 2);
        },
    )
    .await;
}

/// A snapshot is stored only once the versions it covers are durable.
#[tokio::test]
async fn a_snapshot_waits_for_its_versions_to_be_durable() {
    common::bounded("a_snapshot_waits_for_its_versions_to_be_durable", async {
        let (log, control, _) = open_faulty(options("app")).await;
        control.stall_puts(StallPoint::BeforeWrite);
        log.append(vec![op(1), op(2)], Durability::Applied)
            .await
            .unwrap();
        let mut save = Box::pin(log.save_snapshot(Snapshot {
            version: 2,
            data: "two".into(),
        }));
        settle(&control, 2).await;
        assert!(
            (&mut save).now_or_never().is_none(),
            "snapshot saved before its versions were durable"
        );
        assert!(log.load_snapshot().await.unwrap().is_none());
        control.release_stalled_puts();
        save.await.unwrap();
        assert_eq!(log.load_snapshot().await.unwrap().unwrap().version, 2);
    })
    .await;
}
