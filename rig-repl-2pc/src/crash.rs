//! Crash points: the places in a round where a test can stop a node dead, to check what
//! survives a crash at each stage (see `crash_tests.rs`). Outside tests a crash point does
//! nothing.

/// A point in a round where a node can crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Primary, stage 1 (prepare locally): the Prepare went out to the replicas, the local
    /// `Prepare` records are not written yet.
    PrepareLocal,
    /// Primary, stage 2 (prepare on the replicas): prepared locally, the replicas' answers not
    /// awaited yet.
    PrepareReplica,
    /// Primary, stage 3 (commit locally): every required replica prepared, not committed
    /// locally yet.
    CommitLocal,
    /// Primary, stage 4 (commit on the replicas): committed locally, in memory (the `Commit`
    /// record rides the next write), the replicas not told yet.
    CommitReplica,
    /// Primary, stage 5 (acknowledge): committed in memory (the `Commit` record maybe not
    /// written yet), the waiters not told yet.
    Acknowledge,
    /// Replica: a message to prepare arrived; its records are not written yet.
    ReplicaPrepare,
    /// Replica: the prepared records are durable; the answer is not sent yet.
    ReplicaPrepared,
    /// Replica: a message to commit arrived; its records are not written yet.
    ReplicaCommit,
    /// Replica: the commit is durable.
    ReplicaCommitted,
}

/// One armed crash point per node.
#[derive(Debug, Default)]
pub(crate) struct CrashPoints {
    #[cfg(test)]
    armed: std::sync::Mutex<Option<(Stage, tokio::sync::oneshot::Sender<()>)>>,
}

impl CrashPoints {
    /// Arms `stage`: the next task to reach it signals the returned receiver and then never
    /// resumes (the test halts the node meanwhile).
    #[cfg(test)]
    pub(crate) fn arm(&self, stage: Stage) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.armed.lock().expect("crash points lock") = Some((stage, tx));
        rx
    }

    /// Crashes here if a test armed `stage`; otherwise returns at once.
    pub(crate) async fn reach(&self, stage: Stage) {
        #[cfg(test)]
        {
            let hit = {
                let mut armed = self.armed.lock().expect("crash points lock");
                match armed.take() {
                    Some((s, tx)) if s == stage => Some(tx),
                    other => {
                        *armed = other;
                        None
                    }
                }
            };
            if let Some(tx) = hit {
                let _ = tx.send(());
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(test))]
        let _ = stage;
    }
}
