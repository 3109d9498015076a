//! Recorded sessions over HTTP (`[record]`): `/vod/{feed}/{session}/index.m3u8`,
//! `/vod/{feed}/{session}/{rendition}/media.m3u8` and its segment files, read from disk;
//! `GET /api/feeds/{feed}/recordings` and `DELETE /api/feeds/{feed}/recordings/{session}`
//! (admin token). Signed playback (`/s/...`) reaches these routes through `signed::gate`.

use super::App;
use super::api::{authorize, no_store};
use super::error::HttpError;
use super::service::add_cors;
use crate::record::library::{Session, parse_session, session_name};
use crate::record::playlist;
use crate::record::writer::sync_dir;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::sync::Arc;

/// Cache-Control of an ended session's playlists and of every segment file.
const ENDED: &str = "public, max-age=86400";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/vod/{feed}/{session}/index.m3u8", get(index))
        .route("/vod/{feed}/{session}/{rendition}/{file}", get(media_file))
        .route("/api/feeds/{feed}/recordings", get(list))
        .route(
            "/api/feeds/{feed}/recordings/{session}",
            axum::routing::delete(remove),
        )
}

fn session(app: &App, feed: &str, session: &str) -> Result<Arc<Session>, HttpError> {
    let rec = app.registry.recorder().ok_or(HttpError::NotFound)?;
    let id = parse_session(session).ok_or(HttpError::NotFound)?;
    rec.library().get(feed, id).ok_or(HttpError::NotFound)
}

fn answer(body: impl IntoResponse, content_type: &'static str, cache: String) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    add_cors(&mut res);
    res
}

fn refused(e: HttpError) -> Response {
    let mut res = e.into_response();
    add_cors(&mut res);
    res
}

/// Playlists of a session still recording live ½ TD, ended ones long.
fn playlist_cache(ended: bool, td: u32) -> String {
    if ended {
        ENDED.to_string()
    } else {
        format!("public, max-age={}", (td / 2).max(1))
    }
}

async fn index(State(app): State<App>, Path((feed, id)): Path<(String, String)>) -> Response {
    let s = match session(&app, &feed, &id) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let st = s.lock();
    let td = st
        .renditions
        .values()
        .map(playlist::target_duration)
        .max()
        .unwrap_or(1);
    let text = playlist::multivariant(&st);
    let trimmed = st.renditions.values().any(|r| r.head > 0);
    let cache = playlist_cache(st.end_ms.is_some() && !trimmed, td);
    drop(st);
    answer(text, "application/vnd.apple.mpegurl", cache)
}

async fn media_file(
    State(app): State<App>,
    Path((feed, id, rendition, file)): Path<(String, String, String, String)>,
) -> Response {
    let s = match session(&app, &feed, &id) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    if file == "media.m3u8" {
        let st = s.lock();
        let Some(r) = st.renditions.get(&rendition) else {
            return refused(HttpError::NotFound);
        };
        let ended = st.end_ms.is_some();
        let text = playlist::media(r, ended);
        // Retention moves a trimmed playlist's head: not cached like a finished one.
        let cache = playlist_cache(ended && r.head == 0, playlist::target_duration(r));
        drop(st);
        return answer(text, "application/vnd.apple.mpegurl", cache);
    }
    // Only files the index lists (never a path of the client's making).
    let listed = {
        let st = s.lock();
        st.renditions.get(&rendition).is_some_and(|r| {
            r.segments
                .iter()
                .any(|e| !e.gap && r.segment_file(e) == file)
                || r.inits().into_iter().any(|n| r.init_name(n) == file)
        })
    };
    let content_type = if file.ends_with(".ts") {
        "video/mp2t"
    } else {
        "video/mp4"
    };
    if !listed {
        return refused(HttpError::NotFound);
    }
    let path = s.dir.join(&rendition).join(&file);
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => answer(bytes, content_type, ENDED.to_string()),
        _ => refused(HttpError::NotFound),
    }
}

#[derive(Serialize)]
struct Recording {
    session: String,
    start_ms: i64,
    end_ms: Option<i64>,
    duration_s: f64,
    bytes: u64,
    renditions: Vec<String>,
    url: String,
}

#[derive(Serialize)]
struct Recordings {
    recordings: Vec<Recording>,
}

async fn list(State(app): State<App>, Path(feed): Path<String>) -> Response {
    let sessions = app
        .registry
        .recorder()
        .map(|r| r.library().sessions(&feed))
        .unwrap_or_default();
    if sessions.is_empty() && app.registry.feed(&feed).is_none() {
        return no_store(HttpError::NoFeed.into_response());
    }
    let recordings = sessions
        .iter()
        .map(|s| {
            let name = session_name(s.id);
            let st = s.lock();
            Recording {
                url: format!("/vod/{feed}/{name}/index.m3u8"),
                session: name,
                start_ms: st.start_ms,
                end_ms: st.end_ms,
                duration_s: st.duration_secs(),
                bytes: st.bytes,
                renditions: st.renditions.keys().cloned().collect(),
            }
        })
        .collect();
    no_store(Json(Recordings { recordings }).into_response())
}

/// Removes an ended recording (409 while it is being recorded).
async fn remove(
    State(app): State<App>,
    Path((feed, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authorize(app.registry.config().admin.token.as_deref(), &headers) {
        return no_store(e.into_response());
    }
    let s = match session(&app, &feed, &id) {
        Ok(s) => s,
        Err(e) => return no_store(e.into_response()),
    };
    if s.lock().end_ms.is_none() {
        return no_store(StatusCode::CONFLICT.into_response());
    }
    if let Some(rec) = app.registry.recorder() {
        rec.library().remove(&feed, s.id);
    }
    let dir = s.dir.clone();
    let removed = tokio::task::spawn_blocking(move || {
        std::fs::remove_dir_all(&dir)?;
        dir.parent().map_or(Ok(()), sync_dir)
    })
    .await;
    match removed {
        Ok(Ok(())) => no_store(StatusCode::NO_CONTENT.into_response()),
        _ => no_store(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}
