//! HLS playlists: the rolling window of segments and parts, rendering of media and
//! multivariant playlists, and the blocking-reload decision (RFC 8216bis §4, §6.2.5).
//! Pure: time is passed in.

pub mod blocking;
pub mod date;
pub mod dvr;
pub mod media;
pub mod multivariant;
pub mod window;

pub use dvr::{DvrPrefix, LeftSegment};
pub use media::{
    RenderParams, Rendering, RenditionReport, last_position, render_media, render_media_as,
    render_media_dvr, renders_something,
};
pub use multivariant::{BitrateTracker, Variant, render_multivariant};
pub use window::{
    Container, MediaUri, Mp4Part, StoredPart, StoredSegment, Window, init_uri, parse_media_uri,
    part_packaged, part_uri, part_uri_in, segment_uri,
};
