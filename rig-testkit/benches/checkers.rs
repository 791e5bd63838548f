//! Criterion benches of the history checkers (issue 4's targets):
//! - the linearizability checker on a 10,000-op key-value history over 128 keys with 8
//!   concurrent clients (goal: under 1 s);
//! - the log checker on 100k and 1M appended entries (goal: near linear, 1M in seconds).
//!
//! Run with `cargo bench -p rig-testkit --bench checkers`.
// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rig_core::seams::{Rand, SeededRand};
use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
use rig_testkit::check::log::{check_log, LogCall, LogHistory, LogReturn};
use rig_testkit::history::{Completion, History, Op, OpId};

const CLIENTS: u64 = 8;

/// One client's operation in flight: its input, and its result once it has taken effect.
struct Pending<I, R> {
    id: OpId,
    input: I,
    result: Option<R>,
}

/// Drives `CLIENTS` concurrent clients for `ops` operations: each step picks a client at random
/// and moves its operation on by one stage (invoke, take effect on the model, complete), so
/// operations overlap in real time and the history is valid by construction.
fn drive<I: Clone, R: Clone>(
    ops: usize,
    rand: &SeededRand,
    history: &History<I, R>,
    mut invoke: impl FnMut(&SeededRand) -> I,
    mut effect: impl FnMut(&I) -> R,
) {
    let mut pending: Vec<Option<Pending<I, R>>> = (0..CLIENTS).map(|_| None).collect();
    let mut invoked = 0;
    while invoked < ops || pending.iter().any(Option::is_some) {
        let c = rand.below(CLIENTS) as usize;
        match &mut pending[c] {
            None if invoked < ops => {
                invoked += 1;
                let input = invoke(rand);
                let id = history.invoke(c as u64, input.clone());
                pending[c] = Some(Pending {
                    id,
                    input,
                    result: None,
                });
            }
            None => {}
            Some(p) if p.result.is_none() => p.result = Some(effect(&p.input)),
            Some(p) => {
                let result = p.result.clone().expect("took effect");
                history.complete(p.id, Completion::Ok(result));
                pending[c] = None;
            }
        }
    }
}

/// A linearizable key-value history of `ops` operations over `keys` keys: 40% gets, 40% puts,
/// 20% compare-and-swaps.
fn kv_history(ops: usize, keys: u64) -> Vec<Op<KvCall, KvReturn>> {
    let history = KvHistory::new();
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut next = 0u64;
    let invoke = |rand: &SeededRand| {
        let key = rand.below(keys);
        next += 1;
        match rand.below(10) {
            0..=3 => KvCall::Get(key),
            4..=7 => KvCall::Put(key, next),
            _ => KvCall::Cas {
                key,
                expect: (rand.below(2) == 0).then(|| rand.below(next)),
                new: next,
            },
        }
    };
    let effect = |call: &KvCall| {
        let (state, ret) = call.apply(model.get(&call.key()).copied());
        if let Some(v) = state {
            model.insert(call.key(), v);
        }
        ret
    };
    drive(ops, &SeededRand::new(11), &history, invoke, effect);
    history.ops()
}

/// A log history of `entries` single-entry appends by 8 clients, then one read of the whole log
/// through its end and 8 reads of 1,000 entries from random versions.
fn log_history(entries: usize) -> Vec<Op<LogCall, LogReturn>> {
    let history = LogHistory::new();
    let rand = SeededRand::new(12);
    let mut log: Vec<u64> = Vec::with_capacity(entries);
    let mut next_id = 0u64;
    let invoke = |_: &SeededRand| {
        next_id += 1;
        LogCall::Append(vec![next_id])
    };
    let effect = |call: &LogCall| {
        let LogCall::Append(ids) = call else {
            unreachable!("only appends are driven")
        };
        log.extend_from_slice(ids);
        LogReturn::Appended(log.len() as u64)
    };
    drive(entries, &rand, &history, invoke, effect);
    let read = |from: u64, to: u64| {
        let entries = (from..=to).map(|v| (v, log[v as usize - 1])).collect();
        let op = history.invoke(0, LogCall::Read { from });
        let to_end = to == log.len() as u64;
        history.complete(op, Completion::Ok(LogReturn::Read { entries, to_end }));
    };
    read(1, log.len() as u64);
    for _ in 0..CLIENTS {
        let from = 1 + rand.below(log.len() as u64 - 1_000);
        read(from, from + 999);
    }
    history.ops()
}

fn linearizability(c: &mut Criterion) {
    let ops = kv_history(10_000, 128);
    assert_eq!(check_kv(&ops, 50_000_000), Linearizable::Yes);
    let mut group = c.benchmark_group("check_kv");
    group.sample_size(20);
    group.bench_function("10k_ops_128_keys_8_clients", |b| {
        b.iter(|| check_kv(&ops, 50_000_000))
    });
    group.finish();
}

fn log_checker(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_log");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for entries in [100_000, 1_000_000] {
        let ops = log_history(entries);
        assert!(check_log(&ops).is_empty(), "the generated history is valid");
        group.bench_with_input(BenchmarkId::from_parameter(entries), &ops, |b, ops| {
            b.iter(|| check_log(ops))
        });
    }
    group.finish();
}

criterion_group!(benches, linearizability, log_checker);
criterion_main!(benches);
