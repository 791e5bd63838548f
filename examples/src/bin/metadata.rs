//! The seed's metadata service over HTTP, on rig's file log.
//!
//! ```sh
//! cargo run --release -p rig-examples --bin metadata -- --listen 127.0.0.1:8080 --data-dir ./data
//! ```
//!
//! Prints `listening on ADDR` once it serves. SIGTERM or Ctrl-C stops it gracefully.

use std::path::PathBuf;

use clap::Parser;
use rig_core::{Options, Rig, SnapshotPolicy};
use rig_examples::metadata::server::{self, parse_backend};
use rig_examples::metadata::MetadataService;
use rig_log_file::{FileLog, FileLogOptions};

/// Users and credentials behind an HTTP API, every change on rig's durable log.
#[derive(Debug, Parser)]
#[command(name = "metadata", version)]
struct Args {
    /// The address to serve HTTP on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The directory of the log, snapshots and lock file.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// The log backend (only `file` exists so far).
    #[arg(long, default_value = "file", value_parser = parse_backend)]
    backend: String,
    /// Snapshot the state after this many operations (0: only on `POST /snapshot`). A snapshot
    /// bounds restart time and lets the log drop older segments.
    #[arg(long, default_value_t = 100_000)]
    snapshot_every: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    let log = FileLog::open(&args.data_dir, FileLogOptions::default()).map_err(|e| {
        format!(
            "cannot open the file log in {}: {e}",
            args.data_dir.display()
        )
    })?;
    let options = Options {
        snapshot: SnapshotPolicy {
            every_ops: (args.snapshot_every > 0).then_some(args.snapshot_every),
            every_bytes: if args.snapshot_every > 0 {
                SnapshotPolicy::default().every_bytes
            } else {
                None
            },
        },
        ..Options::default()
    };
    let rig = Rig::open_with(MetadataService::default(), log, options).await?;
    tracing::info!(
        backend = %args.backend,
        dir = %args.data_dir.display(),
        version = rig.applied_version(),
        users = rig.state().await.len(),
        "recovered"
    );
    let listener = server::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    // The one line on stdout: tests and scripts read the bound address (useful with port 0).
    println!("listening on {}", listener.local_addr()?);
    server::serve(rig, listener, server::shutdown_signal()).await?;
    tracing::info!("closed cleanly");
    Ok(())
}
