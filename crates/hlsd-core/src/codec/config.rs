//! Codec configuration carried in band, as a packager needs it for an init segment: the
//! parameter sets of an Annex B access unit (H.264 SPS/PPS, ITU-T H.264 §7.4.1.2.3; H.265
//! VPS/SPS/PPS, ITU-T H.265 §7.4.2.4.4) and, for audio, the first frame header of a PES
//! (AAC: the AudioSpecificConfig an ADTS header implies, ISO/IEC 14496-3 §1.6.2.1, §1.A.2).

use std::ops::Range;

use bytes::Bytes;

use super::audio::{ac3_lfe_bit, first_frame};
use super::info::InfoError;
use super::nal::nal_type;
use super::{AudioCodec, VideoCodec};

/// What a decoder must be given before a stream's frames: a new value means a new init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    /// Parameter sets as NAL units: header byte first, no start code, emulation prevention
    /// bytes kept (as avcC / hvcC store them).
    Video {
        codec: VideoCodec,
        /// H.265 only.
        vps: Vec<Bytes>,
        sps: Vec<Bytes>,
        pps: Vec<Bytes>,
    },
    Audio {
        codec: AudioCodec,
        sample_rate: u32,
        channels: u8,
        /// AAC: the 2-byte AudioSpecificConfig (object type, sampling frequency index,
        /// channel configuration) read from the ADTS header. MPEG audio: the 4-byte frame
        /// header with its per-frame fields (bit rate, padding, mode extension...) cleared.
        /// AC-3: the first 8 bytes of the syncframe (syncinfo and the start of the bsi, all
        /// that dac3 needs), crc1 and the bits after lfeon cleared.
        specific: Bytes,
    },
}

/// The NAL units of an Annex B byte stream, without start codes; the zero bytes before a
/// start code belong to it, not to the NAL unit before.
pub fn nal_units(es: &[u8]) -> impl Iterator<Item = &[u8]> {
    nal_ranges(es).map(|r| &es[r])
}

/// Where the NAL units of an Annex B byte stream are, as [`nal_units`] finds them.
pub fn nal_ranges(es: &[u8]) -> impl Iterator<Item = Range<usize>> {
    let mut at = nal_start(es, 0);
    std::iter::from_fn(move || {
        let start = at?;
        at = nal_start(es, start);
        Some(start..start + nal_until(es, start, at).len())
    })
}

/// Where the NAL unit after the next start code at or after `from` begins.
pub(crate) fn nal_start(es: &[u8], from: usize) -> Option<usize> {
    let rest = es.get(from..)?;
    memchr::memmem::find(rest, &[0, 0, 1]).map(|i| from + i + 3)
}

/// The NAL unit from `start` to the start code before `next` (or the end), trailing zero
/// bytes left out.
fn nal_until(es: &[u8], start: usize, next: Option<usize>) -> &[u8] {
    let end = next.map_or(es.len(), |n| n - 3);
    let nal = es.get(start..end).unwrap_or(&[]);
    let len = nal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &nal[..len]
}

/// The parameter sets of one access unit, when it carries an SPS. The scan stops at the
/// first slice (parameter sets come before it, ITU-T H.264 §7.4.1.2.3), without looking
/// for the slice's end: only the first bytes of a frame are read.
pub fn video_config(codec: VideoCodec, au: &[u8]) -> Option<CodecConfig> {
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = nal_start(au, 0);
    while let Some(start) = at {
        let Some(&header) = au.get(start) else { break };
        let set = match codec {
            VideoCodec::H264 => match nal_type(codec, header) {
                7 => Some(&mut sps),
                8 => Some(&mut pps),
                1..=5 => break,
                _ => None,
            },
            VideoCodec::H265 => match nal_type(codec, header) {
                32 => Some(&mut vps),
                33 => Some(&mut sps),
                34 => Some(&mut pps),
                0..=31 => break,
                _ => None,
            },
        };
        at = nal_start(au, start);
        if let Some(set) = set {
            set.push(Bytes::copy_from_slice(nal_until(au, start, at)));
        }
    }
    (!sps.is_empty()).then_some(CodecConfig::Video {
        codec,
        vps,
        sps,
        pps,
    })
}

/// The configuration the first frame header of an audio PES payload states.
pub fn audio_config(codec: AudioCodec, es: &[u8]) -> Result<CodecConfig, InfoError> {
    let (at, info) = first_frame(codec, es)?;
    let h = &es[at..];
    let specific = match codec {
        AudioCodec::Aac => {
            // ADTS profile is the object type minus one; the frame header was read whole.
            let object_type = (h[2] >> 6) + 1;
            let rate_index = (h[2] >> 2) & 0x0F;
            let channels = (h[2] & 1) << 2 | h[3] >> 6;
            Bytes::copy_from_slice(&[
                object_type << 3 | rate_index >> 1,
                (rate_index & 1) << 7 | channels << 3,
            ])
        }
        // The fields that may change from frame to frame of one stream are cleared, so that
        // a new value means a new configuration: bitrate_index (VBR), padding, private bit,
        // mode_extension (joint stereo), copyright, original, emphasis.
        AudioCodec::Mpeg => Bytes::copy_from_slice(&[h[0], h[1], h[2] & 0x0C, h[3] & 0xC0]),
        // crc1 and the bsi after lfeon (dialnorm on) are cleared likewise.
        AudioCodec::Ac3 => {
            let acmod = h[6] >> 5;
            // acmod, the mix levels and lfeon, from the top of bytes 6–7.
            let kept = ac3_lfe_bit(acmod) + 1;
            let bits = u16::from_be_bytes([h[6], h[7]]) & !(u16::MAX >> kept);
            let [b6, b7] = bits.to_be_bytes();
            Bytes::copy_from_slice(&[h[0], h[1], 0, 0, h[4], h[5], b6, b7])
        }
    };
    Ok(CodecConfig::Audio {
        codec,
        sample_rate: info.sample_rate,
        channels: info.channels,
        specific,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sets_of_an_idr_access_unit() {
        let au = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x64, 0, 0x1F, 0, 0, 1, 0x68, 0xEB, 0, 0, 0,
            1, 0x06, 5, 1, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x67, 0x99,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(nals.len(), 6);
        assert_eq!(nals[1], [0x67, 0x64, 0, 0x1F]);
        let Some(CodecConfig::Video { vps, sps, pps, .. }) = video_config(VideoCodec::H264, &au)
        else {
            panic!("no config")
        };
        // The SPS after the slice is not looked at.
        assert!(vps.is_empty());
        assert_eq!(sps, [Bytes::from_static(&[0x67, 0x64, 0, 0x1F])]);
        assert_eq!(pps, [Bytes::from_static(&[0x68, 0xEB])]);
        assert_eq!(video_config(VideoCodec::H264, &au[..10]), None);
    }

    #[test]
    fn hevc_parameter_sets() {
        // AUD (35), VPS (32), SPS (33), PPS (34), CRA (21).
        let au = [
            0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x40, 0x01, 0xAA, 0, 0, 1, 0x42, 0x01, 0xBB, 0, 0,
            1, 0x44, 0x01, 0xCC, 0, 0, 1, 0x2A, 0x01, 0xDD,
        ];
        let Some(CodecConfig::Video { vps, sps, pps, .. }) = video_config(VideoCodec::H265, &au)
        else {
            panic!("no config")
        };
        assert_eq!(vps, [Bytes::from_static(&[0x40, 0x01, 0xAA])]);
        assert_eq!(sps, [Bytes::from_static(&[0x42, 0x01, 0xBB])]);
        assert_eq!(pps, [Bytes::from_static(&[0x44, 0x01, 0xCC])]);
    }

    #[test]
    fn audio_specific_config_from_adts() {
        // ffprobe: aac LC 44100 Hz stereo → AudioSpecificConfig 0x12 0x10 (object type 2,
        // frequency index 4, channel configuration 2), as ffmpeg's mp4 muxer writes it.
        let adts = include_bytes!("fixtures/aac_lc_44100_stereo.aac");
        let cfg = audio_config(AudioCodec::Aac, adts).unwrap();
        assert_eq!(
            cfg,
            CodecConfig::Audio {
                codec: AudioCodec::Aac,
                sample_rate: 44100,
                channels: 2,
                specific: Bytes::from_static(&[0x12, 0x10]),
            }
        );
        // 48 kHz mono: index 3, one channel → 0x11 0x88.
        let adts = include_bytes!("fixtures/aac_lc_48000_mono.aac");
        let Ok(CodecConfig::Audio { specific, .. }) = audio_config(AudioCodec::Aac, adts) else {
            panic!("no config")
        };
        assert_eq!(specific[..], [0x11, 0x88]);
        assert!(audio_config(AudioCodec::Aac, &[0; 64]).is_err());
    }

    #[test]
    fn per_frame_header_fields_are_not_configuration() {
        // MP3 frames of one stream: bit rate, padding and mode extension vary.
        let a = audio_config(AudioCodec::Mpeg, &[0xFF, 0xFB, 0x90, 0x64, 0, 0]).unwrap();
        let b = audio_config(AudioCodec::Mpeg, &[0xFF, 0xFB, 0xA2, 0x44, 0, 0]).unwrap();
        assert_eq!(a, b);
        // Another sampling frequency or channel mode is another configuration.
        let c = audio_config(AudioCodec::Mpeg, &[0xFF, 0xFB, 0x94, 0x64, 0, 0]).unwrap();
        let d = audio_config(AudioCodec::Mpeg, &[0xFF, 0xFB, 0x90, 0xC4, 0, 0]).unwrap();
        assert!(a != c && a != d);
        // AC-3 2/0: crc1 and dialnorm vary; acmod and lfeon stay.
        // Bytes 6–7: acmod 010, dsurmod, lfeon, then dialnorm.
        let ac3 = |crc: u8, b6: u8, b7: u8| {
            audio_config(AudioCodec::Ac3, &[0x0B, 0x77, crc, crc, 0x14, 0x40, b6, b7]).unwrap()
        };
        assert_eq!(ac3(1, 0x40, 0x00), ac3(2, 0x43, 0xFF));
        assert_ne!(ac3(1, 0x40, 0x00), ac3(1, 0x44, 0x00));
    }
}
