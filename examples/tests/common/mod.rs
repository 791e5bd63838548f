//! Runs the real `metadata` binary as a child process on a loopback port.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use rig_examples::metadata::MetadataClient;

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
        let mut child = Command::new(env!("CARGO_BIN_EXE_metadata"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the metadata binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the metadata binary's stdout");
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
