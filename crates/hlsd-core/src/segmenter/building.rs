//! The segment under construction, as a sequence of parts (RFC 8216bis §3.2, §4.4.4.9).
//! Each part opens with hlsd's PAT and PMT; a segment is exactly its parts in order. With
//! LL-HLS off a segment has a single part.

use super::arena::{PartArena, PartBytes};
use super::units::{AccessUnit, TrackConfig};
use crate::ts::Ts;
use crate::ts::muxer::TsSink;
use crate::ts::psi_writer::PsiWriter;
use std::sync::Arc;

/// A finished part: its bytes are shared by the part's own URI and by its segment.
#[derive(Debug, Clone)]
pub struct Part {
    pub data: PartBytes,
    pub start: Ts,
    pub duration: Ts,
    /// It starts with a keyframe (EXT-X-PART INDEPENDENT=YES).
    pub independent: bool,
    /// The access units completed while the part was built, in that order (each track in
    /// decode order), when access units are on (`SegmenterConfig::access_units`, or
    /// access-unit input); `None` otherwise. A video unit is in the part its first packet
    /// is in; an audio unit (a PES) in the part being built when its last packet came.
    pub units: Option<Arc<[AccessUnit]>>,
    /// With access units out of TS input: every track's configuration known when the part
    /// was cut, read from the start of a unit still in progress too (an audio PES whose
    /// unit lands in a later part). A packager's first init can so hold a track whose first
    /// unit comes after the first part. `None` otherwise.
    pub configs: Option<Arc<[TrackConfig]>>,
}

/// A finished segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub parts: Vec<Part>,
    /// Decode time of its first frame.
    pub start: Ts,
    pub duration: Ts,
    /// It starts with a keyframe.
    pub independent: bool,
    /// A discontinuity (timestamp jump) comes before it. Reconnects are the feed's business.
    pub discontinuity: bool,
    /// Wall clock of its start in Unix milliseconds: the wall clock at the publish's first
    /// keyframe plus the media time since (DESIGN invariant 6).
    pub pdt_ms: i64,
}

impl Segment {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The segment's bytes in one buffer (tests and tools; serving never copies).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts.iter().flat_map(|p| p.data.to_vec()).collect()
    }
}

/// Access-unit input is muxed straight into the part being built.
impl TsSink for Building {
    fn put(&mut self, bytes: &[u8]) {
        self.arena.append(bytes);
    }
}

/// What a part event says about the segment the part belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHead {
    pub start: Ts,
    pub independent: bool,
    pub discontinuity: bool,
    pub pdt_ms: i64,
}

pub(super) struct Building {
    pub head: SegmentHead,
    pub parts: Vec<Part>,
    /// Holds the part being built.
    arena: PartArena,
    part_start: Ts,
    part_independent: bool,
    /// Bytes of the finished parts.
    done_bytes: usize,
    /// Access units of the part being built, when they are kept.
    units: Option<Vec<AccessUnit>>,
    /// The finished segment's parts keep their units too (else only part events carry them).
    segment_units: bool,
    /// Bytes of hlsd's PAT and PMT at the start of the part being built.
    part_psi: usize,
    /// The last timeline keyframe that began in the part being built (see `key_mark`).
    key: Option<KeyMark>,
}

/// Where a timeline keyframe began in the part being built: its decode time, and the bytes
/// and access units the part held before it.
#[derive(Clone, Copy)]
struct KeyMark {
    dts: Ts,
    offset: usize,
    units: usize,
}

/// What came from a keyframe on, taken out of a segment ended there (`Building::finish_at_key`).
pub(super) struct Tail {
    pub bytes: Vec<u8>,
    pub units: Vec<AccessUnit>,
}

impl Building {
    /// A segment whose parts open with `psi`; `units` keeps the access units given.
    pub fn new(
        head: SegmentHead,
        psi: Option<&mut PsiWriter>,
        mut arena: PartArena,
        units: bool,
    ) -> Self {
        if let Some(psi) = psi {
            arena.append_psi(psi);
        }
        let part_psi = arena.len();
        Building {
            part_start: head.start,
            part_independent: head.independent,
            head,
            parts: Vec::new(),
            arena,
            done_bytes: 0,
            units: units.then(Vec::new),
            segment_units: true,
            part_psi,
            key: None,
        }
    }

    /// The finished segment's parts carry no units (the part events still do): a consumer
    /// that is done with a part's units once it has its event frees them then.
    pub fn without_segment_units(mut self) -> Self {
        self.segment_units = false;
        self
    }

    /// Adds an access unit to the part being built (dropped when units are not kept).
    pub fn push_unit(&mut self, au: AccessUnit) {
        if let Some(units) = &mut self.units {
            units.push(au);
        }
    }

    pub fn append(&mut self, bytes: &[u8]) {
        self.arena.append(bytes);
    }

    /// Bytes held so far, the part being built included.
    pub fn len(&self) -> usize {
        self.done_bytes + self.arena.len()
    }

    pub fn part_start(&self) -> Ts {
        self.part_start
    }

    /// Media time since the part being built began, at `at`.
    pub fn part_elapsed(&self, at: Ts) -> Ts {
        at - self.part_start
    }

    /// Ends the part being built at `at` and opens the next; returns the finished part.
    pub fn cut_part(
        &mut self,
        at: Ts,
        independent: bool,
        psi: Option<&mut PsiWriter>,
        configs: Option<Arc<[TrackConfig]>>,
    ) -> Part {
        let data = self.arena.take();
        if let Some(psi) = psi {
            self.arena.append_psi(psi);
        }
        self.part_psi = self.arena.len();
        self.key = None;
        let part = self.finish_part(data, at, configs);
        self.part_start = at;
        self.part_independent = independent;
        part
    }

    /// A timeline keyframe starts at `dts`, its bytes and units to come.
    pub fn mark_key(&mut self, dts: Ts) {
        self.key = Some(KeyMark {
            dts,
            offset: self.arena.len(),
            units: self.units.as_ref().map_or(0, Vec::len),
        });
    }

    /// The decode time of the last timeline keyframe that began in the part being built.
    pub fn key_mark(&self) -> Option<Ts> {
        self.key.map(|k| k.dts)
    }

    fn finish_part(
        &mut self,
        data: PartBytes,
        end: Ts,
        configs: Option<Arc<[TrackConfig]>>,
    ) -> Part {
        self.done_bytes += data.len();
        let part = Part {
            data,
            start: self.part_start,
            duration: (end - self.part_start).max(Ts(1)),
            independent: self.part_independent,
            units: self.units.as_mut().map(|u| Arc::from(std::mem::take(u))),
            configs,
        };
        if self.segment_units {
            self.parts.push(part.clone());
        } else {
            self.parts.push(Part {
                units: None,
                configs: None,
                ..part.clone()
            });
        }
        part
    }

    /// Ends the segment with the given duration; returns its last part, the segment, and
    /// the arena for the next segment.
    pub fn finish(
        mut self,
        duration: Ts,
        configs: Option<Arc<[TrackConfig]>>,
    ) -> (Part, Segment, PartArena) {
        let end = self.head.start + duration;
        let data = self.arena.take();
        let last = self.finish_part(data, end.max(self.part_start + Ts(1)), configs);
        let seg = Segment {
            parts: self.parts,
            start: self.head.start,
            duration,
            independent: self.head.independent,
            discontinuity: self.head.discontinuity,
            pdt_ms: self.head.pdt_ms,
        };
        (last, seg, self.arena)
    }

    /// Ends the segment where the marked keyframe began (`mark_key`; the caller checked it
    /// is after the segment's start). Returns its last part (none when the part being built
    /// began at the keyframe, as a part does with LL-HLS: the parts cut so far are the
    /// segment), the segment, the arena, and what came from the keyframe on, for the next
    /// segment.
    pub fn finish_at_key(
        mut self,
        configs: Option<Arc<[TrackConfig]>>,
    ) -> Option<(Option<Part>, Segment, PartArena, Tail)> {
        let k = self.key.take()?;
        let data = self.arena.take();
        let (before, after) = data.split_at(k.offset);
        let units = match &mut self.units {
            Some(u) => u.split_off(k.units.min(u.len())),
            None => Vec::new(),
        };
        let last = (k.offset > self.part_psi || self.parts.is_empty())
            .then(|| self.finish_part(before, k.dts, configs));
        let seg = Segment {
            parts: self.parts,
            start: self.head.start,
            duration: k.dts - self.head.start,
            independent: self.head.independent,
            discontinuity: self.head.discontinuity,
            pdt_ms: self.head.pdt_ms,
        };
        let tail = Tail {
            bytes: after.to_vec(),
            units,
        };
        Some((last, seg, self.arena, tail))
    }
}
