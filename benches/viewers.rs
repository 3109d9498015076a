//! Viewers on one feed, open loop: how hlsd answers as the number of live viewers of one
//! feed grows from 10 to 10 000. Figures go to BENCHMARKS.md.
//!
//! `cargo bench --bench viewers`: 10, 100, 1000 and 10 000 viewers, 30 s each, a fresh hlsd
//! (the release binary, shipped configuration, demo off) for each.
//! `HLSD_BENCH_VIEWERS=10000 HLSD_BENCH_SECONDS=60` runs one scenario. Under `cargo test`
//! it runs a few-second smoke version so it cannot rot.
//!
//! Unlike wrk or h2load (closed loop: a connection sends its next request as soon as the
//! last one is answered), the load here is paced like real players: each viewer is one
//! keep-alive HTTP/1.1 connection that, once per segment duration (2 s), fetches the media
//! playlist and then the newest segment it lists. Viewers' slots are spread evenly over the
//! period, so the offered load is a constant rate (one playlist and one segment per viewer
//! per 2 s), not bursts, and it does not drop when answers slow down: a viewer whose fetch
//! overruns its next slot skips that slot, and the skip is counted. Response times run
//! from the request's write to the last byte of the answer. Every wait is bounded.
//!
//! The publisher is a paced synthetic encoder (`hlsd::synth`, 25 fps, ~1 Mbit/s, 2 s GOP,
//! one frame per 40 ms) on its own runtime thread, so slow viewers do not delay it; the
//! viewers share one more runtime thread. Both are this process, on the same machine as
//! hlsd, over loopback.

#[path = "common/child.rs"]
mod child;
#[path = "common/http.rs"]
mod http;

use bytes::Bytes;
use child::{Server, TICKS, cpu_ticks, get, rss_kb};
use hlsd::synth::Synth;
use http::Conn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const FRAME: Duration = Duration::from_millis(40);
/// The shipped segment duration: a viewer's reload period.
const PERIOD: Duration = Duration::from_secs(2);
/// Frames sent at once when the publish starts: the first GOP and the keyframe that closes
/// it, so that a segment is listed from the start.
const PREROLL: usize = 51;
/// Bound on one request (hls.js's default manifest time-out); a connect gets half.
const TIMEOUT: Duration = Duration::from_secs(10);
const FEED: &str = "v";

struct Scenario {
    viewers: usize,
    seconds: u64,
    /// Seconds before the measurement window opens.
    warmup: u64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let scenario = |viewers: usize, seconds: u64| Scenario {
        viewers,
        seconds,
        warmup: seconds / 3,
    };
    let scenarios: Vec<Scenario> = if !full {
        vec![Scenario {
            viewers: 20,
            seconds: 4,
            warmup: 1,
        }]
    } else if let Some(v) = env("HLSD_BENCH_VIEWERS") {
        vec![scenario(
            v as usize,
            env("HLSD_BENCH_SECONDS").unwrap_or(30),
        )]
    } else {
        let secs = env("HLSD_BENCH_SECONDS").unwrap_or(30);
        [10, 100, 1000, 10_000]
            .into_iter()
            .map(|v| scenario(v, secs))
            .collect()
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => println!("open-file limit of the load generator: {n}"),
        Err(e) => println!("cannot raise the open-file limit: {e}"),
    }
    let longest = scenarios.iter().map(|s| s.seconds).max().unwrap_or(0);
    let frames = Arc::new(frames(longest));
    let bytes: usize = frames.iter().map(|f| f.len()).sum();
    let rate = bytes as f64 * 8.0 / (frames.len() as f64 * FRAME.as_secs_f64());
    println!(
        "stream: synthetic 25 fps H.264-shaped + AAC-shaped TS, 2 s GOP, {:.2} Mbit/s, one chunk per frame every 40 ms",
        rate / 1e6
    );
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    };
    let (publisher_rt, viewer_rt) = (runtime(), runtime());
    let mut rows = Vec::new();
    for s in &scenarios {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "{} viewers: /proc/loadavg before: {}",
            s.viewers,
            load.trim()
        );
        let r = run(&publisher_rt, &viewer_rt, s, frames.clone());
        r.print(s);
        rows.push(r.row(s, load.split_whitespace().next().unwrap_or("?")));
        assert!(!r.seen.segment_us.is_empty(), "no segment was served");
        if !full {
            assert_eq!(r.failures_all(), 0, "failures in the smoke run");
        }
    }
    println!(
        "\n| viewers | req/s offered / achieved | skipped slots | playlist p50 / p99 / max | segment p50 / p99 / max | failures | MB/s served | hlsd CPU (cores) | hlsd RSS | generator CPU | other processes' CPU | load before |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
}

/// Frames of a ~1 Mbit/s 25 fps synthetic stream, one chunk per video frame (each chunk
/// starts with a frame's first packet, which completes the part before it).
fn frames(seconds: u64) -> Vec<Bytes> {
    let ts = Synth {
        gop: 50,
        frame_bytes: 3850,
        ..Synth::default()
    }
    .build(25 * (seconds as usize + 60));
    hlsd::synth::frame_chunks(&ts)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect()
}

/// Busy ticks of the whole machine (user, nice, system, irq, softirq) from /proc/stat.
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    [0, 1, 2, 5, 6].iter().filter_map(|&i| f.get(i)).sum()
}

/// TcpExtListenOverflows from /proc/net/netstat.
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if let Some(i) = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")
        {
            return values
                .split_whitespace()
                .nth(i)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// What one viewer saw. Times are microseconds; everything but `failures_warmup` counts
/// only the slots due inside the measurement window.
#[derive(Default)]
struct Seen {
    playlist_us: Vec<u32>,
    segment_us: Vec<u32>,
    /// Requests due in the window (two per slot, skipped slots included).
    offered: u64,
    /// Slots not started because the previous fetch was still running.
    skipped: u64,
    bytes: u64,
    non_200: u64,
    errors: u64,
    timeouts: u64,
    /// Playlists answered 200 that listed no segment.
    no_segment: u64,
    failures_warmup: u64,
    /// Worst lateness of a slot's start against its schedule.
    max_start_lag: Duration,
    /// Slowest TCP connect (not part of any response time).
    max_connect: Duration,
}

impl Seen {
    fn merge(&mut self, o: Seen) {
        self.playlist_us.extend(o.playlist_us);
        self.segment_us.extend(o.segment_us);
        self.offered += o.offered;
        self.skipped += o.skipped;
        self.bytes += o.bytes;
        self.non_200 += o.non_200;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.no_segment += o.no_segment;
        self.failures_warmup += o.failures_warmup;
        self.max_start_lag = self.max_start_lag.max(o.max_start_lag);
        self.max_connect = self.max_connect.max(o.max_connect);
    }

    fn failures(&self) -> u64 {
        self.non_200 + self.errors + self.timeouts + self.no_segment
    }
}

struct Report {
    seen: Seen,
    /// Seconds of slots measured (request rates are per slot time).
    window: f64,
    /// Seconds between the CPU samples (CPU rates are per wall time; longer than `window`
    /// when this process was not scheduled on time).
    wall: f64,
    /// TcpExtListenOverflows over the scenario (machine-wide): connects whose SYN or
    /// handshake was dropped because hlsd's accept queue was full.
    listen_overflows: u64,
    /// Busy CPU of the whole machine, every process.
    machine_cores: f64,
    cpu_cores: f64,
    rss_kb: u64,
    idle_rss_kb: u64,
    generator_cpu_cores: f64,
    /// Viewer tasks still running at the join deadline (aborted).
    unfinished: usize,
    publisher_failed: bool,
    publisher_max_lag: Duration,
}

fn pct(v: &[u32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0
}

impl Report {
    fn failures_all(&self) -> u64 {
        self.seen.failures() + self.seen.failures_warmup + self.unfinished as u64
    }

    fn achieved(&self) -> f64 {
        (self.seen.playlist_us.len() + self.seen.segment_us.len()) as f64 / self.window
    }

    /// CPU of every other process on the machine, in cores.
    fn others(&self) -> f64 {
        (self.machine_cores - self.cpu_cores - self.generator_cpu_cores).max(0.0)
    }

    fn times(v: &[u32]) -> String {
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        )
    }

    fn print(&self, s: &Scenario) {
        let q = &self.seen;
        println!(
            "{} viewers, {:.1} s measured after {} s: requests offered {:.1}/s, answered 200 {:.1}/s \
             ({} playlists, {} segments), skipped slots {}, worst slot start lag {:.1} ms, \
             slowest connect {:.1} ms, listen queue overflows {}; \
             playlist p50/p99/max {}; segment p50/p99/max {}; failures in window: {} non-200, {} errors, \
             {} timeouts, {} playlists without a segment; failures in warm-up {}; unfinished viewers {}; \
             {:.1} MB/s served; over {:.1} s of wall time: hlsd CPU {:.2} cores, RSS {:.1} MiB (idle {:.1}); \
             generator CPU {:.2} cores; other processes {:.2} cores; publisher {} worst lag {:.1} ms",
            s.viewers,
            self.window,
            s.warmup,
            q.offered as f64 / self.window,
            self.achieved(),
            q.playlist_us.len(),
            q.segment_us.len(),
            q.skipped,
            q.max_start_lag.as_secs_f64() * 1000.0,
            q.max_connect.as_secs_f64() * 1000.0,
            self.listen_overflows,
            Self::times(&q.playlist_us),
            Self::times(&q.segment_us),
            q.non_200,
            q.errors,
            q.timeouts,
            q.no_segment,
            q.failures_warmup,
            self.unfinished,
            q.bytes as f64 / 1e6 / self.window,
            self.wall,
            self.cpu_cores,
            self.rss_kb as f64 / 1024.0,
            self.idle_rss_kb as f64 / 1024.0,
            self.generator_cpu_cores,
            self.others(),
            if self.publisher_failed {
                "FAILED,"
            } else {
                "ok,"
            },
            self.publisher_max_lag.as_secs_f64() * 1000.0,
        );
    }

    fn row(&self, s: &Scenario, load: &str) -> String {
        let q = &self.seen;
        format!(
            "| {} | {:.0} / {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {:.1} MiB | {:.2} | {:.2} | {} |",
            s.viewers,
            q.offered as f64 / self.window,
            self.achieved(),
            q.skipped,
            Self::times(&q.playlist_us),
            Self::times(&q.segment_us),
            q.failures() + self.unfinished as u64,
            q.bytes as f64 / 1e6 / self.window,
            self.cpu_cores,
            self.rss_kb as f64 / 1024.0,
            self.generator_cpu_cores,
            self.others(),
            load,
        )
    }
}

fn run(
    publisher_rt: &tokio::runtime::Runtime,
    viewer_rt: &tokio::runtime::Runtime,
    s: &Scenario,
    frames: Arc<Vec<Bytes>>,
) -> Report {
    let server = Server::start(|c| c);
    let pid = server.pid();
    let addr = server.addr;
    let idle_rss_kb = rss_kb(pid);
    let overflows = listen_overflows();
    let max_lag = Arc::new(AtomicU64::new(0));
    // The publisher runs until every viewer is done, so no viewer sees its end (bounded by
    // the frames it has).
    let done = Arc::new(AtomicBool::new(false));
    let publisher = publisher_rt.spawn(publish(addr, frames, done.clone(), max_lag.clone()));
    // Wait (bounded) for the preroll's segment to be listed.
    let path: Arc<str> = format!("/live/{FEED}/main/media.m3u8").into();
    let ready_by = Instant::now() + Duration::from_secs(10);
    while !matches!(get(addr, &path), Ok((200, body)) if newest_segment(&body).is_some()) {
        assert!(Instant::now() < ready_by, "no segment listed after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now() + Duration::from_millis(100);
    let stop = start + Duration::from_secs(s.seconds);
    let warm = start + Duration::from_secs(s.warmup);
    let tasks: Vec<_> = (0..s.viewers)
        .map(|i| {
            let phase = PERIOD.mul_f64(i as f64 / s.viewers as f64);
            viewer_rt.spawn(viewer(addr, path.clone(), start + phase, warm, stop))
        })
        .collect();
    std::thread::sleep(warm.saturating_duration_since(Instant::now()));
    let me = std::process::id().to_string();
    let (a, a_gen, a_all, a_at) = (
        cpu_ticks(&pid.to_string()),
        cpu_ticks(&me),
        machine_ticks(),
        Instant::now(),
    );
    std::thread::sleep(stop.saturating_duration_since(Instant::now()));
    let (b, b_gen, b_all, b_at) = (
        cpu_ticks(&pid.to_string()),
        cpu_ticks(&me),
        machine_ticks(),
        Instant::now(),
    );
    let rss = rss_kb(pid);
    // A slot started before `stop` may take a connect and two requests to finish.
    let deadline = tokio::time::Instant::from_std(stop + TIMEOUT * 3);
    let mut seen = Seen::default();
    let mut unfinished = 0;
    viewer_rt.block_on(async {
        for t in tasks {
            let abort = t.abort_handle();
            match tokio::time::timeout_at(deadline, t).await {
                Ok(Ok(v)) => seen.merge(v),
                Ok(Err(_)) => unfinished += 1,
                Err(_) => {
                    abort.abort();
                    unfinished += 1;
                }
            }
        }
    });
    done.store(true, Ordering::Relaxed);
    let publisher_failed = !publisher_rt.block_on(async {
        matches!(
            tokio::time::timeout(TIMEOUT * 2, publisher).await,
            Ok(Ok(true))
        )
    });
    seen.playlist_us.sort_unstable();
    seen.segment_us.sort_unstable();
    let wall = (b_at - a_at).as_secs_f64();
    Report {
        seen,
        window: (stop - warm).as_secs_f64(),
        wall,
        listen_overflows: listen_overflows() - overflows,
        cpu_cores: (b - a) as f64 / TICKS / wall,
        machine_cores: (b_all - a_all) as f64 / TICKS / wall,
        rss_kb: rss,
        idle_rss_kb,
        generator_cpu_cores: (b_gen - a_gen) as f64 / TICKS / wall,
        unfinished,
        publisher_failed,
        publisher_max_lag: Duration::from_micros(max_lag.load(Ordering::Relaxed)),
    }
}

/// The encoder: a chunked POST, the preroll at once, then one frame every 40 ms until
/// `done` or the last frame. True when every write succeeded and frames did not run out.
async fn publish(
    addr: SocketAddr,
    frames: Arc<Vec<Bytes>>,
    done: Arc<AtomicBool>,
    max_lag: Arc<AtomicU64>,
) -> bool {
    let Ok(Ok(mut sock)) = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr)).await else {
        return false;
    };
    let _ = sock.set_nodelay(true);
    let head = format!(
        "POST /ingest/{FEED} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if sock.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let start = tokio::time::Instant::now();
    let mut chunk = Vec::with_capacity(64 * 1024);
    for (i, f) in frames.iter().enumerate() {
        let due = start + FRAME * i.saturating_sub(PREROLL - 1) as u32;
        tokio::time::sleep_until(due).await;
        if done.load(Ordering::Relaxed) {
            let _ = tokio::time::timeout(TIMEOUT, sock.write_all(b"0\r\n\r\n")).await;
            return true;
        }
        let lag = tokio::time::Instant::now() - due;
        max_lag.fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        chunk.clear();
        chunk.extend_from_slice(format!("{:x}\r\n", f.len()).as_bytes());
        chunk.extend_from_slice(f);
        chunk.extend_from_slice(b"\r\n");
        if !matches!(
            tokio::time::timeout(TIMEOUT, sock.write_all(&chunk)).await,
            Ok(Ok(()))
        ) {
            return false;
        }
    }
    false
}

/// The URI of the newest segment a media playlist lists (its last URI line; parts are
/// listed in tags).
fn newest_segment(playlist: &str) -> Option<&str> {
    playlist
        .lines()
        .rev()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

/// One viewer: a slot every `PERIOD` from `first` until `stop`; in each, the media playlist
/// and then the newest segment it lists, on one keep-alive connection (re-opened at the
/// next slot after any failure).
async fn viewer(
    addr: SocketAddr,
    path: Arc<str>,
    first: Instant,
    warm: Instant,
    stop: Instant,
) -> Seen {
    let mut seen = Seen::default();
    let mut conn: Option<Conn> = None;
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let mut k: u32 = 0;
    loop {
        let due = first + PERIOD * k;
        if due >= stop {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let measured = due >= warm;
        seen.max_start_lag = seen.max_start_lag.max(Instant::now() - due);
        if measured {
            seen.offered += 2;
        }
        let fail = |seen: &mut Seen, what: Failure| {
            if !measured {
                seen.failures_warmup += 1;
                return;
            }
            match what {
                Failure::Status => seen.non_200 += 1,
                Failure::Error => seen.errors += 1,
                Failure::Timeout => seen.timeouts += 1,
                Failure::NoSegment => seen.no_segment += 1,
            }
        };
        'slot: {
            if conn.is_none() {
                let t = Instant::now();
                let c = tokio::time::timeout(TIMEOUT / 2, Conn::connect(addr)).await;
                seen.max_connect = seen.max_connect.max(t.elapsed());
                match c {
                    Ok(Ok(c)) => conn = Some(c),
                    Ok(Err(_)) => {
                        fail(&mut seen, Failure::Error);
                        break 'slot;
                    }
                    Err(_) => {
                        fail(&mut seen, Failure::Timeout);
                        break 'slot;
                    }
                }
            }
            let Some(c) = conn.as_mut() else {
                break 'slot;
            };
            let playlist = match fetch(c, &path, true, TIMEOUT).await {
                Ok(a) => a,
                Err(f) => {
                    fail(&mut seen, f);
                    conn = None;
                    break 'slot;
                }
            };
            if measured {
                seen.playlist_us.push(playlist.us);
                seen.bytes += playlist.bytes;
            }
            let text = String::from_utf8_lossy(&playlist.body);
            let Some(seg) = newest_segment(&text) else {
                fail(&mut seen, Failure::NoSegment);
                break 'slot;
            };
            let seg = format!("{dir}{seg}");
            match fetch(c, &seg, false, TIMEOUT).await {
                Ok(a) => {
                    if measured {
                        seen.segment_us.push(a.us);
                        seen.bytes += a.bytes;
                    }
                }
                Err(f) => {
                    fail(&mut seen, f);
                    conn = None;
                }
            }
        }
        // The next slot that has not begun yet; the ones that passed are skipped.
        k += 1;
        let now = Instant::now();
        while first + PERIOD * k < now && first + PERIOD * k < stop {
            if first + PERIOD * k >= warm {
                seen.skipped += 1;
                seen.offered += 2;
            }
            k += 1;
        }
    }
    seen
}

enum Failure {
    Status,
    Error,
    Timeout,
    NoSegment,
}

/// One answered request.
struct Answer {
    /// From the request's write to the last byte read.
    us: u32,
    /// Bytes read, head included.
    bytes: u64,
    /// The body, when asked for.
    body: Vec<u8>,
}

/// GET `path` on `conn` within `limit`; a 200 answer, or why not.
async fn fetch(
    conn: &mut Conn,
    path: &str,
    keep: bool,
    limit: Duration,
) -> Result<Answer, Failure> {
    let t = Instant::now();
    match tokio::time::timeout(limit, conn.get(path, keep)).await {
        Ok(Ok(got)) if got.status == 200 => Ok(Answer {
            us: t.elapsed().as_micros().min(u32::MAX as u128) as u32,
            bytes: got.bytes,
            body: got.body,
        }),
        Ok(Ok(_)) => Err(Failure::Status),
        Ok(Err(_)) => Err(Failure::Error),
        Err(_) => Err(Failure::Timeout),
    }
}
