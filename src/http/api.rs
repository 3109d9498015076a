//! The admin routes: the JSON API (`/api/feeds`, `/api/feeds/{feed}`, fields in
//! docs/api.md) and Prometheus `/metrics`. They grant no CORS. Reading is open (the web
//! page lists feeds without credentials), but publishers' addresses and session tokens are
//! shown only with a valid `Authorization: Bearer <token>` of `[admin] token` (never when
//! none is set); `DELETE` needs that token when it is set.

use super::App;
use super::error::HttpError;
use crate::feeds::view::{FeedView, Reveal, feed_view};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::time::Duration;
use tracing::warn;

/// How long `DELETE` waits for the publishers' ingest tasks to end the renditions.
const STOP_WAIT: Duration = Duration::from_secs(5);

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/feeds", get(list))
        .route("/api/feeds/{feed}", get(one).delete(stop))
        .route("/metrics", get(metrics))
}

#[derive(Serialize)]
struct FeedList {
    feeds: Vec<FeedView>,
}

/// Admin answers are about this moment: never cached.
pub(crate) fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What a read of the API may see: all of it only with the configured admin token.
fn reveal(app: &App, headers: &HeaderMap) -> Reveal {
    match app.registry.config().admin.token.as_deref() {
        Some(token) if authorize(Some(token), headers).is_ok() => Reveal::Admin,
        _ => Reveal::Public,
    }
}

async fn list(State(app): State<App>, headers: HeaderMap) -> Response {
    let reveal = reveal(&app, &headers);
    let reg = &app.registry;
    let (window, now) = (reg.config().hls.window, reg.clock().now_ms());
    let mut feeds: Vec<FeedView> = reg
        .feed_list()
        .iter()
        .map(|f| feed_view(f, window, now, reveal))
        .collect();
    feeds.sort_by(|a, b| a.name.cmp(&b.name));
    no_store(Json(FeedList { feeds }).into_response())
}

async fn one(State(app): State<App>, Path(feed): Path<String>, headers: HeaderMap) -> Response {
    let reveal = reveal(&app, &headers);
    let reg = &app.registry;
    let res = match reg.feed(&feed) {
        Some(f) => Json(feed_view(
            &f,
            reg.config().hls.window,
            reg.clock().now_ms(),
            reveal,
        ))
        .into_response(),
        None => HttpError::NoFeed.into_response(),
    };
    no_store(res)
}

/// Stops the feed's publishers and ends it at once (EXT-X-ENDLIST, no reconnect grace).
async fn stop(State(app): State<App>, Path(feed): Path<String>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(app.registry.config().admin.token.as_deref(), &headers) {
        return no_store(e.into_response());
    }
    let Some(ending) = app.registry.stop_feed(&feed) else {
        return no_store(HttpError::NoFeed.into_response());
    };
    let ended = futures_util::future::join_all(ending.into_iter().map(|mut rx| async move {
        // An error means the rendition was removed (it had no segment): ended too.
        let _ = rx.wait_for(|s| s.ended()).await;
    }));
    if tokio::time::timeout(STOP_WAIT, ended).await.is_err() {
        warn!(
            feed,
            "stopped feed not ended after {} s",
            STOP_WAIT.as_secs()
        );
    }
    no_store(StatusCode::NO_CONTENT.into_response())
}

async fn metrics(State(app): State<App>) -> Response {
    let mut res = app.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    no_store(res)
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
pub(crate) fn authorize(token: Option<&str>, headers: &HeaderMap) -> Result<(), HttpError> {
    let Some(token) = token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(HttpError::Unauthorized)?;
    if crate::ingest::auth::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(HttpError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(token: Option<&str>, auth: Option<&str>) -> Result<(), StatusCode> {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        authorize(token, &h).map_err(|e| e.status())
    }

    #[test]
    fn bearer_token() {
        assert_eq!(check(None, None), Ok(()));
        assert_eq!(check(None, Some("Bearer x")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), Some("bearer s3cret")), Ok(()));
        assert_eq!(check(Some("s3cret"), None), Err(StatusCode::UNAUTHORIZED));
        assert_eq!(
            check(Some("s3cret"), Some("Basic czNjcmV0")),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            check(Some("s3cret"), Some("Bearer s3cre")),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            check(Some("s3cret"), Some("Bearer s3cret2")),
            Err(StatusCode::FORBIDDEN)
        );
    }
}
