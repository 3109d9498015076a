//! Ingest runtimes: a plain connection whose first bytes are `POST /ingest/` or
//! `PUT /ingest/` (an HTTP/1.1 publisher) is served on one of a few single-threaded tokio
//! runtimes, one per core, instead of the shared multi-threaded one.
//!
//! There [`super::publish`] reads the request and its body itself, in the session's task.
//! The runtimes came first, for hyper's way of handing a body over: each chunk moved from
//! hyper's connection task to the session's task through a one-chunk channel, and on the
//! multi-threaded runtime that ping-pong soon left the worker's LIFO slot for its run queue,
//! each push waking the other, parked, worker (a futex or eventfd write and a context switch
//! per chunk or so). On a single-threaded runtime the tasks of a publish stay on one thread,
//! and a connection handed back to hyper (not the plain case) is served there the same way.
//!
//! The runtimes are made on first use and live as long as the process; their threads wait
//! in their I/O driver when no publisher sends. A connection goes to the runtime its
//! rendition's name hashes to, read from the request line ([`for_request`]): every
//! connection of one rendition is served on one thread, so a stream published in pieces
//! ([`crate::http::pieces`], a connection per piece) hands each piece to its session, and
//! reads its body, without waking another thread. A request line not seen whole yet is dealt
//! a runtime in turn.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Handle};
use tracing::warn;

/// Bytes looked at to tell a publisher's connection and its rendition.
pub const PEEK_LEN: usize = 256;

struct Runtimes {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

static RUNTIMES: OnceLock<Option<Runtimes>> = OnceLock::new();

/// Whether a connection starting with `first` is an HTTP/1.1 publish.
pub fn is_publish(first: &[u8]) -> bool {
    ingest_target(first).is_some()
}

/// What follows `POST /ingest/` or `PUT /ingest/` in a request's first bytes.
fn ingest_target(first: &[u8]) -> Option<&[u8]> {
    first
        .strip_prefix(b"POST /ingest/")
        .or_else(|| first.strip_prefix(b"PUT /ingest/"))
}

/// The runtime for a publisher's connection whose first bytes are `first`; `None` if the
/// runtimes could not be started (the shared runtime serves it then).
pub fn for_request(first: &[u8]) -> Option<Handle> {
    let rts = RUNTIMES.get_or_init(start).as_ref()?;
    let n = rts.handles.len();
    let i = match rendition_of(first) {
        Some((feed, rendition)) => {
            let mut h = std::hash::DefaultHasher::new();
            (feed, rendition).hash(&mut h);
            h.finish() as usize % n
        }
        None => rts.next.fetch_add(1, Ordering::Relaxed) % n,
    };
    Some(rts.handles[i].clone())
}

/// The feed and rendition a publish's request line names (`main` when it names none), once
/// its target has been seen whole.
fn rendition_of(first: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = ingest_target(first)?;
    let end = rest.iter().position(|&b| b == b' ' || b == b'?')?;
    let path = &rest[..end];
    Some(match path.iter().position(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (path, b"main"),
    })
}

fn start() -> Option<Runtimes> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let rt = match Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                warn!("cannot start an ingest runtime: {e}; publishers share the main one");
                return None;
            }
        };
        let handle = rt.handle().clone();
        let spawned = std::thread::Builder::new()
            .name(format!("hlsd-ingest-{i}"))
            .spawn(move || rt.block_on(std::future::pending::<()>()));
        if let Err(e) = spawned {
            warn!("cannot start an ingest thread: {e}; publishers share the main runtime");
            return None;
        }
        handles.push(handle);
    }
    Some(Runtimes {
        handles,
        next: AtomicUsize::new(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_are_told_by_their_request_line() {
        assert!(is_publish(b"POST /ingest/cam1 HTTP/1.1\r\n"));
        assert!(is_publish(b"PUT /ingest/cam1/hd HTTP/1.1\r\n"));
        for other in [
            &b"GET /ingest/cam1 HTTP/1.1"[..],
            b"POST /api/feeds",
            b"POST /ingest",
            b"PRI * HTTP/2.0\r\n",
            b"\x16\x03\x01",
            b"POS",
            b"",
        ] {
            assert!(!is_publish(other), "{other:?}");
        }
    }

    #[test]
    fn a_connection_goes_where_its_rendition_does() {
        let line = |l: &'static str| rendition_of(l.as_bytes());
        let cam: Option<(&[u8], &[u8])> = Some((b"cam1", b"main"));
        assert_eq!(line("PUT /ingest/cam1 HTTP/1.1\r\n"), cam);
        assert_eq!(line("POST /ingest/cam1/main HTTP/1.1\r\n"), cam);
        assert_eq!(line("PUT /ingest/cam1?key=k HTTP/1.1\r\n"), cam);
        assert_eq!(
            line("POST /ingest/cam1/hd HTTP/1.1"),
            Some((&b"cam1"[..], &b"hd"[..]))
        );
        // The target not seen whole: dealt in turn.
        assert_eq!(line("PUT /ingest/cam"), None);
        assert_eq!(line("GET /ingest/cam1 HTTP/1.1"), None);
        // Every connection of a rendition on one runtime.
        let a = for_request(b"PUT /ingest/cam1 HTTP/1.1").map(|h| h.id());
        for _ in 0..8 {
            let b = for_request(b"POST /ingest/cam1/main HTTP/1.1").map(|h| h.id());
            assert_eq!(a, b);
        }
    }
}
