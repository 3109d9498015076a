//! The HTTP shell: routes of DESIGN.md's contract, state shared by handlers.

pub mod api;
pub mod body;
pub mod error;
pub mod ingest;
pub mod lane;
pub mod playback;
pub mod range;
pub mod web;

use crate::feeds::Registry;
use axum::Router;
use axum::http::{Method, header};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// What handlers share, behind one `Arc`: axum clones the state for every request, so a
/// request costs one reference count, not a copy of each field.
pub type App = Arc<AppState>;

pub struct AppState {
    pub registry: Arc<Registry>,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// How long a playlist request waits for a publishing feed's first segment.
    pub first_segment_wait: Duration,
    /// This server's Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub fn router(app: App) -> Router {
    // Playback grants CORS to any origin on every response, errors included; ingest and
    // admin routes grant none.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .expose_headers([header::AGE]);
    let playback = Router::new()
        .route("/{feed}/index.m3u8", get(playback::multivariant))
        .route(
            "/{feed}/{rendition}/{file}",
            get(playback::media_or_segment),
        )
        .fallback(playback::not_found)
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            app.metrics.clone(),
            crate::metrics::requests::track_playback,
        ));
    let ingest = Router::new()
        .route(
            "/ingest/{feed}",
            post(ingest::ingest_main).put(ingest::ingest_main),
        )
        .route(
            "/ingest/{feed}/{rendition}",
            post(ingest::ingest_rendition).put(ingest::ingest_rendition),
        );
    Router::new()
        .nest("/live", playback)
        .merge(ingest)
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(web::routes())
        .merge(api::routes())
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}
