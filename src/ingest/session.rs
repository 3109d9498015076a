//! A publish, whatever the transport. A transport names what is published and presents
//! ([`Publish`]: protocol, feed, rendition, key, address) and [`open`]s a [`Session`]:
//! names checked, the auth decision, the claim of the rendition (busy, or taken over from a
//! silent publisher by a credentialed one), limits. It then [`Session::run`]s it over a
//! [`Source`] of its stream: the loop that feeds the lanes' segmenters, ends the publish
//! when the publisher goes silent for `feeds.idle_timeout`, when the server shuts down, an
//! operator stops the feed or a newcomer takes the rendition over, paces it
//! (`limits.max_ingest_speed`) and ends it over `limits.max_ingest_bitrate`. Releasing the
//! rendition at the end starts the feed's reconnect grace. Each transport maps the
//! [`IngestError`]s and [`End`]s to its own codes.

use super::TAKEOVER_SILENCE;
use super::auth::{Grant, Protocol, PublishRequest, Refusal};
use super::chunks::ChunkBound;
use super::lane::Lane;
use crate::feeds::{ClaimError, PublishGuard};
use crate::http::App;
use crate::ingest::bitrate::OverLimit;
use crate::segmenter::SegmenterStats;
use crate::ts::framer::{SNIFF_LEN, looks_like_ts};
use crate::ts::programs::{ProgramName, rendition_name, scan};
use bytes::Bytes;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tracing::{Span, info, info_span, warn};

/// The rendition a publish names when it names none.
pub const MAIN_RENDITION: &str = "main";

/// How long a publish taking over a silent publisher waits for the old one to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(3);

/// Feed and rendition names: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a publish is refused, before or after its first bytes.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("bad name: feed and rendition names are 1 to 64 characters of A-Z a-z 0-9 _ -")]
    BadName,
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("the stream is not MPEG-TS: no run of 5 sync bytes 188 bytes apart in its first 64 KB")]
    NotTs,
}

impl IngestError {
    /// The `reason` of `hlsd_ingest_refused_total` (and the log gate's kind); `None` when
    /// the server is shutting down.
    pub fn reason(&self) -> Option<&'static str> {
        Some(match self {
            IngestError::BadName => "bad_name",
            IngestError::Refused(Refusal::MissingKey) => "missing_key",
            IngestError::Refused(Refusal::WrongKey) => "wrong_key",
            IngestError::Refused(Refusal::Denied) => "denied",
            IngestError::Refused(Refusal::Unavailable) => "hook_unavailable",
            IngestError::Claim(ClaimError::Busy { .. }) => "busy",
            IngestError::Claim(ClaimError::TooManyFeeds(_)) => "feeds",
            IngestError::Claim(ClaimError::TooManyRenditions(_)) => "renditions",
            IngestError::Claim(ClaimError::MemoryBudget { .. }) => "memory",
            IngestError::Claim(ClaimError::ShuttingDown) => return None,
            IngestError::NotTs => "not_ts",
        })
    }
}

/// Counts a refused publish under `reason` (`hlsd_ingest_refused_total`) and says whether
/// to log it: through the reason's log gate, since anyone can repeat refusals at will.
pub fn count_refusal(app: &App, reason: &'static str) -> bool {
    app.metrics
        .ingest_refused
        .get_or_create(&[("reason", reason)])
        .inc();
    app.gates.admit(reason)
}

/// Counts and logs a refusal over a transport that answers with `code`, as HTTP does its
/// refusals (same reasons, same log gates).
pub fn note_refusal(app: &App, e: &IngestError, code: impl std::fmt::Display) {
    // The log, unlike the publisher, is told who holds a busy rendition.
    let text = match e {
        IngestError::Claim(c) => c.with_holder(),
        e => e.to_string(),
    };
    match e.reason() {
        Some(reason) => {
            if count_refusal(app, reason) {
                warn!(%code, "publish refused: {text}");
            }
        }
        None => info!(%code, "publish refused: {text}"),
    }
}

/// What a publisher names and presents.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    pub protocol: Protocol,
    pub feed: &'a str,
    pub rendition: &'a str,
    pub key: Option<&'a str>,
    pub addr: SocketAddr,
}

impl Publish<'_> {
    /// The span of this publish's log lines (names only once they are valid).
    pub fn span(&self) -> Span {
        let (protocol, peer) = (self.protocol.as_str(), self.addr);
        if valid_name(self.feed) && valid_name(self.rendition) {
            info_span!("ingest", protocol, feed = %self.feed, rendition = %self.rendition, %peer)
        } else {
            info_span!("ingest", protocol, %peer)
        }
    }
}

/// Opens a publish: names, the auth decision, the claim.
pub async fn open(app: &App, p: Publish<'_>) -> Result<Session, IngestError> {
    if !valid_name(p.feed) || !valid_name(p.rendition) {
        return Err(IngestError::BadName);
    }
    let req = PublishRequest {
        protocol: p.protocol,
        feed: p.feed,
        rendition: p.rendition,
        key: p.key,
        ip: p.addr.ip(),
    };
    let grant = app.auth.decide(&req).await?;
    let guard = claim(app, &p, grant.credentialed).await?;
    info!(resumed = guard.resumed, "publisher connected");
    Ok(Session {
        app: app.clone(),
        grant,
        guard,
    })
}

/// Claims the rendition. A publisher with a credential may take it over from one that has
/// delivered nothing for [`TAKEOVER_SILENCE`]: the old session is asked to end (it flushes
/// and releases the rendition, as when a connection drops) and the claim is made again, so
/// the feed goes on with a discontinuity as after a reconnect.
async fn claim(app: &App, p: &Publish<'_>, credentialed: bool) -> Result<PublishGuard, ClaimError> {
    let reg = &app.registry;
    let (feed, rendition) = (p.feed, p.rendition);
    let holder = match reg.claim_by(feed, rendition, p.protocol, p.addr) {
        Err(ClaimError::Busy {
            holder, silent_ms, ..
        }) if credentialed && silent_ms >= TAKEOVER_SILENCE.as_millis() as i64 => {
            info!(
                silent_ms,
                "taking the rendition over from a silent publisher"
            );
            if let Some(r) = reg.feed(feed).and_then(|f| f.rendition(rendition)) {
                r.stats.request_takeover(holder);
            }
            holder
        }
        r => return r,
    };
    let deadline = Instant::now() + TAKEOVER_WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match reg.claim_by(feed, rendition, p.protocol, p.addr) {
            Err(ClaimError::Busy { holder: h, .. }) if h == holder && Instant::now() < deadline => {
            }
            r => return r,
        }
    }
}

/// A transport's stream of a publish, as it arrives.
pub trait Source: Send {
    /// What came next: `None` at the stream's end, an error when the connection broke.
    fn next(&mut self) -> impl Future<Output = Option<Result<Input, String>>> + Send;
}

/// A piece of a publish: MPEG-TS bytes (any size: HTTP push), or one FLV tag (RTMP).
#[derive(Debug)]
pub enum Input {
    Ts(Bytes),
    Flv(FlvTag),
}

/// An RTMP video or audio message: an FLV tag's body and its 32-bit millisecond timestamp.
#[derive(Debug)]
pub struct FlvTag {
    pub video: bool,
    pub timestamp: u32,
    pub body: Bytes,
}

/// How a publish ended, and a summary of what came in.
#[derive(Debug)]
pub struct Ended {
    pub end: End,
    pub summary: String,
}

/// Why a publish ended.
#[derive(Debug)]
pub enum End {
    /// The stream ended.
    Done,
    /// Silent for `feeds.idle_timeout`.
    Idle,
    Shutdown,
    /// An operator stopped the feed (DELETE /api/feeds/{feed}).
    Stopped,
    /// A new publisher with the right credential took the rendition over.
    TakenOver,
    Broken(String),
    /// The stream cannot be taken on (a lane said why).
    Refused(&'static str),
    /// A rendition went over `limits.max_ingest_bitrate`.
    OverBitrate(OverLimit),
}

/// A publish allowed and holding its rendition. Dropping it (or the end of [`Session::run`])
/// releases the rendition, then the grant (which tells the hook, if one allowed it).
pub struct Session {
    app: App,
    // Field order is drop order: the rendition is released before the hook hears of it.
    guard: PublishGuard,
    grant: Grant,
}

impl Session {
    pub fn resumed(&self) -> bool {
        self.guard.resumed
    }

    /// Feeds the stream into the segmenter until it ends, goes silent, or the publish must
    /// end; logs how it ended with a summary of what came in.
    ///
    /// The first bytes (up to 64 KB) decide two things before any segmenting: whether the
    /// stream is MPEG-TS at all ([`IngestError::NotTs`] if not), and whether it carries
    /// several programs, in which case each program becomes a rendition of the feed named
    /// after it (its SDT service name, else `program{number}`) with a lane of its own,
    /// instead of the rendition the publisher named.
    pub async fn run(self, source: &mut impl Source) -> Result<Ended, IngestError> {
        let Session { app, guard, grant } = self;
        let res = feed_lanes(&app, guard, source).await;
        drop(grant);
        res
    }
}

/// [`Session::run`]'s loop.
async fn feed_lanes(
    app: &App,
    guard: PublishGuard,
    source: &mut impl Source,
) -> Result<Ended, IngestError> {
    let cfg = app.registry.config();
    let idle = Duration::from_secs_f64(cfg.feeds.idle_timeout);
    let mut lanes = vec![Lane::new(app, guard, None)];
    // Made once, not per chunk: a chunk costs no timer entry and no watch registration.
    let mut cancel = Box::pin(cancelled(app.shutdown.clone(), &lanes[0]));
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // Reset for each pause of `limits.max_ingest_speed` (a timer entry only while pausing).
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pause);
    let mut last_data = Instant::now();
    let clock = app.registry.clock();
    // TS chunks smaller than a packet, beyond a burst, are read at a bounded rate.
    let mut chunks = ChunkBound::new(clock.now_ms());
    let mut small_chunks_logged = false;
    // Bytes held until the first bytes have been looked at, then `None`.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let mut is_ts = false;
    let mut scanned = 0;
    let end = loop {
        let next = tokio::select! {
            n = source.next() => n,
            end = &mut cancel => break end,
            () = &mut idle_timer => {
                // The timer is moved on lazily: only when it fires after newer data.
                let due = last_data + idle;
                if Instant::now() >= due {
                    break End::Idle;
                }
                idle_timer.as_mut().reset(due);
                continue;
            }
        };
        // One clock read per chunk.
        last_data = Instant::now();
        let input = match next {
            None => break End::Done,
            Some(Err(e)) => break End::Broken(e),
            Some(Ok(input)) => input,
        };
        let mut now = clock.ms_at(last_data);
        // Bytes arrived, even while the first ones are still being looked at: this
        // publisher is not silent (see `claim`).
        for lane in &lanes {
            lane.guard.rendition.stats.touch(now);
        }
        if let Input::Ts(data) = &input
            && let Some(ms) = chunks.chunk(data.len(), now)
        {
            if !small_chunks_logged {
                small_chunks_logged = true;
                info!(
                    "publisher sends many chunks smaller than a TS packet: read at most {} such chunks a second",
                    super::chunks::SMALL_CHUNKS_PER_SEC
                );
            }
            if let Some(end) = hold(ms, now, &lanes, pause.as_mut(), &mut cancel).await {
                break end;
            }
            last_data = Instant::now();
            now = clock.ms_at(last_data);
        }
        match input {
            Input::Flv(tag) => {
                // Tags need no sniffing: they are what the transport said they are.
                head = None;
                for lane in &mut lanes {
                    lane.push_flv(app, &tag, now);
                }
            }
            Input::Ts(data) => {
                if let Some(h) = &mut head {
                    h.extend_from_slice(&data);
                    if !is_ts {
                        match looks_like_ts(&h[..h.len().min(SNIFF_LEN)]) {
                            Some(true) => is_ts = true,
                            Some(false) => return Err(IngestError::NotTs),
                            None => continue,
                        }
                    }
                    // Look for the PAT (and SDT) at most once per packet's worth of new bytes.
                    let full = h.len() >= SNIFF_LEN;
                    if h.len() < scanned + 188 && !full {
                        continue;
                    }
                    scanned = h.len();
                    // No PAT in the first 64 KB: the segmenter waits for one as usual.
                    let programs = match scan(h, full) {
                        Some(p) => p,
                        None if full => Vec::new(),
                        None => continue,
                    };
                    if programs.len() > 1 {
                        lanes = program_lanes(app, lanes, &programs)?;
                        cancel = Box::pin(cancelled(app.shutdown.clone(), &lanes[0]));
                    }
                    for lane in &mut lanes {
                        lane.push(app, h, now);
                    }
                    head = None;
                } else {
                    for lane in &mut lanes {
                        lane.push(app, &data, now);
                    }
                }
            }
        }
        if let Some(why) = lanes.iter().find_map(|l| l.refused) {
            break End::Refused(why);
        }
        if let Some(over) = lanes.iter().find_map(|l| l.over_bitrate) {
            break End::OverBitrate(over);
        }
        // limits.max_ingest_speed: no pause, or one at most every MIN_PAUSE_MS.
        let Some(ms) = lanes.iter_mut().filter_map(|l| l.pace(now)).max() else {
            continue;
        };
        if let Some(end) = hold(ms, now, &lanes, pause.as_mut(), &mut cancel).await {
            break end;
        }
        last_data = Instant::now();
    };
    if matches!(end, End::Done)
        && let Some(h) = head
    {
        if !is_ts {
            return Err(IngestError::NotTs);
        }
        // A short stream: what was held goes to the segmenter now.
        let now = clock.now_ms();
        for lane in &mut lanes {
            lane.push(app, &h, now);
        }
    }
    let now = clock.now_ms();
    for lane in &mut lanes {
        lane.finish(app, now);
    }
    let stats = lanes
        .iter()
        .map(Lane::stats)
        .fold(SegmenterStats::default(), |a, s| SegmenterStats {
            segments: a.segments + s.segments,
            ..s
        });
    let summary = format!(
        "{} bytes, {} packets, {} segments in {} rendition(s), {} bytes skipped as garbage",
        stats.bytes,
        stats.framer.packets,
        stats.segments,
        lanes.len(),
        stats.framer.skipped_bytes
    );
    drop(lanes);
    log_end(&end, &summary, cfg.feeds.idle_timeout);
    Ok(Ended { end, summary })
}

/// Stops reading the publish for `ms` milliseconds (`limits.max_ingest_speed`, or small
/// chunks), on the one `pause` timer of the publish; `Some` when it must end meanwhile. Not
/// reading is hlsd's doing, not the publisher's silence: it counts as delivering until the
/// pause ends (takeover), and the idle timeout counts from then.
async fn hold(
    ms: u64,
    now: i64,
    lanes: &[Lane],
    mut pause: Pin<&mut Sleep>,
    cancel: &mut (impl Future<Output = End> + Unpin),
) -> Option<End> {
    for lane in lanes {
        lane.guard.rendition.stats.touch(now + ms as i64);
    }
    pause
        .as_mut()
        .reset(Instant::now() + Duration::from_millis(ms));
    tokio::select! {
        () = pause => None,
        end = cancel => Some(end),
    }
}

/// One line on how a publish ended, with what came in.
fn log_end(end: &End, summary: &str, idle_timeout: f64) {
    match end {
        End::Done => info!("publisher finished: {summary}"),
        End::Idle => {
            warn!("publisher silent for {idle_timeout} s: disconnected; {summary}")
        }
        End::Shutdown => info!("server shutting down: publisher disconnected; {summary}"),
        End::TakenOver => info!("taken over by a new publisher: disconnected; {summary}"),
        End::Stopped => info!("stopped by an operator: publisher disconnected; {summary}"),
        End::Broken(e) => warn!("publisher connection lost: {e}; {summary}"),
        // The lane logged it with the rendition's name.
        End::OverBitrate(_) => {
            info!("publisher disconnected: over limits.max_ingest_bitrate; {summary}")
        }
        End::Refused(why) => warn!("publisher disconnected: {why}; {summary}"),
    }
}

/// Completes when the server shuts down, an operator stops `lane`'s publish, or a new
/// publisher takes its rendition over.
fn cancelled(
    mut shutdown: watch::Receiver<bool>,
    lane: &Lane,
) -> impl Future<Output = End> + Send + 'static {
    let mut stop = lane.guard.rendition.stats.stop_signal();
    let mut taken = lane.guard.rendition.stats.takeover_signal();
    let id = lane.guard.id;
    async move {
        tokio::select! {
            _ = shutdown.wait_for(|v| *v) => End::Shutdown,
            Ok(_) = stop.wait_for(|stopped| *stopped == id) => End::Stopped,
            Ok(_) = taken.wait_for(|t| *t == id) => End::TakenOver,
        }
    }
}

/// Replaces the lane of the named rendition by one lane per program, each claiming the
/// rendition named after its program.
fn program_lanes(
    app: &App,
    lanes: Vec<Lane>,
    programs: &[ProgramName],
) -> Result<Vec<Lane>, ClaimError> {
    let Some(first) = lanes.into_iter().next() else {
        return Ok(Vec::new());
    };
    let (feed, protocol, addr) = (
        first.guard.feed.name.clone(),
        first.guard.protocol,
        first.guard.addr,
    );
    // The named rendition published nothing: releasing it removes it.
    drop(first);
    let names: Vec<String> = programs.iter().map(rendition_name).collect();
    let max = app.registry.config().limits.max_renditions;
    if names.len() > max && !app.registry.is_demo(&feed) {
        // Refused whole: no program is taken on.
        return Err(ClaimError::TooManyRenditions(max));
    }
    info!(renditions = ?names, "multi-program stream: one rendition per program");
    programs
        .iter()
        .zip(names)
        .map(|(p, name)| {
            let guard = app.registry.claim_by(&feed, &name, protocol, addr)?;
            Ok(Lane::new(app, guard, Some(p.number)))
        })
        .collect()
}
