//! `rig-cli`: verify a real log directory written by the `metadata` binary, find an injected
//! corruption and name its location, without changing the directory; status and snapshot.

mod common;

use std::path::Path;
use std::process::Output;

use common::{cli, user, Server};
use serde_json::Value;

fn verify_json(dir: &Path) -> (Output, Value) {
    let out = cli(&["verify", "--json", "--data-dir", dir.to_str().unwrap()]);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {out:?}"));
    (out, json)
}

/// Every file of `dir` with its bytes, to check that verify changed nothing.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    // The test reads the service's files directly, outside rig's Fs seam.
    #[allow(clippy::disallowed_methods)]
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            #[allow(clippy::disallowed_methods)]
            let bytes = std::fs::read(&path).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    files.sort();
    files
}

/// Writes 20 users, a snapshot, 5 more users, then stops the service gracefully.
async fn populated(dir: &Path) {
    let server = Server::start(dir);
    for i in 0..20 {
        server.client.create_user(&user(i)).await.unwrap();
    }
    let out = cli(&["snapshot", "--url", &server.addr]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 20"));
    for i in 20..25 {
        server.client.create_user(&user(i)).await.unwrap();
    }
    let out = cli(&["status", "--json", "--url", &server.addr]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (status["version"].as_u64(), status["backend"].as_str()),
        (Some(25), Some("file-log"))
    );
    assert!(server.terminate().success());
}

#[tokio::test]
async fn verify_reports_versions_segments_and_snapshots_of_a_healthy_log() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path()).await;
    let before = contents(dir.path());
    let (out, report) = verify_json(dir.path());
    assert!(out.status.success(), "{report}");
    assert_eq!(report["errors"], Value::Array(vec![]));
    assert_eq!(report["committed"], 25);
    assert_eq!(
        report["methods"]["user_create"].as_u64().unwrap(),
        26 - report["first_version"].as_u64().unwrap()
    );
    assert_eq!(report["snapshot_version"], 20);
    assert_eq!(report["users"], 25);
    assert!(!report["segments"].as_array().unwrap().is_empty());
    assert_eq!(report["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(
        contents(dir.path()),
        before,
        "verify must not change the directory"
    );
}

#[tokio::test]
async fn verify_names_the_file_and_offset_of_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path()).await;
    // Flip one bit inside the record of user-3 (an early record: not a torn tail).
    let (name, mut bytes) = contents(dir.path())
        .into_iter()
        .find(|(n, b)| n.ends_with(".seg") && b.windows(6).any(|w| w == b"user-3"))
        .expect("a segment holds user-3");
    let at = bytes.windows(6).position(|w| w == b"user-3").unwrap();
    bytes[at] ^= 0x01;
    #[allow(clippy::disallowed_methods)]
    std::fs::write(dir.path().join(&name), &bytes).unwrap();
    let before = contents(dir.path());

    let (out, report) = verify_json(dir.path());
    assert_eq!(out.status.code(), Some(1), "{report}");
    let error = report["errors"][0].as_str().expect("one error");
    let location = format!("{} offset ", dir.path().join(&name).display());
    assert!(
        error.contains(&location),
        "{error} does not name {location}"
    );
    let offset: usize = error[error.find(&location).unwrap() + location.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        offset <= at,
        "the damaged record starts at or before the flipped byte"
    );
    assert_eq!(
        contents(dir.path()),
        before,
        "verify must not repair or change anything"
    );

    let text = cli(&["verify", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("DAMAGED: corrupt data at"));
}

#[tokio::test]
async fn snapshots_taken_by_policy_are_found_and_the_state_rebuilds_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--snapshot-every", "10"]);
    for i in 0..25 {
        server.client.create_user(&user(i)).await.unwrap();
    }
    assert!(server.terminate().success());
    let (out, report) = verify_json(dir.path());
    assert!(out.status.success(), "{report}");
    let snapshot = report["snapshot_version"]
        .as_u64()
        .expect("a snapshot by policy");
    assert!((10..=25).contains(&snapshot), "{report}");
    assert_eq!(
        (report["committed"].as_u64(), report["users"].as_u64()),
        (Some(25), Some(25))
    );

    // The service itself restarts from the snapshot plus the log after it.
    let server = Server::start(dir.path());
    assert_eq!(
        server.client.get_user("user-0").await.unwrap(),
        Some(user(0))
    );
    assert_eq!(server.client.status().await.unwrap().users, 25);
}
