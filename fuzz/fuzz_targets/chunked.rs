//! A publish body's framing (`serve::chunked`): never panics, and decodes the same bytes,
//! ending the same way at the same place, whatever pieces the reads cut the wire into.
#![no_main]

use bytes::BytesMut;
use hlsd::serve::chunked::{BodyError, Decoder, Step};
use libfuzzer_sys::fuzz_target;

/// The body, how it ended (`Ok(true)`: done, `Ok(false)`: wants more) and the wire bytes
/// taken, fed `step` bytes at a time.
fn decode(chunked: bool, wire: &[u8], step: usize) -> (Vec<u8>, Result<bool, BodyError>, usize) {
    let mut d = if chunked { Decoder::chunked() } else { Decoder::length(wire.len() as u64 / 2) };
    let mut buf = BytesMut::new();
    let (mut body, mut fed) = (Vec::new(), 0);
    loop {
        match d.decode(&mut buf) {
            Ok(Step::Data(b)) => {
                assert!(!b.is_empty());
                body.extend_from_slice(&b);
            }
            Ok(Step::Done) => return (body, Ok(true), fed - buf.len()),
            Ok(Step::NeedMore) if fed == wire.len() => return (body, Ok(false), fed - buf.len()),
            Ok(Step::NeedMore) => {
                let n = step.min(wire.len() - fed);
                buf.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
            }
            Err(e) => return (body, Err(e), fed - buf.len()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, wire)) = data.split_first() else { return };
    let chunked = cut & 0x80 == 0;
    let whole = decode(chunked, wire, usize::MAX);
    let pieces = decode(chunked, wire, usize::from(cut & 0x1f) + 1);
    assert_eq!(whole, pieces);
});
