//! Runs the real `metadata` binary as a child process on a loopback port.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rig_examples::metadata::{ClientError, MetadataClient, User};

/// The `i`-th test user (`user-{i}`).
pub fn user(i: usize) -> User {
    User {
        id: format!("user-{i}"),
        name: format!("User {i}"),
        email: format!("user{i}@example.com"),
    }
}

/// Runs `rig-cli ARGS` to completion.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig-cli"))
        .args(args)
        .output()
        .expect("run rig-cli")
}

/// How long any one test may run before it fails instead of hanging CI.
pub const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Runs `test`, failing it by name once it runs past [`TEST_LIMIT`].
pub async fn bounded<T>(name: &str, test: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TEST_LIMIT, test).await {
        Ok(t) => t,
        Err(_) => panic!("{name} ran past {} s", TEST_LIMIT.as_secs()),
    }
}

/// A loopback port free right now (the OS picked it; another process could take it before
/// the caller binds it, which is rare enough for tests).
pub fn free_port() -> u16 {
    // Tests pick ports with std: they are not library code.
    #[allow(clippy::disallowed_methods)]
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Retries `f` every 50 ms until it returns `Some`, for at most 60 s; `what` names the wait.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up after 60 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retries a call while the cluster cannot take it yet (no leader known, no quorum, a
/// replica catching up, a node restarting): `NotLeader` without an address, `Unavailable`,
/// or a refused connection. Any other outcome is returned.
pub async fn retry_unavailable<T, F, Fut>(what: &str, mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match f().await {
            Err(ClientError::NotLeader { leader: None })
            | Err(ClientError::Unavailable(_))
            | Err(ClientError::Transport(_))
                if tokio::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => {
                if let Err(e) = &other {
                    eprintln!("{what}: {e}");
                }
                return other;
            }
        }
    }
}

/// A running `metadata` process.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub client: MetadataClient,
}

impl Server {
    /// Starts `metadata --listen 127.0.0.1:0 --data-dir DIR` and waits for its `listening on` line.
    pub fn start(dir: &Path) -> Server {
        Self::start_with(dir, &[])
    }

    /// Like [`Server::start`], with extra flags.
    pub fn start_with(dir: &Path, flags: &[&str]) -> Server {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(flags);
        Self::spawn(dir, &all, &[])
    }

    /// Starts `metadata --data-dir DIR FLAGS` (FLAGS must include `--listen`) with extra
    /// environment variables, and waits (at most 90 s) for its `listening on` line.
    pub fn spawn(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_metadata"))
            .arg("--data-dir")
            .arg(dir)
            .args(flags)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the metadata binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let mut rest = String::new();
            while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {
                rest.clear();
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(90)) else {
            let _ = child.kill();
            panic!("metadata {flags:?} did not print its address within 90 s");
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("metadata did not start; its first line: {line:?}"))
            .to_owned();
        let client = MetadataClient::new(&addr).expect("a valid address");
        Server {
            child,
            addr,
            client,
        }
    }

    /// Kills the process with SIGKILL (no chance to flush or close) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A test that panics must not leave the child behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
