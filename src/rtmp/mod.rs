//! RTMP ingest (`[rtmp] listen`): publishers such as OBS, Wirecast, Larix or
//! `ffmpeg -f flv rtmp://HOST:PORT/live/{feed}` publish through the same transport-neutral
//! session as HTTP push (`ingest::session`); their FLV tags become access units
//! (`flv`) fed to the segmenter's access-unit input. See [`names`] for what a publish
//! names and [`conn`] for a connection's course.

pub mod conn;
pub mod guard;
pub mod names;

use crate::http::App;
use conn::Conn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, info, info_span, warn};

/// Accepts RTMP connections until the server shuts down. Connections are bounded by
/// `limits.max_connections`; each must complete its handshake, `connect` and `publish`
/// within `limits.header_timeout`.
pub async fn serve(app: App, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(app.registry.config().limits.max_connections));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|v| *v) => break,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!("RTMP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "RTMP connection refused: limits.max_connections reached");
            continue;
        };
        let app = app.clone();
        tokio::spawn(
            async move {
                connection(app, sock, peer).await;
                drop(slot);
            }
            .instrument(info_span!("rtmp", %peer)),
        );
    }
}

async fn connection(app: App, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let setup = Duration::from_secs_f64(app.registry.config().limits.header_timeout);
    let until_publish = async {
        let conn = Conn::handshake(sock).await?;
        conn.until_publish(&app, peer).await
    };
    let (mut conn, session, span) = match tokio::time::timeout(setup, until_publish).await {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            debug!("RTMP connection ended before publishing: {e}");
            return;
        }
        Err(_) => {
            debug!("RTMP connection did not publish within limits.header_timeout");
            return;
        }
    };
    if let Err(e) = session.run(&mut conn).instrument(span.clone()).await {
        span.in_scope(|| info!("publish ended: {e}"));
    }
}
