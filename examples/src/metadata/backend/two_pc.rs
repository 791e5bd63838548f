//! `--backend 2pc`: a primary and its replicas, every batch through a two-phase commit.
//!
//! ```sh
//! metadata --backend 2pc --role replica --listen 127.0.0.1:8081 --data-dir ./r \
//!     --repl-listen 127.0.0.1:7081 --peers 127.0.0.1:7080 --group-token 1 --psk-file psk
//! metadata --backend 2pc --role primary --listen 127.0.0.1:8080 --data-dir ./p \
//!     --repl-listen 127.0.0.1:7080 --peers 127.0.0.1:7081 --group-token 1 --psk-file psk
//! ```
//!
//! Failover is manual (see rig-repl-2pc's docs): once the primary is down, `POST
//! /admin/promote` on a replica (`rig-cli promote --url ...`) makes it the primary of a new
//! epoch, replicating to the body's `replicas` or, when empty, to its own `--peers`.

use std::path::Path;
use std::time::Duration;

use rig_core::Rig;
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, Mode, Policy, ReplLog, StartAs};

use super::{flags, BackendArgs, BackendError};
use crate::metadata::node::{BackendDetails, NodeControl, ReplicaLag};
use crate::metadata::MetadataService;

/// Opens a 2PC node over the file log in `data_dir`. `http` is the HTTP address this node
/// announces, so replicas can send clients to the primary.
pub async fn open_2pc(
    args: &BackendArgs,
    data_dir: &Path,
    http: &str,
) -> Result<ReplLog, BackendError> {
    let listen = args.repl_listen.clone().ok_or_else(|| {
        flags("--backend 2pc needs --repl-listen HOST:PORT for replication links")
    })?;
    let start_as = match args.role.as_deref() {
        Some("primary") if args.peers.is_empty() => {
            return Err(flags(
                "a 2pc primary needs --peers: its replicas' --repl-listen addresses",
            ))
        }
        Some("primary") => StartAs::Primary {
            replicas: args.peers.clone(),
        },
        Some("replica") => StartAs::Replica,
        Some(other) => {
            return Err(flags(format!(
                "--role {other:?}: expected primary or replica"
            )))
        }
        None => {
            return Err(flags(
                "--backend 2pc needs --role primary or --role replica",
            ))
        }
    };
    let file = FileLog::open(data_dir, FileLogOptions::default())?;
    let mut config = Config::new(listen, start_as, args.handshake(http)?);
    config.advertise = Some(http.to_owned());
    config.policy = Policy::Strict {
        timeout: Duration::from_millis(args.replica_timeout_ms.max(1)),
    };
    Ok(ReplLog::open(file, config).await?)
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Sync => "sync",
        Mode::Degraded => "degraded",
        Mode::Replica => "replica",
        Mode::Fenced => "fenced",
        Mode::Stopped => "stopped",
    }
}

/// `/status` details (mode, epoch, each replica's lag) and promotion for a 2PC node;
/// `default_replicas` are used when a promotion request names none.
pub fn two_pc_control(
    rig: Rig<MetadataService, ReplLog>,
    default_replicas: Vec<String>,
) -> NodeControl {
    let for_details = rig.clone();
    NodeControl::none()
        .with_details(move || {
            let s = for_details.log().status();
            BackendDetails {
                epoch: Some(s.epoch),
                mode: Some(mode_name(s.mode).to_owned()),
                replicas: s
                    .replicas
                    .into_iter()
                    .map(|r| ReplicaLag {
                        addr: r.addr,
                        connected: r.connected,
                        lag: r.lag,
                        lagging: r.lagging,
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .with_promote(move |replicas| {
            let rig = rig.clone();
            let replicas = if replicas.is_empty() {
                default_replicas.clone()
            } else {
                replicas
            };
            Box::pin(async move { rig.log().promote(replicas).await })
        })
}
