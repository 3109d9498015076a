//! SRT ingest (`[srt] listen`): contribution encoders and `ffmpeg -f mpegts srt://HOST:PORT`
//! publish MPEG-TS through the same transport-neutral session as HTTP push
//! (`ingest::session`), their payloads fed to the framer like HTTP body chunks. The SRT
//! stack is srt-tokio (ARCHITECTURE.md says why): its listener hands each caller's
//! handshake over before answering it, so [`conn`] decides there, by the stream ID
//! ([`names`]), the encryption and the publish session, whether the caller connects.

pub mod conn;
pub mod names;

use crate::config::SrtConfig;
use crate::http::App;
use futures_util::StreamExt;
use srt_protocol::options::Passphrase;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtListener};
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, error, info_span};

/// Receive buffer of the listener's UDP socket: some 0.5 s of a 64 Mbit/s contribution feed
/// (the kernel caps it at net.core.rmem_max).
pub const UDP_RECV_BUFFER: usize = 4 << 20;

/// A UDP socket bound to `addr` (the first address it resolves to) for [`serve`], with a
/// receive buffer of [`UDP_RECV_BUFFER`].
pub async fn bind(addr: &str) -> std::io::Result<UdpSocket> {
    let addr = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the address resolves to nothing",
        )
    })?;
    let mut options = srt_tokio::options::SocketOptions::default();
    options.connect.local = addr;
    options.connect.udp_recv_buffer_size = srt_tokio::options::ByteCount(UDP_RECV_BUFFER as u64);
    srt_tokio::bind_socket(&options).await?.into_std()
}

/// The passphrase of `[srt] passphrase`; `None` when it is empty.
pub fn passphrase(cfg: &SrtConfig) -> Result<Option<Passphrase>, String> {
    if cfg.passphrase.is_empty() {
        return Ok(None);
    }
    Passphrase::try_from(cfg.passphrase.clone())
        .map(Some)
        .map_err(|e| format!("srt.passphrase: {e}"))
}

/// Takes SRT callers on `socket` until the server shuts down. Callers are bounded by
/// `limits.max_connections` (beyond it: rejected as 1503).
///
/// The SRT stack runs the socket in a task of its own. Should that task end while the
/// server runs (the stack failed on a packet), a new listener takes the same socket: the
/// callers it held time out and come back as after a network cut.
pub async fn serve(app: App, socket: UdpSocket, mut shutdown: watch::Receiver<bool>) {
    let cfg = app.registry.config().srt.clone().unwrap_or_default();
    let secret = match passphrase(&cfg) {
        Ok(s) => s,
        Err(e) => {
            // Validated with the configuration.
            error!("SRT ingest off: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(app.registry.config().limits.max_connections));
    let latency = Duration::from_millis(cfg.latency);
    loop {
        let listener = match listen(&socket, latency).await {
            Ok(l) => l,
            Err(e) => {
                error!("SRT ingest off: cannot listen: {e}");
                return;
            }
        };
        let (mut listener, mut incoming) = listener;
        let stopped = loop {
            let request = tokio::select! {
                r = incoming.incoming().next() => r,
                _ = shutdown.wait_for(|v| *v) => break true,
            };
            let Some(request) = request else { break false };
            accept(&app, request, &slots, &secret);
        };
        if stopped {
            // Stops the stack's task (in a task of its own: closing one that failed panics).
            let close = tokio::spawn(async move { listener.close().await });
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
            return;
        }
        let stopping = *shutdown.borrow();
        if stopping {
            return;
        }
        app.metrics.srt_listener_restarts.inc();
        // A peer can repeat what failed it: logged through a gate.
        if app.gates.admit("srt_listener") {
            error!("the SRT listener stopped: listening again on the same socket");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A listener of the SRT stack on (a clone of) `socket`.
async fn listen(
    socket: &UdpSocket,
    latency: Duration,
) -> std::io::Result<(SrtListener, srt_tokio::SrtIncoming)> {
    let local = socket.local_addr()?;
    let socket = socket.try_clone()?;
    socket.set_nonblocking(true)?;
    let socket = tokio::net::UdpSocket::from_std(socket)?;
    SrtListener::builder()
        .socket(socket)
        .latency(latency)
        .bind(local)
        .await
}

/// Starts deciding one caller's handshake, in a task of its own.
fn accept(app: &App, request: ConnectionRequest, slots: &Arc<Semaphore>, secret: &conn::Secret) {
    let peer = request.remote();
    let span = info_span!("srt", %peer);
    let Ok(slot) = slots.clone().try_acquire_owned() else {
        span.in_scope(|| debug!("SRT caller refused: limits.max_connections reached"));
        tokio::spawn(async move {
            let _ = request
                .reject(RejectReason::Server(ServerRejectReason::Down))
                .await;
        });
        return;
    };
    let (app, secret) = (app.clone(), secret.clone());
    tokio::spawn(
        async move {
            conn::run(app, request, secret).await;
            drop(slot);
        }
        .instrument(span),
    );
}
