//! The shell's clock: wall-clock milliseconds that never jump, taken from the monotonic
//! clock (tokio's, so tests can pause time) anchored to the wall clock at start.

use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    wall_start_ms: i64,
}

impl Clock {
    pub fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Clock {
            start: Instant::now(),
            wall_start_ms: wall,
        }
    }

    /// Unix milliseconds, monotonic.
    pub fn now_ms(&self) -> i64 {
        self.ms_at(Instant::now())
    }

    /// Unix milliseconds at `t` (an instant already read: one clock read serves both).
    pub fn ms_at(&self, t: Instant) -> i64 {
        self.wall_start_ms + t.saturating_duration_since(self.start).as_millis() as i64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// A token that differs between sessions of a feed and between runs of the server, so no
/// URL is ever reused with different bytes (48 bits, printed as hex).
pub fn new_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process; the counter separates tokens within one.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() & 0xFFFF_FFFF_FFFF) | 0x1000_0000_0000
}
