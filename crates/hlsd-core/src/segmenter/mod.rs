//! The segmenter: a sans-I/O state machine that turns a publisher's MPEG-TS bytes into
//! segments cut at keyframes, each opening with hlsd's own PAT and PMT
//! (RFC 8216bis §3.2, §6.2.1; DESIGN.md invariants 1–5).
//!
//! Drive it with [`Segmenter::push`] for each body chunk (or, for input without TS,
//! [`Segmenter::set_tracks`] and [`Segmenter::push_access_unit`] for each frame, muxed into
//! TS) and [`Segmenter::finish`] when the publisher is gone, passing the wall clock in;
//! collect what happened with [`Segmenter::poll_event`]. It never reads a clock and never
//! does I/O.

mod arena;
mod building;
mod config_cut;
mod cutter;
pub mod demux;
mod events;
mod info;
mod parts;
mod reassembly;
mod unit_input;
mod unit_mux;
mod units;

use crate::codec::{CodecConfig, FrameKind, MediaInfo, SliceScanner};
use crate::ts::continuity::ContinuityChecker;
use crate::ts::psi_writer::PsiWriter;
use crate::ts::{Framer, Packet, Pid, Ts};
use arena::PartArena;
pub use arena::PartBytes;
use building::Building;
pub use building::{Part, Segment, SegmentHead};
pub use cutter::target_duration_for;
use demux::{Class, Demux, Notice, PesStart, Role};
pub use events::{Event, FROZEN_CLOCK_BYTES, PartEvent, SegmenterConfig, SegmenterStats, Warning};
use info::{InfoChange, InfoTracker};
pub use parts::PartSizes;
use reassembly::Reassembly;
use std::collections::VecDeque;
use std::sync::Arc;
use unit_mux::UnitMux;
pub use unit_mux::{UNIT_FIRST_PID, UNIT_PMT_PID};
use units::UnitTracks;
pub use units::{AccessUnit, AccessUnitError, AudioFrames, Track, TrackCodec, TrackConfig};

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
    /// Parts carry access units (`cfg.access_units`, or access-unit input).
    units_on: bool,
    /// PES reassembly into access units (TS input with `cfg.access_units`, or since
    /// [`Segmenter::start_access_units`]).
    reasm: Option<Reassembly>,
    /// Access units were switched on at run time: parts carry them from the segment
    /// opened after this many more openings (see [`Segmenter::start_access_units`]).
    units_from: Option<u8>,
    /// Finished segments' parts keep their access units (see `Segmenter::drop_segment_units`).
    segment_units: bool,
    /// Fed access units (`Segmenter::push_access_unit`), on these tracks, muxed into TS.
    unit_input: bool,
    unit_tracks: UnitTracks,
    unit_mux: UnitMux,
    /// Each track's configuration in effect (its last unit's), and whether one changed
    /// since the segment being built began (`config_cut`).
    in_effect: Vec<(u16, Arc<CodecConfig>)>,
    config_changed: bool,
    /// Audio units held for the next segment, which starts at the next timeline frame: from
    /// one whose configuration changed next to a video timeline on (`config_cut`).
    held: Vec<AccessUnit>,
    /// `stats.segments` when the first of `held` was held: they are released once it changed.
    held_at: u64,
    /// The segment being built began between keyframes (for held audio): the next keyframe
    /// starts a segment again, so segments keep to the GOP grid and within the target.
    realign: bool,
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
                units_on: cfg.access_units,
                reasm: cfg.access_units.then(Reassembly::default),
                units_from: None,
                segment_units: true,
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
                unit_input: false,
                unit_tracks: UnitTracks::default(),
                unit_mux: UnitMux::default(),
                in_effect: Vec::new(),
                config_changed: false,
                held: Vec::new(),
                held_at: 0,
                realign: false,
            },
        }
    }

    /// Feeds a chunk of the body, any size, received at `now_ms` (Unix milliseconds). A
    /// segmenter fed access units ([`Segmenter::set_tracks`]) ignores TS.
    pub fn push(&mut self, chunk: &[u8], now_ms: i64) {
        let core = &mut self.core;
        if core.unit_input {
            return;
        }
        core.now_ms = now_ms;
        core.stats.bytes += chunk.len() as u64;
        // Two copies of the packet path, so TS without access units tests nothing for them.
        // Until the program is known, `access_units_for_hevc` takes the path with them (with
        // no reassembly yet it does what the other does): a PMT showing HEVC starts
        // reassembly in time for the keyframe that follows it in the same chunk.
        if core.reasm.is_some() || (core.cfg.access_units_for_hevc && core.psi.is_none()) {
            self.framer.push(chunk, |p| core.on_packet::<true>(p));
        } else {
            self.framer.push(chunk, |p| core.on_packet::<false>(p));
        }
    }

    /// The publisher is gone: flushes what is held and closes the last segment, whose
    /// duration is its last frame's start plus one frame duration.
    pub fn finish(&mut self, now_ms: i64) {
        let core = &mut self.core;
        core.now_ms = now_ms;
        if core.reasm.is_some() {
            self.framer.finish(|p| core.on_packet::<true>(p));
        } else {
            self.framer.finish(|p| core.on_packet::<false>(p));
        }
        let pid = core.pending.as_ref().map(|p| p.start.pid);
        let key = core.resolve_pending(None);
        if let Some(r) = &mut core.reasm {
            if let (Some(pid), Some(key)) = (pid, key) {
                r.set_key(pid, key);
            }
            for u in r.flush() {
                core.add_unit(u);
            }
        }
        // Audio held for a segment that will not come (at most one timeline frame of it) has
        // no segment with its configuration: its TS packets are served, its units are not.
        core.held.clear();
        if let Some(cur) = &core.cur {
            let start = cur.head.start;
            let last = core.last_frame.unwrap_or(start).max(start);
            let end = last + core.frame_duration.unwrap_or(Ts(Ts::HZ / 25));
            core.close(end - start);
        }
    }

    /// Turns access units on for TS input (as `SegmenterConfig::access_units` would have),
    /// effective at a segment start: PES reassembly starts now, and parts carry units from
    /// the next segment opened whose first frame began after now, so that segment's first
    /// part holds its keyframe's whole unit. Nothing changes for a segmenter that has
    /// access units already or is fed access units.
    pub fn start_access_units(&mut self) {
        self.core.start_access_units();
    }

    /// From the next segment on, `Event::Segment`'s parts carry no access units (their
    /// `Event::Part`s still do): a consumer done with a part's units once it has its event
    /// (an fMP4 packager) so frees the reassembly buffers a part after it was cut instead
    /// of at the segment's end.
    pub fn drop_segment_units(&mut self) {
        self.core.segment_units = false;
    }

    /// Parts carry access units (from the configuration, or since a segment start after
    /// [`Segmenter::start_access_units`]).
    pub fn access_units(&self) -> bool {
        self.core.units_on
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
    fn start_access_units(&mut self) {
        if self.reasm.is_some() || self.unit_input {
            return;
        }
        let mut r = Reassembly::default();
        r.reset(&self.demux);
        self.reasm = Some(r);
        // A frame still waiting for its slice began before reassembly did: should it open
        // a segment, the one after carries units.
        self.units_from = Some(if self.pending.is_some() { 1 } else { 0 });
    }

    /// The timeline is a video stream (else audio: every frame is a keyframe).
    fn timeline_is_video(&self) -> bool {
        if self.unit_input {
            self.unit_tracks.timeline_is_video()
        } else {
            self.demux.video_codec().is_some()
        }
    }

    /// One packet; `UNITS`: access units are on (`reasm` is set).
    fn on_packet<const UNITS: bool>(&mut self, pkt: Packet<'_>) {
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
        if UNITS {
            self.on_media_with_units(pkt, start);
        } else {
            self.on_media(pkt, start, None);
        }
    }

    /// A packet of the program. `unit` is the timeline's access unit its PES start
    /// completed (access units on): it goes into the part once its frame is settled.
    /// Inlined: it is the per-packet hot path, and `unit` is `None` there.
    #[inline(always)]
    fn on_media(&mut self, pkt: Packet<'_>, start: Option<PesStart>, mut unit: Option<AccessUnit>) {
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
                    let pid = p.start.pid;
                    let key = self.resolve_pending(kind);
                    if let (Some(r), Some(key)) = (&mut self.reasm, key) {
                        r.set_key(pid, key);
                    }
                }
                return;
            }
            // The next frame began before this one showed a slice.
            let key = self.resolve_pending(None);
            if let (Some(u), Some(key)) = (&mut unit, key) {
                u.key = key;
            }
        }
        if let Some(u) = unit {
            self.add_unit(u);
        }
        match start {
            Some(s) if s.role == Role::Timeline => self.on_frame_start(s, pkt),
            Some(s) if s.role == Role::Audio => {
                self.check_stall(s.frame(true));
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
                    if self.cfg.access_units_for_hevc
                        && self.demux.video_codec() == Some(crate::codec::VideoCodec::H265)
                    {
                        self.start_access_units();
                    }
                    self.info.reset(&self.demux);
                    if let Some(r) = &mut self.reasm {
                        r.reset(&self.demux);
                    }
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
        let jump = self.timeline_step(s.dts);
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
        let key = kind == Some(FrameKind::Key);
        if let Some(r) = &mut self.reasm {
            r.set_key(s.pid, key);
        }
        self.frame_start(s.frame(key), jump);
        self.append(pkt.bytes());
    }

    /// Settles a pending frame: `kind` when its slice was seen, else by the
    /// random_access_indicator of its first packet. Returns whether it is a keyframe.
    fn resolve_pending(&mut self, kind: Option<FrameKind>) -> Option<bool> {
        let p = self.pending.take()?;
        let kind = kind.unwrap_or(if p.random_access {
            FrameKind::Key
        } else {
            FrameKind::Delta
        });
        self.last_frame = Some(p.start.dts);
        let key = kind == FrameKind::Key;
        self.frame_start(p.start.frame(key), p.jump);
        self.append(&p.data);
        Some(key)
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
}

#[cfg(test)]
mod tests;
