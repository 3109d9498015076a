//! What the renditions of one feed share and agree on (RFC 8216bis §6.2.4, §4.4.3.8): one
//! target duration, one SERVER-CONTROL (PART-HOLD-BACK from the longest PART-TARGET), the
//! media sequence numbers of segments that start at the same media time, and each other's
//! last positions for EXT-X-RENDITION-REPORT.

use crate::ts::Ts;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Segment starts remembered per rendition, to match a joining rendition's first segment.
const STARTS_KEPT: usize = 64;

#[derive(Debug, Default)]
pub struct Siblings {
    target_duration: Option<u32>,
    part_targets: BTreeMap<String, Ts>,
    first_part_target: Option<Ts>,
    positions: BTreeMap<String, (u64, u64)>,
    /// (start, MSN, PROGRAM-DATE-TIME) of recent segments, per rendition.
    starts: BTreeMap<String, VecDeque<(Ts, u64, i64)>>,
    /// The PROGRAM-DATE-TIME at which fMP4 decode time 0 lies, once a rendition packages.
    fmp4_zero_ms: Option<i64>,
}

/// The feed's [`Siblings`], shared by its renditions (a leaf lock: taken last, held briefly),
/// and two flags every ingest lane of the feed reads per chunk without the lock.
#[derive(Debug, Default, Clone)]
pub struct SharedSiblings {
    inner: Arc<Mutex<Siblings>>,
    flags: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    /// An fMP4 URL of the feed was requested: every rendition packages fMP4.
    fmp4_wanted: AtomicBool,
    /// A rendition of the feed is HEVC (`hls.container = "auto"` serves fMP4).
    hevc: AtomicBool,
}

/// Decode time at a feed's first packaged segment: room for audio that starts before it.
const FMP4_LEAD_MS: i64 = 10_000;

impl SharedSiblings {
    pub fn lock(&self) -> MutexGuard<'_, Siblings> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fmp4_wanted(&self) -> bool {
        self.flags.fmp4_wanted.load(Ordering::Relaxed)
    }

    /// Records that an fMP4 URL of the feed was requested (a load first: every fMP4
    /// request reads the flag, and it is set once).
    pub fn want_fmp4(&self) {
        if !self.fmp4_wanted() {
            self.flags.fmp4_wanted.store(true, Ordering::Relaxed);
        }
    }

    pub fn hevc(&self) -> bool {
        self.flags.hevc.load(Ordering::Relaxed)
    }

    pub fn set_hevc(&self) {
        self.flags.hevc.store(true, Ordering::Relaxed);
    }
}

impl Siblings {
    pub fn target_duration(&self) -> Option<u32> {
        self.target_duration
    }

    /// The feed's target duration: the first rendition's, which later ones take on.
    pub fn agree_target_duration(&mut self, td: u32) -> u32 {
        *self.target_duration.get_or_insert(td)
    }

    pub fn set_part_target(&mut self, name: &str, pt: Ts) {
        self.first_part_target.get_or_insert(pt);
        self.part_targets.insert(name.to_string(), pt);
    }

    /// The PART-TARGET of the feed's first rendition to fix one.
    pub fn first_part_target(&self) -> Option<Ts> {
        self.first_part_target
    }

    /// The longest PART-TARGET of the feed, from which PART-HOLD-BACK is derived so that
    /// every rendition advertises the same SERVER-CONTROL.
    pub fn longest_part_target(&self) -> Option<Ts> {
        self.part_targets.values().copied().max()
    }

    pub fn set_position(&mut self, name: &str, position: Option<(u64, u64)>) {
        match position {
            Some(p) => self.positions.insert(name.to_string(), p),
            None => self.positions.remove(name),
        };
    }

    /// Other renditions' (name, last MSN, last part).
    pub fn others(&self, name: &str) -> impl Iterator<Item = (&str, u64, u64)> {
        self.positions
            .iter()
            .filter(move |(n, _)| *n != name)
            .map(|(n, &(m, p))| (n.as_str(), m, p))
    }

    /// Remembers that `name`'s segment `msn` starts at `start`; returns whether another
    /// rendition has a segment starting at the same time, and if so whether it has the same
    /// MSN (the renditions are aligned).
    pub fn record_start(&mut self, name: &str, start: Ts, msn: u64, pdt_ms: i64) -> Option<bool> {
        let seen = self.msn_at(name, start).map(|(other, _)| other == msn);
        let q = self.starts.entry(name.to_string()).or_default();
        q.push_back((start, msn, pdt_ms));
        if q.len() > STARTS_KEPT {
            q.pop_front();
        }
        seen
    }

    /// The MSN and PROGRAM-DATE-TIME another rendition gave to a segment starting at
    /// `start`.
    pub fn msn_at(&self, name: &str, start: Ts) -> Option<(u64, i64)> {
        self.starts
            .iter()
            .filter(|(n, _)| *n != name)
            .find_map(|(_, q)| {
                q.iter()
                    .find(|(s, ..)| *s == start)
                    .map(|&(_, m, p)| (m, p))
            })
    }

    /// The PROGRAM-DATE-TIME (ms) at which the feed's fMP4 decode time is 0: fixed by the
    /// first segment packaged (`pdt_ms`), 10 s before it so that audio ahead of it keeps a
    /// decode time of its own. A packager's origin is its segment's start minus the time
    /// from there to `pdt_ms`, so renditions (same PDT at the same media time) share it
    /// and, after a reconnect, decode times go on from the PDT.
    pub fn fmp4_zero_ms(&mut self, pdt_ms: i64) -> i64 {
        *self.fmp4_zero_ms.get_or_insert(pdt_ms - FMP4_LEAD_MS)
    }

    pub fn leave(&mut self, name: &str) {
        self.positions.remove(name);
        self.part_targets.remove(name);
        self.starts.remove(name);
        if self.positions.is_empty() && self.starts.is_empty() {
            self.target_duration = None;
            self.first_part_target = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement() {
        let mut s = Siblings::default();
        assert_eq!(s.agree_target_duration(2), 2);
        assert_eq!(
            s.agree_target_duration(3),
            2,
            "the first rendition's target duration holds"
        );
        s.set_part_target("720p", Ts(25_000));
        s.set_part_target("audio", Ts(28_000));
        assert_eq!(s.longest_part_target(), Ts(28_000).into());
        assert_eq!(s.record_start("720p", Ts(90_000), 5, 1000), None);
        assert_eq!(s.msn_at("360p", Ts(90_000)), Some((5, 1000)));
        assert_eq!(s.msn_at("720p", Ts(90_000)), None, "not its own");
        assert_eq!(s.record_start("360p", Ts(90_000), 5, 1000), Some(true));
        assert_eq!(s.record_start("360p", Ts(270_000), 7, 3000), None);
        assert_eq!(s.record_start("720p", Ts(270_000), 6, 3000), Some(false));
        s.set_position("720p", Some((6, 3)));
        s.set_position("360p", Some((7, 1)));
        let others: Vec<_> = s.others("720p").collect();
        assert_eq!(others, vec![("360p", 7, 1)]);
    }
}
