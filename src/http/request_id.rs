//! `x-request-id` on every request and its answer (`service::Dispatch` applies it): an
//! incoming id is kept when it is a plausible id (1 to 128 bytes of letters, digits and
//! `-_.:+/=`), otherwise one is made from this process's start time and a counter. The
//! request's span records it; the answer echoes it, marked never-indexed for HPACK.
//!
//! Hand-written rather than tower-http's `SetRequestId`/`PropagateRequestId`: those need
//! tower-http's `request-id` feature, which builds `uuid` (not otherwise in the build),
//! keep any incoming value, and put the id in the request's extensions. A made id costs a
//! counter (per thread, taken from the process's in blocks) and one small allocation;
//! playback does not put it on the request.

use axum::http::{HeaderName, HeaderValue, Request, Response};
use bytes::Bytes;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id kept.
pub const MAX_LEN: usize = 128;

/// Whether an incoming id is kept: it is logged and echoed, so only plain characters.
pub fn valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b))
}

/// The start of every id this process makes: its start time in seconds, 8 hex digits, so
/// that ids differ across restarts.
static EPOCH: LazyLock<u32> = LazyLock::new(|| {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
});
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Counter values a thread takes from [`NEXT`] at a time, so that threads do not all write
/// one cache line per request.
const BLOCK: u64 = 1024;

thread_local! {
    /// This thread's next counter value and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A counter value no other call gets: unique in the process, in order within a thread.
fn next_counter() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// A new id, `{epoch:08x}-{counter:016x}`.
pub fn generate() -> HeaderValue {
    let n = next_counter();
    let mut id = [b'-'; 25];
    hex(&mut id[..8], u64::from(*EPOCH));
    hex(&mut id[9..], n);
    // Owned by the `Bytes`: one allocation, and clones only count references.
    HeaderValue::from_maybe_shared(Bytes::from_owner(id)).expect("hex digits and a dash")
}

fn hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// The request's id: the incoming one if [`valid`], else a new one.
pub fn of<B>(req: &Request<B>) -> HeaderValue {
    match req.headers().get(X_REQUEST_ID) {
        Some(id) if valid(id.as_bytes()) => id.clone(),
        _ => generate(),
    }
}

/// [`of`], and a new id put on the request (for the routes whose span reads it there).
pub fn assign<B>(req: &mut Request<B>) -> HeaderValue {
    match req.headers().get(X_REQUEST_ID) {
        Some(id) if valid(id.as_bytes()) => id.clone(),
        _ => {
            let id = generate();
            req.headers_mut().insert(X_REQUEST_ID, id.clone());
            id
        }
    }
}

/// Puts the request's id on its answer, never-indexed for HPACK: unique to each answer, it
/// would otherwise be added to the HTTP/2 connection's dynamic table (evicting the fields
/// that repeat) and compared with the ids already there, answer after answer.
pub fn echo<B>(res: &mut Response<B>, mut id: HeaderValue) {
    id.set_sensitive(true);
    res.headers_mut().insert(X_REQUEST_ID, id);
}

/// An answer on its way: gets the request's id when ready.
pub struct Echo<F> {
    pub inner: F,
    pub id: Option<HeaderValue>,
}

impl<F, R, E> Future for Echo<F>
where
    F: Future<Output = Result<Response<R>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut res = std::task::ready!(Pin::new(&mut this.inner).poll(cx))?;
        if let Some(id) = this.id.take() {
            echo(&mut res, id);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid(b"abc-123"));
        assert!(valid(b"0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(valid(b"YWJj+/=:_."));
        assert!(valid(&[b'a'; MAX_LEN]));
        assert!(!valid(b""));
        assert!(!valid(&[b'a'; MAX_LEN + 1]));
        assert!(!valid(b"a b"));
        assert!(!valid(b"a\"b"));
        assert!(!valid("é".as_bytes()));
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 25);
        assert!(valid(a.as_bytes()), "{a:?}");
    }

    #[test]
    fn echoed_ids_are_never_indexed() {
        let mut res = Response::new(());
        let id = generate();
        echo(&mut res, id.clone());
        let sent = res.headers().get(X_REQUEST_ID).expect("echoed");
        assert_eq!(sent, &id);
        assert!(sent.is_sensitive());
    }

    #[test]
    fn assign_keeps_valid_and_replaces_invalid() {
        let mut req = Request::new(());
        req.headers_mut()
            .insert(X_REQUEST_ID, HeaderValue::from_static("mine-1"));
        assert_eq!(assign(&mut req), "mine-1");
        req.headers_mut()
            .insert(X_REQUEST_ID, HeaderValue::from_static("not valid"));
        let made = assign(&mut req);
        assert_ne!(made, "not valid");
        assert_eq!(req.headers().get(X_REQUEST_ID), Some(&made));
        let mut req = Request::new(());
        let made = assign(&mut req);
        assert_eq!(req.headers().get(X_REQUEST_ID), Some(&made));
        assert_eq!(of(&req), made);
        assert_ne!(of(&Request::new(())), made);
    }
}
