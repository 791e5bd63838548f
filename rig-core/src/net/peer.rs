//! [`Peer`]: an outbound link to one node with a bounded send queue, reconnecting with backoff.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::handshake::{connect, HandshakeConfig};
use super::{LinkWriter, NetError};
use crate::seams::{Clock, Rand, Transport};

/// How a [`Peer`] queues and reconnects.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Frames the send queue holds before [`Peer::send`] waits (backpressure).
    pub queue: usize,
    /// The first reconnect delay; it doubles after each failure.
    pub backoff_min: Duration,
    /// The longest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            queue: 1024,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// What a [`Peer`] reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A link is up and authenticated; frames sent from now on reach this connection.
    Connected {
        /// The peer's node id from the handshake.
        node_id: String,
    },
    /// A frame arrived from the peer.
    Frame(Bytes),
    /// The link broke or could not be set up. Frames queued at that moment were dropped; the
    /// owner resends what matters after the next [`PeerEvent::Connected`].
    Disconnected {
        /// Why.
        reason: NetError,
    },
}

/// An outbound link to the node at one address. Dropping the handle stops the link.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use rig_core::net::handshake::{accept, HandshakeConfig};
/// use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
/// use rig_core::seams::{SeededRand, TcpTransport, TokioClock, Transport};
/// let cfg = |n: &str| HandshakeConfig::new("g", [1, 1], n, b"k".to_vec());
/// let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (peer, mut events) = Peer::spawn(Arc::new(TcpTransport), addr, cfg("a"),
///     Arc::new(TokioClock), Arc::new(SeededRand::new(1)), PeerOptions::default());
/// let (conn, _) = listener.accept().await.unwrap();
/// let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(2)).await.unwrap();
/// assert_eq!(events.recv().await, Some(PeerEvent::Connected { node_id: "b".into() }));
/// peer.send("hi".into()).await.unwrap();
/// assert_eq!(&link.recv().await.unwrap()[..], b"hi");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Peer {
    tx: mpsc::Sender<Bytes>,
    addr: String,
}

impl Peer {
    /// Starts a link to `addr` on the current tokio runtime; events arrive on the receiver.
    pub fn spawn(
        transport: Arc<dyn Transport>,
        addr: String,
        cfg: HandshakeConfig,
        clock: Arc<dyn Clock>,
        rand: Arc<dyn Rand>,
        opts: PeerOptions,
    ) -> (Self, mpsc::Receiver<PeerEvent>) {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let (etx, erx) = mpsc::channel(opts.queue.max(1));
        let task = PeerTask {
            transport,
            addr: addr.clone(),
            cfg,
            clock,
            rand,
            opts,
            events: etx,
        };
        tokio::spawn(task.run(rx));
        (Self { tx, addr }, erx)
    }

    /// The address this peer connects to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Queues a frame, waiting while the queue is full. Fails only when the link task stopped.
    pub async fn send(&self, frame: Bytes) -> Result<(), NetError> {
        self.tx.send(frame).await.map_err(|_| NetError::Closed)
    }

    /// Queues a frame without waiting; `false` when the queue is full or the link stopped.
    pub fn try_send(&self, frame: Bytes) -> bool {
        self.tx.try_send(frame).is_ok()
    }
}

/// The most bytes [`send_queued`] gathers into one write.
const MAX_WRITE: usize = 256 << 10;

/// Sends `first` and the frames queued behind it (up to about [`MAX_WRITE`] bytes) with one
/// write: under load one wakeup and one syscall carry several frames. The frames taken are in
/// flight, as the one frame being written was before; the queue's bound still holds back what
/// waits behind the write, and a broken link drops them with the rest of the queue.
async fn send_queued(
    writer: &mut LinkWriter,
    first: Bytes,
    rx: &mut mpsc::Receiver<Bytes>,
) -> Result<(), NetError> {
    writer.queue(&first)?;
    while writer.queued_bytes() < MAX_WRITE {
        match rx.try_recv() {
            Ok(frame) => writer.queue(&frame)?,
            Err(_) => break, // empty, or the owner is gone: `recv` reports that next
        }
    }
    writer.flush().await
}

struct PeerTask {
    transport: Arc<dyn Transport>,
    addr: String,
    cfg: HandshakeConfig,
    clock: Arc<dyn Clock>,
    rand: Arc<dyn Rand>,
    opts: PeerOptions,
    events: mpsc::Sender<PeerEvent>,
}

impl PeerTask {
    async fn run(self, mut rx: mpsc::Receiver<Bytes>) {
        let mut backoff = self.opts.backoff_min;
        loop {
            let reason = match self.session(&mut rx).await {
                Ok(()) => return, // the owner dropped the handle
                Err((reason, was_up)) => {
                    if was_up {
                        backoff = self.opts.backoff_min;
                    }
                    reason
                }
            };
            tracing::debug!(peer = %self.addr, error = %reason, "replication link down");
            if self
                .events
                .send(PeerEvent::Disconnected { reason })
                .await
                .is_err()
            {
                return;
            }
            while rx.try_recv().is_ok() {} // stale frames: the owner resends after Connected
                                           // Jitter in [backoff/2, backoff) keeps restarted nodes from reconnecting in lockstep.
            let half = backoff / 2;
            let jitter = self.rand.below(half.as_micros().max(1) as u64);
            self.clock.sleep(half + Duration::from_micros(jitter)).await;
            backoff = (backoff * 2).min(self.opts.backoff_max);
            if rx.is_closed() && self.events.is_closed() {
                return;
            }
        }
    }

    /// One connection's life. `Ok` when the owner went away; otherwise why it ended and whether
    /// it got past the handshake.
    async fn session(&self, rx: &mut mpsc::Receiver<Bytes>) -> Result<(), (NetError, bool)> {
        let conn = self
            .transport
            .connect(&self.addr)
            .await
            .map_err(|e| (NetError::from(e), false))?;
        let (info, link) = connect(conn, &self.cfg, &*self.rand)
            .await
            .map_err(|e| (e, false))?;
        let (mut reader, mut writer) = link.split();
        if self
            .events
            .send(PeerEvent::Connected {
                node_id: info.node_id,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        loop {
            tokio::select! {
                biased;
                frame = rx.recv() => match frame {
                    Some(frame) => send_queued(&mut writer, frame, rx).await.map_err(|e| (e, true))?,
                    None => return Ok(()),
                },
                frame = reader.recv() => {
                    let frame = frame.map_err(|e| (e, true))?;
                    if self.events.send(PeerEvent::Frame(frame)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
