//! LL-HLS blocking-reload wake-up: the time from the moment the chunk holding the packet
//! that completes a part is written to hlsd's socket, to the moment a client blocked on
//! `_HLS_msn/_HLS_part` for that part has its answer. Figures go to BENCHMARKS.md.
//!
//! `cargo bench --bench blocking`: 1, 100 and 1000 waiters on one feed, then 100 feeds
//! with 10 waiters each, 20 s each. Under `cargo test` it runs a few-second smoke version so it cannot rot.
//! hlsd runs in this process on one runtime thread; publishers and clients on another.
//! Each scenario also runs against `floor`: the same exchange with only the wake-up and the
//! socket writes left, on the same thread, as the baseline of the same command.

#[path = "blocking/floor.rs"]
mod floor;
#[path = "common/http.rs"]
mod http;

use bytes::Bytes;
use hlsd::synth::Synth;
use http::Conn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Scenario {
    feeds: usize,
    waiters: usize,
    seconds: u64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only: Option<(usize, usize)> = std::env::var("HLSD_BENCH_SCENARIO").ok().and_then(|v| {
        let (f, w) = v.split_once('x')?;
        Some((f.parse().ok()?, w.parse().ok()?))
    });
    let scenarios = if full {
        let s = |feeds, waiters| Scenario {
            feeds,
            waiters,
            seconds: 20,
        };
        match only {
            Some((f, w)) => vec![s(f, w)],
            None => vec![s(1, 1), s(1, 100), s(1, 1000), s(100, 10)],
        }
    } else {
        vec![Scenario {
            feeds: 2,
            waiters: 10,
            seconds: 3,
        }]
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = server_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut cfg = hlsd::Config::default();
        cfg.hls.segment_duration = 1.0;
        cfg.hls.part_duration = 0.25;
        cfg.feeds.max_feeds = 10_000;
        cfg.demo.enabled = false;
        tokio::spawn(hlsd::run(listener, cfg, std::future::pending()));
        addr
    });
    let floor_addr = server_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(floor::serve(listener));
        addr
    });
    for (i, s) in scenarios.iter().enumerate() {
        for (server, addr) in [("hlsd", addr), ("floor", floor_addr)] {
            let mut lat = client_rt.block_on(run(addr, s, i));
            lat.sort_unstable();
            let pct = |p: f64| {
                lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                    .copied()
            };
            let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
            println!(
                "blocking wake-up, {server}, {} feed(s) x {} waiters, {} s: {} answers, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                s.feeds,
                s.waiters,
                s.seconds,
                lat.len(),
                ms(pct(0.5)),
                ms(pct(0.99)),
                ms(lat.last().copied()),
            );
            assert!(
                !lat.is_empty(),
                "{server}: no blocking request was answered"
            );
        }
    }
}

/// Frames of a 25 fps synthetic stream, one chunk per video frame (the chunk starts with
/// the frame's first packet, which completes the previous part).
fn frames() -> Vec<Bytes> {
    let ts = Synth {
        gop: 25,
        frame_bytes: 2000,
        ..Synth::default()
    }
    .build(25 * 120);
    hlsd::synth::frame_chunks(&ts)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect()
}

async fn run(addr: SocketAddr, s: &Scenario, round: usize) -> Vec<Duration> {
    let frames = Arc::new(frames());
    let deadline = Instant::now() + Duration::from_secs(s.seconds);
    let mut tasks = Vec::new();
    let mut results = Vec::new();
    for f in 0..s.feeds {
        let feed = format!("bench{round}x{f}");
        let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
        tokio::spawn(publish(
            addr,
            feed.clone(),
            frames.clone(),
            sent.clone(),
            deadline,
        ));
        // Waiters stop half a second before the publisher, so that the publisher's end
        // (which completes the last part without a chunk) is not counted.
        let stop = deadline - Duration::from_millis(500);
        for _ in 0..s.waiters {
            tasks.push(tokio::spawn(wait_loop(
                addr,
                feed.clone(),
                sent.clone(),
                stop,
            )));
        }
    }
    for t in tasks {
        if let Ok(mut v) = t.await {
            results.append(&mut v);
        }
    }
    results
}

/// Publishes one frame per 40 ms, recording when each chunk was handed to the socket.
async fn publish(
    addr: SocketAddr,
    feed: String,
    frames: Arc<Vec<Bytes>>,
    sent: Arc<Mutex<Vec<Instant>>>,
    until: Instant,
) {
    let Ok(mut sock) = TcpStream::connect(addr).await else {
        return;
    };
    let _ = sock.set_nodelay(true);
    let head = format!(
        "POST /ingest/{feed} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let start = tokio::time::Instant::now();
    for (i, f) in frames.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_millis(40 * i as u64)).await;
        if Instant::now() > until {
            break;
        }
        let mut chunk = format!("{:x}\r\n", f.len()).into_bytes();
        chunk.extend_from_slice(f);
        chunk.extend_from_slice(b"\r\n");
        if sock.write_all(&chunk).await.is_err() {
            return;
        }
        if let Ok(mut v) = sent.lock() {
            v.push(Instant::now());
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
}

/// Follows the playlist as hls.js does: block on the part the preload hint names; the
/// latency of an answer is measured from the last chunk written before it arrived.
async fn wait_loop(
    addr: SocketAddr,
    feed: String,
    sent: Arc<Mutex<Vec<Instant>>>,
    until: Instant,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let Ok(mut conn) = Conn::connect(addr).await else {
        return out;
    };
    let path = format!("/live/{feed}/main/media.m3u8");
    let mut next: Option<(u64, u64)> = None;
    while Instant::now() < until {
        let query = next
            .map(|(m, p)| format!("?_HLS_msn={m}&_HLS_part={p}"))
            .unwrap_or_default();
        let Ok(got) = conn.get(&format!("{path}{query}"), true).await else {
            break;
        };
        let (status, body) = (got.status, String::from_utf8_lossy(&got.body));
        let at = Instant::now();
        if status != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            next = None;
            continue;
        }
        if next.is_some() {
            let last = sent
                .lock()
                .ok()
                .and_then(|v| v.iter().rev().find(|&&t| t <= at).copied());
            if let Some(t) = last {
                out.push(at - t);
            }
        }
        next = hint(&body);
    }
    out
}

/// (msn, part) of the EXT-X-PRELOAD-HINT URI `part-<token>-<msn>.<part>.ts`.
fn hint(body: &str) -> Option<(u64, u64)> {
    let line = body
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let rest = uri.strip_prefix("part-")?.strip_suffix(".ts")?;
    let (_, pos) = rest.split_once('-')?;
    let (m, p) = pos.split_once('.')?;
    Some((m.parse().ok()?, p.parse().ok()?))
}
