//! An HTTP/1.1 publish served without hyper's connection task: on an ingest runtime
//! ([`super::ingest_rt`]), a plain connection's request head is read and parsed here
//! (httparse, as hyper does), the request goes through the same service as any other
//! ([`ConnService`]), and its body is a [`PublishBody`] that reads the socket itself, in the
//! task that consumes it (the session's), decoding its framing from one large buffer
//! ([`super::chunked`]).
//!
//! Through hyper, each body chunk was decoded by the connection's task and handed to the
//! session's task through a one-chunk channel: two task polls and a wake-up per chunk, and
//! reads of at most hyper's buffer. Here a wake-up reads every byte that is ready (up to
//! [`READ_BUF`]) and the chunks in it are taken one after the other with no other task
//! involved.
//!
//! Only the plain case is served here: an HTTP/1.1 `POST`/`PUT` whose head parses, with a
//! `Content-Length` or `Transfer-Encoding: chunked` body (or none), no upgrade. Anything
//! else (a malformed or oversized head, HTTP/1.0, other codings, both lengths) goes to
//! hyper with the bytes read so far ([`Rewind`]), which answers it as for any connection.
//! The answer is written as hyper writes it (status line, the handler's fields, then
//! `content-length` and `date`), with `connection: close` added: the connection ends after
//! its publish. `Expect: 100-continue` is answered when the handler first reads the body.

use super::Shared;
use super::chunked::{BodyError, Decoder, Step};
use super::conn::{self, Stage};
use super::limit::Admitted;
use super::rewind::Rewind;
use super::service::ConnService;
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Request, StatusCode, Uri, Version};
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};
use tracing::debug;

/// Header fields a request may have (hyper's default).
pub const MAX_HEADERS: usize = 100;
/// Bytes of request head read here at most; a longer head is hyper's to answer.
pub const MAX_HEAD: usize = 64 * 1024;
/// Longest request target (hyper's).
const MAX_URI_LEN: usize = u16::MAX as usize - 1;
/// The body's read buffer: one read takes up to this much.
pub const READ_BUF: usize = 64 * 1024;
/// Below this much free room the read buffer is reclaimed or grown before a read.
const MIN_READ: usize = 16 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Serves one plain connection whose first bytes were a publish's request line.
pub async fn serve(
    mut tcp: TcpStream,
    peer: SocketAddr,
    first_head: Instant,
    shared: Arc<Shared>,
    admitted: Admitted,
) {
    let slot = admitted.slot().clone();
    let mut stage = shared.stage.clone();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes already looked at for the head's end.
    let mut scanned = 0;
    let head = loop {
        // Parsed only once its end has come: a head sent a byte at a time costs one scan of
        // each byte, not a parse of the whole head per byte.
        let parsed = if head_ends(&buf, scanned) {
            parse_head(&buf)
        } else {
            Parsed::Partial
        };
        scanned = buf.len();
        match parsed {
            Parsed::Ours(head) => break head,
            Parsed::Partial if buf.len() < MAX_HEAD => {}
            Parsed::Partial | Parsed::Hyper => {
                let io = Rewind::new(buf.freeze(), tcp);
                return conn::serve(io, peer, first_head, false, &shared, &admitted).await;
            }
        }
        buf.reserve(8 * 1024);
        tokio::select! {
            biased;
            r = tcp.read_buf(&mut buf) => match r {
                Ok(0) => {
                    debug!(%peer, "connection closed before its request head ended");
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    debug!(%peer, "connection ended: {e}");
                    return;
                }
            },
            _ = sleep_until(first_head) => {
                debug!(%peer, "closed: no request head within the header timeout");
                return;
            }
            _ = slot.evicted() => {
                debug!(%peer, "closed: too many connections without a request head, this the oldest");
                return;
            }
            _ = stage.wait_for(|s| *s != Stage::Running) => return,
        }
    };
    bytes::Buf::advance(&mut buf, head.len);
    let (read, mut write) = tcp.into_split();
    let admitted = Arc::new(admitted);
    let (wants_continue, mut continue_rx) = if head.expect_continue {
        let (tx, rx) = oneshot::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let body = PublishBody {
        read,
        buf,
        decoder: head.decoder,
        wants_continue,
        failed: false,
        _admitted: admitted.clone(),
    };
    let service = ConnService::new(shared.dispatch.clone(), peer, slot);
    let answer = service.dispatch(head.req.map(|()| Body::new(body)));
    tokio::pin!(answer);
    let res = loop {
        let wants_continue = tokio::select! {
            biased;
            r = async { continue_rx.as_mut()?.await.ok() }, if continue_rx.is_some() => r.is_some(),
            r = &mut answer => {
                let Ok(res) = r;
                break res;
            }
            _ = stage.wait_for(|s| *s == Stage::Closing) => return,
        };
        continue_rx = None;
        if wants_continue && let Err(e) = write.write_all(CONTINUE).await {
            debug!(%peer, "connection ended: {e}");
        }
    };
    let (mut parts, body) = res.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            debug!(%peer, "answer failed: {e}");
            return;
        }
    };
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    let out = encode(parts.status, &parts.headers, &body);
    tokio::select! {
        biased;
        r = write.write_all(&out) => {
            if let Err(e) = r {
                debug!(%peer, "connection ended: {e}");
            }
        }
        _ = stage.wait_for(|s| *s == Stage::Closing) => {}
    }
    // Dropping the write half sends FIN; a body still read away (a lingering close) keeps
    // the read half and the connection's admission until it is done.
}

/// A parsed request head this module serves.
struct Head {
    req: Request<()>,
    decoder: Decoder,
    expect_continue: bool,
    /// Bytes of the head.
    len: usize,
}

enum Parsed {
    Ours(Box<Head>),
    /// More bytes are needed.
    Partial,
    /// Not the plain case: hyper's to serve.
    Hyper,
}

/// Whether `buf` holds the empty line that ends a head (LF LF or LF CR LF, as httparse
/// takes them) at or after `from` (less the two bytes before it, where one may begin).
fn head_ends(buf: &[u8], from: usize) -> bool {
    let mut at = from.saturating_sub(2);
    while let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
        let lf = at + i;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => return true,
            _ => at = lf + 1,
        }
    }
    false
}

fn parse_head(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Hyper,
    };
    let method = match req.method {
        Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        _ => return Parsed::Hyper,
    };
    let (Some(1), Some(path)) = (req.version, req.path) else {
        return Parsed::Hyper;
    };
    if path.len() > MAX_URI_LEN {
        return Parsed::Hyper;
    }
    let Ok(uri) = path.parse::<Uri>() else {
        return Parsed::Hyper;
    };
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let mut chunked = false;
    let mut length: Option<u64> = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::Hyper;
        };
        match name {
            header::TRANSFER_ENCODING => {
                if chunked || !value.as_bytes().eq_ignore_ascii_case(b"chunked") {
                    return Parsed::Hyper;
                }
                chunked = true;
            }
            header::CONTENT_LENGTH => {
                let digits = value.as_bytes();
                if length.is_some() || digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Parsed::Hyper;
                }
                let Some(n) = value.to_str().ok().and_then(|s| s.parse().ok()) else {
                    return Parsed::Hyper;
                };
                length = Some(n);
            }
            header::UPGRADE => return Parsed::Hyper,
            header::CONNECTION
                if value
                    .as_bytes()
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade")) =>
            {
                return Parsed::Hyper;
            }
            header::EXPECT => {
                expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
        map.append(name, value);
    }
    let decoder = match (chunked, length) {
        (true, Some(_)) => return Parsed::Hyper,
        (true, None) => Decoder::chunked(),
        (false, length) => Decoder::length(length.unwrap_or(0)),
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = map;
    Parsed::Ours(Box::new(Head {
        req,
        decoder,
        expect_continue,
        len,
    }))
}

/// An answer as hyper writes it on HTTP/1.1: the status line, the fields in order (a
/// `content-length` the handler set in its place), then `content-length` and `date` unless
/// set. No body, and no length, for 1xx, 204 and 304.
fn encode(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + headers.len() * 32 + body.len());
    let reason = status.canonical_reason().unwrap_or("<none>");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", status.as_str()).as_bytes());
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut wrote_len = bodiless;
    for (name, value) in headers {
        if name == header::TRANSFER_ENCODING || (bodiless && name == header::CONTENT_LENGTH) {
            continue;
        }
        wrote_len |= name == header::CONTENT_LENGTH;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_len {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if !headers.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        out.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(body);
    }
    out
}

/// A publish's request body, read from the socket by whoever polls it.
pub struct PublishBody {
    read: OwnedReadHalf,
    /// Bytes read and not yet handed out (body bytes, or framing).
    buf: BytesMut,
    decoder: Decoder,
    /// Told when the body is first read: `100 Continue` goes out then.
    wants_continue: Option<oneshot::Sender<()>>,
    failed: bool,
    /// The connection counts against the limit as long as its body is read.
    _admitted: Arc<Admitted>,
}

impl http_body::Body for PublishBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(tx) = this.wants_continue.take() {
            let _ = tx.send(());
        }
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match this.decoder.decode(&mut this.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::Done) => return Poll::Ready(None),
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if this.buf.capacity() - this.buf.len() < MIN_READ {
                // Reclaims the buffer in place when every piece handed out is gone.
                this.buf.reserve(READ_BUF);
            }
            let read = tokio_util::io::poll_read_buf(Pin::new(&mut this.read), cx, &mut this.buf);
            let e = match ready!(read) {
                Ok(0) => BodyError::Closed,
                Ok(_) => continue,
                Err(e) => BodyError::Io(e.to_string()),
            };
            this.failed = true;
            return Poll::Ready(Some(Err(e)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(head: &[u8]) -> Box<Head> {
        match parse_head(head) {
            Parsed::Ours(h) => h,
            Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(head)),
            Parsed::Hyper => panic!("hyper's: {:?}", String::from_utf8_lossy(head)),
        }
    }

    #[test]
    fn plain_publishes_are_served_here() {
        let head = b"POST /ingest/cam1?key=k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n5\r\n";
        let h = ours(head);
        assert_eq!(h.len, head.len() - 3);
        assert_eq!(h.req.method(), Method::POST);
        assert_eq!(h.req.uri().path(), "/ingest/cam1");
        assert_eq!(h.req.uri().query(), Some("key=k"));
        assert_eq!(h.req.headers().get_all("x-a").iter().count(), 2);
        assert!(!h.expect_continue);
        assert_eq!(h.decoder.remaining(), None);
        let h =
            ours(b"PUT /ingest/a/b HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-Continue\r\n\r\n");
        assert_eq!(h.decoder.remaining(), Some(12));
        assert!(h.expect_continue);
        let h = ours(b"POST /ingest/a HTTP/1.1\r\n\r\n");
        assert!(h.decoder.is_done());
    }

    #[test]
    fn a_head_ends_at_its_empty_line_however_it_was_cut() {
        let head = b"POST /ingest/a HTTP/1.1\r\nHost: x\r\n\r\nbody";
        let end = head.len() - 4;
        for cut in 0..=head.len() {
            // Bytes up to `cut` were scanned without finding it; the rest has just come.
            let found = head_ends(&head[..cut], 0) || head_ends(head, cut);
            assert!(found, "cut {cut}");
            assert_eq!(head_ends(&head[..cut], 0), cut >= end, "cut {cut}");
        }
        assert!(head_ends(b"POST /ingest/a HTTP/1.1\n\n", 0));
        assert!(!head_ends(b"POST /ingest/a HTTP/1.1\r\nHost: x\r\n", 0));
        assert!(!head_ends(b"POST /ingest/a HTTP/1.1\r\n\r", 0));
    }

    #[test]
    fn anything_else_is_hyper_s() {
        for head in [
            &b"POST /ingest/a HTTP/1.0\r\n\r\n"[..],
            b"POST /ingest/a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",
            b"POST /ingest/a HTTP/1.1\r\nBad Name: 1\r\n\r\n",
            b"POST /ingest/\x01 HTTP/1.1\r\n\r\n",
            b"GET /ingest/a HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(head), Parsed::Hyper),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        let mut many = b"POST /ingest/a HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse_head(&many), Parsed::Hyper));
        assert!(matches!(
            parse_head(b"POST /ingest/a HTTP/1.1\r\nHost: "),
            Parsed::Partial
        ));
    }

    #[test]
    fn answers_are_written_as_hyper_writes_them() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let out = encode(StatusCode::CONFLICT, &headers, b"busy\n");
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(
            lines[..5],
            [
                "HTTP/1.1 409 Conflict",
                "content-type: text/plain",
                "x-request-id: abc",
                "connection: close",
                "content-length: 5"
            ]
        );
        assert!(lines[5].starts_with("date: ") && lines[5].ends_with(" GMT"));
        assert_eq!(lines.len(), 6);
        assert_eq!(body, "busy\n");
        let out = encode(StatusCode::OK, &HeaderMap::new(), b"");
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\ndate: "));
        let out = encode(StatusCode::NO_CONTENT, &HeaderMap::new(), b"");
        assert!(out.starts_with(b"HTTP/1.1 204 No Content\r\ndate: "));
        assert!(out.ends_with(b"GMT\r\n\r\n"));
    }
}
