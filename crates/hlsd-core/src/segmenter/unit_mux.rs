//! TS for access-unit input: hlsd's program for the declared tracks and each unit muxed
//! into one PES (`ts::muxer`), so parts built from access units carry TS bytes exactly as
//! parts of TS input do (hlsd's PAT and PMT first, then the PES).
//!
//! PIDs are hlsd's, fixed by the track's place in `set_tracks`: 0x100 for the first,
//! 0x101 for the second, and so on (track ids are the caller's and need not be valid PIDs);
//! the PMT is on 0x1000, program 1, its PCR on the timeline track. Stream types and ids:
//! H.264 0x1B / H.265 0x24 on 0xE0; AAC 0x0F and MPEG audio 0x03 on 0xC0 (0xC1... for
//! further audio tracks); AC-3 0x81 with an `AC-3` registration descriptor on 0xBD.
//!
//! Payloads: video units are Annex B access units, written as given, except that a unit
//! without an access unit delimiter gets one first (TS wants one in every access unit) and
//! a keyframe without its own SPS gets its track configuration's parameter sets after the
//! delimiter, so every segment and part that starts with a keyframe decodes alone. Audio units are written as given (ADTS for AAC, MPEG
//! audio frames, AC-3 syncframes), except that an AAC unit not starting with an ADTS
//! header is taken as one raw AAC frame and gets the ADTS header its configuration's
//! AudioSpecificConfig implies (what RTMP brings).

use super::units::{AccessUnit, AccessUnitError, Track, TrackCodec};
use super::{JUMP_BACKWARD, Ts};
use crate::codec::prefix::{adts_header, is_adts, video_prefix};
use crate::codec::{AudioCodec, CodecConfig, VideoCodec};
use crate::ts::Pid;
use crate::ts::muxer::{Clock, Muxer, PesOut, TsSink};
use crate::ts::pes_writer::{
    STREAM_ID_AUDIO, STREAM_ID_PRIVATE_1, STREAM_ID_VIDEO, max_sized_payload,
};
use crate::ts::psi::{EsInfo, Pmt};

/// The PMT's PID for access-unit input.
pub const UNIT_PMT_PID: Pid = Pid(0x1000);
/// The first track's PID; the others follow.
pub const UNIT_FIRST_PID: u16 = 0x100;

#[derive(Debug, Default)]
pub(super) struct UnitMux {
    muxer: Muxer,
    tracks: Vec<MuxTrack>,
    /// A timestamp jump came on the timeline and no PCR has said so yet.
    discontinuity: bool,
}

#[derive(Debug)]
struct MuxTrack {
    id: u16,
    codec: TrackCodec,
    pid: Pid,
    stream_id: u8,
    last_dts: Option<Ts>,
}

/// How far from 0 a unit's DTS and PTS may be (2^60 ticks, some 400,000 years): further
/// off, the i64 arithmetic on them could overflow.
const MAX_TIMESTAMP: u64 = 1 << 60;

/// The AudioSpecificConfig of a unit's configuration (empty when it has none).
fn asc(au: &AccessUnit) -> &[u8] {
    match au.config.as_deref() {
        Some(CodecConfig::Audio { specific, .. }) => specific,
        _ => &[],
    }
}

impl UnitMux {
    /// Takes the declared tracks (again when they change: a track keeps its PID when it
    /// keeps its place, and counters run on); returns hlsd's program for them.
    pub fn set_tracks(&mut self, tracks: &[Track], timeline: Option<Track>) -> Pmt {
        let old = std::mem::take(&mut self.tracks);
        let mut audio = 0u8;
        for (i, t) in tracks.iter().enumerate() {
            let stream_id = match t.codec {
                TrackCodec::Video(_) => STREAM_ID_VIDEO,
                TrackCodec::Audio(AudioCodec::Ac3) => STREAM_ID_PRIVATE_1,
                TrackCodec::Audio(_) => {
                    let id = STREAM_ID_AUDIO + audio % 32;
                    audio = audio.wrapping_add(1);
                    id
                }
            };
            let last_dts = old
                .iter()
                .find(|o| o.id == t.id && o.codec == t.codec)
                .and_then(|o| o.last_dts);
            self.tracks.push(MuxTrack {
                id: t.id,
                codec: t.codec,
                pid: Pid(UNIT_FIRST_PID + i as u16),
                stream_id,
                last_dts,
            });
        }
        let pcr_pid = timeline
            .and_then(|t| self.track(t.id))
            .map_or(Pid(UNIT_FIRST_PID), |t| t.pid);
        Pmt {
            program_number: 1,
            pcr_pid,
            program_info: Vec::new(),
            streams: self
                .tracks
                .iter()
                .map(|t| {
                    let (stream_type, descriptors) = match t.codec {
                        TrackCodec::Video(VideoCodec::H264) => (0x1B, vec![]),
                        TrackCodec::Video(VideoCodec::H265) => (0x24, vec![]),
                        TrackCodec::Audio(AudioCodec::Aac) => (0x0F, vec![]),
                        TrackCodec::Audio(AudioCodec::Mpeg) => (0x03, vec![]),
                        TrackCodec::Audio(AudioCodec::Ac3) => {
                            (0x81, vec![0x05, 4, b'A', b'C', b'-', b'3'])
                        }
                    };
                    EsInfo {
                        stream_type,
                        pid: t.pid,
                        descriptors,
                    }
                })
                .collect(),
        }
    }

    fn track(&self, id: u16) -> Option<&MuxTrack> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Checks a unit before anything acts on it, and notes its decode time. Refused: an
    /// empty unit, a codec other than its track's, PTS before DTS, a DTS or PTS beyond ±2^60 ticks, a DTS going back on its
    /// track by up to [`JUMP_BACKWARD`] (further back is a discontinuity), an audio unit too
    /// long for one PES, a raw AAC frame without a configuration to write its ADTS header.
    pub fn admit(&mut self, au: &AccessUnit) -> Result<(), AccessUnitError> {
        let track = au.track;
        let t = self
            .tracks
            .iter_mut()
            .find(|t| t.id == track)
            .ok_or(AccessUnitError::UnknownTrack(track))?;
        if au.data.is_empty() {
            return Err(AccessUnitError::Empty { track });
        }
        if au.codec != t.codec {
            return Err(AccessUnitError::CodecMismatch { track });
        }
        if au.dts.0.unsigned_abs() > MAX_TIMESTAMP || au.pts.0.unsigned_abs() > MAX_TIMESTAMP {
            return Err(AccessUnitError::TimestampOutOfRange {
                track,
                pts: au.pts,
                dts: au.dts,
            });
        }
        if au.pts < au.dts {
            return Err(AccessUnitError::PtsBeforeDts {
                track,
                pts: au.pts,
                dts: au.dts,
            });
        }
        if let Some(last) = t.last_dts
            && au.dts < last
            && last - au.dts <= JUMP_BACKWARD
        {
            return Err(AccessUnitError::Backwards {
                track,
                last,
                dts: au.dts,
            });
        }
        if let TrackCodec::Audio(codec) = t.codec {
            let mut len = au.data.len();
            if codec == AudioCodec::Aac && !is_adts(&au.data) {
                if adts_header(asc(au), len).is_none() {
                    return Err(AccessUnitError::NoAdtsHeader { track });
                }
                len += 7;
            }
            if len > max_sized_payload(au.pts != au.dts) {
                return Err(AccessUnitError::TooLong { track, bytes: len });
            }
        }
        t.last_dts = Some(au.dts);
        Ok(())
    }

    /// The timeline jumped: the next PCR says so.
    pub fn jumped(&mut self) {
        self.discontinuity = true;
    }

    /// Writes an admitted unit as one PES into `out`. `span` is set for the timeline track
    /// (whose PES carry the PCR): about how long the unit lasts.
    pub fn write(&mut self, au: &AccessUnit, span: Option<Ts>, out: &mut impl TsSink) {
        let Some(t) = self.tracks.iter().find(|t| t.id == au.track) else {
            return;
        };
        let (pid, stream_id, codec) = (t.pid, t.stream_id, t.codec);
        let data = &au.data[..];
        let adts;
        let prefix;
        let payload: [&[u8]; 4] = match codec {
            TrackCodec::Video(codec) => {
                prefix = video_prefix(codec, data, au.key, au.config.as_deref());
                let (a, b) = data.split_at(prefix.at);
                [a, prefix.aud, &prefix.sets, b]
            }
            TrackCodec::Audio(AudioCodec::Aac) if !is_adts(data) => {
                // `admit` refused units without one.
                let Some(h) = adts_header(asc(au), data.len()) else {
                    return;
                };
                adts = h;
                [&adts, data, &[], &[]]
            }
            _ => [data, &[], &[], &[]],
        };
        let clock = span.map(|span| Clock {
            span,
            discontinuity: std::mem::take(&mut self.discontinuity),
        });
        self.muxer.write(
            &PesOut {
                pid,
                stream_id,
                pts: au.pts,
                dts: au.dts,
                random_access: au.key && (span.is_some() || matches!(codec, TrackCodec::Video(_))),
                clock,
                payload: &payload,
            },
            out,
        );
    }
}
