//! [`Link`]: an authenticated connection that carries frames.

use bytes::Bytes;
use tokio::io::{ReadHalf, WriteHalf};

use super::frame::{read_frame, write_frame};
use super::NetError;
use crate::seams::Connection;

/// A connection that passed the [`super::handshake`]; it sends and receives whole frames.
#[derive(Debug)]
pub struct Link {
    pub(super) conn: Box<dyn Connection>,
    max_frame: usize,
}

impl Link {
    pub(crate) fn new(conn: Box<dyn Connection>, max_frame: usize) -> Self {
        Self { conn, max_frame }
    }

    /// Sends one frame.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), NetError> {
        write_frame(&mut self.conn, payload, self.max_frame).await
    }

    /// Receives the next frame.
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        read_frame(&mut self.conn, self.max_frame).await
    }

    /// The underlying connection (for tests and protocol upgrades).
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
            },
            LinkWriter {
                w,
                max_frame: self.max_frame,
            },
        )
    }
}

/// The receiving half of a [`Link`].
#[derive(Debug)]
pub struct LinkReader {
    r: ReadHalf<Box<dyn Connection>>,
    max_frame: usize,
}

impl LinkReader {
    /// Receives the next frame.
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        read_frame(&mut self.r, self.max_frame).await
    }
}

/// The sending half of a [`Link`].
#[derive(Debug)]
pub struct LinkWriter {
    w: WriteHalf<Box<dyn Connection>>,
    max_frame: usize,
}

impl LinkWriter {
    /// Sends one frame.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), NetError> {
        write_frame(&mut self.w, payload, self.max_frame).await
    }
}
