//! The `rig-load` binary against the real `metadata` binary: every request answered, counted
//! and reported as JSON.

mod common;

use std::process::Command;

use common::Server;
use serde_json::Value;

fn rig_load(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rig-load"))
        .args(args)
        .output()
        .expect("run rig-load");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[tokio::test]
async fn the_default_ab_run_creates_100_users_and_updates_count_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = format!("http://{}", server.addr);

    let report = rig_load(&["--url", &url, "--json"]);
    assert_eq!(
        (report["complete"].as_u64(), report["failed"].as_u64()),
        (Some(100), Some(0))
    );
    assert_eq!(report["concurrency"], 100);
    let (p50, p99) = (
        report["p50_ms"].as_f64().unwrap(),
        report["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "{report}");
    let status = server.client.status().await.unwrap();
    assert_eq!((status.version, status.users), (100, 100));

    let report = rig_load(&[
        "--url",
        &url,
        "-c",
        "4",
        "-n",
        "40",
        "--op",
        "user-update",
        "--json",
    ]);
    assert_eq!(
        (report["complete"].as_u64(), report["failed"].as_u64()),
        (Some(40), Some(0))
    );
    // 4 setup users, then 40 updates.
    let status = server.client.status().await.unwrap();
    assert_eq!((status.version, status.users), (144, 104));
}
