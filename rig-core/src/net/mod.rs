//! The replication transport shared by rig's replicated logs (2PC, Raft): length-delimited,
//! checksummed [`frame`]s over any [`crate::seams::Transport`], an authenticated [`handshake`]
//! (magic, protocol version, group id, two group tokens, pre-shared-key challenge-response) and
//! [`peer`] links with bounded send queues and reconnect with backoff.
//!
//! TLS is not part of this layer: links are authenticated (HMAC-SHA256 over both nonces and the
//! handshake transcript) but not encrypted. Run them on a private network or a tunnel.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use rig_core::net::handshake::{accept, connect, HandshakeConfig};
//! use rig_core::seams::{SeededRand, TcpTransport, Transport};
//! let cfg = |node: &str| HandshakeConfig::new("orders", [7, 8], node, b"secret".to_vec());
//! let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = tokio::spawn(async move {
//!     let (conn, _) = listener.accept().await.unwrap();
//!     let (peer, mut link) = accept(conn, &cfg("b"), &SeededRand::new(2)).await.unwrap();
//!     assert_eq!(peer.node_id, "a");
//!     link.send(b"pong").await.unwrap();
//! });
//! let conn = TcpTransport.connect(&addr).await.unwrap();
//! let (peer, mut link) = connect(conn, &cfg("a"), &SeededRand::new(1)).await.unwrap();
//! assert_eq!(peer.node_id, "b");
//! assert_eq!(&link.recv().await.unwrap()[..], b"pong");
//! server.await.unwrap();
//! # });
//! ```

mod error;
pub mod frame;
pub mod handshake;
mod hmac;
mod link;
pub mod peer;

pub use error::NetError;
pub use link::{Link, LinkReader, LinkWriter};
