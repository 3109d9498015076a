//! Playback routes: multivariant and media playlists, segments. Read-only: handlers take
//! the latest snapshot and never wait on the ingest path, except that a playlist asked for
//! before the first segment exists waits (bounded) for it.

use super::App;
use super::error::HttpError;
use super::range::{RangeRequest, parse_range};
use crate::feeds::Snapshot;
use crate::playlist::parse_segment_uri;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::watch;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn multivariant(
    State(app): State<App>,
    Path(feed): Path<String>,
) -> Result<Response, HttpError> {
    let f = app.registry.feed(&feed).ok_or(HttpError::NoFeed)?;
    let mut rx = f.subscribe_multivariant();
    let text = wait(&app, &mut rx, |m| m.is_some())
        .await?
        .ok_or(HttpError::NotReady)?;
    let td = f
        .rendition_list()
        .iter()
        .map(|r| r.snapshot().target_duration)
        .max()
        .unwrap_or(0);
    Ok(playlist_response(text, live_max_age(td)))
}

pub async fn media_or_segment(
    State(app): State<App>,
    Path((feed, rendition, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let f = app.registry.feed(&feed).ok_or(HttpError::NoFeed)?;
    let r = f.rendition(&rendition).ok_or(HttpError::NoRendition)?;
    if file == "media.m3u8" {
        let mut rx = r.subscribe();
        let snap = wait(&app, &mut rx, |s| s.playlist.is_some() || s.ended()).await?;
        let text = snap.playlist.clone().ok_or(HttpError::NotReady)?;
        return Ok(playlist_response(text, live_max_age(snap.target_duration)));
    }
    let (token, msn) = parse_segment_uri(&file).ok_or(HttpError::NotFound)?;
    let snap = r.snapshot();
    let seg = snap.segment(token, msn).ok_or(HttpError::NoSegment)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    media_response(seg.data.clone(), SEGMENT_TYPE, range)
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}

/// Half a target duration (§6.2.2 and Appendix B.1), at least one second.
fn live_max_age(td: u32) -> u32 {
    (td / 2).max(1)
}

fn playlist_response(text: Bytes, max_age: u32) -> Response {
    let mut res = text.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

/// A segment: shared bytes, a slice of them for a single range; never copied.
fn media_response(
    data: Bytes,
    content_type: &'static str,
    range: Option<&str>,
) -> Result<Response, HttpError> {
    let len = data.len();
    let (status, body, content_range) = match parse_range(range, len) {
        RangeRequest::Full => (StatusCode::OK, data, None),
        RangeRequest::Partial(r) => {
            let cr = format!("bytes {}-{}/{len}", r.start, r.end - 1);
            (StatusCode::PARTIAL_CONTENT, data.slice(r), Some(cr))
        }
        RangeRequest::Unsatisfiable => return Err(HttpError::Range { len }),
    };
    let mut res = (status, Body::from(body)).into_response();
    let h = res.headers_mut();
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
async fn wait<T: Clone>(
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

#[allow(dead_code)]
fn _assert_snapshot_is_shareable(s: Arc<Snapshot>) -> impl Send + Sync {
    s
}
