//! A bound on how many small chunks a publish may send: each transport chunk costs hlsd a
//! fixed amount of work (a body frame, a wake-up, a segmenter call) whatever its size, so a
//! publisher sending 1-byte chunks makes hlsd spend ~190 times the CPU per byte of one
//! sending whole TS packets, and `limits.max_ingest_speed` (media time) does not see it.
//!
//! A [`ChunkBound`] is a token bucket, sans-I/O (time passed in), counted in bytes: a chunk
//! costs one TS packet's worth ([`PACKET`]) and brings its own length back, so chunks of a
//! packet or more never drain it; wall-clock time refills it at [`SMALL_CHUNKS_PER_SEC`]
//! packets' worth a second, up to [`BURST_CHUNKS`] of them. When it runs dry the transport
//! stops reading for [`ChunkBound::chunk`]'s answer (TCP backpressure slows the publisher;
//! nothing is refused or dropped). A publisher of chunks smaller than a packet is so held
//! to about that many chunks a second, and its CPU to a few percent of a core.

use super::pace::MIN_PAUSE_MS;

/// Bytes a chunk must carry to cost nothing: one TS packet.
pub const PACKET: i64 = 188;
/// Chunks a second a publish may send beyond what its bytes pay for.
pub const SMALL_CHUNKS_PER_SEC: i64 = 30_000;
/// Chunks that may come at once beyond what their bytes pay for.
pub const BURST_CHUNKS: i64 = 4_096;

const CAPACITY: i64 = BURST_CHUNKS * PACKET;
/// Refill, in bytes of credit per millisecond.
const PER_MS: i64 = SMALL_CHUNKS_PER_SEC * PACKET / 1000;

#[derive(Debug, Clone)]
pub struct ChunkBound {
    /// Bytes of credit (negative: owed).
    credit: i64,
    /// When the credit was last refilled.
    refilled_ms: i64,
}

impl ChunkBound {
    pub fn new(now_ms: i64) -> ChunkBound {
        ChunkBound {
            credit: CAPACITY,
            refilled_ms: now_ms,
        }
    }

    /// A chunk of `len` bytes arrived at `now_ms`: how many milliseconds to stop reading
    /// before taking it on, if any. One addition and one comparison while the bucket holds
    /// credit; the time since the last refill is only looked at when it does not, so a
    /// refill may count one bucket's worth more than a strict bucket would.
    pub fn chunk(&mut self, len: usize, now_ms: i64) -> Option<u64> {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        self.credit = self.credit.saturating_add(len - PACKET).min(CAPACITY);
        if self.credit >= 0 {
            return None;
        }
        let elapsed = (now_ms - self.refilled_ms).max(0);
        self.refilled_ms = now_ms;
        self.credit = self
            .credit
            .saturating_add(elapsed.saturating_mul(PER_MS))
            .min(CAPACITY);
        // A deficit shorter than a pause is carried to the next chunks.
        let wait_ms = -self.credit / PER_MS;
        (wait_ms >= MIN_PAUSE_MS).then_some(wait_ms as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` chunks of `len` bytes as fast as allowed from `now`, sleeping each pause;
    /// returns the time when the last was taken on and the pauses' count.
    fn send(b: &mut ChunkBound, n: usize, len: usize, mut now: i64) -> (i64, usize) {
        let mut pauses = 0;
        for _ in 0..n {
            if let Some(ms) = b.chunk(len, now) {
                now += ms as i64;
                pauses += 1;
            }
        }
        (now, pauses)
    }

    #[test]
    fn chunks_of_a_packet_or_more_never_wait() {
        for len in [188, 1316, 32 * 1024, 1 << 20] {
            let mut b = ChunkBound::new(0);
            assert_eq!(send(&mut b, 1_000_000, len, 0), (0, 0), "{len}");
        }
    }

    #[test]
    fn a_burst_of_small_chunks_is_taken_at_once() {
        let mut b = ChunkBound::new(0);
        let free = (0..).take_while(|_| b.chunk(1, 0).is_none()).count() as i64;
        // The burst, then the deficit a pause is too short for.
        let expected = (CAPACITY + MIN_PAUSE_MS * PER_MS) / (PACKET - 1);
        assert!((free - expected).abs() <= 1, "{free} against {expected}");
    }

    #[test]
    fn one_byte_chunks_are_held_to_the_rate() {
        let mut b = ChunkBound::new(0);
        let n = 20 * SMALL_CHUNKS_PER_SEC as usize;
        let (end, pauses) = send(&mut b, n, 1, 0);
        // What the burst does not pay for, refilled at the rate.
        let expected = (n as i64 * (PACKET - 1) - CAPACITY) / PER_MS;
        assert!(
            (end - expected).abs() <= MIN_PAUSE_MS,
            "{end} ms, expected {expected}"
        );
        // Pauses of at least MIN_PAUSE_MS: a timer per 50 ms at most.
        assert!(pauses as i64 <= end / MIN_PAUSE_MS, "{pauses} pauses");
    }

    #[test]
    fn time_refills_the_bucket_up_to_the_burst() {
        let mut b = ChunkBound::new(0);
        let (t, _) = send(&mut b, 3 * BURST_CHUNKS as usize, 1, 0);
        assert!(t > 0);
        // An hour of silence (or of whole packets) grants one burst, not an hour's worth.
        let later = t + 3_600_000;
        assert_eq!(send(&mut b, 1000, 1316, later), (later, 0));
        let (t2, _) = send(&mut b, 3 * BURST_CHUNKS as usize, 1, later);
        assert!(t2 - later >= t - 100, "{} ms against {t}", t2 - later);
    }

    #[test]
    fn a_huge_chunk_does_not_overflow() {
        let mut b = ChunkBound::new(i64::MIN / 2);
        assert_eq!(b.chunk(usize::MAX, 0), None);
        assert_eq!(
            send(&mut b, 2 * BURST_CHUNKS as usize, 1, i64::MAX / 2).1,
            0
        );
    }
}
