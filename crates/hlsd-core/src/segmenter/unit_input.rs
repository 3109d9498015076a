//! Access-unit input: frames that come with no TS at all (RTMP will use this entry). They go
//! through the same cutter as TS input, so both decide the same segments, parts and
//! discontinuities for the same frames. The parts carry the access units and no TS bytes: a
//! TS muxer for this input is a later step.

use super::cutter::FrameStart;
use super::units::{AccessUnit, AccessUnitError, Track, UnitRole};
use super::{Core, Event, Segmenter, Warning};
use crate::ts::Pid;

impl Segmenter {
    /// Declares the tracks access units will come on, as a PMT does for TS (again when they
    /// change). The timeline is the first video track, or the first audio track when there
    /// is none.
    pub fn set_tracks(&mut self, tracks: &[Track]) -> Result<(), AccessUnitError> {
        let core = &mut self.core;
        if core.stats.bytes > 0 {
            return Err(AccessUnitError::TsInput);
        }
        if tracks.is_empty() {
            return Err(AccessUnitError::NoTracks);
        }
        core.unit_input = true;
        core.units_on = true;
        core.unit_tracks.tracks = tracks.to_vec();
        Ok(())
    }

    /// Feeds one access unit, received at `now_ms`, in decode order per track and
    /// interleaved across tracks about as a muxer would. Access units of the timeline track
    /// decide the cuts exactly as TS frames do (keyframe at or after the segment duration,
    /// GOP overrun, timestamp jumps, parts); audio next to video is followed for stalls.
    /// Units before the first keyframe are dropped. The parts carry the units
    /// ([`Part::units`](super::Part::units)) and no TS bytes.
    pub fn push_access_unit(&mut self, au: AccessUnit, now_ms: i64) -> Result<(), AccessUnitError> {
        let core = &mut self.core;
        if !core.unit_input {
            return Err(if core.stats.bytes > 0 {
                AccessUnitError::TsInput
            } else {
                AccessUnitError::NoTracks
            });
        }
        let role = core
            .unit_tracks
            .role(au.track)
            .ok_or(AccessUnitError::UnknownTrack(au.track))?;
        core.now_ms = now_ms;
        let stream = Pid(au.track);
        match role {
            UnitRole::Timeline => {
                let jump = core.timeline_step(au.dts);
                core.last_frame = Some(au.dts);
                let key = au.key || !core.timeline_is_video();
                core.frame_start(
                    FrameStart {
                        stream,
                        dts: au.dts,
                        key,
                    },
                    jump,
                );
            }
            UnitRole::Audio => core.check_stall(FrameStart {
                stream,
                dts: au.dts,
                key: true,
            }),
            UnitRole::Other => {}
        }
        core.add_unit(au);
        Ok(())
    }
}

impl Core {
    /// Puts a unit into the part being built: for access-unit input, under the same
    /// frozen-clock and size rules as TS packets; for TS input, while packets are kept.
    pub(super) fn add_unit(&mut self, au: AccessUnit) {
        if !self.unit_input && self.frozen {
            return;
        }
        if self.unit_input && self.cur.is_some() {
            let len = au.data.len();
            self.frozen_run += len;
            if self.frozen_run > self.cfg.max_frozen_bytes {
                if !self.frozen {
                    self.frozen = true;
                    self.events.push_back(Event::Warning(Warning::FrozenClock {
                        bytes: self.frozen_run - len,
                    }));
                }
                return;
            }
        }
        if let Some(cur) = &mut self.cur {
            cur.push_unit(au);
        }
    }
}
