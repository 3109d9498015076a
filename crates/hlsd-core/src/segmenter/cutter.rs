//! Where to cut: segments, parts, the target duration and discontinuities, decided from
//! frame starts alone (decode time, keyframe flag, stream), whichever input produced them:
//! TS packets (`Segmenter::push`) or access units (`Segmenter::push_access_unit`). Nothing
//! here looks at a container; `Building` holds what each input puts in the parts.

use super::arena::PartArena;
use super::building::{Building, Part, Segment, SegmentHead};
use super::events::{Event, PartEvent, Warning};
use super::parts::PartSizes;
use super::{Core, JUMP_BACKWARD, JUMP_FORWARD, TD_MARGIN};
use crate::ts::{Pid, Ts};

/// The start of a frame: a video frame or audio PES of the timeline stream, or an audio
/// frame (PES) next to a video timeline. For TS input `stream` is the PID; for access-unit
/// input, the track id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameStart {
    pub stream: Pid,
    pub dts: Ts,
    pub key: bool,
}

impl Core {
    /// A timeline frame starts at `dts` (its kind may not be known yet): advances the
    /// clock, learns the frame duration, and returns the last frame's start when `dts`
    /// jumped (a discontinuity).
    pub(super) fn timeline_step(&mut self, dts: Ts) -> Option<Ts> {
        self.audio_run = Ts(0);
        let last = self.last_frame?;
        let step = dts - last;
        if step > Ts(0) || step < Ts(-JUMP_BACKWARD.0) {
            self.clock_advanced();
        }
        if step > JUMP_FORWARD || step < Ts(-JUMP_BACKWARD.0) {
            return Some(last);
        }
        if step > Ts(0) {
            self.frame_duration = Some(step);
            self.longest_frame = self.longest_frame.max(step);
            if self.part_sizes.is_none() {
                self.fix_part_sizes(step);
            }
        }
        None
    }

    /// Fixes how parts are sized, once the frame duration is known: from the configured
    /// part duration, or from the PART-TARGET an earlier publish of the feed fixed.
    fn fix_part_sizes(&mut self, frame: Ts) {
        let Some(pd) = self.cfg.part_duration else {
            return;
        };
        // Coarse timestamps: the longest frame they may show (see `timestamp_resolution`).
        let frame = frame + Ts((self.cfg.timestamp_resolution.0 - 1).max(0));
        let video = self.timeline_is_video();
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

    /// At the start of a timeline frame: a new segment, or a new part, or neither. A
    /// keyframe's place in the part is marked, should its configuration turn out to have
    /// changed once its unit is complete (`config_cut`).
    pub(super) fn frame_start(&mut self, s: FrameStart, jump: Option<Ts>) {
        self.cut_at_frame(s, jump);
        if s.key
            && let Some(cur) = &mut self.cur
        {
            cur.mark_key(s.dts);
        }
    }

    fn cut_at_frame(&mut self, s: FrameStart, jump: Option<Ts>) {
        match self.timeline_high {
            Some(high) if jump.is_none() => {
                if s.dts > high {
                    self.media_time = self.media_time + (s.dts - high);
                    self.timeline_high = Some(s.dts);
                }
            }
            _ => self.timeline_high = Some(s.dts),
        }
        let key = s.key;
        let video = self.timeline_is_video();
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
        self.decide(s, jump);
        if !had_segment || self.stats.segments != segments {
            self.part_frames = 1;
            return;
        }
        let Some(sizes) = self.part_sizes.filter(|_| self.cfg.part_duration.is_some()) else {
            return;
        };
        let frame = self.frame_duration.unwrap_or(Ts(0));
        let Some(cur) = &mut self.cur else { return };
        let psi = self.psi.as_mut();
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
            let configs = self.reasm.as_mut().map(|r| r.configs());
            let part = cur.cut_part(s.dts, key || !video, psi, configs);
            let index = cur.parts.len() - 1;
            let head = cur.head;
            self.events.push_back(Event::Part(PartEvent {
                part,
                index,
                head,
                ends_segment: false,
            }));
            if !key {
                self.plan.pop_front();
            }
            self.part_frames = 0;
        }
        self.part_frames += 1;
    }

    /// Decides, at the start of a timeline frame, whether a new segment starts here.
    fn decide(&mut self, s: FrameStart, jump: Option<Ts>) {
        let key = s.key;
        let first = *self.first_seen.get_or_insert(s.dts);
        // How far this keyframe came after the one before.
        let gop = key.then_some(self.last_key).flatten().map(|k| s.dts - k);
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
        } else if self.audio_cut_due() && s.dts > cur.head.start {
            // Audio whose configuration changed waits for a segment of its own (`config_cut`).
            self.events.push_back(Event::NewConfiguration);
            self.close(elapsed);
            self.open(s.dts, key, false);
            self.stats.config_cuts += 1;
            self.realign = !key;
        } else if key
            && (self.realign
                || elapsed.0 + frame.0 / 2 >= self.cfg.segment_duration.0
                || self.next_key_overruns(elapsed, gop))
        {
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

    /// Whether the segment, `elapsed` long at a keyframe that came `gop` after the one
    /// before, would outrun the target duration waiting for the next keyframe as far away
    /// (and be cut without one): it ends at this keyframe then, shorter than
    /// `segment_duration` but starting the next one with a keyframe. Keyframes that do not
    /// fall on multiples of the segment duration (x264's `tune=zerolatency`: every
    /// 0.36–0.4 s) otherwise made every other segment start without one.
    fn next_key_overruns(&self, elapsed: Ts, gop: Option<Ts>) -> bool {
        let (Some(td), Some(gop)) = (self.target_duration, gop) else {
            return false;
        };
        elapsed.0 * 2 >= self.cfg.segment_duration.0
            && elapsed + gop > Ts(i64::from(td) * Ts::HZ) + TD_MARGIN
    }

    pub(super) fn forced(&mut self, at: Ts, key: bool, reason: &'static str, duration: Ts) {
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
    pub(super) fn check_stall(&mut self, s: FrameStart) {
        if let Some((pid, last)) = self.last_audio
            && pid == s.stream
        {
            let step = s.dts - last;
            if step > Ts(0) && step <= JUMP_FORWARD {
                self.audio_run = self.audio_run + step;
            }
        }
        self.last_audio = Some((s.stream, s.dts));
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
    pub(super) fn clock_advanced(&mut self) {
        self.frozen_run = 0;
        self.frozen = false;
    }

    pub(super) fn open(&mut self, dts: Ts, independent: bool, discontinuity: bool) {
        if self.psi.is_none() {
            return;
        }
        if independent {
            self.realign = false;
        }
        let anchor = *self.anchor_ms.get_or_insert(self.now_ms);
        let head = SegmentHead {
            start: dts,
            independent,
            discontinuity,
            pdt_ms: anchor + self.served.0 / 90,
        };
        match self.units_from {
            Some(0) => {
                self.units_on = true;
                self.units_from = None;
            }
            Some(n) => self.units_from = Some(n - 1),
            None => {}
        }
        let arena = std::mem::take(&mut self.arena);
        let b = Building::new(head, self.psi.as_mut(), arena, self.units_on);
        self.cur = Some(if self.segment_units {
            b
        } else {
            b.without_segment_units()
        });
    }

    pub(super) fn close(&mut self, duration: Ts) {
        let Some(b) = self.cur.take() else { return };
        let duration = if duration > Ts(0) {
            duration
        } else {
            self.frame_duration.unwrap_or(Ts(1))
        };
        let configs = self.reasm.as_mut().map(|r| r.configs());
        let head = b.head;
        let (last, seg, arena) = b.finish(duration, configs);
        self.closed(head, Some(last), seg, arena);
    }

    /// A segment was ended: its last part (unless it was cut already) and the segment go out.
    pub(super) fn closed(
        &mut self,
        head: SegmentHead,
        last: Option<Part>,
        seg: Segment,
        mut arena: PartArena,
    ) {
        let duration = seg.duration;
        if self.target_duration.is_none() {
            let td = target_duration_for(self.cfg.segment_duration, duration);
            self.target_duration = Some(td);
            self.events.push_back(Event::TargetDuration(td));
        }
        self.served = self.served + duration;
        let largest = seg.parts.iter().map(|p| p.data.len()).max().unwrap_or(0);
        arena.size_for(largest + largest / 8);
        self.arena = arena;
        self.stats.segments += 1;
        if let Some(part) = last {
            let index = seg.parts.len() - 1;
            self.events.push_back(Event::Part(PartEvent {
                part,
                index,
                head,
                ends_segment: true,
            }));
        }
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
