//! One connection's task: the TLS handshake if any, then hyper-util's `auto` connection
//! (HTTP/1.1 or HTTP/2, told apart by the client's first bytes), under these timers:
//!
//! - the first request head (TLS handshake and protocol detection included) must arrive
//!   within `header_timeout` of the accept;
//! - HTTP/1.1: hyper's own `header_read_timeout` times every later head and the idle gap
//!   before it (set on the builder, see [`super::builder`]);
//! - any protocol: a connection with no active request for `header_timeout` is shut down
//!   gracefully (HTTP/2: GOAWAY). A request is active from its head until its answer is
//!   sent, so a blocking playlist request or an ingest body streaming for hours is never
//!   idle, and request bodies are never timed.
//!
//! A plain connection whose first bytes are a publish's request line is served on an ingest
//! runtime ([`ingest_rt`]) by [`publish`] instead, which hands it back here if it is not the
//! plain case.
//!
//! The connection also closes when [`Connections`](super::limit::Connections) picks it as
//! the oldest head-less one, and follows the server's shutdown stages.

use super::Shared;
use super::coalesce::{self, Gate, Held};
use super::ingest_rt;
use super::limit::Admitted;
use super::publish;
use super::service::ConnService;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// Where the server is in its life; connections follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Running,
    /// Finish the requests in flight, take no new ones.
    Draining,
    /// Close now.
    Closing,
}

/// Serves one accepted TCP connection until it ends.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    admitted: Admitted,
) {
    let first_head = Instant::now() + shared.header_timeout;
    match tls {
        None => {
            // A publisher's connection moves to an ingest runtime, its bytes still unread.
            let mut first = [0u8; ingest_rt::PEEK_LEN];
            let slot = admitted.slot();
            let mut stage = shared.stage.clone();
            let seen = tokio::select! {
                biased;
                r = tcp.peek(&mut first) => r.unwrap_or(0),
                // Served as usual: the first-head timer closes it at once.
                _ = sleep_until(first_head) => 0,
                _ = slot.evicted() => return,
                _ = stage.wait_for(|s| *s != Stage::Running) => return,
            };
            let publish = ingest_rt::is_publish(&first[..seen]);
            let h2 = is_h2_preface(&first[..seen]);
            if publish && let Some(rt) = ingest_rt::for_request(&first[..seen]) {
                match tcp.into_std() {
                    Ok(std) => {
                        rt.spawn(async move {
                            match TcpStream::from_std(std) {
                                Ok(tcp) => {
                                    // Readiness is known here only after this runtime's
                                    // first poll of its driver: the bytes peeked are read
                                    // before the first-head timer is looked at.
                                    let _ = tcp.readable().await;
                                    publish::serve(tcp, peer, first_head, shared, admitted).await
                                }
                                Err(e) => debug!(%peer, "connection lost moving to an ingest runtime: {e}"),
                            }
                        });
                    }
                    Err(e) => debug!(%peer, "connection lost moving to an ingest runtime: {e}"),
                }
                return;
            }
            serve(tcp, peer, first_head, h2, &shared, &admitted).await
        }
        Some(acceptor) => {
            let slot = admitted.slot();
            let mut stage = shared.stage.clone();
            let stream = tokio::select! {
                biased;
                r = acceptor.accept(tcp) => match r {
                    Ok(s) => s,
                    Err(e) => {
                        debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                },
                _ = sleep_until(first_head) => {
                    debug!(%peer, "closed: no TLS handshake within the header timeout");
                    return;
                }
                _ = slot.evicted() => return,
                _ = stage.wait_for(|s| *s != Stage::Running) => return,
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            serve(stream, peer, first_head, h2, &shared, &admitted).await
        }
    }
}

/// Whether a connection's first bytes are (the start of) HTTP/2's connection preface.
fn is_h2_preface(first: &[u8]) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    !first.is_empty() && PREFACE.starts_with(&first[..first.len().min(PREFACE.len())])
}

/// Serves a connection with hyper; `h2` (the client's preface or ALPN said HTTP/2): the
/// answers ready in one turn are written together (`coalesce`).
pub(super) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    first_head: Instant,
    h2: bool,
    shared: &Shared,
    admitted: &Admitted,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = admitted.slot();
    let conns = slot.connections();
    let timeout = shared.header_timeout;
    let service = ConnService::new(shared.dispatch.clone(), peer, slot.clone());
    let gate = h2.then(Gate::new);
    let io = Held::new(TokioIo::new(io), gate.clone());
    let conn = shared.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stage = shared.stage.clone();
    let first = sleep_until(first_head);
    tokio::pin!(first);
    let idle = sleep_until(first_head);
    tokio::pin!(idle);
    let mut draining = false;
    loop {
        // The connection first: bytes that arrived while the server was busy elsewhere are
        // read before any timer is looked at.
        tokio::select! {
            biased;
            r = std::future::poll_fn(|cx| match &gate {
                Some(gate) => coalesce::poll(conn.as_mut(), gate, cx),
                None => conn.as_mut().poll(cx),
            }) => {
                if let Err(e) = r {
                    debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            _ = slot.evicted() => {
                debug!(%peer, "closed: too many connections without a request head, this the oldest");
                return;
            }
            // The condition is evaluated when the select starts: a head may have come since.
            _ = &mut first, if slot.is_headless() => {
                if slot.is_headless() {
                    debug!(%peer, "closed: no request head within the header timeout");
                    return;
                }
            }
            _ = &mut idle, if !draining => {
                let now = Instant::now();
                match slot.idle_since() {
                    Some(since) if conns.instant_at(since) + timeout <= now => {
                        debug!(%peer, "closing: idle for the header timeout");
                        conn.as_mut().graceful_shutdown();
                        draining = true;
                    }
                    Some(since) => idle.as_mut().reset(conns.instant_at(since) + timeout),
                    None => idle.as_mut().reset(now + timeout),
                }
            }
            r = stage.changed() => {
                let s = if r.is_ok() { *stage.borrow_and_update() } else { Stage::Closing };
                match s {
                    Stage::Running => {}
                    Stage::Draining => {
                        if !draining {
                            conn.as_mut().graceful_shutdown();
                            draining = true;
                        }
                    }
                    Stage::Closing => return,
                }
            }
        }
    }
}
