//! Membership through the driver: a 4th node joins a running 3-node group under write load (as an
//! observer that receives the log, then a voter), a member is removed, and every acknowledged op
//! is on the new node; over real TCP, a node joins through seed addresses and a node with the
//! wrong group token is refused with a clear error.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::seams::{SeededRand, TcpTransport, TokioClock, Transport};
use rig_core::{Error, Log, Role};
use rig_raft_lite::core::{CommitMode, Config, StoredMembership};
use rig_raft_lite::driver::{NetNetwork, Options, RaftLog};
use rig_raft_lite::storage::{MemStorage, Storage};
use support::group::Group;
use support::writes::{has_every_acked_after, load, wait_for};

async fn join_grow_and_shrink(mode: CommitMode) {
    let g = Group::start(3, mode, Vec::new(), 11).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let writer = tokio::spawn(load(g.nodes.clone(), acked.clone(), stop.clone()));
    wait_for(|| acked.lock().unwrap().len() >= 20).await;

    // The join: the leader adds node 4 as an observer; node 4 starts from that membership.
    let leader = g.nodes[g.wait_leader().await].clone();
    leader.add_member(4, "").await.expect("add node 4");
    let members = leader.members();
    assert!(members.observers.contains_key(&4) || members.voters.contains_key(&4));
    let mut disk = MemStorage::default();
    disk.save_membership(&StoredMembership {
        index: 0,
        current: members.clone(),
        previous: members,
    })
    .expect("persist the membership");
    let inbox = g.router.register(4);
    let mut opts = Options::new(Config::new(4, vec![1, 2, 3]));
    opts.config.commit_mode = mode;
    opts.tick = Duration::from_millis(5);
    let fourth = Arc::new(
        RaftLog::start(
            opts,
            Box::new(disk),
            Arc::new(g.router.clone()),
            inbox,
            Arc::new(TokioClock),
            Box::new(SeededRand::new(404)),
        )
        .expect("start node 4"),
    );
    // Promoted once its log caught up, while writes go on.
    wait_for(|| fourth.members().voters.contains_key(&4)).await;
    wait_for(|| leader.members().voters.contains_key(&4) || leader.role() != Role::Leader).await;

    // Remove a follower other than node 4 (the leader cannot remove itself).
    let victim = loop {
        let l = g.nodes[g.wait_leader().await].clone();
        let victim = (1..=3).find(|&id| id != l.id()).expect("a follower");
        match l.remove_member(victim).await {
            Ok(()) => break victim,
            // A change in progress or a leader change: retry.
            Err(
                Error::InvalidArgument(_) | Error::NotLeader { .. } | Error::OutcomeUnknown { .. },
            ) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("remove: {e}"),
        }
    };
    let before = acked.lock().unwrap().len();
    wait_for(|| acked.lock().unwrap().len() >= before + 20).await;
    *stop.lock().unwrap() = true;
    writer.await.expect("writer");

    let acked = acked.lock().unwrap().clone();
    let current = g.nodes[g.wait_leader().await].members();
    assert!(
        !current.contains(victim),
        "{victim} still a member: {current:?}"
    );
    assert_eq!(current.voters.len(), 3, "{current:?}");
    assert!(current.is_voter(4));
    has_every_acked_after(&fourth, &acked, 0).await;
    for node in g.nodes.iter().filter(|n| n.id() != victim) {
        has_every_acked_after(node, &acked, 0).await;
    }
}

#[tokio::test]
async fn strict_a_fourth_node_joins_under_load_and_a_member_is_removed() {
    join_grow_and_shrink(CommitMode::Strict).await;
}

#[tokio::test]
async fn volatile_a_fourth_node_joins_under_load_and_a_member_is_removed() {
    join_grow_and_shrink(CommitMode::Volatile).await;
}

/// A node over loopback TCP with group token `token`: its network and inbox.
async fn tcp_node(
    id: u64,
    token: u64,
    addrs: &BTreeMap<u64, String>,
) -> (NetNetwork, rig_raft_lite::driver::Inbox) {
    let listener = TcpTransport.listen(&addrs[&id]).await.expect("listen");
    let others = addrs
        .iter()
        .filter(|(p, _)| **p != id && **p <= 3)
        .map(|(p, a)| (*p, a.clone()))
        .collect();
    let cfg = HandshakeConfig::new("raft-join", [token, token], id.to_string(), b"psk".to_vec());
    NetNetwork::start(
        cfg,
        others,
        listener,
        Arc::new(TcpTransport),
        Arc::new(TokioClock),
        Arc::new(SeededRand::new(id)),
    )
}

fn start(
    id: u64,
    net: NetNetwork,
    inbox: rig_raft_lite::driver::Inbox,
    addrs: &BTreeMap<u64, String>,
    disk: MemStorage,
) -> Arc<RaftLog> {
    let mut config = Config::new(id, vec![1, 2, 3]);
    config.addrs = addrs
        .iter()
        .filter(|(p, _)| **p <= 3)
        .map(|(p, a)| (*p, a.clone()))
        .collect();
    let mut opts = Options::new(config);
    opts.tick = Duration::from_millis(5);
    Arc::new(
        RaftLog::start(
            opts,
            Box::new(disk),
            Arc::new(net),
            inbox,
            Arc::new(TokioClock),
            Box::new(SeededRand::new(id * 7)),
        )
        .expect("start"),
    )
}

/// Free loopback addresses (bound, then released).
async fn free_addrs(n: u64) -> BTreeMap<u64, String> {
    let mut addrs = BTreeMap::new();
    for id in 1..=n {
        let l = TcpTransport.listen("127.0.0.1:0").await.expect("bind");
        addrs.insert(id, l.local_addr().expect("addr"));
    }
    addrs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_over_tcp_through_seeds_and_a_wrong_token_is_refused() {
    let addrs = free_addrs(5).await;
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let (net, inbox) = tcp_node(id, 77, &addrs).await;
        nodes.push(start(id, net, inbox, &addrs, MemStorage::default()));
    }
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let writer = tokio::spawn(load(nodes.clone(), acked.clone(), stop.clone()));
    wait_for(|| acked.lock().unwrap().len() >= 10).await;

    // Wrong token: the seeds refuse the link and the joiner is told why.
    let (bad_net, mut bad_inbox) = tcp_node(5, 13, &addrs).await;
    let seeds = vec![addrs[&1].clone(), addrs[&2].clone()];
    let err = bad_net
        .join(
            &mut bad_inbox,
            &seeds,
            5,
            &addrs[&5],
            Duration::from_millis(200),
            10,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wrong group token"), "{err}");
    assert!(nodes.iter().all(|n| !n.members().contains(5)));

    // The right token: node 4 joins through the seeds, receives the log, becomes a voter.
    let (net, mut inbox) = tcp_node(4, 77, &addrs).await;
    let stored = net
        .join(
            &mut inbox,
            &seeds,
            4,
            &addrs[&4],
            Duration::from_millis(200),
            50,
        )
        .await
        .expect("join");
    assert!(stored.current.contains(4));
    let mut disk = MemStorage::default();
    disk.save_membership(&stored)
        .expect("persist the membership");
    let fourth = start(4, net, inbox, &addrs, disk);
    wait_for(|| fourth.members().voters.contains_key(&4)).await;
    let before = acked.lock().unwrap().len();
    wait_for(|| acked.lock().unwrap().len() >= before + 10).await;
    *stop.lock().unwrap() = true;
    writer.await.expect("writer");
    let acked = acked.lock().unwrap().clone();
    has_every_acked_after(&fourth, &acked, 0).await;
    for n in &nodes {
        n.close().await.expect("close");
    }
    fourth.close().await.expect("close");
}
