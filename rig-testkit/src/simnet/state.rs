//! The simulated network's shared state.

use std::collections::{BTreeMap, BTreeSet};
use std::task::Waker;
use std::time::Duration;

use rig_core::seams::SeededRand;
use tokio::sync::mpsc;

use super::pipe::SimConn;

/// Delay and loss on one directed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// The shortest one-way delay of a write.
    pub min_delay: Duration,
    /// The longest one-way delay of a write (uniform in between; order is kept).
    pub max_delay: Duration,
    /// Writes that reset the connection, per thousand (a stream cannot drop bytes silently).
    pub reset_per_mille: u64,
    /// Writes that are delivered and then reset the connection, per thousand: the receiver
    /// gets the message but the sender never sees its answer, retries over a new connection,
    /// and the receiver gets it again — how duplicates (and reordering against the retried
    /// connection) arise over streams.
    pub duplicate_per_mille: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_micros(100),
            max_delay: Duration::from_millis(2),
            reset_per_mille: 0,
            duplicate_per_mille: 0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct NetState {
    pub(crate) rand: SeededRand,
    pub(crate) listeners: BTreeMap<String, (String, mpsc::UnboundedSender<(SimConn, String)>)>,
    pub(crate) next_port: u64,
    pub(crate) default_link: LinkConfig,
    pub(crate) links: BTreeMap<(String, String), LinkConfig>,
    /// Directed links that deliver nothing until healed.
    pub(crate) cut: BTreeSet<(String, String)>,
    pub(crate) paused: BTreeSet<String>,
    /// Readers waiting for a cut or a pause to end.
    pub(crate) waiters: Vec<Waker>,
}

impl NetState {
    pub(crate) fn new(rand: SeededRand) -> Self {
        Self {
            rand,
            listeners: BTreeMap::new(),
            next_port: 40_000,
            default_link: LinkConfig::default(),
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            paused: BTreeSet::new(),
            waiters: Vec::new(),
        }
    }

    pub(crate) fn link(&self, from: &str, to: &str) -> LinkConfig {
        self.links
            .get(&(from.to_string(), to.to_string()))
            .copied()
            .unwrap_or(self.default_link)
    }

    /// True when nothing may flow from `from` to `to` right now.
    pub(crate) fn blocked(&self, from: &str, to: &str) -> bool {
        self.cut.contains(&(from.to_string(), to.to_string()))
            || self.paused.contains(from)
            || self.paused.contains(to)
    }

    pub(crate) fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }
}
