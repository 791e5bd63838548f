//! The `metadata` binary on the 2PC backend: a primary and a replica as real processes on
//! loopback ports. Writes, reads, rejections, 421 from the replica with the primary's HTTP
//! address, a client that follows it, `rig-cli status` of both, SIGKILL of the primary, and a manual
//! failover through `rig-cli promote`.

mod common;

use std::path::Path;

use common::{bounded, cli, eventually, free_port, retry_unavailable, user, Server};
use hyper::{Method, StatusCode};
use rig_examples::metadata::error::ErrorBody;
use rig_examples::metadata::{ClientError, MetadataClient, UserUpdate};

const PSK: &str = "a 2pc test pre-shared key";

/// Starts a 2PC node: `role` with replication on `repl`, its `--peers` set to `peers`.
fn node(dir: &Path, role: &str, repl: u16, peers: u16) -> Server {
    let repl = format!("127.0.0.1:{repl}");
    let peers = format!("127.0.0.1:{peers}");
    let flags = [
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "2pc",
        "--role",
        role,
        "--repl-listen",
        &repl,
        "--peers",
        &peers,
        "--group-token",
        "42",
        "--replica-timeout-ms",
        "2000",
    ];
    Server::spawn(dir, &flags, &[("RIG_PSK", PSK)])
}

/// Waits until the primary reports its replica connected and caught up.
async fn in_sync(primary: &MetadataClient) {
    eventually("the replica to be in sync", || async {
        let s = primary.status().await.ok()?;
        let r = s.details.replicas.first()?;
        (s.details.mode.as_deref() == Some("sync") && r.connected && r.lag == 0).then_some(())
    })
    .await
}

async fn create_all(client: &MetadataClient, users: std::ops::Range<usize>) {
    for i in users {
        let u = user(i);
        retry_unavailable("create", || client.create_user(&u))
            .await
            .unwrap_or_else(|e| panic!("create user-{i}: {e}"));
    }
}

#[tokio::test]
async fn primary_and_replica_serve_redirect_and_survive_sigkill() {
    bounded(
        "primary_and_replica_serve_redirect_and_survive_sigkill",
        async {
            let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (p_repl, r_repl) = (free_port(), free_port());
            let replica = node(dirs.1.path(), "replica", r_repl, p_repl);
            let primary = node(dirs.0.path(), "primary", p_repl, r_repl);
            let p = primary.client.clone();
            in_sync(&p).await;

            // Create, read, update, delete, rejections on the primary.
            create_all(&p, 0..10).await;
            let changed = UserUpdate {
                id: "user-1".into(),
                name: Some("Renamed".into()),
                email: None,
            };
            assert_eq!(
                p.update_user(&changed).await.unwrap().result.name,
                "Renamed"
            );
            p.delete_user("user-2").await.unwrap();
            match p.create_user(&user(0)).await {
                Err(ClientError::Rejected { status: 409, .. }) => {}
                other => panic!("a duplicate id must get 409, got {other:?}"),
            }
            match p.delete_user("nobody").await {
                Err(ClientError::Rejected { status: 404, .. }) => {}
                other => panic!("deleting an unknown user must get 404, got {other:?}"),
            }
            let before = p.status().await.unwrap();
            assert_eq!(
                (before.backend.as_str(), before.role.as_str()),
                ("repl-2pc", "leader")
            );

            // The replica serves reads and answers writes with 421 and the primary's HTTP address.
            let r = replica.client.clone();
            eventually("the replica to apply user-9", || async {
                r.get_user("user-9").await.ok().flatten()
            })
            .await;
            let body =
                r#"{"method":"user_create","data":{"id":"x","name":"X","email":"x@example.com"}}"#;
            let (status, bytes) = r.raw(Method::POST, "/do", Some(body.into())).await.unwrap();
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(error.error.leader.as_deref(), Some(primary.addr.as_str()));
            let rs = r.status().await.unwrap();
            assert_eq!(rs.role, "follower");
            assert_eq!(rs.leader.as_deref(), Some(primary.addr.as_str()));
            assert_eq!(rs.details.mode.as_deref(), Some("replica"));

            // rig-cli status shows the deployment; a node that does not answer makes it exit 1.
            let both = format!("{},{}", primary.addr, replica.addr);
            let out = cli(&["status", "--json", "--url", &both]);
            assert!(out.status.success(), "{out:?}");
            let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(nodes[0]["status"]["role"], "leader");
            assert_eq!(nodes[0]["status"]["replicas"][0]["connected"], true);
            assert_eq!(nodes[1]["status"]["role"], "follower");
            assert_eq!(nodes[1]["status"]["leader"], primary.addr.as_str());
            let out = cli(&["status", "--url", &format!("{both},127.0.0.1:1")]);
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            let table = String::from_utf8_lossy(&out.stdout);
            assert!(
                table.contains("leader") && table.contains("UNREACHABLE"),
                "{table}"
            );

            // A client that follows redirects writes through the replica's address.
            let follower = MetadataClient::new(&replica.addr)
                .unwrap()
                .following_leader();
            follower.create_user(&user(10)).await.unwrap();
            assert_eq!(follower.addr(), primary.addr);
            assert_eq!(p.get_user("user-10").await.unwrap(), Some(user(10)));

            // SIGKILL the primary and start it again: every acknowledged user is there.
            primary.kill();
            let primary = node(dirs.0.path(), "primary", p_repl, r_repl);
            let p = primary.client.clone();
            for i in (0..11).filter(|i| *i != 2) {
                let id = format!("user-{i}");
                let got = retry_unavailable("read", || p.get_user(&id)).await.unwrap();
                assert!(got.is_some(), "acknowledged user-{i} lost by SIGKILL");
            }
            assert_eq!(p.get_user("user-1").await.unwrap().unwrap().name, "Renamed");
            assert_eq!(p.get_user("user-2").await.unwrap(), None);
            create_all(&p, 11..12).await;
            in_sync(&p).await;
            // SIGTERM: both drain and close their logs cleanly.
            assert!(primary.terminate().success(), "the primary closes cleanly");
            assert!(replica.terminate().success(), "the replica closes cleanly");
        },
    )
    .await
}

#[tokio::test]
async fn rig_cli_promotes_the_replica_after_the_primary_dies() {
    bounded(
        "rig_cli_promotes_the_replica_after_the_primary_dies",
        async {
            let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (p_repl, r_repl) = (free_port(), free_port());
            let replica = node(dirs.1.path(), "replica", r_repl, p_repl);
            let primary = node(dirs.0.path(), "primary", p_repl, r_repl);
            in_sync(&primary.client).await;
            create_all(&primary.client, 0..5).await;
            let epoch_before = primary
                .client
                .status()
                .await
                .unwrap()
                .details
                .epoch
                .unwrap();
            primary.kill();

            // Promote the replica with the CLI; its replica will be the old primary's address.
            let out = cli(&["promote", "--url", &replica.addr]);
            assert!(
                out.status.success(),
                "rig-cli promote failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r = replica.client.clone();
            let s = r.status().await.unwrap();
            assert_eq!(s.role, "leader");
            assert!(
                s.details.epoch.unwrap() > epoch_before,
                "promotion starts a new epoch"
            );

            // A second promotion is refused: the node is no longer a replica.
            match r.promote(&[]).await {
                Err(ClientError::Rejected { status: 400, .. }) => {}
                other => panic!("promoting a primary must be refused, got {other:?}"),
            }

            // The old primary rejoins as a replica of the new one and redirects to it.
            let old = node(dirs.0.path(), "replica", p_repl, r_repl);
            create_all(&r, 5..8).await;
            for i in 0..8 {
                assert_eq!(
                    r.get_user(&format!("user-{i}")).await.unwrap(),
                    Some(user(i))
                );
            }
            let follower = MetadataClient::new(&old.addr).unwrap().following_leader();
            let u8 = user(8);
            retry_unavailable("write through the old primary", || {
                follower.create_user(&u8)
            })
            .await
            .unwrap();
            assert_eq!(follower.addr(), replica.addr);
            eventually("the old primary to apply user-8", || async {
                old.client.get_user("user-8").await.ok().flatten()
            })
            .await;
        },
    )
    .await
}

#[tokio::test]
async fn a_replica_with_another_key_gets_nothing_and_writes_fail_with_503() {
    bounded(
        "a_replica_with_another_key_gets_nothing_and_writes_fail_with_503",
        async {
            let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (p_repl, r_repl) = (free_port(), free_port());
            let repl = format!("127.0.0.1:{r_repl}");
            let peers = format!("127.0.0.1:{p_repl}");
            let flags = [
                "--listen",
                "127.0.0.1:0",
                "--backend",
                "2pc",
                "--role",
                "replica",
                "--repl-listen",
                &repl,
                "--peers",
                &peers,
                "--group-token",
                "42",
            ];
            let stranger = Server::spawn(
                dirs.1.path(),
                &flags,
                &[("RIG_PSK", "not the group's key!")],
            );
            let primary = node(dirs.0.path(), "primary", p_repl, r_repl);
            // Strict: no acknowledgment without the replica, and the link never authenticates.
            match primary.client.create_user(&user(0)).await {
                Err(ClientError::Unavailable(_)) => {}
                other => {
                    panic!("a write without an authenticated replica must get 503, got {other:?}")
                }
            }
            let s = primary.client.status().await.unwrap();
            assert!(
                !s.details.replicas[0].connected,
                "the link must not come up: {s:?}"
            );
            assert_eq!(stranger.client.status().await.unwrap().version, 0);
            assert_eq!(stranger.client.get_user("user-0").await.unwrap(), None);
        },
    )
    .await
}
