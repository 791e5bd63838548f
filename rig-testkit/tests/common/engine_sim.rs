//! The client side of the engine simulations: clients running puts and gets against whichever
//! engine is current, recording key-value and log histories, and the final checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::{Rand, SeededRand};
use rig_core::{Error, Log, Rig};
use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
use rig_testkit::check::log::{check_log, LogCall, LogHistory, LogReturn};
use rig_testkit::history::{Completion, OpId};
use rig_testkit::sim::SimCtx;
use rig_testkit::{buggify, sometimes};

use super::kv::{decode, put, Kv};

pub const CLIENTS: u64 = 4;
pub const OPS_PER_CLIENT: u64 = 25;
pub const KEYS: u64 = 4;
/// Clients give up after this long, like real ones; the outcome is then unknown.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything a simulation shares: the current engine (replaced on restart) and the histories.
pub struct World<L: Log> {
    pub ctx: SimCtx,
    pub rig: Arc<Mutex<Rig<Kv, Arc<L>>>>,
    pub kv: KvHistory,
    pub log: LogHistory,
}

impl<L: Log> Clone for World<L> {
    fn clone(&self) -> Self {
        Self {
            ctx: self.ctx.clone(),
            rig: Arc::clone(&self.rig),
            kv: self.kv.clone(),
            log: self.log.clone(),
        }
    }
}

impl<L: Log> World<L> {
    pub fn new(ctx: SimCtx, rig: Rig<Kv, Arc<L>>) -> Self {
        Self {
            ctx,
            rig: Arc::new(Mutex::new(rig)),
            kv: KvHistory::new(),
            log: LogHistory::new(),
        }
    }

    pub fn rig(&self) -> Rig<Kv, Arc<L>> {
        self.rig.lock().unwrap().clone()
    }

    /// True while some recorded operation has not completed.
    pub fn in_flight(&self) -> bool {
        self.kv.ops().iter().any(|o| o.completed.is_none())
    }

    /// Runs one put, recording it in both histories; returns whether it was acknowledged.
    pub async fn put(&self, process: u64, key: u64, value: u64) -> Result<u64, Error> {
        let kv_op = self.kv.invoke(process, KvCall::Put(key, value));
        let log_op = self.log.invoke(process, LogCall::Append(vec![value]));
        let result = tokio::time::timeout(CLIENT_TIMEOUT, self.rig().execute(put(key, value)))
            .await
            .unwrap_or_else(|_| {
                Err(Error::OutcomeUnknown {
                    reason: "client timeout".into(),
                })
            });
        let version = result.as_ref().map(|d| d.version).map_err(Clone::clone);
        self.ctx
            .trace
            .record(&("put", process, key, value, version.as_ref().ok()));
        self.finish(kv_op, log_op, &version);
        version
    }

    fn finish(&self, kv_op: OpId, log_op: OpId, result: &Result<u64, Error>) {
        match result {
            Ok(v) => {
                self.kv.complete(kv_op, Completion::Ok(KvReturn::Done));
                self.log
                    .complete(log_op, Completion::Ok(LogReturn::Appended(*v)));
            }
            Err(e @ (Error::Rejected(_) | Error::Unavailable { .. } | Error::NotLeader { .. })) => {
                self.kv.complete(kv_op, Completion::Fail(e.to_string()));
                self.log.complete(log_op, Completion::Fail(e.to_string()));
            }
            Err(e) => {
                self.kv.complete(kv_op, Completion::Unknown(e.to_string()));
                self.log
                    .complete(log_op, Completion::Unknown(e.to_string()));
            }
        }
    }

    /// Reads a key from the current engine's state, recording it.
    pub async fn get(&self, process: u64, key: u64) {
        let op = self.kv.invoke(process, KvCall::Get(key));
        let value = self.rig().state().await.map.get(&key).copied();
        self.kv.complete(op, Completion::Ok(KvReturn::Value(value)));
        self.ctx.trace.record(&("get", process, key, value));
    }

    /// The liveness phase, once faults are off and the node restarted: one put absorbs any
    /// failure left armed, then every client's write must succeed.
    pub async fn converge(&self) {
        self.ctx.stop_buggify();
        let _ = self.put(0, 0, 1).await;
        for c in 1..=CLIENTS {
            let done = self.put(c, c % KEYS, c * 1000 + 999).await;
            done.expect("liveness: with faults off, a write succeeds");
        }
    }

    /// Records a final read of the whole log, then runs both checkers.
    pub async fn check(&self, log: &L) {
        let read = self.log.invoke(0, LogCall::Read { from: 1 });
        let entries = log.read(1, usize::MAX).await.expect("final read");
        let ids: Vec<(u64, u64)> = entries
            .iter()
            .map(|e| (e.version, decode(&e.op).1))
            .collect();
        self.ctx.trace.record(&ids);
        self.log.complete(
            read,
            Completion::Ok(LogReturn::Read {
                entries: ids,
                to_end: true,
            }),
        );
        let anomalies = check_log(&self.log.ops());
        assert!(anomalies.is_empty(), "log anomalies: {anomalies:?}");
        let verdict = check_kv(&self.kv.ops(), 5_000_000);
        assert_eq!(
            verdict,
            Linearizable::Yes,
            "key-value history is not linearizable"
        );
    }
}

/// One client: 30% gets, 70% puts of unique values on a few keys.
pub async fn client<L: Log>(w: World<L>, id: u64, rand: SeededRand) {
    for i in 0..OPS_PER_CLIENT {
        let key = rand.below(KEYS);
        if rand.below(10) < 3 {
            w.get(id, key).await;
        } else if let Err(e) = w.put(id, key, id * 1000 + i + 1).await {
            sometimes!(matches!(e, Error::Rejected(_)), "a put was rejected");
            sometimes!(
                !matches!(e, Error::Rejected(_)),
                "a put failed or was ambiguous"
            );
        }
        if !buggify!() {
            tokio::time::sleep(Duration::from_millis(1 + rand.below(5))).await;
        }
    }
}

/// Runs the clients to completion.
pub async fn run_clients<L: Log>(w: &World<L>) {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(w.clone(), c + 1, w.ctx.rand())))
        .collect();
    for c in clients {
        c.await.expect("client panicked");
    }
}
