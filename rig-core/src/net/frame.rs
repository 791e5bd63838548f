//! Length-delimited, checksummed frames: `len: u32 LE | crc32c(payload): u32 LE | payload`.
//!
//! The magic and protocol version travel once per connection, in the [`super::handshake`]. A
//! length above the configured maximum is refused before anything is allocated.

use bytes::{Buf, BufMut, Bytes, BytesMut};
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

/// How much [`read_frame_buffered`] asks the stream for at least, so a run of small frames
/// arrives in one read.
pub const READ_AHEAD: usize = 8 << 10;

/// Reads one frame from `r` through `buf`, which holds bytes read ahead of earlier frames: one
/// read usually brings a whole frame (often several), where [`read_frame`] needs two per frame.
/// Keep `buf` for the stream's next frame: the bytes after this frame stay in it.
///
/// Errors are those of [`read_frame`], and the length is checked against `max` before room for
/// the payload is reserved. Cancel safe: dropping the future loses no bytes (they stay in
/// `buf`), so it may race other branches in `tokio::select!`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use rig_core::net::frame::{encode_frame, read_frame_buffered, DEFAULT_MAX_FRAME};
/// let mut wire = bytes::BytesMut::new();
/// encode_frame(b"one", DEFAULT_MAX_FRAME, &mut wire).unwrap();
/// encode_frame(b"two", DEFAULT_MAX_FRAME, &mut wire).unwrap();
/// let (mut stream, mut buf): (&[u8], _) = (&wire, bytes::BytesMut::new());
/// assert_eq!(&read_frame_buffered(&mut stream, &mut buf, DEFAULT_MAX_FRAME).await.unwrap()[..], b"one");
/// assert_eq!(&read_frame_buffered(&mut stream, &mut buf, DEFAULT_MAX_FRAME).await.unwrap()[..], b"two");
/// # });
/// ```
pub async fn read_frame_buffered<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Bytes, NetError> {
    loop {
        if let Some((_, used)) = decode_frame(buf, max)? {
            return Ok(take_frame(buf, used));
        }
        // The whole frame once its length is known (checked against `max` above), else a header.
        let frame_len = match buf.get(..FRAME_HEADER_LEN) {
            Some(header) => {
                FRAME_HEADER_LEN + u32::from_le_bytes(header[..4].try_into().expect("4")) as usize
            }
            None => FRAME_HEADER_LEN,
        };
        buf.reserve((frame_len - buf.len()).max(READ_AHEAD));
        let in_payload = buf.len() >= FRAME_HEADER_LEN;
        let read = r.read_buf(buf).await.map_err(|e| {
            if in_payload {
                NetError::Truncated("payload")
            } else {
                NetError::from(e)
            }
        })?;
        if read == 0 {
            return Err(match buf.len() {
                0 => NetError::Closed,
                n if n < FRAME_HEADER_LEN => NetError::Truncated("stream ended"),
                _ => NetError::Truncated("payload"),
            });
        }
    }
}

/// Removes the checked frame of `used` bytes from the front of `buf` and returns its payload. A
/// small frame is copied out, so it does not keep the whole read-ahead buffer alive while the
/// caller holds it; a frame filling most of the buffer is handed over without a copy.
fn take_frame(buf: &mut BytesMut, used: usize) -> Bytes {
    if used * 2 >= buf.capacity() {
        let mut frame = buf.split_to(used);
        frame.advance(FRAME_HEADER_LEN);
        frame.freeze()
    } else {
        let payload = Bytes::copy_from_slice(&buf[FRAME_HEADER_LEN..used]);
        buf.advance(used);
        payload
    }
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

    /// A stream that hands out at most `step` bytes per read, to split frames anywhere.
    struct Chunked<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl AsyncRead for Chunked<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            out: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = self.step.min(self.data.len()).min(out.remaining());
            out.put_slice(&self.data[..n]);
            self.data = &self.data[n..];
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Every frame `read_frame` yields from `data`, then its error.
    fn unbuffered_reads(data: &[u8], max: usize) -> (Vec<Bytes>, NetError) {
        let mut r = data;
        let mut got = Vec::new();
        block_on(async {
            loop {
                match read_frame(&mut r, max).await {
                    Ok(f) => got.push(f),
                    Err(e) => return (got, e),
                }
            }
        })
    }

    /// The same through `read_frame_buffered`, with reads of at most `step` bytes.
    fn buffered_reads(data: &[u8], step: usize, max: usize) -> (Vec<Bytes>, NetError) {
        let mut r = Chunked { data, step };
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        block_on(async {
            loop {
                match read_frame_buffered(&mut r, &mut buf, max).await {
                    Ok(f) => got.push(f),
                    Err(e) => return (got, e),
                }
            }
        })
    }

    #[test]
    fn buffered_reads_refuse_what_read_frame_refuses() {
        let mut buf = BytesMut::new();
        encode_frame(&[1; 100], 1000, &mut buf).unwrap();
        assert_eq!(
            buffered_reads(&buf, 7, 10).1,
            NetError::FrameTooLarge { len: 100, max: 10 }
        );
        assert_eq!(
            buffered_reads(&buf[..50], 7, 1000).1,
            NetError::Truncated("payload")
        );
        assert_eq!(
            buffered_reads(&buf[..5], 2, 1000).1,
            NetError::Truncated("stream ended")
        );
        let mut bad = buf.to_vec();
        bad[20] ^= 1;
        assert_eq!(buffered_reads(&bad, 64, 1000).1, NetError::Checksum);
        assert_eq!(buffered_reads(&buf, 64, 1000).1, NetError::Closed);
    }

    #[test]
    fn a_huge_announced_length_is_refused_before_reserving_room() {
        let huge = [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
        let mut r = Chunked {
            data: &huge,
            step: 3,
        };
        let mut buf = BytesMut::new();
        let got = block_on(read_frame_buffered(&mut r, &mut buf, DEFAULT_MAX_FRAME));
        assert!(matches!(got, Err(NetError::FrameTooLarge { .. })));
        assert!(buf.capacity() < DEFAULT_MAX_FRAME, "{}", buf.capacity());
    }

    #[test]
    fn a_dropped_buffered_read_loses_no_bytes() {
        let mut wire = BytesMut::new();
        encode_frame(b"first", 64, &mut wire).unwrap();
        encode_frame(b"second", 64, &mut wire).unwrap();
        block_on(async {
            let (mut tx, mut rx) = tokio::io::duplex(1024);
            let mut buf = BytesMut::new();
            // Half a frame arrives; the read is abandoned in the middle, as a losing
            // `select!` branch would be.
            tx.write_all(&wire[..9]).await.unwrap();
            tokio::select! {
                biased;
                _ = read_frame_buffered(&mut rx, &mut buf, 64) => panic!("half a frame decoded"),
                () = std::future::ready(()) => {}
            }
            tx.write_all(&wire[9..]).await.unwrap();
            let first = read_frame_buffered(&mut rx, &mut buf, 64).await.unwrap();
            let second = read_frame_buffered(&mut rx, &mut buf, 64).await.unwrap();
            assert_eq!((&first[..], &second[..]), (&b"first"[..], &b"second"[..]));
        });
    }

    #[test]
    fn a_large_frame_is_handed_over_and_a_small_one_copied() {
        let mut wire = BytesMut::new();
        encode_frame(&[7; 20_000], DEFAULT_MAX_FRAME, &mut wire).unwrap();
        encode_frame(b"tail", DEFAULT_MAX_FRAME, &mut wire).unwrap();
        let (frames, end) = buffered_reads(&wire, usize::MAX, DEFAULT_MAX_FRAME);
        assert_eq!(end, NetError::Closed);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].iter().all(|b| *b == 7) && frames[0].len() == 20_000);
        assert_eq!(&frames[1][..], b"tail");
    }

    proptest! {
        #[test]
        fn buffered_and_unbuffered_reads_agree(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            garbage in proptest::collection::vec(any::<u8>(), 0..24),
            flip in any::<Option<prop::sample::Index>>(),
            step in 1usize..50,
        ) {
            let mut wire = BytesMut::new();
            for p in &payloads {
                encode_frame(p, 64, &mut wire).unwrap();
            }
            wire.extend_from_slice(&garbage);
            if let (Some(i), false) = (flip, wire.is_empty()) {
                let i = i.index(wire.len());
                wire[i] ^= 0x5a;
            }
            prop_assert_eq!(buffered_reads(&wire, step, 32), unbuffered_reads(&wire, 32));
        }

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
