//! A 2PC primary and one replica on loopback TCP, each on its own fsynced `FileLog` in `dir`:
//! the pair `rig-bench 2pc` and the `replicated` criterion bench measure (the criterion bench
//! compiles this file by path, as the benches package has no library target).

use rig_core::net::handshake::HandshakeConfig;
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, ReplLog, StartAs};

/// Opens the replica, then a primary replicating to it; returns `(primary, replica)`. The
/// replica serves as long as its handle lives. `rounds_in_flight` overrides the primary's
/// `Config::max_rounds_in_flight`.
pub(crate) async fn two_pc_pair(
    dir: &std::path::Path,
    rounds_in_flight: Option<usize>,
) -> (ReplLog, ReplLog) {
    let hs = |n: &str| HandshakeConfig::new("bench", [1, 1], n, b"bench".to_vec());
    let file = |n: &str| FileLog::open(dir.join(n), FileLogOptions::default()).expect("file log");
    let replica = ReplLog::open(
        file("r"),
        Config::new("127.0.0.1:0", StartAs::Replica, hs("r")),
    )
    .await
    .expect("replica");
    let replicas = vec![replica.local_addr().to_string()];
    let mut config = Config::new("127.0.0.1:0", StartAs::Primary { replicas }, hs("p"));
    if let Some(n) = rounds_in_flight {
        config.max_rounds_in_flight = n;
    }
    let primary = ReplLog::open(file("p"), config).await.expect("primary");
    (primary, replica)
}
