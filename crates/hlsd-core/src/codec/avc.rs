//! H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) → profile, level, cropped size and
//! VUI frame rate (§E.1.1), read with h264-reader.

use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::nal::{Nal, RefNal};

use h264_reader::nal::sps::ChromaFormat;

use super::info::{AvcProfile, InfoError, SpsFormat, VideoInfo, VideoProfile};

/// Reads one complete SPS NAL unit: header byte included, start code and trailing zero bytes
/// excluded, emulation prevention bytes still in (h264-reader removes them while reading).
pub fn parse_sps(nal: &[u8]) -> Result<VideoInfo, InfoError> {
    read_sps(nal).and_then(|sps| info(&sps))
}

/// The chroma format and bit depths of an SPS (`parse_sps`'s input); the defaults 4:2:0
/// and 8 bits for profiles whose SPS does not code them (§7.4.2.1.1).
pub fn sps_format(nal: &[u8]) -> Result<SpsFormat, InfoError> {
    let c = read_sps(nal)?.chroma_info;
    let chroma_format_idc = match c.chroma_format {
        ChromaFormat::Monochrome => 0,
        ChromaFormat::YUV420 => 1,
        ChromaFormat::YUV422 => 2,
        ChromaFormat::YUV444 => 3,
        ChromaFormat::Invalid(n) => {
            return Err(InfoError::Invalid {
                what: "H.264 SPS",
                field: "chroma_format_idc",
                value: n,
            });
        }
    };
    Ok(SpsFormat {
        chroma_format_idc,
        bit_depth_luma: c.bit_depth_luma_minus8.saturating_add(8),
        bit_depth_chroma: c.bit_depth_chroma_minus8.saturating_add(8),
        sub_layers: 1,
        temporal_id_nested: false,
    })
}

fn read_sps(nal: &[u8]) -> Result<SeqParameterSet, InfoError> {
    let Some(&header) = nal.first() else {
        return Err(InfoError::Truncated {
            what: "H.264 SPS",
            need: 4,
            have: 0,
        });
    };
    if header & 0x1F != 7 {
        return Err(InfoError::Invalid {
            what: "H.264 SPS",
            field: "nal_unit_type",
            value: u32::from(header & 0x1F),
        });
    }
    SeqParameterSet::from_bits(RefNal::new(nal, &[], true).rbsp_bits())
        .map_err(|e| InfoError::H264Sps(format!("{e:?}")))
}

fn info(sps: &SeqParameterSet) -> Result<VideoInfo, InfoError> {
    let (width, height) = sps
        .pixel_dimensions()
        .map_err(|e| InfoError::H264Sps(format!("{e:?}")))?;
    Ok(VideoInfo {
        profile: VideoProfile::Avc(AvcProfile {
            profile_idc: sps.profile_idc.into(),
            constraint_flags: sps.constraint_flags.into(),
            level_idc: sps.level_idc,
        }),
        width,
        height,
        // h264-reader: time_scale / (2 × num_units_in_tick), a frame being two field ticks.
        frame_rate: sps.fps().filter(|f| f.is_finite() && *f > 0.0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The first SPS NAL unit of an Annex B stream, without its start code.
    pub(crate) fn first_sps(annex_b: &[u8], is_sps: impl Fn(u8) -> bool) -> &[u8] {
        let start = (0..annex_b.len() - 3)
            .find(|&i| annex_b[i..i + 3] == [0, 0, 1] && is_sps(annex_b[i + 3]))
            .expect("an SPS")
            + 3;
        let len = (start..annex_b.len() - 2)
            .find(|&i| annex_b[i..i + 2] == [0, 0] && annex_b[i + 2] <= 1)
            .expect("the SPS ends")
            - start;
        &annex_b[start..start + len]
    }

    /// Summarises what the parser read as `profile constraints level WxH fps codecs`.
    fn summary(info: &VideoInfo) -> String {
        let VideoProfile::Avc(p) = info.profile else {
            panic!("not AVC: {info:?}")
        };
        let fps = info
            .frame_rate
            .map_or("-".to_owned(), |f| format!("{f:.3}"));
        format!(
            "{} {:02x} {} {}x{} {fps} {}",
            p.profile_idc,
            p.constraint_flags,
            p.level_idc,
            info.width,
            info.height,
            info.codecs()
        )
    }

    fn check(annex_b: &[u8], expect: &str) {
        let sps = first_sps(annex_b, |h| h & 0x1F == 7);
        assert_eq!(summary(&parse_sps(sps).unwrap()), expect);
    }

    // Expected values: ffprobe's profile, level, width, height and r_frame_rate for each
    // fixture (fixtures/README), and the CODECS that ffmpeg's HLS muxer writes for it.

    #[test]
    fn baseline_640x360() {
        // ffprobe: Constrained Baseline, level 30, 640x360, 30/1.
        check(
            include_bytes!("fixtures/h264_baseline_l30_640x360_30.h264"),
            "66 c0 30 640x360 30.000 avc1.42c01e",
        );
    }

    #[test]
    fn main_1918x1078_cropped_29_97() {
        // ffprobe: Main, level 40, 1918x1078, 30000/1001.
        check(
            include_bytes!("fixtures/h264_main_l40_1918x1078_29.97.h264"),
            "77 40 40 1918x1078 29.970 avc1.4d4028",
        );
    }

    #[test]
    fn high_1280x720() {
        // ffprobe: High, level 31, 1280x720, 30/1.
        check(
            include_bytes!("fixtures/h264_high_l31_1280x720_30.h264"),
            "100 00 31 1280x720 30.000 avc1.64001f",
        );
    }

    #[test]
    fn fixtures_exercise_emulation_prevention() {
        // Both SPS carry 0x000003 in their VUI timing fields: the values above are only
        // right if those bytes are removed.
        for annex_b in [
            &include_bytes!("fixtures/h264_baseline_l30_640x360_30.h264")[..],
            include_bytes!("fixtures/h264_high_l31_1280x720_30.h264"),
        ] {
            let sps = first_sps(annex_b, |h| h & 0x1F == 7);
            assert!(sps.windows(3).any(|w| w == [0, 0, 3]));
        }
    }

    #[test]
    fn corrupt_sps_is_an_error_not_a_panic() {
        let sps = first_sps(
            include_bytes!("fixtures/h264_high_l31_1280x720_30.h264"),
            |h| h & 0x1F == 7,
        );
        for i in 1..sps.len() {
            for v in [0x00, 0xFF, sps[i] ^ 0x80, sps[i] ^ 0x01] {
                let mut bad = sps.to_vec();
                bad[i] = v;
                for len in [bad.len(), i + 1] {
                    let _ = parse_sps(&bad[..len]);
                }
            }
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(parse_sps(&[]), Err(InfoError::Truncated { .. })));
        assert!(matches!(
            parse_sps(&[0x68, 0xEB]),
            Err(InfoError::Invalid { value: 8, .. })
        ));
        assert!(matches!(
            parse_sps(&[0x67, 0x64, 0x00]),
            Err(InfoError::H264Sps(_))
        ));
    }
}
