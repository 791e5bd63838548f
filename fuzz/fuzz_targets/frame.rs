//! Transport frames (rig-core `net::frame`): the slice decoder, the stream reader and the
//! buffered stream reader (read-ahead kept between frames) must agree.
#![no_main]
use rig_core::net::frame::{decode_frame, read_frame, read_frame_buffered};

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((mode, rest)) = input.split_first() else {
        return;
    };
    // A small limit so the fuzzer reaches the "too large" branch as easily as the others.
    let max = usize::from(mode >> 1) * 4;
    // With the low bit set, the `u16`-prefixed chunks are framed with correct checksums first.
    let mut framed = bytes::BytesMut::new();
    let data: &[u8] = if mode & 1 == 1 {
        for c in rig_fuzz::chunks(rest) {
            let _ = rig_core::net::frame::encode_frame(c, usize::MAX, &mut framed);
        }
        &framed
    } else {
        rest
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut stream: &[u8] = data;
    let (mut buffered, mut read_ahead): (&[u8], _) = (data, bytes::BytesMut::new());
    let mut at = 0;
    loop {
        let sliced = decode_frame(&data[at..], max);
        let read = rt.block_on(read_frame(&mut stream, max));
        let read_buffered = rt.block_on(read_frame_buffered(&mut buffered, &mut read_ahead, max));
        assert_eq!(
            read.as_ref().ok(),
            read_buffered.as_ref().ok(),
            "the buffered reader disagrees with the plain one"
        );
        match (sliced, read) {
            (Ok(Some((payload, used))), Ok(got)) => {
                assert_eq!(payload, &got[..]);
                at += used;
            }
            (Ok(Some(_)), Err(e)) => panic!("slice decoded a frame the reader refused: {e}"),
            (_, Ok(_)) => panic!("the reader accepted a frame the slice decoder did not"),
            _ => break,
        }
    }
});
