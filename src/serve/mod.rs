//! Serving connections: the accept loops of the plain and TLS listeners, the connection
//! limit, and hyper-util's `auto` builder with its timers and HTTP/2 limits.
//!
//! hyper-util is used directly rather than through `axum::serve` (which installs no timer,
//! so hyper's header timeout never applies) or axum-server (whose TLS listener switches the
//! header timeout off): hlsd needs the timers, the limits and the accept loop in its hands.
//! `limit`: the connection limit and the head-less cap; `conn`: one connection's task and
//! timers; `ingest_rt`: the single-threaded runtimes of HTTP/1.1 publishers; `publish`: an
//! HTTP/1.1 publish served there without hyper's connection task (`chunked`: its body's
//! framing; `rewind`: handing a connection back to hyper); `inline`: the executor of HTTP/2
//! streams; `coalesce`: an HTTP/2 connection's answers written together; `service`: the per-request wrapper; `tls`: the rustls configuration.

pub mod chunked;
pub mod coalesce;
pub mod conn;
pub mod ingest_rt;
pub mod inline;
pub mod limit;
pub mod publish;
pub mod rewind;
pub mod service;
pub mod tls;

use crate::config::LimitsConfig;
use crate::http::service::Dispatch;
use crate::logging::Gates;
use conn::Stage;
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;
use inline::InlineFirst;
use limit::Connections;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

/// HTTP/2 streams a client may have open at once on one connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 256;
/// HTTP/2 streams reset by the client before being served, at once (rapid reset).
pub const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Bytes of request header fields (HTTP/2 header list) accepted.
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

/// What every connection of a server shares.
pub struct Shared {
    pub builder: auto::Builder<InlineFirst>,
    pub dispatch: Dispatch,
    pub header_timeout: Duration,
    pub conns: Arc<Connections>,
    pub stage: watch::Receiver<Stage>,
    /// Refused connections and accept errors are logged through these, not per socket.
    gates: Arc<Gates>,
}

/// The connection builder: hyper's header timeout for HTTP/1.1 (every head and the idle gap
/// before it), explicit HTTP/2 limits.
pub fn builder(header_timeout: Duration) -> auto::Builder<InlineFirst> {
    let mut b = auto::Builder::new(InlineFirst);
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE);
    b
}

/// The connection side of one server: build with [`Server::new`], add listeners with
/// [`Server::listen`], stop with [`Server::drain`] and [`Server::close`].
pub struct Server {
    shared: Arc<Shared>,
    stage: watch::Sender<Stage>,
}

impl Server {
    pub fn new(limits: &LimitsConfig, dispatch: Dispatch, gates: Arc<Gates>) -> Server {
        let fds = limit::open_file_limit().unwrap_or(u64::MAX);
        let limit = limit::effective_limit(limits.max_connections, fds);
        let conns = Connections::new(limit);
        let header_timeout = Duration::from_secs_f64(limits.header_timeout);
        info!(
            limit,
            headless = conns.headless_cap(),
            header_timeout = limits.header_timeout,
            "connection limits"
        );
        let (stage, stage_rx) = watch::channel(Stage::Running);
        Server {
            shared: Arc::new(Shared {
                builder: builder(header_timeout),
                dispatch,
                header_timeout,
                conns,
                stage: stage_rx,
                gates,
            }),
            stage,
        }
    }

    pub fn connections(&self) -> &Arc<Connections> {
        &self.shared.conns
    }

    /// Accepts connections on `listener` (through TLS when `tls` is given) until the server
    /// drains.
    pub fn listen(&self, listener: TcpListener, tls: Option<TlsAcceptor>) {
        tokio::spawn(accept_loop(listener, tls, self.shared.clone()));
    }

    /// Stops accepting; open connections finish their requests and close.
    pub fn drain(&self) {
        self.stage.send_replace(Stage::Draining);
    }

    /// Waits until every connection has closed.
    pub async fn all_closed(&self) {
        self.shared.conns.all_closed().await
    }

    /// Closes every connection at once.
    pub fn close(&self) {
        self.stage.send_replace(Stage::Closing);
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut stage = shared.stage.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stage.wait_for(|s| *s != Stage::Running) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_error(e, &shared.gates).await;
                continue;
            }
        };
        let Some(admitted) = shared.conns.admit() else {
            // Accepted and closed at once: the client learns now, rather than waiting in
            // the kernel's queue, and the backlog keeps moving.
            drop(tcp);
            if shared.gates.admit("connection_limit") {
                warn!(
                    limit = shared.conns.limit(),
                    "connection limit reached: closing new connections"
                );
            }
            continue;
        };
        // Parts and blocking answers are small writes: never hold them back for Nagle.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(conn::run(tcp, peer, tls.clone(), shared.clone(), admitted));
    }
}

/// Errors of one connection (reset before accept) are skipped; others (out of file
/// descriptors) pause accepting briefly instead of spinning.
async fn accept_error(e: std::io::Error, gates: &Gates) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        debug!("accept: {e}");
        return;
    }
    if gates.admit("accept_error") {
        error!("accept error: {e}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}
