//! Helpers shared by the conformance cases.

use bytes::Bytes;
use rig_core::{Durability, Log, LogPayload, Operation};

use super::{Capability, LogFactory, Outcome};

/// The `i`-th test operation: distinct method/data per `i`, sizes from empty to a few KiB, some
/// with a client sequence, some with non-UTF-8 bytes.
pub(crate) fn op(i: u64) -> Operation {
    let len = match i % 5 {
        0 => 0,
        1 => 1,
        2 => 17,
        3 => 511,
        _ => 4099,
    };
    let mut data: Vec<u8> = (0..len)
        .map(|b| (b as u64 ^ i.wrapping_mul(31)) as u8)
        .collect();
    data.extend_from_slice(&i.to_le_bytes());
    let op = Operation::new(format!("op-{i}"), Bytes::from(data));
    if i.is_multiple_of(3) {
        op.with_client(i % 7, i)
    } else {
        op
    }
}

/// Operations `range` built with [`op`].
pub(crate) fn ops(range: std::ops::Range<u64>) -> Vec<Operation> {
    range.map(op).collect()
}

/// The durability every case asks for: the strongest the log offers.
pub(crate) fn durability(log: &(impl Log + ?Sized)) -> Durability {
    log.strongest_durability()
}

/// Appends and expects success, naming the backend and context on failure.
pub(crate) async fn append_ok(log: &impl Log, batch: Vec<Operation>, what: &str) -> u64 {
    let d = durability(log);
    match log.append(batch, d).await {
        Ok(v) => v,
        Err(e) => panic!("{}: {what}: append failed: {e}", log.name()),
    }
}

/// Reads every committed entry from `from` through `committed()` in chunks of 7.
pub(crate) async fn read_from(log: &(impl Log + ?Sized), from: u64) -> Vec<LogPayload> {
    let end = log.committed();
    let mut out = Vec::new();
    let mut next = from;
    while next <= end {
        let chunk = match log.read(next, 7).await {
            Ok(c) => c,
            Err(e) => panic!("{}: read({next}, 7) failed: {e}", log.name()),
        };
        assert!(
            !chunk.is_empty(),
            "{}: read({next}, 7) is empty below committed {end}",
            log.name()
        );
        next += chunk.len() as u64;
        out.extend(chunk);
    }
    out
}

/// Asserts that `entries` are exactly versions `first..` in order.
pub(crate) fn assert_gap_free(name: &str, entries: &[LogPayload], first: u64) {
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            e.version,
            first + i as u64,
            "{name}: version gap or reorder at index {i}"
        );
    }
}

/// Asserts that the entry at version `v` holds `op(v)`-style operation `expected`.
pub(crate) fn assert_entry(name: &str, entry: &LogPayload, version: u64, expected: &Operation) {
    assert_eq!(entry.version, version, "{name}: wrong version");
    assert_eq!(
        &entry.op, expected,
        "{name}: entry {version} does not hold what was appended"
    );
}

/// `Some(NotApplicable)` when the factory lacks `cap`.
pub(crate) fn lacks(factory: &impl LogFactory, cap: Capability) -> Option<Outcome> {
    (!factory.capabilities().has(cap)).then_some(Outcome::NotApplicable(cap))
}

/// Creates a log, panicking with context on failure.
pub(crate) async fn create<F: LogFactory>(factory: &F) -> F::Log {
    factory
        .create()
        .await
        .unwrap_or_else(|e| panic!("factory create failed: {e}"))
}
