//! The JSON views of feeds served by `/api/feeds` (fields documented in docs/api.md).
//! Built from each rendition's state under its lock, held once and briefly per rendition.

use super::admin::memory_bytes;
use super::stats::{Counts, LastWarning};
use super::{Feed, Rendition};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FeedView {
    pub name: String,
    /// `live`, `reconnecting` or `ended`.
    pub state: &'static str,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub uptime_s: f64,
    /// Sums over the renditions.
    pub bytes_in: u64,
    pub bitrate: u64,
    pub renditions: Vec<RenditionView>,
}

#[derive(Debug, Serialize)]
pub struct PublisherView {
    /// The transport it publishes by ([`crate::ingest::Protocol::as_str`]).
    pub protocol: &'static str,
    /// `IP:PORT`; only for the admin (see [`Reveal`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Unix milliseconds.
    pub since_ms: i64,
    pub connected_s: f64,
}

#[derive(Debug, Serialize)]
pub struct WindowView {
    /// Segments a live playlist lists at most (`hls.window`).
    pub size: usize,
    /// Segments listed now, and their media duration.
    pub segments: usize,
    pub duration_s: f64,
    /// First and last media sequence numbers listed (none before the first segment).
    pub first_msn: Option<u64>,
    pub last_msn: Option<u64>,
    pub discontinuity_sequence: u64,
    /// Parts of the segment being built.
    pub building_parts: usize,
}

#[derive(Debug, Serialize)]
pub struct RenditionView {
    pub name: String,
    pub state: &'static str,
    pub created_ms: i64,
    pub publisher: Option<PublisherView>,
    pub bytes_in: u64,
    pub packets_in: u64,
    /// Bits per second of the last (up to) three listed segments.
    pub bitrate: u64,
    /// BANDWIDTH and AVERAGE-BANDWIDTH of the multivariant playlist.
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: Option<String>,
    /// `WIDTHxHEIGHT`, as in the multivariant playlist.
    pub resolution: Option<String>,
    pub frame_rate: Option<f64>,
    pub target_duration: Option<u32>,
    /// Seconds.
    pub part_target: Option<f64>,
    /// Segments and parts made since the rendition was created.
    pub segments: u64,
    pub parts: u64,
    pub window: WindowView,
    /// Bytes of media held in memory (listed, retired but fetchable, being built).
    pub memory_bytes: u64,
    pub ts_errors: TsErrors,
    /// The last stream warning of the segmenter.
    pub last_error: Option<LastWarning>,
    /// Token of the current session, in its segment URIs; only for the admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Whether its segments have the same MSNs as the feed's other renditions' segments
    /// starting at the same time (null until that could be compared).
    pub aligned: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct TsErrors {
    pub sync_losses: u64,
    pub skipped_bytes: u64,
    pub bad_pes: u64,
    pub bad_psi: u64,
    pub continuity: u64,
}

/// Whether a view carries what only the admin may read: publishers' addresses and session
/// tokens (an address tells a stranger where an encoder is; a token is half of the way to
/// guessing media URIs of a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    Public,
    Admin,
}

/// Bits per second of the last three segments listed.
fn recent_bitrate<'a>(
    segs: impl ExactSizeIterator<Item = &'a crate::playlist::StoredSegment>,
) -> u64 {
    let skip = segs.len().saturating_sub(3);
    let (bytes, ticks) = segs.skip(skip).fold((0u64, 0i64), |(b, t), s| {
        (b + s.len() as u64, t + s.duration.0)
    });
    if ticks <= 0 {
        return 0;
    }
    bytes * 8 * 90_000 / ticks as u64
}

fn secs_since(now_ms: i64, since_ms: i64) -> f64 {
    (now_ms - since_ms).max(0) as f64 / 1000.0
}

pub fn rendition_view(
    r: &Rendition,
    window_size: usize,
    now_ms: i64,
    reveal: Reveal,
) -> RenditionView {
    let admin = reveal == Reveal::Admin;
    // Counts first: a segment is counted after its snapshot is published, so the snapshot
    // taken next holds every segment counted (its bytes are in `memory_bytes`).
    let c: Counts = r.stats.counts();
    let snap = r.snapshot();
    let st = r.lock();
    let w = &st.window;
    let listed = w.listed();
    let window = WindowView {
        size: window_size,
        segments: listed.len(),
        duration_s: w.duration().secs(),
        first_msn: listed.clone().next().map(|s| s.msn),
        last_msn: listed.clone().last().map(|s| s.msn),
        discontinuity_sequence: w.discontinuity_sequence(),
        building_parts: w.building().map_or(0, |b| b.parts.len()),
    };
    let bitrate = recent_bitrate(listed);
    let publisher = st.publisher.map(|p| PublisherView {
        protocol: p.protocol.as_str(),
        address: admin.then(|| p.addr.to_string()),
        since_ms: p.since_ms,
        connected_s: secs_since(now_ms, p.since_ms),
    });
    let view_media = (
        st.media.codecs(),
        st.media.resolution().map(|(w, h)| format!("{w}x{h}")),
        st.media.frame_rate(),
    );
    let (bandwidth, average_bandwidth) = (st.bitrate.bandwidth(), st.bitrate.average());
    let (state, token, td) = (st.phase.as_str(), st.token, st.target_duration);
    let part_target = st.part_target.filter(|_| st.low_latency).map(|t| t.secs());
    let aligned = st.aligned;
    drop(st);
    RenditionView {
        name: r.name.clone(),
        state,
        created_ms: r.stats.created_ms,
        publisher,
        bytes_in: c.bytes_in,
        packets_in: c.packets_in,
        bitrate,
        bandwidth,
        average_bandwidth,
        codecs: view_media.0,
        resolution: view_media.1,
        frame_rate: view_media.2,
        target_duration: td,
        part_target,
        segments: c.segments,
        parts: c.parts,
        window,
        memory_bytes: memory_bytes(&snap),
        ts_errors: TsErrors {
            sync_losses: c.sync_losses,
            skipped_bytes: c.skipped_bytes,
            bad_pes: c.bad_pes,
            bad_psi: c.bad_psi,
            continuity: c.continuity_errors,
        },
        last_error: r.stats.last_warning(),
        token: admin.then(|| format!("{token:x}")),
        aligned,
    }
}

pub fn feed_view(f: &Feed, window_size: usize, now_ms: i64, reveal: Reveal) -> FeedView {
    let renditions: Vec<RenditionView> = f
        .rendition_list()
        .iter()
        .map(|r| rendition_view(r, window_size, now_ms, reveal))
        .collect();
    let created_ms = f.created_ms().unwrap_or(now_ms);
    FeedView {
        name: f.name.clone(),
        state: f.phase().as_str(),
        created_ms,
        uptime_s: secs_since(now_ms, created_ms),
        bytes_in: renditions.iter().map(|r| r.bytes_in).sum(),
        bitrate: renditions.iter().map(|r| r.bitrate).sum(),
        renditions,
    }
}
