//! The DVR prefix of a live media playlist (`hls.dvr_window`): the segments that left the
//! rolling window but are still within the DVR window, listed before the window's own, their
//! bytes served from the recording.
//!
//! Rendered incrementally: each segment's lines are written once, when it leaves the window
//! ([`DvrPrefix::append`]), onto an append-only text; segments older than the DVR window are
//! trimmed from its head ([`DvrPrefix::trim`]) by moving a start offset (the dead head is
//! dropped once it is as long as the live text, so trimming costs O(1) amortised). A
//! playlist rendering copies the text whole (or from the first segment a delta update
//! keeps) and formats only the window's segments, so a rendering at every part does not
//! grow with the DVR length. Memory: one small entry and ~100 bytes of text per segment.
//!
//! The lines are the ones the window wrote for the segment (EXT-X-DISCONTINUITY, in fMP4
//! EXT-X-MAP where the init changes, one EXT-X-PROGRAM-DATE-TIME, EXTINF, URI; no
//! EXT-X-PART: parts are listed only for the last three target durations, §6.2.2), so a
//! segment keeps its URI, date, init and discontinuity across reloads as it moves from the
//! window into the prefix; a segment the recording lost gets EXT-X-GAP (§4.4.4.7). The first
//! segment a rendering copies gets the EXT-X-MAP of its init written before it when its own
//! lines have none ([`DvrPrefix::write_from`]).

use super::date::write_iso8601;
use super::media::write_decimal;
use super::window::{Container, init_uri};
use crate::ts::Ts;
use std::collections::VecDeque;
use std::fmt::Write;

/// What the prefix keeps of a segment that left the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftSegment {
    pub msn: u64,
    pub token: u64,
    pub duration: Ts,
    pub pdt_ms: i64,
    pub discontinuity: bool,
    pub independent: bool,
    /// fMP4: the init its first part was packaged with (`None`: not packaged).
    pub init: Option<u32>,
}

const DISCONTINUITY: &str = "#EXT-X-DISCONTINUITY\n";

#[derive(Debug, Clone, Copy)]
struct Entry {
    msn: u64,
    duration: Ts,
    discontinuity: bool,
    independent: bool,
    /// Where its lines start in `text` (absolute: `dropped` + index).
    at: usize,
    /// fMP4: the init in effect for it (its own, else the one before it).
    init: Option<u32>,
    /// Its lines carry the EXT-X-MAP of `init`.
    mapped: bool,
}

/// The prefix of one rendering (one container) of a rendition's playlist.
#[derive(Debug)]
pub struct DvrPrefix {
    container: Container,
    /// The session (token) whose segments are listed: a new one starts an empty prefix.
    token: Option<u64>,
    entries: VecDeque<Entry>,
    text: String,
    /// Bytes cut off the front of `text` so far (entries' `at` are offsets before the cut).
    dropped: usize,
    /// Where the first listed entry starts in `text`.
    head: usize,
    duration: Ts,
    discontinuities: u64,
    dependent: usize,
}

impl DvrPrefix {
    pub fn new(container: Container) -> Self {
        DvrPrefix {
            container,
            token: None,
            entries: VecDeque::new(),
            text: String::new(),
            dropped: 0,
            head: 0,
            duration: Ts(0),
            discontinuities: 0,
            dependent: 0,
        }
    }

    /// Empties the prefix (a new session).
    pub fn clear(&mut self) {
        *self = DvrPrefix::new(self.container);
    }

    /// The container whose URIs it lists.
    pub fn container(&self) -> Container {
        self.container
    }

    /// Lists a segment that left the window after the ones listed. It must follow the last
    /// one (MSN + 1) in the same session; otherwise the prefix starts again from it. `gap`:
    /// the recording lost it.
    pub fn append(&mut self, s: &LeftSegment, gap: bool) {
        let follows =
            self.token == Some(s.token) && self.entries.back().is_none_or(|e| e.msn + 1 == s.msn);
        if !follows {
            self.clear();
            self.token = Some(s.token);
        }
        let at = self.dropped + self.text.len();
        if s.discontinuity {
            self.text.push_str(DISCONTINUITY);
            self.discontinuities += 1;
        }
        // fMP4: EXT-X-MAP where the init changes, as the window wrote it.
        let before = self.last_init();
        let own = s.init.filter(|_| self.container == Container::Fmp4);
        let mapped = own.is_some_and(|n| before != Some(n));
        if let Some(n) = own.filter(|_| mapped) {
            let _ = writeln!(self.text, "#EXT-X-MAP:URI=\"{}\"", init_uri(s.token, n));
        }
        self.text.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_iso8601(&mut self.text, s.pdt_ms);
        self.text.push('\n');
        if gap {
            self.text.push_str("#EXT-X-GAP\n");
        }
        self.text.push_str("#EXTINF:");
        write_decimal(&mut self.text, s.duration, 3);
        let _ = writeln!(
            self.text,
            ",\nseg-{:x}-{}.{}",
            s.token,
            s.msn,
            self.container.extension()
        );
        if !s.independent {
            self.dependent += 1;
        }
        self.duration = self.duration + s.duration;
        self.entries.push_back(Entry {
            msn: s.msn,
            duration: s.duration,
            discontinuity: s.discontinuity,
            independent: s.independent,
            at,
            init: own.or(before),
            mapped,
        });
    }

    /// Drops the oldest segments while the prefix and a window of `window` media would
    /// reach back further than `span`.
    pub fn trim(&mut self, span: Ts, window: Ts) {
        while self.duration + window > span && self.pop_front() {}
        self.cut_head();
    }

    /// Drops the segments before `msn` (the recording no longer holds them).
    pub fn trim_before(&mut self, msn: u64) {
        if self.first_msn().is_none_or(|f| f >= msn) {
            return;
        }
        while self.first_msn().is_some_and(|f| f < msn) && self.pop_front() {}
        self.cut_head();
    }

    fn pop_front(&mut self) -> bool {
        let Some(e) = self.entries.pop_front() else {
            return false;
        };
        self.duration = self.duration - e.duration;
        if e.discontinuity {
            self.discontinuities -= 1;
        }
        if !e.independent {
            self.dependent -= 1;
        }
        true
    }

    fn cut_head(&mut self) {
        self.head = self
            .entries
            .front()
            .map_or(self.text.len(), |e| e.at - self.dropped);
        // The dead head is dropped once it is as long as the rest: amortised O(1) a trim.
        if self.head > 0 && self.head >= self.text.len() - self.head {
            self.text.drain(..self.head);
            self.dropped += self.head;
            self.head = 0;
        }
    }

    /// The session whose segments are listed.
    pub fn token(&self) -> Option<u64> {
        self.token
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// MSN of the first segment listed.
    pub fn first_msn(&self) -> Option<u64> {
        self.entries.front().map(|e| e.msn)
    }

    /// MSN of the last segment listed.
    pub fn last_msn(&self) -> Option<u64> {
        self.entries.back().map(|e| e.msn)
    }

    /// Media duration listed.
    pub fn duration(&self) -> Ts {
        self.duration
    }

    /// EXT-X-DISCONTINUITY tags listed.
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }

    /// Every listed segment starts with a keyframe.
    pub fn independent(&self) -> bool {
        self.dependent == 0
    }

    /// Durations of the listed segments, oldest first.
    pub fn durations(&self) -> impl Iterator<Item = Ts> + '_ {
        self.entries.iter().map(|e| e.duration)
    }

    /// fMP4: the init in effect for the last segment listed.
    pub fn last_init(&self) -> Option<u32> {
        self.entries.back().and_then(|e| e.init)
    }

    /// Writes the listed segments' lines from the `skip`-th on, with the EXT-X-MAP of the
    /// first one's init when its own lines have none (it was written with an earlier
    /// segment: trimmed, or skipped by a delta update).
    pub fn write_from(&self, out: &mut String, skip: usize) {
        let Some(e) = self.entries.get(skip) else {
            return;
        };
        let mut from = e.at - self.dropped;
        if let (Some(n), Some(token), false) = (e.init, self.token, e.mapped) {
            if e.discontinuity {
                out.push_str(DISCONTINUITY);
                from += DISCONTINUITY.len();
            }
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(token, n));
        }
        out.push_str(&self.text[from..]);
    }

    /// The listed segments' lines from the `skip`-th on, as appended.
    pub fn text_from(&self, skip: usize) -> &str {
        let from = self
            .entries
            .get(skip)
            .map_or(self.text.len(), |e| e.at - self.dropped);
        &self.text[from..]
    }

    /// Bytes held by the text (live and dead head).
    pub fn text_capacity(&self) -> usize {
        self.text.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(msn: u64, disc: bool) -> LeftSegment {
        LeftSegment {
            msn,
            token: 0xab,
            duration: Ts::from_secs(2.0),
            pdt_ms: 1_795_629_414_000 + 2000 * msn as i64,
            discontinuity: disc,
            independent: true,
            init: None,
        }
    }

    #[test]
    fn appended_lines_are_kept_and_trimmed_at_the_head() {
        let mut p = DvrPrefix::new(Container::Ts);
        for msn in 1..=100 {
            p.append(&left(msn, msn == 50), msn == 7);
            p.trim(Ts::from_secs(60.0), Ts::from_secs(6.0));
        }
        // 60 s back with a 6 s window: 27 segments of 2 s.
        assert_eq!(p.len(), 27);
        assert_eq!(p.first_msn(), Some(74));
        assert_eq!(p.last_msn(), Some(100));
        assert_eq!(p.discontinuities(), 0);
        let text = p.text_from(0);
        assert!(text.starts_with("#EXT-X-PROGRAM-DATE-TIME:"), "{text}");
        assert!(text.ends_with("#EXTINF:2.000,\nseg-ab-100.ts\n"), "{text}");
        assert_eq!(text.matches("#EXTINF").count(), 27);
        assert_eq!(p.text_from(26).matches("#EXTINF").count(), 1);
        assert_eq!(p.text_from(27), "");
        // The dead head does not grow without bound.
        assert!(p.text_capacity() < 4 * text.len() + 4096);
    }

    #[test]
    fn gaps_discontinuities_and_a_new_session() {
        let mut p = DvrPrefix::new(Container::Fmp4);
        p.append(&left(1, false), false);
        p.append(&left(2, true), true);
        let t = p.text_from(0);
        assert!(
            t.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{t}"
        );
        assert!(
            t.contains("#EXT-X-GAP\n#EXTINF:2.000,\nseg-ab-2.m4s\n"),
            "{t}"
        );
        assert_eq!(p.discontinuities(), 1);
        // Not the next MSN: the prefix starts again.
        p.append(&left(5, false), false);
        assert_eq!((p.first_msn(), p.len()), (Some(5), 1));
        let mut other = left(6, false);
        other.token = 0xcd;
        p.append(&other, false);
        assert_eq!((p.first_msn(), p.token()), (Some(6), Some(0xcd)));
        p.trim(Ts::from_secs(4.0), Ts::from_secs(6.0));
        assert!(p.is_empty());
        assert_eq!(p.text_from(0), "");
    }

    #[test]
    fn trimming_before_an_msn_drops_older_segments_only() {
        let mut p = DvrPrefix::new(Container::Ts);
        for msn in 1..=10 {
            p.append(&left(msn, msn == 3 || msn == 8), false);
        }
        p.trim_before(1);
        assert_eq!((p.first_msn(), p.len()), (Some(1), 10));
        p.trim_before(5);
        assert_eq!((p.first_msn(), p.len()), (Some(5), 6));
        assert_eq!(p.discontinuities(), 1);
        assert_eq!(p.duration(), Ts::from_secs(12.0));
        let t = p.text_from(0);
        assert!(t.starts_with("#EXT-X-PROGRAM-DATE-TIME:"), "{t}");
        assert!(!t.contains("seg-ab-4.ts"), "{t}");
        assert_eq!(t.matches("#EXTINF").count(), 6);
        p.trim_before(11);
        assert!(p.is_empty());
        assert_eq!(p.text_from(0), "");
    }
}
