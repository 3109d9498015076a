//! The demo feed: a built-in 8 s clip (`web/demo.ts`, made with ffmpeg's test sources, see
//! `web/README.md`) published in a seamless loop by the push client to the server's own
//! listener, through the same ingest path as any publisher, presenting the server's
//! in-process publish key (random per process) so that `[auth]` does not apply to it.

use crate::push::{LoopRewriter, Outcome, PushOptions, Target, push};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The clip: H.264 Main 640x360 at 25 fps and AAC-LC at 48 kHz, 8 s, so that 200 video
/// frames and 375 audio frames tile it exactly and the loop needs no gap.
pub const CLIP: &[u8] = include_bytes!("../web/demo.ts");

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// `[demo]` in config.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Publish the built-in clip as a live feed.
    pub enabled: bool,
    /// Its feed name.
    pub feed: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: false,
            feed: "demo".to_string(),
        }
    }
}

impl DemoConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ok = (1..=64).contains(&self.feed.len())
            && self
                .feed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err("demo.feed must match [A-Za-z0-9_-]{1,64}".to_string())
        }
    }
}

/// Starts publishing the clip to the server listening on `listen` until `shutdown` is true.
/// `key` is the server's in-process publish credential, so `[auth]` does not apply.
pub fn spawn(
    config: &DemoConfig,
    listen: SocketAddr,
    key: String,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let target = Target {
        connect: loopback(listen).to_string(),
        host: loopback(listen).to_string(),
        path: format!("/ingest/{}", config.feed),
        key: Some(key),
    };
    let feed = config.feed.clone();
    tokio::spawn(async move { publish(feed, target, shutdown).await })
}

/// Where to reach a listener from this machine: its own address, or loopback for a wildcard.
fn loopback(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

async fn publish(feed: String, target: Target, mut shutdown: watch::Receiver<bool>) {
    let mut rw = match LoopRewriter::new(CLIP) {
        Ok(rw) => rw,
        Err(e) => {
            // The clip is part of the build and covered by a test.
            warn!(feed, "demo clip unusable: {e}");
            return;
        }
    };
    let opts = PushOptions {
        looped: true,
        fast: false,
        chunk: 16 * 1024,
        exact: false,
    };
    let mut retry = FIRST_RETRY;
    info!(feed, "demo feed: publishing the built-in clip in a loop");
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut stop_rx = shutdown.clone();
        let stop = async move {
            let _ = stop_rx.wait_for(|v| *v).await;
        };
        let started = tokio::time::Instant::now();
        match push(&mut rw, &target, &opts, stop).await {
            Ok(Outcome::Stopped { .. }) => return,
            Ok(Outcome::Done { status, .. }) => {
                info!(feed, status, "demo publish ended; publishing again")
            }
            Err(e) => warn!(feed, "demo publish failed: {e}; retrying in {retry:?}"),
        }
        // A publish that lasted a while was healthy: start the backoff over.
        if started.elapsed() > MAX_RETRY {
            retry = FIRST_RETRY;
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        let c = DemoConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.feed, "demo");
        assert!(c.validate().is_ok());
        let bad = DemoConfig {
            feed: "a/b".into(),
            ..c
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        let a: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(loopback(a).to_string(), "127.0.0.1:8080");
        let a: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(loopback(a).to_string(), "[::1]:8080");
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(loopback(a), a);
    }

    #[test]
    fn clip_is_small_and_loops() {
        assert!(CLIP.len() < 500 * 1024);
        let rw = LoopRewriter::new(CLIP).unwrap();
        assert_eq!(rw.duration().secs(), 8.0);
    }
}
