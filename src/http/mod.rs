//! The HTTP shell: routes of DESIGN.md's contract, state shared by handlers.

pub mod api;
pub mod body;
pub mod dvr;
pub mod error;
pub mod forwarded;
pub mod ingest;
pub mod linger;
pub mod pieces;
pub mod playback;
pub mod range;
pub mod redact;
pub mod request_id;
pub mod service;
pub mod signed;
pub mod trace;
pub mod vod;
pub mod web;

#[cfg(test)]
mod panic_test;

use crate::feeds::Registry;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;

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
    /// Who may publish; its rules are replaced on SIGHUP.
    pub auth: Arc<crate::ingest::auth::Auth>,
    /// Thins out the logging of refusals (see [`crate::logging`]).
    pub gates: Arc<crate::logging::Gates>,
    /// Streams published in pieces waiting for their next piece ([`pieces`]).
    pub pieces: Arc<pieces::Waiting>,
}

/// The whole HTTP service, what every connection serves: [`dispatch`].
pub fn service(app: App) -> service::Dispatch {
    dispatch(app)
}

/// [`service::Dispatch`] gives every request an `x-request-id` ([`request_id`]) and sends
/// `/live` to playback (its own span, CORS for any origin, request counting and panics
/// caught by hand, see [`service::Playback`]) and the rest to the ingest, admin and web
/// routes, which grant no CORS, are traced by tower-http's `TraceLayer` with sensitive
/// headers marked ([`trace`]) and have panics caught by its `CatchPanicLayer`. With
/// `auth.playback_secret`, the playback trees are served only under a signed prefix
/// ([`signed`]).
pub fn dispatch(app: App) -> service::Dispatch {
    let ingest = Router::new()
        .route(
            "/ingest/{feed}",
            post(ingest::ingest_main).put(ingest::ingest_main),
        )
        .route(
            "/ingest/{feed}/{rendition}",
            post(ingest::ingest_rendition).put(ingest::ingest_rendition),
        );
    let other = Router::new()
        .merge(ingest)
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(web::routes())
        .merge(api::routes())
        .merge(vod::routes());
    #[cfg(test)]
    let other = other.route("/test/panic", get(panics));
    let other = other
        .with_state(app.clone())
        .layer(CatchPanicLayer::custom(service::panicked))
        .layer(trace::layer());
    let signer = signed::Signer::from_config(app.registry.config()).map(Arc::new);
    service::Dispatch {
        playback: service::Playback { app: app.clone() },
        other,
        signer,
        request_ids: true,
    }
}

/// A handler that panics, for `panic_test`; unit tests only.
#[cfg(test)]
async fn panics() -> &'static str {
    panic!("a handler panicked")
}
