//! Counting of playback requests: [`Tracked`] is started when a `/live` request comes in
//! and finished with its answer (by `http::service::Playback`); it counts answers by kind
//! (playlist or media) and status class, body bytes, and blocking requests in flight.

use super::{Metrics, ShardedCounter};
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use http_body::Body as _;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::OnceLock;

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

const KINDS: [&str; 2] = ["playlist", "media"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Index into [`CLASSES`].
fn status_class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// The playback counters of [`Metrics::requests`] and [`Metrics::response_bytes`] by kind
/// and status class, each looked up in its family (a lock and a hash) on first use only.
/// A series still appears in `/metrics` only once it has been counted.
#[derive(Default)]
pub struct Counters {
    requests: [[OnceLock<ShardedCounter>; CLASSES.len()]; KINDS.len()],
    bytes: [OnceLock<ShardedCounter>; KINDS.len()],
}

impl Counters {
    fn requests(&self, m: &Metrics, kind: usize, class: usize) -> &ShardedCounter {
        self.requests[kind][class].get_or_init(|| {
            m.requests
                .get_or_create(&[("kind", KINDS[kind]), ("status", CLASSES[class])])
                .clone()
        })
    }

    fn bytes(&self, m: &Metrics, kind: usize) -> &ShardedCounter {
        self.bytes[kind].get_or_init(|| {
            m.response_bytes
                .get_or_create(&[("kind", KINDS[kind])])
                .clone()
        })
    }
}

/// A playback request being answered.
pub struct Tracked {
    /// Index into [`KINDS`].
    kind: usize,
    get: bool,
    /// Present while a request that may wait for media is in flight.
    held: Option<Held>,
}

impl Tracked {
    pub fn start(m: &Metrics, req: &Request) -> Tracked {
        let path = req.uri().path();
        // Index into KINDS.
        let kind = if path.ends_with(".m3u8") { 0 } else { 1 };
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
        let counters = &m.playback;
        let class = status_class(res.status().as_u16());
        counters.requests(m, self.kind, class).inc();
        if self.get
            && let Some(n) = res.body().size_hint().exact()
        {
            counters.bytes(m, self.kind).inc_by(n);
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
        let class = |s| CLASSES[status_class(s)];
        assert_eq!(class(200), "2xx");
        assert_eq!(class(206), "2xx");
        assert_eq!(class(304), "3xx");
        assert_eq!(class(404), "4xx");
        assert_eq!(class(503), "5xx");
    }
}
