//! The init segment: `ftyp` + `moov` with one `trak` per track whose configuration is known
//! (ISO/IEC 14496-12 §8.2–8.8). Sample tables are empty (the samples are in the fragments),
//! `mvex`/`trex` announce the fragments, each track's `dref` holds one self-contained `url `
//! entry and its sample entry points at it (data_reference_index 1). No edit list: the
//! fragments' decode times place the tracks against each other.

use bytes::Bytes;
use mp4_atom::{
    Codec, Dinf, Dref, Encode, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mvex, Mvhd, Smhd, Stbl, Stco,
    Stsc, Stsd, Stsz, Stts, Tkhd, Trak, Trex, Url, Visual, Vmhd,
};

use super::{Fmp4Error, VIDEO_TIMESCALE, audio, avcc, hvcc};
use crate::codec::{CodecConfig, VideoCodec};

/// A track of the init: its MP4 track_id, the segmenter's id for it (errors name it) and
/// its configuration.
pub(super) struct InitTrack<'a> {
    pub track_id: u32,
    pub source: u16,
    pub config: &'a CodecConfig,
}

/// The timescale of a track with this configuration.
pub(super) fn timescale(config: &CodecConfig) -> u32 {
    match config {
        CodecConfig::Video { .. } => VIDEO_TIMESCALE,
        CodecConfig::Audio { sample_rate, .. } => (*sample_rate).max(1),
    }
}

pub(super) fn build(tracks: &[InitTrack<'_>]) -> Result<Bytes, Fmp4Error> {
    let ftyp = Ftyp {
        major_brand: b"iso5".into(),
        minor_version: 512,
        compatible_brands: vec![b"iso5".into(), b"iso6".into(), b"mp41".into()],
    };
    let mut trak = Vec::with_capacity(tracks.len());
    for t in tracks {
        trak.push(track(t)?);
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: tracks
                .iter()
                .map(|t| Trex {
                    track_id: t.track_id,
                    default_sample_description_index: 1,
                    ..Default::default()
                })
                .collect(),
        }),
        trak,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(Bytes::from(out))
}

fn track(t: &InitTrack<'_>) -> Result<Trak, Fmp4Error> {
    let (codec, video, width, height): (Codec, bool, u16, u16) = match t.config {
        CodecConfig::Video {
            codec,
            vps,
            sps,
            pps,
        } => {
            let entry = match codec {
                VideoCodec::H264 => avcc::avc1(t.source, sps, pps)?,
                VideoCodec::H265 => hvcc::hvc1(t.source, vps, sps, pps)?,
            };
            let (w, h) = match &entry {
                Codec::Avc1(a) => (a.visual.width, a.visual.height),
                Codec::Hvc1(h) => (h.visual.width, h.visual.height),
                _ => (0, 0),
            };
            (entry, true, w, h)
        }
        CodecConfig::Audio {
            codec,
            sample_rate,
            channels,
            specific,
        } => {
            let es_id = u16::try_from(t.track_id).unwrap_or(0);
            let entry = audio::entry(t.source, es_id, *codec, *sample_rate, *channels, specific)?;
            (entry, false, 0, 0)
        }
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id: t.track_id,
            enabled: true,
            in_movie: true,
            alternate_group: u16::from(!video),
            volume: if video { 0.into() } else { 1.into() },
            width: width.into(),
            height: height.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: timescale(t.config),
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: if video { b"vide" } else { b"soun" }.into(),
                name: if video {
                    "VideoHandler"
                } else {
                    "SoundHandler"
                }
                .into(),
            },
            minf: Minf {
                vmhd: video.then(Vmhd::default),
                smhd: (!video).then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![codec],
                    },
                    stts: Stts::default(),
                    stsc: Stsc::default(),
                    stsz: Stsz::default(),
                    stco: Some(Stco::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    })
}

/// The visual sample entry fields: data_reference_index 1, the picture size (which must fit
/// 16 bits), 72 dpi, one frame per sample, 24-bit colour.
pub(super) fn visual(track: u16, width: u32, height: u32) -> Result<Visual, Fmp4Error> {
    let size = |v: u32| {
        u16::try_from(v).map_err(|_| Fmp4Error::Config {
            track,
            what: format!("picture size {width}x{height} over 65535"),
        })
    };
    Ok(Visual {
        data_reference_index: 1,
        width: size(width)?,
        height: size(height)?,
        horizresolution: 72.into(),
        vertresolution: 72.into(),
        frame_count: 1,
        compressor: Default::default(),
        depth: 24,
    })
}
