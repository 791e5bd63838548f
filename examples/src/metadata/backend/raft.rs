//! `--backend raft`: one member of a Raft group. `--peers` is the initial membership; members
//! are added and removed on the running group through the leader's `POST /admin/members` and
//! `DELETE /admin/members/{id}` (`rig-cli member`). A new node joins with `--join SEEDS`
//! (`NetNetwork::join`): `--peers` then names only itself.
//!
//! ```sh
//! metadata --backend raft --node-id 1 --listen 127.0.0.1:8081 --data-dir ./n1 \
//!     --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 \
//!     --peer-http 2=127.0.0.1:8082,3=127.0.0.1:8083 --group-token 1 --psk-file psk
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::{SeededRand, StdFs, TcpTransport, TokioClock, Transport};
use rig_core::Rig;
use rig_raft_lite::core::Config;
use rig_raft_lite::driver::{NetNetwork, Options, RaftLog};
use rig_raft_lite::storage::{FsStorage, Storage};

use super::{flags, BackendArgs, BackendError};
use crate::metadata::node::{BackendDetails, MemberChange, MemberInfo, NodeControl};
use crate::metadata::MetadataService;

/// How often a joining node asks its seeds again while no answer came.
const JOIN_RETRY: Duration = Duration::from_millis(200);
/// How many times it asks before it gives up (about 30 s).
const JOIN_ATTEMPTS: u32 = 150;

/// Parses `ID=HOST:PORT` entries (ids are positive integers, each named once).
///
/// ```
/// use rig_examples::metadata::backend::parse_members;
/// let m = parse_members("--peers", &["1=127.0.0.1:7001".into(), "2=127.0.0.1:7002".into()]).unwrap();
/// assert_eq!(m[&2], "127.0.0.1:7002");
/// assert!(parse_members("--peers", &["127.0.0.1:7001".into()]).is_err());
/// assert!(parse_members("--peers", &["0=a:1".into()]).is_err());
/// ```
pub fn parse_members(
    flag: &str,
    entries: &[String],
) -> Result<BTreeMap<u64, String>, BackendError> {
    let mut members = BTreeMap::new();
    for entry in entries {
        let parsed = entry
            .split_once('=')
            .and_then(|(id, addr)| Some((id.trim().parse::<u64>().ok()?, addr.trim())));
        let Some((id, addr)) = parsed.filter(|(id, addr)| *id > 0 && addr.contains(':')) else {
            return Err(flags(format!(
                "{flag} entry {entry:?}: expected ID=HOST:PORT with a positive id"
            )));
        };
        if members.insert(id, addr.to_owned()).is_some() {
            return Err(flags(format!("{flag} names id {id} twice")));
        }
    }
    Ok(members)
}

/// Starts Raft member `--node-id` with its storage in `data_dir`, first joining the group behind
/// `--join` when given. `http` is this node's HTTP address; followers send clients to the
/// leader's `--peer-http` address.
pub async fn open_raft(
    args: &BackendArgs,
    data_dir: &Path,
    http: &str,
) -> Result<RaftLog, BackendError> {
    let id = args
        .node_id
        .ok_or_else(|| flags("--backend raft needs --node-id"))?;
    let members = parse_members("--peers", &args.peers)?;
    let Some(own) = members.get(&id) else {
        return Err(flags(format!(
            "--peers must list every member, this node ({id}) included, as ID=HOST:PORT"
        )));
    };
    if !args.join.is_empty() && members.len() > 1 {
        return Err(flags(
            "with --join, --peers names only this node: the group tells it the others",
        ));
    }
    let mut names = parse_members("--peer-http", &args.peer_http)?;
    if let Some(missing) = members.keys().find(|m| **m != id && !names.contains_key(m)) {
        return Err(flags(format!(
            "--peer-http has no HTTP address for member {missing}: followers could not send \
             clients to it when it leads"
        )));
    }
    names.insert(id, http.to_owned());
    let listen = args.repl_listen.clone().unwrap_or_else(|| own.clone());
    let listener = TcpTransport
        .listen(&listen)
        .await
        .map_err(|e| rig_core::Error::io("raft-lite", format!("listen on {listen}"), e))?;
    let others = members
        .iter()
        .filter(|(m, _)| **m != id)
        .map(|(m, a)| (*m, a.clone()))
        .collect();
    let (net, mut inbox) = NetNetwork::start(
        args.handshake(&id.to_string())?,
        others,
        listener,
        Arc::new(TcpTransport),
        Arc::new(TokioClock),
        Arc::new(SeededRand::from_entropy()),
    );
    let mut storage = FsStorage::open(Arc::new(StdFs), data_dir)?;
    let mut config = Config::new(id, members.keys().copied().collect());
    // The logged memberships carry these, so a node added later learns where everyone is.
    config.addrs = members.clone();
    if !args.join.is_empty() {
        let joined = net
            .join(&mut inbox, &args.join, id, own, JOIN_RETRY, JOIN_ATTEMPTS)
            .await?;
        tracing::info!(members = ?joined.current, "joined the group");
        config = Config::new(id, joined.current.voters.keys().copied().collect());
        storage.save_membership(&joined)?;
    }
    let mut options = Options::new(config);
    options.names = names;
    Ok(RaftLog::start(
        options,
        Box::new(storage),
        Arc::new(net),
        inbox,
        Arc::new(TokioClock),
        Box::new(SeededRand::from_entropy()),
    )?)
}

/// `/status` details of a Raft member (its current term and the members it knows, each with
/// its role and, on the leader, how far behind it is) and membership changes through `RaftLog::add_member` and `remove_member`.
pub fn raft_control(rig: Rig<MetadataService, RaftLog>) -> NodeControl {
    let for_details = rig.clone();
    NodeControl::none()
        .with_details(move || {
            let log = for_details.log();
            let members = log.members();
            let lag = log.replication_lag();
            BackendDetails {
                epoch: Some(log.term()),
                members: members
                    .all()
                    .map(|(id, addr)| MemberInfo {
                        id,
                        addr: addr.to_owned(),
                        role: if members.is_voter(id) {
                            "voter"
                        } else {
                            "observer"
                        }
                        .to_owned(),
                        lag: lag.get(&id).copied(),
                    })
                    .collect(),
                snapshots_installed: Some(log.snapshots_installed()),
                ..Default::default()
            }
        })
        .with_member_changes(move |change| {
            let rig = rig.clone();
            Box::pin(async move {
                match change {
                    MemberChange::Add { id, addr } => rig.log().add_member(id, addr).await,
                    MemberChange::Remove(id) => rig.log().remove_member(id).await,
                }
            })
        })
}
