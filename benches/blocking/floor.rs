//! The floor of the blocking wake-up: the same exchange over the same sockets with everything
//! hlsd does taken out. A plain TCP server reads each publisher's chunked POST and, at the
//! start of every 7th chunk (one chunk per frame, so about one LL-HLS part of 25 fps video),
//! counts a new part; a request `?_HLS_msn=m&_HLS_part=p` is answered once that count
//! reaches m, with a fixed playlist-sized text whose preload hint names the next count. No
//! HTTP library, no routing, no segmenter, no playlist rendering: only the wake-up and one
//! socket write per waiter, which is what no origin can avoid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Frames (chunks) per part.
const FRAMES_PER_PART: u64 = 7;
/// Size of hlsd's answer in this benchmark, about.
const BODY_BYTES: usize = 2500;

type Feeds = Arc<Mutex<HashMap<String, watch::Sender<u64>>>>;

pub async fn serve(listener: TcpListener) {
    let feeds: Feeds = Arc::default();
    while let Ok((sock, _)) = listener.accept().await {
        let _ = sock.set_nodelay(true);
        tokio::spawn(connection(sock, feeds.clone()));
    }
}

fn channel(feeds: &Feeds, feed: &str) -> Option<watch::Sender<u64>> {
    let mut map = feeds.lock().ok()?;
    Some(
        map.entry(feed.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .clone(),
    )
}

/// Reads one request head; returns (method, path, bytes after the head).
async fn head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let line = String::from_utf8_lossy(&buf[..end]).to_string();
            let rest = buf[end + 4..].to_vec();
            buf.clear();
            let mut words = line.split(' ');
            return Some((words.next()?.to_string(), words.next()?.to_string(), rest));
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn connection(mut sock: TcpStream, feeds: Feeds) {
    let mut buf = Vec::with_capacity(8192);
    while let Some((method, path, rest)) = head(&mut sock, &mut buf).await {
        if method == "POST" {
            let feed = path.trim_start_matches("/ingest/").to_string();
            if let Some(tx) = channel(&feeds, &feed) {
                publisher(sock, rest, tx).await;
            }
            return;
        }
        // GET /live/{feed}/main/media.m3u8[?_HLS_msn=m&_HLS_part=p]
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let feed = path.split('/').nth(2).unwrap_or_default();
        let Some(tx) = channel(&feeds, feed) else {
            return;
        };
        let mut rx = tx.subscribe();
        let msn: Option<u64> = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("_HLS_msn="))
            .and_then(|v| v.parse().ok());
        let now = match msn {
            Some(m) => match rx.wait_for(|&n| n >= m).await {
                Ok(n) => *n,
                Err(_) => return,
            },
            None => *rx.borrow(),
        };
        let hint = format!(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-0-{}.0.ts\"\n",
            now + 1
        );
        let mut body = String::with_capacity(BODY_BYTES);
        body.push_str("#EXTM3U\n");
        while body.len() + hint.len() < BODY_BYTES {
            body.push_str("#EXT-X-PART:DURATION=0.28000,URI=\"part-0-0.0.ts\"\n");
        }
        body.push_str(&hint);
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads a chunked body; at the start of every `FRAMES_PER_PART`th chunk a part is counted.
async fn publisher(mut sock: TcpStream, mut buf: Vec<u8>, tx: watch::Sender<u64>) {
    let mut frames = 0u64;
    let mut skip = 0usize; // bytes of the current chunk's data (and its CRLF) still to come
    loop {
        loop {
            if skip > 0 {
                let n = skip.min(buf.len());
                buf.drain(..n);
                skip -= n;
                if skip > 0 {
                    break;
                }
            }
            let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let size = std::str::from_utf8(&buf[..end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
            buf.drain(..end + 2);
            match size {
                Some(0) | None => return,
                Some(size) => {
                    frames += 1;
                    if frames.is_multiple_of(FRAMES_PER_PART) {
                        tx.send_modify(|n| *n += 1);
                    }
                    skip = size + 2;
                }
            }
        }
        let mut chunk = [0u8; 65536];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
