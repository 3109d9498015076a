//! Counting of playback requests: [`Tracked`] is started when a `/live` request comes in
//! and finished with its answer (by `http::service::Playback`); it counts answers by kind
//! (playlist or media) and status class, body bytes, and blocking requests in flight.

use super::Metrics;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use http_body::Body as _;
use prometheus_client::metrics::gauge::Gauge;

/// Holds one unit of a gauge while alive, so a request dropped mid-wait (client gone)
/// still gives it back.
struct Held(Gauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Whether a request may wait for media: a blocking playlist reload (`_HLS_msn`) or a
/// part (the preload-hinted one waits until it exists).
fn may_block(path: &str, query: Option<&str>) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let blocking_reload = file == "media.m3u8"
        && query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("_HLS_msn=")));
    blocking_reload || file.starts_with("part-")
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A playback request being answered.
pub struct Tracked {
    kind: &'static str,
    get: bool,
    /// Present while a request that may wait for media is in flight.
    held: Option<Held>,
}

impl Tracked {
    pub fn start(m: &Metrics, req: &Request) -> Tracked {
        let path = req.uri().path();
        let kind = if path.ends_with(".m3u8") {
            "playlist"
        } else {
            "media"
        };
        let held = may_block(path, req.uri().query()).then(|| {
            m.blocking_waiting.inc();
            Held(m.blocking_waiting.clone())
        });
        Tracked {
            kind,
            get: req.method() == Method::GET,
            held,
        }
    }

    /// Counts the answer. A request dropped before its answer (client gone) is not counted,
    /// but gives back its unit of the blocking gauge.
    pub fn finish(self, m: &Metrics, res: &Response) {
        drop(self.held);
        let class = status_class(res.status().as_u16());
        m.requests
            .get_or_create(&[("kind", self.kind), ("status", class)])
            .inc();
        if self.get
            && let Some(n) = res.body().size_hint().exact()
        {
            m.response_bytes
                .get_or_create(&[("kind", self.kind)])
                .inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_requests_are_recognised() {
        assert!(may_block(
            "/f/main/media.m3u8",
            Some("_HLS_msn=3&_HLS_part=1")
        ));
        assert!(may_block(
            "/f/main/media.m3u8",
            Some("_HLS_skip=YES&_HLS_msn=3")
        ));
        assert!(!may_block("/f/main/media.m3u8", Some("_HLS_skip=YES")));
        assert!(!may_block("/f/main/media.m3u8", None));
        assert!(may_block("/f/main/part-1a2b-4.2.ts", None));
        assert!(!may_block("/f/main/seg-1a2b-4.ts", None));
        assert!(!may_block("/f/index.m3u8", None));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(206), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
