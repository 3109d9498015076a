//! Ingest: `POST`/`PUT /ingest/{feed}[/{rendition}]`. The body (chunked or with a length)
//! is fed chunk by chunk to a [`Segmenter`]; finished segments go to the rendition. The
//! request lasts as long as the publisher sends; silence longer than `feeds.idle_timeout`
//! disconnects it. Who may publish is decided first, from the URL and headers alone
//! ([`crate::ingest::auth`]), before a byte of the body is read.

use super::App;
use super::error::HttpError;
use super::lane::Lane;
use super::linger::linger;
use crate::feeds::{ClaimError, PublishGuard};
use crate::ingest::TAKEOVER_SILENCE;
use crate::ingest::auth::{Grant, Protocol, PublishRequest};
use crate::ingest::bitrate::OverLimit;
use crate::segmenter::SegmenterStats;
use crate::ts::framer::{SNIFF_LEN, looks_like_ts};
use crate::ts::programs::{ProgramName, rendition_name, scan};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

pub const MAIN_RENDITION: &str = "main";

/// How long a publish taking over a silent publisher waits for the old request to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(3);

pub async fn ingest_main(
    State(app): State<App>,
    Path(feed): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let req = (feed, MAIN_RENDITION.to_string(), peer);
    ingest(app, req, &headers, &uri, body).await
}

pub async fn ingest_rendition(
    State(app): State<App>,
    Path((feed, rendition)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    ingest(app, (feed, rendition, peer), &headers, &uri, body).await
}

/// Feed and rendition names: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether a web browser sent the request: browsers always add `Origin` to a cross-origin
/// `POST` (and `Sec-Fetch-*` to every request); encoders never do. Refusing these stops a
/// page on any site from publishing with a "simple" request that needs no preflight.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        || headers.contains_key("sec-fetch-site")
        || headers.contains_key("sec-fetch-mode")
}

/// The key a publisher presents: `Authorization: Bearer KEY`, else `?key=KEY`.
fn presented_key(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|k| !k.is_empty());
    if let Some(k) = bearer {
        return Some(k.to_string());
    }
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "key" && !value.is_empty()).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

async fn ingest(
    app: App,
    (feed, rendition, peer): (String, String, SocketAddr),
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Response {
    let peer =
        super::forwarded::client(peer, headers, &app.registry.config().limits.trusted_proxies);
    if from_browser(headers) {
        let span = info_span!("ingest", %peer);
        return span.in_scope(|| refuse(&app, HttpError::FromBrowser, Some(body)));
    }
    if !valid_name(&feed) || !valid_name(&rendition) {
        let span = info_span!("ingest", %peer);
        return span.in_scope(|| refuse(&app, HttpError::BadName, Some(body)));
    }
    let span = info_span!("ingest", feed = %feed, rendition = %rendition, %peer);
    let key = presented_key(headers, uri);
    let req = PublishRequest {
        protocol: Protocol::Http,
        feed: &feed,
        rendition: &rendition,
        key: key.as_deref(),
        ip: peer.ip(),
    };
    let decided = async {
        match app.auth.decide(&req).await {
            Ok(grant) => publish(app.clone(), &feed, &rendition, peer, grant, body).await,
            Err(e) => (Err(e.into()), Some(body)),
        }
    };
    let (res, rest) = decided.instrument(span.clone()).await;
    match res {
        Ok(res) => {
            if let Some(body) = rest {
                linger(body);
            }
            res
        }
        Err(e) => span.in_scope(|| refuse(&app, e, rest)),
    }
}

/// Answers a refused publish: counted by reason, logged through the reason's log gate (an
/// attacker can repeat refusals at will), and the body still arriving read away before the
/// connection closes ([`linger`]).
fn refuse(app: &App, e: HttpError, body: Option<Body>) -> Response {
    let status = e.status().as_u16();
    match e.refusal_reason() {
        Some(reason) => {
            app.metrics
                .ingest_refused
                .get_or_create(&[("reason", reason)])
                .inc();
            if app.gates.admit(reason) {
                warn!(status, "publish refused: {e}");
            }
        }
        None => info!(status, "publish refused: {e}"),
    }
    let mut res = e.into_response();
    // Logged here, at the level it deserves: not a server error that needs a human.
    res.extensions_mut().insert(super::error::Expected);
    if let Some(body) = body {
        linger(body);
    }
    res
}

/// How an ingest request ended.
enum End {
    Done,
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

/// The publish's answer (or why it was refused), and the body if it is still arriving and
/// must be read away before the connection closes.
type Outcome<T> = (Result<T, HttpError>, Option<Body>);

async fn publish(
    app: App,
    feed: &str,
    rendition: &str,
    peer: SocketAddr,
    grant: Grant,
    body: Body,
) -> Outcome<Response> {
    let guard = match claim(&app, feed, rendition, peer, grant.credentialed).await {
        Ok(g) => g,
        Err(e) => return (Err(e), Some(body)),
    };
    info!(resumed = guard.resumed, "publisher connected");
    // The body is read in a task of its own: when the publisher's connection drops, hyper
    // drops this handler, but the task still sees the body end and flushes the last segment.
    // The grant lives as long as the task: dropping it tells the hook the publish ended.
    let task = tokio::spawn(
        async move {
            let res = pump(app, guard, body).await;
            drop(grant);
            res
        }
        .in_current_span(),
    );
    match task.await {
        Ok((Ok((status, text)), rest)) => {
            let mut res = (status, text).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // The server is shutting down: logged at INFO by `pump`, not an error.
                res.extensions_mut().insert(super::error::Expected);
            }
            (Ok(res), rest)
        }
        Ok((Err(e), rest)) => (Err(e), rest),
        Err(e) => {
            warn!("ingest task failed: {e}");
            (Err(HttpError::ShuttingDown), None)
        }
    }
}

/// Claims the rendition. A publisher with a credential may take it over from one that has
/// delivered nothing for [`TAKEOVER_SILENCE`]: the old request is asked to end (it flushes
/// and releases the rendition, as when a connection drops) and the claim is made again, so
/// the feed goes on with a discontinuity as after a reconnect.
async fn claim(
    app: &App,
    feed: &str,
    rendition: &str,
    peer: SocketAddr,
    credentialed: bool,
) -> Result<PublishGuard, HttpError> {
    let reg = &app.registry;
    let holder = match reg.claim(feed, rendition, peer) {
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
        r => return Ok(r?),
    };
    let deadline = Instant::now() + TAKEOVER_WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match reg.claim(feed, rendition, peer) {
            Err(ClaimError::Busy { holder: h, .. }) if h == holder && Instant::now() < deadline => {
            }
            r => return Ok(r?),
        }
    }
}

/// Reads the body into the segmenter until it ends, goes silent, or the server stops.
///
/// The first bytes (up to 64 KB) decide two things before any segmenting: whether the body
/// is MPEG-TS at all (415 if not), and whether it carries several programs, in which case
/// each program becomes a rendition of the feed named after it (its SDT service name, else
/// `program{number}`) with a lane of its own, instead of the rendition the URL named.
async fn pump(app: App, guard: PublishGuard, mut body: Body) -> Outcome<(StatusCode, String)> {
    let res = read_body(app, guard, &mut body).await;
    // An answer before the body's end: the publisher is probably still sending.
    let early = match &res {
        Ok((status, _)) => ![
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::SERVICE_UNAVAILABLE,
        ]
        .contains(status),
        Err(e) => e.refusal_reason().is_some(),
    };
    (res, early.then_some(body))
}

/// [`pump`]'s reading loop, until the body ends or the publish must end.
async fn read_body(
    app: App,
    guard: PublishGuard,
    body: &mut Body,
) -> Result<(StatusCode, String), HttpError> {
    let cfg = app.registry.config();
    let idle = Duration::from_secs_f64(cfg.feeds.idle_timeout);
    let mut lanes = vec![Lane::new(&app, guard, None)];
    // Made once, not per chunk: a chunk costs no timer entry and no watch registration.
    let mut cancel = Box::pin(cancelled(app.shutdown.clone(), &lanes[0]));
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // Reset for each pause of `limits.max_ingest_speed` (a timer entry only while pausing).
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pause);
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
        // Bytes arrived, even while the first ones are still being looked at: this
        // publisher is not silent (see `claim`).
        for lane in &lanes {
            lane.guard.rendition.stats.touch(now);
        }
        if let Some(h) = &mut head {
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
        } else {
            for lane in &mut lanes {
                lane.push(&app, &data, now);
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
        // Not reading is hlsd's doing, not the publisher's silence: it counts as delivering
        // until the pause ends (takeover), and the idle timeout counts from then.
        for lane in &lanes {
            lane.guard.rendition.stats.touch(now + ms as i64);
        }
        pause
            .as_mut()
            .reset(Instant::now() + Duration::from_millis(ms));
        tokio::select! {
            () = &mut pause => {}
            end = &mut cancel => break end,
        }
        last_data = Instant::now();
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
        End::TakenOver => {
            info!("taken over by a new publisher: disconnected; {summary}");
            (
                StatusCode::CONFLICT,
                "another publisher took this rendition over\n".to_string(),
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
        End::OverBitrate(o) => {
            // The lane logged it with the rendition's name.
            info!("publisher disconnected: over limits.max_ingest_bitrate; {summary}");
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "disconnected: {} bit/s of media over the last {:.1} s, more than limits.max_ingest_bitrate = {} bit/s\n",
                    o.measured_bps, o.span_secs, o.allowed_bps
                ),
            )
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
