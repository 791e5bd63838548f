//! The main example: a key-value service on rig's embedded default, the file log.
//!
//! `cargo run -p rig-examples --bin kv -- ./data` opens (or recovers) the service in `./data`,
//! writes from concurrent clients, shows a rejected operation, takes a snapshot and closes.
//! Run it twice: the second run starts from what the first left on disk.

use tokio::time::Instant;

use rig_core::{Durability, Error, Rig};
use rig_examples::kv::{KvOp, KvService};
use rig_log_file::{FileLog, FileLogOptions};

const CLIENTS: usize = 8;
const PUTS_PER_CLIENT: usize = 50;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let dir = std::env::args().nth(1).unwrap_or_else(|| "./data".into());

    let log = FileLog::open(&dir, FileLogOptions::default())?;
    let rig = Rig::open(KvService::default(), log).await?;
    let run = rig.applied_version() / (CLIENTS * PUTS_PER_CLIENT) as u64 + 1;
    println!(
        "opened {dir}: {} keys recovered at version {}",
        rig.state().await.len(),
        rig.applied_version()
    );

    // Concurrent clients on different keys: the engine validates them together and one fsync
    // covers the whole batch (group commit).
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let rig = rig.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..PUTS_PER_CLIENT {
                let op = KvOp::Put {
                    key: format!("client{c}/key{i}"),
                    value: format!("run {run}"),
                };
                rig.execute(op.to_operation()).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for c in clients {
        c.await??;
    }
    let elapsed = started.elapsed();
    let n = CLIENTS * PUTS_PER_CLIENT;
    println!(
        "{n} puts from {CLIENTS} clients acknowledged (each fsynced) in {:.1} ms: {:.0} ops/s; now at version {}",
        elapsed.as_secs_f64() * 1e3,
        n as f64 / elapsed.as_secs_f64(),
        rig.applied_version()
    );

    // Some operations matter less: this one is acknowledged before the fsync.
    let quick = KvOp::Put {
        key: "last-run".into(),
        value: run.to_string(),
    };
    let done = rig
        .execute_with(quick.to_operation(), Durability::Applied)
        .await?;
    println!(
        "put last-run={run} at version {} without waiting for the fsync",
        done.version
    );

    // A rejected operation is never logged.
    let missing = KvOp::Delete {
        key: "no-such-key".into(),
    };
    match rig.execute(missing.to_operation()).await {
        Err(Error::Rejected(r)) => {
            println!("delete of a missing key rejected ({r}); nothing logged")
        }
        other => println!("unexpected result for a missing key: {other:?}"),
    }

    let version = rig.snapshot_now().await?;
    println!("snapshot saved at version {version}; log segments at or below it can be dropped");
    println!("client0/key0 = {:?}", rig.state().await.get("client0/key0"));
    rig.close().await?;
    println!("closed cleanly; run again to recover from {dir}");
    Ok(())
}
