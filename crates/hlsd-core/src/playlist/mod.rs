//! HLS playlists: the rolling window of segments and parts, rendering of media and
//! multivariant playlists, and the blocking-reload decision (RFC 8216bis §4, §6.2.5).
//! Pure: time is passed in.

pub mod blocking;
pub mod date;
pub mod media;
pub mod multivariant;
pub mod window;

pub use media::{RenderParams, RenditionReport, last_position, render_media};
pub use multivariant::{BitrateTracker, Variant, render_multivariant};
pub use window::{
    MediaUri, StoredPart, StoredSegment, Window, parse_media_uri, part_uri, segment_uri,
};
