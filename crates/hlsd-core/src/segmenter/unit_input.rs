//! Access-unit input: frames that come with no TS at all (RTMP will use this entry). They go
//! through the same cutter as TS input, so both decide the same segments, parts and
//! discontinuities for the same frames, and are muxed into TS (`unit_mux`) in the parts
//! the cutter put them in: each part holds hlsd's PAT and PMT, then one PES per unit, and
//! carries the units too ([`Part::units`](super::Part::units)).

use super::cutter::FrameStart;
use super::unit_mux::UNIT_PMT_PID;
use super::units::{AccessUnit, AccessUnitError, MAX_TRACKS, Track, TrackCodec, UnitRole};
use super::{Core, Event, Segmenter, Warning};
use crate::ts::psi_writer::PsiWriter;
use crate::ts::{Pid, Ts};

impl Segmenter {
    /// Declares the tracks access units will come on, as a PMT does for TS (again when they
    /// change: hlsd's PAT and PMT are then written again under a new version, in the part
    /// being built). The timeline is the first video track, or the first audio track when
    /// there is none. PIDs are given by place (`unit_mux`).
    pub fn set_tracks(&mut self, tracks: &[Track]) -> Result<(), AccessUnitError> {
        let core = &mut self.core;
        if core.stats.bytes > 0 {
            return Err(AccessUnitError::TsInput);
        }
        if tracks.is_empty() {
            return Err(AccessUnitError::NoTracks);
        }
        if tracks.len() > MAX_TRACKS {
            return Err(AccessUnitError::TooManyTracks {
                count: tracks.len(),
            });
        }
        core.unit_input = true;
        core.units_on = true;
        core.unit_tracks.tracks = tracks.to_vec();
        let pmt = core
            .unit_mux
            .set_tracks(tracks, core.unit_tracks.timeline());
        match &mut core.psi {
            Some(w) => {
                w.update(&pmt, UNIT_PMT_PID);
                if let Some(cur) = &mut core.cur {
                    let mut tables = Vec::with_capacity(w.len());
                    w.write_into(&mut tables);
                    cur.append(&tables);
                }
            }
            None => core.psi = Some(PsiWriter::new(&pmt, UNIT_PMT_PID)),
        }
        core.events.push_back(Event::Program(pmt));
        Ok(())
    }

    /// Feeds one access unit, received at `now_ms`, in decode order per track and
    /// interleaved across tracks about as a muxer would. Access units of the timeline track
    /// decide the cuts exactly as TS frames do (keyframe at or after the segment duration,
    /// GOP overrun, timestamp jumps, parts); audio next to video is followed for stalls.
    /// Units before the first keyframe are dropped. Each unit kept is muxed into one PES
    /// in the part being built, and carried in [`Part::units`](super::Part::units).
    ///
    /// A unit refused (see [`AccessUnitError`]) changes nothing.
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
        core.unit_mux.admit(&au)?;
        core.now_ms = now_ms;
        let stream = Pid(au.track);
        let mut span = None;
        match role {
            UnitRole::Timeline => {
                let jump = core.timeline_step(au.dts);
                if jump.is_some() {
                    core.unit_mux.jumped();
                }
                core.last_frame = Some(au.dts);
                let video = core.timeline_is_video();
                let key = au.key || !video;
                core.frame_start(
                    FrameStart {
                        stream,
                        dts: au.dts,
                        key,
                    },
                    jump,
                );
                let step = core.frame_duration.unwrap_or(Ts(0));
                span = Some(match au.codec {
                    TrackCodec::Audio(_) => au.audio_duration().unwrap_or(step),
                    TrackCodec::Video(_) => step,
                });
            }
            UnitRole::Audio => core.check_stall(FrameStart {
                stream,
                dts: au.dts,
                key: true,
            }),
            UnitRole::Other => {}
        }
        if role != UnitRole::Other && core.note_config(&au) {
            core.hold(au);
            return Ok(());
        }
        core.mux_unit(au, span);
        // Audio held for a segment started at this frame follows its first frame.
        core.release_held();
        Ok(())
    }
}

impl Core {
    /// Puts a unit of access-unit input into the part being built, muxed, under the same
    /// frozen-clock rule as TS packets (counting the unit's bytes). `span`: the timeline's.
    pub(super) fn mux_unit(&mut self, au: AccessUnit, span: Option<Ts>) {
        let Some(cur) = &mut self.cur else { return };
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
        self.unit_mux.write(&au, span, cur);
        cur.push_unit(au);
    }

    /// Puts a unit out of TS input into the part being built, while packets are kept.
    pub(super) fn add_unit(&mut self, au: AccessUnit) {
        if self.frozen {
            return;
        }
        if self.note_config(&au) {
            self.hold(au);
            return;
        }
        self.release_held();
        if let Some(cur) = &mut self.cur {
            cur.push_unit(au);
        }
    }
}
