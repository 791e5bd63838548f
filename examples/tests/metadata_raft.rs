//! The `metadata` binary on the Raft backend: three real processes on loopback ports. Writes
//! through a follower get 421 with the leader's HTTP address and a following client lands on
//! the leader; create, read, update, delete and rejections; SIGKILL of the leader, a new leader,
//! every acknowledged user still there, the killed node rejoining, and a SIGKILL of all three.
//! Membership: `rig-cli member remove` of a follower through another follower, `/status` listing
//! the two members left, writes still acknowledged, and 4xx for bad membership requests; a
//! fourth process joining through `--join` a group whose logs were compacted, receiving the
//! snapshot, becoming a voter and applying the log (with a writer running throughout), a process
//! with the wrong group token refused, and `rig-cli member add` then `remove` of an observer.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{bounded, cli, eventually, free_port, retry_unavailable, user, Server};
use hyper::{Method, StatusCode};
use rig_examples::metadata::error::ErrorBody;
use rig_examples::metadata::{ClientError, MetadataClient, UserUpdate};

const PSK: &str = "a raft test pre-shared key";

/// The ports of a three-node group: (raft, http) per node id.
struct Group {
    ports: BTreeMap<u64, (u16, u16)>,
}

impl Group {
    fn new() -> Self {
        Self {
            ports: (1..=3).map(|id| (id, (free_port(), free_port()))).collect(),
        }
    }

    fn raft(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.ports[&id].0)
    }

    fn http(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.ports[&id].1)
    }

    fn start(&self, id: u64, dir: &Path) -> Server {
        let peers = self
            .ports
            .iter()
            .map(|(n, (raft, _))| format!("{n}=127.0.0.1:{raft}"))
            .collect::<Vec<_>>()
            .join(",");
        let peer_http = self
            .ports
            .keys()
            .filter(|n| **n != id)
            .map(|n| format!("{n}={}", self.http(*n)))
            .collect::<Vec<_>>()
            .join(",");
        let (listen, node_id) = (self.http(id), id.to_string());
        let flags = [
            "--listen",
            &listen,
            "--backend",
            "raft",
            "--node-id",
            &node_id,
            "--peers",
            &peers,
            "--peer-http",
            &peer_http,
            "--group-token",
            "7",
        ];
        Server::spawn(&dir.join(format!("n{id}")), &flags, &[("RIG_PSK", PSK)])
    }

    /// Starts nodes 1-3 (each in `dir/n{id}`).
    fn start_all(&self, dir: &Path) -> BTreeMap<u64, Server> {
        (1..=3).map(|id| (id, self.start(id, dir))).collect()
    }
}

/// The leader of `nodes` and a client that follows it (redirects) across leader changes.
async fn leader_client(group: &Group, nodes: &BTreeMap<u64, Server>) -> (u64, MetadataClient) {
    let leader = leader_of(group, nodes).await;
    let client = MetadataClient::new(&nodes[&leader].addr)
        .unwrap()
        .following_leader();
    (leader, client)
}

/// Waits until one of `nodes` says it leads and every other names it; returns its id.
async fn leader_of(group: &Group, nodes: &BTreeMap<u64, Server>) -> u64 {
    eventually("one leader every node agrees on", || async {
        let mut leader = None;
        let mut named = Vec::new();
        for (id, n) in nodes {
            let s = n.client.status().await.ok()?;
            match s.role.as_str() {
                "leader" => leader = Some(*id),
                _ => named.push(s.leader?),
            }
        }
        let leader = leader?;
        named
            .iter()
            .all(|l| *l == group.http(leader))
            .then_some(leader)
    })
    .await
}

#[tokio::test]
async fn three_processes_redirect_serve_and_survive_the_leaders_sigkill() {
    bounded(
        "three_processes_redirect_serve_and_survive_the_leaders_sigkill",
        async {
            let dir = tempfile::tempdir().unwrap();
            let group = Group::new();
            let mut nodes: BTreeMap<u64, Server> = group.start_all(dir.path());
            let leader = leader_of(&group, &nodes).await;
            let follower_id = (1..=3).find(|id| *id != leader).unwrap();
            let follower = &nodes[&follower_id].client;

            // A write to a follower: 421 with the leader's HTTP address, nothing applied.
            let body =
                r#"{"method":"user_create","data":{"id":"x","name":"X","email":"x@example.com"}}"#;
            let (status, bytes) = follower
                .raw(Method::POST, "/do", Some(body.into()))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(error.error.leader, Some(group.http(leader)));

            // A following client sent to the follower ends up on the leader.
            let c = MetadataClient::new(&nodes[&follower_id].addr)
                .unwrap()
                .following_leader();
            for i in 0..10 {
                let u = user(i);
                retry_unavailable("create", || c.create_user(&u))
                    .await
                    .unwrap();
            }
            assert_eq!(c.addr(), group.http(leader));
            let changed = UserUpdate {
                id: "user-1".into(),
                name: Some("Renamed".into()),
                email: None,
            };
            assert_eq!(
                c.update_user(&changed).await.unwrap().result.name,
                "Renamed"
            );
            c.delete_user("user-2").await.unwrap();
            match c.create_user(&user(0)).await {
                Err(ClientError::Rejected { status: 409, .. }) => {}
                other => panic!("a duplicate id must get 409, got {other:?}"),
            }
            match c
                .update_user(&UserUpdate {
                    id: "nobody".into(),
                    name: Some("N".into()),
                    email: None,
                })
                .await
            {
                Err(ClientError::Rejected { status: 404, .. }) => {}
                other => panic!("updating an unknown user must get 404, got {other:?}"),
            }
            assert_eq!(c.get_user("user-1").await.unwrap().unwrap().name, "Renamed");
            let s = c.status().await.unwrap();
            assert_eq!(
                (s.backend.as_str(), s.role.as_str()),
                ("raft-lite", "leader")
            );
            assert!(s.details.epoch.is_some(), "a raft node reports its term");

            // SIGKILL the leader: the other two elect a new one and keep every acknowledged user.
            nodes.remove(&leader).unwrap().kill();
            let (new_leader, c) = leader_client(&group, &nodes).await;
            assert_ne!(new_leader, leader);
            for i in (0..10).filter(|i| *i != 2) {
                let id = format!("user-{i}");
                let got = retry_unavailable("read", || c.get_user(&id)).await.unwrap();
                assert!(got.is_some(), "acknowledged user-{i} lost with the leader");
            }
            assert_eq!(c.get_user("user-2").await.unwrap(), None);
            let u = user(10);
            retry_unavailable("create after failover", || c.create_user(&u))
                .await
                .unwrap();

            // The killed node restarts on its data and catches up.
            nodes.insert(leader, group.start(leader, dir.path()));
            let back = nodes[&leader].client.clone();
            eventually("the restarted node to apply user-10", || async {
                back.get_user("user-10").await.ok().flatten()
            })
            .await;
            assert_eq!(
                back.get_user("user-1").await.unwrap().unwrap().name,
                "Renamed"
            );

            // SIGKILL all three and start them again: the group recovers every acknowledged user.
            for (_, n) in std::mem::take(&mut nodes) {
                n.kill();
            }
            let nodes: BTreeMap<u64, Server> = group.start_all(dir.path());
            let leader = leader_of(&group, &nodes).await;
            let c = &nodes[&leader].client;
            for i in (0..11).filter(|i| *i != 2) {
                let id = format!("user-{i}");
                let got = retry_unavailable("read after a full restart", || c.get_user(&id))
                    .await
                    .unwrap();
                assert!(
                    got.is_some(),
                    "acknowledged user-{i} lost by a full restart"
                );
            }
            assert_eq!(c.get_user("user-2").await.unwrap(), None);
        },
    )
    .await
}

/// Runs `rig-cli ARGS`.
/// A client creating users `user-{first}`, `user-{first + 1}`, ... one at a time until stopped.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Load {
    fn start(client: &MetadataClient, first: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (client, flag) = (client.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = first;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let u = user(i);
                // Failures during the membership change are fine: only acknowledged users count.
                if client.create_user(&u).await.is_ok() {
                    acked.push(u.id);
                }
                i += 1;
            }
            acked
        });
        Load { stop, task }
    }

    /// Stops the writer and returns the ids of the users it got acknowledged.
    async fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("the load task")
    }
}

/// Runs a node (id 9) that tries to join through `seed` with group token 8 instead of 7, waits
/// (at most 60 s) for it to exit with an error, and returns what it printed on stderr.
async fn join_with_wrong_token(seed: &str, peer_http: &str, dir: &Path) -> String {
    let peers = format!("9=127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_metadata"))
        .arg("--data-dir")
        .arg(dir.join("n9"))
        .args(["--listen", &listen, "--backend", "raft", "--node-id", "9"])
        .args(["--peers", &peers, "--peer-http", peer_http])
        .args(["--group-token", "8", "--join", seed])
        .env("RIG_PSK", PSK)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the metadata binary");
    let status = eventually("the wrong-token joiner to exit", || {
        let exited = child.try_wait().expect("poll the child");
        async move { exited }
    })
    .await;
    assert!(!status.success(), "a refused joiner exits with an error");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("read stderr");
    stderr
}

#[tokio::test]
async fn rig_cli_removes_a_follower_and_bad_membership_requests_get_4xx() {
    bounded(
        "rig_cli_removes_a_follower_and_bad_membership_requests_get_4xx",
        async {
            let dir = tempfile::tempdir().unwrap();
            let group = Group::new();
            let nodes: BTreeMap<u64, Server> = group.start_all(dir.path());
            let (leader, c) = leader_client(&group, &nodes).await;
            let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
            let (gone, stays) = (followers[0], followers[1]);
            // A write of this term, so the leader accepts membership changes.
            let first = user(0);
            retry_unavailable("create", || c.create_user(&first))
                .await
                .unwrap();
            let s = c.status().await.unwrap();
            let mut ids: Vec<(u64, String)> = s
                .details
                .members
                .iter()
                .map(|m| (m.id, m.role.clone()))
                .collect();
            ids.sort();
            let voters: Vec<(u64, String)> = (1..=3).map(|id| (id, "voter".into())).collect();
            assert_eq!(ids, voters, "/status lists the three voters");
            for m in &s.details.members {
                assert_eq!(
                    m.lag.is_some(),
                    m.id != leader,
                    "the leader's /status gives each other member's lag: {m:?}"
                );
            }

            // A follower answers a membership change with 421 naming the leader.
            let follower = &nodes[&stays].client;
            let (status, bytes) = follower
                .raw(Method::DELETE, &format!("/admin/members/{gone}"), None)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(error.error.leader, Some(group.http(leader)));

            // Bad requests: malformed id and body, an unknown member, the leader itself.
            let raw = &nodes[&leader].client;
            for (method, path, body) in [
                (Method::DELETE, "/admin/members/abc", None),
                (Method::DELETE, "/admin/members/0", None),
                (Method::POST, "/admin/members", Some(r#"{"id":4}"#)),
                (
                    Method::POST,
                    "/admin/members",
                    Some(r#"{"id":4,"raft_addr":"nowhere"}"#),
                ),
                (Method::DELETE, "/admin/members/99", None),
            ] {
                let (status, bytes) = raw
                    .raw(method.clone(), path, body.map(Into::into))
                    .await
                    .unwrap();
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body:?}");
                let error: ErrorBody = serde_json::from_slice(&bytes).unwrap();
                assert!(!error.error.message.is_empty());
            }
            let url = format!("http://{}", nodes[&stays].addr);
            let own = cli(&[
                "member",
                "remove",
                "--url",
                &url,
                "--id",
                &leader.to_string(),
            ]);
            assert_eq!(
                own.status.code(),
                Some(2),
                "the leader cannot remove itself"
            );
            let stderr = String::from_utf8_lossy(&own.stderr);
            assert!(
                stderr.contains("400") && stderr.contains("itself"),
                "{stderr}"
            );
            let existing = group.raft(stays);
            let again = cli(&[
                "member",
                "add",
                "--url",
                &url,
                "--id",
                &stays.to_string(),
                "--raft-addr",
                &existing,
            ]);
            assert_eq!(
                again.status.code(),
                Some(2),
                "adding a member twice is refused"
            );

            // rig-cli member remove through the other follower: followed to the leader.
            let out = cli(&["member", "remove", "--url", &url, "--id", &gone.to_string()]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains(&format!("removed member {gone}")),
                "{stdout}"
            );
            let s = c.status().await.unwrap();
            let mut left: Vec<u64> = s.details.members.iter().map(|m| m.id).collect();
            left.sort();
            let mut expected = vec![leader, stays];
            expected.sort();
            assert_eq!(left, expected, "/status lists the two members left");

            // Writes still commit on the two members left, the removed one's link aside.
            for i in 1..5 {
                let u = user(i);
                retry_unavailable("create after removal", || c.create_user(&u))
                    .await
                    .unwrap();
            }
            let on_stays = nodes[&stays].client.clone();
            eventually("the remaining follower to apply user-4", || async {
                on_stays.get_user("user-4").await.ok().flatten()
            })
            .await;
            let removing_again = c.remove_member(gone).await;
            assert!(
                matches!(
                    removing_again,
                    Err(ClientError::Rejected { status: 400, .. })
                ),
                "{removing_again:?}"
            );
        },
    )
    .await
}

#[tokio::test]
async fn a_fourth_process_joins_and_rig_cli_adds_and_removes_an_observer() {
    bounded(
        "a_fourth_process_joins_and_rig_cli_adds_and_removes_an_observer",
        async {
            let dir = tempfile::tempdir().unwrap();
            let group = Group::new();
            let nodes: BTreeMap<u64, Server> = group.start_all(dir.path());
            let (leader, c) = leader_client(&group, &nodes).await;
            for i in 0..5 {
                let u = user(i);
                retry_unavailable("create", || c.create_user(&u))
                    .await
                    .unwrap();
            }

            // Every node snapshots and compacts its log: the joiner cannot be served from entry 1.
            for node in nodes.values() {
                node.client.snapshot().await.expect("POST /snapshot");
            }
            let compacted = c.status().await.unwrap().first_version;
            assert!(
                compacted > 1,
                "the leader compacted its log: first {compacted}"
            );

            // Node 4 joins through a follower's replication address.
            let (raft4, http4) = (free_port(), free_port());
            let seed = group.raft((1..=3).find(|id| *id != leader).unwrap());
            let peers = format!("4=127.0.0.1:{raft4}");
            let peer_http = (1..=3)
                .map(|n| format!("{n}={}", group.http(n)))
                .collect::<Vec<_>>()
                .join(",");
            let listen = format!("127.0.0.1:{http4}");
            let flags = [
                "--listen",
                &listen,
                "--backend",
                "raft",
                "--node-id",
                "4",
                "--peers",
                &peers,
                "--peer-http",
                &peer_http,
                "--group-token",
                "7",
                "--join",
                &seed,
            ];
            // The join happens under load: a writer keeps creating users until node 4 votes.
            let load = Load::start(&c, 100);
            let fourth = Server::spawn(&dir.path().join("n4"), &flags, &[("RIG_PSK", PSK)]);
            eventually("node 4 to be a voter", || async {
                let s = c.status().await.ok()?;
                s.details
                    .members
                    .iter()
                    .any(|m| m.id == 4 && m.role == "voter")
                    .then_some(())
            })
            .await;
            let acked = load.stop().await;
            assert!(
                !acked.is_empty(),
                "the writer got acknowledgments during the join"
            );
            let u = user(5);
            retry_unavailable("create with four members", || c.create_user(&u))
                .await
                .unwrap();
            let on_fourth = fourth.client.clone();
            eventually("node 4 to apply user-5", || async {
                on_fourth.get_user("user-5").await.ok().flatten()
            })
            .await;
            assert!(on_fourth.get_user("user-0").await.unwrap().is_some());
            // Its log starts after the leader's snapshot: it installed the snapshot (its own
            // engine snapshots only every 100,000 ops), and users 0-4 came with it.
            let joined = on_fourth.status().await.unwrap();
            assert!(
                joined.first_version > 1 && joined.first_version <= compacted,
                "node 4 installed a snapshot: first version {}, the leader's {compacted}",
                joined.first_version
            );
            assert!(
                joined.details.snapshots_installed.unwrap_or(0) >= 1,
                "node 4 reports the snapshot it installed: {joined:?}"
            );
            for id in &acked {
                assert!(
                    on_fourth.get_user(id).await.unwrap().is_some(),
                    "{id}, acknowledged during the join, is on node 4"
                );
            }

            // A process with another group token is refused by its seed and exits, saying why.
            let refused = join_with_wrong_token(&seed, &peer_http, dir.path()).await;
            assert!(
                refused.contains("wrong group token"),
                "the refused joiner names the cause: {refused}"
            );
            let s = c.status().await.unwrap();
            assert!(
                s.details.members.iter().all(|m| m.id != 9),
                "{:?}",
                s.details.members
            );

            // rig-cli member add: an observer (nothing runs at its address), then remove it.
            let url = format!("http://{}", fourth.addr);
            let absent = format!("127.0.0.1:{}", free_port());
            let out = cli(&[
                "member",
                "add",
                "--url",
                &url,
                "--id",
                "5",
                "--raft-addr",
                &absent,
            ]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.contains("added member 5"), "{stdout}");
            let s = c.status().await.unwrap();
            let five = s
                .details
                .members
                .iter()
                .find(|m| m.id == 5)
                .expect("member 5 listed");
            assert_eq!(
                (five.role.as_str(), five.addr.as_str()),
                ("observer", absent.as_str())
            );
            let out = cli(&["member", "remove", "--url", &url, "--id", "5"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = c.status().await.unwrap();
            assert!(
                s.details.members.iter().all(|m| m.id != 5),
                "{:?}",
                s.details.members
            );
            let u = user(6);
            retry_unavailable("create after the observer left", || c.create_user(&u))
                .await
                .unwrap();
        },
    )
    .await
}
