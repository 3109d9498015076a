//! The publish hook: `POST` of a small JSON document to `auth.publish_hook` with hyper's
//! HTTP/1.1 client over a fresh TCP connection, bounded by `auth.hook_timeout` as a whole
//! (connect, send, answer head). Only the status matters; the answer's body is not read.
//! The request carries the publisher's key: it is never logged, and neither is the body.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::http::{StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::time::Duration;
use tokio::net::TcpStream;
use tracing::warn;

/// The JSON the hook receives. (No `Debug`: it carries the key.)
#[derive(Clone, Serialize)]
pub struct HookRequest {
    /// `publish` or `unpublish`.
    pub action: &'static str,
    pub protocol: &'static str,
    pub feed: String,
    pub rendition: String,
    pub key: Option<String>,
    pub ip: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no answer within {0} s")]
    Timeout(f64),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("the hook URL is unusable")]
    BadUrl,
}

/// Where the hook is and how long it may take.
#[derive(Debug)]
pub struct Hook {
    /// `host:port` to connect to, the Host header, the request target.
    target: Option<(String, String, String)>,
    timeout: Duration,
}

impl Hook {
    /// A hook at `url` (`http://HOST[:PORT][/PATH]`).
    pub fn new(url: &str, timeout_secs: f64) -> Result<Hook, String> {
        Ok(Hook {
            target: Some(parse(url)?),
            timeout: Duration::from_secs_f64(timeout_secs),
        })
    }

    /// A hook whose URL could not be used: every question fails.
    pub fn broken(timeout_secs: f64) -> Hook {
        Hook {
            target: None,
            timeout: Duration::from_secs_f64(timeout_secs),
        }
    }

    /// Asks the hook; its status code is the answer.
    pub async fn ask(&self, req: &HookRequest) -> Result<StatusCode, HookError> {
        let Some((connect, host, path)) = &self.target else {
            return Err(HookError::BadUrl);
        };
        let body = serde_json::to_vec(req).map_err(|_| HookError::BadUrl)?;
        let request = Request::post(path.as_str())
            .header(header::HOST, host.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONNECTION, "close")
            .header(
                header::USER_AGENT,
                concat!("hlsd/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| HookError::BadUrl)?;
        let exchange = async {
            let stream = TcpStream::connect(connect.as_str())
                .await
                .map_err(HookError::Connect)?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            // The connection is driven here, not in a task: a timeout drops all of it.
            let answer = sender.send_request(request);
            tokio::pin!(conn, answer);
            tokio::select! {
                res = &mut answer => Ok(res?.status()),
                res = &mut conn => {
                    res?;
                    // The connection closed before answering: the send reports why.
                    Ok(answer.await?.status())
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(HookError::Timeout(self.timeout.as_secs_f64())))
    }

    /// Tells the hook in the background (best effort: a failure is logged).
    pub fn notify(self: std::sync::Arc<Self>, req: HookRequest) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            match self.ask(&req).await {
                Ok(s) if s.is_success() => {}
                Ok(s) => warn!(
                    feed = req.feed,
                    rendition = req.rendition,
                    status = s.as_u16(),
                    "the publish hook answered {} to {}",
                    s.as_u16(),
                    req.action
                ),
                Err(e) => warn!(
                    feed = req.feed,
                    rendition = req.rendition,
                    "the publish hook missed {}: {e}",
                    req.action
                ),
            }
        });
    }
}

/// `http://HOST[:PORT][/PATH]` → (`host:port`, Host header, request target).
pub fn parse(url: &str) -> Result<(String, String, String), String> {
    let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url:?} is not an http:// URL"));
    }
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
        .ok_or_else(|| format!("{url:?} has no host"))?;
    let connect = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    Ok((connect, authority.as_str().to_string(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = |u| parse(u).map(|(c, h, p)| format!("{c} {h} {p}"));
        assert_eq!(
            p("http://127.0.0.1:9100/auth"),
            Ok("127.0.0.1:9100 127.0.0.1:9100 /auth".into())
        );
        assert_eq!(
            p("http://hooks.example/a?b=1"),
            Ok("hooks.example:80 hooks.example /a?b=1".into())
        );
        assert_eq!(p("http://[::1]:80"), Ok("[::1]:80 [::1]:80 /".into()));
        for bad in ["https://x/", "ftp://x", "http://", "x", "http://u@x/"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
