//! Shared harness of the integration tests: an in-process hlsd on 127.0.0.1:0, fixtures made
//! once with real ffmpeg, raw HTTP/1.1 publishers, GET helpers, playlist checks (m3u8-rs),
//! ffprobe/ffmpeg wrappers and an independent TS reader (`ts`).
//!
//! Every test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod ts;

use bytes::Bytes;
use m3u8_rs::{MediaPlaylist, Playlist};
use reqwest::Url;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use hlsd::Config;

/// Proxy variables that would send ffmpeg or reqwest traffic for 127.0.0.1 elsewhere.
pub(crate) const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// The configuration tests start from: short segments, a window that keeps every segment
/// listed, LL-HLS off, short grace so that ENDLIST comes quickly, no demo feed.
pub fn config() -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    c.hls.segment_duration = 1.0;
    c.hls.window = 1000;
    c.hls.part_duration = 0.0;
    c.hls.target_duration = None;
    c.feeds.max_feeds = 16;
    c.feeds.reconnect_grace = 0.5;
    c.feeds.idle_timeout = 3.0;
    c.feeds.linger = 30.0;
    c.demo.enabled = false;
    c
}

/// hlsd running in this process, stopped through its shutdown future.
pub struct TestServer {
    pub addr: SocketAddr,
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        Self::start_with_options(config, hlsd::RunOptions::default()).await
    }

    /// hlsd on 127.0.0.1:0 with `options` (pre-bound RTMP/SRT listeners, TLS, auth updates).
    pub async fn start_with_options(config: Config, options: hlsd::RunOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let task = tokio::spawn(hlsd::run_with(listener, config, options, shutdown));
        TestServer {
            addr,
            stop_tx: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn index_url(&self, feed: &str) -> String {
        self.url(&format!("/live/{feed}/index.m3u8"))
    }

    pub fn media_url(&self, feed: &str) -> String {
        self.url(&format!("/live/{feed}/main/media.m3u8"))
    }

    /// Triggers shutdown and waits (bounded) for `run` to return Ok.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("hlsd::run did not return within 10 s of shutdown");
        res.expect("hlsd::run panicked")
            .expect("hlsd::run returned an error");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

/// `/metrics` parsed (answered 200 as Prometheus text).
pub async fn scrape(server: &TestServer) -> prometheus_parse::Scrape {
    let r = get(&server.url("/metrics")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = r.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text")
}

/// The value of a counter or gauge sample with these labels (0 when absent), or the count
/// of a histogram.
pub fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    s.samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            V::Counter(v) | V::Gauge(v) | V::Untyped(v) => *v,
            V::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            V::Summary(_) => f64::NAN,
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------

/// Polls `f` every 50 ms until it yields `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Sections, each in its file; every test binary uses only some of them.
mod binary;
mod client;
mod fixtures;
mod playlists;
mod publish;
mod tools;
#[allow(unused_imports)]
pub use binary::*;
#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use fixtures::*;
#[allow(unused_imports)]
pub use playlists::*;
#[allow(unused_imports)]
pub use publish::*;
#[allow(unused_imports)]
pub use tools::*;

/// LL-HLS helpers (tests/ll_hls*.rs).
pub mod caches;
pub mod ll;
pub mod origins;
pub mod record;
pub mod rtmp;
pub mod srt;
pub mod srt_fuzz;
