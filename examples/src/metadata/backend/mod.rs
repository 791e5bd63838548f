//! The `metadata` binary's backends and their flags: `--backend file|s3|2pc|raft`.
//!
//! | backend | data | flags |
//! |---|---|---|
//! | `file` (default) | `--data-dir` | none |
//! | `s3` | a bucket, or a local directory | `--bucket`, `--s3-endpoint`, `--prefix`, credentials from `AWS_*`; with no bucket or endpoint, `--s3-dir` (default `--data-dir`); `--role replica` (with `--primary-http`) for a read replica |
//! | `2pc` | `--data-dir` | `--role primary\|replica`, `--repl-listen`, `--peers`, transport credentials |
//! | `raft` | `--data-dir` | `--node-id`, `--peers`, `--peer-http`, `--join`, transport credentials |
//!
//! Transport credentials (2PC and Raft): `--group-id`, `--group-token` (one, or two while a
//! token rotates) and a pre-shared key read from `--psk-file` or the `RIG_PSK` variable. A node
//! refuses to start without a key: an unauthenticated replication port would let anyone on the
//! network write to the log.
//!
//! Writes sent to a 2PC replica or a Raft follower get 421 with the leader's *HTTP* address:
//! a 2PC primary announces its HTTP address to its replicas, a Raft node names each peer by its
//! `--peer-http` address.

mod raft;
mod s3;
mod two_pc;

use std::path::PathBuf;

pub use raft::{open_raft, parse_members, raft_control};
pub use s3::{
    open_s3, open_s3_in, open_s3_replica_in, s3_control, s3_options, s3_place, s3_replica_control,
    s3_role, store_config, S3Place, S3Replica, S3Role,
};
pub use two_pc::{open_2pc, two_pc_control};

use rig_core::net::handshake::HandshakeConfig;

/// Why a backend could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A flag is missing, malformed or does not fit the backend: fix the command line.
    #[error("bad flags: {0}")]
    Flags(String),
    /// The pre-shared key could not be read.
    #[error("cannot read the pre-shared key from {path}: {source}")]
    Psk {
        /// The `--psk-file`.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The backend refused to open (unreachable store, locked directory, corrupt data, ...).
    #[error(transparent)]
    Open(#[from] rig_core::Error),
}

fn flags(message: impl Into<String>) -> BackendError {
    BackendError::Flags(message.into())
}

/// Every backend's flags; the `metadata` binary flattens them into its own.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackendArgs {
    /// S3: the bucket. Without `--s3-endpoint` the bucket is on AWS S3 itself (region and
    /// credentials from the usual `AWS_*` variables).
    #[arg(long)]
    pub bucket: Option<String>,
    /// S3: an S3-compatible endpoint (`http://127.0.0.1:9000` for MinIO or moto).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// S3: the key prefix the log and snapshots live under.
    #[arg(long, default_value = "rig-metadata")]
    pub prefix: String,
    /// S3: keep the log in this local directory, in the S3 layout, instead of a bucket. With no
    /// `--bucket` and no `--s3-endpoint` (nor `RIG_S3_BUCKET` / `AWS_ENDPOINT_URL`) the metadata
    /// service uses `--data-dir`. A lock file allows one writer per directory.
    #[arg(long, conflicts_with_all = ["bucket", "s3_endpoint"])]
    pub s3_dir: Option<PathBuf>,
    /// 2PC: whether this node starts as the `primary` or a `replica`. S3: `replica` serves reads
    /// from a follower of the bucket or directory (writes get 421 naming `--primary-http`).
    #[arg(long)]
    pub role: Option<String>,
    /// 2PC and Raft: the address to listen on for replication links. 2PC: required. Raft:
    /// defaults to this node's `--peers` entry.
    #[arg(long)]
    pub repl_listen: Option<String>,
    /// 2PC: the replicas' replication addresses (a primary's replicas; on a replica, those it
    /// takes when promoted). Raft: every member as `ID=HOST:PORT`, this node included.
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Raft: this node's id (one of the `--peers` ids).
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Raft: each other member's HTTP address as `ID=HOST:PORT`, sent to clients with 421.
    #[arg(long, value_delimiter = ',')]
    pub peer_http: Vec<String>,
    /// Raft: join a running group through these members' replication addresses (seeds)
    /// instead of forming one from `--peers`, which then names this node only. The leader adds
    /// the node as an observer and promotes it once its log caught up. Asked at every start
    /// with the flag: drop it once the node joined (a removed node would be added again).
    #[arg(long, value_delimiter = ',')]
    pub join: Vec<String>,
    /// 2PC and Raft: the address clients reach this node's HTTP API at (default: the bound
    /// `--listen` address).
    #[arg(long)]
    pub advertise: Option<String>,
    /// 2PC and Raft: the replication group's id; peers of another group are refused.
    #[arg(long, default_value = "rig-metadata")]
    pub group_id: String,
    /// 2PC and Raft: the group token(s); one, or two (current,next) while rotating.
    #[arg(long, value_delimiter = ',')]
    pub group_token: Vec<u64>,
    /// 2PC and Raft: a file holding the pre-shared key (else the `RIG_PSK` variable).
    #[arg(long)]
    pub psk_file: Option<PathBuf>,
    /// 2PC: how long a round waits for a replica before the writes fail with 503.
    #[arg(long, default_value_t = 5000)]
    pub replica_timeout_ms: u64,
}

impl BackendArgs {
    /// The link handshake for node `node_id`: group id, tokens, pre-shared key.
    pub fn handshake(&self, node_id: &str) -> Result<HandshakeConfig, BackendError> {
        let tokens = match self.group_token.as_slice() {
            [t] => [*t, *t],
            [a, b] => [*a, *b],
            [] => {
                return Err(flags(
                    "--group-token is required (one number, or two while rotating)",
                ))
            }
            _ => return Err(flags("--group-token takes one or two tokens")),
        };
        let psk = self.psk()?;
        Ok(HandshakeConfig::new(
            self.group_id.clone(),
            tokens,
            node_id,
            psk,
        ))
    }

    fn psk(&self) -> Result<Vec<u8>, BackendError> {
        let psk = match &self.psk_file {
            Some(path) => {
                // Reading an operator's key file at start-up: the binary's edge, not library I/O.
                #[allow(clippy::disallowed_methods)]
                let bytes = std::fs::read(path).map_err(|source| BackendError::Psk {
                    path: path.clone(),
                    source,
                })?;
                let text = String::from_utf8_lossy(&bytes);
                text.trim_end_matches(['\n', '\r']).as_bytes().to_vec()
            }
            None => std::env::var("RIG_PSK").unwrap_or_default().into_bytes(),
        };
        if psk.len() < 16 {
            return Err(flags(
                "a pre-shared key of at least 16 bytes is required (--psk-file or RIG_PSK)",
            ));
        }
        Ok(psk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_needs_a_token_and_a_long_enough_key() {
        let mut args = BackendArgs {
            group_id: "g".into(),
            ..Default::default()
        };
        assert!(
            matches!(args.handshake("1"), Err(BackendError::Flags(m)) if m.contains("group-token"))
        );
        args.group_token = vec![1, 2, 3];
        assert!(args.handshake("1").is_err());
        args.group_token = vec![7];
        args.psk_file = Some("/nonexistent/rig-psk".into());
        assert!(matches!(args.handshake("1"), Err(BackendError::Psk { .. })));
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        #[allow(clippy::disallowed_methods)]
        std::fs::write(&short, "tiny\n").unwrap();
        args.psk_file = Some(short);
        assert!(
            matches!(args.handshake("1"), Err(BackendError::Flags(m)) if m.contains("16 bytes"))
        );
        let good = dir.path().join("good");
        #[allow(clippy::disallowed_methods)]
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        args.psk_file = Some(good);
        let hs = args.handshake("1").unwrap();
        assert_eq!(
            (hs.tokens, hs.psk.len(), hs.node_id.as_str()),
            ([7, 7], 20, "1")
        );
    }
}
