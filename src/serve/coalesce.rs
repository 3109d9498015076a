//! HTTP/2 answers written together: one write for every answer ready in a turn of the
//! connection's task, not one per stream.
//!
//! hyper's HTTP/2 server takes streams one at a time, and before each it drives h2's
//! connection, which writes out whatever is queued. An answer ready at once (`inline`)
//! was so written alone, before the next stream was taken: about one `writev` per answer,
//! and on loopback each one wakes the client's reader. [`poll`] polls the connection
//! twice per wake-up: first with writes held ([`Held`] answers them `Pending`), so every
//! stream read is taken and answered while frames only queue; then, if a write was held,
//! again with writes open, which sends the queue in as few writes as h2's buffer allows.
//! Nothing waits on a held write: the second poll follows in the same turn. Flushes, reads
//! and shutdowns pass through.

use hyper::rt::{Read, ReadBufCursor, Write};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

const OPEN: u8 = 0;
const HOLDING: u8 = 1;
const HELD: u8 = 2;

/// Whether writes are held now, and whether one was; shared by a connection's I/O and its
/// future (both in the connection's one task).
#[derive(Debug)]
pub struct Gate(AtomicU8);

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate(AtomicU8::new(OPEN)))
    }

    /// A write may go out now; else it is recorded as held.
    fn write_open(&self) -> bool {
        match self.0.load(Ordering::Relaxed) {
            OPEN => true,
            _ => {
                self.0.store(HELD, Ordering::Relaxed);
                false
            }
        }
    }
}

/// A connection's I/O whose writes wait while its [`Gate`] holds them.
/// Without a gate, nothing is held.
pub struct Held<T> {
    io: T,
    gate: Option<Arc<Gate>>,
}

impl<T> Held<T> {
    pub fn new(io: T, gate: Option<Arc<Gate>>) -> Self {
        Held { io, gate }
    }

    fn write_open(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.write_open())
    }
}

impl<T: Read + Unpin> Read for Held<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Held<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.write_open() {
            return Poll::Pending;
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.write_open() {
            return Poll::Pending;
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Polls a connection with writes held, then, if one was, again with writes open.
pub fn poll<F: Future>(
    mut conn: Pin<&mut F>,
    gate: &Gate,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    gate.0.store(HOLDING, Ordering::Relaxed);
    let first = conn.as_mut().poll(cx);
    let held = gate.0.swap(OPEN, Ordering::Relaxed) == HELD;
    match first {
        Poll::Pending if held => conn.poll(cx),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A future that writes as soon as it is polled: its writes are held in the first poll
    /// and go out in the second, in order; nothing waits for a wake-up that never comes.
    #[tokio::test]
    async fn held_writes_go_out_in_the_same_turn_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let gate = Gate::new();
        let mut io = Held::new(TokioIo::new(a), Some(gate.clone()));
        let fut = async move {
            for piece in [&b"one "[..], b"two ", b"three"] {
                let mut left = piece;
                while !left.is_empty() {
                    let n = std::future::poll_fn(|cx| Pin::new(&mut io).poll_write(cx, left))
                        .await
                        .unwrap();
                    left = &left[n..];
                }
            }
            std::future::poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx))
                .await
                .unwrap();
        };
        let mut fut = std::pin::pin!(fut);
        let coalesced = std::future::poll_fn(|cx| poll(fut.as_mut(), &gate, cx));
        tokio::time::timeout(std::time::Duration::from_secs(5), coalesced)
            .await
            .expect("a held write was left waiting");
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "one two three");
        // The other direction is not held.
        let _ = b.write_all(b"x").await;
    }
}
