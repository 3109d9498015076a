//! What a rendition carries, as an HLS multivariant playlist states it: RFC 6381 §3.3 CODECS
//! strings, RESOLUTION and FRAME-RATE (RFC 8216bis §4.4.6.2), built from the parsed SPS and
//! audio frame headers of the elementary streams.

use std::fmt::Write as _;

use thiserror::Error;

use super::{AudioCodec, VideoCodec};

/// Why codec information could not be read from an elementary stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InfoError {
    /// The crate that parses H.264 SPS refused it (its error, in words).
    #[error("H.264 SPS: {0}")]
    H264Sps(String),
    /// The crate that parses H.265 SPS refused it (its error, in words).
    #[error("H.265 SPS: {0}")]
    H265Sps(String),
    #[error("SPS NAL unit longer than {max} bytes")]
    SpsTooLong { max: usize },
    #[error("{what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what}: no sync word in the first {searched} bytes")]
    NoSync { what: &'static str, searched: usize },
    #[error("{what}: invalid {field} {value}")]
    Invalid {
        what: &'static str,
        field: &'static str,
        value: u32,
    },
}

/// Profile and level of an H.264 stream, as its SPS states them (ITU-T H.264 §7.3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcProfile {
    pub profile_idc: u8,
    /// `constraint_set0_flag` … `constraint_set5_flag` and the two reserved bits, as one byte.
    pub constraint_flags: u8,
    pub level_idc: u8,
}

impl AvcProfile {
    /// `avc1.PPCCLL` (RFC 6381 §3.3), in lower-case hex, e.g. `avc1.64001f`.
    pub fn codecs(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }
}

/// General profile, tier and level of an H.265 stream (ITU-T H.265 §7.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcProfile {
    /// `general_profile_space`, 0 in every stream in use.
    pub profile_space: u8,
    /// `general_tier_flag`: true for the High tier.
    pub high_tier: bool,
    pub profile_idc: u8,
    /// `general_profile_compatibility_flag[j]` for j = 0..32, flag 0 in the most significant bit
    /// (the order of the bitstream).
    pub compatibility_flags: u32,
    /// The 48 bits from `general_progressive_source_flag` through `general_inbld_flag`, as the
    /// six bytes of the bitstream.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc`: 30 × the level number (93 = level 3.1).
    pub level_idc: u8,
}

impl HevcProfile {
    /// `hvc1.<space><idc>.<compat>.<tier><level>[.<constraint bytes>]`
    /// (ISO/IEC 14496-15 Annex E.3), e.g. `hvc1.1.6.L93.B0`: the profile space as a letter
    /// (none, A, B, C) before the profile idc; the 32 compatibility flags in reverse bit order,
    /// in hex without leading zeros; L or H and the level idc; each constraint byte in hex,
    /// trailing zero bytes dropped.
    pub fn codecs(&self) -> String {
        let mut s = String::from("hvc1.");
        if let Some(letter) =
            [None, Some('A'), Some('B'), Some('C')][usize::from(self.profile_space & 3)]
        {
            s.push(letter);
        }
        let tier = if self.high_tier { 'H' } else { 'L' };
        let _ = write!(
            s,
            "{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            tier,
            self.level_idc
        );
        let kept = self
            .constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        for b in &self.constraint_flags[..kept] {
            let _ = write!(s, ".{b:X}");
        }
        s
    }
}

/// Codec-specific profile and level of a video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoProfile {
    Avc(AvcProfile),
    Hevc(HevcProfile),
}

/// What the sequence parameter set of a video stream says.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub profile: VideoProfile,
    /// Luma width and height after cropping (H.264 frame cropping, H.265 conformance window).
    pub width: u32,
    pub height: u32,
    /// Frames per second from the VUI timing information, when the SPS carries it; the exact
    /// ratio (30000/1001 gives 29.97002997…), left to the playlist writer to round.
    pub frame_rate: Option<f64>,
}

/// The picture format an SPS states, beyond [`VideoInfo`]: what an avcC's High-profile
/// fields (ISO/IEC 14496-15 §5.3.3.1.2) and an hvcC (§8.3.3.1.2) carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsFormat {
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// H.265: sps_max_sub_layers_minus1 + 1; H.264: 1.
    pub sub_layers: u8,
    /// H.265: sps_temporal_id_nesting_flag; H.264: false.
    pub temporal_id_nested: bool,
}

impl VideoInfo {
    pub fn codec(&self) -> VideoCodec {
        match self.profile {
            VideoProfile::Avc(_) => VideoCodec::H264,
            VideoProfile::Hevc(_) => VideoCodec::H265,
        }
    }

    /// The RFC 6381 codec string of this stream (`avc1.64001f`, `hvc1.1.6.L93.B0`).
    pub fn codecs(&self) -> String {
        match &self.profile {
            VideoProfile::Avc(p) => p.codecs(),
            VideoProfile::Hevc(p) => p.codecs(),
        }
    }
}

/// Codec-specific description of an audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// AAC; `object_type` is the MPEG-4 audio object type (2 = AAC-LC). ADTS can only signal
    /// the base object types 1–4: HE-AAC (SBR) in ADTS reads as AAC-LC.
    Aac {
        object_type: u8,
    },
    /// MPEG-1/2 audio, `layer` 1–3 (3 is MP3).
    Mpeg {
        layer: u8,
    },
    Ac3,
}

/// What the first frame header of an audio stream says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    pub format: AudioFormat,
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels, LFE included; 0 when the ADTS header defers to an in-band program
    /// config element (channel_configuration 0).
    pub channels: u8,
}

impl AudioInfo {
    pub fn codec(&self) -> AudioCodec {
        match self.format {
            AudioFormat::Aac { .. } => AudioCodec::Aac,
            AudioFormat::Mpeg { .. } => AudioCodec::Mpeg,
            AudioFormat::Ac3 => AudioCodec::Ac3,
        }
    }

    /// The RFC 6381 codec string: `mp4a.40.<object type>` for AAC, `mp4a.40.32`–`34` for
    /// MPEG audio layers 1–3 (object types 32–34, so MP3 is `mp4a.40.34`), `ac-3` for AC-3.
    pub fn codecs(&self) -> String {
        match self.format {
            AudioFormat::Aac { object_type } => format!("mp4a.40.{object_type}"),
            AudioFormat::Mpeg { layer } => format!("mp4a.40.{}", 31 + u32::from(layer)),
            AudioFormat::Ac3 => "ac-3".to_owned(),
        }
    }
}

/// Everything a multivariant playlist says about one rendition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// The program has a video stream (even while its SPS is not read yet).
    pub has_video_stream: bool,
}

impl MediaInfo {
    /// The rendition carries audio and no video at all.
    pub fn audio_only(&self) -> bool {
        !self.has_video_stream && self.video.is_none() && self.audio.is_some()
    }

    /// The CODECS attribute value: video first, then audio, comma-separated
    /// (`avc1.64001f,mp4a.40.2`); `None` when neither stream is known.
    pub fn codecs(&self) -> Option<String> {
        let parts: Vec<String> = self
            .video
            .iter()
            .map(VideoInfo::codecs)
            .chain(self.audio.iter().map(AudioInfo::codecs))
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// RESOLUTION: the video's width and height.
    pub fn resolution(&self) -> Option<(u32, u32)> {
        self.video.as_ref().map(|v| (v.width, v.height))
    }

    /// FRAME-RATE: the video's frame rate when its SPS states one.
    pub fn frame_rate(&self) -> Option<f64> {
        self.video.as_ref().and_then(|v| v.frame_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hevc(space: u8, high: bool, idc: u8, compat: u32, cons: [u8; 6], level: u8) -> String {
        HevcProfile {
            profile_space: space,
            high_tier: high,
            profile_idc: idc,
            compatibility_flags: compat,
            constraint_flags: cons,
            level_idc: level,
        }
        .codecs()
    }

    fn check(got: String, expect: &str) {
        assert_eq!(got, expect);
    }

    #[test]
    fn hevc_codecs_strings() {
        // The examples of ISO/IEC 14496-15 Annex E.3.
        check(
            hevc(0, false, 1, 0x6000_0000, [0xB0, 0, 0, 0, 0, 0], 93),
            "hvc1.1.6.L93.B0",
        );
        check(
            hevc(0, true, 1, 0x6000_0000, [0xB0, 0, 0, 0, 0, 0], 93),
            "hvc1.1.6.H93.B0",
        );
        check(
            hevc(1, true, 4, 0x0800_0000, [0x90, 0, 0, 0, 0, 0], 120),
            "hvc1.A4.10.H120.90",
        );
        check(hevc(0, false, 2, 0x2000_0000, [0; 6], 153), "hvc1.2.4.L153");
        check(
            hevc(0, false, 1, 0x6000_0000, [0xB0, 0, 0x12, 0, 0, 0], 93),
            "hvc1.1.6.L93.B0.0.12",
        );
    }

    #[test]
    fn avc_and_audio_codecs_strings() {
        let avc = |p, c, l| {
            AvcProfile {
                profile_idc: p,
                constraint_flags: c,
                level_idc: l,
            }
            .codecs()
        };
        check(avc(0x64, 0x00, 0x1F), "avc1.64001f");
        check(avc(66, 0xC0, 30), "avc1.42c01e");
        let audio = |format| {
            AudioInfo {
                format,
                sample_rate: 48000,
                channels: 2,
            }
            .codecs()
        };
        check(audio(AudioFormat::Aac { object_type: 2 }), "mp4a.40.2");
        check(audio(AudioFormat::Aac { object_type: 5 }), "mp4a.40.5");
        check(audio(AudioFormat::Mpeg { layer: 3 }), "mp4a.40.34");
        check(audio(AudioFormat::Mpeg { layer: 2 }), "mp4a.40.33");
        check(audio(AudioFormat::Ac3), "ac-3");
    }

    #[test]
    fn media_info_attributes() {
        let video = VideoInfo {
            profile: VideoProfile::Avc(AvcProfile {
                profile_idc: 0x64,
                constraint_flags: 0,
                level_idc: 0x1F,
            }),
            width: 1280,
            height: 720,
            frame_rate: Some(25.0),
        };
        let audio = AudioInfo {
            format: AudioFormat::Aac { object_type: 2 },
            sample_rate: 44100,
            channels: 2,
        };
        let both = MediaInfo {
            video: Some(video.clone()),
            audio: Some(audio),
            has_video_stream: true,
        };
        assert!(!both.audio_only());
        assert_eq!(both.codecs().as_deref(), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(both.resolution(), Some((1280, 720)));
        assert_eq!(both.frame_rate(), Some(25.0));
        let audio_only = MediaInfo {
            video: None,
            audio: Some(audio),
            has_video_stream: false,
        };
        assert!(audio_only.audio_only());
        let sps_unread = MediaInfo {
            has_video_stream: true,
            ..audio_only.clone()
        };
        assert!(
            !sps_unread.audio_only(),
            "a video stream whose SPS is not read yet"
        );
        assert_eq!(audio_only.codecs().as_deref(), Some("mp4a.40.2"));
        assert_eq!(audio_only.resolution(), None);
        assert_eq!(MediaInfo::default().codecs(), None);
    }
}
