//! The rolling window of one rendition: which segments are listed, which have left the
//! playlist but must stay downloadable (RFC 8216bis §6.2.2), media and discontinuity
//! sequence numbers (§4.4.3.2, §4.4.3.3). Time is passed in as milliseconds.

use crate::segmenter::Segment;
use crate::ts::Ts;
use bytes::Bytes;
use std::collections::VecDeque;

/// A segment held for serving.
#[derive(Debug, Clone)]
pub struct StoredSegment {
    pub msn: u64,
    /// Token of the session that made it; part of its URI.
    pub token: u64,
    pub data: Bytes,
    pub duration: Ts,
    pub pdt_ms: i64,
    pub discontinuity: bool,
    pub independent: bool,
}

impl StoredSegment {
    /// The segment's URI, relative to its media playlist.
    pub fn uri(&self) -> String {
        segment_uri(self.token, self.msn)
    }
}

pub fn segment_uri(token: u64, msn: u64) -> String {
    format!("seg-{token:x}-{msn}.ts")
}

/// Parses a URI made by [`segment_uri`].
pub fn parse_segment_uri(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("seg-")?.strip_suffix(".ts")?;
    let (token, msn) = rest.split_once('-')?;
    Some((u64::from_str_radix(token, 16).ok()?, msn.parse().ok()?))
}

#[derive(Debug)]
pub struct Window {
    size: usize,
    listed: VecDeque<StoredSegment>,
    /// Segments that left the playlist, with the time (ms) until which they stay fetchable.
    retired: VecDeque<(StoredSegment, i64)>,
    next_msn: u64,
    discontinuity_sequence: u64,
    discontinuity_next: bool,
    ended: bool,
    /// End of the last segment on the PDT timeline, so PDT never goes backwards.
    pdt_end_ms: Option<i64>,
}

impl Window {
    /// A window listing `size` segments, whose first segment gets media sequence 1.
    pub fn new(size: usize) -> Self {
        Window {
            size: size.max(1),
            listed: VecDeque::new(),
            retired: VecDeque::new(),
            next_msn: 1,
            discontinuity_sequence: 0,
            discontinuity_next: false,
            ended: false,
            pdt_end_ms: None,
        }
    }

    pub fn listed(&self) -> impl ExactSizeIterator<Item = &StoredSegment> + Clone {
        self.listed.iter()
    }

    /// Every segment that can be fetched now: listed ones and retired ones not yet expired.
    pub fn fetchable(&self) -> impl Iterator<Item = &StoredSegment> {
        self.retired
            .iter()
            .map(|(s, _)| s)
            .chain(self.listed.iter())
    }

    pub fn media_sequence(&self) -> u64 {
        self.listed.front().map_or(self.next_msn, |s| s.msn)
    }

    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next segment pushed follows a discontinuity (a publisher reconnected).
    pub fn mark_discontinuity(&mut self) {
        if !self.listed.is_empty() {
            self.discontinuity_next = true;
        }
    }

    /// Media duration of the listed segments.
    pub fn duration(&self) -> Ts {
        self.listed.iter().fold(Ts(0), |a, s| a + s.duration)
    }

    /// Adds a finished segment; returns its media sequence number.
    pub fn push(&mut self, seg: Segment, token: u64, now_ms: i64) -> u64 {
        let msn = self.next_msn;
        self.next_msn += 1;
        let pdt_ms = self
            .pdt_end_ms
            .map_or(seg.pdt_ms, |end| seg.pdt_ms.max(end));
        self.pdt_end_ms = Some(pdt_ms + seg.duration.0 / 90);
        self.listed.push_back(StoredSegment {
            msn,
            token,
            data: seg.data,
            duration: seg.duration,
            pdt_ms,
            discontinuity: seg.discontinuity || std::mem::take(&mut self.discontinuity_next),
            independent: seg.independent,
        });
        while self.listed.len() > self.size {
            self.retire_front(now_ms);
        }
        self.prune(now_ms);
        msn
    }

    fn retire_front(&mut self, now_ms: i64) {
        // §6.2.2: available for its own duration plus the longest playlist that listed it.
        let playlist_ms = self.duration().0 / 90;
        if let Some(s) = self.listed.pop_front() {
            if s.discontinuity {
                self.discontinuity_sequence += 1;
            }
            let until = now_ms + s.duration.0 / 90 + playlist_ms;
            self.retired.push_back((s, until));
        }
    }

    /// Frees retired segments whose time is up.
    pub fn prune(&mut self, now_ms: i64) {
        self.retired.retain(|(_, until)| *until > now_ms);
    }

    /// The last segment is in: the playlist gets EXT-X-ENDLIST.
    pub fn end(&mut self) {
        self.ended = true;
        self.discontinuity_next = false;
    }

    /// A new session after the end: the listed segments retire, numbering continues.
    pub fn restart(&mut self, now_ms: i64) {
        while !self.listed.is_empty() {
            self.retire_front(now_ms);
        }
        self.ended = false;
        self.discontinuity_next = false;
        self.pdt_end_ms = None;
    }

    pub fn find(&self, token: u64, msn: u64) -> Option<&StoredSegment> {
        self.fetchable().find(|s| s.msn == msn && s.token == token)
    }

    /// Bytes held, listed and retired.
    pub fn bytes(&self) -> usize {
        self.fetchable().map(|s| s.data.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(secs: f64, disc: bool) -> Segment {
        Segment {
            data: Bytes::from(vec![0u8; 1000]),
            start: Ts(0),
            duration: Ts::from_secs(secs),
            independent: true,
            discontinuity: disc,
            pdt_ms: 0,
        }
    }

    #[test]
    fn window_rolls_and_retains() {
        let mut w = Window::new(3);
        for i in 0..5 {
            w.push(seg(2.0, i == 1), 7, i * 2000);
        }
        let listed: Vec<u64> = w.listed().map(|s| s.msn).collect();
        assert_eq!(listed, vec![3, 4, 5]);
        assert_eq!(w.media_sequence(), 3);
        // Segment 2 carried the discontinuity and has left.
        assert_eq!(w.discontinuity_sequence(), 1);
        // Segment 2 left at t=8000, when the playlist (counting the segment that pushed it
        // out) held 8 s: fetchable until 8000 + 2000 + 8000.
        assert!(w.find(7, 2).is_some());
        w.prune(17_999);
        assert!(w.find(7, 2).is_some());
        w.prune(18_000);
        assert!(w.find(7, 2).is_none());
        assert!(w.find(8, 3).is_none(), "another session's token");
    }

    #[test]
    fn pdt_never_goes_back() {
        let mut w = Window::new(5);
        let mut a = seg(2.0, false);
        a.pdt_ms = 10_000;
        let mut b = seg(2.0, false);
        b.pdt_ms = 11_000;
        w.push(a, 1, 0);
        w.push(b, 1, 0);
        let pdts: Vec<i64> = w.listed().map(|s| s.pdt_ms).collect();
        assert_eq!(pdts, vec![10_000, 12_000]);
    }

    #[test]
    fn restart_continues_numbering() {
        let mut w = Window::new(3);
        w.push(seg(2.0, false), 1, 0);
        w.push(seg(2.0, false), 1, 0);
        w.end();
        w.restart(5000);
        assert!(!w.is_ended());
        assert_eq!(w.media_sequence(), 3);
        assert_eq!(w.push(seg(2.0, false), 2, 5000), 3);
        assert!(
            w.find(1, 2).is_some(),
            "old session still fetchable for a while"
        );
    }

    #[test]
    fn uris_round_trip() {
        assert_eq!(
            parse_segment_uri(&segment_uri(0xabc123, 42)),
            Some((0xabc123, 42))
        );
        assert_eq!(parse_segment_uri("seg-zz-1.ts"), None);
        assert_eq!(parse_segment_uri("seg-1-.ts"), None);
    }
}
