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
//! An audio configuration change (sample rate, channels) cannot be cut at exactly where
//! it happens next to video: the video frame there is not independent. The next timeline
//! keyframe starts a new segment instead, so at most one GOP of audio is listed under the
//! init from before the change. With an audio timeline every frame is a keyframe, and the
//! cut is made at the frame that brought the change.

use super::Core;
use super::events::Event;
use super::units::AccessUnit;
use std::sync::Arc;

impl Core {
    /// A unit about to go into the part being built: notes its configuration, and ends the
    /// segment at its keyframe when a configuration changed since the segment began.
    pub(super) fn note_config(&mut self, au: &AccessUnit) {
        let Some(config) = &au.config else { return };
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
        self.config_changed |= changed;
        if self.config_changed && au.key && self.units_on && self.cut_at_key(au) {
            self.config_changed = false;
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
