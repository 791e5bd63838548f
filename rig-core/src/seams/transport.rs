//! The [`Transport`] seam: byte-stream connections between nodes.

use std::fmt::Debug;
use std::io;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream to a peer.
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + Debug> Connection for T {}

/// Accepts inbound connections.
#[async_trait]
pub trait Listener: Send + Debug {
    /// Waits for the next connection; returns it with the peer's address.
    async fn accept(&mut self) -> io::Result<(Box<dyn Connection>, String)>;
    /// The address this listener is bound to (useful after binding port 0).
    fn local_addr(&self) -> io::Result<String>;
}

/// Opens connections and listeners. Replication backends frame, authenticate and multiplex on
/// top of it; the simulation supplies a network with drops, delays and partitions.
#[async_trait]
pub trait Transport: Send + Sync + Debug + 'static {
    /// Connects to `addr` (`host:port`).
    async fn connect(&self, addr: &str) -> io::Result<Box<dyn Connection>>;
    /// Listens on `addr` (`host:port`; port 0 picks a free port).
    async fn listen(&self, addr: &str) -> io::Result<Box<dyn Listener>>;
}

/// The production [`Transport`]: TCP with `TCP_NODELAY`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap().block_on(async {
/// use rig_core::seams::{TcpTransport, Transport};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let mut client = TcpTransport.connect(&addr).await.unwrap();
/// client.write_all(b"ping").await.unwrap();
/// let (mut server, _peer) = listener.accept().await.unwrap();
/// let mut buf = [0u8; 4];
/// server.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"ping");
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpTransport;

// tokio compiles its networking out under `--cfg loom`; the loom run checks only `sync`.
#[cfg(not(loom))]
mod tcp {
    use super::*;

    #[derive(Debug)]
    struct TcpListenerSeam(tokio::net::TcpListener);

    #[async_trait]
    impl Listener for TcpListenerSeam {
        async fn accept(&mut self) -> io::Result<(Box<dyn Connection>, String)> {
            let (stream, peer) = self.0.accept().await?;
            stream.set_nodelay(true)?;
            Ok((Box::new(stream), peer.to_string()))
        }
        fn local_addr(&self) -> io::Result<String> {
            Ok(self.0.local_addr()?.to_string())
        }
    }

    // The production seam is the one place allowed to open sockets (clippy.toml).
    #[allow(clippy::disallowed_methods)]
    #[async_trait]
    impl Transport for TcpTransport {
        async fn connect(&self, addr: &str) -> io::Result<Box<dyn Connection>> {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
        async fn listen(&self, addr: &str) -> io::Result<Box<dyn Listener>> {
            Ok(Box::new(TcpListenerSeam(
                tokio::net::TcpListener::bind(addr).await?,
            )))
        }
    }
}
