//! [`NetError`]: why a link failed or a peer was refused.

/// Why a frame, a handshake or a link failed. Every variant is a refusal or a broken link, never a
/// panic; the caller drops the connection (and reconnects, for outbound links).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The underlying stream failed.
    #[error("i/o: {0}")]
    Io(String),
    /// The peer closed the connection between frames.
    #[error("connection closed by peer")]
    Closed,
    /// The stream ended inside a frame.
    #[error("truncated frame: {0}")]
    Truncated(&'static str),
    /// A frame's length field exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A frame's checksum did not match its bytes.
    #[error("frame checksum mismatch")]
    Checksum,
    /// The peer does not speak rig's replication protocol.
    #[error("bad magic: not a rig peer")]
    BadMagic,
    /// The peer speaks a protocol version this build does not.
    #[error("unsupported protocol version {0}")]
    BadVersion(u16),
    /// The peer belongs to another group.
    #[error("wrong group id {0:?}")]
    WrongGroup(String),
    /// The peer's group tokens match none of ours.
    #[error("wrong group token")]
    WrongToken,
    /// The peer failed the pre-shared-key challenge.
    #[error("authentication failed for peer {0:?}")]
    AuthFailed(String),
    /// A message did not decode.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

impl From<std::io::Error> for NetError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Self::Truncated("stream ended")
        } else {
            Self::Io(e.to_string())
        }
    }
}

impl From<crate::codec::CodecError> for NetError {
    fn from(e: crate::codec::CodecError) -> Self {
        Self::Malformed(e.to_string())
    }
}

impl From<NetError> for crate::Error {
    fn from(e: NetError) -> Self {
        crate::Error::Unavailable {
            reason: format!("replication link: {e}"),
        }
    }
}
