//! `limits.max_ingest_bitrate`: bits of media per second of media time, per rendition.
//!
//! A [`BitrateMeter`] is sans-I/O: it is given each part the segmenter cuts (its bytes, as
//! served, and its media duration) and measures over a sliding span of at least
//! [`MIN_SPAN`] of media time. Media time, not wall-clock time, so a publisher faster than
//! real time (a backlog, `hlsd push --fast`) is not mistaken for a heavy stream, and one
//! slower than real time is not let through with more. Part durations never include the gap
//! of a timestamp jump, so a discontinuity needs no special case. Parts are summed into
//! buckets of at least [`BUCKET`] so that the meter holds a dozen entries whatever the
//! part sizes.

use crate::ts::Ts;
use std::collections::VecDeque;

/// The shortest span of media time a rate is judged over.
pub const MIN_SPAN: Ts = Ts(10 * Ts::HZ);
/// Media time summed into one entry.
const BUCKET: Ts = Ts(Ts::HZ);

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    duration: Ts,
    bytes: u64,
}

#[derive(Debug, Clone)]
pub struct BitrateMeter {
    limit_bps: u64,
    /// Closed buckets, oldest first, and their sums.
    buckets: VecDeque<Bucket>,
    total: Bucket,
    open: Bucket,
}

/// A rendition over its limit: what was measured, over how much media time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverLimit {
    pub measured_bps: u64,
    pub allowed_bps: u64,
    pub span_secs: f64,
}

impl BitrateMeter {
    /// A meter refusing more than `limit_bps`; `None` for 0 (unlimited).
    pub fn new(limit_bps: u64) -> Option<BitrateMeter> {
        (limit_bps > 0).then(|| BitrateMeter {
            limit_bps,
            buckets: VecDeque::new(),
            total: Bucket::default(),
            open: Bucket::default(),
        })
    }

    /// Counts a part of `bytes` lasting `duration`; answers whether the rendition is now
    /// over its limit, measured over at least [`MIN_SPAN`].
    pub fn part(&mut self, duration: Ts, bytes: usize) -> Option<OverLimit> {
        self.open.duration = self.open.duration + duration.max(Ts(0));
        self.open.bytes += bytes as u64;
        if self.open.duration < BUCKET {
            return None;
        }
        let b = std::mem::take(&mut self.open);
        self.buckets.push_back(b);
        self.total.duration = self.total.duration + b.duration;
        self.total.bytes += b.bytes;
        // Keep the shortest tail of buckets that still spans MIN_SPAN.
        while let Some(front) = self.buckets.front().copied() {
            if self.total.duration - front.duration < MIN_SPAN {
                break;
            }
            self.buckets.pop_front();
            self.total.duration = self.total.duration - front.duration;
            self.total.bytes -= front.bytes;
        }
        if self.total.duration < MIN_SPAN {
            return None;
        }
        let span_secs = self.total.duration.secs();
        let measured_bps = (self.total.bytes as f64 * 8.0 / span_secs) as u64;
        (measured_bps > self.limit_bps).then_some(OverLimit {
            measured_bps,
            allowed_bps: self.limit_bps,
            span_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `secs` of parts of `part_s` at `bps`; returns the first verdict, with the media
    /// time at which it came.
    fn feed(m: &mut BitrateMeter, secs: f64, part_s: f64, bps: f64) -> Option<(f64, OverLimit)> {
        let mut t = 0.0;
        while t < secs - 1e-9 {
            let bytes = (bps * part_s / 8.0) as usize;
            t += part_s;
            if let Some(o) = m.part(Ts::from_secs(part_s), bytes) {
                return Some((t, o));
            }
        }
        None
    }

    #[test]
    fn zero_is_unlimited() {
        assert!(BitrateMeter::new(0).is_none());
    }

    #[test]
    fn under_the_limit_passes_forever() {
        let mut m = BitrateMeter::new(4_000_000).unwrap();
        assert_eq!(feed(&mut m, 600.0, 0.25, 3_900_000.0), None);
        // Bounded whatever the length of the publish.
        assert!(m.buckets.len() <= 11, "{}", m.buckets.len());
    }

    #[test]
    fn over_the_limit_is_judged_after_ten_seconds_of_media() {
        let mut m = BitrateMeter::new(1_000_000).unwrap();
        let (at, o) = feed(&mut m, 60.0, 0.25, 2_000_000.0).unwrap();
        assert!((10.0..=11.0).contains(&at), "judged at {at} s of media");
        assert!((1_990_000..=2_010_000).contains(&o.measured_bps), "{o:?}");
        assert_eq!(o.allowed_bps, 1_000_000);
        assert!(o.span_secs >= 10.0);
    }

    #[test]
    fn a_short_peak_is_averaged_over_the_span() {
        let mut m = BitrateMeter::new(2_000_000).unwrap();
        assert_eq!(feed(&mut m, 20.0, 0.5, 1_000_000.0), None);
        // Two seconds at two and a half times the limit: the 10 s mean stays under it.
        assert_eq!(feed(&mut m, 2.0, 0.5, 5_000_000.0), None);
        assert_eq!(feed(&mut m, 20.0, 0.5, 1_000_000.0), None);
        // Sustained, it is caught within a span.
        assert!(feed(&mut m, 12.0, 0.5, 3_000_000.0).is_some());
    }

    #[test]
    fn long_parts_and_tiny_parts_alike() {
        for part_s in [0.001, 0.04, 2.0, 6.0] {
            let mut m = BitrateMeter::new(1_000_000).unwrap();
            assert_eq!(feed(&mut m, 60.0, part_s, 900_000.0), None, "{part_s}");
            let (at, _) = feed(&mut m, 60.0, part_s, 1_500_000.0).unwrap();
            assert!(at <= 30.0, "{part_s}: caught after {at} s");
            assert!(m.buckets.len() <= 11, "{}", m.buckets.len());
        }
    }
}
