//! Feeds per machine: many concurrent paced publishers at ~1 Mbit/s into one hlsd process
//! (the release binary, demo off), then hlsd's CPU, RSS, RSS per feed against the media
//! bytes it retains (`hlsd_store_bytes`), and the part publish delay percentiles from its
//! own `/metrics` histogram (`hlsd_part_publish_delay_seconds`; the part that completes a
//! segment publishes the segment, so this is also the segment publish delay). Figures go to
//! BENCHMARKS.md.
//!
//! `cargo bench --bench feeds`: 1, 10, 100 feeds for 40 s each, then 1000 feeds for 60 s,
//! a fresh hlsd for each. `HLSD_BENCH_FEEDS=1000 HLSD_BENCH_SECONDS=60` runs one scenario.
//! Under `cargo test` it runs a few-second smoke version so it cannot rot.
//!
//! The load generator is this process: one tokio task per feed on one runtime thread, each
//! a chunked HTTP/1.1 POST writing one video frame (with the audio before it) every 40 ms,
//! like an encoder. Feeds start spread over the first seconds; the measurement window
//! starts after a warm-up that lets every window fill, and everything is bounded in time.

#[path = "common/child.rs"]
mod child;

use bytes::Bytes;
use child::{Server, TICKS, cpu_ticks, get, rss_kb};
use hlsd::synth::Synth;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const FRAME: Duration = Duration::from_millis(40);

struct Scenario {
    feeds: usize,
    seconds: u64,
    /// Seconds before the measurement window opens (ramp-up and window fill).
    warmup: u64,
    /// Seconds over which the feeds are started.
    ramp: u64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let scenarios: Vec<Scenario> = if !full {
        vec![Scenario {
            feeds: 20,
            seconds: 4,
            warmup: 2,
            ramp: 1,
        }]
    } else if let Some(f) = env("HLSD_BENCH_FEEDS") {
        vec![scenario(
            f as usize,
            env("HLSD_BENCH_SECONDS").unwrap_or(60),
        )]
    } else {
        vec![
            scenario(1, 40),
            scenario(10, 40),
            scenario(100, 40),
            scenario(1000, 60),
        ]
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => println!("open-file limit of the load generator: {n}"),
        Err(e) => println!("cannot raise the open-file limit: {e}"),
    }
    let frames = Arc::new(frames());
    let bytes: usize = frames.iter().map(|f| f.len()).sum();
    let rate = bytes as f64 * 8.0 / (frames.len() as f64 * FRAME.as_secs_f64());
    println!(
        "stream: synthetic 25 fps H.264-shaped + AAC-shaped TS, 2 s GOP, {:.2} Mbit/s, one chunk per frame every 40 ms",
        rate / 1e6
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    for s in &scenarios {
        let r = run(&rt, s, frames.clone());
        r.print(s, rate);
        assert!(r.parts > 0, "no part was published");
    }
}

fn scenario(feeds: usize, seconds: u64) -> Scenario {
    Scenario {
        feeds,
        seconds,
        warmup: (seconds / 2).min(30),
        ramp: if feeds >= 100 { 5 } else { 1 },
    }
}

/// Frames of a ~1 Mbit/s 25 fps synthetic stream, one chunk per video frame (each chunk
/// starts with a frame's first packet, which completes the part before it). Enough for the
/// longest run; every feed sends the same bytes.
fn frames() -> Vec<Bytes> {
    let ts = Synth {
        gop: 50,
        frame_bytes: 3850,
        ..Synth::default()
    }
    .build(25 * 130);
    hlsd::synth::frame_chunks(&ts)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect()
}

/// What one `/metrics` scrape and `/proc` say at one moment.
#[derive(Default, Clone)]
struct Sample {
    at: Option<Instant>,
    cpu_ticks: u64,
    rss_kb: u64,
    /// Cumulative counts per bucket upper bound of the part publish delay histogram.
    buckets: Vec<(f64, u64)>,
    parts: u64,
    segments: u64,
    store_bytes: u64,
    publishers: u64,
    live: u64,
}

fn sample(server: &Server) -> Sample {
    let mut s = Sample {
        at: Some(Instant::now()),
        ..Sample::default()
    };
    s.cpu_ticks = cpu_ticks(&server.pid().to_string());
    s.rss_kb = rss_kb(server.pid());
    let Ok((200, text)) = get(server.addr, "/metrics") else {
        return s;
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let v = value.parse::<f64>().unwrap_or(0.0) as u64;
        if let Some(le) = name
            .strip_prefix("hlsd_part_publish_delay_seconds_bucket{le=\"")
            .and_then(|r| r.strip_suffix("\"}"))
        {
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            s.buckets.push((le, v));
        } else {
            match name {
                "hlsd_parts_total" => s.parts = v,
                "hlsd_segments_total" => s.segments = v,
                "hlsd_store_bytes" => s.store_bytes = v,
                "hlsd_publishers_connected" => s.publishers = v,
                "hlsd_feeds{state=\"live\"}" => s.live = v,
                _ => {}
            }
        }
    }
    s
}

struct Report {
    idle_rss_kb: u64,
    end: Sample,
    cpu_cores: f64,
    parts: u64,
    segments: u64,
    /// Part publish delay percentiles over the window, as histogram bucket upper bounds.
    p50: f64,
    p99: f64,
    /// Publishers that lost their connection or could not connect.
    failed: u64,
    /// Worst lateness of a publisher's write against its schedule.
    max_lag: Duration,
    /// Playlists read at the end: answered 200 and not ended.
    playlists_live: usize,
    generator_cpu_cores: f64,
}

impl Report {
    fn print(&self, s: &Scenario, rate: f64) {
        let mib = |kb: u64| kb as f64 / 1024.0;
        let per_feed_rss =
            (self.end.rss_kb.saturating_sub(self.idle_rss_kb)) as f64 / s.feeds as f64;
        let per_feed_store = self.end.store_bytes as f64 / 1024.0 / s.feeds as f64;
        let ms = |x: f64| {
            if x.is_finite() {
                format!("≤ {:.2} ms", x * 1000.0)
            } else {
                "> 100 ms".to_string()
            }
        };
        println!(
            "{} feeds x {:.2} Mbit/s, {} s measured after {} s: hlsd CPU {:.2} cores, RSS {:.1} MiB (idle {:.1}), \
             store {:.1} MiB; per feed: RSS {:.0} KiB over idle, retained media {:.0} KiB, ratio {:.2}; \
             {} parts, {} segments, part publish delay p50 {} p99 {}; publishers live {}/{}, failed {}, \
             playlists live {}/{}, worst publisher lag {:.0} ms; load generator CPU {:.2} cores",
            s.feeds,
            rate / 1e6,
            s.seconds - s.warmup,
            s.warmup,
            self.cpu_cores,
            mib(self.end.rss_kb),
            mib(self.idle_rss_kb),
            self.end.store_bytes as f64 / (1 << 20) as f64,
            per_feed_rss,
            per_feed_store,
            per_feed_rss / per_feed_store.max(1.0),
            self.parts,
            self.segments,
            ms(self.p50),
            ms(self.p99),
            self.end.publishers,
            s.feeds,
            self.failed,
            self.playlists_live,
            s.feeds,
            self.max_lag.as_secs_f64() * 1000.0,
            self.generator_cpu_cores,
        );
    }
}

fn run(rt: &tokio::runtime::Runtime, s: &Scenario, frames: Arc<Vec<Bytes>>) -> Report {
    let server = Server::start(|c| c.replace("max_feeds = 1000", "max_feeds = 10000"));
    let idle = sample(&server);
    let start = Instant::now();
    let stop = start + Duration::from_secs(s.seconds);
    let failed = Arc::new(AtomicU64::new(0));
    let max_lag = Arc::new(AtomicU64::new(0));
    let addr = server.addr;
    let tasks: Vec<_> = (0..s.feeds)
        .map(|i| {
            let delay = Duration::from_secs(s.ramp).mul_f64(i as f64 / s.feeds as f64);
            rt.spawn(publish(
                addr,
                format!("f{i}"),
                frames.clone(),
                start + delay,
                stop,
                failed.clone(),
                max_lag.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(s.warmup));
    let (a, gen_a) = (sample(&server), cpu_ticks("self"));
    std::thread::sleep(stop.saturating_duration_since(Instant::now()) - Duration::from_millis(500));
    let (b, gen_b) = (sample(&server), cpu_ticks("self"));
    // Every playlist, read while the publishers still run.
    let playlists_live = (0..s.feeds)
        .filter(|i| {
            matches!(get(addr, &format!("/live/f{i}/main/media.m3u8")),
                Ok((200, body)) if !body.contains("#EXT-X-ENDLIST"))
        })
        .count();
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let wall = b.at.zip(a.at).map_or(1.0, |(b, a)| (b - a).as_secs_f64());
    let delta: Vec<(f64, u64)> = b
        .buckets
        .iter()
        .map(|&(le, n)| {
            let before = a.buckets.iter().find(|x| x.0 == le).map_or(0, |x| x.1);
            (le, n.saturating_sub(before))
        })
        .collect();
    let total = delta.last().map_or(0, |x| x.1);
    let pct = |p: f64| {
        let want = (total as f64 * p).ceil() as u64;
        delta
            .iter()
            .find(|x| x.1 >= want.max(1))
            .map_or(f64::NAN, |x| x.0)
    };
    Report {
        idle_rss_kb: idle.rss_kb,
        cpu_cores: (b.cpu_ticks - a.cpu_ticks) as f64 / TICKS / wall,
        parts: b.parts - a.parts,
        segments: b.segments - a.segments,
        p50: pct(0.5),
        p99: pct(0.99),
        end: b,
        failed: failed.load(Ordering::Relaxed),
        max_lag: Duration::from_micros(max_lag.load(Ordering::Relaxed)),
        playlists_live,
        generator_cpu_cores: (gen_b - gen_a) as f64 / TICKS / wall,
    }
}

/// One encoder: a chunked POST, one frame every 40 ms from `start` until `stop`.
async fn publish(
    addr: SocketAddr,
    feed: String,
    frames: Arc<Vec<Bytes>>,
    start: Instant,
    stop: Instant,
    failed: Arc<AtomicU64>,
    max_lag: Arc<AtomicU64>,
) {
    let start = tokio::time::Instant::from_std(start);
    tokio::time::sleep_until(start).await;
    let fail = || failed.fetch_add(1, Ordering::Relaxed);
    let Ok(mut sock) = TcpStream::connect(addr).await else {
        fail();
        return;
    };
    let _ = sock.set_nodelay(true);
    let head = format!(
        "POST /ingest/{feed} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if sock.write_all(head.as_bytes()).await.is_err() {
        fail();
        return;
    }
    let mut chunk = Vec::with_capacity(64 * 1024);
    for (i, f) in frames.iter().enumerate() {
        let due = start + FRAME * i as u32;
        if due.into_std() >= stop {
            break;
        }
        tokio::time::sleep_until(due).await;
        let lag = tokio::time::Instant::now() - due;
        max_lag.fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        chunk.clear();
        chunk.extend_from_slice(format!("{:x}\r\n", f.len()).as_bytes());
        chunk.extend_from_slice(f);
        chunk.extend_from_slice(b"\r\n");
        if sock.write_all(&chunk).await.is_err() {
            fail();
            return;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
}
