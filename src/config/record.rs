//! `[record]`: where recordings go, how long they are kept, and when recording pauses.

use super::ConfigError;
use serde::Deserialize;

/// `[record]` (`crate::record`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    /// Where recordings go (`{dir}/{feed}/{session}/...`), relative to the working directory.
    pub dir: std::path::PathBuf,
    /// Hours a recorded segment is kept.
    pub retention_hours: f64,
    /// Gigabytes all recordings may take (segments, inits, indexes); 0 = no size limit.
    pub max_gb: f64,
    /// Segments a feed's recorder may have waiting to be written; a segment frozen while
    /// that many wait is lost to the recording (listed as a gap), never to the live feed.
    /// Not a file key: tests set it.
    #[serde(skip_deserializing)]
    pub queue_segments: usize,
    /// Free bytes below which recording pauses (1 GiB). Not a file key: tests set it, and
    /// may change it while the server runs (clones share it).
    #[serde(skip_deserializing)]
    pub min_free: FreeSpaceThreshold,
}

/// The free-space threshold of `[record]`, shared by every clone of the config.
#[derive(Debug, Clone)]
pub struct FreeSpaceThreshold(std::sync::Arc<std::sync::atomic::AtomicU64>);

/// Free bytes on the recording's filesystem below which recording pauses.
pub const RECORD_MIN_FREE: u64 = 1 << 30;

impl FreeSpaceThreshold {
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, bytes: u64) {
        self.0.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for FreeSpaceThreshold {
    fn default() -> Self {
        FreeSpaceThreshold(std::sync::Arc::new(RECORD_MIN_FREE.into()))
    }
}

/// Segments waiting per feed before the recording loses one: 16 s of 2 s segments.
pub const RECORD_QUEUE_SEGMENTS: usize = 8;

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            dir: "recordings".into(),
            retention_hours: 168.0,
            max_gb: 0.0,
            queue_segments: RECORD_QUEUE_SEGMENTS,
            min_free: FreeSpaceThreshold::default(),
        }
    }
}

impl RecordConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        if self.dir.as_os_str().is_empty() {
            return bad("record.dir must not be empty (remove [record] to turn recording off)");
        }
        if !(self.retention_hours.is_finite() && self.retention_hours > 0.0) {
            return bad("record.retention_hours must be a positive number of hours");
        }
        if !(self.max_gb.is_finite() && self.max_gb >= 0.0) {
            return bad("record.max_gb must be 0 (no limit) or a positive number of gigabytes");
        }
        Ok(())
    }
}
