//! The segmenter: a sans-I/O state machine that turns a publisher's MPEG-TS bytes into
//! segments cut at keyframes, each opening with hlsd's own PAT and PMT
//! (RFC 8216bis §3.2, §6.2.1; DESIGN.md invariants 1–5).
//!
//! Drive it with [`Segmenter::push`] for each body chunk and [`Segmenter::finish`] when the
//! publisher is gone, passing the wall clock in; collect what happened with
//! [`Segmenter::poll_event`]. It never reads a clock and never does I/O.

mod arena;
mod building;
pub mod demux;
mod events;
mod info;
mod parts;

use crate::codec::{FrameKind, MediaInfo, SliceScanner};
use crate::ts::continuity::ContinuityChecker;
use crate::ts::psi_writer::PsiWriter;
use crate::ts::{Framer, Packet, Pid, Ts};
use arena::PartArena;
pub use arena::PartBytes;
use building::Building;
pub use building::{Part, Segment, SegmentHead};
use demux::{Class, Demux, Notice, PesStart, Role};
pub use events::{Event, FROZEN_CLOCK_BYTES, PartEvent, SegmenterConfig, SegmenterStats, Warning};
use info::{InfoChange, InfoTracker};
pub use parts::PartSizes;
use std::collections::VecDeque;

/// A timestamp step larger than this forwards is a discontinuity, not a gap (DESIGN inv. 5).
pub const JUMP_FORWARD: Ts = Ts(5 * Ts::HZ);
/// A timestamp step larger than this backwards is a discontinuity.
pub const JUMP_BACKWARD: Ts = Ts(Ts::HZ);
/// Packets held while waiting to learn whether a frame is a keyframe.
const PENDING_LIMIT: usize = 256;
/// How far a segment cut inside a long GOP may run past the target duration; EXTINF still
/// rounds to at most the target duration (§4.4.3.1).
const TD_MARGIN: Ts = Ts(Ts::HZ / 4);

pub struct Segmenter {
    framer: Framer,
    core: Core,
}

struct Core {
    cfg: SegmenterConfig,
    demux: Demux,
    continuity: ContinuityChecker,
    info: InfoTracker,
    psi: Option<PsiWriter>,
    target_duration: Option<u32>,
    part_sizes: Option<PartSizes>,
    /// Frames in the last complete GOP, frames since the last keyframe, the part sizes
    /// planned for the current GOP, and frames in the part being built.
    gop_frames: Option<u32>,
    frames_since_key: u32,
    plan: VecDeque<u32>,
    part_frames: u32,
    cur: Option<Building>,
    pending: Option<Pending>,
    events: VecDeque<Event>,
    now_ms: i64,
    /// Wall clock at the first keyframe, and media time served since.
    anchor_ms: Option<i64>,
    served: Ts,
    frame_duration: Option<Ts>,
    /// The longest timeline frame step seen (audio PES vary in length).
    longest_frame: Ts,
    last_frame: Option<Ts>,
    /// Media time of the timeline since the publish's first frame (see `media_time`), and
    /// the highest decode time of the current reference (a jump starts a new one).
    media_time: Ts,
    timeline_high: Option<Ts>,
    /// The audio stream followed for stall detection, and its media time since the last
    /// video frame.
    last_audio: Option<(Pid, Ts)>,
    audio_run: Ts,
    first_seen: Option<Ts>,
    /// Decode time of the last keyframe on the timeline (none yet: `first_seen` stands in).
    last_key: Option<Ts>,
    /// Bytes appended since the timeline's media time last advanced, and whether they
    /// passed `max_frozen_bytes` (packets are then dropped).
    frozen_run: usize,
    frozen: bool,
    /// Where parts are written; a segment being built holds it.
    arena: PartArena,
    stats: SegmenterStats,
}

/// A timeline frame whose kind is not known yet: its first packets (and any other packets
/// that came since) wait here until its first slice NAL unit is seen.
struct Pending {
    data: Vec<u8>,
    start: PesStart,
    scanner: SliceScanner,
    jump: Option<Ts>,
    random_access: bool,
    packets: usize,
}

impl Segmenter {
    pub fn new(cfg: SegmenterConfig) -> Self {
        Segmenter {
            framer: Framer::new(),
            core: Core {
                target_duration: cfg.target_duration,
                part_sizes: None,
                gop_frames: None,
                frames_since_key: 0,
                plan: VecDeque::new(),
                part_frames: 0,
                demux: Demux::new(cfg.program),
                cfg,
                continuity: ContinuityChecker::default(),
                info: InfoTracker::default(),
                psi: None,
                cur: None,
                pending: None,
                events: VecDeque::new(),
                now_ms: 0,
                anchor_ms: None,
                served: Ts(0),
                frame_duration: None,
                longest_frame: Ts(0),
                last_frame: None,
                media_time: Ts(0),
                timeline_high: None,
                last_audio: None,
                audio_run: Ts(0),
                first_seen: None,
                last_key: None,
                frozen_run: 0,
                frozen: false,
                arena: PartArena::default(),
                stats: SegmenterStats::default(),
            },
        }
    }

    /// Feeds a chunk of the body, any size, received at `now_ms` (Unix milliseconds).
    pub fn push(&mut self, chunk: &[u8], now_ms: i64) {
        let core = &mut self.core;
        core.now_ms = now_ms;
        core.stats.bytes += chunk.len() as u64;
        self.framer.push(chunk, |p| core.on_packet(p));
    }

    /// The publisher is gone: flushes what is held and closes the last segment, whose
    /// duration is its last frame's start plus one frame duration.
    pub fn finish(&mut self, now_ms: i64) {
        let core = &mut self.core;
        core.now_ms = now_ms;
        self.framer.finish(|p| core.on_packet(p));
        core.resolve_pending(None);
        if let Some(cur) = &core.cur {
            let start = cur.head.start;
            let last = core.last_frame.unwrap_or(start).max(start);
            let end = last + core.frame_duration.unwrap_or(Ts(Ts::HZ / 25));
            core.close(end - start);
        }
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    pub fn stats(&self) -> SegmenterStats {
        SegmenterStats {
            framer: self.framer.stats(),
            ..self.core.stats
        }
    }

    pub fn target_duration(&self) -> Option<u32> {
        self.core.target_duration
    }

    /// What the streams are, as far as known.
    pub fn media_info(&self) -> &MediaInfo {
        self.core.info.info()
    }

    pub fn part_target(&self) -> Option<Ts> {
        self.core.part_sizes.map(|p| p.target)
    }

    /// Duration of one timeline frame (video frame or audio PES), once two were seen.
    pub fn frame_duration(&self) -> Option<Ts> {
        self.core.frame_duration
    }

    /// The publish's media time: how far its timeline stream has advanced since its first
    /// frame, counting each frame's step forwards. A timestamp jump counts as nothing (its
    /// frame starts a new reference) and steps back are not counted twice, so this only
    /// grows, by about as much as the media lasts, whatever the timestamps do.
    pub fn media_time(&self) -> Ts {
        self.core.media_time
    }
}

impl Core {
    fn on_packet(&mut self, pkt: Packet<'_>) {
        if self.continuity.check(&pkt) {
            self.stats.continuity_errors += 1;
        }
        let class = self.demux.classify(&pkt);
        if self.demux.has_notices() {
            self.take_notices();
        }
        let start = match class {
            Class::Psi | Class::Foreign => return,
            Class::Unknown => {
                self.stats.dropped_packets += 1;
                return;
            }
            Class::Media(start) => start,
        };
        match self.info.on_packet(&pkt, start.as_ref()) {
            None => {}
            Some(InfoChange::Info(i)) => self.events.push_back(Event::MediaInfo(i)),
            Some(InfoChange::Error(e)) => {
                self.events.push_back(Event::Warning(Warning::CodecInfo(e)))
            }
        }
        let timeline_start = start.filter(|s| s.role == Role::Timeline);
        if let Some(p) = &mut self.pending {
            if timeline_start.is_none() {
                p.data.extend_from_slice(pkt.bytes());
                p.packets += 1;
                let mut kind = None;
                if pkt.pid() == p.start.pid {
                    kind = pkt.payload().and_then(|b| p.scanner.push(b));
                }
                if kind.is_some() || p.packets >= PENDING_LIMIT {
                    self.resolve_pending(kind);
                }
                return;
            }
            // The next frame began before this one showed a slice.
            self.resolve_pending(None);
        }
        match start {
            Some(s) if s.role == Role::Timeline => self.on_frame_start(s, pkt),
            Some(s) if s.role == Role::Audio => {
                self.check_stall(s);
                self.append(pkt.bytes());
            }
            _ => self.append(pkt.bytes()),
        }
    }

    fn take_notices(&mut self) {
        let notices: Vec<Notice> = self.demux.take_notices().collect();
        for n in notices {
            let ev = match n {
                Notice::Program(pmt) => {
                    self.info.reset(&self.demux);
                    if let Some(pid) = self.demux.pmt_pid() {
                        match &mut self.psi {
                            Some(w) => {
                                w.update(&pmt, pid);
                                // Decoders must see the new table where it changed.
                                let mut tables = Vec::with_capacity(w.len());
                                w.write_into(&mut tables);
                                match (&mut self.pending, &mut self.cur) {
                                    (Some(p), _) => p.data.extend_from_slice(&tables),
                                    (None, Some(c)) => c.append(&tables),
                                    _ => {}
                                }
                            }
                            None => self.psi = Some(PsiWriter::new(&pmt, pid)),
                        }
                    }
                    Event::Program(pmt)
                }
                Notice::Warning(w) => Event::Warning(w),
            };
            self.events.push_back(ev);
        }
    }

    fn on_frame_start(&mut self, s: PesStart, pkt: Packet<'_>) {
        self.audio_run = Ts(0);
        let mut jump = None;
        if let Some(last) = self.last_frame {
            let step = s.dts - last;
            if step > Ts(0) || step < Ts(-JUMP_BACKWARD.0) {
                self.clock_advanced();
            }
            if step > JUMP_FORWARD || step < Ts(-JUMP_BACKWARD.0) {
                jump = Some(last);
            } else if step > Ts(0) {
                self.frame_duration = Some(step);
                self.longest_frame = self.longest_frame.max(step);
                if self.part_sizes.is_none() {
                    self.fix_part_sizes(step);
                }
            }
        }
        let kind = match self.demux.video_codec() {
            None => Some(FrameKind::Key),
            Some(codec) => {
                let mut scanner = SliceScanner::new(codec);
                let data = pkt
                    .payload()
                    .and_then(|p| p.get(s.data_offset..))
                    .unwrap_or(&[]);
                match scanner.push(data) {
                    Some(kind) => Some(kind),
                    None => {
                        self.pending = Some(Pending {
                            data: pkt.bytes().to_vec(),
                            start: s,
                            scanner,
                            jump,
                            random_access: pkt.random_access(),
                            packets: 1,
                        });
                        return;
                    }
                }
            }
        };
        self.last_frame = Some(s.dts);
        self.frame_start(s, kind.unwrap_or(FrameKind::Delta), jump);
        self.append(pkt.bytes());
    }

    /// Settles a pending frame: `kind` when its slice was seen, else by the
    /// random_access_indicator of its first packet.
    fn resolve_pending(&mut self, kind: Option<FrameKind>) {
        let Some(p) = self.pending.take() else { return };
        let kind = kind.unwrap_or(if p.random_access {
            FrameKind::Key
        } else {
            FrameKind::Delta
        });
        self.last_frame = Some(p.start.dts);
        self.frame_start(p.start, kind, p.jump);
        self.append(&p.data);
    }

    /// Fixes how parts are sized, once the frame duration is known: from the configured
    /// part duration, or from the PART-TARGET an earlier publish of the feed fixed.
    fn fix_part_sizes(&mut self, frame: Ts) {
        let Some(pd) = self.cfg.part_duration else {
            return;
        };
        let video = self.demux.video_codec().is_some();
        let fixed = self
            .cfg
            .part_target
            .map(|target| (target, PartSizes::for_target(target, frame)));
        match fixed {
            Some((target, Some(sizes))) => {
                self.part_sizes = Some(sizes);
                // Announced again: a rendition that took its feed's target learns it here.
                self.events.push_back(Event::PartTarget(target));
            }
            other => {
                if let Some((target, None)) = other {
                    // This publisher's frames cannot fill the feed's parts: a new PART-TARGET,
                    // which the feed takes as a new session.
                    self.events
                        .push_back(Event::Warning(Warning::PartTargetMismatch {
                            target,
                            frame,
                        }));
                }
                let sizes = PartSizes::for_frames(pd, frame, video);
                self.part_sizes = Some(sizes);
                self.events.push_back(Event::PartTarget(sizes.target));
            }
        }
    }

    /// At the start of a timeline frame: a new segment, or a new part, or neither.
    fn frame_start(&mut self, s: PesStart, kind: FrameKind, jump: Option<Ts>) {
        match self.timeline_high {
            Some(high) if jump.is_none() => {
                if s.dts > high {
                    self.media_time = self.media_time + (s.dts - high);
                    self.timeline_high = Some(s.dts);
                }
            }
            _ => self.timeline_high = Some(s.dts),
        }
        let key = kind == FrameKind::Key;
        let video = self.demux.video_codec().is_some();
        if video && key {
            if self.frames_since_key > 0 {
                self.gop_frames = Some(self.frames_since_key);
            }
            self.frames_since_key = 0;
            if let (Some(sizes), Some(gop)) = (self.part_sizes, self.gop_frames) {
                self.plan = sizes.plan(gop);
            }
        }
        self.frames_since_key = self.frames_since_key.saturating_add(1);
        let segments = self.stats.segments;
        let had_segment = self.cur.is_some();
        self.decide(s, kind, jump);
        if !had_segment || self.stats.segments != segments {
            self.part_frames = 1;
            return;
        }
        let Some(sizes) = self.part_sizes.filter(|_| self.cfg.part_duration.is_some()) else {
            return;
        };
        let frame = self.frame_duration.unwrap_or(Ts(0));
        let Some(cur) = &mut self.cur else { return };
        let Some(psi) = &mut self.psi else { return };
        // A video keyframe always starts a part. Otherwise a part ends when it holds the
        // frames planned for it (so the GOP ends on a part boundary), and in any case before
        // one more frame would take it past PART-TARGET (§4.4.4.9). Every audio part is
        // independent.
        let planned = self.plan.front().copied().unwrap_or(sizes.max_frames);
        // Audio PES vary: room is kept for the longest seen so far.
        let next = if video {
            frame
        } else {
            self.longest_frame.max(frame)
        };
        let full = cur.part_elapsed(s.dts) + next > sizes.target;
        let cut = if video {
            key || self.part_frames >= planned || full
        } else {
            full
        };
        if cut && s.dts > cur.part_start() {
            let part = cur.cut_part(s.dts, key || !video, psi);
            let index = cur.parts.len() - 1;
            let head = cur.head;
            self.events
                .push_back(Event::Part(PartEvent { part, index, head }));
            if !key {
                self.plan.pop_front();
            }
            self.part_frames = 0;
        }
        self.part_frames += 1;
    }

    /// Decides, at the start of a timeline frame, whether a new segment starts here.
    fn decide(&mut self, s: PesStart, kind: FrameKind, jump: Option<Ts>) {
        let key = kind == FrameKind::Key;
        let first = *self.first_seen.get_or_insert(s.dts);
        if key {
            self.last_key = Some(s.dts);
        }
        let Some(cur) = &self.cur else {
            let waited = s.dts - first;
            if key {
                self.open(s.dts, true, false);
            } else if waited >= self.cfg.first_segment_limit {
                self.events
                    .push_back(Event::Warning(Warning::NoKeyframe { waited }));
                // No keyframe to size the first segment by: fix the target duration from
                // the configuration now, so the segments that follow are cut at it (without
                // keyframes, as for a GOP longer than the target) instead of at the
                // first-segment ceiling for the feed's whole life.
                if self.target_duration.is_none() {
                    let td = target_duration_for(self.cfg.segment_duration, Ts(0));
                    self.target_duration = Some(td);
                    self.events.push_back(Event::TargetDuration(td));
                }
                self.open(s.dts, false, false);
            }
            return;
        };
        let elapsed = s.dts - cur.head.start;
        let frame = self.frame_duration.unwrap_or(Ts(0));
        let bytes = cur.len();
        if let Some(last) = jump {
            let end = last + frame;
            self.events
                .push_back(Event::Warning(Warning::TimestampJump {
                    from: last,
                    to: s.dts,
                }));
            self.close(end - self.cur.as_ref().map_or(end, |c| c.head.start));
            self.open(s.dts, key, true);
        } else if key && elapsed.0 + frame.0 / 2 >= self.cfg.segment_duration.0 {
            self.close(elapsed);
            self.open(s.dts, true, false);
        } else if let Some(td) = self.target_duration.filter(|_| !key) {
            if elapsed + frame > Ts(i64::from(td) * Ts::HZ) + TD_MARGIN {
                // Long without any keyframe (none at all, or none for two target
                // durations): say so, rather than blame a long GOP.
                let since_key = s.dts - self.last_key.unwrap_or(first);
                let warning = if since_key > Ts(2 * i64::from(td) * Ts::HZ) {
                    Warning::NoKeyframe { waited: since_key }
                } else {
                    Warning::GopOverrun {
                        target_duration: td,
                    }
                };
                self.events.push_back(Event::Warning(warning));
                self.close(elapsed);
                self.open(s.dts, false, false);
            } else if bytes >= self.cfg.max_segment_bytes {
                self.forced(s.dts, key, "size", elapsed);
            }
        } else if self.target_duration.is_none() && elapsed >= self.cfg.first_segment_limit {
            self.forced(s.dts, key, "first segment too long", elapsed);
        } else if bytes >= self.cfg.max_segment_bytes {
            self.forced(s.dts, key, "size", elapsed);
        }
    }

    fn forced(&mut self, at: Ts, key: bool, reason: &'static str, duration: Ts) {
        let bytes = self.cur.as_ref().map_or(0, Building::len);
        self.events.push_back(Event::Warning(Warning::ForcedCut {
            reason,
            bytes,
            duration,
        }));
        self.close(duration);
        self.open(at, key, false);
    }

    /// An audio PES start next to a video timeline: when video has stalled for three target
    /// durations while audio flows, the segment is cut so memory and the playlist move on.
    /// Audio time is counted by its own steps, so an audio timestamp jump is no stall.
    fn check_stall(&mut self, s: PesStart) {
        if let Some((pid, last)) = self.last_audio
            && pid == s.pid
        {
            let step = s.dts - last;
            if step > Ts(0) && step <= JUMP_FORWARD {
                self.audio_run = self.audio_run + step;
            }
        }
        self.last_audio = Some((s.pid, s.dts));
        let Some(cur) = &self.cur else { return };
        let td = self
            .target_duration
            .map_or(self.cfg.first_segment_limit, |t| Ts(i64::from(t) * Ts::HZ));
        if self.audio_run > Ts(3 * td.0) {
            let duration = self.audio_run.max(s.dts - cur.head.start);
            self.audio_run = Ts(0);
            self.last_frame = Some(s.dts);
            self.clock_advanced();
            self.forced(s.dts, false, "video stalled", duration);
        }
    }

    /// The timeline's media time moved: the frozen-clock count starts again.
    fn clock_advanced(&mut self) {
        self.frozen_run = 0;
        self.frozen = false;
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.cur.is_some() {
            self.frozen_run += bytes.len();
            if self.frozen_run > self.cfg.max_frozen_bytes {
                if !self.frozen {
                    self.frozen = true;
                    self.events.push_back(Event::Warning(Warning::FrozenClock {
                        bytes: self.frozen_run - bytes.len(),
                    }));
                }
                self.stats.dropped_packets += (bytes.len() / 188) as u64;
                return;
            }
        }
        match &mut self.cur {
            Some(cur) => {
                cur.append(bytes);
                if cur.len() >= 2 * self.cfg.max_segment_bytes {
                    // No frame start for a long while: the size ceiling still holds.
                    let start = cur.head.start;
                    let at = self.last_frame.unwrap_or(start).max(start);
                    let duration = (at - start).max(Ts(1));
                    self.forced(at + Ts(1), false, "size without frame boundary", duration);
                }
            }
            None => self.stats.dropped_packets += (bytes.len() / 188) as u64,
        }
    }

    fn open(&mut self, dts: Ts, independent: bool, discontinuity: bool) {
        let Some(psi) = &mut self.psi else { return };
        let anchor = *self.anchor_ms.get_or_insert(self.now_ms);
        let head = SegmentHead {
            start: dts,
            independent,
            discontinuity,
            pdt_ms: anchor + self.served.0 / 90,
        };
        let arena = std::mem::take(&mut self.arena);
        self.cur = Some(Building::new(head, psi, arena));
    }

    fn close(&mut self, duration: Ts) {
        let Some(b) = self.cur.take() else { return };
        let duration = if duration > Ts(0) {
            duration
        } else {
            self.frame_duration.unwrap_or(Ts(1))
        };
        if self.target_duration.is_none() {
            let td = target_duration_for(self.cfg.segment_duration, duration);
            self.target_duration = Some(td);
            self.events.push_back(Event::TargetDuration(td));
        }
        self.served = self.served + duration;
        let head = b.head;
        let (last, seg, mut arena) = b.finish(duration);
        let index = seg.parts.len() - 1;
        let largest = seg.parts.iter().map(|p| p.data.len()).max().unwrap_or(0);
        arena.size_for(largest + largest / 8);
        self.arena = arena;
        self.stats.segments += 1;
        self.events.push_back(Event::Part(PartEvent {
            part: last,
            index,
            head,
        }));
        self.events.push_back(Event::Segment(seg));
    }
}

/// HLS-RULES policy: the larger of ceil(segment_duration) and the first segment rounded up,
/// ignoring up to 0.1 s of timestamp jitter above a whole second.
pub fn target_duration_for(segment_duration: Ts, first: Ts) -> u32 {
    let configured = segment_duration.secs().ceil();
    let first_up = (first.secs() - 0.1).ceil().max(first.secs().round());
    configured.max(first_up).max(1.0) as u32
}

#[cfg(test)]
mod tests;
