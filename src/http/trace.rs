//! tower-http's `TraceLayer` for the routes other than playback (ingest, admin, web,
//! `/healthz`), made to log what hlsd's own playback span logs: a `request` span at DEBUG
//! with method, URI (publish keys redacted), version and request id; its first event lists
//! the request headers, in which `Authorization`, `Proxy-Authorization` and `Cookie` read
//! `Sensitive` (marked by `SetSensitiveRequestHeadersLayer`, see [`layer`]); an ERROR event
//! for a 5xx unless it is part of normal operation ([`super::error::Expected`]).

use super::redact::Redacted;
use super::request_id::X_REQUEST_ID;
use axum::http::{Request, Response, header};
use std::fmt;
use tower::ServiceBuilder;
use tower::layer::util::Stack;
use tower_http::classify::{
    ClassifiedResponse, ClassifyResponse, NeverClassifyEos, ServerErrorsFailureClass,
    SharedClassifier,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{MakeSpan, OnRequest, TraceLayer};
use tracing::{Span, debug, debug_span};

/// Headers whose values never reach a log line.
pub const SENSITIVE: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// The layers of the non-playback routes: sensitive headers marked, then traced.
pub type Layers = Stack<
    TraceLayer<SharedClassifier<UnexpectedServerErrors>, RequestSpan, Started>,
    Stack<SetSensitiveRequestHeadersLayer, tower::layer::util::Identity>,
>;

pub fn layer() -> ServiceBuilder<Layers> {
    ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new(SENSITIVE))
        .layer(
            TraceLayer::new(SharedClassifier::new(UnexpectedServerErrors))
                .make_span_with(RequestSpan)
                .on_request(Started),
        )
}

/// The `request` span; fields are formatted only when DEBUG is enabled.
#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        debug_span!(
            "request",
            method = %req.method(),
            uri = %Redacted(req.uri()),
            version = ?req.version(),
            request_id = %Id(req),
        )
    }
}

/// The span's first event, with the request headers (sensitive ones marked).
#[derive(Clone, Copy)]
pub struct Started;

impl<B> OnRequest<B> for Started {
    fn on_request(&mut self, req: &Request<B>, _span: &Span) {
        debug!(headers = ?req.headers(), "started processing request");
    }
}

/// A request's `x-request-id` as text (empty without one).
pub struct Id<'a, B>(pub &'a Request<B>);

impl<B> fmt::Display for Id<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.0.headers().get(X_REQUEST_ID);
        f.write_str(id.and_then(|v| v.to_str().ok()).unwrap_or(""))
    }
}

/// tower-http's `ServerErrorsAsFailures`, except that a 5xx marked
/// [`super::error::Expected`] (shutdown, a full server) is a success: it is logged where
/// it happens and needs no human.
#[derive(Clone, Copy)]
pub struct UnexpectedServerErrors;

impl ClassifyResponse for UnexpectedServerErrors {
    type FailureClass = ServerErrorsFailureClass;
    type ClassifyEos = NeverClassifyEos<ServerErrorsFailureClass>;

    fn classify_response<B>(
        self,
        res: &Response<B>,
    ) -> ClassifiedResponse<Self::FailureClass, Self::ClassifyEos> {
        let status = res.status();
        if status.is_server_error() && res.extensions().get::<super::error::Expected>().is_none() {
            ClassifiedResponse::Ready(Err(ServerErrorsFailureClass::StatusCode(status)))
        } else {
            ClassifiedResponse::Ready(Ok(()))
        }
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> Self::FailureClass {
        ServerErrorsFailureClass::Error(error.to_string())
    }
}
