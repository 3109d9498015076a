//! FLV tag bodies, as RTMP carries them in its video and audio messages, into access units
//! for the segmenter's access-unit input (`Segmenter::set_tracks`,
//! `Segmenter::push_access_unit`).
//!
//! Video: H.264 (codec id 7), and H.265 (or H.264) as Enhanced RTMP sends them
//! ([`VideoPacket`]). The sequence header (an AVC- or HEVCDecoderConfigurationRecord,
//! [`records`]) gives the parameter sets and the NAL unit length size; each frame's
//! length-prefixed NAL units become one Annex B access unit; its composition offset is a
//! signed 24-bit count of milliseconds (PTS = DTS + offset). Audio: AAC (sound format 10);
//! the sequence header is the AudioSpecificConfig, each raw packet one AAC frame.
//!
//! Timestamps are 32-bit milliseconds (the RTMP chunk layer has already resolved extended
//! timestamps). They are unrolled across the 2^32 ms wrap by taking each one as the signed
//! 32-bit step from the previous, so audio a little behind video does not look like a wrap,
//! and put on the 90 kHz timeline.

mod packet;
mod records;
#[cfg(test)]
mod tests;

pub use packet::VideoPacket;
use records::Record;

use crate::codec::prefix::adts_header;
use crate::codec::{AudioCodec, AudioInfo, CodecConfig, MediaInfo, VideoCodec, VideoInfoSniffer};
use crate::segmenter::{AccessUnit, AudioFrames, Track, TrackCodec, UNIT_FIRST_PID};
use crate::ts::Ts;
use bytes::Bytes;
use std::sync::Arc;

/// 90 kHz ticks in a millisecond: FLV timestamps are multiples of this.
pub const MS: Ts = Ts(90);

/// Why a tag was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("empty tag")]
    Empty,
    #[error("{0} tag truncated")]
    Truncated(&'static str),
    #[error("video codec id {0} is not taken (H.264, or H.265 as Enhanced RTMP)")]
    VideoCodec(u8),
    #[error("enhanced RTMP video FourCC {0:?} is not taken (hvc1, avc1)")]
    FourCc(String),
    #[error("enhanced RTMP video packet type {0} is not taken")]
    ExPacketType(u8),
    #[error("the video codec changed within the publish")]
    CodecChanged,
    #[error("audio format {0} is not taken (AAC only)")]
    AudioFormat(u8),
    #[error("bad AVCDecoderConfigurationRecord: {0}")]
    BadAvcc(&'static str),
    #[error("bad HEVCDecoderConfigurationRecord: {0}")]
    BadHvcc(&'static str),
    #[error("bad AudioSpecificConfig: {0:02x?}")]
    BadAsc(Vec<u8>),
    #[error("{0} frame before its sequence header")]
    NoConfig(&'static str),
    #[error("NAL unit of {len} bytes announced with {left} bytes left in the tag")]
    BadNalLength { len: usize, left: usize },
}

/// What a tag gave: the tracks to declare first when they changed, and an access unit.
#[derive(Debug, Default)]
pub struct Demuxed {
    pub tracks: Option<Vec<Track>>,
    pub unit: Option<AccessUnit>,
}

#[derive(Debug)]
struct Video {
    id: u16,
    codec: VideoCodec,
    /// Bytes of each NAL unit's length prefix (1, 2 or 4).
    length_size: usize,
    config: Arc<CodecConfig>,
}

#[derive(Debug)]
struct Audio {
    id: u16,
    config: Arc<CodecConfig>,
}

/// The demuxer of one publish's FLV tags.
#[derive(Debug, Default)]
pub struct FlvDemux {
    /// The last raw timestamp and its unrolled value, in milliseconds.
    clock: Option<(u32, i64)>,
    video: Option<Video>,
    audio: Option<Audio>,
    /// Tracks in declaration order (their ids are their places from [`UNIT_FIRST_PID`]).
    tracks: Vec<Track>,
    /// A track was added since the tracks were last handed out.
    tracks_changed: bool,
    /// What the sequence headers say for the multivariant playlist (CODECS, RESOLUTION,
    /// FRAME-RATE), and whether that changed since [`FlvDemux::take_media_info`].
    info: MediaInfo,
    info_changed: bool,
}

impl FlvDemux {
    pub fn new() -> FlvDemux {
        FlvDemux::default()
    }

    /// The unrolled millisecond time of a raw 32-bit timestamp.
    fn unroll(&mut self, ts: u32) -> i64 {
        let ms = match self.clock {
            None => i64::from(ts),
            Some((last, at)) => at + i64::from(ts.wrapping_sub(last) as i32),
        };
        self.clock = Some((ts, ms));
        ms
    }

    fn add_track(&mut self, codec: TrackCodec) -> u16 {
        let id = UNIT_FIRST_PID + self.tracks.len() as u16;
        self.tracks.push(Track { id, codec });
        self.tracks_changed = true;
        id
    }

    fn out(&mut self, unit: Option<AccessUnit>) -> Demuxed {
        let tracks = (unit.is_some() && self.tracks_changed).then(|| {
            self.tracks_changed = false;
            self.tracks.clone()
        });
        Demuxed { tracks, unit }
    }

    /// The streams' information, when a sequence header changed it since last asked.
    pub fn take_media_info(&mut self) -> Option<MediaInfo> {
        std::mem::take(&mut self.info_changed).then(|| self.info.clone())
    }

    fn note_video_info(&mut self, config: &CodecConfig) {
        let CodecConfig::Video {
            codec,
            vps,
            sps,
            pps,
        } = config
        else {
            return;
        };
        // The parameter sets as Annex B: an SPS is read once the next start code shows.
        let mut es = Vec::new();
        for set in vps.iter().chain(sps).chain(pps) {
            es.extend_from_slice(&[0, 0, 0, 1]);
            es.extend_from_slice(set);
        }
        es.extend_from_slice(&[0, 0, 0, 1]);
        let mut sniffer = VideoInfoSniffer::new(*codec);
        self.info.has_video_stream = true;
        if let Some(Ok(v)) = sniffer.push(&es) {
            self.info.video = Some(v);
        }
        self.info_changed = true;
    }

    fn note_audio_info(&mut self, asc: &[u8]) {
        // The ADTS header this configuration implies says what an ADTS stream's would.
        if let Some(h) = adts_header(asc, 0)
            && let Ok(a) = AudioInfo::from_es(AudioCodec::Aac, &h)
        {
            self.info.audio = Some(a);
            self.info_changed = true;
        }
    }

    /// A video message's body, with its timestamp: a legacy FLV video tag (codec id 7,
    /// H.264) or an Enhanced RTMP one ([`VideoPacket::parse`]).
    pub fn video(&mut self, timestamp: u32, body: &Bytes) -> Result<Demuxed, FlvError> {
        match VideoPacket::parse(body)? {
            VideoPacket::Nothing => Ok(Demuxed::default()),
            VideoPacket::Config { codec, record } => {
                self.video_config(codec, record)?;
                Ok(Demuxed::default())
            }
            VideoPacket::Frame {
                codec,
                key,
                cts,
                data,
            } => {
                let v = self.video.as_ref().ok_or(FlvError::NoConfig("video"))?;
                if v.codec != codec {
                    return Err(FlvError::CodecChanged);
                }
                let data = annex_b(data, v.length_size)?;
                if data.is_empty() {
                    return Ok(Demuxed::default());
                }
                let (id, config) = (v.id, v.config.clone());
                let ms = self.unroll(timestamp);
                let unit = AccessUnit {
                    track: id,
                    codec: TrackCodec::Video(codec),
                    dts: Ts(ms * MS.0),
                    pts: Ts((ms + i64::from(cts)) * MS.0),
                    key,
                    data: Bytes::from(data),
                    frames: None,
                    config: Some(config),
                };
                Ok(self.out(Some(unit)))
            }
        }
    }

    /// A sequence header's decoder configuration record. The video track keeps its codec:
    /// a record of another codec is refused.
    fn video_config(&mut self, codec: VideoCodec, rec: &[u8]) -> Result<(), FlvError> {
        let Record {
            config,
            length_size,
        } = match codec {
            VideoCodec::H264 => records::avcc(rec)?,
            VideoCodec::H265 => records::hvcc(rec)?,
        };
        match &mut self.video {
            Some(v) if v.codec != codec => return Err(FlvError::CodecChanged),
            Some(v) => {
                v.length_size = length_size;
                if *v.config != config {
                    v.config = Arc::new(config);
                    let c = v.config.clone();
                    self.note_video_info(&c);
                }
            }
            None => {
                let id = self.add_track(TrackCodec::Video(codec));
                self.note_video_info(&config);
                self.video = Some(Video {
                    id,
                    codec,
                    length_size,
                    config: Arc::new(config),
                });
            }
        }
        Ok(())
    }

    /// An audio message's body, with its timestamp.
    pub fn audio(&mut self, timestamp: u32, body: &Bytes) -> Result<Demuxed, FlvError> {
        let &b0 = body.first().ok_or(FlvError::Empty)?;
        let format = b0 >> 4;
        if format != 10 {
            return Err(FlvError::AudioFormat(format));
        }
        let &packet_type = body.get(1).ok_or(FlvError::Truncated("audio"))?;
        let payload = body.slice(2..);
        if packet_type == 0 {
            self.aac_config(&payload)?;
            return Ok(Demuxed::default());
        }
        let a = self.audio.as_ref().ok_or(FlvError::NoConfig("audio"))?;
        if payload.is_empty() {
            return Ok(Demuxed::default());
        }
        let (id, config) = (a.id, a.config.clone());
        let ms = self.unroll(timestamp);
        let unit = AccessUnit {
            track: id,
            codec: TrackCodec::Audio(AudioCodec::Aac),
            dts: Ts(ms * MS.0),
            pts: Ts(ms * MS.0),
            key: true,
            data: payload,
            frames: Some(AudioFrames {
                count: 1,
                samples: 1024,
            }),
            config: Some(config),
        };
        Ok(self.out(Some(unit)))
    }

    /// Reads an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type 1 to 4 (what
    /// ADTS can carry in TS), an indexed sampling frequency, a channel configuration.
    fn aac_config(&mut self, asc: &[u8]) -> Result<(), FlvError> {
        const RATES: [u32; 13] = [
            96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
        ];
        let bad = || FlvError::BadAsc(asc.iter().take(8).copied().collect());
        let (&a, &b) = (asc.first().ok_or_else(bad)?, asc.get(1).ok_or_else(bad)?);
        let (object_type, rate, channels) = (a >> 3, (a & 7) << 1 | b >> 7, (b >> 3) & 0x0F);
        if !(1..=4).contains(&object_type) || channels == 0 || channels > 7 {
            return Err(bad());
        }
        let sample_rate = *RATES.get(usize::from(rate)).ok_or_else(bad)?;
        let config = CodecConfig::Audio {
            codec: AudioCodec::Aac,
            sample_rate,
            channels,
            specific: Bytes::copy_from_slice(&asc[..2]),
        };
        match &mut self.audio {
            Some(au) => {
                if *au.config != config {
                    au.config = Arc::new(config);
                    self.note_audio_info(&asc[..2]);
                }
            }
            None => {
                let id = self.add_track(TrackCodec::Audio(AudioCodec::Aac));
                self.note_audio_info(&asc[..2]);
                self.audio = Some(Audio {
                    id,
                    config: Arc::new(config),
                });
            }
        }
        Ok(())
    }
}

/// Length-prefixed NAL units (AVCC) as an Annex B access unit (4-byte start codes); empty
/// NAL units are left out.
fn annex_b(mut data: &[u8], length_size: usize) -> Result<Vec<u8>, FlvError> {
    let mut out = Vec::with_capacity(data.len() + 16);
    while !data.is_empty() {
        let prefix = data.get(..length_size).ok_or(FlvError::BadNalLength {
            len: length_size,
            left: data.len(),
        })?;
        let len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let rest = &data[length_size..];
        let nal = rest.get(..len).ok_or(FlvError::BadNalLength {
            len,
            left: rest.len(),
        })?;
        if !nal.is_empty() {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        data = &rest[len..];
    }
    Ok(out)
}
