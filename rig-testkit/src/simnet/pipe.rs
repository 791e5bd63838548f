//! [`SimConn`]: one end of a simulated connection, a pair of delayed in-order byte pipes.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use rig_core::seams::Rand;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::state::NetState;

/// One chunk in flight: when it is delivered, its bytes, and whether the connection resets
/// right after the receiver has read it (the write arrived, its answer never will).
#[derive(Debug)]
struct Chunk {
    at: Instant,
    bytes: Bytes,
    reset_after: bool,
}

/// One direction of a connection: chunks in flight with their delivery times.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    chunks: VecDeque<Chunk>,
    last_delivery: Option<Instant>,
    closed: bool,
    reset: bool,
    reader: Option<Waker>,
}

impl Pipe {
    fn wake(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

/// One end of a simulated connection from `local` to `remote`.
#[derive(Debug)]
pub(crate) struct SimConn {
    pub(crate) net: Arc<Mutex<NetState>>,
    pub(crate) local: String,
    pub(crate) remote: String,
    pub(crate) tx: Arc<Mutex<Pipe>>,
    pub(crate) rx: Arc<Mutex<Pipe>>,
    pub(crate) sleep: Option<Pin<Box<Sleep>>>,
}

impl SimConn {
    /// Both ends of a new connection between `a` and `b`.
    pub(crate) fn pair(net: &Arc<Mutex<NetState>>, a: &str, b: &str) -> (Self, Self) {
        let (ab, ba) = (
            Arc::new(Mutex::new(Pipe::default())),
            Arc::new(Mutex::new(Pipe::default())),
        );
        let end = |local: &str, remote: &str, tx: &Arc<Mutex<Pipe>>, rx: &Arc<Mutex<Pipe>>| Self {
            net: Arc::clone(net),
            local: local.to_string(),
            remote: remote.to_string(),
            tx: Arc::clone(tx),
            rx: Arc::clone(rx),
            sleep: None,
        };
        (end(a, b, &ab, &ba), end(b, a, &ba, &ab))
    }

    fn reset(&self) {
        for pipe in [&self.tx, &self.rx] {
            let mut p = pipe.lock().expect("pipe lock");
            p.reset = true;
            p.wake();
        }
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset")
}

impl AsyncRead for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            let blocked = {
                let mut net = self.net.lock().expect("net lock");
                let blocked = net.blocked(&self.remote, &self.local);
                if blocked {
                    net.waiters.push(cx.waker().clone());
                }
                blocked
            };
            if blocked {
                return Poll::Pending;
            }
            let rx = Arc::clone(&self.rx);
            let mut pipe = rx.lock().expect("pipe lock");
            if pipe.reset {
                return Poll::Ready(Err(reset_error()));
            }
            let Some(chunk) = pipe.chunks.front_mut() else {
                if pipe.closed {
                    return Poll::Ready(Ok(()));
                }
                pipe.reader = Some(cx.waker().clone());
                return Poll::Pending;
            };
            if chunk.at > Instant::now() {
                let at = chunk.at;
                drop(pipe);
                self.sleep = Some(Box::pin(tokio::time::sleep_until(at)));
                continue;
            }
            let n = chunk.bytes.len().min(buf.remaining());
            buf.put_slice(&chunk.bytes.split_to(n));
            if chunk.bytes.is_empty() {
                let reset_after = chunk.reset_after;
                pipe.chunks.pop_front();
                if reset_after {
                    drop(pipe);
                    self.reset();
                }
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.tx.lock().expect("pipe lock").reset {
            return Poll::Ready(Err(reset_error()));
        }
        let (delay, lost, reset_after) = {
            let net = self.net.lock().expect("net lock");
            let link = net.link(&self.local, &self.remote);
            let lost = link.reset_per_mille > 0 && net.rand.below(1000) < link.reset_per_mille;
            let reset_after =
                link.duplicate_per_mille > 0 && net.rand.below(1000) < link.duplicate_per_mille;
            if link.duplicate_per_mille > 0 {
                crate::sometimes!(
                    reset_after,
                    "simnet: delivered a write, then reset the link"
                );
            }
            let jitter = net
                .rand
                .below(link.max_delay.saturating_sub(link.min_delay).as_micros() as u64 + 1);
            (
                link.min_delay + std::time::Duration::from_micros(jitter),
                lost,
                reset_after,
            )
        };
        if lost {
            // A stream cannot lose bytes silently: lost segments surface as a reset.
            self.reset();
            return Poll::Ready(Err(reset_error()));
        }
        let mut pipe = self.tx.lock().expect("pipe lock");
        let at = (Instant::now() + delay).max(pipe.last_delivery.unwrap_or_else(Instant::now));
        pipe.last_delivery = Some(at);
        let bytes = Bytes::copy_from_slice(buf);
        pipe.chunks.push_back(Chunk {
            at,
            bytes,
            reset_after,
        });
        pipe.wake();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pipe = self.tx.lock().expect("pipe lock");
        pipe.closed = true;
        pipe.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimConn {
    fn drop(&mut self) {
        if let Ok(mut pipe) = self.tx.lock() {
            pipe.closed = true;
            pipe.wake();
        }
    }
}
