//! Playback routes: multivariant and media playlists (with LL-HLS blocking reload, delta
//! updates and gzip), segments and parts. Handlers read snapshots and never wait on the
//! ingest path; requests that must wait (first segment, blocking reload, preload hint)
//! sleep on the rendition's `watch` channel, woken when the segmenter publishes.

use super::App;
use super::body::ChunksBody;
use super::error::HttpError;
use super::range::{RangeRequest, parse_range};
use crate::feeds::{MediaFile, Missing, Rendered, Rendition, Snapshot};
use crate::playlist::blocking::{Decision, Directives, decide, parse_directives};
use crate::playlist::parse_media_uri;
use crate::playlist::{Container, MediaUri};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Body as _;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";
const MP4_TYPE: &str = "video/mp4";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a request under `/live` (`http::service::Playback` adds CORS and counts it).
///
/// The two routes are matched here rather than by an axum `Router`: a router would insert
/// its URL parameters, matched path and original URI into the request's extensions and
/// box the handler's future, several allocations per request, when a playlist answer is a
/// clone of a `Bytes`.
pub async fn answer(app: App, req: Request) -> Response {
    // For `http::panic_test`; unit tests only.
    #[cfg(test)]
    if req.uri().path() == "/live/test/panic" {
        panic!("a playback handler panicked");
    }
    let Some(route) = Route::parse(req.uri().path()) else {
        return HttpError::NotFound.into_response();
    };
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut res = StatusCode::METHOD_NOT_ALLOWED.into_response();
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
            return res;
        }
    };
    let headers = req.headers();
    let mut res = match route {
        Route::Multivariant { feed, file } => multivariant(&app, &feed, file, headers)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Route::Media {
            feed,
            rendition,
            file,
        } => media_or_segment(&app, &feed, &rendition, &file, req.uri().query(), headers).await,
    };
    if head {
        // The length a GET would have, without the body.
        if let Some(len) = res.body().size_hint().exact()
            && !res.headers().contains_key(header::CONTENT_LENGTH)
        {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        *res.body_mut() = Body::empty();
    }
    res
}

/// A playback path: `/live/{feed}/index.m3u8` (or `index.ts.m3u8`, `index.fmp4.m3u8`:
/// `file` is the container forced) or `/live/{feed}/{rendition}/{file}`.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Multivariant {
        feed: Cow<'a, str>,
        file: Option<Container>,
    },
    Media {
        feed: Cow<'a, str>,
        rendition: Cow<'a, str>,
        file: Cow<'a, str>,
    },
}

impl<'a> Route<'a> {
    /// Matches like the router did: parts are non-empty and percent-decoded (borrowed when
    /// nothing is encoded); anything else is not a playback route.
    fn parse(path: &'a str) -> Option<Route<'a>> {
        let mut parts = path.strip_prefix("/live/")?.split('/');
        let (a, b, c) = (parts.next()?, parts.next()?, parts.next());
        if parts.next().is_some() || a.is_empty() || b.is_empty() || c == Some("") {
            return None;
        }
        // Most names have nothing encoded: no decoding pass, no UTF-8 check of a `&str`.
        let decode = |s: &'a str| {
            if s.contains('%') {
                percent_decode_str(s).decode_utf8().ok()
            } else {
                Some(Cow::Borrowed(s))
            }
        };
        let index = |file| {
            Some(Route::Multivariant {
                feed: decode(a)?,
                file,
            })
        };
        Some(match c {
            None if b == "index.m3u8" => return index(None),
            None if b == "index.ts.m3u8" => return index(Some(Container::Ts)),
            None if b == "index.fmp4.m3u8" => return index(Some(Container::Fmp4)),
            None => return None,
            Some(c) => Route::Media {
                feed: decode(a)?,
                rendition: decode(b)?,
                file: decode(c)?,
            },
        })
    }
}

async fn multivariant(
    app: &App,
    feed: &str,
    file: Option<Container>,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let f = app.registry.feed(feed).ok_or(HttpError::NoFeed)?;
    if let Some(c) = file {
        // Its media playlists are rendered (and fMP4 packaged) from now on.
        for r in f.rendition_list() {
            r.want(MediaFile::Forced(c), false);
        }
    }
    let mut rx = f.subscribe_multivariant();
    let rendered = wait_first(app, &mut rx, |m| m.is_some())
        .await?
        .ok_or(HttpError::NotReady)?;
    let td = f
        .rendition_list()
        .iter()
        .map(|r| r.peek().target_duration)
        .max()
        .unwrap_or(0);
    let max_age = (td / 2).max(1);
    // The same variants, each pointing at the forced file.
    let rendered = match file {
        None => &rendered.rendered,
        Some(c) => rendered.forced(c),
    };
    Ok(playlist_response(rendered, headers, max_age))
}

async fn media_or_segment(
    app: &App,
    feed: &str,
    rendition: &str,
    file: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let r = match app.registry.rendition(feed, rendition) {
        Ok(r) => r,
        Err(Missing::Feed) => return HttpError::NoFeed.into_response(),
        Err(Missing::Rendition) => return HttpError::NoRendition.into_response(),
    };
    let td = r.peek().target_duration;
    if let Some(file) = MediaFile::parse(file) {
        let directives = match parse_directives(query) {
            Ok(d) => d,
            Err(msg) => return with_max_age(HttpError::BadRequest(msg).into_response(), td),
        };
        r.want(file, directives.skip);
        let blocking = directives.msn.is_some();
        return match media_playlist(app, &r, file, directives, headers).await {
            // Appendix B.1: blocking answers live 6 × TD in caches, failures 4 × TD;
            // plain reloads ½ × TD, their failures 1 × TD. A blocking answer lives that long
            // in shared caches only (`s-maxage`): a player never needs it again, and one that
            // asks again for a part it has (video.js at a segment's end) must reach the
            // origin (or a CDN's copy), not loop on its browser's cached answer.
            Ok(res) if blocking => with_shared_max_age(res, 6 * td),
            Ok(res) => res,
            Err(e) if blocking => with_max_age(e.into_response(), 4 * td),
            Err(e) => with_max_age(e.into_response(), td),
        };
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let res = match parse_media_uri(file) {
        Some(MediaUri::Segment {
            token,
            msn,
            container,
        }) => {
            if container == Container::Fmp4 {
                r.siblings().want_fmp4();
            }
            let live = r.peek().segment_bytes(container, token, msn);
            match live {
                Some(chunks) => media_response(chunks, container, range),
                // Gone from memory: a DVR playlist lists it from the recording.
                None => super::dvr::recorded_segment(app, feed, rendition, token, msn, container)
                    .await
                    .and_then(|chunks| media_response(chunks, container, range)),
            }
        }
        Some(MediaUri::Part {
            token,
            msn,
            index,
            container,
        }) => {
            if container == Container::Fmp4 {
                r.siblings().want_fmp4();
            }
            part(app, &r, container, token, msn, index, range).await
        }
        Some(MediaUri::Init { token, number }) => {
            r.siblings().want_fmp4();
            match init(app, &r, token, number, range).await {
                // Gone from memory: a DVR playlist's prefix segment needs it.
                Err(HttpError::NoSegment) => {
                    super::dvr::recorded_init(app, feed, rendition, token, number)
                        .await
                        .and_then(|data| media_response(data, Container::Fmp4, range))
                }
                other => other,
            }
        }
        None => Err(HttpError::NotFound),
    };
    res.unwrap_or_else(|e| with_max_age(e.into_response(), td))
}

async fn media_playlist(
    app: &App,
    r: &Rendition,
    file: MediaFile,
    d: Directives,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    // Most requests are answered from the current snapshot, looked at in place; a receiver
    // is subscribed only to wait.
    // A waiter holds no snapshot while it sleeps: a snapshot pins every segment it lists.
    // An fMP4 playlist whose first segment is not packaged yet waits like a feed with no
    // segment yet.
    let ready = |s: &Snapshot| s.playlists(file).is_some() || s.ended();
    {
        let snap = r.peek();
        if ready(&snap)
            && let Some(res) = answer_now(&snap, file, &d, headers)?
        {
            return Ok(res);
        }
    }
    let ready = |s: &Arc<Snapshot>| ready(s);
    // While a receiver is subscribed, every snapshot is rendered; one published before may
    // not be (`Rendition::rendered`).
    let mut snap = r.snapshot();
    if !ready(&snap) {
        drop(snap);
        snap = wait_first(app, &mut r.subscribe(), ready).await?;
    }
    let snap = r.rendered(snap, file, d.skip);
    if let Some(res) = answer_now(&snap, file, &d, headers)? {
        return Ok(res);
    }
    let td = snap.target_duration;
    drop(snap);
    let snap = r.rendered(block(app, r.subscribe(), &d, td).await?, file, d.skip);
    answer_now(&snap, file, &d, headers)?.ok_or(HttpError::NotReady)
}

/// The media playlist `d` asks for from `snap` if it holds it now; `None` if the request
/// must wait.
fn answer_now(
    snap: &Snapshot,
    file: MediaFile,
    d: &Directives,
    headers: &HeaderMap,
) -> Result<Option<Response>, HttpError> {
    if snap.part_target.is_some() {
        match decide(d, &snap.position, |m| snap.parts_of(m)) {
            Decision::Now => {}
            Decision::Reject(msg) => return Err(HttpError::BadRequest(msg)),
            Decision::Wait => return Ok(None),
        }
    }
    let lists = snap.playlists(file).ok_or(HttpError::NotReady)?;
    let rendered = match (&lists.delta, d.skip) {
        (Some(delta), true) => delta,
        _ => &lists.full,
    };
    let td = snap.target_duration;
    Ok(Some(playlist_response(rendered, headers, (td / 2).max(1))))
}

/// Blocking reload (§6.2.5.2): waits until the playlist holds what `d` asks for, at most
/// 3 × TD, then 503.
async fn block(
    app: &App,
    mut rx: watch::Receiver<Arc<Snapshot>>,
    d: &Directives,
    td: u32,
) -> Result<Arc<Snapshot>, HttpError> {
    let deadline = Instant::now() + Duration::from_secs(3 * u64::from(td.max(1)));
    let mut shutdown = app.shutdown.clone();
    loop {
        {
            // Looked at in place: nothing of the snapshot is kept across the wait.
            let snap = rx.borrow_and_update();
            match decide(d, &snap.position, |m| snap.parts_of(m)) {
                Decision::Now => return Ok(snap.clone()),
                Decision::Reject(msg) => return Err(HttpError::BadRequest(msg)),
                Decision::Wait => {}
            }
        }
        tokio::select! {
            r = tokio::time::timeout_at(deadline, rx.changed()) => match r {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(HttpError::NoFeed),
                Err(_) => return Err(HttpError::BlockTimeout),
            },
            _ = shutdown.wait_for(|v| *v) => return Err(HttpError::ShuttingDown),
        }
    }
}

/// A part: served at once when it exists; the one the preload hint names is waited for
/// (§6.2.5.3); any other unknown part is 404.
async fn part(
    app: &App,
    r: &Rendition,
    container: Container,
    token: u64,
    msn: u64,
    index: usize,
    range: Option<&str>,
) -> Result<Response, HttpError> {
    if let Some(chunks) = r.peek().part_bytes(container, token, msn, index) {
        return media_response(chunks, container, range);
    }
    let mut rx = r.subscribe();
    let deadline = {
        let td = rx.borrow().target_duration.max(1);
        Instant::now() + Duration::from_secs(3 * u64::from(td))
    };
    let mut shutdown = app.shutdown.clone();
    loop {
        {
            // Looked at in place: nothing of the snapshot is kept across the wait.
            let snap = rx.borrow_and_update();
            if let Some(chunks) = snap.part_bytes(container, token, msn, index) {
                drop(snap);
                return media_response(chunks, container, range);
            }
            let hinted = token == snap.token
                && !snap.ended()
                && msn == snap.position.next_msn
                && index as u64 == snap.position.building_parts;
            if !hinted {
                return Err(HttpError::NoSegment);
            }
        }
        tokio::select! {
            r = tokio::time::timeout_at(deadline, rx.changed()) => match r {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(HttpError::NoSegment),
                Err(_) => return Err(HttpError::BlockTimeout),
            },
            _ = shutdown.wait_for(|v| *v) => return Err(HttpError::ShuttingDown),
        }
    }
}

/// An init; a hinted one (EXT-X-PRELOAD-HINT:TYPE=MAP) is waited for like a hinted part.
async fn init(
    app: &App,
    r: &Rendition,
    token: u64,
    number: u32,
    range: Option<&str>,
) -> Result<Response, HttpError> {
    let found = |snap: &Snapshot| snap.init(token, number).map(|i| vec![i.data.clone()]);
    if let Some(data) = found(&r.peek()) {
        return media_response(data, Container::Fmp4, range);
    }
    let mut rx = r.subscribe();
    let deadline = {
        let td = rx.borrow().target_duration.max(1);
        Instant::now() + Duration::from_secs(3 * u64::from(td))
    };
    let mut shutdown = app.shutdown.clone();
    loop {
        {
            let snap = rx.borrow_and_update();
            if let Some(data) = found(&snap) {
                drop(snap);
                return media_response(data, Container::Fmp4, range);
            }
            let hinted = token == snap.token && !snap.ended() && snap.map_hint == Some(number);
            if !hinted {
                return Err(HttpError::NoSegment);
            }
        }
        tokio::select! {
            r = tokio::time::timeout_at(deadline, rx.changed()) => match r {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(HttpError::NoSegment),
                Err(_) => return Err(HttpError::BlockTimeout),
            },
            _ = shutdown.wait_for(|v| *v) => return Err(HttpError::ShuttingDown),
        }
    }
}

fn with_max_age(mut res: Response, secs: u32) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, cache_control(secs.max(1)));
    res
}

/// `public, max-age=0, s-maxage={secs}`: cached `secs` by shared caches (CDNs, Varnish,
/// nginx), not by browsers.
fn with_shared_max_age(mut res: Response, secs: u32) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, shared_cache_control(secs.max(1)));
    res
}

fn shared_cache_control(secs: u32) -> HeaderValue {
    static SMALL: LazyLock<Vec<HeaderValue>> =
        LazyLock::new(|| (0..=360).map(shared_max_age).collect());
    fn shared_max_age(secs: u32) -> HeaderValue {
        HeaderValue::try_from(format!("public, max-age=0, s-maxage={secs}"))
            .expect("digits are a valid header value")
    }
    match SMALL.get(secs as usize) {
        Some(v) => v.clone(),
        None => shared_max_age(secs),
    }
}

/// `public, max-age={secs}`; the values playlists use (multiples of a target duration up
/// to a minute) are made once and cloned, the rest per call.
fn cache_control(secs: u32) -> HeaderValue {
    static SMALL: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| (0..=60).map(max_age).collect());
    fn max_age(secs: u32) -> HeaderValue {
        HeaderValue::try_from(format!("public, max-age={secs}"))
            .expect("digits are a valid header value")
    }
    match SMALL.get(secs as usize) {
        Some(v) => v.clone(),
        None => max_age(secs),
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|c| {
                let mut it = c.split(';');
                let name = it.next().unwrap_or("").trim();
                let q_zero = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                name.eq_ignore_ascii_case("gzip") && !q_zero
            })
        })
}

fn playlist_response(rendered: &Rendered, headers: &HeaderMap, max_age: u32) -> Response {
    let gzip = accepts_gzip(headers);
    let body = if gzip {
        rendered.gzip().clone()
    } else {
        rendered.text.clone()
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    with_max_age(res, max_age)
}

/// A segment, part or init: shared bytes (a slice of them for a single range), never copied.
fn media_response(
    chunks: Vec<Bytes>,
    container: Container,
    range: Option<&str>,
) -> Result<Response, HttpError> {
    let len = chunks.iter().map(Bytes::len).sum();
    let (status, body, content_range) = match parse_range(range, len) {
        RangeRequest::Full => (StatusCode::OK, ChunksBody::new(chunks), None),
        RangeRequest::Partial(r) => {
            let cr = format!("bytes {}-{}/{len}", r.start, r.end - 1);
            (
                StatusCode::PARTIAL_CONTENT,
                ChunksBody::range(&chunks, r),
                Some(cr),
            )
        }
        RangeRequest::Unsatisfiable => return Err(HttpError::Range { len }),
    };
    let mut res = (status, Body::new(body)).into_response();
    let h = res.headers_mut();
    let content_type = match container {
        Container::Ts => SEGMENT_TYPE,
        Container::Fmp4 => MP4_TYPE,
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(v) = content_range.and_then(|cr| HeaderValue::from_str(&cr).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(res)
}

/// Waits until `ready` holds for the watched value, at most the first-segment wait, and
/// returns it; on time-out returns the value as it is (callers decide what that means).
async fn wait_first<T: Clone>(
    app: &App,
    rx: &mut watch::Receiver<T>,
    ready: impl Fn(&T) -> bool,
) -> Result<T, HttpError> {
    if ready(&rx.borrow()) {
        return Ok(rx.borrow().clone());
    }
    let mut shutdown = app.shutdown.clone();
    let waited = tokio::select! {
        r = tokio::time::timeout(app.first_segment_wait, rx.wait_for(|v| ready(v))) => match r {
            Ok(Ok(v)) => Some(v.clone()),
            // The feed went away while we waited.
            Ok(Err(_)) => return Err(HttpError::NoFeed),
            Err(_) => None,
        },
        _ = shutdown.wait_for(|v| *v) => return Err(HttpError::ShuttingDown),
    };
    Ok(waited.unwrap_or_else(|| rx.borrow().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media<'a>(feed: &'a str, rendition: &'a str, file: &'a str) -> Option<Route<'a>> {
        Some(Route::Media {
            feed: feed.into(),
            rendition: rendition.into(),
            file: file.into(),
        })
    }

    /// A blocking reload asked for a segment far ahead sleeps holding no snapshot: the
    /// channel's current snapshot is referenced by the channel and this test only.
    #[tokio::test]
    async fn a_blocking_waiter_holds_no_snapshot_while_it_sleeps() {
        use crate::ingest::lane::Lane;
        let config = Arc::new(crate::Config::default());
        let registry = crate::feeds::Registry::new(config, crate::clock::Clock::new());
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let app: App = Arc::new(crate::http::AppState {
            metrics: Arc::new(crate::metrics::Metrics::new(registry.clone())),
            registry: registry.clone(),
            shutdown,
            first_segment_wait: Duration::from_secs(1),
            auth: Arc::new(crate::ingest::auth::Auth::new(None)),
            gates: crate::logging::Gates::new(registry.clock(), Default::default()),
            pieces: Default::default(),
        });
        let addr = "127.0.0.1:9".parse().unwrap();
        let guard = registry.claim("w", "main", addr).unwrap();
        let r = guard.rendition.clone();
        let mut lane = Lane::new(&app, guard, None);
        let data = crate::synth::Synth::default().build(25 * 8);
        let (first, rest) = data.split_at(data.len() / 2 / 188 * 188);
        lane.push(&app, first, 1_000_000);
        let next = r.snapshot().position.next_msn;
        assert!(r.snapshot().listable && r.snapshot().part_target.is_some());
        // As a request does: the rendition is watched, its playlist rendered.
        r.want(MediaFile::Default, false);
        assert!(r.snapshot().playlist.is_some());
        let d = parse_directives(Some(&format!("_HLS_msn={}", next + 1))).unwrap();
        let waiter = {
            let (app, r) = (app.clone(), r.clone());
            tokio::spawn(async move {
                media_playlist(&app, &r, MediaFile::Default, d, &HeaderMap::new())
                    .await
                    .map(|res| res.status())
            })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        // The channel's, the rendition's `current` and this test's.
        assert_eq!(Arc::strong_count(&r.snapshot()), 3);
        // More media: the waiter wakes and answers.
        lane.push(&app, rest, 1_004_000);
        let status = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(status.unwrap().unwrap().unwrap(), StatusCode::OK);
    }

    #[test]
    fn cache_control_values() {
        for secs in [1, 2, 60, 61, 3600] {
            assert_eq!(
                cache_control(secs).to_str().unwrap(),
                format!("public, max-age={secs}")
            );
            assert_eq!(
                shared_cache_control(secs).to_str().unwrap(),
                format!("public, max-age=0, s-maxage={secs}")
            );
        }
    }

    #[test]
    fn routes() {
        let multivariant = |feed| {
            Some(Route::Multivariant {
                feed: Cow::Borrowed(feed),
                file: None,
            })
        };
        assert_eq!(Route::parse("/live/cam/index.m3u8"), multivariant("cam"));
        assert_eq!(
            Route::parse("/live/cam/main/media.m3u8"),
            media("cam", "main", "media.m3u8")
        );
        assert_eq!(
            Route::parse("/live/cam/hi/seg-ab12-3.ts"),
            media("cam", "hi", "seg-ab12-3.ts")
        );
        // Percent-encoded parts are decoded, like axum's `Path` did; invalid escapes stay.
        assert_eq!(Route::parse("/live/c%61m/index.m3u8"), multivariant("cam"));
        assert_eq!(Route::parse("/live/c%ZZ/index.m3u8"), multivariant("c%ZZ"));
        assert_eq!(Route::parse("/live/c%FF/index.m3u8"), None);
        for path in [
            "/live",
            "/live/",
            "/live/cam",
            "/live/cam/",
            "/live/cam/other.m3u8",
            "/live//index.m3u8",
            "/live/cam//media.m3u8",
            "/live/cam/main/",
            "/live/cam/main/media.m3u8/",
            "/live/a/b/c/d",
            "/ingest/cam",
        ] {
            assert_eq!(Route::parse(path), None, "{path}");
        }
    }
}
