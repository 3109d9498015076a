//! The per-request part of a connection: [`ConnService`] hands hyper's requests to the
//! application ([`Dispatch`]) with the peer address (axum's `ConnectInfo` for the router's
//! handlers), marks the connection as having sent a request head, and counts the request
//! as active until its answer has been sent ([`ConnBody`] holds the count).
//!
//! It does what `axum::serve` with `into_make_service_with_connect_info` did per request
//! (a clone of the service, the `ConnectInfo` extension, the body conversion) plus a few
//! atomic operations: no allocation is added, and playback requests carry no extension.

use super::limit::{Active, Slot};
use crate::http::service::{Dispatch, DispatchFuture};
use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The service of one connection.
pub struct ConnService {
    dispatch: Dispatch,
    peer: SocketAddr,
    slot: Arc<Slot>,
}

impl ConnService {
    pub fn new(dispatch: Dispatch, peer: SocketAddr, slot: Arc<Slot>) -> ConnService {
        ConnService {
            dispatch,
            peer,
            slot,
        }
    }

    /// Hands a request to the application: hyper's (through `call`), or one read by
    /// [`super::publish`].
    pub fn dispatch(&self, req: Request<Body>) -> ConnFuture {
        self.slot.head_arrived();
        let active = self.slot.request();
        // Dispatch is always ready and cheap to clone (two `Arc`s), as under axum::serve.
        let inner = self.dispatch.clone().call_from(req, Some(self.peer));
        ConnFuture {
            inner,
            active: Some(active),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ConnBody>;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, req: Request<Incoming>) -> ConnFuture {
        // A request without a body (a GET, every playback request) gets an empty one, which
        // axum boxes without allocating; hyper's would be boxed on the heap.
        self.dispatch(req.map(|body| {
            if http_body::Body::is_end_stream(&body) {
                Body::empty()
            } else {
                Body::new(body)
            }
        }))
    }
}

/// The application's answer on its way; the request stays active in its body.
pub struct ConnFuture {
    inner: DispatchFuture,
    active: Option<Active>,
}

impl Future for ConnFuture {
    type Output = Result<Response<ConnBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Ok(res) = std::task::ready!(Pin::new(&mut this.inner).poll(cx));
        let active = this.active.take();
        Poll::Ready(Ok(res.map(|inner| ConnBody {
            inner,
            _active: active,
        })))
    }
}

/// A response body that keeps its request counted as active until hyper drops it (sent, or
/// the connection gone).
pub struct ConnBody {
    inner: Body,
    _active: Option<Active>,
}

impl http_body::Body for ConnBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
