//! The `metadata` binary refuses flags that do not fit its backend: exit 2 and a message that
//! names what to fix, before it listens.

use std::process::Command;

/// Runs `metadata ARGS` (with `RIG_PSK` unset) and returns its exit code and stderr.
fn metadata(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metadata"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env_remove("RIG_PSK")
        .env_remove("RIG_S3_BUCKET")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT")
        .output()
        .expect("run metadata");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_backend_flags_exit_2_naming_the_fix() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["--backend", "zookeeper"],
            "the backends are: file, s3, 2pc, raft",
        ),
        (
            &["--backend", "s3", "--s3-dir", "d", "--bucket", "b"],
            "cannot be used with",
        ),
        (
            &["--backend", "s3", "--s3-endpoint", "http://127.0.0.1:1"],
            "needs --bucket",
        ),
        (
            &["--backend", "2pc", "--repl-listen", "127.0.0.1:0"],
            "--role primary or --role replica",
        ),
        (
            &[
                "--backend",
                "2pc",
                "--role",
                "primary",
                "--repl-listen",
                "127.0.0.1:0",
            ],
            "needs --peers",
        ),
        (
            &[
                "--backend",
                "2pc",
                "--role",
                "replica",
                "--repl-listen",
                "127.0.0.1:0",
                "--group-token",
                "1",
            ],
            "pre-shared key",
        ),
        (
            &[
                "--backend",
                "raft",
                "--node-id",
                "4",
                "--peers",
                "1=127.0.0.1:1",
            ],
            "this node (4) included",
        ),
        (
            &[
                "--backend",
                "raft",
                "--node-id",
                "1",
                "--peers",
                "1=127.0.0.1:1,2=127.0.0.1:2",
            ],
            "no HTTP address for member 2",
        ),
        (
            &[
                "--backend",
                "raft",
                "--node-id",
                "1",
                "--peers",
                "1=127.0.0.1:1,2=127.0.0.1:2",
                "--join",
                "127.0.0.1:3",
            ],
            "with --join, --peers names only this node",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = metadata(args);
        assert_eq!(
            code,
            Some(2),
            "metadata {args:?} must exit 2; stderr: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "metadata {args:?} must say {expected:?}; stderr: {stderr}"
        );
    }
}
