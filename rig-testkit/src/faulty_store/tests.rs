use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::{FaultyObjectStore, FaultyObjectStoreController};

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
