//! What an access unit needs in front of it to be carried in TS and decoded on its own: a
//! video unit without an access unit delimiter gets one (as ffmpeg writes it, and as
//! Apple's HLS authoring rules want), a keyframe without in-band parameter sets gets them
//! from its track's configuration, and a raw AAC frame gets an ADTS header
//! (ISO/IEC 14496-3 §1.A.2) from its AudioSpecificConfig.

use super::VideoCodec;
use super::audio::adts_sync;
use super::config::{CodecConfig, nal_start};
use super::nal::{classify, nal_type};

/// Access unit delimiters as ffmpeg writes them: H.264 primary_pic_type 7, H.265
/// pic_type 2 (any slice type).
const H264_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
const H265_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// What goes into a video access unit (Annex B) for TS: an access unit delimiter first
/// when it has none (each AVC and HEVC access unit in TS carries one, ISO/IEC 13818-1
/// §2.14.1, §2.17.1), and for a keyframe with no SPS before its first slice the parameter
/// sets of its configuration, after the delimiter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VideoPrefix {
    /// Where in the unit the bytes go: after its own delimiter, else 0.
    pub at: usize,
    /// A delimiter, when the unit has none.
    pub aud: &'static [u8],
    /// Parameter sets with start codes, when a keyframe lacks them and the configuration
    /// has them.
    pub sets: Vec<u8>,
}

impl VideoPrefix {
    /// Bytes added.
    pub fn len(&self) -> usize {
        self.aud.len() + self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What `au` needs (see [`VideoPrefix`]); only a keyframe is read past its first NAL unit.
pub fn video_prefix(
    codec: VideoCodec,
    au: &[u8],
    key: bool,
    config: Option<&CodecConfig>,
) -> VideoPrefix {
    let (sps_type, aud_type, aud): (u8, u8, &'static [u8]) = match codec {
        VideoCodec::H264 => (7, 9, &H264_AUD),
        VideoCodec::H265 => (33, 35, &H265_AUD),
    };
    let mut out = VideoPrefix {
        aud,
        ..VideoPrefix::default()
    };
    let mut at = 0;
    let mut first = true;
    let mut has_sps = false;
    while let Some(header) = nal_start(au, at) {
        let Some(&h) = au.get(header) else { break };
        let t = nal_type(codec, h);
        at = header + 1;
        if first && t == aud_type {
            // After the delimiter: up to the next start code, its leading zero included.
            out.aud = &[];
            out.at = match nal_start(au, at).map(|h| h - 3) {
                Some(s) if s > at && au[s - 1] == 0 => s - 1,
                Some(s) => s,
                None => au.len(),
            };
        }
        first = false;
        if !key || classify(codec, h).is_some() {
            break;
        }
        if t == sps_type {
            has_sps = true;
            break;
        }
    }
    if key
        && !has_sps
        && let Some(CodecConfig::Video {
            codec: c,
            vps,
            sps,
            pps,
        }) = config
        && *c == codec
        && !sps.is_empty()
    {
        for set in vps.iter().chain(sps).chain(pps) {
            out.sets.extend_from_slice(&START_CODE);
            out.sets.extend_from_slice(set);
        }
    }
    out
}

/// The unit starts with an ADTS header (syncword, layer 0).
pub fn is_adts(es: &[u8]) -> bool {
    es.len() >= 7 && adts_sync(es)
}

/// The object type, sampling frequency index and channel configuration of an
/// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1); `None` when it is shorter than 2 bytes.
pub(crate) fn asc_fields(asc: &[u8]) -> Option<(u8, u8, u8)> {
    let (&a, &b) = (asc.first()?, asc.get(1)?);
    Some((a >> 3, (a & 7) << 1 | b >> 7, (b >> 3) & 0x0F))
}

/// The ADTS header for one raw AAC frame of `frame_len` bytes, from a 2-byte
/// AudioSpecificConfig; `None` when ADTS cannot say it (object types above 4, an explicit
/// sampling frequency, or a frame over 8 KiB).
pub fn adts_header(asc: &[u8], frame_len: usize) -> Option<[u8; 7]> {
    let (object_type, rate, channels) = asc_fields(asc)?;
    if !(1..=4).contains(&object_type) || rate > 12 || channels > 7 {
        return None;
    }
    let len = frame_len + 7;
    if len > 0x1FFF {
        return None;
    }
    Some([
        0xFF,
        0xF1,
        (object_type - 1) << 6 | rate << 2 | channels >> 2,
        (channels & 3) << 6 | (len >> 11) as u8,
        (len >> 3) as u8,
        ((len & 7) as u8) << 5 | 0x1F,
        0xFC,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::config::{audio_config, video_config};
    use crate::codec::{AudioCodec, VideoCodec};
    use bytes::Bytes;

    fn h264_config() -> CodecConfig {
        CodecConfig::Video {
            codec: VideoCodec::H264,
            vps: vec![],
            sps: vec![Bytes::from_static(crate::synth::SPS_1280X720_HIGH)],
            pps: vec![Bytes::from_static(crate::synth::PPS)],
        }
    }

    fn spliced(au: &[u8], p: &VideoPrefix) -> Vec<u8> {
        [&au[..p.at], p.aud, &p.sets, &au[p.at..]].concat()
    }

    #[test]
    fn h264_units_get_an_aud_and_keyframes_parameter_sets() {
        let cfg = h264_config();
        // No AUD: AUD, SPS, PPS in front.
        let idr = [0, 0, 0, 1, 0x65, 0x88, 1, 2, 3];
        let p = video_prefix(VideoCodec::H264, &idr, true, Some(&cfg));
        let out = spliced(&idr, &p);
        assert_eq!(p.at, 0);
        assert_eq!(&out[..6], &H264_AUD);
        assert_eq!(video_config(VideoCodec::H264, &out), Some(cfg.clone()));
        assert!(out.ends_with(&idr));
        let complete = out;
        // An AUD first: the sets go after it.
        let with_aud = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x06, 5, 0, 0, 1, 0x65, 0x88,
        ];
        let p = video_prefix(VideoCodec::H264, &with_aud, true, Some(&cfg));
        assert_eq!((p.at, p.aud.len()), (6, 0));
        let out = spliced(&with_aud, &p);
        assert_eq!(out.iter().filter(|&&b| b == 0x09).count(), 1, "one AUD");
        assert_eq!(video_config(VideoCodec::H264, &out), Some(cfg.clone()));
        // Its own SPS, or no configuration: only what is missing.
        assert!(video_prefix(VideoCodec::H264, &complete, true, Some(&cfg)).is_empty());
        let p = video_prefix(VideoCodec::H264, &idr, true, None);
        assert_eq!((p.aud, p.sets.len()), (&H264_AUD[..], 0));
        // A delta frame gets a delimiter only.
        let p = video_prefix(VideoCodec::H264, &[0, 0, 1, 0x41, 0x9A], false, Some(&cfg));
        assert_eq!((p.at, p.aud, p.sets.len()), (0, &H264_AUD[..], 0));
        assert!(video_prefix(VideoCodec::H264, &with_aud, false, Some(&cfg)).is_empty());
    }

    #[test]
    fn hevc_keyframe_gets_vps_sps_pps_after_its_aud() {
        let cfg = CodecConfig::Video {
            codec: VideoCodec::H265,
            vps: vec![Bytes::from_static(&[0x40, 0x01, 0xAA])],
            sps: vec![Bytes::from_static(&[0x42, 0x01, 0xBB])],
            pps: vec![Bytes::from_static(&[0x44, 0x01, 0xCC])],
        };
        let cra = [0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x2A, 0x01, 0xDD];
        let p = video_prefix(VideoCodec::H265, &cra, true, Some(&cfg));
        assert_eq!((p.at, p.aud.len()), (6, 0));
        let out = spliced(&cra, &p);
        assert_eq!(video_config(VideoCodec::H265, &out), Some(cfg.clone()));
        // No AUD: one in front, then the sets.
        let p = video_prefix(VideoCodec::H265, &cra[6..], true, Some(&cfg));
        assert_eq!((p.at, p.aud, p.sets.len()), (0, &H265_AUD[..], 3 * 7));
        // The wrong codec's configuration is not used.
        assert!(
            video_prefix(VideoCodec::H264, &cra, true, Some(&cfg))
                .sets
                .is_empty()
        );
    }

    #[test]
    fn adts_header_from_audio_specific_config() {
        // The fixture's own header says what ours must say.
        let adts = include_bytes!("fixtures/aac_lc_44100_stereo.aac");
        let Ok(CodecConfig::Audio { specific, .. }) = audio_config(AudioCodec::Aac, adts) else {
            panic!("config")
        };
        let len =
            usize::from(adts[3] & 3) << 11 | usize::from(adts[4]) << 3 | usize::from(adts[5] >> 5);
        let h = adts_header(&specific, len - 7).unwrap();
        assert!(is_adts(&h));
        assert_eq!(h[..6], adts[..6]);
        assert!(!is_adts(&adts[7..]));
        assert_eq!(adts_header(&specific, 9000), None);
        assert_eq!(adts_header(&[0xF8, 0], 10), None, "object type 31");
    }
}
