//! Hand-made histories, a brute-force cross-check on small random histories, and a size test.

use proptest::prelude::*;

use super::*;
use crate::history::Completion;

fn done(h: &KvHistory, p: u64, call: KvCall, ret: KvReturn) {
    let id = h.invoke(p, call);
    h.complete(id, Completion::Ok(ret));
}

#[test]
fn sequential_history_is_linearizable() {
    let h = KvHistory::new();
    done(&h, 1, KvCall::Put(1, 5), KvReturn::Done);
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    done(
        &h,
        2,
        KvCall::Cas {
            key: 1,
            expect: Some(5),
            new: 6,
        },
        KvReturn::Cas(true),
    );
    done(&h, 1, KvCall::Get(1), KvReturn::Value(Some(6)));
    assert_eq!(check_kv(&h.ops(), 1_000), Linearizable::Yes);
}

#[test]
fn concurrent_ops_may_take_effect_in_either_order() {
    let h = KvHistory::new();
    let put = h.invoke(1, KvCall::Put(1, 5));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    h.complete(put, Completion::Ok(KvReturn::Done));
    assert_eq!(check_kv(&h.ops(), 1_000), Linearizable::Yes);
}

#[test]
fn value_going_back_is_not_linearizable() {
    let h = KvHistory::new();
    let put = h.invoke(1, KvCall::Put(1, 5));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(None));
    h.complete(put, Completion::Ok(KvReturn::Done));
    assert!(matches!(
        check_kv(&h.ops(), 1_000),
        Linearizable::No { key: 1, .. }
    ));
}

#[test]
fn unknown_write_may_or_may_not_happen() {
    let h = KvHistory::new();
    let put = h.invoke(1, KvCall::Put(1, 5));
    h.complete(put, Completion::Unknown("timeout".into()));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(None));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    assert_eq!(check_kv(&h.ops(), 1_000), Linearizable::Yes);
    done(&h, 2, KvCall::Get(1), KvReturn::Value(None));
    assert!(matches!(check_kv(&h.ops(), 1_000), Linearizable::No { .. }));
}

#[test]
fn failed_write_must_not_be_visible_but_is_ignored_by_linearizability() {
    let h = KvHistory::new();
    let put = h.invoke(1, KvCall::Put(1, 5));
    h.complete(put, Completion::Fail("unavailable".into()));
    done(&h, 2, KvCall::Get(1), KvReturn::Value(Some(5)));
    assert!(matches!(check_kv(&h.ops(), 1_000), Linearizable::No { .. }));
}

#[test]
fn budget_exhaustion_answers_unknown() {
    let h = KvHistory::new();
    let ids: Vec<_> = (0..12).map(|p| h.invoke(p, KvCall::Put(1, p))).collect();
    for id in ids {
        h.complete(id, Completion::Ok(KvReturn::Done));
    }
    done(&h, 99, KvCall::Get(1), KvReturn::Value(Some(1000)));
    assert_eq!(check_kv(&h.ops(), 50), Linearizable::Unknown);
    assert!(matches!(
        check_kv(&h.ops(), 10_000_000),
        Linearizable::No { .. }
    ));
}

#[test]
fn decides_ten_thousand_ops_over_a_hundred_keys() {
    // Eight clients, each running one op at a time against a real register map.
    let h = KvHistory::new();
    let mut state = std::collections::HashMap::new();
    let rand = rig_core::seams::SeededRand::new(7);
    use rig_core::seams::Rand;
    let mut pending: Vec<Option<(OpId, KvReturn)>> = vec![None; 8];
    for n in 0..10_000u64 {
        let p = rand.below(8) as usize;
        if let Some((id, ret)) = pending[p].take() {
            h.complete(id, Completion::Ok(ret));
        }
        let key = rand.below(100);
        let call = match rand.below(3) {
            0 => KvCall::Get(key),
            1 => KvCall::Put(key, n),
            _ => KvCall::Cas {
                key,
                expect: state.get(&key).copied(),
                new: n,
            },
        };
        let (next, ret) = call.apply(state.get(&key).copied());
        if let Some(v) = next {
            state.insert(key, v);
        }
        pending[p] = Some((h.invoke(p as u64, call), ret));
    }
    assert_eq!(check_kv(&h.ops(), 10_000_000), Linearizable::Yes);
}

/// Tries every subset of optional ops and every order: exponential, for tiny histories only.
/// An op without an `Ok` result may take effect at any time after its invocation.
fn brute_force(ops: &[Op<KvCall, KvReturn>]) -> bool {
    let ops: Vec<_> = ops.iter().filter(|o| !o.failed()).collect();
    let optional: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ok().is_none()).collect();
    (0..1u32 << optional.len()).any(|mask| {
        let chosen: Vec<usize> = (0..ops.len())
            .filter(|i| match optional.iter().position(|o| o == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .collect();
        permutations(&chosen)
            .into_iter()
            .any(|order| legal(&ops, &order))
    })
}

fn legal(ops: &[&Op<KvCall, KvReturn>], order: &[usize]) -> bool {
    let mut state = BTreeMap::new();
    for (pos, &i) in order.iter().enumerate() {
        if order[pos + 1..]
            .iter()
            .any(|&j| ops[j].ok().is_some() && ops[j].completed_at() < ops[i].invoked)
        {
            return false;
        }
        let key = ops[i].input.key();
        let (next, ret) = ops[i].input.apply(state.get(&key).copied());
        if ops[i].ok().is_some_and(|want| *want != ret) {
            return false;
        }
        if let Some(v) = next {
            state.insert(key, v);
        }
    }
    true
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.is_empty() {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// A random history: ops with random calls and returns, invoked and completed in a random
/// interleaving, some with unknown or failed outcomes.
fn history() -> impl Strategy<Value = KvHistory> {
    let call = (0..2u64, 0..3u64, 0..3u8).prop_map(|(key, v, kind)| match kind {
        0 => KvCall::Get(key),
        1 => KvCall::Put(key, v),
        _ => KvCall::Cas {
            key,
            expect: v.checked_sub(1),
            new: v,
        },
    });
    let ret = (0..4u64, 0..10u8);
    prop::collection::vec((call, ret, any::<bool>()), 1..7).prop_map(|ops| {
        let h = KvHistory::new();
        let mut open = Vec::new();
        for (i, (call, (r, outcome), complete_now)) in ops.into_iter().enumerate() {
            open.push((h.invoke(i as u64, call), call, r, outcome));
            if complete_now {
                let (id, call, r, outcome) = open.remove(r as usize % open.len());
                finish(&h, id, call, r, outcome);
            }
        }
        for (id, call, r, outcome) in open {
            finish(&h, id, call, r, outcome);
        }
        h
    })
}

fn finish(h: &KvHistory, id: OpId, call: KvCall, r: u64, outcome: u8) {
    let ret = match call {
        KvCall::Get(_) => KvReturn::Value(r.checked_sub(1)),
        KvCall::Put(..) => KvReturn::Done,
        KvCall::Cas { .. } => KvReturn::Cas(r.is_multiple_of(2)),
    };
    match outcome {
        0 => h.complete(id, Completion::Unknown("lost".into())),
        1 => h.complete(id, Completion::Fail("refused".into())),
        2 => {} // never completes
        _ => h.complete(id, Completion::Ok(ret)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn agrees_with_brute_force(h in history()) {
        let ops = h.ops();
        let fast = check_kv(&ops, 1_000_000);
        prop_assert_ne!(&fast, &Linearizable::Unknown);
        prop_assert_eq!(fast == Linearizable::Yes, brute_force(&ops), "history: {:#?}", ops);
    }
}
