//! The server's outermost services, written by hand because they run for every request:
//! [`Dispatch`] sends `/live` requests to the playback router and everything else to the
//! main router, and [`Playback`] wraps the playback router with CORS and request counting.
//!
//! Layers added with `Router::layer` wrap every route in a boxed, cloned-per-request service
//! and box each response future; on 2.5 KB playlist answers that overhead (with tower-http's
//! `CorsLayer`, which builds a `HeaderMap` per request, and a `from_fn` middleware) cost more
//! than the handler. Here each request costs two `match`es and the inner router's own work.

use crate::metrics::Metrics;
use crate::metrics::requests::Tracked;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
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
/// an `OPTIONS` request is a preflight, answered here. Every answer is counted.
#[derive(Clone)]
pub struct Playback {
    pub router: Router,
    pub metrics: Arc<Metrics>,
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
        let tracked = Tracked::start(&self.metrics, &req);
        if req.method() == Method::OPTIONS {
            let mut res = Response::new(Body::empty());
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            tracked.finish(&self.metrics, &res);
            return Either::Left(ready(Ok(res)));
        }
        Either::Right(Counted {
            inner: self.router.call(req),
            tracked: Some((tracked, self.metrics.clone())),
        })
    }
}

/// A playback answer on its way: gets the CORS headers and is counted when ready.
pub struct Counted {
    inner: <Router as Service<Request>>::Future,
    tracked: Option<(Tracked, Arc<Metrics>)>,
}

impl Future for Counted {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut res) = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        if let Some((tracked, metrics)) = self.tracked.take() {
            tracked.finish(&metrics, &res);
        }
        Poll::Ready(Ok(res))
    }
}
