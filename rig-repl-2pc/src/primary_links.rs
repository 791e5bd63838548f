//! The primary's side of its links: what each replica event means for the rounds in flight,
//! which Prepares go out next, catch-up (`Fetch`: entries or the snapshot), and the status view.

use std::sync::Arc;

use rig_core::net::peer::PeerEvent;

use super::Driver;
use crate::config::ReplicaStatus;
use crate::proto::{Msg, MAX_ENTRIES};
use crate::ship::ship_snapshot;

impl Driver {
    /// Sends replica `i` the Prepares of the rounds in flight it is ready for, oldest first: a
    /// round goes out right behind the previous one sent on the same link (the replica takes
    /// them in order), or, when nothing is outstanding, once the replica holds everything
    /// before it. A round that cannot go out holds back every later one.
    pub(super) fn offer(&mut self, i: usize) {
        let r = &mut self.replicas[i];
        for round in &mut self.window {
            if round.sent[i] {
                continue;
            }
            // (A replica may hold more than the round: entries of a recommitted tail it
            // committed before this primary restarted; the Prepare covers them.)
            let ready = match r.sent_through {
                Some(s) => s + 1 == round.first,
                None => matches!(r.last, Some(l) if l + 1 >= round.first && l <= round.last),
            };
            if !r.connected || !ready || !r.peer.try_send(round.prepare.clone()) {
                return;
            }
            round.sent[i] = true;
            round.reached[i] = true;
            r.sent_through = Some(round.last);
            r.told = r.told.max(round.committed);
            if r.lagging {
                tracing::info!(replica = %r.addr, "replica caught up; back in sync");
                r.lagging = false;
            }
        }
    }

    /// Forgets what went out to replica `i` on its link: a new link (synced first) or a
    /// replica that did not take a Prepare is offered the rounds again.
    fn unsend(&mut self, i: usize) {
        self.replicas[i].sent_through = None;
        for round in &mut self.window {
            round.sent[i] = false;
        }
    }

    pub(super) fn on_event(&mut self, i: usize, ev: PeerEvent) {
        let epoch = self.epoch();
        match ev {
            PeerEvent::Connected { node_id } => {
                self.unsend(i);
                let r = &mut self.replicas[i];
                tracing::info!(replica = %r.addr, %node_id, "replica link up");
                r.connected = true;
                r.last = None;
                if let Some(t) = r.shipping.take() {
                    t.abort(); // its chunks went to the old link
                }
                // Until the recovery round committed the tail this primary opened with, that
                // tail counts as committed here: it may hold acknowledged ops.
                let (committed, last) = {
                    let s = self.node.store.state();
                    (s.committed().max(self.tail), s.last())
                };
                // (A Sync that does not fit the queue is as good as lost: the link is new, so a
                // full queue means a stuck link, and the next one sends it again.)
                r.told = committed;
                r.peer.try_send(
                    Msg::Sync {
                        epoch,
                        primary: self.node.advertise.clone(),
                        committed,
                        last,
                    }
                    .encode(),
                );
            }
            PeerEvent::Disconnected { reason } => {
                // A reconnected replica is synced, then offered the rounds again.
                self.unsend(i);
                let r = &mut self.replicas[i];
                if r.connected {
                    tracing::warn!(replica = %r.addr, error = %reason, "replica link down");
                }
                r.connected = false;
                r.last = None;
                r.told = 0;
            }
            PeerEvent::Frame(frame) => match Msg::decode(&frame) {
                Err(e) => {
                    let addr = &self.replicas[i].addr;
                    tracing::warn!(replica = %addr, error = %e, "malformed message ignored")
                }
                Ok(msg) if msg.epoch() > epoch => self.fenced_by = Some(msg.epoch()),
                Ok(Msg::Prepared {
                    round: id, last, ..
                }) => self.on_prepared(i, id, last),
                Ok(Msg::Fetch { from, .. }) => self.on_fetch(i, epoch, from),
                Ok(Msg::Fenced { .. }) => {} // same epoch: nothing to learn
                Ok(other) => {
                    let addr = &self.replicas[i].addr;
                    tracing::warn!(replica = %addr, ?other, "unexpected message ignored")
                }
            },
        }
    }

    /// Replica `i` holds this primary's log through `last`, durably, answering round `id`.
    fn on_prepared(&mut self, i: usize, id: u64, last: u64) {
        self.replicas[i].last = Some(last);
        // Only the answer to a round's own Prepare, on the link it went out on, counts for it:
        // a late answer to an earlier round (timed out and rolled back, its versions reused
        // since) says nothing about a later one.
        if let Some(round) = self.window.iter_mut().find(|r| r.id == id) {
            if last >= round.last && round.sent[i] {
                round.acked[i] = true;
            }
        }
        if !self.window.is_empty() {
            self.offer(i);
            return;
        }
        let r = &mut self.replicas[i];
        if r.lagging && last == self.node.store.state().last() {
            tracing::info!(replica = %r.addr, "replica caught up; back in sync");
            r.lagging = false;
        }
    }

    /// Replica `i` misses entries from `from` on: it did not take the Prepares sent since
    /// (it answers each with a `Fetch`), so they are offered again once it caught up.
    fn on_fetch(&mut self, i: usize, epoch: u64, from: u64) {
        self.unsend(i);
        let r = &mut self.replicas[i];
        r.last = Some(from.saturating_sub(1));
        if from <= self.node.store.state().base() {
            if r.shipping.as_ref().is_none_or(|t| t.is_finished()) {
                let task = ship_snapshot(Arc::clone(&self.node), r.peer.clone(), epoch);
                r.shipping = Some(self.node.spawn(task));
            }
            return;
        }
        let (ops, committed) = {
            let s = self.node.store.state();
            let upto = s
                .committed()
                .min(from.saturating_add(MAX_ENTRIES as u64 - 1));
            (s.range(from, upto), s.committed())
        };
        r.peer.try_send(
            Msg::Entries {
                epoch,
                from,
                ops,
                committed,
            }
            .encode(),
        );
    }

    /// Publishes the replicas' state and the round counters for `status()`.
    pub(super) fn publish(&self) {
        let committed = self.node.store.committed().get();
        let view = self
            .replicas
            .iter()
            .map(|r| ReplicaStatus {
                addr: r.addr.clone(),
                connected: r.connected,
                last: r.last,
                lag: committed.saturating_sub(r.last.unwrap_or(0).min(committed)),
                lagging: r.lagging,
            })
            .collect();
        *self.node.replicas.lock().expect("2pc status lock") = view;
        let mut rounds = self.node.rounds.lock().expect("2pc status lock");
        *rounds = self.stats;
        rounds.in_flight = self.window.len();
    }
}
