//! The rolling window of one rendition: which segments (and LL-HLS parts) are listed, which
//! have left the playlist but must stay downloadable (RFC 8216bis §6.2.2), media and
//! discontinuity sequence numbers (§4.4.3.2, §4.4.3.3). Time is passed in as milliseconds.

use crate::segmenter::{PartBytes, PartEvent, Segment};
use crate::ts::Ts;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// A finished part held for serving; its bytes are shared with its segment.
#[derive(Debug, Clone)]
pub struct StoredPart {
    pub data: PartBytes,
    pub duration: Ts,
    pub independent: bool,
    /// The part as fMP4 (`moof` + `mdat`), when it was packaged.
    pub mp4: Option<Mp4Part>,
}

/// A part's fMP4 fragment and the number of the init it needs (`init-{token}-{n}.mp4`).
#[derive(Debug, Clone)]
pub struct Mp4Part {
    pub data: Bytes,
    pub init: u32,
}

impl StoredPart {
    /// Bytes held: TS, and fMP4 when packaged.
    pub fn held(&self) -> usize {
        self.data.len() + self.mp4.as_ref().map_or(0, |m| m.data.len())
    }
}

/// A segment held for serving: its parts, in order, are its bytes.
#[derive(Debug, Clone)]
pub struct StoredSegment {
    pub msn: u64,
    /// Token of the session that made it; part of its URI.
    pub token: u64,
    pub parts: Arc<[StoredPart]>,
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

    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, in both containers (what memory accounting counts).
    pub fn held(&self) -> usize {
        self.parts.iter().map(StoredPart::held).sum()
    }

    /// Every part was packaged as fMP4, with one of the `inits` that can be fetched.
    pub fn packaged(&self, inits: &[u32]) -> bool {
        self.parts.iter().all(|p| part_packaged(p, inits))
    }

    /// The init its first part needs, when packaged.
    pub fn init(&self) -> Option<u32> {
        self.parts.first()?.mp4.as_ref().map(|m| m.init)
    }
}

impl From<&StoredSegment> for super::dvr::LeftSegment {
    fn from(s: &StoredSegment) -> Self {
        super::dvr::LeftSegment {
            msn: s.msn,
            token: s.token,
            duration: s.duration,
            pdt_ms: s.pdt_ms,
            discontinuity: s.discontinuity,
            independent: s.independent,
            init: s.init(),
        }
    }
}

/// A part is servable as fMP4: packaged, and its init is one of `inits`.
pub fn part_packaged(p: &StoredPart, inits: &[u32]) -> bool {
    p.mp4.as_ref().is_some_and(|m| inits.contains(&m.init))
}

/// The segment being built: listed through its parts only (LL-HLS).
#[derive(Debug, Clone)]
pub struct BuildingSegment {
    pub msn: u64,
    pub token: u64,
    pub parts: Vec<StoredPart>,
    pub pdt_ms: i64,
    pub discontinuity: bool,
}

/// The container a media playlist and its segments are served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    Ts,
    Fmp4,
}

impl Container {
    /// Extension of its segment and part URIs.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Ts => "ts",
            Container::Fmp4 => "m4s",
        }
    }
}

/// What a segment-file name in a playlist URI refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaUri {
    Segment {
        token: u64,
        msn: u64,
        container: Container,
    },
    Part {
        token: u64,
        msn: u64,
        index: usize,
        container: Container,
    },
    /// An fMP4 init segment.
    Init { token: u64, number: u32 },
}

pub fn segment_uri(token: u64, msn: u64) -> String {
    format!("seg-{token:x}-{msn}.ts")
}

pub fn part_uri(token: u64, msn: u64, index: usize) -> String {
    part_uri_in(Container::Ts, token, msn, index)
}

pub fn part_uri_in(container: Container, token: u64, msn: u64, index: usize) -> String {
    format!("part-{token:x}-{msn}.{index}.{}", container.extension())
}

pub fn init_uri(token: u64, number: u32) -> String {
    format!("init-{token:x}-{number}.mp4")
}

/// Parses a URI made by [`segment_uri`], [`part_uri_in`] or [`init_uri`] (or the fMP4
/// rendering's segment URI).
pub fn parse_media_uri(name: &str) -> Option<MediaUri> {
    let container = |rest: &'_ str| -> Option<(Container, usize)> {
        if rest.ends_with(".ts") {
            Some((Container::Ts, 3))
        } else if rest.ends_with(".m4s") {
            Some((Container::Fmp4, 4))
        } else {
            None
        }
    };
    if let Some(rest) = name.strip_prefix("init-") {
        let (token, number) = rest.strip_suffix(".mp4")?.split_once('-')?;
        return Some(MediaUri::Init {
            token: u64::from_str_radix(token, 16).ok()?,
            number: number.parse().ok()?,
        });
    }
    if let Some(rest) = name.strip_prefix("seg-") {
        let (c, ext) = container(rest)?;
        let (token, msn) = rest[..rest.len() - ext].split_once('-')?;
        return Some(MediaUri::Segment {
            token: u64::from_str_radix(token, 16).ok()?,
            msn: msn.parse().ok()?,
            container: c,
        });
    }
    let rest = name.strip_prefix("part-")?;
    let (c, ext) = container(rest)?;
    let (token, rest) = rest[..rest.len() - ext].split_once('-')?;
    let (msn, index) = rest.split_once('.')?;
    Some(MediaUri::Part {
        token: u64::from_str_radix(token, 16).ok()?,
        msn: msn.parse().ok()?,
        index: index.parse().ok()?,
        container: c,
    })
}

#[derive(Debug)]
pub struct Window {
    size: usize,
    listed: VecDeque<StoredSegment>,
    building: Option<BuildingSegment>,
    /// Segments that left the playlist, with the time (ms) until which they stay fetchable.
    retired: VecDeque<(StoredSegment, i64)>,
    next_msn: u64,
    discontinuity_sequence: u64,
    discontinuity_next: bool,
    ended: bool,
    /// End of the last segment on the PDT timeline, so PDT never goes backwards.
    pdt_end_ms: Option<i64>,
    /// Retired segments stay at least this long (3 × TD with LL-HLS, §6.2.2).
    min_retention_ms: i64,
    /// PROGRAM-DATE-TIME for the next segment, taken from a sibling rendition.
    pdt_next: Option<i64>,
    /// Added to the segmenter's PROGRAM-DATE-TIMEs so that they follow a sibling's.
    pdt_shift: i64,
    /// Bytes of the listed, retired and building segments, kept as they change.
    listed_bytes: usize,
    retired_bytes: usize,
    building_bytes: usize,
    /// Bytes of the listed segments when the window was last full (or a session ended):
    /// what the retention cap is measured against.
    full_window_bytes: usize,
    /// Retired segments dropped before their time by the retention cap, and their bytes.
    capped_segments: u64,
    capped_bytes: u64,
    /// Segments that left the playlist since the last [`Window::take_left`], when tracked
    /// (a DVR prefix lists them).
    left: Option<Vec<super::dvr::LeftSegment>>,
}

/// Retired segments are kept by the time rule of §6.2.2, but their bytes never exceed this
/// many times the listed window's (DESIGN invariant 7). A publisher sending in real time
/// retires about one window's worth per window duration, so the cap only bites for one
/// sending faster than real time.
pub const RETIRED_CAP: usize = 2;

impl Window {
    /// A window listing `size` segments, whose first segment gets media sequence 1.
    pub fn new(size: usize) -> Self {
        Self::numbered_from(size, 1, 0)
    }

    /// A window listing `size` segments whose first segment gets media sequence `msn` (at
    /// least 1: hls.js stalls while the last MSN is 0) and whose discontinuity sequence
    /// starts at `discontinuity_sequence`. The shell's `hls.clock_numbering` takes both from
    /// the wall clock, so that a player moving to this window from another origin's sees
    /// both numbers go forward, and so a discontinuity.
    pub fn numbered_from(size: usize, msn: u64, discontinuity_sequence: u64) -> Self {
        Window {
            size: size.max(1),
            listed: VecDeque::new(),
            building: None,
            retired: VecDeque::new(),
            next_msn: msn.max(1),
            discontinuity_sequence,
            discontinuity_next: false,
            ended: false,
            pdt_end_ms: None,
            min_retention_ms: 0,
            pdt_next: None,
            pdt_shift: 0,
            listed_bytes: 0,
            retired_bytes: 0,
            building_bytes: 0,
            full_window_bytes: 0,
            capped_segments: 0,
            capped_bytes: 0,
            left: None,
        }
    }

    /// Keeps what each segment leaving the playlist was, for [`Window::take_left`].
    pub fn track_left(&mut self) {
        self.left.get_or_insert_with(Vec::new);
    }

    /// The segments that left the playlist since the last call, oldest first (none unless
    /// [`Window::track_left`] was called).
    pub fn take_left(&mut self) -> Vec<super::dvr::LeftSegment> {
        self.left.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A rendition joining its feed's other renditions takes the MSN they gave the segment
    /// starting at the same media time (§6.2.4), if that is not below its own numbering.
    /// Only before its first segment: MSNs within a playlist stay consecutive.
    /// Its PROGRAM-DATE-TIME is theirs too (DESIGN invariant 6).
    pub fn align_next(&mut self, msn: u64, pdt_ms: i64) {
        if self.listed.is_empty() && self.building.is_none() && msn >= self.next_msn {
            self.next_msn = msn;
            self.pdt_next = Some(pdt_ms);
        }
    }

    pub fn set_min_retention(&mut self, ms: i64) {
        self.min_retention_ms = ms;
    }

    pub fn listed(&self) -> impl ExactSizeIterator<Item = &StoredSegment> + Clone {
        self.listed.iter()
    }

    pub fn building(&self) -> Option<&BuildingSegment> {
        self.building.as_ref()
    }

    /// Every finished segment that can be fetched now: retired ones not yet expired, then
    /// listed ones.
    pub fn fetchable(&self) -> impl Iterator<Item = &StoredSegment> {
        self.retired
            .iter()
            .map(|(s, _)| s)
            .chain(self.listed.iter())
    }

    pub fn media_sequence(&self) -> u64 {
        self.listed.front().map_or(self.next_msn, |s| s.msn)
    }

    /// MSN of the segment being built (or of the next one when none is).
    pub fn next_msn(&self) -> u64 {
        self.building.as_ref().map_or(self.next_msn, |b| b.msn)
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
        // A new publisher has a clock of its own: PROGRAM-DATE-TIME follows it again.
        self.pdt_shift = 0;
    }

    /// Media duration of the listed segments.
    pub fn duration(&self) -> Ts {
        self.listed.iter().fold(Ts(0), |a, s| a + s.duration)
    }

    fn start_building(
        &mut self,
        token: u64,
        pdt_ms: i64,
        discontinuity: bool,
    ) -> &mut BuildingSegment {
        let msn = self.next_msn;
        self.next_msn += 1;
        if let Some(aligned) = self.pdt_next.take() {
            self.pdt_shift = aligned - pdt_ms;
        }
        let pdt_ms = pdt_ms + self.pdt_shift;
        let pdt_ms = self.pdt_end_ms.map_or(pdt_ms, |end| pdt_ms.max(end));
        let discontinuity = discontinuity || std::mem::take(&mut self.discontinuity_next);
        self.building.insert(BuildingSegment {
            msn,
            token,
            parts: Vec::new(),
            pdt_ms,
            discontinuity,
        })
    }

    /// Adds a finished part to the segment being built.
    pub fn push_part(&mut self, ev: &PartEvent, token: u64) {
        self.building_bytes += ev.part.data.len();
        let b = match self.building.take() {
            Some(b) => self.building.insert(b),
            None => self.start_building(token, ev.head.pdt_ms, ev.head.discontinuity),
        };
        b.parts.push(StoredPart {
            data: ev.part.data.clone(),
            duration: ev.part.duration,
            independent: ev.part.independent,
            mp4: None,
        });
    }

    /// Adds the fMP4 fragment of the building segment's last part; its bytes are counted.
    pub fn attach_mp4(&mut self, mp4: Mp4Part) {
        if let Some(p) = self.building.as_mut().and_then(|b| b.parts.last_mut()) {
            self.building_bytes += mp4.data.len();
            if let Some(old) = p.mp4.replace(mp4) {
                self.building_bytes -= old.data.len();
            }
        }
    }

    /// Adds a finished segment (whose parts came before); returns its media sequence number.
    pub fn push(&mut self, seg: Segment, token: u64, now_ms: i64) -> u64 {
        let b = match self.building.take() {
            Some(b) => b,
            None => self
                .start_building(token, seg.pdt_ms, seg.discontinuity)
                .clone(),
        };
        self.building = None;
        // The parts announced are the segment's (with their fMP4 fragments, when packaged).
        let parts: Arc<[StoredPart]> = if b.parts.len() == seg.parts.len() {
            b.parts.into()
        } else {
            seg.parts
                .into_iter()
                .map(|p| StoredPart {
                    data: p.data,
                    duration: p.duration,
                    independent: p.independent,
                    mp4: None,
                })
                .collect()
        };
        self.pdt_end_ms = Some(b.pdt_ms + seg.duration.0 / 90);
        self.building_bytes = 0;
        self.listed_bytes += parts.iter().map(StoredPart::held).sum::<usize>();
        self.listed.push_back(StoredSegment {
            msn: b.msn,
            token: b.token,
            parts,
            duration: seg.duration,
            pdt_ms: b.pdt_ms,
            discontinuity: b.discontinuity,
            independent: seg.independent,
        });
        while self.listed.len() > self.size {
            self.retire_front(now_ms);
        }
        if self.listed.len() >= self.size {
            self.full_window_bytes = self.listed_bytes;
        }
        self.prune(now_ms);
        self.cap_retired();
        b.msn
    }

    /// Drops the oldest retired segments while retired bytes exceed [`RETIRED_CAP`] times
    /// the listed window's bytes. Listed and building segments are never dropped.
    fn cap_retired(&mut self) {
        let cap = RETIRED_CAP.saturating_mul(self.listed_bytes.max(self.full_window_bytes));
        while self.retired_bytes > cap {
            let Some((s, _)) = self.retired.pop_front() else {
                break;
            };
            let len = s.held();
            self.retired_bytes -= len;
            self.capped_segments += 1;
            self.capped_bytes += len as u64;
        }
    }

    /// Retired segments dropped early by the retention cap so far, and their bytes.
    pub fn capped(&self) -> (u64, u64) {
        (self.capped_segments, self.capped_bytes)
    }

    fn retire_front(&mut self, now_ms: i64) {
        // §6.2.2: available for its own duration plus the longest playlist that listed it.
        let playlist_ms = self.duration().0 / 90;
        if let Some(s) = self.listed.pop_front() {
            let len = s.held();
            self.listed_bytes -= len;
            self.retired_bytes += len;
            if s.discontinuity {
                self.discontinuity_sequence += 1;
            }
            if let Some(left) = self.left.as_mut() {
                left.push((&s).into());
            }
            let until = now_ms + (s.duration.0 / 90 + playlist_ms).max(self.min_retention_ms);
            self.retired.push_back((s, until));
        }
    }

    /// Frees retired segments whose time is up.
    pub fn prune(&mut self, now_ms: i64) {
        let mut freed = 0;
        self.retired.retain(|(s, until)| {
            let keep = *until > now_ms;
            if !keep {
                freed += s.held();
            }
            keep
        });
        self.retired_bytes -= freed;
    }

    /// The last segment is in: the playlist gets EXT-X-ENDLIST.
    pub fn end(&mut self) {
        self.ended = true;
        self.discontinuity_next = false;
        self.building = None;
        self.building_bytes = 0;
    }

    /// A new session after the end: the listed segments retire, numbering continues.
    pub fn restart(&mut self, now_ms: i64) {
        self.full_window_bytes = self.full_window_bytes.max(self.listed_bytes);
        self.building_bytes = 0;
        while !self.listed.is_empty() {
            self.retire_front(now_ms);
        }
        self.building = None;
        self.ended = false;
        self.discontinuity_next = false;
        self.pdt_end_ms = None;
        self.pdt_shift = 0;
    }

    pub fn find(&self, token: u64, msn: u64) -> Option<&StoredSegment> {
        self.fetchable().find(|s| s.msn == msn && s.token == token)
    }

    /// Bytes held (TS and fMP4), listed, retired and being built.
    pub fn bytes(&self) -> usize {
        self.listed_bytes + self.retired_bytes + self.building_bytes
    }

    /// Bytes of the listed segments.
    pub fn listed_bytes(&self) -> usize {
        self.listed_bytes
    }
}

#[cfg(test)]
mod tests;
