//! [`Link`]: an authenticated connection that carries frames.
//!
//! Each direction keeps its buffer across frames: received bytes are read ahead (one read
//! usually brings a whole frame or several, see [`read_frame_buffered`]) and each sent frame is
//! encoded into a reused buffer, so a frame costs no allocation beyond its received payload.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use super::frame::{encode_frame, read_frame_buffered};
use super::NetError;
use crate::seams::Connection;

/// A send buffer that grew past this (for a huge frame) is freed after the frame instead of
/// being kept for the link's lifetime.
const MAX_KEPT_SEND_BUFFER: usize = 1 << 20;

/// A connection that passed the [`super::handshake`]; it sends and receives whole frames.
#[derive(Debug)]
pub struct Link {
    conn: Box<dyn Connection>,
    max_frame: usize,
    /// Bytes received ahead of the next frame.
    read_ahead: BytesMut,
    out: SendBuffer,
}

impl Link {
    pub(crate) fn new(conn: Box<dyn Connection>, max_frame: usize) -> Self {
        Self {
            conn,
            max_frame,
            read_ahead: BytesMut::new(),
            out: SendBuffer::default(),
        }
    }

    /// The same link with another frame size limit; bytes already read ahead are kept (the
    /// handshake ends with this, and a peer may send its first frame right behind its proof).
    pub(crate) fn with_max_frame(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame;
        self
    }

    /// Sends one frame.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), NetError> {
        self.out.send(&mut self.conn, payload, self.max_frame).await
    }

    /// Receives the next frame. Cancel safe: a dropped call loses no bytes.
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        read_frame_buffered(&mut self.conn, &mut self.read_ahead, self.max_frame).await
    }

    /// The underlying connection (for tests and protocol upgrades). Bytes already read ahead of
    /// the next frame stay behind: call it only when the peer sent nothing unread.
    pub fn into_inner(self) -> Box<dyn Connection> {
        self.conn
    }

    /// Splits the link so one task can read while another writes.
    pub fn split(self) -> (LinkReader, LinkWriter) {
        let (r, w) = tokio::io::split(self.conn);
        (
            LinkReader {
                r,
                max_frame: self.max_frame,
                read_ahead: self.read_ahead,
            },
            LinkWriter {
                w,
                max_frame: self.max_frame,
                out: self.out,
            },
        )
    }
}

/// The receiving half of a [`Link`].
#[derive(Debug)]
pub struct LinkReader {
    r: ReadHalf<Box<dyn Connection>>,
    max_frame: usize,
    read_ahead: BytesMut,
}

impl LinkReader {
    /// Receives the next frame. Cancel safe: a dropped call loses no bytes, so it may race other
    /// branches in `tokio::select!`.
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        read_frame_buffered(&mut self.r, &mut self.read_ahead, self.max_frame).await
    }
}

/// The sending half of a [`Link`].
#[derive(Debug)]
pub struct LinkWriter {
    w: WriteHalf<Box<dyn Connection>>,
    max_frame: usize,
    out: SendBuffer,
}

impl LinkWriter {
    /// Sends one frame.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), NetError> {
        self.out.send(&mut self.w, payload, self.max_frame).await
    }

    /// Encodes one frame behind the ones already queued by earlier calls, without sending it;
    /// [`LinkWriter::flush`] sends them all with one write. A frame over the size limit is
    /// refused and nothing is queued for it.
    pub fn queue(&mut self, payload: &[u8]) -> Result<(), NetError> {
        encode_frame(payload, self.max_frame, &mut self.out.buf)
    }

    /// Bytes queued and not yet sent.
    pub fn queued_bytes(&self) -> usize {
        self.out.buf.len()
    }

    /// Sends every queued frame and flushes the stream. On an error the queued frames are
    /// dropped (the link is broken: the caller drops it).
    pub async fn flush(&mut self) -> Result<(), NetError> {
        self.out.flush(&mut self.w).await
    }
}

/// The encoding buffer of a link's sending side, kept across frames.
#[derive(Debug, Default)]
struct SendBuffer {
    buf: BytesMut,
}

impl SendBuffer {
    async fn send<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        w: &mut W,
        payload: &[u8],
        max: usize,
    ) -> Result<(), NetError> {
        // Frames a failed or abandoned write left behind belong to a broken link.
        self.buf.clear();
        encode_frame(payload, max, &mut self.buf)?;
        self.flush(w).await
    }

    async fn flush<W: AsyncWrite + Unpin + ?Sized>(&mut self, w: &mut W) -> Result<(), NetError> {
        let sent = async {
            w.write_all(&self.buf).await?;
            w.flush().await
        }
        .await;
        if self.buf.capacity() > MAX_KEPT_SEND_BUFFER {
            self.buf = BytesMut::new();
        } else {
            self.buf.clear();
        }
        sent.map_err(NetError::from)
    }
}
