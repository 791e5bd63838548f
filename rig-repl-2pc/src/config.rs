//! How a node is set up: its role, its peers, its failure policy.

use std::sync::Arc;
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::seams::{Clock, Rand, SeededRand, TcpTransport, TokioClock, Transport};

/// What the primary does when a replica does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No acknowledgment without every replica: after `timeout` the round is rolled back and the
    /// writes fail with [`rig_core::Error::Unavailable`]. The process never crashes.
    Strict {
        /// How long a round waits for the replicas.
        timeout: Duration,
    },
    /// MySQL's semi-synchronous model: after `timeout` the primary commits alone, marks the silent
    /// replica lagging, streams it the backlog, and waits for it again once it has caught up.
    SemiSync {
        /// How long a round waits for an in-sync replica.
        timeout: Duration,
    },
}

impl Policy {
    pub(crate) fn timeout(&self) -> Duration {
        match self {
            Policy::Strict { timeout } | Policy::SemiSync { timeout } => *timeout,
        }
    }
}

/// Whether a node starts as the primary or as a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAs {
    /// Takes writes and replicates them to `replicas` (their listen addresses).
    Primary {
        /// The replicas' addresses.
        replicas: Vec<String>,
    },
    /// Follows whichever primary of the newest epoch connects.
    Replica,
}

/// A node's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address this node listens on for replication links (`host:port`); port 0 picks one.
    pub listen: String,
    /// The address peers use to reach this node, told to replicas so they can redirect writes
    /// (`NotLeader { leader }`). Defaults to the bound listen address.
    pub advertise: Option<String>,
    /// Primary or replica.
    pub start_as: StartAs,
    /// The failure policy while primary.
    pub policy: Policy,
    /// The most rounds a primary keeps in flight (at least 1; 8 by default). A new round starts
    /// once the newest one is prepared locally, so several overlap while the replicas answer.
    /// `1` runs one round at a time: its `Commit` record then shares an fsync with the next
    /// round's prepare, which costs less CPU and fewer fsyncs when every writer waits for its
    /// op and the replicas answer fast (see the crate docs, Limits).
    pub max_rounds_in_flight: usize,
    /// Group id, tokens, node id and pre-shared key for the link handshake.
    pub handshake: HandshakeConfig,
    /// The network.
    pub transport: Arc<dyn Transport>,
    /// Time, for timeouts and reconnect backoff.
    pub clock: Arc<dyn Clock>,
    /// Randomness, for handshake nonces and backoff jitter.
    pub rand: Arc<dyn Rand>,
}

impl Config {
    /// A configuration over TCP with tokio time, `Strict` with a 5 s timeout.
    pub fn new(listen: impl Into<String>, start_as: StartAs, handshake: HandshakeConfig) -> Self {
        Self {
            listen: listen.into(),
            advertise: None,
            start_as,
            policy: Policy::Strict {
                timeout: Duration::from_secs(5),
            },
            max_rounds_in_flight: crate::round::WINDOW,
            handshake,
            transport: Arc::new(TcpTransport),
            clock: Arc::new(TokioClock),
            rand: Arc::new(SeededRand::from_entropy()),
        }
    }
}

/// Whether the primary currently waits for its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every replica is in sync: acknowledgments wait for all of them.
    Sync,
    /// `SemiSync` fell back: at least one replica is lagging and is being caught up.
    Degraded,
    /// This node is a replica.
    Replica,
    /// This node was a primary and another took over: it refuses writes.
    Fenced,
    /// This node stopped for another reason (closed, or a failed write or fsync poisoned its
    /// log): it serves nothing until it is reopened.
    Stopped,
}

/// One replica as the primary sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The replica's address.
    pub addr: String,
    /// Whether an authenticated link is up.
    pub connected: bool,
    /// The last version the replica reported durable, if known.
    pub last: Option<u64>,
    /// How many committed versions the replica is behind (unknown counts as all of them).
    pub lag: u64,
    /// Whether `SemiSync` stopped waiting for it.
    pub lagging: bool,
}

/// A node's replication status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The mode.
    pub mode: Mode,
    /// This node's epoch.
    pub epoch: u64,
    /// This node's committed version.
    pub committed: u64,
    /// The replicas (on a primary).
    pub replicas: Vec<ReplicaStatus>,
    /// The rounds this node ran as primary (kept once it stopped; zero if it never was one).
    pub rounds: RoundStats,
}

/// How a primary's rounds went since it became primary: how many overlapped, how large they
/// were, how many commit points they needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// Rounds in flight now (started, not yet committed or failed).
    pub in_flight: usize,
    /// The most rounds that were in flight at once.
    pub max_in_flight: usize,
    /// Rounds started.
    pub started: u64,
    /// Operations those rounds carried (`ops / started` is the mean batch).
    pub ops: u64,
    /// Commit points written; one covers every round ready at that moment.
    pub commits: u64,
}
