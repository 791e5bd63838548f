//! The `metadata` binary on the S3 backend, against a real S3-compatible server (moto, started by
//! `scripts/with-moto.sh`, which exports `RIG_S3_TEST_ENDPOINT` and `RIG_S3_BUCKET`). Without
//! the endpoint these tests FAIL, unless `RIG_S3_TESTS=skip` says explicitly to skip them: CI
//! must never skip them silently. The local-directory tests (`--backend s3` without a bucket or
//! endpoint) need no server: `cargo test -p rig-examples --test metadata_s3 local_directory`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bounded, eventually, user, Server};
use rig_examples::metadata::{ClientError, MetadataClient, UserUpdate};

/// `(endpoint, bucket)` of the test server; `None` only when `RIG_S3_TESTS=skip`.
fn moto() -> Option<(String, String)> {
    let endpoint = std::env::var("RIG_S3_TEST_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        if std::env::var("RIG_S3_TESTS").as_deref() == Ok("skip") {
            eprintln!("s3 tests skipped: RIG_S3_TESTS=skip");
            return None;
        }
        panic!(
            "RIG_S3_TEST_ENDPOINT is not set: run `scripts/with-moto.sh cargo test -p rig-examples \
             --test metadata_s3` (needs `pip install 'moto[server]'`), or set RIG_S3_TESTS=skip \
             to skip these tests explicitly"
        );
    };
    let bucket = std::env::var("RIG_S3_BUCKET").unwrap_or_else(|_| "rig-test".into());
    Some((endpoint, bucket))
}

/// A prefix no other test run uses.
fn fresh_prefix(name: &str) -> String {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).expect("random bytes");
    format!("{name}-{}", u64::from_le_bytes(nonce))
}

/// The flags and environment of an S3 writer on `prefix` (credentials for a local server).
fn start(endpoint: &str, bucket: &str, prefix: &str) -> Server {
    start_with(endpoint, bucket, prefix, &[])
}

/// Like [`start`], with extra flags (e.g. `--role replica`).
fn start_with(endpoint: &str, bucket: &str, prefix: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = vec![
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "s3",
        "--s3-endpoint",
        endpoint,
        "--bucket",
        bucket,
        "--prefix",
        prefix,
    ];
    flags.extend_from_slice(extra);
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    Server::spawn(dir.path(), &flags, &env)
}

#[tokio::test]
async fn crud_rejections_and_sigkill_restart_on_s3() {
    let Some((endpoint, bucket)) = moto() else {
        return;
    };
    bounded("crud_rejections_and_sigkill_restart_on_s3", async {
        let prefix = fresh_prefix("metadata-e2e");
        let server = start(&endpoint, &bucket, &prefix);
        write_22_versions(&server.client).await;
        server.kill();
        let server = start(&endpoint, &bucket, &prefix);
        check_after_restart(&server.client).await;
    })
    .await
}

/// A read replica on the bucket beside the writer: it applies the writer's users and sends
/// writes to `--primary-http`.
#[tokio::test]
async fn a_bucket_replica_follows_the_writer() {
    let Some((endpoint, bucket)) = moto() else {
        return;
    };
    bounded("a_bucket_replica_follows_the_writer", async {
        let prefix = fresh_prefix("metadata-replica");
        let writer = start(&endpoint, &bucket, &prefix);
        writer.client.create_user(&user(1)).await.unwrap();
        let replica_flags = ["--role", "replica", "--primary-http", &writer.addr];
        let replica = start_with(&endpoint, &bucket, &prefix, &replica_flags);
        let r = replica.client.clone();
        writer.client.create_user(&user(2)).await.unwrap();
        eventually("the bucket replica to apply user-2", || async {
            r.get_user("user-2").await.ok().flatten()
        })
        .await;
        assert_eq!(r.get_user("user-1").await.unwrap(), Some(user(1)));
        match r.create_user(&user(3)).await {
            Err(ClientError::NotLeader { leader }) => {
                assert_eq!(leader.as_deref(), Some(writer.addr.as_str()));
            }
            other => panic!("a write to the replica must get 421, got {other:?}"),
        }
        // The replica never fenced the writer: it still takes writes.
        writer.client.create_user(&user(4)).await.unwrap();
    })
    .await
}

#[tokio::test]
async fn rig_cli_verifies_an_s3_prefix() {
    let Some((endpoint, bucket)) = moto() else {
        return;
    };
    bounded("rig_cli_verifies_an_s3_prefix", async {
        let prefix = fresh_prefix("metadata-verify");
        let server = start(&endpoint, &bucket, &prefix);
        for i in 0..5 {
            server.client.create_user(&user(i)).await.unwrap();
        }
        server.client.snapshot().await.unwrap();
        server.client.delete_user("user-0").await.unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rig-cli"))
            .args([
                "verify",
                "--json",
                "--s3-endpoint",
                &endpoint,
                "--bucket",
                &bucket,
            ])
            .args(["--prefix", &prefix])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("run rig-cli verify");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "verify failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["committed"], 6);
        assert_eq!(report["snapshot_version"], 5);
        assert_eq!(report["users"], 4);
        assert_eq!(report["errors"].as_array().map(Vec::len), Some(0));
        // The writer was not fenced by the verification: it still takes writes.
        server.client.create_user(&user(9)).await.unwrap();
    })
    .await
}

/// Blanks the bucket and endpoint the test script may export, so the node uses `--data-dir`.
const NO_BUCKET: [(&str, &str); 3] = [
    ("RIG_S3_BUCKET", ""),
    ("AWS_ENDPOINT_URL", ""),
    ("AWS_ENDPOINT", ""),
];

/// An S3 node with no bucket and no endpoint: the log lives in `dir` (its `--data-dir`).
fn start_local(dir: &Path) -> Server {
    Server::spawn(
        dir,
        &["--listen", "127.0.0.1:0", "--backend", "s3"],
        &NO_BUCKET,
    )
}

/// Runs `rig-cli verify --json ARGS` and returns its report (it must succeed).
async fn verify_json(args: Vec<String>) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rig-cli"))
            .args(["verify", "--json"])
            .args(args)
            .output()
            .expect("run rig-cli verify")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verify failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

/// 20 concurrent creates, an update, a delete and two rejected ops: version 22, all durable.
async fn write_22_versions(c: &MetadataClient) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.create_user(&user(i)).await }));
    }
    for t in tasks {
        t.await.unwrap().expect("create on s3");
    }
    assert_eq!(c.get_user("user-3").await.unwrap(), Some(user(3)));
    let changed = UserUpdate {
        id: "user-1".into(),
        name: Some("Renamed".into()),
        email: None,
    };
    c.update_user(&changed).await.unwrap();
    // A delete waits for its PUT (on a local directory: and fsync), so the update logged
    // before it is durable too.
    c.delete_user("user-2").await.unwrap();
    match c.create_user(&user(0)).await {
        Err(ClientError::Rejected { status: 409, .. }) => {}
        other => panic!("a duplicate id must get 409, got {other:?}"),
    }
    match c.delete_user("nobody").await {
        Err(ClientError::Rejected { status: 404, .. }) => {}
        other => panic!("deleting an unknown user must get 404, got {other:?}"),
    }
    let s = c.status().await.unwrap();
    assert_eq!((s.backend.as_str(), s.role.as_str()), ("s3-log", "leader"));
    assert_eq!((s.version, s.durable), (22, 22));
    assert!(s.details.epoch.is_some(), "an s3 writer reports its epoch");
}

/// After a SIGKILL and a restart: every acknowledged user of [`write_22_versions`] is there,
/// and the restarted writer takes a write (version 23).
async fn check_after_restart(c: &MetadataClient) {
    for i in (0..20).filter(|i| *i != 2) {
        let got = c.get_user(&format!("user-{i}")).await.unwrap();
        assert!(got.is_some(), "acknowledged user-{i} lost by SIGKILL");
    }
    assert_eq!(c.get_user("user-1").await.unwrap().unwrap().name, "Renamed");
    assert_eq!(c.get_user("user-2").await.unwrap(), None);
    assert_eq!(c.status().await.unwrap().version, 22);
    c.create_user(&user(20)).await.unwrap();
}

#[tokio::test]
async fn local_directory_crud_second_writer_refused_verify_and_sigkill_restart() {
    bounded("local_directory_sigkill_restart", async {
        let dir = tempfile::tempdir().unwrap();
        let server = start_local(dir.path());
        write_22_versions(&server.client).await;
        assert!(
            dir.path().join("rig-metadata").join("LOG").is_dir(),
            "the S3 layout under --data-dir/--prefix"
        );

        // A second writer on the same directory is refused at start, naming it.
        let data_dir = dir.path().to_path_buf();
        let second = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_metadata"))
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["--listen", "127.0.0.1:0", "--backend", "s3"])
                .envs(NO_BUCKET)
                .env("RUST_LOG", "error")
                .output()
                .expect("run a second metadata")
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(!second.status.success(), "a second writer must not start");
        assert!(
            stderr.contains(&dir.path().display().to_string())
                && stderr.contains("another process"),
            "the refusal names the directory and its holder: {stderr}"
        );

        // rig-cli verifies the directory beside the running writer (no lock needed).
        let dir_arg = dir.path().display().to_string();
        let report = verify_json(vec!["--s3-dir".into(), dir_arg.clone()]).await;
        assert_eq!(report["committed"], 22);
        assert_eq!(report["users"], 19);
        assert_eq!(report["errors"].as_array().map(Vec::len), Some(0));

        server.kill();
        let server = start_local(dir.path());
        check_after_restart(&server.client).await;
        // And `--s3-dir` names the same directory explicitly (the data dir is then unused).
        server.kill();
        let flags = [
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "s3",
            "--s3-dir",
            &dir_arg,
        ];
        let server = Server::spawn(Path::new("/nonexistent-data-dir"), &flags, &NO_BUCKET);
        assert_eq!(server.client.status().await.unwrap().version, 23);
        assert!(server.client.get_user("user-20").await.unwrap().is_some());
    })
    .await
}

/// A read replica (`--role replica`) of a local-directory writer, in its own process: it
/// applies what the writer logs, serves reads, answers writes with 421 naming the writer's
/// HTTP address, and reports role `follower`, mode `replica` and its lag on `/status`.
#[tokio::test]
async fn local_directory_replica_follows_the_writer_and_sends_writes_to_it() {
    bounded("local_directory_replica_follows_the_writer", async {
        let dir = tempfile::tempdir().unwrap();
        let writer = start_local(dir.path());
        writer.client.create_user(&user(1)).await.unwrap();

        let replica_dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().display().to_string();
        let flags = [
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "s3",
            "--role",
            "replica",
            "--s3-dir",
            &dir_arg,
            "--primary-http",
            &writer.addr,
        ];
        let replica = Server::spawn(replica_dir.path(), &flags, &NO_BUCKET);
        let r = replica.client.clone();
        assert_eq!(r.get_user("user-1").await.unwrap(), Some(user(1)));

        // A user created on the writer after the replica started shows up on it.
        writer.client.create_user(&user(2)).await.unwrap();
        let got = eventually("the replica to apply user-2", || async {
            r.get_user("user-2").await.ok().flatten()
        })
        .await;
        assert_eq!(got, user(2));

        // A write to the replica is refused with 421 naming the writer, and not applied.
        match r.create_user(&user(3)).await {
            Err(ClientError::NotLeader { leader }) => {
                assert_eq!(leader.as_deref(), Some(writer.addr.as_str()));
            }
            other => panic!("a write to the replica must get 421, got {other:?}"),
        }
        assert_eq!(writer.client.get_user("user-3").await.unwrap(), None);
        let s = r.status().await.unwrap();
        assert_eq!(
            (s.backend.as_str(), s.role.as_str()),
            ("s3-log", "follower")
        );
        assert_eq!(s.leader.as_deref(), Some(writer.addr.as_str()));
        assert_eq!(s.details.mode.as_deref(), Some("replica"));
        assert_eq!((s.version, s.committed), (2, 2), "caught up: no lag");
        assert_eq!(s.details.epoch, None, "a replica holds no writer epoch");

        // A client following redirects writes through the replica to the writer.
        let following = r.clone().following_leader();
        following.create_user(&user(4)).await.unwrap();
        assert_eq!(following.addr(), writer.addr);
        eventually("the replica to apply user-4", || async {
            r.get_user("user-4").await.ok().flatten()
        })
        .await;
        assert_eq!(writer.client.status().await.unwrap().version, 3);
    })
    .await
}

#[test]
fn primary_http_without_role_replica_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metadata"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--backend", "s3"])
        .args(["--primary-http", "127.0.0.1:1"])
        .envs(NO_BUCKET)
        .output()
        .expect("run metadata");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a writer must refuse --primary-http");
    assert!(stderr.contains("--role replica"), "{stderr}");
}
