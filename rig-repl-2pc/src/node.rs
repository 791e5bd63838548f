//! [`Node`]: what a node's tasks share: the store, the role, and inbound link handling.

use std::sync::{Arc, Mutex, MutexGuard};

use rig_core::net::handshake::accept;
use rig_core::net::LinkWriter;
use rig_core::seams::Listener;
use rig_core::{Error, Operation, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Config, Mode, ReplicaStatus, RoundStats, Status};
use crate::crash::{CrashPoints, Stage};
use crate::proto::{prepare_ops_section, Msg};
use crate::record_codec::EncodedRun;
use crate::replica::{on_message, Session};
use crate::state::Record;
use crate::store::Store;

/// One `append` call on its way to the primary's driver.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) first: u64,
    pub(crate) ops: Vec<Operation>,
    pub(crate) done: oneshot::Sender<Result<u64>>,
}

/// A replica's view of the primary it follows: the link whose `Sync` it accepted last, and the
/// session on it. Messages of the primary's epoch arriving on any other link are stale (a link
/// the primary has since replaced) and are ignored, so nothing reordered across links applies.
#[derive(Debug, Default)]
pub(crate) struct Follow {
    /// The link of the accepted `Sync` (0: none yet).
    pub(crate) link: u64,
    /// The session on that link.
    pub(crate) session: Session,
}

/// Who this node is right now.
#[derive(Debug)]
pub(crate) enum RoleState {
    /// Taking writes: `next` is the next version to assign, `tx` feeds the driver.
    Primary {
        next: u64,
        tx: mpsc::UnboundedSender<Batch>,
    },
    /// Following `primary` (once one announced itself).
    Replica { primary: Option<String> },
    /// Stopped: fenced by a newer primary, poisoned by a failed write, or closed.
    Stopped(Error),
}

/// State shared by a node's handle and tasks.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Config,
    /// The address replicas learn for redirects.
    pub(crate) advertise: String,
    role: Mutex<RoleState>,
    /// The primary's view of its replicas, for `status()`.
    pub(crate) replicas: Mutex<Vec<ReplicaStatus>>,
    /// The primary's round counters, for `status()`.
    pub(crate) rounds: Mutex<RoundStats>,
    /// Serializes inbound message handling with promotion; holds the session with the
    /// current primary.
    pub(crate) inbound: tokio::sync::Mutex<Follow>,
    /// Numbers inbound links, so that messages from a superseded link are told apart.
    links: std::sync::atomic::AtomicU64,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Where tests crash this node.
    pub(crate) crash: CrashPoints,
}

impl Node {
    pub(crate) fn new(store: Arc<Store>, config: Config, advertise: String) -> Self {
        Self {
            store,
            config,
            advertise,
            role: Mutex::new(RoleState::Replica { primary: None }),
            replicas: Mutex::new(Vec::new()),
            rounds: Mutex::new(RoundStats::default()),
            inbound: tokio::sync::Mutex::new(Follow::default()),
            links: std::sync::atomic::AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            crash: CrashPoints::default(),
        }
    }

    pub(crate) fn role(&self) -> MutexGuard<'_, RoleState> {
        self.role.lock().expect("2pc role lock")
    }

    /// Stops the node with `error`: appends fail with it from now on, waiters on the commit
    /// point too (readers keep reading what was committed).
    pub(crate) fn stop(&self, error: Error) {
        let mut role = self.role();
        if !matches!(*role, RoleState::Stopped(_)) {
            *role = RoleState::Stopped(error.clone());
        }
        drop(role);
        self.store.committed().poison(error);
    }

    pub(crate) fn spawn(
        &self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::AbortHandle {
        let handle = tokio::spawn(task);
        let abort = handle.abort_handle();
        let mut tasks = self.tasks.lock().expect("2pc tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
        abort
    }

    /// Aborts every task and waits for them, including tasks spawned while aborting.
    pub(crate) async fn stop_tasks(&self) {
        loop {
            let tasks = std::mem::take(&mut *self.tasks.lock().expect("2pc tasks lock"));
            if tasks.is_empty() {
                return;
            }
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
        }
    }

    pub(crate) fn status(&self) -> Status {
        let (mode, replicas) = match &*self.role() {
            RoleState::Primary { .. } => {
                let replicas = self.replicas.lock().expect("2pc status lock").clone();
                let mode = if replicas.iter().any(|r| r.lagging) {
                    Mode::Degraded
                } else {
                    Mode::Sync
                };
                (mode, replicas)
            }
            RoleState::Replica { .. } => (Mode::Replica, Vec::new()),
            RoleState::Stopped(Error::Fenced { .. }) => (Mode::Fenced, Vec::new()),
            RoleState::Stopped(_) => (Mode::Stopped, Vec::new()),
        };
        let rounds = *self.rounds.lock().expect("2pc status lock");
        let state = self.store.state();
        Status {
            mode,
            epoch: state.epoch(),
            committed: state.committed(),
            replicas,
            rounds,
        }
    }
}

/// Accepts replication links for the node's lifetime.
pub(crate) async fn listen(node: Arc<Node>, mut listener: Box<dyn Listener>) {
    loop {
        let (conn, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "replication listener accept failed");
                node.config
                    .clock
                    .sleep(std::time::Duration::from_millis(50))
                    .await;
                continue;
            }
        };
        let node2 = Arc::clone(&node);
        node.spawn(async move { serve(node2, conn, from).await });
    }
}

/// One inbound link: handshake, then messages in order, each answered on the same link, in
/// order.
///
/// Messages are handled as they arrive and their records queued to the local log at once; each
/// answer goes out once the records before it are durable. So a replica takes several rounds'
/// Prepares while the first one's fsync runs, and one fsync usually covers several rounds (and
/// the `Commit`s between them), while a `Prepared` still always means "durable here".
async fn serve(node: Arc<Node>, conn: Box<dyn rig_core::seams::Connection>, from: String) {
    let Ok((peer, link)) = accept(conn, &node.config.handshake, &*node.config.rand).await else {
        return; // refused and logged by the handshake
    };
    let link_id = node
        .links
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut reader, mut writer) = link.split();
    let (tx, mut answers) = mpsc::unbounded_channel::<Answer>();
    let reading = async {
        loop {
            let frame = match reader.recv().await {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(peer = %peer.node_id, %from, error = %e, "replication link closed");
                    return;
                }
            };
            let msg = match Msg::decode(&frame) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(peer = %peer.node_id, %from, error = %e, "malformed message; dropping the link");
                    return;
                }
            };
            // A Prepare's ops section goes to the local log as received (not encoded again).
            let encoded = match &msg {
                Msg::Prepare { first, ops, .. } => {
                    prepare_ops_section(&frame).map(|section| EncodedRun {
                        first: *first,
                        count: ops.len(),
                        section,
                    })
                }
                _ => None,
            };
            if tx.send(handle(&node, link_id, msg, encoded).await).is_err() {
                return;
            }
        }
    };
    let answering = async {
        while let Some(answer) = answers.recv().await {
            if !send_answer(&node, answer, &mut writer).await {
                return;
            }
        }
    };
    tokio::select! {
        () = reading => {}
        () = answering => {}
    }
}

/// What handling one inbound message leaves to do: wait for its records, then reply.
#[derive(Default)]
struct Answer {
    /// The queued records' durability.
    durable: Option<rig_core::AppendFuture>,
    prepares: bool,
    commits: bool,
    replies: Vec<Msg>,
}

/// Sends `answer`'s replies once its records are durable; false when the link is done.
async fn send_answer(node: &Node, answer: Answer, writer: &mut LinkWriter) -> bool {
    if let Some(durable) = answer.durable {
        if let Err(e) = durable.await {
            tracing::error!(error = %e, "replica failed to persist; stopping");
            node.stop(e);
            return false;
        }
    }
    if answer.prepares {
        node.crash.reach(Stage::ReplicaPrepared).await;
    }
    if answer.commits {
        node.crash.reach(Stage::ReplicaCommitted).await;
    }
    for reply in answer.replies {
        if writer.send(&reply.encode()).await.is_err() {
            return false;
        }
    }
    true
}

/// Handles one inbound message, which arrived on link `link`, according to the node's role:
/// its records are queued (and applied) at once, its replies wait for them in the [`Answer`].
/// `encoded`: the message's ops as received, for the local log.
async fn handle(node: &Node, link: u64, msg: Msg, encoded: Option<EncodedRun>) -> Answer {
    let mut follow = node.inbound.lock().await;
    let my_epoch = node.store.state().epoch();
    let is_replica = match &*node.role() {
        RoleState::Replica { .. } => true,
        RoleState::Primary { .. } => false,
        RoleState::Stopped(_) => return Answer::default(),
    };
    if !is_replica {
        if msg.epoch() > my_epoch {
            // A primary of a newer epoch exists: this node was demoted.
            node.stop(fenced(msg.epoch()));
            return Answer::default();
        }
        return Answer {
            replies: vec![Msg::Fenced { epoch: my_epoch }],
            ..Answer::default()
        };
    }
    let sync = matches!(msg, Msg::Sync { .. }) && msg.epoch() >= my_epoch;
    if sync {
        // A (re)connected primary: its session starts on this link, the older ones end.
        follow.link = link;
        follow.session = Session::default();
    } else if msg.epoch() >= my_epoch && follow.link != link {
        tracing::debug!(
            link,
            current = follow.link,
            "message from a superseded link ignored"
        );
        return Answer::default();
    }
    let follow = &mut *follow;
    let decision = on_message(&node.store.state(), &mut follow.session, msg);
    if sync && decision.primary.is_none() {
        follow.link = 0; // refused to follow this primary: nothing more from it applies
    }
    let prepares = decision
        .records
        .iter()
        .any(|r| matches!(r, Record::Prepare { .. }));
    let commits = decision
        .records
        .iter()
        .any(|r| matches!(r, Record::Commit { .. }));
    if prepares {
        node.crash.reach(Stage::ReplicaPrepare).await;
    }
    if commits {
        node.crash.reach(Stage::ReplicaCommit).await;
    }
    let durable = match node.store.queue_encoded(decision.records, encoded).await {
        Ok(durable) => durable,
        Err(e) => {
            tracing::error!(error = %e, "replica failed to persist; stopping");
            node.stop(e);
            return Answer::default();
        }
    };
    if let Some(snapshot) = decision.install {
        let version = snapshot.version;
        if let Err(e) = node.store.install(snapshot).await {
            tracing::error!(error = %e, "replica failed to install a snapshot; stopping");
            node.stop(e);
            return Answer::default();
        }
        tracing::info!(version, "installed the primary's snapshot");
    }
    if let Some(primary) = decision.primary {
        if let RoleState::Replica { primary: p } = &mut *node.role() {
            *p = Some(primary);
        }
    }
    Answer {
        durable,
        prepares,
        commits,
        replies: decision.replies,
    }
}

pub(crate) fn fenced(epoch: u64) -> Error {
    Error::Fenced {
        reason: format!("a primary of epoch {epoch} took over"),
    }
}
