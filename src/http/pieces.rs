//! A stream published in pieces: successive `PUT`s (or `POST`s) each carrying the next
//! bytes of one stream, the way GStreamer's `souphttpclientsink` publishes: a first request
//! with the buffers queued so far, then, once it is answered, one with those queued since,
//! `Content-Range: bytes {offset}-{last}/*`, each on a connection of its own.
//!
//! A publish goes on in pieces when its request has a `Content-Range`, or a
//! `Content-Length` body and `Connection: keep-alive` (a client that means to send more).
//! Its session then outlives the request: at the body's end the request is answered `200`
//! and the stream waits up to [`PIECE_WAIT`] (at most `feeds.idle_timeout`) for the piece
//! starting where it stopped, from the same address with the same key. That piece's body
//! continues the same session (same feed session, no discontinuity); a piece starting
//! before that point (one sent again) has its bytes already taken skipped; one starting
//! after it gets `416` and the stream goes on waiting. When no piece comes, the stream
//! ends as a publish does when its body ends. A piece that continues no waiting stream is
//! published as a new stream starting at its offset (hlsd restarted, or the wait passed);
//! a first piece (no `Content-Range`) from the waiting stream's publisher ends that stream
//! and starts another (the pipeline was started again), as a reconnect does.
//!
//! The session is the transport-neutral one: a [`PiecesSource`] is its [`Source`], the
//! bodies one after the other.

use super::error::HttpError;
use crate::ingest::session::{Input, Source};
use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

/// How long a stream in pieces waits for its next piece, at most.
pub const PIECE_WAIT: Duration = Duration::from_secs(5);

/// A `Content-Range` that does not parse.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRange;

/// Where a piece goes in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceStart {
    /// A stream's first piece: a `Content-Length` body with `Connection: keep-alive` and
    /// no `Content-Range`. From the publisher of a stream waiting for its next piece, it
    /// ends that stream and starts a new one (a pipeline started again).
    New,
    /// At this stream offset (`Content-Range`).
    At(u64),
}

impl PieceStart {
    pub fn offset(self) -> u64 {
        match self {
            PieceStart::New => 0,
            PieceStart::At(first) => first,
        }
    }
}

/// Whether a publish's request is a piece of a stream, and where it goes.
pub fn piece_start(headers: &axum::http::HeaderMap) -> Result<Option<PieceStart>, BadRange> {
    use axum::http::header;
    if let Some(range) = headers.get(header::CONTENT_RANGE) {
        // bytes FIRST-LAST/TOTAL or bytes FIRST-LAST/*
        let s = range.to_str().map_err(|_| BadRange)?;
        let spec = s
            .trim()
            .strip_prefix("bytes ")
            .ok_or(BadRange)?
            .trim_start();
        let (span, _total) = spec.split_once('/').ok_or(BadRange)?;
        let (first, last) = span.split_once('-').ok_or(BadRange)?;
        let first: u64 = first.parse().map_err(|_| BadRange)?;
        let last: u64 = last.parse().map_err(|_| BadRange)?;
        if last < first {
            return Err(BadRange);
        }
        return Ok(Some(PieceStart::At(first)));
    }
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let keep_alive = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"keep-alive"))
    });
    let with_length = headers.contains_key(header::CONTENT_LENGTH);
    Ok((with_length && !chunked && keep_alive).then_some(PieceStart::New))
}

/// The answer a publish's session ends with.
pub type Answer = Result<(StatusCode, String), HttpError>;

/// A piece handed to the stream waiting for it.
pub struct Piece {
    pub body: Body,
    /// Where it goes (`New`: the waiting stream ends, and it starts another).
    pub start: PieceStart,
    pub reply: oneshot::Sender<PieceEnd>,
}

/// How a request's piece ended.
pub enum PieceEnd {
    /// Taken whole; the stream now holds this many bytes and waits for more.
    Taken(u64),
    /// It starts past the stream's end (this many bytes): refused, its body to read away.
    Gap(u64, Body),
    /// The stream ended while its body was read.
    Ended(Answer),
    /// The stream it was sent to ended before taking it: to publish anew.
    Retry(Body, PieceStart),
}

/// The streams waiting for their next piece, by feed, then rendition (looked up by `&str`,
/// so a piece's lookup allocates nothing).
#[derive(Default)]
pub struct Waiting {
    map: Mutex<HashMap<String, HashMap<String, Waiter>>>,
    ids: AtomicU64,
}

struct Waiter {
    id: u64,
    tx: mpsc::Sender<Piece>,
    key: Option<String>,
    ip: IpAddr,
}

impl Waiting {
    /// The stream waiting for the next piece of `feed`/`rendition`, if it is this publisher's
    /// (same address, same key).
    pub fn find(
        &self,
        feed: &str,
        rendition: &str,
        key: Option<&str>,
        ip: IpAddr,
    ) -> Option<mpsc::Sender<Piece>> {
        let map = self.map.lock().ok()?;
        let w = map.get(feed)?.get(rendition)?;
        (w.ip == ip && w.key.as_deref() == key).then(|| w.tx.clone())
    }

    fn insert(&self, (feed, rendition): &(String, String), w: Waiter) {
        if let Ok(mut map) = self.map.lock() {
            map.entry(feed.clone())
                .or_default()
                .insert(rendition.clone(), w);
        }
    }

    fn remove(&self, (feed, rendition): &(String, String), id: u64) {
        if let Ok(mut map) = self.map.lock()
            && let Some(renditions) = map.get_mut(feed)
            && renditions.get(rendition).is_some_and(|w| w.id == id)
        {
            renditions.remove(rendition);
            if renditions.is_empty() {
                map.remove(feed);
            }
        }
    }
}

/// Who publishes a stream in pieces: its pieces must come from the same address with the
/// same key.
pub struct Publisher {
    pub feed: String,
    pub rendition: String,
    pub key: Option<String>,
    pub ip: IpAddr,
}

/// The bodies of a stream's pieces, one after the other, as a session's [`Source`].
pub struct PiecesSource {
    body: Option<Body>,
    /// The answer of the request whose body is being read.
    reply: Option<oneshot::Sender<PieceEnd>>,
    /// Stream offset of the next byte.
    received: u64,
    /// Pieces taken so far (the first included).
    pieces: u64,
    /// Bytes at the start of the body being read that the stream already holds.
    skip: u64,
    wait: Duration,
    waiting: Arc<Waiting>,
    name: (String, String),
    key: Option<String>,
    ip: IpAddr,
    id: u64,
    tx: mpsc::Sender<Piece>,
    rx: mpsc::Receiver<Piece>,
    /// A new stream's first piece that ended this one, to send back once it has ended.
    restart: Option<Piece>,
}

impl PiecesSource {
    /// The stream of a first piece, `body` starting at stream offset `first`, answered on `reply`;
    /// it waits `wait` for each next piece.
    pub fn new(
        waiting: Arc<Waiting>,
        who: Publisher,
        body: Body,
        first: u64,
        reply: oneshot::Sender<PieceEnd>,
        wait: Duration,
    ) -> PiecesSource {
        let (tx, rx) = mpsc::channel(1);
        let id = waiting.ids.fetch_add(1, Ordering::Relaxed);
        PiecesSource {
            body: Some(body),
            reply: Some(reply),
            received: first,
            pieces: 1,
            skip: 0,
            wait,
            waiting,
            name: (who.feed, who.rendition),
            key: who.key,
            ip: who.ip,
            id,
            tx,
            rx,
            restart: None,
        }
    }

    /// Ends the stream: no piece is taken any more (one already handed over is sent back
    /// to be published anew). Returns the body being read, if its end was not reached,
    /// and the answer of its request, if not yet given.
    pub fn finish(&mut self) -> (Option<Body>, Option<oneshot::Sender<PieceEnd>>) {
        self.waiting.remove(&self.name, self.id);
        self.rx.close();
        let queued = std::iter::from_fn(|| self.rx.try_recv().ok());
        for p in self
            .restart
            .take()
            .into_iter()
            .chain(queued.collect::<Vec<_>>())
        {
            let _ = p.reply.send(PieceEnd::Retry(p.body, p.start));
        }
        (self.body.take(), self.reply.take())
    }

    /// Waits for the piece that continues the stream; `None` when none came in time.
    async fn next_piece(&mut self) -> Option<()> {
        self.waiting.insert(
            &self.name,
            Waiter {
                id: self.id,
                tx: self.tx.clone(),
                key: self.key.clone(),
                ip: self.ip,
            },
        );
        // Answered once it can be followed: the client sends its next piece after this.
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(PieceEnd::Taken(self.received));
        }
        let deadline = tokio::time::sleep(self.wait);
        tokio::pin!(deadline);
        let piece = loop {
            let piece = tokio::select! {
                p = self.rx.recv() => p?,
                () = &mut deadline => {
                    info!(
                        pieces = self.pieces,
                        bytes = self.received,
                        "no next piece within {} s: the stream in pieces ends",
                        self.wait.as_secs_f64()
                    );
                    break None;
                }
            };
            match piece.start {
                PieceStart::New => {
                    self.restart = Some(piece);
                    break None;
                }
                PieceStart::At(first) if first > self.received => {
                    let _ = piece.reply.send(PieceEnd::Gap(self.received, piece.body));
                }
                PieceStart::At(first) => break Some((piece, first)),
            }
        };
        self.waiting.remove(&self.name, self.id);
        let (piece, first) = piece?;
        self.pieces += 1;
        self.skip = self.received - first;
        self.body = Some(piece.body);
        self.reply = Some(piece.reply);
        Some(())
    }
}

impl Source for PiecesSource {
    async fn next(&mut self) -> Option<Result<Input, String>> {
        loop {
            let Some(body) = self.body.as_mut() else {
                self.next_piece().await?;
                continue;
            };
            match body.frame().await {
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    // Bytes of a piece sent again that the stream already holds.
                    let skip = self.skip.min(data.len() as u64);
                    self.skip -= skip;
                    let _ = data.split_to(skip as usize);
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len() as u64;
                    return Some(Ok(Input::Ts(data)));
                }
                Some(Err(e)) => return Some(Err(e.to_string())),
                None => self.body = None,
            }
        }
    }
}

impl Drop for PiecesSource {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn which_requests_are_pieces() {
        let gst = [("content-length", "564"), ("connection", "Keep-Alive")];
        assert_eq!(piece_start(&headers(&gst)), Ok(Some(PieceStart::New)));
        let next = [
            ("content-length", "100"),
            ("content-range", "bytes 564-663/*"),
        ];
        assert_eq!(piece_start(&headers(&next)), Ok(Some(PieceStart::At(564))));
        let sized = [("content-range", "bytes 0-99/100")];
        assert_eq!(piece_start(&headers(&sized)), Ok(Some(PieceStart::At(0))));
        // A stream in one request: chunked, or no keep-alive asked for.
        let chunked = [
            ("transfer-encoding", "chunked"),
            ("connection", "keep-alive"),
        ];
        assert_eq!(piece_start(&headers(&chunked)), Ok(None));
        assert_eq!(piece_start(&headers(&[("content-length", "9")])), Ok(None));
        let close = [("content-length", "9"), ("connection", "close")];
        assert_eq!(piece_start(&headers(&close)), Ok(None));
        for bad in [
            "bytes 5-4/*",
            "bytes x-4/*",
            "items 0-4/*",
            "bytes 0-4",
            "bytes -4/*",
        ] {
            let h = headers(&[("content-range", bad)]);
            assert_eq!(piece_start(&h), Err(BadRange), "{bad}");
        }
    }
}
