//! An HTTP/1.1 request body's framing, decoded from a read buffer: a `Content-Length` body
//! or a chunked one (RFC 9112 §7.1), sans-I/O. [`Decoder::decode`] takes framing bytes off
//! the front of the buffer and hands data out as `Bytes` split from it (no copy); a chunk's
//! data is handed out as soon as any of it is there, as hyper does.
//!
//! As strict as hyper's decoder: CRLF line ends, at most 16 hex digits of chunk size,
//! whitespace only before a chunk extension; chunk extensions and trailers are skipped,
//! bounded in bytes.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes of chunk extensions a body may carry in all.
pub const MAX_EXTENSION_BYTES: usize = 16 * 1024;
/// Bytes of trailer fields a body may carry.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("invalid chunk size line")]
    ChunkSize,
    #[error("chunk size over 16 hex digits")]
    ChunkTooLarge,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("chunk extensions over {MAX_EXTENSION_BYTES} bytes")]
    Extensions,
    #[error("invalid trailer section")]
    Trailer,
    #[error("trailer section over {MAX_TRAILER_BYTES} bytes")]
    TrailerTooLarge,
    #[error("connection closed before the request body ended")]
    Closed,
    #[error("reading the request body: {0}")]
    Io(String),
}

/// What [`Decoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no more of the body: read more.
    NeedMore,
    /// The body has ended (any trailers read).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A `Content-Length` body with this many bytes to come.
    Length(u64),
    /// In a chunk size: the digits read so far and their value.
    Size {
        digits: u8,
        size: u64,
    },
    /// Whitespace after the size, before `;` or CR.
    SizeSpace {
        size: u64,
    },
    /// In a chunk extension.
    Extension {
        size: u64,
    },
    /// CR seen after the size line; LF next.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data(u64),
    /// CR after the data next.
    DataCr,
    /// LF after the data next.
    DataLf,
    /// In the trailer section: bytes of the current line.
    Trailer {
        line: usize,
    },
    /// CR seen in the trailer section; LF next.
    TrailerLf {
        line: usize,
    },
    Done,
}

/// One request body's framing state.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    extension_bytes: usize,
    trailer_bytes: usize,
}

impl Decoder {
    /// A body of exactly `len` bytes.
    pub fn length(len: u64) -> Decoder {
        Decoder::with(State::Length(len))
    }

    /// A chunked body.
    pub fn chunked() -> Decoder {
        Decoder::with(State::Size { digits: 0, size: 0 })
    }

    fn with(state: State) -> Decoder {
        Decoder {
            state,
            extension_bytes: 0,
            trailer_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done | State::Length(0))
    }

    /// Body bytes still to come, when known (a `Content-Length` body).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the body's next piece off the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, BodyError> {
        loop {
            match self.state {
                State::Length(0) | State::Done => {
                    self.state = State::Done;
                    return Ok(Step::Done);
                }
                State::Length(left) | State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataCr,
                        _ => State::Data(left),
                    };
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                _ => {
                    let Some(&b) = buf.first() else {
                        return Ok(Step::NeedMore);
                    };
                    buf.advance(1);
                    self.framing(b)?;
                }
            }
        }
    }

    /// One framing byte.
    fn framing(&mut self, b: u8) -> Result<(), BodyError> {
        self.state = match (self.state, b) {
            (State::Size { digits, size }, _) if b.is_ascii_hexdigit() => {
                if digits == 16 {
                    return Err(BodyError::ChunkTooLarge);
                }
                let v = (b as char).to_digit(16).unwrap_or(0);
                State::Size {
                    digits: digits + 1,
                    size: size << 4 | u64::from(v),
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(BodyError::ChunkSize),
            (State::Size { size, .. } | State::SizeSpace { size }, b' ' | b'\t') => {
                State::SizeSpace { size }
            }
            (State::Size { size, .. } | State::SizeSpace { size }, b';') => {
                self.extension_byte()?;
                State::Extension { size }
            }
            (State::Size { size, .. } | State::SizeSpace { size }, b'\r')
            | (State::Extension { size }, b'\r') => State::SizeLf { size },
            (State::Size { .. } | State::SizeSpace { .. }, _) => {
                return Err(BodyError::ChunkSize);
            }
            (State::Extension { .. }, b'\n') => return Err(BodyError::ChunkSize),
            (State::Extension { size }, _) => {
                self.extension_byte()?;
                State::Extension { size }
            }
            (State::SizeLf { size: 0 }, b'\n') => State::Trailer { line: 0 },
            (State::SizeLf { size }, b'\n') => State::Data(size),
            (State::SizeLf { .. }, _) => return Err(BodyError::ChunkSize),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { digits: 0, size: 0 },
            (State::DataCr | State::DataLf, _) => return Err(BodyError::ChunkEnd),
            (State::Trailer { line }, b'\r') => State::TrailerLf { line },
            (State::Trailer { .. }, b'\n') => return Err(BodyError::Trailer),
            (State::Trailer { line }, _) => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(BodyError::TrailerTooLarge);
                }
                State::Trailer { line: line + 1 }
            }
            (State::TrailerLf { line: 0 }, b'\n') => State::Done,
            (State::TrailerLf { .. }, b'\n') => State::Trailer { line: 0 },
            (State::TrailerLf { .. }, _) => return Err(BodyError::Trailer),
            // Data states are handled by `decode` and never reach here.
            (State::Length(_) | State::Data(_) | State::Done, _) => self.state,
        };
        Ok(())
    }

    fn extension_byte(&mut self) -> Result<(), BodyError> {
        self.extension_bytes += 1;
        if self.extension_bytes > MAX_EXTENSION_BYTES {
            return Err(BodyError::Extensions);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed `step` bytes at a time: the body, and how it ended.
    fn decode(mut d: Decoder, wire: &[u8], step: usize) -> (Vec<u8>, Result<bool, BodyError>) {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match d.decode(&mut buf) {
                Ok(Step::Data(b)) => {
                    assert!(!b.is_empty());
                    body.extend_from_slice(&b)
                }
                Ok(Step::Done) => return (body, Ok(true)),
                Ok(Step::NeedMore) => {
                    if fed == wire.len() {
                        return (body, Ok(false));
                    }
                    let n = step.min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
                Err(e) => return (body, Err(e)),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_reads() {
        let wire = b"5\r\nhello\r\n1;name=value\r\n \r\nA \t;x\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (body, end) = decode(Decoder::chunked(), wire, step);
            assert_eq!(body, b"hello 0123456789", "step {step}");
            assert_eq!(end, Ok(true), "step {step}");
        }
        // What follows the body stays in the buffer.
        let mut d = Decoder::chunked();
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nGET"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Ok(Step::Data(Bytes::from_static(b"abc")))
        );
        assert_eq!(d.decode(&mut buf), Ok(Step::Done));
        assert_eq!(&buf[..], b"GET");
        assert!(d.is_done());
    }

    #[test]
    fn any_chunking_of_any_body_comes_back_whole() {
        // A fixed-seed LCG: bodies, chunk sizes and read sizes vary, runs repeat.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % bound
        };
        for _ in 0..300 {
            let body: Vec<u8> = (0..next(20_000)).map(|i| i as u8).collect();
            let mut wire = Vec::new();
            let mut off = 0;
            while off < body.len() {
                let n = (next(3000) + 1).min(body.len() - off);
                let ext = if next(4) == 0 { ";e=1" } else { "" };
                let size = if next(2) == 0 {
                    format!("{n:x}")
                } else {
                    format!("{n:X}")
                };
                wire.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                wire.extend_from_slice(&body[off..off + n]);
                wire.extend_from_slice(b"\r\n");
                off += n;
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let step = next(5000) + 1;
            assert_eq!(decode(Decoder::chunked(), &wire, step), (body, Ok(true)));
        }
    }

    #[test]
    fn large_chunks_come_out_as_they_arrive() {
        let mut wire = b"8000\r\n".to_vec();
        wire.extend(std::iter::repeat_n(7u8, 0x8000));
        wire.extend_from_slice(b"\r\n0\r\n\r\n");
        let (body, end) = decode(Decoder::chunked(), &wire, 1000);
        assert_eq!(body.len(), 0x8000);
        assert_eq!(end, Ok(true));
        // A chunk's start is handed out before its end has come.
        let (body, end) = decode(Decoder::chunked(), &wire[..5000], 5000);
        assert_eq!(body.len(), 5000 - 6);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn length_bodies_end_at_their_length() {
        let (body, end) = decode(Decoder::length(5), b"helloGET /", 3);
        assert_eq!(body, b"hello");
        assert_eq!(end, Ok(true));
        let (body, end) = decode(Decoder::length(0), b"GET", 1);
        assert!(body.is_empty());
        assert_eq!(end, Ok(true));
        let (body, end) = decode(Decoder::length(10), b"short", 2);
        assert_eq!(body, b"short");
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn malformed_framing_is_refused() {
        for (wire, err) in [
            (&b"\r\n"[..], BodyError::ChunkSize),
            (b"x\r\n", BodyError::ChunkSize),
            (b"-1\r\n", BodyError::ChunkSize),
            (b"5\nhello", BodyError::ChunkSize),
            (b"5 5\r\n", BodyError::ChunkSize),
            (b"5;a\nb\r\n", BodyError::ChunkSize),
            (b"5\r\nhelloX", BodyError::ChunkEnd),
            (b"5\r\nhello\rX", BodyError::ChunkEnd),
            (b"11111111111111111\r\n", BodyError::ChunkTooLarge),
            (b"0\r\nX: 1\n", BodyError::Trailer),
            (b"0\r\n\rX", BodyError::Trailer),
        ] {
            for step in [1, 64] {
                let (_, end) = decode(Decoder::chunked(), wire, step);
                assert_eq!(end, Err(err.clone()), "{:?}", String::from_utf8_lossy(wire));
            }
        }
        // 16 hex digits is the most; a size that large is data to come, not an error.
        let (_, end) = decode(Decoder::chunked(), b"ffffffffffffffff\r\nabc", 64);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn extensions_and_trailers_are_bounded() {
        let mut wire = b"1;".to_vec();
        wire.extend(std::iter::repeat_n(b'e', MAX_EXTENSION_BYTES));
        wire.extend_from_slice(b"\r\nx\r\n");
        let (_, end) = decode(Decoder::chunked(), &wire, 4096);
        assert_eq!(end, Err(BodyError::Extensions));
        let mut wire = b"0\r\n".to_vec();
        // Field bytes count, line ends not.
        for _ in 0..=MAX_TRAILER_BYTES / 7 {
            wire.extend_from_slice(b"X: 1234\r\n");
        }
        let (_, end) = decode(Decoder::chunked(), &wire, 4096);
        assert_eq!(end, Err(BodyError::TrailerTooLarge));
    }
}
