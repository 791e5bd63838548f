//! The link handshake: both sides prove they belong to the same group and hold the pre-shared key
//! before any protocol message flows.
//!
//! ```text
//! initiator → responder   Hello { magic, version, group id, tokens [current, next], node id, nonce }
//! responder → initiator   Hello { … its own nonce } (no secret in it)
//! both                    check magic, version, group id and tokens; on a mismatch the
//!                         responder logs and closes, and the initiator, which checked the
//!                         responder's Hello the same way, reports why (e.g. `WrongToken`)
//! initiator → responder   Proof = HMAC-SHA256(psk, "initiator" ‖ responder nonce ‖ transcript)
//! responder               checks the proof; on a mismatch it logs and closes
//! responder → initiator   Proof = HMAC-SHA256(psk, "responder" ‖ initiator nonce ‖ transcript)
//! ```
//!
//! `transcript` is SHA-256 of both Hello frames, so a proof cannot be replayed on another
//! connection or reflected back at its sender. Two tokens let a group rotate its token: nodes
//! configured with `[old, new]` talk to nodes with `[new, new]`.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use sha2::{Digest, Sha256};

use super::frame::DEFAULT_MAX_FRAME;
use super::hmac::{equal, hmac_sha256};
use super::{Link, NetError};
use crate::codec::Reader;
use crate::seams::{Connection, Rand};

/// The first bytes of every Hello.
pub const MAGIC: [u8; 4] = *b"RIGN";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The largest Hello frame accepted during the handshake.
const MAX_HELLO: usize = 4096;
const MAX_NAME: usize = 1024;

/// Who this node is and what it must prove.
#[derive(Clone)]
pub struct HandshakeConfig {
    /// The replication group's id; peers of another group are refused.
    pub group_id: String,
    /// The group tokens: current and next. A peer is accepted when any of its tokens matches any
    /// of ours.
    pub tokens: [u64; 2],
    /// This node's id, told to the peer.
    pub node_id: String,
    /// The pre-shared key both sides prove they hold.
    pub psk: Vec<u8>,
    /// The largest frame a link accepts after the handshake.
    pub max_frame: usize,
    /// How long the whole handshake may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for HandshakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("group_id", &self.group_id)
            .field("node_id", &self.node_id)
            .field("psk", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl HandshakeConfig {
    /// A configuration with the default frame limit (16 MiB) and a 5 s handshake timeout.
    pub fn new(
        group_id: impl Into<String>,
        tokens: [u64; 2],
        node_id: impl Into<String>,
        psk: Vec<u8>,
    ) -> Self {
        Self {
            group_id: group_id.into(),
            tokens,
            node_id: node_id.into(),
            psk,
            max_frame: DEFAULT_MAX_FRAME,
            timeout: Duration::from_secs(5),
        }
    }
}

/// What the handshake learned about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id.
    pub node_id: String,
}

#[derive(Debug, PartialEq, Eq)]
struct Hello {
    group_id: String,
    tokens: [u64; 2],
    node_id: String,
    nonce: [u8; 32],
}

fn encode_hello(cfg: &HandshakeConfig, nonce: &[u8; 32]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_slice(&MAGIC);
    b.put_u16_le(PROTOCOL_VERSION);
    b.put_u16_le(cfg.group_id.len().min(MAX_NAME) as u16);
    b.put_slice(&cfg.group_id.as_bytes()[..cfg.group_id.len().min(MAX_NAME)]);
    b.put_u64_le(cfg.tokens[0]);
    b.put_u64_le(cfg.tokens[1]);
    b.put_u16_le(cfg.node_id.len().min(MAX_NAME) as u16);
    b.put_slice(&cfg.node_id.as_bytes()[..cfg.node_id.len().min(MAX_NAME)]);
    b.put_slice(nonce);
    b.to_vec()
}

fn string(r: &mut Reader<'_>, what: &'static str) -> Result<String, NetError> {
    let lo = r.u8(what)?;
    let hi = r.u8(what)?;
    let n = usize::from(u16::from_le_bytes([lo, hi]));
    let bytes = r.take(n, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| NetError::Malformed(format!("{what} not utf-8")))
}

/// Decodes a Hello frame. Never panics, whatever `buf` holds.
fn decode_hello(buf: &[u8]) -> Result<Hello, NetError> {
    let mut r = Reader::new(buf);
    if r.take(4, "magic").map_err(|_| NetError::BadMagic)? != MAGIC {
        return Err(NetError::BadMagic);
    }
    let v = u16::from_le_bytes(r.take(2, "version")?.try_into().expect("2 bytes"));
    if v != PROTOCOL_VERSION {
        return Err(NetError::BadVersion(v));
    }
    let group_id = string(&mut r, "group id")?;
    let tokens = [r.u64_le("token")?, r.u64_le("token")?];
    let node_id = string(&mut r, "node id")?;
    let nonce = r.take(32, "nonce")?.try_into().expect("32 bytes");
    if !r.is_empty() {
        return Err(NetError::Malformed("trailing bytes after hello".into()));
    }
    Ok(Hello {
        group_id,
        tokens,
        node_id,
        nonce,
    })
}

fn check_group(cfg: &HandshakeConfig, hello: &Hello) -> Result<(), NetError> {
    if hello.group_id != cfg.group_id {
        return Err(NetError::WrongGroup(hello.group_id.clone()));
    }
    if !hello.tokens.iter().any(|t| cfg.tokens.contains(t)) {
        return Err(NetError::WrongToken);
    }
    Ok(())
}

fn nonce(rand: &dyn Rand) -> [u8; 32] {
    let mut n = [0u8; 32];
    for chunk in n.chunks_mut(8) {
        chunk.copy_from_slice(&rand.next_u64().to_le_bytes());
    }
    n
}

fn proof(psk: &[u8], label: &[u8], nonce: &[u8; 32], transcript: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(psk, &[label, nonce, transcript])
}

fn transcript(initiator: &[u8], responder: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((initiator.len() as u64).to_le_bytes());
    h.update(initiator);
    h.update(responder);
    h.finalize().into()
}

async fn timed<T>(
    cfg: &HandshakeConfig,
    f: impl std::future::Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    tokio::time::timeout(cfg.timeout, f)
        .await
        .unwrap_or(Err(NetError::Timeout("handshake")))
}

/// Runs the handshake as the side that opened `conn`. On success the link is ready for frames.
pub async fn connect(
    conn: Box<dyn Connection>,
    cfg: &HandshakeConfig,
    rand: &dyn Rand,
) -> Result<(PeerInfo, Link), NetError> {
    let my_nonce = nonce(rand);
    timed(cfg, async move {
        let mut hs = Link::new(conn, MAX_HELLO);
        let mine = encode_hello(cfg, &my_nonce);
        hs.send(&mine).await?;
        let theirs = hs.recv().await?;
        let hello = decode_hello(&theirs)?;
        check_group(cfg, &hello)?;
        let t = transcript(&mine, &theirs);
        hs.send(&proof(&cfg.psk, b"initiator", &hello.nonce, &t))
            .await?;
        let answer = hs.recv().await.map_err(|e| match e {
            // The responder closes on a bad proof: from here that reads as a refusal.
            NetError::Closed => NetError::AuthFailed(hello.node_id.clone()),
            e => e,
        })?;
        if !equal(&answer, &proof(&cfg.psk, b"responder", &my_nonce, &t)) {
            return Err(NetError::AuthFailed(hello.node_id));
        }
        Ok((
            PeerInfo {
                node_id: hello.node_id,
            },
            hs.with_max_frame(cfg.max_frame),
        ))
    })
    .await
}

/// Runs the handshake as the side that accepted `conn`. A refused peer is logged (at `warn`) and
/// gets nothing but our Hello, which carries no secret (from it, a peer of another group or with
/// a wrong token learns why it was refused).
pub async fn accept(
    conn: Box<dyn Connection>,
    cfg: &HandshakeConfig,
    rand: &dyn Rand,
) -> Result<(PeerInfo, Link), NetError> {
    let my_nonce = nonce(rand);
    let result = timed(cfg, async move {
        let mut hs = Link::new(conn, MAX_HELLO);
        let theirs = hs.recv().await?;
        let hello = decode_hello(&theirs)?;
        // Our Hello goes out before the group check, so a refused initiator learns why from
        // its own check of it (a clear error instead of a closed connection).
        let mine = encode_hello(cfg, &my_nonce);
        hs.send(&mine).await?;
        check_group(cfg, &hello)?;
        let t = transcript(&theirs, &mine);
        let answer = hs.recv().await?;
        if !equal(&answer, &proof(&cfg.psk, b"initiator", &my_nonce, &t)) {
            return Err(NetError::AuthFailed(hello.node_id));
        }
        hs.send(&proof(&cfg.psk, b"responder", &hello.nonce, &t))
            .await?;
        Ok((
            PeerInfo {
                node_id: hello.node_id,
            },
            hs.with_max_frame(cfg.max_frame),
        ))
    })
    .await;
    if let Err(e) = &result {
        tracing::warn!(group = %cfg.group_id, error = %e, "refused replication peer");
    }
    result
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
