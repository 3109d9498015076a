//! One `moof` + `mdat` (ISO/IEC 14496-12 §8.8.4–8.8.12): a `traf` per run of a track
//! (tfhd with default-base-is-moof and the track's default sample flags, tfdt, a trun with
//! the data offset, per-sample durations, sizes and, for video, signed composition
//! offsets), the media bytes after the `mdat` header in `traf` order.

use bytes::{BufMut as _, Bytes, BytesMut};
use mp4_atom::{Encode, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry, TrunSamples};

use super::sample::Run;
use super::{Fmp4Error, NON_SYNC_SAMPLE, SYNC_SAMPLE};
use crate::segmenter::PartBytes;

/// A part as fMP4: `moof` + `mdat` in one buffer, shared by every response.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub data: Bytes,
    /// The number of the init ([`Packager::init`](super::Packager::init)) its samples need.
    pub init_number: u32,
    /// It is the first fragment under that init: the playlist needs a new EXT-X-MAP.
    pub new_init: bool,
}

/// A part as fMP4 made of pieces: the `moof` and `mdat` header, then 4-byte length prefixes
/// and slices of the access units' bytes (no media byte copied).
#[derive(Debug, Clone)]
pub struct FragmentPieces {
    pub data: PartBytes,
    pub init_number: u32,
    pub new_init: bool,
}

/// The runs of one track.
pub(super) struct TrackRuns<'a> {
    pub track_id: u32,
    pub video: bool,
    pub runs: Vec<Run<'a>>,
}

/// The `moof` and the `mdat` header, and the mdat payload's length.
pub(super) fn header(
    sequence: u32,
    tracks: &[TrackRuns<'_>],
) -> Result<(BytesMut, usize), Fmp4Error> {
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: Vec::new(),
    };
    for t in tracks {
        for run in &t.runs {
            moof.traf.push(traf(t, run));
        }
    }
    // The data offsets depend on the moof's size, which does not depend on their values.
    let mut probe = Vec::new();
    moof.encode(&mut probe)?;
    let payload: usize = tracks.iter().flat_map(|t| &t.runs).map(Run::bytes).sum();
    let mut offset = probe.len() + 8;
    for (traf, run) in moof
        .traf
        .iter_mut()
        .zip(tracks.iter().flat_map(|t| &t.runs))
    {
        let at = i32::try_from(offset).map_err(|_| Fmp4Error::TooLarge(offset))?;
        if let Some(trun) = traf.trun.first_mut() {
            trun.data_offset = Some(at);
        }
        offset += run.bytes();
    }
    let mdat = u32::try_from(payload + 8).map_err(|_| Fmp4Error::TooLarge(payload))?;
    let mut out = BytesMut::with_capacity(probe.len() + 8);
    moof.encode(&mut out)?;
    out.put_u32(mdat);
    out.put_slice(b"mdat");
    Ok((out, payload))
}

fn traf(t: &TrackRuns<'_>, run: &Run<'_>) -> Traf {
    // Video: non-sync by default, the keyframe flagged; the first-sample-flags field when
    // only the first sample is one (the usual: a keyframe starts a part), else every
    // sample's flags.
    let keys_after_first = t.video && run.samples.iter().skip(1).any(|s| s.key);
    let entries = run
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let flag = if s.key { SYNC_SAMPLE } else { NON_SYNC_SAMPLE };
            TrunEntry {
                duration: Some(s.duration),
                size: Some(s.size),
                flags: (t.video && (keys_after_first || (i == 0 && s.key))).then_some(flag),
                cts: s.cts,
            }
        })
        .collect();
    Traf {
        tfhd: Tfhd {
            track_id: t.track_id,
            default_sample_flags: Some(if t.video {
                NON_SYNC_SAMPLE
            } else {
                SYNC_SAMPLE
            }),
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.decode_time,
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            samples: TrunSamples::Explicit(entries),
        }],
        ..Default::default()
    }
}

/// `moof` + `mdat` in one buffer.
pub(super) fn copied(sequence: u32, tracks: &[TrackRuns<'_>]) -> Result<Bytes, Fmp4Error> {
    let (mut out, payload) = header(sequence, tracks)?;
    out.reserve(payload);
    for chunk in tracks.iter().flat_map(|t| &t.runs).flat_map(|r| &r.chunks) {
        if chunk.prefixed {
            out.put_u32(chunk.range.len() as u32);
        }
        out.put_slice(&chunk.data[chunk.range.clone()]);
    }
    Ok(out.freeze())
}

/// `moof` + `mdat` header, then length prefixes (one buffer, sliced) and slices of the
/// access units.
pub(super) fn pieces(sequence: u32, tracks: &[TrackRuns<'_>]) -> Result<PartBytes, Fmp4Error> {
    let (out, payload) = header(sequence, tracks)?;
    let chunks = || tracks.iter().flat_map(|t| &t.runs).flat_map(|r| &r.chunks);
    let mut prefixes = BytesMut::with_capacity(4 * chunks().filter(|c| c.prefixed).count());
    for c in chunks().filter(|c| c.prefixed) {
        prefixes.put_u32(c.range.len() as u32);
    }
    let prefixes = prefixes.freeze();
    let mut pieces = Vec::with_capacity(1 + 2 * chunks().count());
    pieces.push(out.freeze());
    let mut at = 0;
    for c in chunks() {
        if c.prefixed {
            pieces.push(prefixes.slice(at..at + 4));
            at += 4;
        }
        pieces.push(c.data.slice(c.range.clone()));
    }
    debug_assert_eq!(
        pieces.iter().skip(1).map(Bytes::len).sum::<usize>(),
        payload
    );
    Ok(PartBytes::from_pieces(pieces))
}
