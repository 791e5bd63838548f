//! loom model checks of `Watermark`, the primitive group commit acknowledges through.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p rig-core --test loom_watermark --release`.
#![cfg(loom)]

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use rig_core::sync::Watermark;
use rig_core::Error;

/// A waiter is always woken by an advance that reaches its target, whatever the interleaving.
#[test]
fn a_waiter_is_woken_by_the_advance_that_reaches_it() {
    loom::model(|| {
        let w = Arc::new(Watermark::new(0));
        let w2 = w.clone();
        let syncer = thread::spawn(move || {
            w2.advance(1);
            w2.advance(2);
        });
        assert!(block_on(w.wait_for(2)).unwrap() >= 2);
        syncer.join().unwrap();
    });
}

/// A poison never turns into an acknowledgment, and a reached value is never un-acknowledged.
#[test]
fn poison_fails_waiters_that_were_not_reached() {
    loom::model(|| {
        let w = Arc::new(Watermark::new(0));
        let w2 = w.clone();
        let syncer = thread::spawn(move || {
            w2.advance(1);
            w2.poison(Error::Poisoned {
                cause: "fsync failed".into(),
            });
        });
        let reached = block_on(w.wait_for(1));
        assert_eq!(
            reached.unwrap(),
            1,
            "version 1 was durable before the poison"
        );
        let failed = block_on(w.wait_for(2));
        assert!(failed.is_err(), "version 2 was never durable");
        syncer.join().unwrap();
    });
}

/// Two concurrent waiters for different targets both complete.
#[test]
fn concurrent_waiters_both_complete() {
    loom::model(|| {
        let w = Arc::new(Watermark::new(0));
        let (a, b) = (w.clone(), w.clone());
        let t = thread::spawn(move || block_on(a.wait_for(1)).unwrap());
        let u = thread::spawn(move || block_on(b.wait_for(2)).unwrap());
        w.advance(2);
        assert!(t.join().unwrap() >= 1);
        assert!(u.join().unwrap() >= 2);
    });
}
