//! Refused publishes, from outside: a flood of them is answered every time but logged
//! thinly (the log gates), and an answer given while the body is still arriving (a frozen
//! clock's 422, a wrong key's 403) reaches a client that sends its whole body before it
//! reads (the lingering read of the rest of the body). Real sockets, synthetic TS.

mod common;

use bytes::Bytes;
use common::*;
use hlsd::synth::Synth;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A labelled sample, e.g. `hlsd_ingest_refused_total{reason="missing_key"}`, or 0.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name).then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0.0)
}

/// POSTs `body` (with a Content-Length) the way a simple client does: the whole request is
/// written before the answer is read, and a failed write (the connection reset or closed
/// while the body was being sent) is a failure. The answer's status, or what went wrong.
async fn post_then_read(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Result<u16, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp2t\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut write_error = None;
    if let Err(e) = s.write_all(head.as_bytes()).await {
        write_error = Some(e);
    }
    for chunk in body.chunks(64 * 1024) {
        if write_error.is_some() {
            break;
        }
        if let Err(e) = s.write_all(chunk).await {
            write_error = Some(e);
        }
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while !buf.windows(2).any(|w| w == b"\r\n") {
            match s.read(&mut tmp).await {
                Ok(0) => return Err("closed without an answer".to_string()),
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| "no answer in 20 s".to_string())?;
    let line = String::from_utf8_lossy(&buf).into_owned();
    if let Some(e) = write_error {
        // Linux keeps what arrived before a reset readable, but many clients (asyncio's
        // streams, for one) give up at the failed write and never read it.
        return Err(format!("write failed: {e} (answer {line:?})"));
    }
    read?;
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))
}

/// A stream whose timestamps never move, of about `mb` megabytes.
fn frozen(mb: usize) -> Bytes {
    let frames = mb * 1_000_000 / 50_000;
    Bytes::from(
        Synth {
            frame_ticks: Some(0.0),
            audio: false,
            frame_bytes: 50_000,
            ..Synth::default()
        }
        .build(frames),
    )
}

/// The frozen-clock 422 is refused after 8 MiB while ~4 MB more are on their way: a client
/// that writes everything before reading gets the answer every time (it was often reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_clock_422_reaches_a_client_still_sending() {
    let server = TestServer::start(config()).await;
    let data = frozen(12);
    assert!(data.len() > 11 << 20, "{}", data.len());
    let mut got = Vec::new();
    // One feed, published again and again (20 feeds holding 8 MiB each would meet the
    // memory budget).
    for _ in 0..20 {
        got.push(post_then_read(server.addr, "/ingest/frozen", "", &data).await);
    }
    let ok = got.iter().filter(|r| **r == Ok(422)).count();
    assert_eq!(ok, 20, "answers: {got:?}");
    let metrics = get(&server.url("/metrics")).await.text();
    assert_eq!(
        sample(&metrics, "hlsd_frozen_clock_disconnects_total"),
        20.0
    );
    server.stop().await;
}

/// A rendition over `limits.max_ingest_bitrate` is ended with 413 after ~10 s of media while
/// the rest (~6 s) is on its way: the 413 reaches a client that writes everything first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_reaches_a_client_still_sending() {
    let seconds = 16;
    // ~3.2 Mbit/s: about 6.4 MB in all, 2.4 MB after the verdict.
    let data = Bytes::from(
        Synth {
            frame_bytes: 16_000,
            ..Synth::default()
        }
        .build(25 * seconds),
    );
    let bps = data.len() as f64 * 8.0 / seconds as f64;
    let mut c = config();
    c.limits.max_ingest_bitrate = (bps / 2.0) as u64;
    let server = TestServer::start(c).await;
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(post_then_read(server.addr, "/ingest/heavy", "", &data).await);
    }
    let ok = got.iter().filter(|r| **r == Ok(413)).count();
    assert_eq!(ok, 20, "answers: {got:?}");
    server.stop().await;
}

/// A wrong key is refused before the body is read; a 3 MB body still being sent does not
/// lose the 403 to a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_reaches_a_client_still_sending_its_body() {
    let mut c = config();
    c.auth = Some(hlsd::config::AuthConfig {
        publish_key: Some("right".into()),
        ..Default::default()
    });
    let server = TestServer::start(c).await;
    let data = Bytes::from(Synth::default().build(25 * 60));
    assert!(data.len() > 3 << 20, "{}", data.len());
    let mut got = Vec::new();
    for i in 0..20 {
        let path = format!("/ingest/cam{i}");
        let key = "Authorization: Bearer wrong\r\n";
        got.push(post_then_read(server.addr, &path, key, &data).await);
    }
    let ok = got.iter().filter(|r| **r == Ok(403)).count();
    assert_eq!(ok, 20, "answers: {got:?}");
    server.stop().await;
}

/// 500 publishes without a key (and 100 with a wrong one) against the binary: every one is
/// refused and counted, but the log holds at most the gates' burst of lines per reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_publishes_is_logged_thinly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hlsd.toml");
    std::fs::write(
        &file,
        "[auth]\npublish_key = \"right\"\n[demo]\nenabled = false\n",
    )
    .unwrap();
    let (mut child, addr, log) = spawn_binary_logged(&file).await;
    let body = Bytes::from(Synth::default().build(10));
    let mut tasks = Vec::new();
    for t in 0..20 {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..30 {
                let n = t * 30 + i;
                let (path, headers) = if n < 500 {
                    (format!("/ingest/flood-{n}"), "")
                } else {
                    (
                        format!("/ingest/flood-{n}"),
                        "Authorization: Bearer wrong\r\n",
                    )
                };
                got.push(post_then_read(addr, &path, headers, &body).await);
            }
            got
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        for r in t.await.unwrap() {
            *statuses.entry(format!("{r:?}")).or_insert(0) += 1;
        }
    }
    assert_eq!(statuses.get("Ok(401)"), Some(&500), "{statuses:?}");
    assert_eq!(statuses.get("Ok(403)"), Some(&100), "{statuses:?}");
    let metrics = get(&format!("http://{addr}/metrics")).await.text();
    let refused = |r: &str| {
        sample(
            &metrics,
            &format!("hlsd_ingest_refused_total{{reason=\"{r}\"}}"),
        )
    };
    let suppressed = |k: &str| {
        sample(
            &metrics,
            &format!("hlsd_log_suppressed_total{{kind=\"{k}\"}}"),
        )
    };
    assert_eq!(refused("missing_key"), 500.0, "{metrics}");
    assert_eq!(refused("wrong_key"), 100.0, "{metrics}");
    let burst = hlsd::logging::BURST as f64;
    assert_eq!(suppressed("missing_key"), 500.0 - burst, "{metrics}");
    assert_eq!(suppressed("wrong_key"), 100.0 - burst, "{metrics}");
    child.kill().await.unwrap();
    let lines = log.lines();
    let refusals = lines
        .iter()
        .filter(|l| l.contains("publish refused"))
        .count();
    let warns = lines.iter().filter(|l| l.contains(" WARN ")).count();
    let errors = lines.iter().filter(|l| l.contains(" ERROR ")).count();
    assert_eq!(refusals, 2 * hlsd::logging::BURST as usize, "{lines:#?}");
    assert!(warns <= refusals + 2, "{warns} WARN lines: {lines:#?}");
    assert_eq!(errors, 0, "{lines:#?}");
}
