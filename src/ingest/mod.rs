//! What every way of publishing shares, whatever the transport: who may publish
//! ([`auth`], with its [`hook`]), how long a silent publisher keeps its rendition
//! against a credentialed newcomer ([`TAKEOVER_SILENCE`]), how fast a publish is read
//! ([`pace`], `limits.max_ingest_speed`) and how heavy a rendition may be ([`bitrate`],
//! `limits.max_ingest_bitrate`). Each transport (HTTP push today; SRT and RTMP later) maps
//! the answers to its own codes and does the waiting itself.

pub mod auth;
pub mod bitrate;
pub mod hook;
pub mod pace;

use std::time::Duration;

/// A publisher that has delivered no bytes for this long may be replaced by a new publish
/// presenting the right credential (an encoder back after a network blip whose old
/// connection the server still holds).
pub const TAKEOVER_SILENCE: Duration = Duration::from_secs(2);
