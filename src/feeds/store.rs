//! The memory budget of all feeds together (`limits.max_memory_mb`): a store-wide count of
//! the media bytes the windows hold, kept by each rendition as its snapshot changes (per
//! part and segment, never per packet), and checked when a new feed or rendition is
//! claimed. Live data is never evicted to meet it: it only refuses what is new.

use crate::config::LimitsConfig;
use std::sync::atomic::{AtomicU64, Ordering};

/// Share of the machine's (or the cgroup's) memory taken when `max_memory_mb` is 0.
const DEFAULT_SHARE: u64 = 2;

#[derive(Debug)]
pub struct Store {
    bytes: AtomicU64,
    budget: u64,
}

impl Store {
    pub fn new(budget: u64) -> Self {
        Store {
            bytes: AtomicU64::new(0),
            budget,
        }
    }

    /// The budget `limits` gives: `max_memory_mb`, else half of the smaller of MemTotal and
    /// the cgroup's memory.max; unlimited when neither can be read.
    pub fn from_limits(limits: &LimitsConfig) -> Self {
        let budget = match limits.max_memory_mb {
            0 => machine_memory().map_or(u64::MAX, |m| m / DEFAULT_SHARE),
            mb => mb.saturating_mul(1 << 20),
        };
        Store::new(budget)
    }

    /// Media bytes held by every window (listed, retired, being built).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn is_full(&self) -> bool {
        self.bytes() >= self.budget
    }

    /// A rendition held `old` bytes and now holds `new`.
    pub fn update(&self, old: u64, new: u64) {
        if new > old {
            self.bytes.fetch_add(new - old, Ordering::Relaxed);
        } else if old > new {
            self.bytes.fetch_sub(old - new, Ordering::Relaxed);
        }
    }
}

/// The smaller of MemTotal and the cgroup (v2, else v1) memory limit, in bytes.
fn machine_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_total(&t));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|t| t.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// MemTotal from /proc/meminfo's text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_from_config_or_machine() {
        let mut limits = LimitsConfig {
            max_memory_mb: 3,
            ..LimitsConfig::default()
        };
        assert_eq!(Store::from_limits(&limits).budget(), 3 << 20);
        limits.max_memory_mb = 0;
        let auto = Store::from_limits(&limits).budget();
        assert!(auto > 0);
        if let Some(m) = machine_memory() {
            assert_eq!(auto, m / 2);
        }
        assert_eq!(
            mem_total("MemTotal:       24683784 kB\nMemFree: 1 kB\n"),
            Some(24_683_784 * 1024)
        );
        assert_eq!(mem_total("nothing"), None);
    }

    #[test]
    fn bytes_follow_updates() {
        let s = Store::new(1000);
        s.update(0, 600);
        s.update(0, 300);
        assert!(!s.is_full());
        s.update(300, 500);
        assert_eq!(s.bytes(), 1100);
        assert!(s.is_full());
        s.update(600, 0);
        s.update(500, 0);
        assert_eq!(s.bytes(), 0);
    }
}
