//! What one RTMP connection may make `rml_rtmp` hold, checked on the bytes before they
//! reach it. `rml_rtmp` 0.8 reassembles a message into one buffer for the whole
//! connection, reserves the declared length (up to 16 MiB, RTMP's 24-bit field) at the
//! first chunk, and computes `declared − received` without a check: a chunk of another
//! chunk stream arriving in the middle of a message (interleaving) corrupts the message and
//! can underflow that subtraction, a panic. The guard follows the chunk headers (basic
//! header, message header by format, extended timestamp, the peer's Set Chunk Size) and
//! refuses, before `rml_rtmp` sees them:
//!
//! - a chunk of another stream, or a new message on the same stream, while a message is
//!   incomplete (hlsd's publishers, ffmpeg, OBS's librtmp, GStreamer's rtmp2sink, send a
//!   message's chunks back to back);
//! - a message longer than the limit: [`COMMAND_LIMIT`] until the publish is accepted
//!   (commands only), [`MEDIA_LIMIT`] after;
//! - more than [`MAX_CHUNK_STREAMS`] chunk streams, and a chunk size of 0.
//!
//! So a connection holds at most one message being reassembled and one chunk being read.

use std::collections::HashMap;
use std::fmt;

/// The longest message before the publish is accepted: `connect`, `createStream` and
/// `publish` commands are a few hundred bytes.
pub const COMMAND_LIMIT: u32 = 64 * 1024;
/// The longest message once publishing: one video frame of up to 8 MiB (two seconds of a
/// 32 Mbit/s stream in a single frame).
pub const MEDIA_LIMIT: u32 = 8 << 20;
/// Chunk streams a connection may use (encoders use 3 to 8).
pub const MAX_CHUNK_STREAMS: usize = 64;

/// The chunk size in effect until the peer sets one (RTMP specification, 5.4.1).
const INITIAL_CHUNK_SIZE: u32 = 128;
/// A 24-bit timestamp field with this value is followed by a 32-bit extended timestamp.
const EXTENDED: u32 = 0xFF_FFFF;
/// Message type of Set Chunk Size.
const SET_CHUNK_SIZE: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Interleaved { open: u32, got: u32 },
    TooLong { length: u32, limit: u32 },
    NoPreviousHeader { csid: u32 },
    TooManyChunkStreams,
    ZeroChunkSize,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Interleaved { open, got } => write!(
                f,
                "RTMP chunk stream {got} interleaved into an incomplete message of chunk stream {open} (not supported)"
            ),
            Violation::TooLong { length, limit } => {
                write!(
                    f,
                    "RTMP message of {length} bytes over the limit of {limit}"
                )
            }
            Violation::NoPreviousHeader { csid } => {
                write!(f, "RTMP chunk stream {csid} continued before it started")
            }
            Violation::TooManyChunkStreams => {
                write!(f, "more than {MAX_CHUNK_STREAMS} RTMP chunk streams")
            }
            Violation::ZeroChunkSize => write!(f, "RTMP chunk size set to 0"),
        }
    }
}

/// What a chunk stream's last header said, for the compressed headers that follow.
#[derive(Debug, Clone, Copy)]
struct Header {
    length: u32,
    type_id: u8,
    timestamp_field: u32,
}

/// The message being received: its chunk stream, bytes still to come, and the first bytes
/// of a Set Chunk Size.
#[derive(Debug)]
struct Open {
    csid: u32,
    left: u32,
    set_chunk_size: Option<Vec<u8>>,
}

#[derive(Debug)]
enum Stage {
    /// Reading a chunk header: its bytes so far (at most 3 + 11 + 4).
    Header,
    /// Skipping this many payload bytes of the current chunk.
    Payload(u32),
}

#[derive(Debug)]
pub struct ChunkGuard {
    limit: u32,
    chunk_size: u32,
    headers: HashMap<u32, Header>,
    open: Option<Open>,
    stage: Stage,
    header: Vec<u8>,
}

impl Default for ChunkGuard {
    fn default() -> Self {
        ChunkGuard::new()
    }
}

impl ChunkGuard {
    pub fn new() -> ChunkGuard {
        ChunkGuard {
            limit: COMMAND_LIMIT,
            chunk_size: INITIAL_CHUNK_SIZE,
            headers: HashMap::new(),
            open: None,
            stage: Stage::Header,
            header: Vec::with_capacity(18),
        }
    }

    /// The longest message allowed from now on.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    /// Follows `bytes`, the next ones received after the handshake.
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        while !bytes.is_empty() {
            match self.stage {
                Stage::Payload(n) => {
                    let take = (n as usize).min(bytes.len());
                    if let Some(first) = self.open.as_mut().and_then(|o| o.set_chunk_size.as_mut())
                    {
                        let want = 4usize.saturating_sub(first.len()).min(take);
                        first.extend_from_slice(&bytes[..want]);
                    }
                    bytes = &bytes[take..];
                    let n = n - take as u32;
                    self.stage = Stage::Payload(n);
                    if n == 0 {
                        self.end_chunk()?;
                    }
                }
                Stage::Header => {
                    let need = self.header_len();
                    let take = need.saturating_sub(self.header.len()).min(bytes.len());
                    self.header.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    // The length is known only once the basic and message headers are in.
                    if self.header.len() == self.header_len() {
                        self.start_chunk()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Bytes of the chunk header being read, as far as its first bytes tell; grows as
    /// they arrive, and is final once it stops growing.
    fn header_len(&self) -> usize {
        let h = &self.header;
        let Some(&b0) = h.first() else { return 1 };
        let basic = match b0 & 0x3f {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let fmt = b0 >> 6;
        let message = [11, 7, 3, 0][fmt as usize];
        let base = basic + message;
        if h.len() < basic {
            return basic;
        }
        let field = if fmt == 3 {
            match self.headers.get(&csid(h)) {
                Some(prev) => prev.timestamp_field,
                None => 0,
            }
        } else if h.len() >= basic + 3 {
            u32::from_be_bytes([0, h[basic], h[basic + 1], h[basic + 2]])
        } else {
            return base;
        };
        if field == EXTENDED { base + 4 } else { base }
    }

    fn start_chunk(&mut self) -> Result<(), Violation> {
        let h = std::mem::take(&mut self.header);
        let fmt = h[0] >> 6;
        let id = csid(&h);
        let basic = match h[0] & 0x3f {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let m = &h[basic..];
        if let Some(open) = &self.open
            && (fmt != 3 || open.csid != id)
        {
            return Err(Violation::Interleaved {
                open: open.csid,
                got: id,
            });
        }
        let prev = self.headers.get(&id).copied();
        let header = match (fmt, prev) {
            (0, _) | (1, Some(_)) => Header {
                timestamp_field: be24(&m[0..3]),
                length: be24(&m[3..6]),
                type_id: m[6],
            },
            (2, Some(p)) => Header {
                timestamp_field: be24(&m[0..3]),
                ..p
            },
            (3, Some(p)) => p,
            _ => return Err(Violation::NoPreviousHeader { csid: id }),
        };
        if prev.is_none() && self.headers.len() >= MAX_CHUNK_STREAMS {
            return Err(Violation::TooManyChunkStreams);
        }
        self.headers.insert(id, header);
        if self.open.is_none() {
            if header.length > self.limit {
                return Err(Violation::TooLong {
                    length: header.length,
                    limit: self.limit,
                });
            }
            self.open = Some(Open {
                csid: id,
                left: header.length,
                set_chunk_size: (header.type_id == SET_CHUNK_SIZE).then(Vec::new),
            });
        }
        let left = self.open.as_ref().map_or(0, |o| o.left);
        let n = left.min(self.chunk_size);
        if let Some(open) = &mut self.open {
            open.left -= n;
        }
        self.stage = Stage::Payload(n);
        if n == 0 {
            self.end_chunk()?;
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> Result<(), Violation> {
        self.stage = Stage::Header;
        let done = self.open.as_ref().is_some_and(|o| o.left == 0);
        if done {
            if let Some(Open {
                set_chunk_size: Some(b),
                ..
            }) = self.open.take()
                && b.len() == 4
            {
                let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
                if size == 0 {
                    return Err(Violation::ZeroChunkSize);
                }
                self.chunk_size = size;
            }
            self.open = None;
        }
        Ok(())
    }
}

fn csid(h: &[u8]) -> u32 {
    match h[0] & 0x3f {
        0 => 64 + u32::from(h[1]),
        1 => 64 + u32::from(h[1]) + 256 * u32::from(h[2]),
        n => u32::from(n),
    }
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::MessagePayload;
    use rml_rtmp::time::RtmpTimestamp;

    fn message(type_id: u8, csid_hint: u8, ts: u32, len: usize) -> MessagePayload {
        let mut p = MessagePayload::new();
        p.type_id = type_id;
        p.message_stream_id = 1;
        p.timestamp = RtmpTimestamp::new(ts);
        p.data = Bytes::from(vec![csid_hint; len]);
        p
    }

    /// What rml_rtmp's own serializer writes (compressed headers, extended timestamps, a
    /// chunk size change) is followed to the end, whatever the reads' sizes.
    #[test]
    fn follows_what_an_rtmp_sender_writes() {
        let mut ser = ChunkSerializer::new();
        let mut wire = Vec::new();
        let mut ts = 0u32;
        for i in 0..40u32 {
            let len = [1, 127, 128, 129, 4000, 70_000][i as usize % 6];
            ts = ts.wrapping_add(if i == 20 { 0x0100_0000 } else { 33 });
            let p = message(9, 9, ts, len);
            let packet = ser.serialize(&p, false, false).unwrap();
            wire.extend_from_slice(&packet.bytes);
            if i == 10 {
                let packet = ser
                    .set_max_chunk_size(4096, RtmpTimestamp::new(ts))
                    .unwrap();
                wire.extend_from_slice(&packet.bytes);
            }
        }
        for step in [1, 7, 188, 65536] {
            let mut g = ChunkGuard::new();
            g.set_limit(MEDIA_LIMIT);
            for piece in wire.chunks(step) {
                g.check(piece).unwrap();
            }
            assert!(matches!(g.stage, Stage::Header), "step {step}");
            assert!(g.open.is_none() && g.header.is_empty(), "step {step}");
            assert_eq!(g.chunk_size, 4096);
        }
    }

    fn chunk0(csid: u8, length: u32, type_id: u8, payload: &[u8]) -> Vec<u8> {
        let mut c = vec![csid];
        c.extend_from_slice(&[0, 0, 0]);
        c.extend_from_slice(&length.to_be_bytes()[1..]);
        c.push(type_id);
        c.extend_from_slice(&1u32.to_le_bytes());
        c.extend_from_slice(payload);
        c
    }

    #[test]
    fn refuses_interleaving_overlong_messages_and_unknown_streams() {
        let mut g = ChunkGuard::new();
        g.set_limit(MEDIA_LIMIT);
        g.check(&chunk0(6, 1000, 9, &[0; 128])).unwrap();
        assert_eq!(
            g.check(&chunk0(4, 4, 8, &[0; 4])),
            Err(Violation::Interleaved { open: 6, got: 4 })
        );

        let mut g = ChunkGuard::new();
        assert_eq!(
            g.check(&chunk0(3, 0xFF_FFFF, 20, &[])),
            Err(Violation::TooLong {
                length: 0xFF_FFFF,
                limit: COMMAND_LIMIT
            })
        );
        let mut g = ChunkGuard::new();
        assert_eq!(
            g.check(&[0xC5]),
            Err(Violation::NoPreviousHeader { csid: 5 })
        );
        let mut g = ChunkGuard::new();
        let mut err = Ok(());
        for id in 0..100u8 {
            err = g.check(&chunk0(0, 0, 20, &[]).iter().enumerate().fold(
                Vec::new(),
                |mut v, (i, b)| {
                    // Two-byte basic header: chunk stream 64 + id.
                    if i == 0 {
                        v.extend_from_slice(&[0, id]);
                    } else {
                        v.push(*b);
                    }
                    v
                },
            ));
            if err.is_err() {
                break;
            }
        }
        assert_eq!(err, Err(Violation::TooManyChunkStreams));
        let mut g = ChunkGuard::new();
        assert_eq!(
            g.check(&chunk0(2, 4, 1, &[0, 0, 0, 0])),
            Err(Violation::ZeroChunkSize)
        );
    }
}
