//! `rig-cli`: the operator CLI for the metadata example, on any backend.
//!
//! ```sh
//! rig-cli verify --data-dir ./data          # versions, segments, snapshots, checksum errors
//! rig-cli verify --bucket b --prefix rig-metadata [--s3-endpoint http://127.0.0.1:9000]
//! rig-cli verify --s3-dir ./data --prefix rig-metadata   # the s3 backend on a local directory
//! rig-cli status --url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
//! rig-cli snapshot --url http://127.0.0.1:8080
//! rig-cli promote --url http://127.0.0.1:8081   # a 2PC replica, once its primary is down
//! rig-cli member add --url http://127.0.0.1:8081 --id 4 --raft-addr 127.0.0.1:7004
//! rig-cli member remove --url http://127.0.0.1:8081 --id 3
//! ```
//!
//! `verify` never changes the directory: it copies the segment and snapshot files to a temporary
//! directory and runs the file log's full recovery there (every record's checksum is checked;
//! a damaged record is reported with its file and offset), then reads every version back and
//! rebuilds the metadata service's state from the latest snapshot plus the log. It exits with 1
//! when it finds damage. It works on a directory a running service holds too (the copy then may
//! end in a torn record, which recovery treats as the unsynced tail it is). On S3 it lists the
//! prefix's batches and snapshots and reads the log through a read replica, which takes no
//! writer epoch: a running writer is not fenced (on a local directory it takes no lock either).
//! Reading the log back shows a progress bar
//! when stderr is a terminal.
//!
//! `promote` goes through the running replica's `POST /admin/promote` (rig-repl-2pc's
//! `ReplLog::promote`): the replica keeps serving while it bumps its epoch, so there is no
//! window where two processes hold its data directory.
//!
//! `member add` and `member remove` go through a Raft node's `POST /admin/members` and `DELETE
//! /admin/members/{id}` (rig-raft-lite's `RaftLog::add_member` and `remove_member`); any member's
//! URL will do, a follower's 421 is followed to the leader. One change at a time: each is durable
//! on a majority before the command returns. The leader cannot remove itself.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rig_examples::metadata::backend::BackendArgs;
use rig_examples::metadata::MetadataClient;

mod progress;
mod status;
mod verify;

/// Operate a rig metadata service: verify its log directory, show its status.
#[derive(Debug, Parser)]
#[command(name = "rig-cli", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a file log directory or an S3 prefix: versions, segments or batches, snapshots,
    /// checksum errors with their location. Changes nothing (an S3 writer is not fenced).
    Verify {
        /// The file log directory (the `--data-dir` of `--backend file`; a 2PC or Raft node's
        /// directory holds that backend's own records, which this does not read).
        #[arg(long, conflicts_with_all = ["bucket", "s3_endpoint", "s3_dir"], required_unless_present_any = ["bucket", "s3_dir"])]
        data_dir: Option<PathBuf>,
        /// The directory of the s3 backend's local mode (the service's `--s3-dir`, or its
        /// `--data-dir` when it ran `--backend s3` without a bucket).
        #[arg(long, conflicts_with_all = ["bucket", "s3_endpoint"])]
        s3_dir: Option<PathBuf>,
        /// The S3 bucket (credentials and region from the usual `AWS_*` variables).
        #[arg(long)]
        bucket: Option<String>,
        /// An S3-compatible endpoint (MinIO, moto); without it, AWS S3 itself.
        #[arg(long)]
        s3_endpoint: Option<String>,
        /// The S3 key prefix (the service's `--prefix`).
        #[arg(long, default_value = "rig-metadata")]
        prefix: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the status of a node or of every node of a deployment: role, leader, applied,
    /// committed and durable versions, epoch or term, each 2PC replica's lag. Exits with 1 when
    /// a node does not answer.
    Status {
        /// The nodes' base URLs (repeat the flag or separate with commas).
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        url: Vec<String>,
        /// Print JSON: one node's status object, or an array of `{url, status|error}`.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running service to snapshot its state now (the log may then drop older entries).
    Snapshot {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Promote a running 2PC replica to primary of a new epoch (manual failover). Only once the
    /// old primary is down or cut off; restart it afterwards with `--role replica`.
    Promote {
        /// The replica's base URL.
        #[arg(long)]
        url: String,
        /// The replication addresses of the new primary's replicas (default: the node's own
        /// `--peers`).
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<String>,
    },
    /// Add or remove a member of a running Raft group (through its leader).
    Member {
        #[command(subcommand)]
        change: MemberCommand,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// Add node `--id`, reachable for replication at `--raft-addr`, as an observer; the leader
    /// promotes it to voter once its log caught up. Start the new node with `metadata --join
    /// SEEDS` (which also adds it, so this command is for reserving the slot first).
    Add {
        /// Any member's base URL (a follower sends the request on to the leader).
        #[arg(long)]
        url: String,
        /// The new node's id (positive, not a member yet).
        #[arg(long)]
        id: u64,
        /// The new node's replication address, `HOST:PORT`.
        #[arg(long)]
        raft_addr: String,
    },
    /// Remove member `--id` (voter or observer; not the leader itself: stop it and let the
    /// others elect a new leader, then remove it).
    Remove {
        /// Any member's base URL (a follower sends the request on to the leader).
        #[arg(long)]
        url: String,
        /// The member to remove.
        #[arg(long)]
        id: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify {
            data_dir,
            bucket,
            s3_endpoint,
            s3_dir,
            prefix,
            json,
        } => match verify_any(data_dir, bucket, s3_endpoint, s3_dir, prefix).await {
            Ok(report) => {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&report).expect("report encodes")
                    );
                } else {
                    print!("{}", report.text());
                }
                if report.ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("rig-cli: cannot verify: {e}");
                ExitCode::from(2)
            }
        },
        Command::Status { url, json } => {
            let nodes = status::gather(&url).await;
            match (json, nodes.as_slice()) {
                (true, [one]) => {
                    if one.reachable() {
                        let text = serde_json::to_string_pretty(&one.status_json());
                        println!("{}", text.expect("status encodes"));
                    }
                }
                (true, _) => println!(
                    "{}",
                    serde_json::to_string_pretty(&nodes).expect("status encodes")
                ),
                (false, _) => print!("{}", status::table(&nodes)),
            }
            if nodes.iter().all(status::NodeStatus::reachable) {
                ExitCode::SUCCESS
            } else {
                for n in nodes.iter().filter(|n| !n.reachable()) {
                    eprintln!("rig-cli: cannot get the status of {}", n.url());
                }
                ExitCode::FAILURE
            }
        }
        Command::Promote { url, replicas } => match client(&url).promote(&replicas).await {
            Ok(epoch) => {
                println!("{url} promoted to primary of epoch {epoch}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rig-cli: cannot promote {url}: {e}");
                ExitCode::from(2)
            }
        },
        Command::Member { change } => change_member(change).await,
        Command::Snapshot { url } => match client(&url).snapshot().await {
            Ok(version) => {
                println!("snapshot taken at version {version}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rig-cli: cannot snapshot {url}: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Runs `rig-cli member add|remove`: prints the membership afterwards, exits 2 on failure.
async fn change_member(change: MemberCommand) -> ExitCode {
    let (url, done) = match change {
        MemberCommand::Add { url, id, raft_addr } => {
            let done = client(&url)
                .following_leader()
                .add_member(id, &raft_addr)
                .await;
            (url, done.map(|m| (format!("added member {id}"), m)))
        }
        MemberCommand::Remove { url, id } => {
            let done = client(&url).following_leader().remove_member(id).await;
            (url, done.map(|m| (format!("removed member {id}"), m)))
        }
    };
    match done {
        Ok((what, members)) => {
            println!("{what}; members now:");
            for m in members {
                let addr = if m.addr.is_empty() { "-" } else { &m.addr };
                println!("  {} {} {}", m.id, m.role, addr);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rig-cli: cannot change the members through {url}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Verifies `data_dir`, or the S3 prefix the other flags name (in a bucket or `s3_dir`).
async fn verify_any(
    data_dir: Option<PathBuf>,
    bucket: Option<String>,
    s3_endpoint: Option<String>,
    s3_dir: Option<PathBuf>,
    prefix: String,
) -> Result<verify::Report, String> {
    match data_dir {
        Some(dir) => verify::run(&dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display())),
        None => {
            let args = BackendArgs {
                bucket,
                s3_endpoint,
                s3_dir,
                prefix,
                ..Default::default()
            };
            verify::run_s3(&args).await.map_err(|e| e.to_string())
        }
    }
}

/// A client of `url`, or exit 2 naming the bad URL.
fn client(url: &str) -> MetadataClient {
    MetadataClient::new(url).unwrap_or_else(|e| {
        eprintln!("rig-cli: bad url {url}: {e}");
        std::process::exit(2)
    })
}
