//! The server's outermost services, written by hand because they run for every request:
//! [`Dispatch`] gives each request an `x-request-id` ([`request_id`]) and sends `/live`
//! requests to [`Playback`] in its own span and everything else to the axum router of the
//! other routes (which tower-http's layers trace, see [`super::trace`]); [`Playback`] adds
//! CORS, request counting and panic catching around [`playback::answer`]. With a playback
//! secret, [`signed::gate`] runs first: signed paths lose their `/s/{expires}-{sig}` prefix
//! and go on as unsigned ones did, refusals are answered by [`Playback`] (CORS, counted)
//! except an unsigned `/watch` page's.
//!
//! Layers added with `Router::layer` wrap every route in a boxed service cloned per request
//! and box each response future; on 2.5 KB playlist answers that overhead (with tower-http's
//! `CorsLayer`, which builds a `HeaderMap` per request, a `from_fn` middleware and `nest`'s
//! URI rewrite) cost more than the handler. Here a playlist request costs one boxed future
//! and a few `match`es before the handler. Each tower-http layer costs a playlist request
//! more than 5 % (benches/layers.rs, figures in ARCHITECTURE.md), so playback has none.

use super::request_id::{self, Echo};
use super::signed::{self, Gate, Signer, Tree};
use super::{App, playback};
use crate::metrics::Metrics;
use crate::metrics::requests::Tracked;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::Service;
use tracing::{Span, debug, debug_span, error};

/// Routes `/live` and `/live/...` to `playback`, the rest to `other`, each request in its
/// own `tracing` span; with a `signer`, after [`signed::gate`].
#[derive(Clone)]
pub struct Dispatch {
    pub playback: Playback,
    pub other: Router,
    /// `auth.playback_secret`'s key, when playback is signed.
    pub signer: Option<Arc<Signer>>,
    /// Whether requests get an `x-request-id` ([`request_id`]); always, except for the
    /// baseline of benches/layers.rs.
    pub request_ids: bool,
}

/// Where [`Dispatch`] sends a request that is not for the router.
enum Target {
    Playback,
    /// A signed `/live` path: strip this many bytes, then playback.
    SignedLive(usize),
    Refuse(StatusCode),
    /// An unsigned `/watch` page with a secret set: 401, no CORS, not counted.
    WatchUnsigned,
}

impl Dispatch {
    /// Playback (and the gate's answers) in the hand-written span.
    fn answer(&mut self, target: Target, mut req: Request) -> Answer {
        match target {
            Target::Playback => Either::Left(self.playback.call(req)),
            Target::SignedLive(skip) if strip(&mut req, skip) => {
                Either::Left(self.playback.call(req))
            }
            Target::SignedLive(_) => self.playback.refuse(&req, StatusCode::NOT_FOUND),
            Target::Refuse(status) => self.playback.refuse(&req, status),
            // The page is not a playback answer: no CORS, not counted.
            Target::WatchUnsigned => {
                Either::Right(ready(Ok(signed::refusal(StatusCode::UNAUTHORIZED))))
            }
        }
    }
}

/// A playback answer, or one of the gate's.
type Answer = Either<<Playback as Service<Request>>::Future, Ready<Result<Response, Infallible>>>;

pub type DispatchFuture = Either<Traced<Answer>, Echo<RouteFuture<Infallible>>>;

/// Takes the first `skip` bytes (the `/s/{token}` prefix) off the request's path: one copy
/// of the rest of the path and query, the URI's other parts moved. False if that is no URI
/// (the request is then only fit to be refused).
fn strip(req: &mut Request, skip: usize) -> bool {
    let Some(rest) = req
        .uri()
        .path_and_query()
        .and_then(|pq| pq.as_str().get(skip..))
        .and_then(|rest| {
            PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(rest.as_bytes())).ok()
        })
    else {
        return false;
    };
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.path_and_query = Some(rest);
    match Uri::from_parts(parts) {
        Ok(uri) => {
            *req.uri_mut() = uri;
            true
        }
        Err(_) => false,
    }
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.call_from(req, None)
    }
}

impl Dispatch {
    /// [`Service::call`] for a request from `peer`, which the router's handlers get as
    /// axum's `ConnectInfo` (publishers' addresses). Playback never reads it: its requests
    /// go without, sparing each the allocation of an extension map.
    pub fn call_from(&mut self, mut req: Request, peer: Option<SocketAddr>) -> DispatchFuture {
        let path = req.uri().path();
        let target = match signed::gate(self.signer.as_deref(), path, signed::unix_now) {
            Gate::Open if path == "/live" || path.starts_with("/live/") => Target::Playback,
            // The router's layers trace it (`trace`).
            Gate::Open => return Either::Right(self.route(req, peer)),
            Gate::Signed {
                tree: Tree::Live,
                skip,
            } => Target::SignedLive(skip),
            Gate::Signed { skip, .. } if strip(&mut req, skip) => {
                return Either::Right(self.route(req, peer));
            }
            Gate::Signed { .. } => Target::Refuse(StatusCode::NOT_FOUND),
            Gate::Unsigned(Tree::Watch) => Target::WatchUnsigned,
            Gate::Unsigned(_) => Target::Refuse(StatusCode::UNAUTHORIZED),
            Gate::Forbidden => Target::Refuse(StatusCode::FORBIDDEN),
            Gate::NotFound => Target::Refuse(StatusCode::NOT_FOUND),
        };
        let start = Instant::now();
        // Playback's id is not put on the request: nothing there reads it.
        let id = self.request_ids.then(|| request_id::of(&req));
        let span = debug_span!(
            "request",
            method = %req.method(),
            uri = %super::redact::Redacted(req.uri()),
            version = ?req.version(),
            request_id = %IdText(id.as_ref()),
        );
        let inner = span.in_scope(|| {
            debug!("started processing request");
            self.answer(target, req)
        });
        Either::Left(Traced {
            inner,
            span,
            start,
            id,
        })
    }

    /// To the router, with the request's id on the request (its span reads it there) and
    /// the peer's address.
    fn route(
        &mut self,
        mut req: Request,
        peer: Option<SocketAddr>,
    ) -> Echo<RouteFuture<Infallible>> {
        if let Some(peer) = peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        let id = self.request_ids.then(|| request_id::assign(&mut req));
        Echo {
            inner: self.other.call(req),
            id,
        }
    }
}

/// An id as text in a span field (empty without one).
struct IdText<'a>(Option<&'a HeaderValue>);

impl std::fmt::Display for IdText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.and_then(|v| v.to_str().ok()).unwrap_or(""))
    }
}

/// A request's answer in its span. What tower-http's `TraceLayer` logs with its defaults
/// (a DEBUG event when the answer is ready, an ERROR event for a 5xx status), without
/// wrapping and boxing the response body, which costs a few hundred nanoseconds a request.
/// With the span's level disabled, `debug_span!` returns a disabled span without
/// formatting its fields.
pub struct Traced<F> {
    inner: F,
    span: Span,
    start: Instant,
    /// Echoed on the answer.
    id: Option<HeaderValue>,
}

impl<F> Future for Traced<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let Ok(mut res) = std::task::ready!(Pin::new(&mut this.inner).poll(cx));
        if let Some(id) = this.id.take() {
            request_id::echo(&mut res, id);
        }
        let status = res.status();
        // Field values are evaluated only when the event is enabled: no clock read otherwise.
        // A 5xx that is part of normal operation (shutdown, a viewer early for the first
        // segment) is logged where it happens; every other one needs a human.
        if status.is_server_error() && res.extensions().get::<super::error::Expected>().is_none() {
            error!(
                classification = %format_args!("Status code: {status}"),
                latency = %format_args!("{} ms", this.start.elapsed().as_millis()),
                "response failed"
            );
        }
        debug!(
            latency = %format_args!("{} ms", this.start.elapsed().as_millis()),
            status = status.as_u16(),
            "finished processing request"
        );
        Poll::Ready(Ok(res))
    }
}

/// Playback grants CORS to any origin on every response, errors included, exposing Age;
/// an `OPTIONS` request is a preflight, answered here. Every answer is counted. The rest is
/// [`playback::answer`].
#[derive(Clone)]
pub struct Playback {
    pub app: App,
}

const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const EXPOSED: HeaderValue = HeaderValue::from_static("age");
const METHODS: HeaderValue = HeaderValue::from_static("GET,HEAD,OPTIONS");

impl Service<Request> for Playback {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, Counted>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let metrics = &self.app.metrics;
        let tracked = Tracked::start(metrics, &req);
        if req.method() == Method::OPTIONS {
            let mut res = Response::new(Body::empty());
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            tracked.finish(metrics, &res);
            return Either::Left(ready(Ok(res)));
        }
        Either::Right(Counted {
            answer: Box::pin(
                AssertUnwindSafe(playback::answer(self.app.clone(), req)).catch_unwind(),
            ),
            tracked: Some(tracked),
            metrics: metrics.clone(),
        })
    }
}

impl Playback {
    /// A refusal of a playback path (401, 403, 404), with CORS and counted like any answer.
    fn refuse(&self, req: &Request, status: StatusCode) -> Answer {
        let tracked = Tracked::start(&self.app.metrics, req);
        let mut res = signed::refusal(status);
        add_cors(&mut res);
        tracked.finish(&self.app.metrics, &res);
        Either::Right(ready(Ok(res)))
    }
}

pub(crate) fn add_cors(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
}

/// A playback answer on its way: gets the CORS headers and is counted when ready. A
/// handler that panics answers 500 (logged; the connection and its other streams live
/// on), as tower-http's `CatchPanic` does for the other routes: by hand here, because
/// that layer boxes every response body (benches/layers.rs), while this answer future is
/// boxed already.
pub struct Counted {
    answer: BoxFuture<'static, std::thread::Result<Response>>,
    tracked: Option<Tracked>,
    metrics: Arc<Metrics>,
}

impl Future for Counted {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut res = match std::task::ready!(self.answer.as_mut().poll(cx)) {
            Ok(res) => res,
            Err(panic) => panicked(panic),
        };
        add_cors(&mut res);
        if let Some(tracked) = self.tracked.take() {
            tracked.finish(&self.metrics, &res);
        }
        Poll::Ready(Ok(res))
    }
}

/// The answer for a handler that panicked, logged at ERROR with the panic's message.
pub fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let msg = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    error!("handler panicked: {msg}");
    let mut res = Response::new(Body::from("internal error\n"));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
