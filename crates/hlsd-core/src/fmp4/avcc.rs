//! The `avc1` sample entry and its `avcC` (ISO/IEC 14496-15 §5.3.3, §5.4.2): parameter sets
//! out of band, 4-byte NAL unit lengths, and for High profiles the chroma format and bit
//! depths read from the SPS.

use bytes::Bytes;
use mp4_atom::{Avc1, Avcc, AvccExt, Codec};

use super::Fmp4Error;
use crate::codec::avc;

/// profile_idc values whose avcC carries the extension fields (ISO/IEC 14496-15
/// §5.3.3.1.2: every profile but Baseline 66, Main 77 and Extended 88; these are the ones
/// whose SPS codes chroma_format_idc, ITU-T H.264 §7.3.2.1.1).
const EXT_PROFILES: [u8; 12] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134];

pub(super) fn avc1(track: u16, sps: &[Bytes], pps: &[Bytes]) -> Result<Codec, Fmp4Error> {
    let first = sps.first().ok_or_else(|| Fmp4Error::Config {
        track,
        what: "no SPS".into(),
    })?;
    let info = avc::parse_sps(first).map_err(|source| Fmp4Error::Sps { track, source })?;
    let &[_, profile, compat, level, ..] = first.as_ref() else {
        return Err(Fmp4Error::Config {
            track,
            what: "SPS shorter than 4 bytes".into(),
        });
    };
    let ext = if EXT_PROFILES.contains(&profile) {
        let f = avc::sps_format(first).map_err(|source| Fmp4Error::Sps { track, source })?;
        Some(AvccExt {
            chroma_format: f.chroma_format_idc,
            bit_depth_luma: f.bit_depth_luma,
            bit_depth_chroma: f.bit_depth_chroma,
            sequence_parameter_sets_ext: Vec::new(),
        })
    } else {
        None
    };
    Ok(Avc1 {
        visual: super::init::visual(track, info.width, info.height)?,
        avcc: Avcc {
            configuration_version: 1,
            avc_profile_indication: profile,
            profile_compatibility: compat,
            avc_level_indication: level,
            length_size: 4,
            sequence_parameter_sets: sps.iter().map(|s| s.to_vec()).collect(),
            picture_parameter_sets: pps.iter().map(|p| p.to_vec()).collect(),
            ext,
        },
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    }
    .into())
}
