//! A key-value server and four clients talking over `SimNet` while `net_nemesis` applies each
//! seed's network faults (connection resets from loss, isolation, one-way cuts, splits, paused
//! nodes); then a liveness phase on a healed network; then the linearizability checker.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::{Connection, Rand, SeededRand, Transport};
use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
use rig_testkit::history::Completion;
use rig_testkit::sim::{net_nemesis, SimCtx, Simulation};
use rig_testkit::simnet::{SimNet, SimTransport};
use rig_testkit::sometimes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SERVER: &str = "server:1";
const CLIENTS: u64 = 4;
const KEYS: u64 = 3;
const TIMEOUT: Duration = Duration::from_secs(2);

type Store = Arc<Mutex<HashMap<u64, u64>>>;

/// Answers `PUT k v` with `OK` and `GET k` with `VAL v` or `NONE`, one request per line.
async fn handle(conn: Box<dyn Connection>, store: Store) {
    let (read, mut write) = tokio::io::split(conn);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<u64> = line
            .split(' ')
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        let reply = match (line.split(' ').next(), words.as_slice()) {
            (Some("PUT"), [k, v]) => {
                store.lock().unwrap().insert(*k, *v);
                "OK".to_string()
            }
            (Some("GET"), [k]) => match store.lock().unwrap().get(k) {
                Some(v) => format!("VAL {v}"),
                None => "NONE".to_string(),
            },
            _ => return,
        };
        if write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn serve(node: SimTransport, store: Store) {
    let mut listener = node.listen(SERVER).await.expect("listen");
    while let Ok((conn, _)) = listener.accept().await {
        tokio::spawn(handle(conn, Arc::clone(&store)));
    }
}

/// Why a call failed: before anything was sent (definitely not applied) or after.
enum CallError {
    NotSent,
    Unknown(io::Error),
}

async fn call(node: &SimTransport, request: &str) -> Result<String, CallError> {
    let Ok(Ok(mut conn)) = tokio::time::timeout(TIMEOUT, node.connect(SERVER)).await else {
        return Err(CallError::NotSent);
    };
    let exchange = async {
        conn.write_all(format!("{request}\n").as_bytes()).await?;
        let mut line = String::new();
        match BufReader::new(conn).read_line(&mut line).await? {
            0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            _ => Ok(line.trim_end().to_string()),
        }
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(CallError::Unknown(e)),
        Err(_) => Err(CallError::Unknown(io::ErrorKind::TimedOut.into())),
    }
}

/// Runs one operation, recording it: a failure before sending definitely failed, any other
/// failure is ambiguous. Returns whether it succeeded.
async fn op(node: &SimTransport, history: &KvHistory, process: u64, kv: KvCall) -> bool {
    let id = history.invoke(process, kv);
    let request = match kv {
        KvCall::Put(k, v) => format!("PUT {k} {v}"),
        KvCall::Get(k) => format!("GET {k}"),
        KvCall::Cas { .. } => unreachable!("the server has no compare-and-swap"),
    };
    let completion = match call(node, &request).await {
        Ok(reply) if reply == "OK" => Completion::Ok(KvReturn::Done),
        Ok(reply) if reply == "NONE" => Completion::Ok(KvReturn::Value(None)),
        Ok(reply) => {
            let v = reply.strip_prefix("VAL ").and_then(|v| v.parse().ok());
            Completion::Ok(KvReturn::Value(Some(v.expect("a VAL reply"))))
        }
        Err(CallError::NotSent) => {
            sometimes!(true, "an operation could not reach the server");
            Completion::Fail("connect failed".into())
        }
        Err(CallError::Unknown(e)) => {
            sometimes!(true, "an operation's outcome was unknown");
            Completion::Unknown(e.to_string())
        }
    };
    let ok = matches!(completion, Completion::Ok(_));
    history.complete(id, completion);
    ok
}

async fn client(node: SimTransport, history: KvHistory, id: u64, rand: SeededRand) {
    for i in 0..20 {
        let key = rand.below(KEYS);
        let call = if rand.below(10) < 4 {
            KvCall::Get(key)
        } else {
            KvCall::Put(key, id * 1000 + i + 1)
        };
        op(&node, &history, id, call).await;
        tokio::time::sleep(Duration::from_millis(1 + rand.below(5))).await;
    }
}

async fn scenario(ctx: SimCtx) {
    let (net, ctl) = SimNet::new(ctx.rand());
    let store = Store::default();
    let server = tokio::spawn(serve(net.node("server"), Arc::clone(&store)));
    let names: Vec<String> = (1..=CLIENTS).map(|c| format!("c{c}")).collect();
    let nodes = names
        .iter()
        .cloned()
        .chain(["server".to_string()])
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let nemesis = tokio::spawn(net_nemesis(
        ctl,
        nodes,
        ctx.plan(),
        ctx.rand(),
        Arc::clone(&stop),
        ctx.trace.clone(),
    ));
    let history = KvHistory::new();
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|c| {
            let node = net.node(&format!("c{c}"));
            tokio::spawn(client(node, history.clone(), c, ctx.rand()))
        })
        .collect();
    for c in clients {
        c.await.expect("client panicked");
    }
    stop.store(true, Ordering::Relaxed);
    nemesis.await.expect("nemesis panicked");
    // Liveness: on a healed network every client's write goes through.
    for c in 1..=CLIENTS {
        let node = net.node(&format!("c{c}"));
        let done = op(&node, &history, c, KvCall::Put(c % KEYS, c * 1000 + 999)).await;
        assert!(
            done,
            "liveness: client {c} could not write on a healed network"
        );
    }
    server.abort();
    ctx.trace.record(&history.len());
    let verdict = check_kv(&history.ops(), 5_000_000);
    assert_eq!(
        verdict,
        Linearizable::Yes,
        "the key-value history is not linearizable"
    );
}

#[test]
fn kv_over_simnet_survives_network_faults() {
    Simulation::new("rig-testkit", "kv_over_simnet_survives_network_faults")
        .seeds(60)
        .expect_probes(&[
            "net nemesis: isolated a node",
            "net nemesis: cut a link one way",
            "net nemesis: split the nodes in two",
            "net nemesis: paused a node",
            "an operation could not reach the server",
            "an operation's outcome was unknown",
        ])
        .run(scenario);
}

#[test]
fn a_simnet_seed_replays_exactly() {
    let run = || {
        Simulation::new("rig-testkit", "a_simnet_seed_replays_exactly")
            .fixed_seeds(&[3, 7])
            .run(scenario)
    };
    assert_eq!(run(), run());
}
