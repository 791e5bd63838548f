use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::{FaultyObjectStore, FaultyObjectStoreController, StallPoint};

fn setup() -> (
    Arc<dyn ObjectStore>,
    Arc<dyn ObjectStore>,
    FaultyObjectStoreController,
) {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, ctl) = FaultyObjectStore::wrap(Arc::clone(&inner), 7);
    (inner, store, ctl)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

async fn exists(store: &Arc<dyn ObjectStore>, key: &Path) -> bool {
    store.head(key).await.is_ok()
}

#[test]
fn error_before_write_writes_nothing() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("a");
        ctl.fail_before_next_puts(1);
        assert!(store.put(&key, "x".into()).await.is_err());
        assert!(!exists(&inner, &key).await);
        store.put(&key, "x".into()).await.unwrap();
        assert!(exists(&inner, &key).await);
        assert_eq!(ctl.stats().failed_before_write, 1);
        assert_eq!(ctl.stats().puts, 2);
    });
}

#[test]
fn error_after_write_lands_the_object() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("a");
        ctl.fail_after_next_puts(1);
        let err = store.put(&key, "x".into()).await.unwrap_err();
        assert!(err.to_string().contains("reply was lost"), "{err}");
        let got = inner.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"x");
        assert_eq!(ctl.stats().failed_after_write, 1);
    });
}

#[test]
fn throttling_refuses_reads_and_writes() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("a");
        inner.put(&key, "x".into()).await.unwrap();
        ctl.throttle_next(2);
        let err = store.get(&key).await.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        assert!(store.put(&Path::from("b"), "y".into()).await.is_err());
        assert!(!exists(&inner, &Path::from("b")).await);
        assert!(store.get(&key).await.is_ok());
        assert_eq!(ctl.stats().throttled, 2);
    });
}

#[test]
fn latency_delays_requests_in_tokio_time() {
    rt().block_on(async {
        let (_, store, ctl) = setup();
        ctl.set_max_latency(Duration::from_secs(10));
        let start = tokio::time::Instant::now();
        for i in 0..20 {
            store
                .put(&Path::from(format!("k{i}")), "x".into())
                .await
                .unwrap();
        }
        let waited = tokio::time::Instant::now() - start;
        assert!(waited > Duration::ZERO && waited <= Duration::from_secs(200));
        assert_eq!(ctl.stats().delayed, 20);
    });
}

#[test]
fn create_race_makes_the_put_fail_with_already_exists() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("log/1");
        ctl.race_next_conditional_puts(1);
        ctl.set_race_payload(Some("theirs".into()));
        let create = PutOptions::from(PutMode::Create);
        let err = store
            .put_opts(&key, "ours".into(), create)
            .await
            .unwrap_err();
        assert!(
            matches!(err, object_store::Error::AlreadyExists { .. }),
            "{err}"
        );
        let got = inner.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"theirs");
        // An unconditional PUT never races.
        ctl.race_next_conditional_puts(1);
        store.put(&Path::from("plain"), "x".into()).await.unwrap();
        assert_eq!(ctl.stats().raced, 1);
    });
}

#[test]
fn update_race_makes_the_put_fail_with_precondition() {
    rt().block_on(async {
        let (_, store, ctl) = setup();
        let key = Path::from("head");
        let first = store.put(&key, "v1".into()).await.unwrap();
        let version = UpdateVersion {
            e_tag: first.e_tag,
            version: first.version,
        };
        ctl.race_next_conditional_puts(1);
        let update = PutOptions::from(PutMode::Update(version));
        let err = store.put_opts(&key, "v2".into(), update).await.unwrap_err();
        assert!(
            matches!(err, object_store::Error::Precondition { .. }),
            "{err}"
        );
    });
}

#[test]
fn key_filter_and_heal_stop_faults() {
    rt().block_on(async {
        let (_, store, ctl) = setup();
        ctl.only_keys_containing(Some("LOG/"));
        ctl.set_fail_before_write_rate(1000);
        store.put(&Path::from("meta/x"), "x".into()).await.unwrap();
        assert!(store.put(&Path::from("LOG/1"), "x".into()).await.is_err());
        ctl.heal();
        store.put(&Path::from("LOG/1"), "x".into()).await.unwrap();
        assert_eq!(ctl.stats().failed_before_write, 1);
    });
}

#[test]
fn rates_are_seeded() {
    let run = |seed| {
        rt().block_on(async move {
            let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let (store, ctl) = FaultyObjectStore::wrap(inner, seed);
            ctl.set_fail_before_write_rate(300);
            ctl.set_fail_after_write_rate(300);
            let mut outcomes = Vec::new();
            for i in 0..50 {
                outcomes.push(
                    store
                        .put(&Path::from(format!("k{i}")), "x".into())
                        .await
                        .is_ok(),
                );
            }
            (outcomes, ctl.stats())
        })
    };
    let (a, stats) = run(3);
    assert_eq!(a, run(3).0);
    assert!(stats.failed_before_write > 0 && stats.failed_after_write > 0);
    assert!(a.iter().any(|ok| *ok));
}

#[test]
fn put_latency_delays_every_targeted_put_by_exactly_that_much() {
    rt().block_on(async {
        let (_, store, ctl) = setup();
        ctl.only_keys_containing(Some("LOG/"));
        ctl.set_put_latency(Duration::from_millis(10));
        let start = tokio::time::Instant::now();
        for i in 0..3 {
            let key = Path::from(format!("LOG/{i}"));
            store.put(&key, "x".into()).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(30));
        // Reads and PUTs to keys outside the filter are not delayed.
        let start = tokio::time::Instant::now();
        store.get(&Path::from("LOG/0")).await.unwrap();
        store.put(&Path::from("meta"), "x".into()).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        let stats = ctl.stats();
        assert_eq!((stats.delayed, stats.puts, stats.targeted_puts), (3, 4, 3));
    });
}

#[test]
fn periodic_faults_hit_every_nth_targeted_put() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        ctl.only_keys_containing(Some("LOG/"));
        ctl.set_fail_before_write_period(3);
        ctl.set_fail_after_write_period(4);
        let mut outcomes = Vec::new();
        for i in 1..=12 {
            // A PUT outside the filter neither fails nor advances the count.
            store.put(&Path::from("meta"), "x".into()).await.unwrap();
            let key = Path::from(format!("LOG/{i}"));
            let ok = store.put(&key, "x".into()).await.is_ok();
            outcomes.push((ok, exists(&inner, &key).await));
        }
        let mut expected = vec![(true, true); 12];
        for n in [3, 6, 9, 12] {
            expected[n - 1] = (false, false); // failed before the write (12 is not also after)
        }
        for n in [4, 8] {
            expected[n - 1] = (false, true); // landed, reported failed
        }
        assert_eq!(outcomes, expected);
        let stats = ctl.stats();
        assert_eq!(
            (stats.failed_before_write, stats.failed_after_write),
            (4, 2)
        );
        assert_eq!(stats.targeted_puts, 12);
    });
}

/// A PUT held at a stall gate: not done after an hour of (paused) tokio time.
async fn is_held<F: std::future::Future + Unpin>(put: &mut F) -> bool {
    tokio::time::timeout(Duration::from_secs(3600), put)
        .await
        .is_err()
}

#[test]
fn a_put_stalled_before_the_write_waits_for_release_and_has_not_landed() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("LOG/1");
        ctl.stall_puts(StallPoint::BeforeWrite);
        let mut put = Box::pin(store.put(&key, "x".into()));
        assert!(is_held(&mut put).await);
        assert_eq!(ctl.stats().targeted_puts, 1, "counted while held");
        assert!(!exists(&inner, &key).await);
        // Reads are never held.
        assert!(store.get(&key).await.is_err());
        ctl.release_stalled_puts();
        put.await.unwrap();
        assert!(exists(&inner, &key).await);
        // Released: later PUTs do not stall.
        store.put(&Path::from("LOG/2"), "y".into()).await.unwrap();
        assert_eq!(ctl.stats().stalled, 1);
    });
}

#[test]
fn a_put_stalled_after_the_write_has_landed_but_not_replied() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        let key = Path::from("LOG/1");
        ctl.stall_puts(StallPoint::AfterWrite);
        let mut put = Box::pin(store.put(&key, "x".into()));
        assert!(is_held(&mut put).await);
        assert!(exists(&inner, &key).await);
        ctl.release_stalled_puts();
        put.await.unwrap();
    });
}

#[test]
fn stalls_can_be_confined_to_a_key_suffix_and_heal_releases_them() {
    rt().block_on(async {
        let (inner, store, ctl) = setup();
        ctl.only_keys_containing(Some("LOG/"));
        ctl.stall_puts(StallPoint::BeforeWrite);
        ctl.stall_only_keys_ending_with(Some("0001"));
        let key = Path::from("LOG/0001");
        let mut held = Box::pin(store.put(&key, "x".into()));
        assert!(is_held(&mut held).await);
        store
            .put(&Path::from("LOG/0002"), "y".into())
            .await
            .unwrap();
        store
            .put(&Path::from("meta/0001"), "z".into())
            .await
            .unwrap();
        assert!(!exists(&inner, &key).await);
        ctl.heal();
        held.await.unwrap();
        assert!(exists(&inner, &key).await);
        assert_eq!(ctl.stats().stalled, 1);
    });
}
