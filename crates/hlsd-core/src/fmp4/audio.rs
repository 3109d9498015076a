//! Audio sample entries: `mp4a` + `esds` for AAC (the AudioSpecificConfig, ISO/IEC 14496-3
//! §1.6.2.1) and MPEG audio (objectTypeIndication 0x6B for MPEG-1, 0x69 for MPEG-2 LSF /
//! 2.5, no decoder-specific info, as ffmpeg's mov muxer writes them; ISO/IEC 14496-1 Table
//! 5), and `ac-3` + `dac3` (ETSI TS 102 366 Annex F.4) from the first bytes of a syncframe.

use bytes::Bytes;
use mp4_atom::{Ac3, Ac3SpecificBox, Audio, Codec, Esds, Mp4a, esds};

use super::Fmp4Error;
use crate::codec::AudioCodec;
use crate::codec::audio::ac3_lfe_bit;
use crate::codec::prefix::asc_fields;

pub(super) fn entry(
    track: u16,
    es_id: u16,
    codec: AudioCodec,
    sample_rate: u32,
    channels: u8,
    specific: &Bytes,
) -> Result<Codec, Fmp4Error> {
    let audio = Audio {
        data_reference_index: 1,
        channel_count: u16::from(channels),
        sample_size: 16,
        // 16.16 fixed point: rates above 65535 Hz do not fit and are written as 0; the
        // track's timescale (mdhd) carries the rate.
        sample_rate: u16::try_from(sample_rate).unwrap_or(0).into(),
    };
    let bad = |what: &str| Fmp4Error::Config {
        track,
        what: what.into(),
    };
    let mp4a = |object_type_indication, dec_specific| {
        Mp4a {
            audio: audio.clone(),
            esds: Esds {
                es_desc: esds::EsDescriptor {
                    es_id,
                    dec_config: esds::DecoderConfig {
                        object_type_indication,
                        stream_type: 5, // AudioStream
                        dec_specific,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            btrt: None,
            taic: None,
        }
        .into()
    };
    Ok(match codec {
        AudioCodec::Aac => {
            let (profile, freq_index, chan_conf) = asc_fields(specific)
                .ok_or_else(|| bad("AudioSpecificConfig shorter than 2 bytes"))?;
            let specific = esds::DecoderSpecific {
                profile,
                freq_index,
                chan_conf,
                raw: specific.to_vec(),
            };
            mp4a(0x40, Some(specific))
        }
        AudioCodec::Mpeg => {
            let header = specific.get(1).ok_or_else(|| bad("no MPEG audio header"))?;
            let mpeg1 = (header >> 3) & 3 == 3;
            mp4a(if mpeg1 { 0x6B } else { 0x69 }, None)
        }
        AudioCodec::Ac3 => {
            let &[0x0B, 0x77, _, _, b4, b5, b6, b7, ..] = specific.as_ref() else {
                return Err(bad("no AC-3 syncframe header"));
            };
            let acmod = b6 >> 5;
            // lfeon follows acmod and the mix levels acmod implies (ATSC A/52 §5.3.2).
            let bits = u16::from_be_bytes([b6, b7]);
            Ac3 {
                audio,
                dac3: Ac3SpecificBox {
                    fscod: b4 >> 6,
                    bsid: b5 >> 3,
                    bsmod: b5 & 7,
                    acmod,
                    lfeon: (bits >> (15 - ac3_lfe_bit(acmod))) & 1 == 1,
                    bit_rate_code: (b4 & 0x3F) >> 1,
                },
            }
            .into()
        }
    })
}
