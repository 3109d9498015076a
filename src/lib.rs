//! hlsd: a live HLS / LL-HLS origin server for pushed MPEG-TS.
//!
//! The sans-I/O core (`ts`, `codec`, `segmenter`, `playlist`, `fmp4`, in the `hlsd-core` crate) turns bytes into segments and
//! playlists with time passed in; the shell (`feeds`, `http`, `clock`) does the I/O.
//! See ARCHITECTURE.md for the code map.

pub mod check;
pub mod clock;
pub mod config;
pub mod demo;
pub mod feeds;
pub mod http;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub mod push;
pub mod record;
pub mod rtmp;
pub mod serve;
pub mod srt;

// The sans-I/O core lives in its own crate (`crates/hlsd-core`), so the compiler keeps it
// free of tokio, axum and logging; it is re-exported under the paths the shell, tests,
// benches and fuzz targets use.
pub use hlsd_core::{codec, flv, fmp4, playlist, segmenter, synth, ts};

pub use config::Config;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

/// How long in-flight requests may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A bound TLS listener and its PEM certificate chain and key.
pub struct TlsListener {
    pub listener: std::net::TcpListener,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// What [`run_with`] takes beside the plain listener and the configuration.
#[derive(Default)]
pub struct RunOptions {
    /// A TLS listener beside the plain one.
    pub tls: Option<TlsListener>,
    /// New `[auth]` sections (SIGHUP): each value received replaces the publish rules;
    /// feeds and publishes in progress go on.
    pub auth_updates: Option<watch::Receiver<Option<config::AuthConfig>>>,
    /// The RTMP ingest listener (`[rtmp] listen`), bound by the caller.
    pub rtmp: Option<TcpListener>,
    /// The SRT ingest socket (`[srt] listen`, UDP), bound by the caller.
    pub srt: Option<std::net::UdpSocket>,
}

/// Serves hlsd on an already bound listener until `shutdown` completes, then ends every
/// feed (EXT-X-ENDLIST), closes ingest requests and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, config, RunOptions::default(), shutdown).await
}

/// Like [`run`], with a TLS listener beside the plain one (HTTP/2 or HTTP/1.1 by ALPN).
/// The plain listener speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c).
pub async fn run_with_tls(
    listener: TcpListener,
    tls: Option<TlsListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = RunOptions {
        tls,
        ..RunOptions::default()
    };
    run_with(listener, config, options, shutdown).await
}

/// Like [`run`], with the [`RunOptions`].
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let RunOptions {
        tls,
        auth_updates,
        rtmp,
        srt,
    } = options;
    // A bad certificate or key fails the start before anything runs.
    let tls = match tls {
        Some(tls) => {
            let acceptor = serve::tls::acceptor(&tls.cert_pem, &tls.key_pem)?;
            tls.listener.set_nonblocking(true)?;
            Some((TcpListener::from_std(tls.listener)?, acceptor))
        }
        None => None,
    };
    let auth = Arc::new(ingest::auth::Auth::new(config.auth.clone()));
    warn_if_open(&auth, listener.local_addr()?);
    if let Some(mut updates) = auth_updates {
        let auth = auth.clone();
        tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let new = updates.borrow_and_update().clone();
                auth.replace(new);
            }
        });
    }
    let config = Arc::new(config);
    let first_wait = config.hls.segment_duration + (config.hls.segment_duration * 5.0).max(10.0);
    let clock = clock::Clock::new();
    let recorder = match &config.record {
        Some(r) => {
            let rec = record::Recorder::open(r, clock).map_err(|e| {
                std::io::Error::new(e.kind(), format!("record.dir {}: {e}", r.dir.display()))
            })?;
            info!(dir = %r.dir.display(), sessions = rec.library().count(), "recording on");
            Some(rec)
        }
        None => None,
    };
    let registry = feeds::Registry::with_recorder(config, clock, recorder);
    let (tx, rx) = watch::channel(false);
    let metrics = Arc::new(metrics::Metrics::new(registry.clone()));
    let gates = logging::Gates::new(registry.clock(), metrics.log_suppressed.clone());
    gates.spawn_flusher(rx.clone());
    let app = Arc::new(http::AppState {
        registry: registry.clone(),
        shutdown: rx.clone(),
        first_segment_wait: Duration::from_secs_f64(first_wait),
        metrics,
        auth: auth.clone(),
        gates: gates.clone(),
        pieces: Default::default(),
    });
    if registry.config().demo.enabled {
        let key = auth.internal_key().to_string();
        demo::spawn(
            &registry.config().demo,
            listener.local_addr()?,
            key,
            rx.clone(),
        );
    }
    if let Some(socket) = srt {
        warn_if_open(&auth, socket.local_addr()?);
        tokio::spawn(srt::serve(app.clone(), socket, rx.clone()));
    }
    if let Some(listener) = rtmp {
        warn_if_open(&auth, listener.local_addr()?);
        tokio::spawn(rtmp::serve(app.clone(), listener, rx.clone()));
    }
    let server = serve::Server::new(&registry.config().limits, http::service(app), gates);
    server.listen(listener, None);
    if let Some((listener, acceptor)) = tls {
        server.listen(listener, Some(acceptor));
    }
    shutdown.await;
    info!("shutting down: ending feeds and closing ingest requests");
    registry.shut_down();
    server.drain();
    let _ = tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, server.all_closed())
        .await
        .is_err()
    {
        warn!(
            "connections still open {} s after shutdown: closing them",
            SHUTDOWN_GRACE.as_secs()
        );
        server.close();
    }
    registry.shut_down();
    if let Some(r) = registry.recorder()
        && !r.flush(SHUTDOWN_GRACE).await
    {
        warn!(
            "recordings still being written {} s after shutdown: the next start ends them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// One WARN when anyone who reaches the listener may publish.
fn warn_if_open(auth: &ingest::auth::Auth, addr: SocketAddr) {
    if !addr.ip().is_loopback() && !auth.guards_publishing() {
        warn!(
            %addr,
            "listening beyond loopback with no publish credential: anyone who reaches this port can publish (set [auth] publish_key, feed_keys or publish_hook)"
        );
    }
}
