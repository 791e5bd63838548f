//! `rig-2pc-node`: one 2PC node as an OS process, for the real-process tests.
//!
//! ```text
//! rig-2pc-node replica <dir> <listen>                  prints "listening <addr>", runs until killed
//! rig-2pc-node primary <dir> <listen> <replica> <tag>  appends "<tag>-<n>" from 8 tasks forever,
//!                                                      printing "ack <version> <data>" per ack
//! rig-2pc-node promote <dir> <listen> <replica> <tag>  opens <dir> as a replica, promotes it
//!                                                      (new epoch), then loads it like `primary`
//! rig-2pc-node dump <dir>                              prints "<version> <data>" per committed entry
//! rig-2pc-node recovered <dir>                         the same, once <dir> is reopened as a primary
//!                                                      with no replicas: it commits its prepared tail
//!                                                      first, as a restarted primary does
//! ```
//!
//! An acknowledgment does not wait for the primary's `Commit` record's fsync, so a killed
//! primary's log may hold acknowledged ops only prepared until it runs again: `recovered` reads
//! what it serves once back (it appends a marker op, which is not printed).

use std::io::Write;
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::{Durability, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, Policy, ReplLog, StartAs};

fn handshake(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("process-test", [1, 2], node, b"process psk".to_vec())
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn open(dir: &str, listen: &str, start_as: StartAs, node: &str) -> rig_core::Result<ReplLog> {
    let file = FileLog::open(dir, FileLogOptions::default())?;
    let mut config = Config::new(listen, start_as, handshake(node));
    config.policy = Policy::Strict {
        timeout: Duration::from_secs(2),
    };
    ReplLog::open(file, config).await
}

#[tokio::main]
async fn main() -> rig_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "replica" => {
            let log = open(&arg(1), &arg(2), StartAs::Replica, "replica").await?;
            say(format!("listening {}", log.local_addr()));
            std::future::pending::<()>().await;
        }
        "primary" | "promote" => {
            let replicas = vec![arg(3)];
            let log = if arg(0) == "primary" {
                let start_as = StartAs::Primary { replicas };
                open(&arg(1), &arg(2), start_as, "primary").await?
            } else {
                let log = open(&arg(1), &arg(2), StartAs::Replica, "promoted").await?;
                log.promote(replicas).await?;
                log
            };
            let log = std::sync::Arc::new(log);
            say(format!("listening {}", log.local_addr()));
            let tag = arg(4);
            let mut tasks = Vec::new();
            for t in 0..8 {
                let (log, tag) = (log.clone(), tag.clone());
                tasks.push(tokio::spawn(async move {
                    for n in 0.. {
                        let data = format!("{tag}-{t}-{n}");
                        let op = Operation::new("put", data.clone());
                        match log.append(vec![op], Durability::Replicated).await {
                            Ok(v) => say(format!("ack {v} {data}")),
                            Err(e) if e.is_fatal() => return,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
        "dump" => {
            let log = open(&arg(1), "127.0.0.1:0", StartAs::Replica, "dump").await?;
            for p in log.read(1, usize::MAX).await? {
                say(format!(
                    "{} {}",
                    p.version,
                    String::from_utf8_lossy(&p.op.data)
                ));
            }
            log.close().await?;
        }
        "recovered" => {
            let start_as = StartAs::Primary { replicas: vec![] };
            let log = open(&arg(1), "127.0.0.1:0", start_as, "recovered").await?;
            // Acknowledged only after the recovery round committed the prepared tail.
            let marker = vec![Operation::new("put", "recovered")];
            let marker = log.append(marker, Durability::Replicated).await?;
            for p in log.read(1, usize::MAX).await? {
                if p.version < marker {
                    say(format!(
                        "{} {}",
                        p.version,
                        String::from_utf8_lossy(&p.op.data)
                    ));
                }
            }
            log.close().await?;
        }
        other => {
            eprintln!("unknown command {other:?}; see the file's docs");
            std::process::exit(2);
        }
    }
    Ok(())
}
