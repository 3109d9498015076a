//! Accounting of one ingest request: what the segmenter counted goes to the rendition's
//! counters (for the API) and to the metrics, once per body chunk; parts, segments and
//! warnings as they come out of the segmenter.

use super::Metrics;
use crate::feeds::Rendition;
use crate::feeds::stats::RenditionStats;
use crate::segmenter::{SegmenterStats, Warning};
use std::sync::Arc;
use std::time::Instant;

pub struct IngestProbe {
    metrics: Arc<Metrics>,
    rendition: Arc<Rendition>,
    /// The segmenter's counters when last accounted.
    last: SegmenterStats,
    /// When the chunk being processed arrived.
    arrival: Instant,
}

impl IngestProbe {
    pub fn new(metrics: Arc<Metrics>, rendition: Arc<Rendition>) -> Self {
        IngestProbe {
            metrics,
            rendition,
            last: SegmenterStats::default(),
            arrival: Instant::now(),
        }
    }

    /// A body chunk arrived; call before giving it to the segmenter.
    pub fn chunk_arrived(&mut self) {
        self.arrival = Instant::now();
    }

    /// Adds what the segmenter counted since the last call.
    pub fn account(&mut self, now: &SegmenterStats) {
        let s = &self.rendition.stats;
        let (last, m) = (&self.last, &self.metrics);
        let bytes = now.bytes.saturating_sub(last.bytes);
        let packets = now.framer.packets.saturating_sub(last.framer.packets);
        let sync = now
            .framer
            .sync_losses
            .saturating_sub(last.framer.sync_losses);
        let skipped = now
            .framer
            .skipped_bytes
            .saturating_sub(last.framer.skipped_bytes);
        RenditionStats::add(&s.bytes_in, bytes);
        RenditionStats::add(&s.packets_in, packets);
        let continuity = now.continuity_errors.saturating_sub(last.continuity_errors);
        RenditionStats::add(&s.sync_losses, sync);
        RenditionStats::add(&s.skipped_bytes, skipped);
        RenditionStats::add(&s.continuity_errors, continuity);
        if continuity > 0 {
            m.ts_errors
                .get_or_create(&[("kind", "continuity")])
                .inc_by(continuity);
        }
        if sync > 0 {
            m.ts_sync_losses.inc_by(sync);
        }
        if skipped > 0 {
            m.ts_skipped_bytes.inc_by(skipped);
        }
        self.last = *now;
    }

    /// A part was published: its delay is counted from its chunk's arrival.
    pub fn part(&self) {
        RenditionStats::add(&self.rendition.stats.parts, 1);
        self.metrics.parts.inc();
        self.metrics
            .part_delay
            .observe(self.arrival.elapsed().as_secs_f64());
    }

    /// Retired segments dropped before their time by the retention cap.
    pub fn capped(&self, segments: u64) {
        self.metrics.retired_capped.inc_by(segments);
    }

    /// A publish ended by a limit (`reason`: `bitrate`).
    pub fn refused(&self, reason: &'static str) {
        self.metrics
            .ingest_refused
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn segment(&self) {
        RenditionStats::add(&self.rendition.stats.segments, 1);
        self.metrics.segments.inc();
    }

    /// Counts a stream warning and keeps its text as the rendition's last error.
    pub fn warning(&self, w: &Warning, now_ms: i64) {
        let s = &self.rendition.stats;
        let kind = match w {
            Warning::BadPes { .. } => {
                RenditionStats::add(&s.bad_pes, 1);
                Some("bad_pes")
            }
            Warning::BadPsi(_) => {
                RenditionStats::add(&s.bad_psi, 1);
                Some("bad_psi")
            }
            Warning::UnknownStream { .. } => Some("unknown_stream"),
            Warning::FrozenClock { .. } => {
                self.metrics.frozen_clock.inc();
                None
            }
            _ => None,
        };
        if let Some(kind) = kind {
            self.metrics
                .ts_errors
                .get_or_create(&[("kind", kind)])
                .inc();
        }
        s.set_warning(describe(w), now_ms);
    }
}

/// A warning in words, for the API.
pub fn describe(w: &Warning) -> String {
    match w {
        Warning::UnknownStream { pid, stream_type } => format!(
            "stream type {stream_type:#04x} on PID {:#x} not understood: passed through untouched",
            pid.0
        ),
        Warning::BadPsi(e) => format!("bad PAT/PMT: {e}"),
        Warning::BadPes { pid, error } => format!("bad PES on PID {:#x}: {error}", pid.0),
        Warning::NoKeyframe { waited } => format!(
            "no keyframe for {:.0} s: segments are cut without keyframes",
            waited.secs()
        ),
        Warning::GopOverrun { target_duration } => format!(
            "the encoder's GOP is longer than the target duration ({target_duration} s): segment cut without a keyframe"
        ),
        Warning::TimestampJump { from, to } => format!(
            "timestamp jump from {:.3} s to {:.3} s: discontinuity",
            from.secs(),
            to.secs()
        ),
        Warning::CodecInfo(e) => format!("cannot read codec information: {e}"),
        Warning::FrozenClock { bytes } => format!(
            "frozen clock: media time did not advance over {bytes} bytes; publisher disconnected"
        ),
        // Kinds added later read as their debug form until they get words here.
        #[allow(unreachable_patterns)]
        _ => format!("{w:?}"),
    }
}
