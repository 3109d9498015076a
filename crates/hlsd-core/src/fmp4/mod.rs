//! Fragmented MP4 (ISO/IEC 14496-12, HLS's fMP4 segments, RFC 8216bis §3.1.2): one init
//! (`ftyp` + `moov`) per rendition and configuration, and one `moof` + `mdat` per part, from
//! the access units the segmenter hands out with each [`Part`](crate::segmenter::Part).
//!
//! Muxed: the rendition's video track (90 kHz) and its audio tracks (timescale = sample
//! rate) in one init and one fragment. No edit lists: a sample's decode time is its DTS minus
//! an origin the caller gives (one per feed session, shared by all tracks), so every track
//! keeps its place against the others. Boxes are built with mp4-atom; the `mdat` header is
//! written here, and the media bytes follow it in one copy per part ([`Packager::fragment`]),
//! or as referenced pieces of the access units ([`Packager::fragment_pieces`]).
//!
//! - `packager`: the per-rendition state (configurations, init number, next decode time per
//!   track) and the tfdt continuity rule.
//! - `init`: `ftyp` + `moov` for the tracks whose configuration is known.
//! - `avcc`, `hvcc`, `audio`: the sample entries (`avc1`, `hvc1`, `mp4a`, `ac-3`).
//! - `sample`: access units to samples (Annex B to length prefixes, ADTS headers off),
//!   their durations and flags.
//! - `fragment`: `moof` + `mdat` from the samples.

mod audio;
mod avcc;
mod fragment;
mod hvcc;
mod init;
mod packager;
mod sample;

#[cfg(test)]
mod tests;

pub use fragment::{Fragment, FragmentPieces};
pub use packager::{FIRST_INIT_WAIT, Init, Packager};

use crate::codec::InfoError;

/// The video track's timescale: the 90 kHz of MPEG-TS timestamps, so times carry over exactly.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// Sample flags (ISO/IEC 14496-12 §8.8.3.1) as ffmpeg's mov muxer writes them: a sync sample
/// depends on no other (`sample_depends_on` = 2); any other depends on others (1) and is
/// not a sync sample (`sample_is_non_sync_sample`).
pub const SYNC_SAMPLE: u32 = 0x0200_0000;
pub const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// Why a part could not be packaged.
#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    #[error("the part carries no access units (SegmenterConfig::access_units is off)")]
    NoUnits,
    #[error("no track's codec configuration is known yet")]
    NoConfig,
    #[error("track {track}: {what}")]
    Config { track: u16, what: String },
    #[error("track {track}: its codec configuration cannot be read: {source}")]
    Sps {
        track: u16,
        #[source]
        source: InfoError,
    },
    #[error("the fragment is too large: {0} bytes")]
    TooLarge(usize),
    #[error("box encoding failed: {0}")]
    Encode(#[from] mp4_atom::Error),
}
