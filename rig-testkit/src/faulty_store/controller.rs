//! [`FaultyObjectStoreController`]: the test's handle on a [`super::FaultyObjectStore`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rig_core::seams::{Rand, SeededRand};
use tokio::sync::watch;

/// What the faults did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultyObjectStoreStats {
    /// PUTs seen (faulted or not).
    pub puts: u64,
    /// PUTs to keys the key filter selects (every PUT when there is none), counted when they
    /// arrive, before any latency or stall: what the periodic faults count, and how a test
    /// waits until its writer has issued a PUT.
    pub targeted_puts: u64,
    /// PUTs held at a stall gate (see [`FaultyObjectStoreController::stall_puts`]).
    pub stalled: u64,
    /// PUTs failed before the write.
    pub failed_before_write: u64,
    /// PUTs that landed but were reported failed.
    pub failed_after_write: u64,
    /// Requests refused with a throttling error.
    pub throttled: u64,
    /// Requests that were delayed.
    pub delayed: u64,
    /// Conditional PUTs that lost a race to an injected competing writer.
    pub raced: u64,
}

/// The fault a request gets, decided when it arrives.
/// Where [`FaultyObjectStoreController::stall_puts`] holds a PUT until the test releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallPoint {
    /// Before the object is written: the store has not seen the PUT yet.
    BeforeWrite,
    /// After the object is written, before the reply: the write landed but the caller does
    /// not know it yet.
    AfterWrite,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) latency: Duration,
    pub(crate) stall: Option<StallPoint>,
    pub(crate) throttle: bool,
    pub(crate) fail_before: bool,
    pub(crate) fail_after: bool,
    /// `Some(payload)`: a competing writer puts this just before the request (`None` inside:
    /// the caller's own payload).
    pub(crate) race: Option<Option<Bytes>>,
}

#[derive(Debug)]
pub(crate) struct State {
    rand: SeededRand,
    max_latency: Duration,
    put_latency: Duration,
    throttle_per_mille: u64,
    fail_before_per_mille: u64,
    fail_after_per_mille: u64,
    race_per_mille: u64,
    fail_before_period: u64,
    fail_after_period: u64,
    throttle_next: u32,
    fail_before_next: u32,
    fail_after_next: u32,
    race_next: u32,
    race_payload: Option<Bytes>,
    only_keys_containing: Option<String>,
    stall: Option<StallPoint>,
    stall_only_suffix: Option<String>,
    pub(crate) stats: FaultyObjectStoreStats,
}

impl State {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rand: SeededRand::new(seed),
            max_latency: Duration::ZERO,
            put_latency: Duration::ZERO,
            throttle_per_mille: 0,
            fail_before_per_mille: 0,
            fail_after_per_mille: 0,
            race_per_mille: 0,
            fail_before_period: 0,
            fail_after_period: 0,
            throttle_next: 0,
            fail_before_next: 0,
            fail_after_next: 0,
            race_next: 0,
            race_payload: None,
            only_keys_containing: None,
            stall: None,
            stall_only_suffix: None,
            stats: FaultyObjectStoreStats::default(),
        }
    }

    /// Takes one from a "next n" counter, else rolls a per-mille rate.
    fn draw(rand: &SeededRand, next: &mut u32, per_mille: u64) -> bool {
        if *next > 0 {
            *next -= 1;
            return true;
        }
        per_mille > 0 && rand.below(1000) < per_mille
    }

    /// Whether the `count`-th targeted PUT falls on a period (0: no period).
    fn on_period(count: u64, period: u64) -> bool {
        period > 0 && count.is_multiple_of(period)
    }

    /// The faults for a request to `key`; `put` says whether it writes, `conditional` whether
    /// it is a conditional PUT.
    pub(crate) fn decide(&mut self, key: &str, put: bool, conditional: bool) -> Decision {
        if put {
            self.stats.puts += 1;
        }
        let mut d = Decision::default();
        if self
            .only_keys_containing
            .as_deref()
            .is_some_and(|part| !key.contains(part))
        {
            return d;
        }
        if put {
            self.stats.targeted_puts += 1;
        }
        if !self.max_latency.is_zero() {
            let nanos = self.max_latency.as_nanos().min(u128::from(u64::MAX)) as u64;
            d.latency = Duration::from_nanos(self.rand.below(nanos + 1));
        }
        if put {
            d.latency += self.put_latency;
            d.stall = self.stall.filter(|_| {
                self.stall_only_suffix
                    .as_deref()
                    .is_none_or(|suffix| key.ends_with(suffix))
            });
            if d.stall.is_some() {
                self.stats.stalled += 1;
            }
        }
        if !self.max_latency.is_zero() || (put && !self.put_latency.is_zero()) {
            self.stats.delayed += 1;
        }
        let r = &self.rand;
        d.throttle = Self::draw(r, &mut self.throttle_next, self.throttle_per_mille);
        if d.throttle {
            self.stats.throttled += 1;
            return d;
        }
        if !put {
            return d;
        }
        let count = self.stats.targeted_puts;
        d.fail_before = Self::draw(r, &mut self.fail_before_next, self.fail_before_per_mille)
            || Self::on_period(count, self.fail_before_period);
        if d.fail_before {
            self.stats.failed_before_write += 1;
            return d;
        }
        if conditional && Self::draw(r, &mut self.race_next, self.race_per_mille) {
            self.stats.raced += 1;
            d.race = Some(self.race_payload.clone());
        }
        d.fail_after = Self::draw(r, &mut self.fail_after_next, self.fail_after_per_mille)
            || Self::on_period(count, self.fail_after_period);
        d
    }
}

/// Injects faults into the [`FaultyObjectStore`](super::FaultyObjectStore) it came with.
/// Clones share the faults. Rates are per mille (0-1000), drawn per request from the seeded
/// generator; "next n" counters fire before rates and are for directed tests.
#[derive(Debug, Clone)]
pub struct FaultyObjectStoreController {
    pub(crate) state: Arc<Mutex<State>>,
    /// Open (`true`) unless PUTs are stalled; a stalled PUT waits until it opens.
    pub(crate) gate: Arc<watch::Sender<bool>>,
}

impl FaultyObjectStoreController {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("faulty object store lock")
    }

    /// PUTs fail before the write at this rate.
    pub fn set_fail_before_write_rate(&self, per_mille: u64) {
        self.state().fail_before_per_mille = per_mille;
    }

    /// PUTs land but report a failure at this rate.
    pub fn set_fail_after_write_rate(&self, per_mille: u64) {
        self.state().fail_after_per_mille = per_mille;
    }

    /// Any request is refused with a 503-like throttling error at this rate.
    pub fn set_throttle_rate(&self, per_mille: u64) {
        self.state().throttle_per_mille = per_mille;
    }

    /// Conditional PUTs lose a race to a competing writer at this rate.
    pub fn set_race_rate(&self, per_mille: u64) {
        self.state().race_per_mille = per_mille;
    }

    /// Every request waits a random time up to `max` (zero: no latency).
    pub fn set_max_latency(&self, max: Duration) {
        self.state().max_latency = max;
    }

    /// Every PUT waits exactly `latency` before it is written, on top of any
    /// [`set_max_latency`](Self::set_max_latency) draw (zero: none). Unlike the random bound it
    /// gives every write the same round trip, as a benchmark or a pipelining test wants.
    pub fn set_put_latency(&self, latency: Duration) {
        self.state().put_latency = latency;
    }

    /// Every `n`-th targeted PUT (see [`FaultyObjectStoreStats::targeted_puts`]) fails before
    /// the write (0: never). Deterministic: with a period of 2 or more, no two PUTs in a row
    /// fail this way, so a writer that retries always gets through.
    pub fn set_fail_before_write_period(&self, n: u64) {
        self.state().fail_before_period = n;
    }

    /// Every `n`-th targeted PUT lands, then reports a failure (0: never). A PUT that already
    /// failed before the write does not also fail after it.
    pub fn set_fail_after_write_period(&self, n: u64) {
        self.state().fail_after_period = n;
    }

    /// PUTs that arrive from now on wait at `at` until
    /// [`release_stalled_puts`](Self::release_stalled_puts) (or [`heal`](Self::heal)). Only
    /// PUTs to keys the key filter selects stall, and of those only keys ending with the
    /// [`stall_only_keys_ending_with`](Self::stall_only_keys_ending_with) suffix when one is set.
    /// [`FaultyObjectStoreStats::targeted_puts`] counts a stalled PUT on arrival, so a test can
    /// wait until its writer's PUT is held.
    pub fn stall_puts(&self, at: StallPoint) {
        self.state().stall = Some(at);
        self.gate.send_replace(false);
    }

    /// Confines stalls to keys ending with `suffix` (`None`: every targeted key), e.g. one
    /// batch's sequence number, to hold one PUT while later ones go through.
    pub fn stall_only_keys_ending_with(&self, suffix: Option<&str>) {
        self.state().stall_only_suffix = suffix.map(str::to_owned);
    }

    /// Lets every stalled PUT go on; PUTs arriving later do not stall (the stall and its
    /// suffix are cleared).
    pub fn release_stalled_puts(&self) {
        let mut s = self.state();
        s.stall = None;
        s.stall_only_suffix = None;
        drop(s);
        self.gate.send_replace(true);
    }

    /// The next `n` PUTs fail before the write.
    pub fn fail_before_next_puts(&self, n: u32) {
        self.state().fail_before_next = n;
    }

    /// The next `n` PUTs land, then report a failure.
    pub fn fail_after_next_puts(&self, n: u32) {
        self.state().fail_after_next = n;
    }

    /// The next `n` requests are throttled.
    pub fn throttle_next(&self, n: u32) {
        self.state().throttle_next = n;
    }

    /// The next `n` conditional PUTs lose a race to a competing writer.
    pub fn race_next_conditional_puts(&self, n: u32) {
        self.state().race_next = n;
    }

    /// What the competing writer of a race writes: `None` (the default) writes the caller's own
    /// payload, as a duplicate of this write would; `Some` writes these bytes.
    pub fn set_race_payload(&self, payload: Option<Bytes>) {
        self.state().race_payload = payload;
    }

    /// Confines every fault to keys containing `part` (`None`: all keys).
    pub fn only_keys_containing(&self, part: Option<&str>) {
        self.state().only_keys_containing = part.map(str::to_owned);
    }

    /// Turns every fault off (the liveness phase) and releases stalled PUTs; statistics are
    /// kept.
    pub fn heal(&self) {
        let mut s = self.state();
        let (rand, stats) = (s.rand.split(), s.stats);
        *s = State::new(0);
        s.rand = rand;
        s.stats = stats;
        drop(s);
        self.gate.send_replace(true);
    }

    /// What fired so far.
    pub fn stats(&self) -> FaultyObjectStoreStats {
        self.state().stats
    }
}
