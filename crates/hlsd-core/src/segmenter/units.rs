//! Access units: the frames of a publish, container-neutral, as an fMP4 packager (or the TS
//! muxer for input that brings no TS, `unit_mux`) needs them. With
//! `SegmenterConfig::access_units` on, every finished [`Part`](super::Part) carries the units it contains; access-unit input
//! ([`Segmenter::push_access_unit`](super::Segmenter::push_access_unit)) always does.

use crate::codec::{AudioCodec, CodecConfig, StreamKind, VideoCodec};
use crate::ts::Ts;
use crate::ts::psi::Pmt;
use bytes::Bytes;
use std::sync::Arc;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackCodec {
    Video(VideoCodec),
    Audio(AudioCodec),
}

/// A track of access-unit input (what a PMT entry is to TS input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    /// The caller's id for it; for TS input, access units carry the PID here.
    pub id: u16,
    pub codec: TrackCodec,
}

impl Track {
    /// The video and audio streams of a PMT as tracks (the PID as id), in table order.
    pub fn of_program(pmt: &Pmt) -> Vec<Track> {
        pmt.streams
            .iter()
            .filter_map(|es| {
                let codec = match StreamKind::from_stream_type(es.stream_type) {
                    StreamKind::Video(v) => TrackCodec::Video(v),
                    StreamKind::Audio(a) => TrackCodec::Audio(a),
                    StreamKind::Other(_) => return None,
                };
                Some(Track {
                    id: es.pid.0,
                    codec,
                })
            })
            .collect()
    }
}

/// The audio frames in one access unit. Audio units are whole PES payloads (a muxer packs
/// several frames into one PES: ffmpeg 8 or 9 AAC frames), not split into frames here; a
/// packager splits them by their headers (`codec::audio::split_frames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrames {
    pub count: u32,
    /// Samples in all of them (1024 per AAC raw data block), at the config's sample rate.
    pub samples: u32,
}

/// One frame of video, or one audio PES payload, with its times on the segmenter's 90 kHz
/// timeline (unrolled past the 33-bit wrap, the same values cuts and part starts use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub track: u16,
    pub codec: TrackCodec,
    pub dts: Ts,
    pub pts: Ts,
    /// A random access point (IDR / IRAP); every audio unit is one.
    pub key: bool,
    /// Video: the Annex B access unit as received (AUD, parameter sets and SEI included);
    /// access-unit input must give Annex B too (RTMP's AVCC/HVCC length prefixes are
    /// converted before). Audio: the PES payload as received (ADTS frames for AAC, MPEG
    /// audio frames, AC-3 syncframes); access-unit input may also give one raw AAC frame,
    /// whose ADTS header the TS muxer writes from `config`.
    pub data: Bytes,
    /// Audio only, when the frames could be counted (by their headers: ADTS, MPEG audio,
    /// AC-3).
    pub frames: Option<AudioFrames>,
    /// The track's configuration in effect for this unit, once known. The segmenter makes a
    /// new `Arc` only when the configuration changes, so `Arc::ptr_eq` with the previous
    /// unit's tells a packager when a new init is needed (`==` compares the contents).
    pub config: Option<Arc<CodecConfig>>,
}

impl AccessUnit {
    /// Its duration on the 90 kHz timeline, for audio whose frames were counted.
    pub fn audio_duration(&self) -> Option<Ts> {
        let frames = self.frames?;
        match self.config.as_deref()? {
            CodecConfig::Audio { sample_rate, .. } if *sample_rate > 0 => Some(Ts(i64::from(
                frames.samples,
            ) * Ts::HZ
                / i64::from(*sample_rate))),
            _ => None,
        }
    }
}

/// A track's configuration as known when a part was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    pub track: u16,
    pub config: Arc<CodecConfig>,
}

/// Why an access unit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessUnitError {
    #[error("this segmenter is fed TS; it takes no access units")]
    TsInput,
    #[error("access unit on track {0}, which was not declared")]
    UnknownTrack(u16),
    #[error("no tracks declared")]
    NoTracks,
    #[error("empty access unit on track {track}")]
    Empty { track: u16 },
    #[error("access unit on track {track} is not of the track's codec")]
    CodecMismatch { track: u16 },
    #[error("access unit on track {track} has PTS {pts:?} before its DTS {dts:?}")]
    PtsBeforeDts { track: u16, pts: Ts, dts: Ts },
    #[error("DTS went back on track {track}, from {last:?} to {dts:?}")]
    Backwards { track: u16, last: Ts, dts: Ts },
    #[error("raw AAC on track {track} without an AudioSpecificConfig ADTS can carry")]
    NoAdtsHeader { track: u16 },
    #[error("audio access unit of {bytes} bytes on track {track} does not fit one PES")]
    TooLong { track: u16, bytes: usize },
    #[error("{count} tracks declared; at most {MAX_TRACKS} are taken")]
    TooManyTracks { count: usize },
    #[error("access unit on track {track} has PTS {pts:?} or DTS {dts:?} beyond ±2^60 ticks")]
    TimestampOutOfRange { track: u16, pts: Ts, dts: Ts },
}

/// The most tracks access-unit input takes.
pub const MAX_TRACKS: usize = 64;

/// The tracks of access-unit input and which one is the timeline: the first video track,
/// or the first audio track when there is no video (as for TS input).
#[derive(Debug, Default)]
pub(super) struct UnitTracks {
    pub tracks: Vec<Track>,
}

/// A track's role for the cutter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnitRole {
    Timeline,
    /// Audio next to a video timeline (followed for stall detection).
    Audio,
    Other,
}

impl UnitTracks {
    pub fn timeline(&self) -> Option<Track> {
        let video = self
            .tracks
            .iter()
            .find(|t| matches!(t.codec, TrackCodec::Video(_)));
        video
            .or_else(|| {
                self.tracks
                    .iter()
                    .find(|t| matches!(t.codec, TrackCodec::Audio(_)))
            })
            .copied()
    }

    pub fn timeline_is_video(&self) -> bool {
        self.timeline()
            .is_some_and(|t| matches!(t.codec, TrackCodec::Video(_)))
    }

    pub fn role(&self, id: u16) -> Option<UnitRole> {
        let track = self.tracks.iter().find(|t| t.id == id)?;
        Some(if self.timeline().is_some_and(|t| t.id == id) {
            UnitRole::Timeline
        } else if matches!(track.codec, TrackCodec::Audio(_)) {
            UnitRole::Audio
        } else {
            UnitRole::Other
        })
    }
}
