//! Group commit: operations join the open batch; a batch is sealed when nothing is in flight, when
//! it is full, or when its delay expires; sealed batches are PUT concurrently and acknowledged in
//! version order through the durable [`Watermark`](rig_core::sync::Watermark).

use std::collections::{BTreeMap, VecDeque};

use object_store::UpdateVersion;
use rig_core::{codec, Error, LogPayload};

use crate::format::BatchHeader;
use crate::options::S3LogOptions;

/// A batch handed to a PUT task.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) header: BatchHeader,
    pub(crate) entries: Vec<LogPayload>,
    /// `Some` when the slot holds this writer's fence marker, which the batch replaces.
    pub(crate) replace: Option<UpdateVersion>,
}

#[derive(Debug)]
struct Sealed {
    first: u64,
    count: u32,
    done: bool,
}

/// The writer's mutable state, behind the log's mutex.
#[derive(Debug)]
pub(crate) struct CommitState {
    /// The next version to assign.
    pub(crate) next: u64,
    /// The highest version whose batch is durable (and in `index`).
    pub(crate) durable: u64,
    /// The lowest readable version.
    pub(crate) first_version: u64,
    /// The newest snapshot known (0: none).
    pub(crate) latest: u64,
    /// Durable batches: first version -> count.
    pub(crate) index: BTreeMap<u64, u32>,
    /// Entries `durable + 1 .. next`, not yet durable (sealed or open).
    pending: VecDeque<LogPayload>,
    /// How many entries at the back of `pending` form the open batch, and their encoded size.
    open_count: usize,
    open_bytes: usize,
    /// Bumped per sealed batch, so a timer knows whether its batch is still open.
    open_id: u64,
    timer_armed: bool,
    timer_fired: bool,
    sealed: VecDeque<Sealed>,
    in_flight: usize,
    /// Set by `close`: seal whatever is open.
    pub(crate) closing: bool,
    /// The error that stopped the writer.
    pub(crate) poison: Option<Error>,
    /// Set when the writer learned it is fenced while PUTs were in flight: nothing more is
    /// sealed, the in-flight batches settle by what the store says, then this becomes `poison`.
    pub(crate) stopping: Option<Error>,
    /// This writer's fence marker (its key and version) until the first batch replaces it.
    marker: Option<(u64, UpdateVersion)>,
}

/// What `push` asks the caller to do.
#[derive(Debug, Default)]
pub(crate) struct Actions {
    /// Batches to PUT now.
    pub(crate) jobs: Vec<Job>,
    /// Arm a timer for the open batch with this id.
    pub(crate) arm_timer: Option<u64>,
}

impl CommitState {
    /// State after recovery: versions below `next` are durable.
    pub(crate) fn new(
        next: u64,
        latest: u64,
        index: BTreeMap<u64, u32>,
        marker: UpdateVersion,
    ) -> Self {
        let first_version = index.keys().next().copied().unwrap_or(next);
        Self {
            next,
            durable: next - 1,
            first_version,
            latest,
            index,
            pending: VecDeque::new(),
            open_count: 0,
            open_bytes: 0,
            open_id: 0,
            timer_armed: false,
            timer_fired: false,
            sealed: VecDeque::new(),
            in_flight: 0,
            closing: false,
            poison: None,
            stopping: None,
            marker: Some((next, marker)),
        }
    }

    /// Assigns versions to `ops` (in call order) and adds them to the open batch. Returns the
    /// first version.
    pub(crate) fn push(&mut self, ops: Vec<rig_core::Operation>) -> u64 {
        let first = self.next;
        for op in ops {
            let p = LogPayload {
                version: self.next,
                op,
            };
            self.open_bytes += codec::payload_len(&p) + codec::RECORD_HEADER_LEN;
            self.open_count += 1;
            self.next += 1;
            self.pending.push_back(p);
        }
        first
    }

    /// Marks the open batch's timer as fired, if `id` is still the open batch.
    pub(crate) fn timer_fired(&mut self, id: u64) {
        if id == self.open_id {
            self.timer_fired = true;
        }
    }

    /// Seals the open batch if the policy says so and returns what to do.
    pub(crate) fn step(
        &mut self,
        opts: &S3LogOptions,
        epoch: u64,
        put_id: impl FnOnce() -> u64,
    ) -> Actions {
        let mut actions = Actions::default();
        if self.stopping.is_some() {
            if self.in_flight == 0 && self.poison.is_none() {
                self.poison = self.stopping.clone();
            }
            return actions;
        }
        if self.open_count == 0 || self.poison.is_some() {
            return actions;
        }
        let full = self.open_count >= opts.max_batch_ops || self.open_bytes >= opts.max_batch_bytes;
        let due = self.in_flight == 0
            || full
            || self.timer_fired
            || self.closing
            || opts.max_batch_delay.is_zero();
        if due && self.in_flight < opts.max_in_flight.max(1) {
            actions.jobs.push(self.seal(epoch, put_id()));
        } else if !self.timer_armed && !opts.max_batch_delay.is_zero() {
            self.timer_armed = true;
            actions.arm_timer = Some(self.open_id);
        }
        actions
    }

    fn seal(&mut self, epoch: u64, put_id: u64) -> Job {
        let count = self.open_count;
        let start = self.pending.len() - count;
        let entries: Vec<LogPayload> = self.pending.range(start..).cloned().collect();
        let first = entries[0].version;
        let replace = match self.marker.take() {
            Some((key, version)) if key == first => Some(version),
            other => {
                self.marker = other;
                None
            }
        };
        self.sealed.push_back(Sealed {
            first,
            count: count as u32,
            done: false,
        });
        self.in_flight += 1;
        self.open_count = 0;
        self.open_bytes = 0;
        self.open_id += 1;
        self.timer_armed = false;
        self.timer_fired = false;
        Job {
            header: BatchHeader {
                epoch,
                put_id,
                first,
                count: count as u32,
                durable_through: self.durable,
            },
            entries,
            replace,
        }
    }

    /// Stops sealing because of `error` (a newer writer took over): the batches in flight settle
    /// on their own, then every waiter past them fails with `error` (see [`Self::step`]).
    pub(crate) fn stop(&mut self, error: Error) {
        self.stopping.get_or_insert(error);
    }

    /// Records a finished PUT. Returns the new durable version when it advanced.
    pub(crate) fn complete(&mut self, first: u64, result: Result<(), Error>) -> Option<u64> {
        self.in_flight -= 1;
        if let Err(e) = result {
            self.poison.get_or_insert(e);
            return None;
        }
        if let Some(s) = self.sealed.iter_mut().find(|s| s.first == first) {
            s.done = true;
        }
        let before = self.durable;
        while self.sealed.front().is_some_and(|s| s.done) {
            let s = self.sealed.pop_front().expect("front exists");
            self.index.insert(s.first, s.count);
            self.pending.drain(..s.count as usize);
            self.durable = s.first + u64::from(s.count) - 1;
        }
        (self.durable > before).then_some(self.durable)
    }

    /// Entries from `from` (which must be above `durable`) that are not yet durable, up to `max`.
    pub(crate) fn pending_from(&self, from: u64, max: usize) -> Vec<LogPayload> {
        let skip = (from - self.durable - 1) as usize;
        self.pending.iter().skip(skip).take(max).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_core::Operation;
    use std::time::Duration;

    fn state() -> CommitState {
        CommitState::new(
            1,
            0,
            BTreeMap::new(),
            UpdateVersion {
                e_tag: Some("m".into()),
                version: None,
            },
        )
    }

    fn opts() -> S3LogOptions {
        S3LogOptions {
            max_batch_ops: 4,
            max_batch_delay: Duration::from_millis(5),
            max_in_flight: 2,
            ..Default::default()
        }
    }

    fn ops(n: usize) -> Vec<Operation> {
        (0..n).map(|i| Operation::new("m", vec![i as u8])).collect()
    }

    #[test]
    fn seals_at_once_when_idle_then_waits_for_size_or_timer() {
        let mut s = state();
        let o = opts();
        assert_eq!(s.push(ops(1)), 1);
        let a = s.step(&o, 7, || 1);
        assert_eq!(a.jobs.len(), 1, "idle: sealed at once");
        let first = &a.jobs[0];
        assert_eq!((first.header.first, first.header.count), (1, 1));
        assert!(
            first.replace.is_some(),
            "the first batch replaces the fence marker"
        );
        assert_eq!(s.push(ops(2)), 2);
        let a = s.step(&o, 7, || 2);
        assert!(a.jobs.is_empty());
        assert_eq!(a.arm_timer, Some(1));
        s.timer_fired(1);
        let a = s.step(&o, 7, || 3);
        assert_eq!(a.jobs.len(), 1, "timer expired");
        assert!(a.jobs[0].replace.is_none());
        assert_eq!(a.jobs[0].header.durable_through, 0);
        // The pipeline is full now: a full batch waits for a slot.
        s.push(ops(4));
        assert!(s.step(&o, 7, || 4).jobs.is_empty());
        // Out-of-order completion: the durable point moves only past a contiguous prefix.
        assert_eq!(s.complete(2, Ok(())), None);
        assert_eq!(s.pending_from(2, 10).len(), 6);
        assert_eq!(s.step(&o, 7, || 5).jobs.len(), 1, "a slot freed up");
        assert_eq!(s.complete(1, Ok(())), Some(3));
        assert_eq!(s.index.len(), 2);
        assert_eq!(s.pending_from(4, 10).len(), 4);
        assert_eq!(s.complete(4, Err(Error::Closed)), None);
        assert!(s.poison.is_some());
    }

    #[test]
    fn a_stopping_writer_seals_nothing_and_poisons_once_its_pipeline_drains() {
        let mut s = state();
        let o = opts();
        s.push(ops(1));
        assert_eq!(s.step(&o, 7, || 1).jobs.len(), 1);
        s.push(ops(1));
        assert_eq!(s.step(&o, 7, || 2).jobs.len(), 0, "waits for the timer");
        s.stop(Error::Fenced {
            reason: "newer epoch".into(),
        });
        s.timer_fired(1);
        let a = s.step(&o, 7, || 3);
        assert!(a.jobs.is_empty() && a.arm_timer.is_none(), "nothing sealed");
        assert!(s.poison.is_none(), "a batch is still in flight");
        // The in-flight batch landed: it stays acknowledged; the open one fails.
        assert_eq!(s.complete(1, Ok(())), Some(1));
        assert!(s.step(&o, 7, || 4).jobs.is_empty());
        assert!(matches!(s.poison, Some(Error::Fenced { .. })));
    }
}
