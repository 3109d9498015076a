//! Counters of one rendition for the JSON API and the metrics: bytes and packets in, TS
//! errors, segments and parts made, the last stream warning, and an operator's request to
//! stop the publisher. The ingest task adds to them once per body chunk (atomics, no lock);
//! any handler reads them.

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::watch;

/// A stream warning as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LastWarning {
    pub message: String,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub bytes_in: u64,
    pub packets_in: u64,
    pub sync_losses: u64,
    pub skipped_bytes: u64,
    pub bad_pes: u64,
    pub bad_psi: u64,
    pub continuity_errors: u64,
    pub segments: u64,
    pub parts: u64,
}

#[derive(Debug)]
pub struct RenditionStats {
    /// When the rendition was created (Unix milliseconds).
    pub created_ms: i64,
    pub bytes_in: AtomicU64,
    pub packets_in: AtomicU64,
    pub sync_losses: AtomicU64,
    pub skipped_bytes: AtomicU64,
    pub bad_pes: AtomicU64,
    pub bad_psi: AtomicU64,
    pub continuity_errors: AtomicU64,
    pub segments: AtomicU64,
    pub parts: AtomicU64,
    last_warning: Mutex<Option<LastWarning>>,
    /// Id of the publisher an operator asked to stop (0: none; publisher ids start at 1).
    stop: watch::Sender<u64>,
    /// Id of the publisher a newcomer took the rendition over from (0: none).
    taken_over: watch::Sender<u64>,
    /// When the publisher last delivered bytes, or connected (Unix milliseconds).
    last_data_ms: AtomicI64,
}

impl RenditionStats {
    pub fn new(created_ms: i64) -> Self {
        RenditionStats {
            created_ms,
            bytes_in: AtomicU64::new(0),
            packets_in: AtomicU64::new(0),
            sync_losses: AtomicU64::new(0),
            skipped_bytes: AtomicU64::new(0),
            bad_pes: AtomicU64::new(0),
            bad_psi: AtomicU64::new(0),
            continuity_errors: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            parts: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            stop: watch::Sender::new(0),
            taken_over: watch::Sender::new(0),
            last_data_ms: AtomicI64::new(created_ms),
        }
    }

    /// Adds `n` to one of the counters. Relaxed: the counters order nothing.
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            bytes_in: get(&self.bytes_in),
            packets_in: get(&self.packets_in),
            sync_losses: get(&self.sync_losses),
            skipped_bytes: get(&self.skipped_bytes),
            bad_pes: get(&self.bad_pes),
            bad_psi: get(&self.bad_psi),
            continuity_errors: get(&self.continuity_errors),
            segments: get(&self.segments),
            parts: get(&self.parts),
        }
    }

    pub fn set_warning(&self, message: String, at_ms: i64) {
        let mut w = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        *w = Some(LastWarning { message, at_ms });
    }

    pub fn last_warning(&self) -> Option<LastWarning> {
        self.last_warning
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the ingest task of publisher `id` to stop.
    pub fn request_stop(&self, id: u64) {
        self.stop.send_replace(id);
    }

    /// Whether an operator asked publisher `id` to stop.
    pub fn stop_requested(&self, id: u64) -> bool {
        *self.stop.borrow() == id
    }

    /// What the ingest task watches: it stops when the value becomes its publisher id.
    pub fn stop_signal(&self) -> watch::Receiver<u64> {
        self.stop.subscribe()
    }

    /// Asks the ingest task of publisher `id` to end: a newcomer takes the rendition over.
    pub fn request_takeover(&self, id: u64) {
        self.taken_over.send_replace(id);
    }

    /// What the ingest task watches: it ends when the value becomes its publisher id.
    pub fn takeover_signal(&self) -> watch::Receiver<u64> {
        self.taken_over.subscribe()
    }

    /// The publisher delivered bytes (or connected) at `now_ms`.
    pub fn touch(&self, now_ms: i64) {
        self.last_data_ms.store(now_ms, Ordering::Relaxed);
    }

    /// When the publisher last delivered bytes or connected (Unix milliseconds).
    pub fn last_data_ms(&self) -> i64 {
        self.last_data_ms.load(Ordering::Relaxed)
    }
}
