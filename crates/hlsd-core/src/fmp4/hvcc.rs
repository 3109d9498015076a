//! The `hvc1` sample entry and its `hvcC` (ISO/IEC 14496-15 §8.3.3, §8.4.1): every
//! parameter set out of band (array_completeness = 1, which `hvc1` requires, and which is
//! why in-band VPS/SPS/PPS are stripped from the samples), profile, tier, level and
//! constraint flags from the parsed SPS, 4-byte NAL unit lengths.

use bytes::Bytes;
use mp4_atom::{Codec, Hvc1, HvcCArray, Hvcc};

use super::Fmp4Error;
use crate::codec::{VideoProfile, hevc};

pub(super) fn hvc1(
    track: u16,
    vps: &[Bytes],
    sps: &[Bytes],
    pps: &[Bytes],
) -> Result<Codec, Fmp4Error> {
    let first = sps.first().ok_or_else(|| Fmp4Error::Config {
        track,
        what: "no SPS".into(),
    })?;
    let sps_error = |source| Fmp4Error::Sps { track, source };
    let info = hevc::parse_sps(first).map_err(sps_error)?;
    let format = hevc::sps_format(first).map_err(sps_error)?;
    let VideoProfile::Hevc(p) = info.profile else {
        return Err(Fmp4Error::Config {
            track,
            what: "not an H.265 SPS".into(),
        });
    };
    let array = |nal_unit_type, nalus: &[Bytes]| HvcCArray {
        completeness: true,
        nal_unit_type,
        nalus: nalus.iter().map(|n| n.to_vec()).collect(),
    };
    Ok(Hvc1 {
        visual: super::init::visual(track, info.width, info.height)?,
        hvcc: Hvcc {
            configuration_version: 1,
            general_profile_space: p.profile_space,
            general_tier_flag: p.high_tier,
            general_profile_idc: p.profile_idc,
            general_profile_compatibility_flags: p.compatibility_flags.to_be_bytes(),
            general_constraint_indicator_flags: p.constraint_flags,
            general_level_idc: p.level_idc,
            min_spatial_segmentation_idc: 0,
            parallelism_type: 0,
            chroma_format_idc: format.chroma_format_idc,
            bit_depth_luma_minus8: format.bit_depth_luma.saturating_sub(8),
            bit_depth_chroma_minus8: format.bit_depth_chroma.saturating_sub(8),
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            num_temporal_layers: format.sub_layers,
            temporal_id_nested: format.temporal_id_nested,
            length_size_minus_one: 3,
            arrays: vec![array(32, vps), array(33, sps), array(34, pps)],
        },
        ..Default::default()
    }
    .into())
}
