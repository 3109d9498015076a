//! The built `hlsd` binary with a configuration file: SIGHUP swaps `[auth]` while feeds go
//! on, the demo feed publishes whatever `[auth]` says, and no key reaches the log (read
//! from its stderr at debug level) while requests carrying keys, right and wrong, are
//! logged.
#![cfg(unix)]

mod common;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const OLD: &str = "OLDSECRET1";
const NEW: &str = "NEWSECRET2";
const WRONG_QUERY: &str = "WRONGSECRET3";
const WRONG_BEARER: &str = "WRONGSECRET4";

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

fn write_config(path: &Path, key: &str, linger: f64) {
    let base = hlsd::config::DEFAULT_TOML
        .replace("segment_duration = 2.0", "segment_duration = 1.0")
        .replace("linger = 60.0", &format!("linger = {linger:.1}"));
    std::fs::write(path, format!("{base}\n[auth]\npublish_key = \"{key}\"\n")).unwrap();
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("hlsd still running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

async fn feed_state(addr: SocketAddr, feed: &str) -> Option<String> {
    let r = get(&format!("http://{addr}/api/feeds/{feed}")).await;
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    v["state"].as_str().map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_auth_and_no_key_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hlsd.toml");
    write_config(&path, OLD, 60.0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hlsd"))
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start hlsd");
    let log = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let addr: SocketAddr = eventually(Duration::from_secs(20), "hlsd listening", || async {
        let l = log.lock().unwrap();
        let at = l.find("listening on http://")? + "listening on http://".len();
        l[at..].split_whitespace().next()?.parse().ok()
    })
    .await;

    // A feed published with the old key, live across the reload.
    let data = synth(250);
    let early = spawn_push(
        addr,
        data.clone(),
        Push::new("early")
            .paced(&data, 8.0)
            .header("Authorization", &format!("Bearer {OLD}")),
    );
    // Requests carrying keys, logged (debug spans, refusals).
    let short = synth(60);
    let bad = push(
        addr,
        short.clone(),
        Push::path(&format!("/ingest/bad.name?key={OLD}")),
    )
    .await;
    assert_eq!(bad.status, Some(400), "{bad:?}");
    let r = push(
        addr,
        short.clone(),
        Push::path(&format!("/ingest/w?x=1&key={WRONG_QUERY}")),
    )
    .await;
    assert_eq!(r.status, Some(403), "{r:?}");
    let r = push(
        addr,
        short.clone(),
        Push::new("w").header("Authorization", &format!("Bearer {WRONG_BEARER}")),
    )
    .await;
    assert_eq!(r.status, Some(403), "{r:?}");
    let r = push(
        addr,
        short.clone(),
        Push::path(&format!("/ingest/q?key={OLD}")),
    )
    .await;
    assert_eq!(r.status, Some(200), "{r:?}");
    eventually(Duration::from_secs(10), "early live", || async {
        (feed_state(addr, "early").await.as_deref() == Some("live")).then_some(())
    })
    .await;

    // The new key in the file (and a change elsewhere, ignored), then SIGHUP.
    write_config(&path, NEW, 61.0);
    signal(&child, "-HUP");
    eventually(Duration::from_secs(10), "the new key accepted", || {
        let short = short.clone();
        async move {
            let r = push(addr, short, Push::path(&format!("/ingest/after?key={NEW}"))).await;
            match r.status {
                Some(200) => Some(()),
                Some(403) => None,
                other => panic!("unexpected answer {other:?} to the new key"),
            }
        }
    })
    .await;
    let r = push(
        addr,
        short.clone(),
        Push::new("again").header("Authorization", &format!("Bearer {OLD}")),
    )
    .await;
    assert_eq!(r.status, Some(403), "the old key after the reload: {r:?}");
    // The feed published before the reload went on; the demo feed needs no key.
    assert_eq!(feed_state(addr, "early").await.as_deref(), Some("live"));
    eventually(Duration::from_secs(10), "the demo feed live", || async {
        (feed_state(addr, "demo").await.as_deref() == Some("live")).then_some(())
    })
    .await;
    let early = early.await.unwrap();
    assert_eq!(early.status, Some(200), "{early:?}");

    signal(&child, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("hlsd exits within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    let log = log.lock().unwrap().clone();
    assert!(log.contains("/ingest/bad.name?key=REDACTED"), "{log}");
    assert!(log.contains("key=REDACTED"), "{log}");
    assert!(log.contains("publish refused: bad name"), "{log}");
    assert!(log.contains("wrong publish key"), "{log}");
    assert!(log.contains("ignored until a restart"), "{log}");
    assert!(log.contains("[\"feeds\"]"), "{log}");
    for secret in [OLD, NEW, WRONG_QUERY, WRONG_BEARER] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
