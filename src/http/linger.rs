//! Lingering on an ingest body after an early answer. When ingest answers before the body
//! has ended (a refused publish, a frozen clock, a bitrate over the limit), the publisher is
//! usually still sending. Closing the socket with unread bytes in it makes the kernel send a
//! reset, and a client still writing often loses the answer that was already on its way.
//! So the answer goes out at once and the rest of the body is read and discarded in the
//! background, bounded in time and bytes, before the connection is let go (what web servers
//! call a lingering close). hyper keeps reading a request body after its response as long
//! as the body is alive, and closes the connection (no keep-alive) once it is dropped.

use axum::body::Body;
use http_body_util::BodyExt;
use std::time::Duration;
use tracing::debug;

/// How long a refused body is read at most.
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// How many bytes of a refused body are read at most.
pub const LINGER_BYTES: usize = 8 << 20;

/// Reads `body` to its end, for at most [`LINGER_TIME`] and [`LINGER_BYTES`], discarding it.
pub fn linger(mut body: Body) {
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(LINGER_TIME);
        tokio::pin!(deadline);
        let mut read = 0usize;
        let why = loop {
            if read >= LINGER_BYTES {
                break "byte bound";
            }
            tokio::select! {
                f = body.frame() => match f {
                    Some(Ok(f)) => read += f.data_ref().map_or(0, |d| d.len()),
                    Some(Err(_)) => break "connection lost",
                    None => break "body ended",
                },
                () = &mut deadline => break "time bound",
            }
        };
        debug!(read, "refused body discarded: {why}");
    });
}
