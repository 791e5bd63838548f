//! [`TcpProxy`]: a loopback TCP relay placed between two real nodes, which a test can cut, reset
//! and disturb.
//!
//! Replicated backends talk over real TCP in their tests (DESIGN §7): the proxy is how the
//! conformance suite partitions such a pair without a simulated network. TCP delivers a
//! connection's bytes in order, exactly once, so duplication and reordering of messages can only
//! happen the way they happen in production: a connection breaks, the sender reconnects and
//! resends what it had not seen acknowledged, and the old and new connections' bytes interleave
//! at the receiver. [`TcpProxy::disturb`] provokes exactly that.
// A test tool over real loopback sockets, outside the Transport seam on purpose.
#![allow(clippy::disallowed_methods)]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Mode {
    /// Existing connections are closed and new ones refused.
    cut: bool,
    /// Seed of the disturbance: random connection resets and per-chunk delays.
    disturb: Option<u64>,
    /// Bumped to close every open connection once.
    generation: u64,
}

#[derive(Debug)]
struct Inner {
    target: Mutex<String>,
    mode: watch::Sender<Mode>,
}

/// A TCP relay from [`addr`](TcpProxy::addr) to a target address.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use rig_testkit::proxy::TcpProxy;
///
/// # #[allow(clippy::disallowed_methods)]
/// let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = TcpProxy::start(&server.local_addr()?.to_string()).await?;
/// # #[allow(clippy::disallowed_methods)]
/// let mut client = tokio::net::TcpStream::connect(proxy.addr()).await?;
/// let (mut conn, _) = server.accept().await?;
/// client.write_all(b"ping").await?;
/// let mut buf = [0u8; 4];
/// conn.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpProxy {
    inner: Arc<Inner>,
    addr: String,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub async fn start(target: &str) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let inner = Arc::new(Inner {
            target: Mutex::new(target.to_owned()),
            mode: watch::channel(Mode::default()).0,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&inner)));
        Ok(Self {
            inner,
            addr,
            accept,
        })
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Relays new connections to `target` from now on (a node restarted on another port).
    pub fn set_target(&self, target: &str) {
        *self.inner.target.lock().unwrap_or_else(|e| e.into_inner()) = target.to_owned();
        self.reset();
    }

    /// Closes every open connection and refuses new ones until [`heal`](TcpProxy::heal):
    /// a partition between the two sides.
    pub fn cut(&self) {
        self.inner.mode.send_modify(|m| {
            m.cut = true;
            m.generation += 1;
        });
    }

    /// Closes every open connection once; the sides may reconnect at once.
    pub fn reset(&self) {
        self.inner.mode.send_modify(|m| m.generation += 1);
    }

    /// From now until [`heal`](TcpProxy::heal): connections are reset at random intervals
    /// (5-120 ms) and each relayed chunk is delayed by 0-3 ms, drawn from `seed`. Senders then
    /// resend over new connections, so the receiver sees duplicated and reordered messages.
    pub fn disturb(&self, seed: u64) {
        self.inner.mode.send_modify(|m| m.disturb = Some(seed));
        tokio::spawn(reset_randomly(Arc::clone(&self.inner), seed));
    }

    /// Ends a cut and any disturbance.
    pub fn heal(&self) {
        self.inner.mode.send_modify(|m| {
            m.cut = false;
            m.disturb = None;
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Close the relayed connections too: the proxy is gone.
        self.cut();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    while let Ok((client, _)) = listener.accept().await {
        let mode = *inner.mode.borrow();
        if mode.cut {
            drop(client);
            continue;
        }
        let target = inner
            .target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            relay(client, server, &inner, mode.generation).await;
        });
    }
}

/// Pumps both directions until either side closes or the mode's generation moves on.
async fn relay(client: TcpStream, server: TcpStream, inner: &Inner, generation: u64) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let mut closed = inner.mode.subscribe();
    let seed = inner.mode.borrow().disturb.unwrap_or(0);
    tokio::select! {
        _ = pump(cr, sw, inner.mode.subscribe(), seed) => {}
        _ = pump(sr, cw, inner.mode.subscribe(), seed ^ 0x5555) => {}
        _ = closed.wait_for(|m| m.generation != generation) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
    seed: u64,
) {
    let mut rng = Rng(seed | 1);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.borrow().disturb.is_some() {
            tokio::time::sleep(Duration::from_micros(rng.below(3_000))).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn reset_randomly(inner: Arc<Inner>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    while inner.mode.borrow().disturb == Some(seed) {
        tokio::time::sleep(Duration::from_millis(5 + rng.below(115))).await;
        if inner.mode.borrow().disturb == Some(seed) {
            inner.mode.send_modify(|m| m.generation += 1);
        }
    }
}

/// xorshift64: enough for test timing jitter, and reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: &str) -> io::Result<Vec<u8>> {
        let mut c = TcpStream::connect(addr).await?;
        c.write_all(b"hello").await?;
        let mut buf = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut buf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no echo"))??;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn relays_until_cut_and_again_after_heal() {
        let proxy = TcpProxy::start(&echo_server().await).await.unwrap();
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"hello");
        proxy.cut();
        assert!(
            round_trip(proxy.addr()).await.is_err(),
            "a cut relays nothing"
        );
        proxy.heal();
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"hello");
    }

    #[tokio::test]
    async fn reset_closes_open_connections() {
        let proxy = TcpProxy::start(&echo_server().await).await.unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        proxy.reset();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "the relayed connection is closed"
        );
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"hello");
    }
}
