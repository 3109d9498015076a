//! H.265 sequence parameter set (ITU-T H.265 §7.3.2.2) → general profile, tier and level
//! (§7.3.3), size inside the conformance window and VUI frame rate (§E.2.1), read with
//! scuffle-h265; the profile_tier_level bytes are also kept raw for the CODECS string
//! (ISO/IEC 14496-15 Annex E.3).

use std::panic::{AssertUnwindSafe, catch_unwind};

use scuffle_h265::SpsNALUnit;

use super::info::{HevcProfile, InfoError, SpsFormat, VideoInfo, VideoProfile};

const WHAT: &str = "H.265 SPS";

/// Bytes of the SPS up to and including `general_level_idc`, emulation prevention removed:
/// the 2-byte NAL header, one byte of VPS id / sub-layer count / nesting flag, then the
/// general profile_tier_level fields, all at fixed byte positions.
const PTL_END: usize = 15;

/// Reads one complete SPS NAL unit: the 2-byte header included, start code and trailing zero
/// bytes excluded, emulation prevention bytes still in (scuffle-h265 removes them itself).
pub fn parse_sps(nal: &[u8]) -> Result<VideoInfo, InfoError> {
    if nal.len() < 2 {
        return Err(InfoError::Truncated {
            what: WHAT,
            need: PTL_END,
            have: nal.len(),
        });
    }
    let nal_type = (nal[0] >> 1) & 0x3F;
    if nal_type != 33 {
        return Err(InfoError::Invalid {
            what: WHAT,
            field: "nal_unit_type",
            value: u32::from(nal_type),
        });
    }
    let ptl = unescape_prefix::<PTL_END>(nal).ok_or(InfoError::Truncated {
        what: WHAT,
        need: PTL_END,
        have: nal.len(),
    })?;
    let sps = read_sps(nal)?;

    let win = &sps.conformance_window;
    let cropped = |size: u64, sub: u8, a: u64, b: u64| {
        a.checked_add(b)
            .and_then(|off| off.checked_mul(u64::from(sub)))
            .and_then(|off| size.checked_sub(off))
            .filter(|&s| s > 0)
            .and_then(|s| u32::try_from(s).ok())
    };
    let invalid = |field| InfoError::Invalid {
        what: WHAT,
        field,
        value: 0,
    };
    let width = cropped(
        sps.pic_width_in_luma_samples.get(),
        sps.sub_width_c(),
        win.conf_win_left_offset,
        win.conf_win_right_offset,
    )
    .ok_or(invalid("conformance window width"))?;
    let height = cropped(
        sps.pic_height_in_luma_samples.get(),
        sps.sub_height_c(),
        win.conf_win_top_offset,
        win.conf_win_bottom_offset,
    )
    .ok_or(invalid("conformance window height"))?;

    // A clock tick is one picture; with field_seq_flag a picture is a field (§E.3.1).
    let frame_rate = sps.vui_parameters.as_ref().and_then(|vui| {
        let t = vui.vui_timing_info.as_ref()?;
        let per_frame = if vui.field_seq_flag { 2.0 } else { 1.0 };
        Some(f64::from(t.time_scale.get()) / (f64::from(t.num_units_in_tick.get()) * per_frame))
    });

    let mut constraint_flags = [0; 6];
    constraint_flags.copy_from_slice(&ptl[8..14]);
    Ok(VideoInfo {
        profile: VideoProfile::Hevc(HevcProfile {
            profile_space: ptl[3] >> 6,
            high_tier: ptl[3] & 0x20 != 0,
            profile_idc: ptl[3] & 0x1F,
            compatibility_flags: u32::from_be_bytes([ptl[4], ptl[5], ptl[6], ptl[7]]),
            constraint_flags,
            level_idc: ptl[14],
        }),
        width,
        height,
        frame_rate,
    })
}

/// The chroma format, bit depths and temporal layering of an SPS (`parse_sps`'s input).
pub fn sps_format(nal: &[u8]) -> Result<SpsFormat, InfoError> {
    let sps = read_sps(nal)?;
    Ok(SpsFormat {
        chroma_format_idc: sps.chroma_format_idc,
        bit_depth_luma: sps.bit_depth_luma_minus8.saturating_add(8),
        bit_depth_chroma: sps.bit_depth_chroma_minus8.saturating_add(8),
        sub_layers: sps.sps_max_sub_layers_minus1.saturating_add(1),
        temporal_id_nested: sps.sps_temporal_id_nesting_flag,
    })
}

fn read_sps(nal: &[u8]) -> Result<scuffle_h265::SpsRbsp, InfoError> {
    // scuffle-h265 is not fuzzed here and computes with values from the bitstream (in debug
    // builds an overflow panics): a bad SPS must come back as an error, never a panic.
    Ok(catch_unwind(AssertUnwindSafe(|| SpsNALUnit::parse(nal)))
        .map_err(|_| InfoError::H265Sps("parser panicked".to_owned()))?
        .map_err(|e| InfoError::H265Sps(e.to_string()))?
        .rbsp)
}

/// The first `N` bytes of a NAL unit with emulation prevention bytes (the 0x03 of 0x000003,
/// ITU-T H.265 §7.4.2) removed; `None` if the NAL unit is shorter.
fn unescape_prefix<const N: usize>(nal: &[u8]) -> Option<[u8; N]> {
    let mut out = [0; N];
    let mut len = 0;
    let mut zeros = 0;
    for &b in nal {
        if len == N {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out[len] = b;
        len += 1;
    }
    (len == N).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::avc::tests::first_sps;

    /// Summarises what the parser read as `space tier idc compat level WxH fps codecs`.
    fn summary(info: &VideoInfo) -> String {
        let VideoProfile::Hevc(p) = info.profile else {
            panic!("not HEVC: {info:?}")
        };
        let fps = info
            .frame_rate
            .map_or("-".to_owned(), |f| format!("{f:.3}"));
        format!(
            "{} {} {} {:08x} {} {}x{} {fps} {}",
            p.profile_space,
            if p.high_tier { 'H' } else { 'L' },
            p.profile_idc,
            p.compatibility_flags,
            p.level_idc,
            info.width,
            info.height,
            info.codecs()
        )
    }

    fn check(annex_b: &[u8], expect: &str) {
        let sps = first_sps(annex_b, |h| (h >> 1) & 0x3F == 33);
        assert_eq!(summary(&parse_sps(sps).unwrap()), expect);
    }

    // Expected values: ffprobe's profile, level, width, height and r_frame_rate of the whole
    // stream each fixture is the head of (fixtures/README). ffmpeg 5.1's HLS muxer writes no
    // CODECS for HEVC: the string follows from the raw profile_tier_level bytes of both
    // fixtures, 01 60000000 900000000000 then 5d / 78 (progressive_source and
    // frame_only_constraint set, non_packed_constraint clear, hence .90 rather than .B0).

    #[test]
    fn main_1280x720() {
        // ffprobe: Main, level 93, 1280x720, 25/1.
        check(
            include_bytes!("fixtures/hevc_main_1280x720_25.h265"),
            "0 L 1 60000000 93 1280x720 25.000 hvc1.1.6.L93.90",
        );
    }

    #[test]
    fn main_1918x1078_conformance_window_29_97() {
        // ffprobe: Main, level 120, 1918x1078 (coded 1920x1080), 30000/1001.
        check(
            include_bytes!("fixtures/hevc_main_1918x1078_29.97.h265"),
            "0 L 1 60000000 120 1918x1078 29.970 hvc1.1.6.L120.90",
        );
    }

    #[test]
    fn unescape() {
        let nal = [
            0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 3, 0, 0x90, 0, 0, 3, 0, 0, 3, 0, 0x5D,
        ];
        assert_eq!(
            unescape_prefix::<PTL_END>(&nal),
            Some([0x42, 1, 1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5D])
        );
        assert_eq!(unescape_prefix::<PTL_END>(&nal[..17]), None);
    }

    /// Two of these mutations make scuffle-h265 0.2.2 overflow a subtraction (sps/mod.rs:303,
    /// `ctb_log2_size_y - min_tb_log2_size_y`), a panic in debug builds: parse_sps turns it
    /// into an error (the panic hook still prints it).
    #[test]
    fn corrupt_sps_is_an_error_not_a_panic() {
        let sps = first_sps(
            include_bytes!("fixtures/hevc_main_1918x1078_29.97.h265"),
            |h| (h >> 1) & 0x3F == 33,
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
        assert!(matches!(
            parse_sps(&[0x42]),
            Err(InfoError::Truncated { .. })
        ));
        assert!(matches!(
            parse_sps(&[0x40, 0x01, 0x0C]),
            Err(InfoError::Invalid { value: 32, .. })
        ));
        assert!(matches!(
            parse_sps(&[0x42, 0x01, 0x01]),
            Err(InfoError::Truncated { .. })
        ));
        let sps = first_sps(include_bytes!("fixtures/hevc_main_1280x720_25.h265"), |h| {
            h == 0x42
        });
        assert!(matches!(parse_sps(&sps[..24]), Err(InfoError::H265Sps(_))));
    }
}
