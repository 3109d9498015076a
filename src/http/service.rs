//! The server's outermost services, written by hand because they run for every request:
//! [`Dispatch`] sends `/live` requests to [`Playback`] and everything else to the axum
//! router of the other routes; [`Playback`] adds CORS and request counting around
//! [`playback::answer`].
//!
//! Layers added with `Router::layer` wrap every route in a boxed service cloned per request
//! and box each response future; on 2.5 KB playlist answers that overhead (with tower-http's
//! `CorsLayer`, which builds a `HeaderMap` per request, a `from_fn` middleware and `nest`'s
//! URI rewrite) cost more than the handler. Here a playlist request costs one boxed future
//! and a few `match`es before the handler.

use super::{App, playback};
use crate::metrics::Metrics;
use crate::metrics::requests::Tracked;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::Service;
use tracing::{Span, debug, debug_span, error};

/// Routes `/live` and `/live/...` to `playback`, the rest to `other`, each request in its
/// own `tracing` span.
#[derive(Clone)]
pub struct Dispatch {
    pub playback: Playback,
    pub other: Router,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Traced<Either<<Playback as Service<Request>>::Future, RouteFuture<Infallible>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let span = debug_span!(
            "request",
            method = %req.method(),
            uri = %super::redact::Redacted(req.uri()),
            version = ?req.version(),
        );
        let inner = span.in_scope(|| {
            debug!("started processing request");
            let path = req.uri().path();
            if path == "/live" || path.starts_with("/live/") {
                Either::Left(self.playback.call(req))
            } else {
                Either::Right(self.other.call(req))
            }
        });
        Traced { inner, span, start }
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
}

impl<F> Future for Traced<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let Ok(res) = std::task::ready!(Pin::new(&mut this.inner).poll(cx));
        let status = res.status();
        // Field values are evaluated only when the event is enabled: no clock read otherwise.
        if status.is_server_error() {
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
            answer: Box::pin(playback::answer(self.app.clone(), req)),
            tracked: Some(tracked),
            metrics: metrics.clone(),
        })
    }
}

/// A playback answer on its way: gets the CORS headers and is counted when ready.
pub struct Counted {
    answer: BoxFuture<'static, Response>,
    tracked: Option<Tracked>,
    metrics: Arc<Metrics>,
}

impl Future for Counted {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut res = std::task::ready!(self.answer.as_mut().poll(cx));
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        if let Some(tracked) = self.tracked.take() {
            tracked.finish(&self.metrics, &res);
        }
        Poll::Ready(Ok(res))
    }
}
