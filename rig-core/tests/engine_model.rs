//! Model test: random operations, snapshots and restarts over MemLog; the recovered state always
//! equals applying the acknowledged prefix in order.

mod common;

use std::collections::BTreeMap;

use common::{set, Kv};
use proptest::prelude::*;
use rig_core::{MemLog, Options, Rig, SnapshotPolicy};

#[derive(Debug, Clone)]
enum Step {
    /// Concurrent sets: (key, value, client sequence?) each.
    Sets(Vec<(u8, u8, bool)>),
    Snapshot,
    /// Close cleanly and reopen with a fresh service.
    Restart,
    /// Drop the engine without closing (a crash) and reopen with a fresh service.
    Crash,
    /// Retry the latest client request.
    Retry,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec((0u8..5, 1u8..50, any::<bool>()), 1..6).prop_map(Step::Sets),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Restart),
        1 => Just(Step::Crash),
        1 => Just(Step::Retry),
    ]
}

async fn open(log: &MemLog, every: u64) -> Rig<Kv, MemLog> {
    let options = Options {
        snapshot: SnapshotPolicy {
            every_ops: Some(every),
            every_bytes: None,
        },
        ..Default::default()
    };
    Rig::open_with(Kv::default(), log.reopen(), options)
        .await
        .unwrap()
}

async fn run(steps: Vec<Step>, every: u64) {
    let log = MemLog::new();
    let mut rig = open(&log, every).await;
    // The model: acknowledged writes by version.
    let mut acked: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut last_client: Option<(u64, u64, String, String)> = None;
    for s in steps {
        match s {
            Step::Sets(sets) => {
                let mut tasks = Vec::new();
                for (k, v, with_client) in sets {
                    let (k, v) = (format!("k{k}"), v.to_string());
                    let mut op = set(&k, &v);
                    if with_client {
                        seq += 1;
                        op = op.with_client(1, seq);
                        last_client = Some((1, seq, k.clone(), v.clone()));
                    }
                    let r = rig.clone();
                    tasks.push(tokio::spawn(async move { (k, v, r.execute(op).await) }));
                }
                for t in tasks {
                    let (k, v, res) = t.await.unwrap();
                    let done = res.expect("MemLog never fails an append here");
                    assert!(
                        acked.insert(done.version, (k, v)).is_none(),
                        "version {} acked twice",
                        done.version
                    );
                }
            }
            Step::Snapshot => {
                rig.snapshot_now().await.unwrap();
            }
            Step::Restart => {
                rig.close().await.unwrap();
                rig = open(&log, every).await;
            }
            Step::Crash => {
                drop(rig);
                rig = open(&log, every).await;
            }
            Step::Retry => {
                if let Some((c, s, k, v)) = &last_client {
                    let done = rig.execute(set(k, v).with_client(*c, *s)).await.unwrap();
                    assert_eq!(
                        acked.get(&done.version),
                        Some(&(k.clone(), v.clone())),
                        "retry returned another op"
                    );
                }
            }
        }
        // Every acknowledged version is applied, in order, exactly once.
        let mut model = BTreeMap::new();
        for (k, v) in acked.values() {
            model.insert(k.clone(), v.clone());
        }
        let state = rig.state().await;
        assert_eq!(state.map, model);
        assert_eq!(
            rig.applied_version(),
            acked.keys().next_back().copied().unwrap_or(0)
        );
    }
    let versions: Vec<u64> = acked.keys().copied().collect();
    assert_eq!(
        versions,
        (1..=versions.len() as u64).collect::<Vec<_>>(),
        "acknowledged versions are gap-free"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn recovered_state_equals_the_acknowledged_prefix(steps in proptest::collection::vec(step(), 1..25), every in 3u64..40) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(steps, every));
    }
}
