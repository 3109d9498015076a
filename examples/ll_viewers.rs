//! Load client for `bench/cache-viewers.sh`: N LL-HLS viewers of one media playlist, each
//! on its own HTTP/1.1 connection, behaving as hls.js does: a blocking reload for the
//! hinted part (`_HLS_msn`/`_HLS_part`), then a GET of every part listed since its last
//! reload. Runs for a bounded time and prints one JSON object of counts and latencies.
//!
//!   cargo run --release --example ll_viewers -- URL VIEWERS SECONDS
//!
//! URL is a media playlist (`http://127.0.0.1:6081/live/demo/main/media.m3u8`); only
//! plain http on an IP address is supported.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[derive(Default)]
struct Counts {
    playlists: AtomicU64,
    parts: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
}

type Sender = http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// GET `path`: status and body, or an error for a broken connection.
async fn get(sender: &mut Sender, host: &str, path: &str) -> Result<(u16, Bytes), hyper::Error> {
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .body(Empty::new())
        .expect("a valid request");
    sender.ready().await?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// The hinted part's position (`part-{token}-{msn}.{index}.ts`) and the URIs of the parts
/// listed in `playlist`.
fn read_playlist(playlist: &str) -> (Option<(u64, u64)>, Vec<String>) {
    let mut parts = Vec::new();
    let mut hint = None;
    for line in playlist.lines() {
        let uri = line
            .split("URI=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_string);
        if line.starts_with("#EXT-X-PART:") {
            parts.extend(uri);
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            hint = uri.as_deref().and_then(position);
        }
    }
    (hint, parts)
}

fn position(uri: &str) -> Option<(u64, u64)> {
    let stem = uri
        .strip_suffix(".ts")
        .or_else(|| uri.strip_suffix(".m4s"))?;
    let (msn, index) = stem.rsplit('-').next()?.split_once('.')?;
    Some((msn.parse().ok()?, index.parse().ok()?))
}

async fn viewer(
    addr: SocketAddr,
    host: String,
    dir: String,
    file: String,
    until: Instant,
    counts: Arc<Counts>,
    latencies: Arc<std::sync::Mutex<Vec<f64>>>,
) {
    let mut sender: Option<Sender> = None;
    let mut next: Option<(u64, u64)> = None;
    let mut seen: Option<String> = None;
    while Instant::now() < until {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => {
                    counts.reconnects.fetch_add(1, Ordering::Relaxed);
                    sender.insert(s)
                }
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let path = match next {
            Some((msn, part)) => format!("{dir}{file}?_HLS_msn={msn}&_HLS_part={part}"),
            None => format!("{dir}{file}"),
        };
        let start = Instant::now();
        let playlist = match get(s, &host, &path).await {
            Ok((200, body)) => body,
            Ok(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                next = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
                continue;
            }
        };
        counts.playlists.fetch_add(1, Ordering::Relaxed);
        counts
            .bytes
            .fetch_add(playlist.len() as u64, Ordering::Relaxed);
        if next.is_some() {
            latencies
                .lock()
                .expect("latency list")
                .push(start.elapsed().as_secs_f64());
        }
        let (hint, parts) = read_playlist(&String::from_utf8_lossy(&playlist));
        // The parts listed after the last one fetched (only the newest at the start).
        let from = seen
            .as_ref()
            .and_then(|s| parts.iter().position(|p| p == s).map(|i| i + 1))
            .unwrap_or(parts.len().saturating_sub(1));
        for uri in &parts[from..] {
            match get(s, &host, &format!("{dir}{uri}")).await {
                Ok((200, body)) => {
                    counts.parts.fetch_add(1, Ordering::Relaxed);
                    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
                Ok(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        if let Some(last) = parts.last() {
            seen = Some(last.clone());
        }
        next = hint;
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ll_viewers URL VIEWERS SECONDS";
    let (url, n, secs) = match &args[1..] {
        [u, n, s] => (
            u.clone(),
            n.parse::<usize>().expect(usage),
            s.parse::<f64>().expect(usage),
        ),
        _ => panic!("{usage}"),
    };
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let addr: SocketAddr = host.parse().expect("an IP:port host");
    let (dir, file) = path.split_at(path.rfind('/').expect("a file") + 1);
    let counts = Arc::new(Counts::default());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(viewer(
            addr,
            host.to_string(),
            dir.to_string(),
            file.to_string(),
            until,
            counts.clone(),
            latencies.clone(),
        ));
    }
    // A viewer blocked on a reload returns within its timeout after the deadline.
    let _ = tokio::time::timeout(Duration::from_secs_f64(secs + 20.0), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let mut l = latencies.lock().expect("latency list").clone();
    l.sort_by(f64::total_cmp);
    println!(
        "{{\"viewers\": {n}, \"seconds\": {secs}, \"playlists\": {}, \"parts\": {}, \"bytes\": {}, \
         \"errors\": {}, \"connections\": {}, \"blocking_p50_ms\": {:.1}, \"blocking_p99_ms\": {:.1}}}",
        counts.playlists.load(Ordering::Relaxed),
        counts.parts.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
        counts.reconnects.load(Ordering::Relaxed),
        pct(&l, 0.5),
        pct(&l, 0.99),
    );
}
