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
use futures_util::future::{BoxFuture, Either, Ready, ready};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// Routes `/live` and `/live/...` to `playback`, the rest to `other`.
#[derive(Clone)]
pub struct Dispatch {
    pub playback: Playback,
    pub other: Router,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<<Playback as Service<Request>>::Future, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both routers are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        if path == "/live" || path.starts_with("/live/") {
            Either::Left(self.playback.call(req))
        } else {
            Either::Right(self.other.call(req))
        }
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
