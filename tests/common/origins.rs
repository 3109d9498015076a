//! Several hlsd origins as processes (so that one can be killed, SIGKILL, as a crash
//! would), behind nginx with `deploy/nginx/shard.conf`, and a publisher that rides out the
//! loss of its origin (`hlsd push --loop --reconnect` through nginx).

use super::caches::Cache;
use super::{config_toml, get, spawn_binary, tool};
use hlsd::config::Config;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One hlsd process; killed when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Origin {
    pub async fn start(config: &Config) -> Origin {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hlsd.toml");
        std::fs::write(&file, config_toml(config)).expect("write config");
        let (child, addr) = spawn_binary(&file).await;
        Origin {
            addr,
            child,
            _dir: dir,
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Whether this origin has `feed` (its own index playlist answers 200).
    pub async fn has(&self, feed: &str) -> bool {
        get(&format!("http://{}/live/{feed}/index.m3u8", self.addr))
            .await
            .status
            == 200
    }
}

/// Three origins with `config` behind nginx with shard.conf.
pub struct Shards {
    pub origins: Vec<Origin>,
    pub router: Cache,
}

impl Shards {
    pub async fn start(config: &Config) -> Shards {
        let mut origins = Vec::new();
        for _ in 0..3 {
            origins.push(Origin::start(config).await);
        }
        let addrs: Vec<_> = origins.iter().map(|o| o.addr).collect();
        let router = Cache::nginx_shards(&addrs).await;
        Shards { origins, router }
    }

    /// The index of the one origin that has `feed`, if exactly one has it.
    pub async fn owner(&self, feed: &str) -> Option<usize> {
        let mut found = Vec::new();
        for (i, o) in self.origins.iter().enumerate() {
            if o.has(feed).await {
                found.push(i);
            }
        }
        (found.len() == 1).then(|| found[0])
    }

    /// Kills the origin that has `feed` (SIGKILL); returns its index.
    pub async fn kill_owner(&mut self, feed: &str) -> usize {
        let i = self.owner(feed).await.expect("one origin has the feed");
        self.origins.remove(i).kill().await;
        i
    }
}

/// `hlsd push FILE http://ROUTER/ingest/FEED --loop --reconnect`, in real time; killed when
/// dropped.
pub fn push_reconnecting(router: SocketAddr, feed: &str, file: &Path) -> tokio::process::Child {
    tool(env!("CARGO_BIN_EXE_hlsd"))
        .arg("push")
        .arg(file)
        .arg(format!("http://{router}/ingest/{feed}"))
        .args(["--loop", "--reconnect"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hlsd push")
}

/// The session token in the media playlist's first segment URI at `url`, if it answers.
pub async fn session_token(url: &str) -> Option<String> {
    let r = get(url).await;
    if r.status != 200 {
        return None;
    }
    let text = r.text();
    let uri = text.lines().find(|l| l.starts_with("seg-"))?;
    uri.split('-').nth(1).map(str::to_string)
}

/// Waits until `url` lists a segment of a session other than `old`; returns the new token
/// and the time it took.
pub async fn wait_new_session(url: &str, old: &str, timeout: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(t) = session_token(url).await
            && t != old
        {
            return (t, start.elapsed());
        }
        assert!(
            start.elapsed() < timeout,
            "no new session at {url} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
