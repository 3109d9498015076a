//! Ingest over HTTP: `POST`/`PUT /ingest/{feed}[/{rendition}]`, an adapter onto the
//! transport-neutral publish session ([`crate::ingest::session`]). The request is refused
//! first if a web page sent it; the key comes from `Authorization: Bearer` or `?key=`; the
//! body (chunked or with a length) is the session's stream, and the request lasts as long
//! as the publisher sends. Refusals and endings become status codes here.

use super::App;
use super::api::authorize;
use super::error::HttpError;
use super::linger::linger;
use super::pieces::{self, PieceEnd, PieceStart, PiecesSource};
use crate::feeds::ClaimError;
use crate::ingest::Protocol;
use crate::ingest::session::{
    self, End, Ended, IngestError, Input, MAIN_RENDITION, Publish, Session, Source,
};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info, info_span, warn};

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

/// Whether a web browser sent the request: browsers always add `Origin` to a cross-origin
/// `POST` (and `Sec-Fetch-*` to every request); encoders never do. Refusing these stops a
/// page on any site from publishing with a "simple" request that needs no preflight.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        || headers.contains_key("sec-fetch-site")
        || headers.contains_key("sec-fetch-mode")
}

/// The key a publisher presents: `Authorization: Bearer KEY`, else `?key=KEY`; `?key=`
/// first when the bearer is the admin token (`admin`: an operator's request, whose key is
/// then in the query).
fn presented_key(headers: &HeaderMap, uri: &Uri, admin: bool) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|k| !k.is_empty());
    let query = || {
        uri.query()?.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "key" && !value.is_empty()).then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    };
    if admin && let Some(k) = query() {
        return Some(k);
    }
    bearer.map(String::from).or_else(query)
}

impl From<IngestError> for HttpError {
    fn from(e: IngestError) -> HttpError {
        match e {
            IngestError::BadName => HttpError::BadName,
            IngestError::Refused(r) => HttpError::Publish(r),
            IngestError::Claim(c) => HttpError::Claim(c),
            IngestError::NotTs => HttpError::NotTs,
        }
    }
}

/// A request body as a session's stream (trailers skipped).
struct BodySource<'a>(&'a mut Body);

impl Source for BodySource<'_> {
    async fn next(&mut self) -> Option<Result<Input, String>> {
        loop {
            match self.0.frame().await? {
                Err(e) => return Some(Err(e.to_string())),
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(Input::Ts(data)));
                    }
                }
            }
        }
    }
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
        let span = info_span!("ingest", protocol = "http", %peer);
        return span.in_scope(|| refuse(&app, HttpError::FromBrowser, Some(body), false));
    }
    let admin_token = app.registry.config().admin.token.clone();
    let admin = admin_token.is_some() && authorize(admin_token.as_deref(), headers).is_ok();
    let key = presented_key(headers, uri, admin);
    let publish = Publish {
        protocol: Protocol::Http,
        feed: &feed,
        rendition: &rendition,
        key: key.as_deref(),
        addr: peer,
    };
    let span = publish.span();
    let offset = match pieces::piece_start(headers) {
        Ok(offset) => offset,
        Err(pieces::BadRange) => {
            let e = HttpError::BadRequest("Content-Range must read bytes FIRST-LAST/TOTAL or /*");
            return span.in_scope(|| refuse(&app, e, Some(body), admin));
        }
    };
    let mut body = body;
    let mut first = offset.map_or(0, PieceStart::offset);
    // A piece of this publisher's stream waiting for one.
    if let Some(start) = offset
        && let Some(tx) = app
            .pieces
            .find(&feed, &rendition, key.as_deref(), peer.ip())
    {
        match continue_stream(&app, tx, body, start, admin)
            .instrument(span.clone())
            .await
        {
            Ok(res) => return res,
            // The stream ended (or this piece ended it): this piece starts a new one.
            Err((b, start)) => (body, first) = (b, start.offset()),
        }
    }
    let who = offset.map(|_| pieces::Publisher {
        feed: feed.clone(),
        rendition: rendition.clone(),
        key: key.clone(),
        ip: peer.ip(),
    });
    let decided = async {
        match (session::open(&app, publish).await, who) {
            (Ok(s), None) => run(app.clone(), s, body).await,
            (Ok(s), Some(who)) => (run_pieces(app.clone(), s, body, first, who).await, None),
            (Err(e), _) => (Err(e.into()), Some(body)),
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
        Err(e) => span.in_scope(|| refuse(&app, e, rest, admin)),
    }
}

/// How long a stream in pieces waits for its next piece: [`pieces::PIECE_WAIT`], less than
/// `feeds.idle_timeout` (whose end is a silent publisher's).
fn piece_wait(app: &App) -> Duration {
    let idle = app.registry.config().feeds.idle_timeout;
    if idle > 0.0 {
        pieces::PIECE_WAIT.min(Duration::from_secs_f64(idle * 0.8))
    } else {
        pieces::PIECE_WAIT
    }
}

/// The answer to a piece taken whole: the stream waits for the next.
fn piece_taken(app: &App, received: u64) -> Response {
    let wait = piece_wait(app).as_secs_f64();
    let text = format!(
        "ok: {received} bytes so far; the stream takes its next piece (Content-Range: bytes {received}-...) for {wait} s\n"
    );
    (StatusCode::OK, text).into_response()
}

/// The response for a session's answer (a refusal counted and logged by [`refuse`]).
fn respond(app: &App, answer: pieces::Answer, admin: bool) -> Response {
    match answer {
        Ok((status, text)) => {
            let mut res = (status, text).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // The server is shutting down: logged at INFO by the session, not an error.
                res.extensions_mut().insert(super::error::Expected);
            }
            res
        }
        Err(e) => refuse(app, e, None, admin),
    }
}

/// Hands a piece to the stream waiting for it and answers when it is taken. `Err` gives the
/// piece back when the stream ended before taking it.
async fn continue_stream(
    app: &App,
    tx: mpsc::Sender<pieces::Piece>,
    body: Body,
    start: PieceStart,
    admin: bool,
) -> Result<Response, (Body, PieceStart)> {
    let (reply, rx) = oneshot::channel();
    if let Err(e) = tx.try_send(pieces::Piece { body, start, reply }) {
        let p = e.into_inner();
        return Err((p.body, p.start));
    }
    let first = start.offset();
    Ok(match rx.await {
        Ok(PieceEnd::Taken(received)) => piece_taken(app, received),
        Ok(PieceEnd::Gap(received, body)) => {
            info!(
                first,
                received, "piece refused: it starts past the stream's end"
            );
            linger(body);
            let text = format!(
                "this piece starts at byte {first}, the stream has {received}: send the piece starting at {received}\n"
            );
            let mut res = (StatusCode::RANGE_NOT_SATISFIABLE, text).into_response();
            res.extensions_mut().insert(super::error::Expected);
            res
        }
        Ok(PieceEnd::Ended(answer)) => respond(app, answer, admin),
        Ok(PieceEnd::Retry(body, start)) => return Err((body, start)),
        Err(_) => respond(app, Err(HttpError::ShuttingDown), admin),
    })
}

/// Runs the session of a stream in pieces in a task of its own and answers the first
/// piece: when it is taken whole (the session goes on, waiting for the next), or with the
/// session's answer if it ended first.
async fn run_pieces(
    app: App,
    session: Session,
    body: Body,
    first: u64,
    who: pieces::Publisher,
) -> Result<Response, HttpError> {
    let (reply, rx) = oneshot::channel();
    let wait = piece_wait(&app);
    let mut source = PiecesSource::new(app.pieces.clone(), who, body, first, reply, wait);
    let task_app = app.clone();
    tokio::spawn(
        async move {
            let res = session
                .run(&mut source)
                .await
                .map(|end| answer(&task_app, end))
                .map_err(HttpError::from);
            let (rest, reply) = source.finish();
            // A body the session stopped reading is read away before its connection closes.
            if let Some(body) = rest {
                linger(body);
            }
            match reply {
                Some(reply) => {
                    let _ = reply.send(PieceEnd::Ended(res));
                }
                // No request left to answer: a refusal is still counted and logged.
                None => {
                    if let Err(e) = res {
                        refuse(&task_app, e, None, false);
                    }
                }
            }
        }
        .in_current_span(),
    );
    match rx.await {
        Ok(PieceEnd::Taken(received)) => Ok(piece_taken(&app, received)),
        Ok(PieceEnd::Ended(Ok(answer))) => Ok(respond(&app, Ok(answer), false)),
        Ok(PieceEnd::Ended(Err(e))) => Err(e),
        Ok(PieceEnd::Gap(_, body) | PieceEnd::Retry(body, _)) => {
            linger(body);
            Err(HttpError::ShuttingDown)
        }
        Err(_) => Err(HttpError::ShuttingDown),
    }
}

/// Answers a refused publish: counted by reason, logged through the reason's log gate (an
/// attacker can repeat refusals at will), and the body still arriving read away before the
/// connection closes ([`linger`]). A busy rendition's holder address is logged, and told
/// only to a request carrying the admin token (`admin`).
fn refuse(app: &App, e: HttpError, body: Option<Body>, admin: bool) -> Response {
    let status = e.status().as_u16();
    let with_holder = match &e {
        HttpError::Claim(c) => c.with_holder(),
        e => e.to_string(),
    };
    match e.refusal_reason() {
        Some(reason) => {
            if session::count_refusal(app, reason) {
                warn!(status, "publish refused: {with_holder}");
            }
        }
        None => info!(status, "publish refused: {with_holder}"),
    }
    let busy = matches!(e, HttpError::Claim(ClaimError::Busy { .. }));
    let mut res = e.into_response();
    if busy && admin {
        *res.body_mut() = Body::from(format!("{with_holder}\n"));
    }
    // Logged here, at the level it deserves: not a server error that needs a human.
    res.extensions_mut().insert(super::error::Expected);
    if let Some(body) = body {
        linger(body);
    }
    res
}

/// The publish's answer (or why it was refused), and the body if it is still arriving and
/// must be read away before the connection closes.
type Outcome<T> = (Result<T, HttpError>, Option<Body>);

/// Runs the session over the body in a task of its own: when the publisher's connection
/// drops, hyper drops this handler, but the task still sees the body end and flushes the
/// last segment.
async fn run(app: App, session: Session, body: Body) -> Outcome<Response> {
    let task_app = app.clone();
    let task = tokio::spawn(async move { pump(task_app, session, body).await }.in_current_span());
    match task.await {
        Ok((Ok(answer), rest)) => (Ok(respond(&app, Ok(answer), false)), rest),
        Ok((Err(e), rest)) => (Err(e), rest),
        Err(e) => {
            warn!("ingest task failed: {e}");
            (Err(HttpError::ShuttingDown), None)
        }
    }
}

async fn pump(app: App, session: Session, mut body: Body) -> Outcome<(StatusCode, String)> {
    let res = session
        .run(&mut BodySource(&mut body))
        .await
        .map(|end| answer(&app, end))
        .map_err(HttpError::from);
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

/// The status and text answering a publish that ended this way.
fn answer(app: &App, Ended { end, summary }: Ended) -> (StatusCode, String) {
    match end {
        End::Done => (StatusCode::OK, format!("ok: {summary}\n")),
        End::Idle => {
            let idle_timeout = app.registry.config().feeds.idle_timeout;
            (
                StatusCode::REQUEST_TIMEOUT,
                format!("no data for {idle_timeout} s: disconnected\n"),
            )
        }
        End::Shutdown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "server shutting down\n".to_string(),
        ),
        End::TakenOver => (
            StatusCode::CONFLICT,
            "another publisher took this rendition over\n".to_string(),
        ),
        End::Stopped => (
            StatusCode::GONE,
            "feed stopped by an operator\n".to_string(),
        ),
        End::Broken(e) => (StatusCode::BAD_REQUEST, format!("connection lost: {e}\n")),
        End::OverBitrate(o) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "disconnected: {} bit/s of media over the last {:.1} s, more than limits.max_ingest_bitrate = {} bit/s\n",
                o.measured_bps, o.span_secs, o.allowed_bps
            ),
        ),
        End::Refused(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("disconnected: {why}\n"),
        ),
    }
}
