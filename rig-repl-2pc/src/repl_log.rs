//! [`ReplLog`]: the [`Log`] a node's engine uses, primary or replica.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};
use rig_log_file::FileLog;
use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, StartAs, Status};
use crate::node::{listen, Batch, Node, RoleState};
use crate::primary::Driver;
use crate::state::Record;
use crate::store::Store;

/// A primary/replica log with two-phase commit. See the [crate docs](crate) for the protocol,
/// the failure policies and the failover procedure.
#[derive(Debug)]
pub struct ReplLog {
    node: Arc<Node>,
    local_addr: String,
}

impl ReplLog {
    /// Opens a node over its local `file` log, starts listening on `config.listen`, and takes
    /// the role `config.start_as` names.
    ///
    /// A primary first replicates and commits again the entries it had prepared before a crash
    /// (some may have been acknowledged), then syncs each replica as its link comes up.
    pub async fn open(file: FileLog, config: Config) -> Result<Self> {
        if config.max_rounds_in_flight == 0 {
            return Err(Error::InvalidArgument(
                "max_rounds_in_flight must be at least 1".into(),
            ));
        }
        let store = Arc::new(Store::open(file).await?);
        let listener = config
            .transport
            .listen(&config.listen)
            .await
            .map_err(|e| Error::io("repl-2pc", format!("listen on {}", config.listen), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("repl-2pc", "listener address", e))?;
        let advertise = config
            .advertise
            .clone()
            .unwrap_or_else(|| local_addr.clone());
        let start_as = config.start_as.clone();
        let node = Arc::new(Node::new(store, config, advertise));
        node.spawn(listen(Arc::clone(&node), listener));
        let log = Self { node, local_addr };
        if let StartAs::Primary { replicas } = start_as {
            // The prepared tail (`committed+1..=last`) is recommitted by the driver before any
            // new round: some of it may have been acknowledged.
            let epoch = log.node.store.state().epoch();
            if epoch == 0 {
                log.node
                    .store
                    .persist(vec![Record::Epoch { epoch: 1 }])
                    .await?;
            }
            log.become_primary(&replicas);
        }
        Ok(log)
    }

    /// The address this node listens on (useful after binding port 0).
    pub fn local_addr(&self) -> &str {
        &self.local_addr
    }

    /// The node's mode, epoch, commit point and, on a primary, each replica's lag.
    pub fn status(&self) -> Status {
        self.node.status()
    }

    /// Promotes this replica to primary of a new epoch, replicating to `replicas`.
    ///
    /// Everything this node holds is committed: an entry it prepared may have been acknowledged
    /// by the old primary, so keeping it is the only safe choice. Replicas that follow the new
    /// epoch refuse the old primary from then on; see the crate docs for the procedure.
    pub async fn promote(&self, replicas: Vec<String>) -> Result<u64> {
        let _no_inbound = self.node.inbound.lock().await;
        if !matches!(*self.node.role(), RoleState::Replica { .. }) {
            return Err(Error::InvalidArgument(
                "only a replica can be promoted".into(),
            ));
        }
        let (epoch, last) = {
            let s = self.node.store.state();
            (s.epoch() + 1, s.last())
        };
        self.node
            .store
            .persist(vec![
                Record::Epoch { epoch },
                Record::Commit { through: last },
            ])
            .await?;
        tracing::info!(epoch, last, "promoted to primary");
        self.become_primary(&replicas);
        Ok(epoch)
    }

    /// Arms a crash point of this node (tests only).
    #[cfg(test)]
    pub(crate) fn arm_crash(
        &self,
        stage: crate::crash::Stage,
    ) -> tokio::sync::oneshot::Receiver<()> {
        self.node.crash.arm(stage)
    }

    /// While `on`, this primary's `Commit` records are applied but never written (tests only):
    /// a crash then plays one that dropped them before their fsync.
    #[cfg(test)]
    pub(crate) fn drop_commit_records(&self, on: bool) {
        let drop = &self.node.store.drop_lazy;
        drop.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The last version this node holds, committed or prepared (tests only).
    #[cfg(test)]
    pub(crate) fn held_through(&self) -> u64 {
        self.node.store.state().last()
    }

    /// `Err(Closed)` once [`Log::close`] ran (reads keep working on a fenced node).
    fn check_open(&self) -> Result<()> {
        match &*self.node.role() {
            RoleState::Stopped(Error::Closed) => Err(Error::Closed),
            _ => Ok(()),
        }
    }

    fn become_primary(&self, replicas: &[String]) {
        let (tx, rx) = mpsc::unbounded_channel();
        let next = self.node.store.state().last() + 1;
        *self.node.role() = RoleState::Primary { next, tx };
        let driver = Driver::new(Arc::clone(&self.node), replicas, rx);
        self.node.spawn(driver.run());
    }

    /// Stops every task of this node at once, without flushing: what a crash looks like in
    /// process. Awaits the tasks so the local log's lock is released when this returns.
    pub async fn halt(self) {
        self.node.stop(Error::Closed);
        self.node.stop_tasks().await;
    }
}

impl Drop for ReplLog {
    fn drop(&mut self) {
        for t in self.node.tasks.lock().expect("2pc tasks lock").iter() {
            t.abort();
        }
    }
}

#[async_trait]
impl Log for ReplLog {
    fn name(&self) -> &'static str {
        "repl-2pc"
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Replicated
    }

    /// Every append runs a full round, whatever `durability` asks: a weaker level would let a
    /// later round commit over a gap.
    fn append(&self, ops: Vec<Operation>, _durability: Durability) -> AppendFuture {
        if ops.is_empty() {
            return futures_util::future::ready(Err(Error::InvalidArgument("empty batch".into())))
                .boxed();
        }
        let (done, rx) = oneshot::channel();
        let sent = match &mut *self.node.role() {
            RoleState::Primary { next, tx } => {
                let first = *next;
                *next += ops.len() as u64;
                tx.send(Batch { first, ops, done })
                    .map_err(|_| Error::Closed)
            }
            RoleState::Replica { primary } => Err(Error::NotLeader {
                leader: primary.clone(),
            }),
            RoleState::Stopped(e) => Err(e.clone()),
        };
        async move {
            sent?;
            rx.await.unwrap_or_else(|_| {
                Err(Error::OutcomeUnknown {
                    reason: "the 2pc primary stopped before answering".into(),
                })
            })
        }
        .boxed()
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.check_open()?;
        if from == 0 {
            return Err(Error::InvalidArgument("version 0 does not exist".into()));
        }
        let s = self.node.store.state();
        if from <= s.base() && from <= s.committed() {
            return Err(Error::InvalidArgument(format!(
                "version {from} was compacted (first readable is {})",
                s.base() + 1
            )));
        }
        let upto = s
            .committed()
            .min(from.saturating_add(max as u64).saturating_sub(1));
        Ok(s.range(from, upto)
            .into_iter()
            .enumerate()
            .map(|(i, op)| LogPayload {
                version: from + i as u64,
                op,
            })
            .collect())
    }

    fn committed(&self) -> u64 {
        self.node.store.committed().get()
    }

    fn first_version(&self) -> u64 {
        self.node.store.state().base() + 1
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.check_open()?;
        self.node.store.committed().wait_for(after + 1).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.check_open()?;
        let committed = self.node.store.committed().get();
        if snapshot.version > committed {
            return Err(Error::InvalidArgument(format!(
                "snapshot at version {} is past the commit point {committed}",
                snapshot.version
            )));
        }
        // A snapshot is never ahead of the durable commit point: an acknowledgment does not
        // wait for the primary's `Commit` record's fsync, so that record is made durable first
        // (a no-op for the state; one fsync per snapshot).
        let durable = vec![Record::Commit {
            through: snapshot.version,
        }];
        self.node.store.persist(durable).await?;
        self.node.store.save_snapshot(snapshot).await
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.check_open()?;
        self.node.store.load_snapshot().await
    }

    /// Drops the entries through `through` from memory at once (reads below fail from then on)
    /// and lets the local log drop the records before a checkpoint. A replica that needs
    /// compacted entries is sent the snapshot instead.
    async fn compact(&self, through: u64) -> Result<()> {
        self.check_open()?;
        let newest = self.node.store.snapshot_version().unwrap_or(0);
        if through > newest {
            return Err(Error::InvalidArgument(format!(
                "cannot compact through {through}: newest snapshot is at {newest}"
            )));
        }
        if let Err(e) = self.node.store.compact(through).await {
            tracing::error!(error = %e, "failed to compact the local log; stopping");
            self.node.stop(e.clone());
            return Err(e);
        }
        Ok(())
    }

    fn role(&self) -> Role {
        match &*self.node.role() {
            RoleState::Primary { .. } => Role::Leader,
            RoleState::Replica { primary } => Role::Follower {
                leader: primary.clone(),
            },
            RoleState::Stopped(_) => Role::Follower { leader: None },
        }
    }

    async fn close(&self) -> Result<()> {
        self.node.stop(Error::Closed);
        self.node.stop_tasks().await;
        // A primary's last `Commit` record may still be unwritten (it rides the next write):
        // write it, so a cleanly closed log reopens with everything it acknowledged committed.
        // (Not waited for: closing the file log flushes what is queued. A failure leaves the
        // entries prepared, which a reopened primary commits again.)
        if let Err(e) = self.node.store.write_unwritten_commit().await {
            tracing::warn!(error = %e, "could not write the last commit record on close");
        }
        self.node.store.file().close().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rig_core::net::handshake::HandshakeConfig;
    use rig_log_file::FileLogOptions;

    use super::*;

    fn config(start_as: StartAs, node: &str) -> Config {
        let hs = HandshakeConfig::new("ack-test", [1, 2], node, b"psk".to_vec());
        Config::new("127.0.0.1:0", start_as, hs)
    }

    /// An acknowledgment does not wait for the primary's `Commit` record's fsync (the ops are
    /// durably prepared on both nodes, and every reopen commits them: see the crash tests), and
    /// the op reads as committed at once. Here the record's fsync is held back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ack_does_not_wait_for_the_commit_records_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| FileLog::open(dir.path().join(name), FileLogOptions::default());
        let replica = ReplLog::open(file("r").unwrap(), config(StartAs::Replica, "r"))
            .await
            .unwrap();
        let replicas = vec![replica.local_addr().to_string()];
        let primary = ReplLog::open(
            file("p").unwrap(),
            config(StartAs::Primary { replicas }, "p"),
        )
        .await
        .unwrap();
        assert_eq!(
            primary
                .append(vec![Operation::new("set", "a")], Durability::Replicated)
                .await
                .unwrap(),
            1
        );

        primary.node.store.hold_lazy.send_replace(true);
        let ack = primary.append(vec![Operation::new("set", "b")], Durability::Replicated);
        // A guard against a hang (the old rule: no ack before the record is durable).
        let ack = tokio::time::timeout(Duration::from_secs(30), ack).await;
        assert_eq!(ack.expect("acknowledged before the fsync").unwrap(), 2);
        assert_eq!(primary.committed(), 2);
        assert_eq!(primary.read(2, 1).await.unwrap()[0].op.data, "b");
        primary.node.store.hold_lazy.send_replace(false);
        replica.wait_committed(1).await.unwrap();
        primary.close().await.unwrap();
        replica.close().await.unwrap();
    }
}
