//! HLS playlists: the rolling window of segments, and rendering of media and multivariant
//! playlists (RFC 8216bis §4). Pure: time is passed in.

pub mod date;
pub mod media;
pub mod multivariant;
pub mod window;

pub use media::render_media;
pub use multivariant::{BitrateTracker, Variant, render_multivariant};
pub use window::{StoredSegment, Window, parse_segment_uri, segment_uri};
