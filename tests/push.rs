//! The push client and the demo feed against hlsd running in-process on 127.0.0.1:0.

use hlsd::push::{LoopRewriter, Outcome, PushError, PushOptions, Target, push};
use hlsd::{Config, demo};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(demo_on: bool) -> Server {
    let mut config = Config::default();
    config.demo.enabled = demo_on;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(hlsd::run(listener, config, async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        stop: Some(tx),
        task,
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("hlsd stops within a few seconds")
            .unwrap()
            .unwrap();
    }
}

fn fast() -> PushOptions {
    PushOptions {
        looped: false,
        fast: true,
        chunk: 7 * 188,
        exact: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_feed_plays_and_a_second_publisher_is_refused() {
    let s = start(true).await;
    // The demo task connects soon after start; until it has, the feed is unknown (404).
    // Once it publishes, the multivariant playlist waits for the first segment.
    let mut tries = 0;
    let (status, text) = loop {
        let (status, text) = s.get("/live/demo/index.m3u8").await;
        tries += 1;
        if status != 404 || tries == 50 {
            break (status, text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("main/media.m3u8"));
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&s.url("/ingest/demo")).unwrap();
    match push(&mut rw, &target, &fast(), std::future::pending()).await {
        Err(PushError::Refused { status: 409, .. }) => {}
        other => panic!("expected 409, got {other:?}"),
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_push_publishes_the_whole_file() {
    let s = start(false).await;
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&s.url("/ingest/cam")).unwrap();
    let out = push(&mut rw, &target, &fast(), std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Done {
            status: 200,
            passes: 1,
            bytes: demo::CLIP.len() as u64
        }
    );
    let (status, text) = s.get("/live/cam/main/media.m3u8").await;
    assert_eq!(status, 200);
    assert_eq!(text.matches("#EXTINF:2.000,").count(), 4, "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looped_fast_push_stops_when_told() {
    let s = start(false).await;
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&s.url("/ingest/loop")).unwrap();
    let opts = PushOptions {
        looped: true,
        ..fast()
    };
    let stop = tokio::time::sleep(Duration::from_millis(500));
    match push(&mut rw, &target, &opts, stop).await.unwrap() {
        Outcome::Stopped { passes, .. } => assert!(passes >= 1),
        other => panic!("{other:?}"),
    }
    let (status, text) = s.get("/live/loop/main/media.m3u8").await;
    assert_eq!(status, 200);
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn nobody_listening_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&format!("http://{addr}/ingest/x")).unwrap();
    let r = push(&mut rw, &target, &fast(), std::future::pending()).await;
    assert!(matches!(r, Err(PushError::Connect { .. })), "{r:?}");
}

/// ffmpeg's `-listen 1` HTTP server answers 200 as soon as it has the request head, long
/// before the body ends: the push goes on to the end of the file, paced as an encoder's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_server_that_accepts_before_the_end_gets_the_whole_file() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.ts");
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-listen", "1"])
        .args(["-f", "mpegts", "-i"])
        .arg(format!("http://127.0.0.1:{port}/ingest"))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&out)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg");
    let target = Target::parse(&format!("http://127.0.0.1:{port}/ingest")).unwrap();
    let opts = PushOptions {
        fast: false,
        ..fast()
    };
    let mut tries = 0;
    let outcome = loop {
        let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
        match push(&mut rw, &target, &opts, std::future::pending()).await {
            Err(PushError::Connect { .. }) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            r => break r.unwrap(),
        }
    };
    assert_eq!(
        outcome,
        Outcome::Done {
            status: 200,
            passes: 1,
            bytes: demo::CLIP.len() as u64
        }
    );
    let status = tokio::time::timeout(Duration::from_secs(20), ffmpeg.wait_with_output())
        .await
        .expect("ffmpeg ends with the body")
        .unwrap()
        .status;
    assert!(status.success());
    // ffmpeg rewrites the tables and the padding, so sizes differ a little, not by a pass.
    let got = std::fs::metadata(&out).unwrap().len() as f64;
    let sent = demo::CLIP.len() as f64;
    assert!(got > 0.9 * sent, "ffmpeg wrote {got} bytes of {sent}");
}

/// A server that accepts the stream at once and then drops the connection: the push ends
/// with the lost connection as its error.
#[tokio::test]
async fn a_connection_lost_after_an_early_answer_is_an_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut got = 0;
        while got < 200_000 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        // Dropped with the rest of the body unread.
    });
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&format!("http://{addr}/ingest/x")).unwrap();
    let opts = PushOptions {
        looped: true,
        ..fast()
    };
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        push(&mut rw, &target, &opts, std::future::pending()),
    )
    .await
    .expect("the push ends when the connection is lost");
    assert!(matches!(r, Err(PushError::Io(_))), "{r:?}");
    server.await.unwrap();
}

/// `--reconnect`: a dropped connection is followed by a new publish (with the next pass of
/// the file), and a lasting refusal (403) ends the push without another try.
#[tokio::test]
async fn reconnect_publishes_again_after_a_drop_and_stops_at_a_refusal() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut heads = Vec::new();
        for answer in [None, Some("403 Forbidden"), Some("403 Forbidden")] {
            let Ok(Ok((mut s, _))) = tokio::time::timeout(Duration::from_secs(5), l.accept()).await
            else {
                break;
            };
            let mut buf = vec![0u8; 64 * 1024];
            let n = s.read(&mut buf).await.unwrap();
            heads.push(String::from_utf8_lossy(&buf[..n.min(40)]).to_string());
            match answer {
                // The first connection drops after some of the body.
                None => {
                    let mut got = n;
                    while got < 100_000 {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got += n,
                        }
                    }
                }
                Some(status) => {
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {status}\r\nContent-Length: 4\r\n\r\nno!\n")
                                .as_bytes(),
                        )
                        .await;
                }
            }
        }
        heads
    });
    let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
    let target = Target::parse(&format!("http://{addr}/ingest/x")).unwrap();
    let opts = PushOptions {
        looped: true,
        ..fast()
    };
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        hlsd::push::push_reconnecting(&mut rw, &target, &opts, std::future::pending()),
    )
    .await
    .expect("the push ends at the refusal");
    assert!(
        matches!(r, Err(PushError::Refused { status: 403, .. })),
        "{r:?}"
    );
    let heads = server.await.unwrap();
    assert_eq!(heads.len(), 2, "connections: {heads:?}");
    assert!(
        heads.iter().all(|h| h.starts_with("POST /ingest/x")),
        "{heads:?}"
    );
    // The second publish went on with a later pass of the file.
    assert!(rw.passes() >= 2, "passes {}", rw.passes());
}

/// Reads one chunked POST from `conn` and answers 200; returns the chunk sizes and the body.
async fn read_chunked(conn: &mut tokio::net::TcpStream) -> (Vec<usize>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let mut at = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut tmp).await.unwrap();
        assert!(n > 0, "head cut short");
        buf.extend_from_slice(&tmp[..n]);
    };
    let (mut sizes, mut body) = (Vec::new(), Vec::new());
    loop {
        let line_end = loop {
            if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + i;
            }
            let n = conn.read(&mut tmp).await.unwrap();
            assert!(n > 0, "body cut short");
            buf.extend_from_slice(&tmp[..n]);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&buf[at..line_end]).unwrap(), 16).unwrap();
        let end = line_end + 2 + size + 2;
        while buf.len() < end {
            let n = conn.read(&mut tmp).await.unwrap();
            assert!(n > 0, "chunk cut short");
            buf.extend_from_slice(&tmp[..n]);
        }
        assert_eq!(&buf[end - 2..end], b"\r\n");
        at = end;
        if size == 0 {
            break;
        }
        sizes.push(size);
        body.extend_from_slice(&buf[line_end + 2..end - 2]);
    }
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    (sizes, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_chunks_are_all_of_the_size_asked_but_the_last() {
    for (chunk, exact) in [(1316, true), (32 * 1024, true), (1000, true), (1316, false)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            read_chunked(&mut conn).await
        });
        let mut rw = LoopRewriter::new(demo::CLIP).unwrap();
        let target = Target::parse(&format!("http://{addr}/ingest/x")).unwrap();
        let opts = PushOptions {
            looped: false,
            fast: true,
            chunk,
            exact,
        };
        let out = push(&mut rw, &target, &opts, std::future::pending())
            .await
            .unwrap();
        let (sizes, body) = server.await.unwrap();
        assert_eq!(body, demo::CLIP, "{chunk} {exact}");
        assert!(matches!(out, Outcome::Done { status: 200, .. }), "{out:?}");
        let (last, rest) = sizes.split_last().unwrap();
        assert!(*last <= chunk);
        assert!(rest.iter().all(|&s| s <= chunk));
        let short = rest.iter().filter(|&&s| s < chunk).count();
        if exact {
            assert_eq!(short, 0, "{chunk}: {sizes:?}");
        } else {
            // Cut at the clip's checkpoints: short chunks between them.
            assert!(short > 0, "{chunk}");
        }
    }
}
