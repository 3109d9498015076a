//! The decoder configuration records a video sequence header carries: the
//! AVCDecoderConfigurationRecord (`avcC`, ISO/IEC 14496-15 §5.3.3.1) and the
//! HEVCDecoderConfigurationRecord (`hvcC`, §8.3.3.1). Each gives the parameter sets and the
//! size of the length prefix in front of each NAL unit of the frames that follow.

use super::FlvError;
use crate::codec::{CodecConfig, VideoCodec};
use bytes::Bytes;

/// A parsed record: the configuration and the NAL unit length size (1, 2 or 4 bytes).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub config: CodecConfig,
    pub length_size: usize,
}

/// Reads a 16-bit length, then that many bytes (non-empty), from `rec` at `*at`.
fn set<'a>(
    rec: &'a [u8],
    at: &mut usize,
    bad: fn(&'static str) -> FlvError,
) -> Result<&'a [u8], FlvError> {
    let len = rec
        .get(*at..*at + 2)
        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        .ok_or(bad("truncated"))?;
    let s = rec
        .get(*at + 2..*at + 2 + len)
        .filter(|s| !s.is_empty())
        .ok_or(bad("truncated parameter set"))?;
    *at += 2 + len;
    Ok(s)
}

/// An AVCDecoderConfigurationRecord.
pub(super) fn avcc(rec: &[u8]) -> Result<Record, FlvError> {
    if rec.len() < 7 || rec[0] != 1 {
        return Err(FlvError::BadAvcc(
            "shorter than its header or not version 1",
        ));
    }
    let length_size = usize::from(rec[4] & 3) + 1;
    if length_size == 3 {
        return Err(FlvError::BadAvcc("NAL unit length size of 3"));
    }
    let mut at = 5;
    let mut sets = |count_mask: u8| -> Result<Vec<Bytes>, FlvError> {
        let n = rec.get(at).ok_or(FlvError::BadAvcc("truncated"))? & count_mask;
        at += 1;
        (0..n)
            .map(|_| set(rec, &mut at, FlvError::BadAvcc).map(Bytes::copy_from_slice))
            .collect()
    };
    let sps = sets(0x1F)?;
    let pps = sets(0xFF)?;
    if sps.is_empty() || pps.is_empty() {
        return Err(FlvError::BadAvcc("no SPS or no PPS"));
    }
    Ok(Record {
        config: CodecConfig::Video {
            codec: VideoCodec::H264,
            vps: Vec::new(),
            sps,
            pps,
        },
        length_size,
    })
}

/// Bytes before an hvcC's arrays: version, profile, tier, level and format fields, the
/// length size (byte 21), the number of arrays (byte 22).
const HVCC_HEADER: usize = 23;

/// An HEVCDecoderConfigurationRecord: its VPS, SPS and PPS arrays (others, such as SEI,
/// are left out); all three are required.
pub(super) fn hvcc(rec: &[u8]) -> Result<Record, FlvError> {
    if rec.len() < HVCC_HEADER || rec[0] != 1 {
        return Err(FlvError::BadHvcc(
            "shorter than its header or not version 1",
        ));
    }
    let length_size = usize::from(rec[21] & 3) + 1;
    if length_size == 3 {
        return Err(FlvError::BadHvcc("NAL unit length size of 3"));
    }
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = HVCC_HEADER;
    for _ in 0..rec[22] {
        let head = rec
            .get(at..at + 3)
            .ok_or(FlvError::BadHvcc("truncated array"))?;
        let (nal_type, count) = (head[0] & 0x3F, u16::from_be_bytes([head[1], head[2]]));
        at += 3;
        for _ in 0..count {
            let s = set(rec, &mut at, FlvError::BadHvcc)?;
            let list = match nal_type {
                32 => &mut vps,
                33 => &mut sps,
                34 => &mut pps,
                _ => continue,
            };
            list.push(Bytes::copy_from_slice(s));
        }
    }
    if vps.is_empty() || sps.is_empty() || pps.is_empty() {
        return Err(FlvError::BadHvcc("no VPS, SPS or PPS"));
    }
    Ok(Record {
        config: CodecConfig::Video {
            codec: VideoCodec::H265,
            vps,
            sps,
            pps,
        },
        length_size,
    })
}
