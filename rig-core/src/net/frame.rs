//! Length-delimited, checksummed frames: `len: u32 LE | crc32c(payload): u32 LE | payload`.
//!
//! The magic and protocol version travel once per connection, in the [`super::handshake`]. A
//! length above the configured maximum is refused before anything is allocated.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::NetError;

/// Bytes before a frame's payload: length and checksum.
pub const FRAME_HEADER_LEN: usize = 8;
/// The default largest payload (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Appends one frame carrying `payload` to `out`.
///
/// ```
/// use rig_core::net::frame::{decode_frame, encode_frame, DEFAULT_MAX_FRAME};
/// let mut buf = bytes::BytesMut::new();
/// encode_frame(b"hello", DEFAULT_MAX_FRAME, &mut buf).unwrap();
/// let (payload, used) = decode_frame(&buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
/// assert_eq!((payload, used), (&b"hello"[..], buf.len()));
/// ```
pub fn encode_frame(payload: &[u8], max: usize, out: &mut BytesMut) -> Result<(), NetError> {
    if payload.len() > max || payload.len() > u32::MAX as usize {
        return Err(NetError::FrameTooLarge {
            len: payload.len(),
            max,
        });
    }
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.put_u32_le(payload.len() as u32);
    out.put_u32_le(crc32c::crc32c(payload));
    out.put_slice(payload);
    Ok(())
}

/// Decodes the frame at the front of `buf`: `Ok(None)` when more bytes are needed, otherwise the
/// payload and the number of bytes the frame used. Never panics, whatever `buf` holds.
pub fn decode_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, NetError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len > max {
        return Err(NetError::FrameTooLarge { len, max });
    }
    let Some(payload) = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Ok(None);
    };
    if crc32c::crc32c(payload) != crc {
        return Err(NetError::Checksum);
    }
    Ok(Some((payload, FRAME_HEADER_LEN + len)))
}

/// Reads one frame from `r`. A clean end of stream before a frame is [`NetError::Closed`]; an end
/// inside one is [`NetError::Truncated`].
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max: usize,
) -> Result<Bytes, NetError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let first = r.read(&mut header).await?;
    if first == 0 {
        return Err(NetError::Closed);
    }
    r.read_exact(&mut header[first..]).await?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len > max {
        return Err(NetError::FrameTooLarge { len, max });
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)
        .await
        .map_err(|_| NetError::Truncated("payload"))?;
    if crc32c::crc32c(&payload) != crc {
        return Err(NetError::Checksum);
    }
    Ok(payload.into())
}

/// Writes one frame carrying `payload` to `w` and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    payload: &[u8],
    max: usize,
) -> Result<(), NetError> {
    let mut buf = BytesMut::new();
    encode_frame(payload, max, &mut buf)?;
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn round_trip_and_errors() {
        let mut buf = BytesMut::new();
        encode_frame(b"abc", 16, &mut buf).unwrap();
        encode_frame(b"", 16, &mut buf).unwrap();
        let mut r: &[u8] = &buf;
        block_on(async {
            assert_eq!(&read_frame(&mut r, 16).await.unwrap()[..], b"abc");
            assert_eq!(&read_frame(&mut r, 16).await.unwrap()[..], b"");
            assert_eq!(read_frame(&mut r, 16).await, Err(NetError::Closed));
        });
        assert!(matches!(
            encode_frame(&[0; 17], 16, &mut BytesMut::new()),
            Err(NetError::FrameTooLarge { len: 17, max: 16 })
        ));
    }

    #[test]
    fn oversized_truncated_and_corrupt_frames_are_refused() {
        let mut buf = BytesMut::new();
        encode_frame(&[1; 100], 1000, &mut buf).unwrap();
        block_on(async {
            let mut r: &[u8] = &buf;
            assert_eq!(
                read_frame(&mut r, 10).await,
                Err(NetError::FrameTooLarge { len: 100, max: 10 })
            );
            let mut r: &[u8] = &buf[..50];
            assert_eq!(
                read_frame(&mut r, 1000).await,
                Err(NetError::Truncated("payload"))
            );
            let mut r: &[u8] = &buf[..5];
            assert!(matches!(
                read_frame(&mut r, 1000).await,
                Err(NetError::Truncated(_))
            ));
            let mut bad = buf.to_vec();
            bad[20] ^= 1;
            let mut r: &[u8] = &bad;
            assert_eq!(read_frame(&mut r, 1000).await, Err(NetError::Checksum));
        });
        assert_eq!(decode_frame(&buf[..50], 1000), Ok(None));
        // A huge announced length is refused before allocating.
        let huge = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            decode_frame(&huge, DEFAULT_MAX_FRAME),
            Err(NetError::FrameTooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_frame(&bytes, 32);
            let mut r: &[u8] = &bytes;
            let _ = block_on(read_frame(&mut r, 32));
        }

        #[test]
        fn frames_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5)) {
            let mut buf = BytesMut::new();
            for p in &payloads {
                encode_frame(p, 64, &mut buf).unwrap();
            }
            let mut at = 0;
            for p in &payloads {
                let (got, used) = decode_frame(&buf[at..], 64).unwrap().unwrap();
                prop_assert_eq!(got, &p[..]);
                at += used;
            }
            prop_assert_eq!(at, buf.len());
        }
    }
}
