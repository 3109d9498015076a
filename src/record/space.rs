//! The free-space guard: below `min_free` free bytes on the recording's filesystem
//! (statvfs: blocks available to unprivileged users × fragment size), recording pauses;
//! segments frozen meanwhile are lost to the recording only (listed with EXT-X-GAP,
//! counted as `hlsd_record_lost_segments_total{reason="disk_full"}`), and it resumes once
//! space is back. Logged once per pause (WARN) and once per resume (INFO);
//! `hlsd_record_paused` is 1 while paused. Checked before each segment is written, on the
//! blocking pool; the live feed never waits on it.

use crate::config::FreeSpaceThreshold;
use prometheus_client::metrics::gauge::Gauge;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{info, warn};

#[derive(Debug)]
pub struct Space {
    root: PathBuf,
    min_free: FreeSpaceThreshold,
    paused: AtomicBool,
    gauge: Gauge,
}

/// Free bytes on the filesystem holding `path`, for an unprivileged writer.
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

impl Space {
    pub fn new(root: PathBuf, min_free: FreeSpaceThreshold, gauge: Gauge) -> Self {
        Space {
            root,
            min_free,
            paused: AtomicBool::new(false),
            gauge,
        }
    }

    /// Whether a segment may be written now. A failed statvfs does not pause: the write
    /// itself then fails and is counted as such.
    pub fn allows_writing(&self) -> bool {
        let min = self.min_free.get();
        let free = match free_bytes(&self.root) {
            Ok(f) => f,
            Err(_) => return !self.paused.load(Ordering::SeqCst),
        };
        let pause = free < min;
        if self.paused.swap(pause, Ordering::SeqCst) != pause {
            self.gauge.set(i64::from(pause));
            if pause {
                warn!(dir = %self.root.display(), free, min, "recording paused: too little free space on the recording's disk; segments are listed as gaps until space is back, the live feeds are unaffected");
            } else {
                info!(dir = %self.root.display(), free, min, "recording resumed: free space is back");
            }
        }
        !pause
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_above_the_free_space_pauses_until_it_is_lowered() {
        let tmp = tempfile::tempdir().unwrap();
        let free = free_bytes(tmp.path()).unwrap();
        assert!(free > 0);
        let min = FreeSpaceThreshold::default();
        let gauge = Gauge::default();
        let s = Space::new(tmp.path().to_path_buf(), min.clone(), gauge.clone());
        min.set(0);
        assert!(s.allows_writing());
        assert_eq!(gauge.get(), 0);
        min.set(free.saturating_mul(4).max(1 << 50));
        assert!(!s.allows_writing());
        assert!(s.paused());
        assert_eq!(gauge.get(), 1);
        assert!(!s.allows_writing());
        min.set(0);
        assert!(s.allows_writing());
        assert_eq!(gauge.get(), 0);
    }
}
