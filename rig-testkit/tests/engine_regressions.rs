//! Engine bugs found by rig-testkit's simulation, kept as regression tests.

mod common;

use std::time::Duration;

use common::kv::{put, Kv};
use rig_core::{MemLog, Rig};

/// Found by `mem_engine_survives_crashes_and_ambiguous_appends` (seed 126): when two puts on one
/// key arrive together and the first is rejected, the second stays in the engine's waiting
/// queue until some unrelated event (another command, a batch completion) wakes the engine.
/// With no further traffic it waits forever.
#[tokio::test(start_paused = true)]
async fn op_behind_a_rejected_op_on_the_same_key_runs() {
    let rig = Rig::open(Kv::default(), MemLog::new()).await.unwrap();
    let (a, b) = (rig.clone(), rig.clone());
    let rejected = tokio::spawn(async move { a.execute(put(2, 13)).await });
    let waiting = tokio::spawn(async move { b.execute(put(2, 14)).await });
    assert!(
        rejected.await.unwrap().is_err(),
        "13 is rejected by the service"
    );
    let done = tokio::time::timeout(Duration::from_secs(3600), waiting)
        .await
        .expect("the second put was stranded behind the rejected one")
        .unwrap();
    assert_eq!(done.unwrap().version, 1);
}
