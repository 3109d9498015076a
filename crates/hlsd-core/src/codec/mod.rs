//! What the elementary streams are: stream types from the PMT (ISO/IEC 13818-1 Table 2-34),
//! keyframe detection in video access units, and codec information (SPS, audio frame headers)
//! for the multivariant playlist.

pub mod audio;
pub mod audio_frames;
pub mod avc;
pub mod config;
pub mod hevc;
pub mod info;
pub mod nal;
pub mod prefix;
pub mod sniff;

pub use config::CodecConfig;
pub use info::{
    AudioFormat, AudioInfo, AvcProfile, HevcProfile, InfoError, MediaInfo, SpsFormat, VideoInfo,
    VideoProfile,
};
pub use nal::{FrameKind, SliceScanner};
pub use sniff::{AudioInfoSniffer, VideoInfoSniffer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC in ADTS (0x0F).
    Aac,
    /// MPEG-1/2 audio layers (0x03, 0x04): MP3 in practice.
    Mpeg,
    /// AC-3 (0x81).
    Ac3,
}

/// How hlsd treats an elementary stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video(VideoCodec),
    Audio(AudioCodec),
    /// Carried through untouched but not understood (LATM audio, metadata, subtitles...).
    Other(u8),
}

impl StreamKind {
    pub fn from_stream_type(stream_type: u8) -> StreamKind {
        match stream_type {
            0x1B => StreamKind::Video(VideoCodec::H264),
            0x24 => StreamKind::Video(VideoCodec::H265),
            0x0F => StreamKind::Audio(AudioCodec::Aac),
            0x03 | 0x04 => StreamKind::Audio(AudioCodec::Mpeg),
            0x81 => StreamKind::Audio(AudioCodec::Ac3),
            other => StreamKind::Other(other),
        }
    }
}
