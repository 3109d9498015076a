//! Ingest: `POST`/`PUT /ingest/{feed}[/{rendition}]`. The body (chunked or with a length)
//! is fed chunk by chunk to a [`Segmenter`]; finished segments go to the rendition. The
//! request lasts as long as the publisher sends; silence longer than `feeds.idle_timeout`
//! disconnects it.

use super::App;
use super::error::HttpError;
use super::lane::Lane;
use crate::feeds::{ClaimError, PublishGuard};
use crate::segmenter::SegmenterStats;
use crate::ts::framer::{SNIFF_LEN, looks_like_ts};
use crate::ts::programs::{ProgramName, rendition_name, scan};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

pub const MAIN_RENDITION: &str = "main";

pub async fn ingest_main(
    State(app): State<App>,
    Path(feed): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    ingest(app, feed, MAIN_RENDITION.to_string(), peer, body).await
}

pub async fn ingest_rendition(
    State(app): State<App>,
    Path((feed, rendition)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    ingest(app, feed, rendition, peer, body).await
}

/// Feed and rendition names: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn ingest(
    app: App,
    feed: String,
    rendition: String,
    peer: SocketAddr,
    body: Body,
) -> Response {
    if !valid_name(&feed) || !valid_name(&rendition) {
        warn!(%peer, "publish refused: bad feed or rendition name");
        return HttpError::BadName.into_response();
    }
    let span = info_span!("ingest", feed = %feed, rendition = %rendition, %peer);
    match publish(app, &feed, &rendition, peer, body)
        .instrument(span.clone())
        .await
    {
        Ok(res) => res,
        Err(e) => {
            span.in_scope(|| warn!(status = e.status().as_u16(), "publish refused: {e}"));
            e.into_response()
        }
    }
}

/// How an ingest request ended.
enum End {
    Done,
    Idle,
    Shutdown,
    /// An operator stopped the feed (DELETE /api/feeds/{feed}).
    Stopped,
    Broken(String),
    /// The stream cannot be taken on (a lane said why).
    Refused(&'static str),
}

async fn publish(
    app: App,
    feed: &str,
    rendition: &str,
    peer: SocketAddr,
    body: Body,
) -> Result<Response, HttpError> {
    let guard = app.registry.claim(feed, rendition, peer)?;
    info!(resumed = guard.resumed, "publisher connected");
    // The body is read in a task of its own: when the publisher's connection drops, hyper
    // drops this handler, but the task still sees the body end and flushes the last segment.
    let task = tokio::spawn(pump(app, guard, body).in_current_span());
    match task.await {
        Ok(r) => {
            let (status, text) = r?;
            Ok((status, text).into_response())
        }
        Err(e) => {
            warn!("ingest task failed: {e}");
            Err(HttpError::ShuttingDown)
        }
    }
}

/// Reads the body into the segmenter until it ends, goes silent, or the server stops.
///
/// The first bytes (up to 64 KB) decide two things before any segmenting: whether the body
/// is MPEG-TS at all (415 if not), and whether it carries several programs, in which case
/// each program becomes a rendition of the feed named after it (its SDT service name, else
/// `program{number}`) with a lane of its own, instead of the rendition the URL named.
async fn pump(
    app: App,
    guard: PublishGuard,
    mut body: Body,
) -> Result<(StatusCode, String), HttpError> {
    let cfg = app.registry.config();
    let idle = Duration::from_secs_f64(cfg.feeds.idle_timeout);
    let mut lanes = vec![Lane::new(&app, guard, None)];
    // Made once, not per chunk: a chunk costs no timer entry and no watch registration.
    let mut cancel = Box::pin(cancelled(app.shutdown.clone(), &lanes[0]));
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let mut last_data = Instant::now();
    let clock = app.registry.clock();
    // Bytes held until the first bytes have been looked at, then `None`.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let mut is_ts = false;
    let mut scanned = 0;
    let end = loop {
        let frame = tokio::select! {
            f = body.frame() => f,
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
        last_data = Instant::now();
        let data = match frame {
            None => break End::Done,
            Some(Err(e)) => break End::Broken(e.to_string()),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
        };
        let now = clock.now_ms();
        let Some(h) = &mut head else {
            for lane in &mut lanes {
                lane.push(&app, &data, now);
            }
            if let Some(why) = lanes.iter().find_map(|l| l.refused) {
                break End::Refused(why);
            }
            continue;
        };
        h.extend_from_slice(&data);
        if !is_ts {
            match looks_like_ts(&h[..h.len().min(SNIFF_LEN)]) {
                Some(true) => is_ts = true,
                Some(false) => return Err(HttpError::NotTs),
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
            lanes = program_lanes(&app, lanes, &programs)?;
            cancel = Box::pin(cancelled(app.shutdown.clone(), &lanes[0]));
        }
        for lane in &mut lanes {
            lane.push(&app, h, now);
        }
        head = None;
    };
    if matches!(end, End::Done)
        && let Some(h) = head
    {
        if !is_ts {
            return Err(HttpError::NotTs);
        }
        // A short body: what was held goes to the segmenter now.
        let now = clock.now_ms();
        for lane in &mut lanes {
            lane.push(&app, &h, now);
        }
    }
    let now = clock.now_ms();
    for lane in &mut lanes {
        lane.finish(&app, now);
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
    let idle_timeout = cfg.feeds.idle_timeout;
    Ok(match end {
        End::Done => {
            info!("publisher finished: {summary}");
            (StatusCode::OK, format!("ok: {summary}\n"))
        }
        End::Idle => {
            warn!("publisher silent for {idle_timeout} s: disconnected; {summary}");
            (
                StatusCode::REQUEST_TIMEOUT,
                format!("no data for {idle_timeout} s: disconnected\n"),
            )
        }
        End::Shutdown => {
            info!("server shutting down: publisher disconnected; {summary}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down\n".to_string(),
            )
        }
        End::Stopped => {
            info!("stopped by an operator: publisher disconnected; {summary}");
            (
                StatusCode::GONE,
                "feed stopped by an operator\n".to_string(),
            )
        }
        End::Broken(e) => {
            warn!("publisher connection lost: {e}; {summary}");
            (StatusCode::BAD_REQUEST, format!("connection lost: {e}\n"))
        }
        End::Refused(why) => {
            warn!("publisher disconnected: {why}; {summary}");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("disconnected: {why}\n"),
            )
        }
    })
}

/// Completes when the server shuts down or an operator stops `lane`'s publish.
fn cancelled(
    mut shutdown: watch::Receiver<bool>,
    lane: &Lane,
) -> impl Future<Output = End> + Send + 'static {
    let mut stop = lane.guard.rendition.stats.stop_signal();
    let id = lane.guard.id;
    async move {
        tokio::select! {
            _ = shutdown.wait_for(|v| *v) => End::Shutdown,
            Ok(_) = stop.wait_for(|stopped| *stopped == id) => End::Stopped,
        }
    }
}

/// Replaces the lane of the URL's rendition by one lane per program, each claiming the
/// rendition named after its program.
fn program_lanes(
    app: &App,
    lanes: Vec<Lane>,
    programs: &[ProgramName],
) -> Result<Vec<Lane>, HttpError> {
    let Some(first) = lanes.into_iter().next() else {
        return Ok(Vec::new());
    };
    let (feed, addr) = (first.guard.feed.name.clone(), first.guard.addr);
    // The URL's rendition published nothing: releasing it removes it.
    drop(first);
    let names: Vec<String> = programs.iter().map(rendition_name).collect();
    let max = app.registry.config().limits.max_renditions;
    if names.len() > max && !app.registry.is_demo(&feed) {
        // Refused whole: no program is taken on.
        return Err(ClaimError::TooManyRenditions(max).into());
    }
    info!(renditions = ?names, "multi-program stream: one rendition per program");
    programs
        .iter()
        .zip(names)
        .map(|(p, name)| {
            let guard = app.registry.claim(&feed, &name, addr)?;
            Ok(Lane::new(app, guard, Some(p.number)))
        })
        .collect()
}
