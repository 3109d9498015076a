//! The one error type of the HTTP shell and its single mapping to status codes.

use crate::feeds::ClaimError;
use crate::ingest::auth::Refusal;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad name: feed and rendition names are 1 to 64 characters of A-Z a-z 0-9 _ -")]
    BadName,
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("the body is not MPEG-TS: no run of 5 sync bytes 188 bytes apart in its first 64 KB")]
    NotTs,
    #[error("no such feed")]
    NoFeed,
    #[error("no such rendition")]
    NoRendition,
    #[error("no such segment: it expired or never existed")]
    NoSegment,
    #[error("not found")]
    NotFound,
    #[error("the feed has no complete segment yet; retry shortly")]
    NotReady,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("the requested segment or part did not appear in time")]
    BlockTimeout,
    #[error("range not satisfiable")]
    Range { len: usize },
    #[error("this route needs Authorization: Bearer <admin.token>")]
    Unauthorized,
    #[error("wrong admin token")]
    Forbidden,
    #[error(transparent)]
    Publish(#[from] Refusal),
    #[error("ingest takes no requests from web pages (Origin or Sec-Fetch-* header)")]
    FromBrowser,
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadName => StatusCode::BAD_REQUEST,
            HttpError::Claim(ClaimError::Busy { .. }) => StatusCode::CONFLICT,
            HttpError::Claim(
                ClaimError::TooManyFeeds(_)
                | ClaimError::TooManyRenditions(_)
                | ClaimError::MemoryBudget { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Claim(ClaimError::ShuttingDown) | HttpError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HttpError::NotTs => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::NoFeed
            | HttpError::NoRendition
            | HttpError::NoSegment
            | HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::NotReady | HttpError::BlockTimeout => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Range { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden => StatusCode::FORBIDDEN,
            HttpError::Publish(Refusal::MissingKey) => StatusCode::UNAUTHORIZED,
            HttpError::Publish(Refusal::WrongKey | Refusal::Denied) | HttpError::FromBrowser => {
                StatusCode::FORBIDDEN
            }
            HttpError::Publish(Refusal::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl HttpError {
    /// The `reason` of `hlsd_ingest_refused_total` (and the log gate's kind) when this
    /// error refuses a publish; `None` for the server shutting down and non-ingest errors.
    pub fn refusal_reason(&self) -> Option<&'static str> {
        Some(match self {
            HttpError::FromBrowser => "browser",
            HttpError::BadName => "bad_name",
            HttpError::Publish(Refusal::MissingKey) => "missing_key",
            HttpError::Publish(Refusal::WrongKey) => "wrong_key",
            HttpError::Publish(Refusal::Denied) => "denied",
            HttpError::Publish(Refusal::Unavailable) => "hook_unavailable",
            HttpError::Claim(ClaimError::Busy { .. }) => "busy",
            HttpError::Claim(ClaimError::TooManyFeeds(_)) => "feeds",
            HttpError::Claim(ClaimError::TooManyRenditions(_)) => "renditions",
            HttpError::Claim(ClaimError::MemoryBudget { .. }) => "memory",
            HttpError::NotTs => "not_ts",
            _ => return None,
        })
    }
}

/// Marks a 5xx answer that is part of normal operation (the server shutting down, a viewer
/// early for a feed's first segment or a part that did not come in time): it is logged
/// where it happens, at the level it deserves, and the request span does not report it as
/// an error that needs a human.
#[derive(Debug, Clone, Copy)]
pub struct Expected;

impl HttpError {
    /// Whether answering this error is part of normal operation (see [`Expected`]).
    fn expected(&self) -> bool {
        matches!(
            self,
            HttpError::ShuttingDown
                | HttpError::Claim(ClaimError::ShuttingDown)
                | HttpError::NotReady
                | HttpError::BlockTimeout
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), format!("{self}\n")).into_response();
        if self.expected() {
            res.extensions_mut().insert(Expected);
        }
        let h = res.headers_mut();
        // Errors are cached briefly, so a CDN shields the origin without hiding a feed
        // that appears a moment later.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=1"),
        );
        match self {
            HttpError::Range { len } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    h.insert(header::CONTENT_RANGE, v);
                }
            }
            HttpError::NotReady | HttpError::Claim(_) | HttpError::ShuttingDown => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            HttpError::Unauthorized => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            HttpError::Publish(r) => {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
                match r {
                    Refusal::MissingKey => {
                        h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    }
                    Refusal::Unavailable => {
                        h.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                    }
                    Refusal::WrongKey | Refusal::Denied => {}
                }
            }
            HttpError::FromBrowser => {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
            }
            _ => {}
        }
        res
    }
}
