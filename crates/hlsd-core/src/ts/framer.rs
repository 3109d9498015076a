//! Finds 188-byte packets in a byte stream cut at arbitrary places (ISO/IEC 13818-1 §2.4.3).
//!
//! Input arrives as HTTP body chunks of any size. Packets lying wholly inside a chunk are
//! handed out as borrowed views without copying; only the few bytes that straddle a chunk
//! boundary are carried over. A packet is accepted when the byte 188 places after its sync
//! byte is a sync byte too. When it is not, either this packet was truncated (a confirmed
//! packet starts inside it: the truncated bytes are dropped) or garbage follows it (it is
//! kept and the framer resynchronises on the next confirmed pair of sync bytes), so the
//! packets after a glitch are never lost.

use super::packet::{PACKET_SIZE, Packet, SYNC_BYTE};

/// Bytes needed to decide about a suspect packet: it, and a whole packet inside it.
const DECIDE: usize = 2 * PACKET_SIZE + 1;
const CARRY_MAX: usize = 2 * DECIDE;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramerStats {
    /// Packets handed out.
    pub packets: u64,
    /// Bytes dropped as garbage or truncated packets.
    pub skipped_bytes: u64,
    /// Times sync was lost.
    pub sync_losses: u64,
}

#[derive(Debug, Default)]
pub struct Framer {
    carry: Vec<u8>,
    state: State,
}

#[derive(Debug, Default)]
struct State {
    in_sync: bool,
    stats: FramerStats,
}

impl Framer {
    pub fn new() -> Self {
        Framer {
            carry: Vec::with_capacity(CARRY_MAX),
            state: State::default(),
        }
    }

    pub fn stats(&self) -> FramerStats {
        self.state.stats
    }

    /// Feeds `input`, calling `emit` for every packet found, in stream order.
    pub fn push(&mut self, mut input: &[u8], mut emit: impl FnMut(Packet<'_>)) {
        while !self.carry.is_empty() && !input.is_empty() {
            let before = self.carry.len();
            let take = input.len().min(CARRY_MAX - before);
            self.carry.extend_from_slice(&input[..take]);
            let consumed = process(&mut self.state, &self.carry, false, &mut emit);
            if consumed >= before {
                input = &input[consumed - before..];
                self.carry.clear();
            } else {
                self.carry.drain(..consumed);
                input = &input[take..];
            }
        }
        if self.carry.is_empty() && !input.is_empty() {
            let consumed = process(&mut self.state, input, false, &mut emit);
            self.carry.extend_from_slice(&input[consumed..]);
        }
    }

    /// The stream has ended: decides about the bytes still held.
    pub fn finish(&mut self, mut emit: impl FnMut(Packet<'_>)) {
        let carry = std::mem::take(&mut self.carry);
        process(&mut self.state, &carry, true, &mut emit);
    }
}

/// Emits the packets of `buf` that can be decided on and returns how many bytes were used.
fn process(st: &mut State, buf: &[u8], eof: bool, emit: &mut impl FnMut(Packet<'_>)) -> usize {
    let mut p = 0;
    while p < buf.len() {
        let rest = buf.len() - p;
        if buf[p] != SYNC_BYTE {
            let next = buf[p + 1..]
                .iter()
                .position(|&b| b == SYNC_BYTE)
                .map_or(buf.len(), |i| p + 1 + i);
            st.skip(next - p);
            p = next;
            continue;
        }
        if rest <= PACKET_SIZE {
            if !eof {
                break;
            }
            if rest == PACKET_SIZE && st.in_sync {
                st.emit(&buf[p..], emit);
            } else {
                st.skip(rest);
            }
            p = buf.len();
            continue;
        }
        if buf[p + PACKET_SIZE] == SYNC_BYTE {
            st.in_sync = true;
            st.emit(&buf[p..p + PACKET_SIZE], emit);
            p += PACKET_SIZE;
            continue;
        }
        if !st.in_sync {
            // An unconfirmed sync byte while searching: not a packet start.
            st.skip(1);
            p += 1;
            continue;
        }
        if rest < DECIDE && !eof {
            break;
        }
        let confirmed = (p + 1..=p + PACKET_SIZE)
            .take_while(|q| q + PACKET_SIZE < buf.len())
            .find(|&q| buf[q] == SYNC_BYTE && buf[q + PACKET_SIZE] == SYNC_BYTE);
        match confirmed {
            Some(q) => {
                // The packet at p was cut short by the one starting at q.
                st.skip(q - p);
                p = q;
            }
            None => {
                // A whole packet followed by garbage.
                st.emit(&buf[p..p + PACKET_SIZE], emit);
                // Sync is lost here; the skips that follow do not count it again.
                st.stats.sync_losses += 1;
                st.in_sync = false;
                p += PACKET_SIZE;
            }
        }
    }
    p
}

impl State {
    fn emit(&mut self, bytes: &[u8], emit: &mut impl FnMut(Packet<'_>)) {
        if let Ok(arr) = <&[u8; PACKET_SIZE]>::try_from(bytes) {
            self.stats.packets += 1;
            emit(Packet::new(arr));
        }
    }

    fn skip(&mut self, n: usize) {
        if self.in_sync || self.stats.packets == 0 && self.stats.skipped_bytes == 0 {
            self.stats.sync_losses += 1;
        }
        self.in_sync = false;
        self.stats.skipped_bytes += n as u64;
    }
}

/// How many leading bytes [`looks_like_ts`] needs at most to decide.
pub const SNIFF_LEN: usize = 64 * 1024;

/// Whether `head`, the first bytes of a body, is MPEG-TS: a run of 5 sync bytes 188 bytes
/// apart somewhere in the first 64 KB. `None`: not enough bytes yet to say no.
pub fn looks_like_ts(head: &[u8]) -> Option<bool> {
    const RUN: usize = 4 * PACKET_SIZE + 1;
    let head = &head[..head.len().min(SNIFF_LEN)];
    let found = head.len() >= RUN
        && (0..=head.len() - RUN).any(|i| (0..5).all(|k| head[i + k * PACKET_SIZE] == SYNC_BYTE));
    if found {
        Some(true)
    } else if head.len() >= SNIFF_LEN {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(n: u8) -> Vec<u8> {
        let mut p = vec![n; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p
    }

    fn stream(ids: &[u8]) -> Vec<u8> {
        ids.iter().flat_map(|&n| packet(n)).collect()
    }

    /// Frames `input` cut into `chunk`-byte pieces; returns the second byte of each packet.
    fn frame(input: &[u8], chunk: usize) -> (Vec<u8>, FramerStats) {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            f.push(c, |p| out.push(p.bytes()[1]));
        }
        f.finish(|p| out.push(p.bytes()[1]));
        (out, f.stats())
    }

    fn check(input: &[u8], expect: &[u8]) {
        for chunk in [1, 2, 7, 187, 188, 189, 376, 1000, 65536] {
            let (got, _) = frame(input, chunk);
            assert_eq!(got, expect, "chunk size {chunk}");
        }
    }

    #[test]
    fn clean_stream_any_chunking() {
        check(&stream(&[1, 2, 3, 4, 5]), &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn garbage_before_and_between() {
        let mut s = vec![0x11, 0x47, 0x00, 0x47];
        s.extend(stream(&[1, 2]));
        s.extend([0x47u8, 9, 9, 0x47, 0x47, 3]);
        s.extend(stream(&[3, 4]));
        check(&s, &[1, 2, 3, 4]);
        let (_, stats) = frame(&s, 7);
        assert_eq!(stats.skipped_bytes, 10);
        assert_eq!(stats.sync_losses, 2);
    }

    #[test]
    fn garbage_after_a_whole_packet_is_one_sync_loss() {
        let mut s = stream(&[1, 2]);
        s.extend([0x55u8; 1000]);
        s.extend(stream(&[3, 4]));
        check(&s, &[1, 2, 3, 4]);
        for chunk in [1, 7, 188, 65536] {
            let (_, stats) = frame(&s, chunk);
            assert_eq!(
                (stats.sync_losses, stats.skipped_bytes),
                (1, 1000),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn truncated_packet_is_dropped_and_next_kept() {
        let mut s = stream(&[1, 2]);
        s.extend(&packet(7)[..100]);
        s.extend(stream(&[3, 4, 5]));
        check(&s, &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn truncated_tail_is_dropped() {
        let mut s = stream(&[1, 2]);
        s.extend(&packet(7)[..50]);
        check(&s, &[1, 2]);
    }

    #[test]
    fn sniffing() {
        assert_eq!(looks_like_ts(&stream(&[1, 2, 3, 4])), None);
        let mut s = vec![0u8; 1000];
        s.extend(stream(&[1, 2, 3, 4, 5]));
        assert_eq!(looks_like_ts(&s), Some(true));
        assert_eq!(looks_like_ts(&[0x47; 100]), None);
        assert_eq!(looks_like_ts(&vec![0u8; SNIFF_LEN + 10]), Some(false));
        let text = b"GET / HTTP/1.1\r\n".repeat(5000);
        assert_eq!(looks_like_ts(&text), Some(false));
    }

    #[test]
    fn pure_garbage_yields_nothing() {
        let s: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8 | 1).collect();
        check(&s, &[]);
    }
}
