//! Prometheus metrics (`GET /metrics`, text format 0.0.4) with prometheus-client: one
//! registry per server, no process-wide recorder, so tests can run several servers in one
//! process. Counters that must survive feeds (segments, parts, TS errors, requests) are
//! kept here and bumped by ingest and the playback middleware; per-feed series and gauges
//! (feeds, publishers, ingest bytes, memory) are read from the feed registry at scrape
//! time by [`collector`], so a removed feed leaves no stale series.

mod collector;
pub mod probe;
pub mod requests;
pub mod sharded;

use crate::feeds::Registry as Feeds;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;

/// A counter bumped by every playback answer, kept per thread ([`sharded`]).
pub type ShardedCounter = Counter<u64, sharded::Sharded>;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Label set of a few static strings.
pub type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Part publish delay buckets, in seconds: 0.1 ms to 100 ms.
const DELAY_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// Content-Type of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `reason` labels of `hlsd_ingest_refused_total`: refused before the body is read
/// (`browser`, `bad_name`, `missing_key`, `wrong_key`, `denied` by the hook,
/// `hook_unavailable`, `busy`: another publisher holds the rendition, `feeds`: feeds.max_feeds,
/// `renditions`: limits.max_renditions, `memory`: limits.max_memory_mb), from its first bytes
/// (`not_ts`), or ended by a limit (`bitrate`: limits.max_ingest_bitrate); SRT callers also
/// by their mode (`bad_mode`: not a publish) or encryption (`unsecure`: not as `[srt]
/// passphrase` says).
pub const REFUSAL_REASONS: [&str; 14] = [
    "browser",
    "bad_name",
    "missing_key",
    "wrong_key",
    "denied",
    "hook_unavailable",
    "busy",
    "feeds",
    "renditions",
    "memory",
    "not_ts",
    "bitrate",
    "bad_mode",
    "unsecure",
];

pub struct Metrics {
    registry: Registry,
    pub segments: Counter,
    pub parts: Counter,
    pub ts_sync_losses: Counter,
    pub ts_skipped_bytes: Counter,
    /// kind = bad_pes | bad_psi | unknown_stream | continuity
    pub ts_errors: Family<Labels<1>, Counter>,
    /// kind = playlist | media, status = 2xx | 3xx | 4xx | 5xx
    pub requests: Family<Labels<2>, ShardedCounter>,
    /// kind = playlist | media
    pub response_bytes: Family<Labels<1>, ShardedCounter>,
    pub blocking_waiting: Gauge,
    /// Retired segments dropped before their time by the retention cap.
    pub retired_capped: Counter,
    /// Publishes disconnected because their media time stopped advancing.
    pub frozen_clock: Counter,
    /// Times the SRT stack's listener task ended and a new listener took the socket.
    pub srt_listener_restarts: Counter,
    /// Publishes refused or ended by a limit, by reason (see [`REFUSAL_REASONS`]).
    pub ingest_refused: Family<Labels<1>, Counter>,
    /// Log lines not written by the log gates ([`crate::logging`]), by kind.
    pub log_suppressed: Family<Labels<1>, Counter>,
    pub part_delay: Histogram,
    /// `requests` and `response_bytes` of playback, resolved once.
    pub playback: requests::Counters,
}

impl Metrics {
    pub fn new(feeds: Arc<Feeds>) -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            segments: Counter::default(),
            parts: Counter::default(),
            ts_sync_losses: Counter::default(),
            ts_skipped_bytes: Counter::default(),
            ts_errors: Family::default(),
            requests: Family::default(),
            response_bytes: Family::default(),
            blocking_waiting: Gauge::default(),
            retired_capped: Counter::default(),
            frozen_clock: Counter::default(),
            srt_listener_restarts: Counter::default(),
            ingest_refused: Family::default(),
            log_suppressed: Family::default(),
            part_delay: Histogram::new(DELAY_BUCKETS),
            playback: requests::Counters::default(),
        };
        let r = &mut m.registry;
        r.register("hlsd_segments", "Segments produced", m.segments.clone());
        r.register(
            "hlsd_parts",
            "Parts produced (one per segment with LL-HLS off)",
            m.parts.clone(),
        );
        r.register(
            "hlsd_ts_sync_losses",
            "Times TS sync was lost in ingested streams",
            m.ts_sync_losses.clone(),
        );
        r.register(
            "hlsd_ts_skipped_bytes",
            "Ingested bytes skipped as garbage or truncated packets",
            m.ts_skipped_bytes.clone(),
        );
        r.register(
            "hlsd_ts_errors",
            "Bad stream data in ingested streams, by kind",
            m.ts_errors.clone(),
        );
        r.register(
            "hlsd_http_requests",
            "Playback requests answered, by kind and status class",
            m.requests.clone(),
        );
        r.register(
            "hlsd_http_response_bytes",
            "Bytes of playback response bodies (GET), by kind",
            m.response_bytes.clone(),
        );
        r.register(
            "hlsd_blocking_requests_waiting",
            "Blocking playlist reloads and part requests in flight (they wait for media)",
            m.blocking_waiting.clone(),
        );
        r.register(
            "hlsd_part_publish_delay_seconds",
            "Time from the arrival of the ingest chunk that completes a part to its publication",
            m.part_delay.clone(),
        );
        r.register(
            "hlsd_retired_segments_capped",
            "Retired segments dropped before the spec's retention time because they exceeded twice the window's bytes (publishers faster than real time)",
            m.retired_capped.clone(),
        );
        r.register(
            "hlsd_frozen_clock_disconnects",
            "Publishes disconnected because their media time stopped advancing (frozen timestamps)",
            m.frozen_clock.clone(),
        );
        r.register(
            "hlsd_srt_listener_restarts",
            "Times the SRT listener stopped (its stack failed on a packet) and listened again on the same socket",
            m.srt_listener_restarts.clone(),
        );
        // Present at 0 before the first refusal.
        for reason in REFUSAL_REASONS {
            let _ = m.ingest_refused.get_or_create(&[("reason", reason)]);
        }
        r.register(
            "hlsd_ingest_refused",
            "Publishes refused, or ended because they went over a limit, by reason",
            m.ingest_refused.clone(),
        );
        r.register(
            "hlsd_log_suppressed",
            "Log lines about refusals not written because their kind went over its rate (one summary line per minute instead), by kind",
            m.log_suppressed.clone(),
        );
        if let Some(rec) = feeds.recorder() {
            rec.counters().register(r);
        }
        r.register_collector(Box::new(collector::FeedCollector(feeds)));
        m
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
