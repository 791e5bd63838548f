//! The seed's metadata service over HTTP, on any of rig's backends.
//!
//! ```sh
//! cargo run --release -p rig-examples --bin metadata -- --listen 127.0.0.1:8080 --data-dir ./data
//! ```
//!
//! `--backend s3|2pc|raft` picks another log; see `rig_examples::metadata::backend` for each
//! backend's flags. Prints `listening on ADDR` once it serves. SIGTERM or Ctrl-C stops it
//! gracefully.

use std::path::PathBuf;

use clap::Parser;
use rig_core::{Log, Options, Rig, SnapshotPolicy};
use rig_examples::metadata::backend::{
    open_2pc, open_raft, open_s3_in, open_s3_replica_in, raft_control, s3_control,
    s3_replica_control, s3_role, two_pc_control, BackendArgs, S3Role,
};
use rig_examples::metadata::node::NodeControl;
use rig_examples::metadata::server::{self, parse_backend};
use rig_examples::metadata::MetadataService;
use rig_log_file::{FileLog, FileLogOptions};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Users and credentials behind an HTTP API, every change on rig's durable log.
#[derive(Debug, Parser)]
#[command(name = "metadata", version)]
struct Args {
    /// The address to serve HTTP on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The directory of the log, snapshots and lock file (file, 2pc and raft backends, and s3
    /// without a bucket or endpoint).
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// The log backend: file, s3, 2pc or raft.
    #[arg(long, default_value = "file", value_parser = parse_backend)]
    backend: String,
    /// Snapshot the state after this many operations (0: only on `POST /snapshot`). A snapshot
    /// bounds restart time and lets the log drop older segments.
    #[arg(long, default_value_t = 100_000)]
    snapshot_every: u64,
    /// S3 with `--role replica`: the writer's HTTP address, sent to clients with 421 on writes.
    #[arg(long)]
    primary_http: Option<String>,
    #[command(flatten)]
    backend_args: BackendArgs,
}

impl Args {
    fn options(&self) -> Options {
        let every = (self.snapshot_every > 0).then_some(self.snapshot_every);
        Options {
            snapshot: SnapshotPolicy {
                every_ops: every,
                every_bytes: every.and(SnapshotPolicy::default().every_bytes),
            },
            ..Options::default()
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metadata: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run_main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = server::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let http = match &args.backend_args.advertise {
        Some(a) => a.clone(),
        None => listener.local_addr()?.to_string(),
    };
    let b = &args.backend_args;
    let dir = &args.data_dir;
    match args.backend.as_str() {
        "s3" => match s3_role(b, args.primary_http.as_deref())? {
            S3Role::Writer => {
                let rig = open_rig(&args, open_s3_in(b, dir).await?).await?;
                run(rig.clone(), s3_control(rig), listener).await
            }
            S3Role::Replica { primary_http } => {
                let log = open_s3_replica_in(b, dir, primary_http).await?;
                run(open_rig(&args, log).await?, s3_replica_control(), listener).await
            }
        },
        "2pc" => {
            let rig = open_rig(&args, open_2pc(b, dir, &http).await?).await?;
            run(rig.clone(), two_pc_control(rig, b.peers.clone()), listener).await
        }
        "raft" => {
            let rig = open_rig(&args, open_raft(b, dir, &http).await?).await?;
            run(rig.clone(), raft_control(rig), listener).await
        }
        _ => {
            let log = FileLog::open(dir, FileLogOptions::default())
                .map_err(|e| format!("cannot open the file log in {}: {e}", dir.display()))?;
            run(open_rig(&args, log).await?, NodeControl::none(), listener).await
        }
    }
}

async fn open_rig<L: Log>(args: &Args, log: L) -> Result<Rig<MetadataService, L>, BoxError> {
    let rig = Rig::open_with(MetadataService::default(), log, args.options()).await?;
    let status = rig.status();
    tracing::info!(
        backend = status.backend,
        dir = %args.data_dir.display(),
        version = rig.applied_version(),
        users = rig.state().await.len(),
        role = ?status.role,
        "recovered"
    );
    Ok(rig)
}

async fn run<L: Log>(
    rig: Rig<MetadataService, L>,
    control: NodeControl,
    listener: TcpListener,
) -> Result<(), BoxError> {
    // The one line on stdout: tests and scripts read the bound address (useful with port 0).
    println!("listening on {}", listener.local_addr()?);
    server::serve_with(rig, control, listener, server::shutdown_signal()).await?;
    tracing::info!("closed cleanly");
    Ok(())
}
