//! Where a new feed's numbering starts: media sequence 1 and discontinuity sequence 0 by
//! default, or, with `hls.clock_numbering`, both at the Unix time in milliseconds when the
//! feed was created on this origin, so that numbering continues forward when a feed moves
//! from one origin to another (a failover behind `deploy/nginx/shard.conf`) or comes back
//! to the same origin after it was removed.
//!
//! Why that goes forward. An origin that created the feed at time `t0` (its clock) numbers
//! one segment per MSN from `t0` in milliseconds; a feed's renditions share that start, and
//! a reconnect or a new session on that origin continues the count (DESIGN invariant 5). By
//! the time a later origin creates the feed at `t1`, the earlier one has reached
//! `t0 + n - 1` for `n` segments made, and its discontinuity sequence at most `t0 + n - 1`
//! too (at most one discontinuity per segment). The later origin starts both at `t1`,
//! strictly above those, whenever `n < t1 - t0` (in milliseconds): the feed made fewer than
//! one segment per millisecond of its life on the earlier origin. The segmenter
//! (`segmenter::cutter`) cuts a segment at the first keyframe at or after
//! `hls.segment_duration` of media time (less half a frame of tolerance), and cuts a
//! shorter one only at an event: a timestamp jump (5 s forwards, 1 s backwards), a GOP
//! overrun (after the target duration), a frozen or stalled clock, a reconnect or a new
//! session (a new HTTP publish, at least a round trip). A publisher in real time therefore
//! makes about one segment per `segment_duration` plus one per such event, far below one
//! per millisecond over the feed's life. Only a publisher sending media about
//! 1000 × `segment_duration` (in seconds) times faster than real time, with
//! `limits.max_ingest_speed = 0` (unpaced), for the whole life of the feed, could outrun
//! the clock; a burst of one window at the start cannot (the later origin creates the feed
//! a reconnect later: 1 s with `hlsd push --reconnect`).
//!
//! The origins' clocks must agree better than the feed's life on the earlier origin minus
//! its segments in milliseconds: NTP keeps them within milliseconds, and the earlier
//! origin held the feed at least one segment.
//!
//! Part URIs keep their form (`part-{token}-{msn}.{i}.ts`), with a 13-digit MSN; 13 digits
//! are far below 2^53, so JavaScript players (hls.js parses MSNs into doubles) keep them
//! exact.

/// The media sequence number and discontinuity sequence of a feed created at `now_ms`
/// (Unix milliseconds).
pub fn first_numbers(clock_numbering: bool, now_ms: i64) -> (u64, u64) {
    if clock_numbering {
        let ms = u64::try_from(now_ms).unwrap_or(0).max(1);
        (ms, ms)
    } else {
        (1, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_numbering_starts_at_one() {
        assert_eq!(first_numbers(false, 1_764_921_600_000), (1, 0));
    }

    #[test]
    fn clock_numbering_starts_at_the_unix_milliseconds() {
        assert_eq!(
            first_numbers(true, 1_764_921_600_123),
            (1_764_921_600_123, 1_764_921_600_123)
        );
        // A clock before 1970 still gives a valid first MSN.
        assert_eq!(first_numbers(true, -5), (1, 1));
    }
}
