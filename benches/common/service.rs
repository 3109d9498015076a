//! An in-process hlsd service with a feed in it, for the benchmarks that time requests
//! without a socket (included with `#[path]` by `signed` and `layers`).

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hlsd::Config;
use hlsd::http;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::Service;

/// The service of a server with `config`, with a 10 s synthetic feed `cam` pushed into it.
pub async fn with_feed(config: Config) -> http::service::Dispatch {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // The sender must outlive the service: leak it (one per server).
    std::mem::forget(tx);
    let auth = Arc::new(hlsd::ingest::auth::Auth::new(config.auth.clone()));
    let registry = hlsd::feeds::Registry::new(Arc::new(config), hlsd::clock::Clock::new());
    let app = Arc::new(http::AppState {
        registry: registry.clone(),
        shutdown: rx,
        first_segment_wait: Duration::from_secs(5),
        gates: hlsd::logging::Gates::new(registry.clock(), Default::default()),
        metrics: Arc::new(hlsd::metrics::Metrics::new(registry)),
        auth,
        pieces: Default::default(),
    });
    let mut svc = http::dispatch(app);
    let data = hlsd::synth::Synth::default().build(250);
    let mut req = Request::post("/ingest/cam")
        .body(Body::from(data))
        .expect("request");
    let peer: SocketAddr = "127.0.0.1:9".parse().expect("address");
    req.extensions_mut().insert(ConnectInfo(peer));
    let res = svc.call(req).await.expect("infallible");
    assert!(res.status().is_success(), "push: {}", res.status());
    svc
}
