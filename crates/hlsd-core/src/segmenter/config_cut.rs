//! A segment per codec configuration: with access units on, a segment starts again at a
//! timeline keyframe whose unit brings a video configuration (SPS/PPS/VPS) other than the
//! one in effect, even short of the segment duration. An fMP4 playlist lists a segment under
//! one init (EXT-X-MAP), so every part of a segment must decode with the same parameter
//! sets. The keyframe makes the new segment independent; it is no discontinuity.
//!
//! A unit is complete only once its frame was cut for (a TS video unit at the next PES of its
//! stream), so the cut is made after the fact: the keyframe's place in the part being built
//! was marked (`Building::mark_key`), and the segment is ended there, what came since moving
//! to the next. With LL-HLS a keyframe starts a part, so that is a part boundary.
//!
//! An audio configuration change (sample rate, channels) next to video: the audio unit that
//! brings it, and the audio units after it, are held (`held`), and the next timeline frame
//! starts a new segment (not independent unless that frame is a keyframe), whose first part
//! gets them; so no audio is listed under the init from before the change. The TS packets
//! stay where they came (before the cut, up to one video frame early). With an audio
//! timeline every frame is a keyframe, and the cut is made at the frame that brought the
//! change.

use super::Core;
use super::events::Event;
use super::units::{AccessUnit, TrackCodec};
use std::sync::Arc;

impl Core {
    /// A unit about to go into the part being built: notes its configuration, and ends the
    /// segment at its keyframe when a configuration changed since the segment began. True
    /// when the unit must be held for the next segment instead ([`Core::hold`]).
    pub(super) fn note_config(&mut self, au: &AccessUnit) -> bool {
        let by_video = matches!(au.codec, TrackCodec::Audio(_))
            && self.units_on
            && self.cur.is_some()
            && self.timeline_is_video();
        let Some(config) = &au.config else {
            return by_video && !self.held.is_empty();
        };
        let changed = match self.in_effect.iter_mut().find(|(t, _)| *t == au.track) {
            Some((_, old)) => {
                let changed = !Arc::ptr_eq(old, config) && **old != **config;
                *old = config.clone();
                changed
            }
            None => {
                self.in_effect.push((au.track, config.clone()));
                false
            }
        };
        if by_video && (changed || !self.held.is_empty()) {
            return true;
        }
        self.config_changed |= changed;
        if self.config_changed && au.key && self.units_on && self.cut_at_key(au) {
            self.config_changed = false;
        }
        false
    }

    /// Holds an audio unit for the segment the next timeline frame starts (`cutter`).
    pub(super) fn hold(&mut self, au: AccessUnit) {
        if self.held.is_empty() {
            self.held_at = self.stats.segments;
        }
        self.held.push(au);
    }

    /// Whether held audio waits for a new segment, to be started at this timeline frame.
    pub(super) fn audio_cut_due(&self) -> bool {
        !self.held.is_empty() && self.held_at == self.stats.segments
    }

    /// Once a new segment began, the held units go into its part being built (muxed, for
    /// access-unit input).
    pub(super) fn release_held(&mut self) {
        if self.held.is_empty() || self.held_at == self.stats.segments {
            return;
        }
        for au in std::mem::take(&mut self.held) {
            if self.unit_input {
                self.mux_unit(au, None);
            } else if let Some(cur) = &mut self.cur {
                cur.push_unit(au);
            }
        }
    }

    /// Ends the segment being built where the keyframe `au` began; true when a segment now
    /// starts there (it did already, or it was cut).
    fn cut_at_key(&mut self, au: &AccessUnit) -> bool {
        let Some(cur) = &self.cur else { return false };
        if cur.head.start == au.dts {
            if cur.parts.is_empty() {
                self.events.push_back(Event::NewConfiguration);
            }
            return true;
        }
        if cur.key_mark() != Some(au.dts) || au.dts < cur.head.start {
            return false;
        }
        let Some(b) = self.cur.take() else {
            return false;
        };
        let head = b.head;
        let configs = self.reasm.as_mut().map(|r| r.configs());
        let Some((last, seg, arena, tail)) = b.finish_at_key(configs) else {
            return false;
        };
        // Before the segment ends, so a consumer knows it when the segment is listed; the
        // next segment's first part is announced at the next part start, still to come.
        self.events.push_back(Event::NewConfiguration);
        self.closed(head, last, seg, arena);
        self.open(au.dts, true, false);
        self.stats.config_cuts += 1;
        if let Some(cur) = &mut self.cur {
            cur.append(&tail.bytes);
            for u in tail.units {
                cur.push_unit(u);
            }
        }
        true
    }
}
