//! What every way of publishing shares, whatever the transport: who may publish
//! ([`auth`], with its [`hook`]), how long a silent publisher keeps its rendition
//! against a credentialed newcomer ([`TAKEOVER_SILENCE`]), how fast a publish is read
//! ([`pace`], `limits.max_ingest_speed`) and in how small chunks ([`chunks`]), how heavy a
//! rendition may be ([`bitrate`], `limits.max_ingest_bitrate`), and the publish [`session`] that puts them together over
//! the [`lane`]s that feed the segmenters. Each transport (HTTP push today) is an adapter
//! onto a session and maps its answers to its own codes.

pub mod auth;
pub mod bitrate;
pub mod chunks;
pub mod hook;
pub mod lane;
pub mod pace;
pub mod session;

pub use auth::Protocol;
pub use session::valid_name;

use std::time::Duration;

/// A publisher that has delivered no bytes for this long may be replaced by a new publish
/// presenting the right credential (an encoder back after a network blip whose old
/// connection the server still holds).
pub const TAKEOVER_SILENCE: Duration = Duration::from_secs(2);
