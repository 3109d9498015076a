//! Publish auth (`[auth]`), with real sockets against an in-process hlsd: keys as Bearer
//! or `?key=`, per-feed keys, browsers refused, the publish hook (a real HTTP server here),
//! reconnects and takeovers. The synthetic stream needs no ffmpeg. The SIGHUP reload and
//! the redaction of keys from the log run the built binary (tests/auth_binary.rs).

mod common;

use bytes::Bytes;
use common::*;
use hlsd::config::AuthConfig;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TS: usize = 188;

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

fn keyed(publish_key: Option<&str>, feed_keys: &[(&str, &str)]) -> Config {
    let mut c = config();
    c.auth = Some(AuthConfig {
        publish_key: publish_key.map(String::from),
        feed_keys: feed_keys
            .iter()
            .map(|(f, k)| (f.to_string(), k.to_string()))
            .collect(),
        ..AuthConfig::default()
    });
    c
}

fn bearer(key: &str) -> (String, String) {
    ("Authorization".into(), format!("Bearer {key}"))
}

fn with(p: Push, header: (String, String)) -> Push {
    p.header(&header.0, &header.1)
}

/// A publish that sends its head and then nothing: the answer cannot depend on the body.
async fn head_only(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Pushed {
    let mut p = Push::path(path).stop_at(0).end(End::Hold);
    for (k, v) in headers {
        p = p.header(k, v);
    }
    push(server.addr, Bytes::new(), p).await
}

/// A `POST` with an empty body through reqwest: status, headers and body of the answer.
async fn post(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Resp {
    request("POST", &server.url(path), headers).await
}

async fn feed_exists(server: &TestServer, feed: &str) -> bool {
    get(&server.url(&format!("/api/feeds/{feed}"))).await.status == 200
}

async fn media_text(server: &TestServer, feed: &str) -> String {
    let r = get(&server.media_url(feed)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_before_the_body() {
    let server = TestServer::start(keyed(Some("pk-1"), &[("cam1", "c1-key")])).await;

    // No key: 401 before any body byte, with the Bearer challenge, never cached.
    let r = head_only(&server, "/ingest/a", &[]).await;
    assert_eq!(r.status, Some(401), "{r:?}");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("bearer"));
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("private, no-store")
    );
    // Another scheme is no key either.
    let r = head_only(&server, "/ingest/a", &[("Authorization", "Basic cGstMQ==")]).await;
    assert_eq!(r.status, Some(401), "{r:?}");
    // Wrong keys, either way: 403.
    let r = head_only(&server, "/ingest/a", &[("Authorization", "Bearer pk-2")]).await;
    assert_eq!(r.status, Some(403), "{r:?}");
    assert_eq!(r.header("www-authenticate"), None);
    let r = head_only(&server, "/ingest/a?key=pk-", &[]).await;
    assert_eq!(r.status, Some(403), "{r:?}");
    // The per-feed key beats publish_key: cam1 takes only its own.
    let r = head_only(&server, "/ingest/cam1", &[("Authorization", "Bearer pk-1")]).await;
    assert_eq!(r.status, Some(403), "{r:?}");
    let r = head_only(&server, "/ingest/cam1?key=pk-1", &[]).await;
    assert_eq!(r.status, Some(403), "{r:?}");
    for feed in ["a", "cam1"] {
        assert!(
            !feed_exists(&server, feed).await,
            "{feed} created by a refusal"
        );
    }

    // The right key, as Bearer, as ?key= (percent-encoded), and per feed: 200, and it plays.
    let data = synth(100);
    let ok = [
        ("bearer", with(Push::new("bearer"), bearer("pk-1"))),
        ("query", Push::path("/ingest/query?x=1&key=pk%2D1")),
        ("cam1", with(Push::new("cam1"), bearer("c1-key"))),
        ("cam1r", Push::path("/ingest/cam1/low?key=c1-key")),
    ];
    for (name, p) in ok {
        let r = push(server.addr, data.clone(), p).await;
        assert_eq!(r.status, Some(200), "{name}: {r:?}");
    }
    for feed in ["bearer", "query", "cam1"] {
        let index = get(&server.index_url(feed)).await;
        assert_eq!(index.status, 200, "{feed}: {}", index.text());
        let media = media_text(&server, feed).await;
        assert!(!parse_media(&media).segments.is_empty(), "{media}");
    }
    let low = get(&server.url("/live/cam1/low/media.m3u8")).await;
    assert_eq!(low.status, 200);
    server.stop().await;
}

/// With only per-feed keys, other feeds cannot be published; the answers are the same for
/// a feed that exists and one that does not, so they tell nothing about which feeds exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_give_no_hint_of_which_feeds_exist() {
    let server = TestServer::start(keyed(None, &[("cam1", "c1-key")])).await;
    let data = synth(250);
    let live = spawn_push(
        server.addr,
        data.clone(),
        with(Push::new("cam1").paced(&data, 5.0), bearer("c1-key")),
    );
    eventually(Duration::from_secs(10), "cam1 live", || async {
        feed_exists(&server, "cam1").await.then_some(())
    })
    .await;
    let answers = |path: &'static str, key: Option<&'static str>| {
        let server = &server;
        async move {
            let auth = key.map(|k| format!("Bearer {k}"));
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            let r = post(server, path, &headers).await;
            (r.status, r.text())
        }
    };
    // The right key for cam1 opens cam1 only (where the live publisher holds it: 409).
    assert_eq!(answers("/ingest/nosuchfeed", Some("c1-key")).await.0, 403);
    assert_eq!(answers("/ingest/cam1", Some("c1-key")).await.0, 409);
    for key in [None, Some("wrong"), Some("")] {
        let known = answers("/ingest/cam1", key).await;
        let unknown = answers("/ingest/nosuchfeed", key).await;
        let unknown_r = answers("/ingest/nosuchfeed/main", key).await;
        assert_eq!(known, unknown, "key {key:?}");
        assert_eq!(unknown, unknown_r, "key {key:?}");
        assert_eq!(
            known.0,
            if key == Some("wrong") { 403 } else { 401 },
            "{known:?}"
        );
        assert!(!known.1.contains("cam1"), "{}", known.1);
    }
    assert!(!feed_exists(&server, "nosuchfeed").await);
    assert_eq!(live.await.unwrap().status, Some(200));
    server.stop().await;
}

/// Browsers always send Origin on a cross-origin POST and Sec-Fetch-* on every request;
/// encoders never do. Even with open publishing such a publish is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_requests_are_refused() {
    let server = TestServer::start(config()).await;
    let data = synth(60);
    for (k, v) in [
        ("Origin", "https://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Origin", "null"),
    ] {
        let r = push(
            server.addr,
            data.clone(),
            Push::new("browsed")
                .header(k, v)
                .header("Content-Type", "text/plain"),
        )
        .await;
        assert_eq!(r.status, Some(403), "{k}: {v}: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{k}");
    }
    assert!(!feed_exists(&server, "browsed").await);
    let r = push(server.addr, data, Push::new("browsed")).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    server.stop().await;
}

/// What the test's hook answers.
const HOOK_ALLOW: u32 = 200;
const HOOK_DENY: u32 = 403;
/// Sleeps past `hook_timeout`, then allows.
const HOOK_SLOW: u32 = 1;

/// A real HTTP/1.1 server on 127.0.0.1:0 that records the JSON it is sent.
struct HookServer {
    addr: SocketAddr,
    mode: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl HookServer {
    async fn start() -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU32::new(HOOK_ALLOW));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (m, s) = (mode.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(answer_hook(conn, m.clone(), s.clone()));
            }
        });
        HookServer { addr, mode, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/auth?x=1", self.addr)
    }

    fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer_hook(
    mut conn: tokio::net::TcpStream,
    mode: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<Value>>>,
) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let (head_end, len) = loop {
        let n = conn.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            assert!(head.starts_with("post /auth?x=1 http/1.1"), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("Content-Length");
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let n = conn.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let json: Value = serde_json::from_slice(&buf[head_end..head_end + len]).expect("JSON");
    seen.lock().unwrap().push(json);
    let status = match mode.load(Ordering::SeqCst) {
        HOOK_SLOW => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            200
        }
        s => s,
    };
    let res = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = conn.write_all(res.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_alone_decides() {
    let hook = HookServer::start().await;
    let mut config = keyed(Some("pk-1"), &[]);
    if let Some(a) = config.auth.as_mut() {
        a.publish_hook = Some(hook.url());
        a.hook_timeout = 0.5;
    }
    let server = TestServer::start(config).await;
    let data = synth(60);

    // 2xx allows, without any key: the hook alone decides.
    let r = push(server.addr, data.clone(), Push::path("/ingest/hooked/hi")).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(get(&server.index_url("hooked")).await.status, 200);
    let seen = eventually(Duration::from_secs(5), "publish and unpublish", || async {
        let s = hook.seen();
        (s.len() >= 2).then_some(s)
    })
    .await;
    let want = |action: &str, key: Value| {
        serde_json::json!({"action": action, "protocol": "http", "feed": "hooked",
            "rendition": "hi", "key": key, "ip": "127.0.0.1"})
    };
    assert_eq!(seen[0], want("publish", Value::Null));
    assert_eq!(seen[1], want("unpublish", Value::Null));

    // The key presented is passed on; any other answer refuses (403).
    hook.mode.store(HOOK_DENY, Ordering::SeqCst);
    let r = push(
        server.addr,
        data.clone(),
        with(Push::new("denied"), bearer("pk-1")),
    )
    .await;
    assert_eq!(r.status, Some(403), "{r:?}");
    assert!(!feed_exists(&server, "denied").await);
    let last = hook.seen().last().cloned().unwrap();
    assert_eq!(last["feed"], "denied");
    assert_eq!(last["rendition"], "main");
    assert_eq!(last["key"], "pk-1");

    // No answer within hook_timeout: 503 with Retry-After; no unpublish for a refusal.
    hook.mode.store(HOOK_SLOW, Ordering::SeqCst);
    let r = head_only(&server, "/ingest/slow?key=abc", &[]).await;
    assert_eq!(r.status, Some(503), "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert!(!feed_exists(&server, "slow").await);
    let n = hook.seen().len();
    assert_eq!(hook.seen()[n - 1]["key"], "abc");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.seen().len(), n, "unpublish sent for a refused publish");
    server.stop().await;

    // A hook that cannot be reached: 503 as well.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/auth", gone.local_addr().unwrap());
    drop(gone);
    let mut config = common::config();
    config.auth = Some(AuthConfig {
        publish_hook: Some(url),
        ..AuthConfig::default()
    });
    let server = TestServer::start(config).await;
    let r = head_only(&server, "/ingest/x", &[]).await;
    assert_eq!(r.status, Some(503), "{r:?}");
    server.stop().await;
}

/// Within the reconnect grace a publish resumes the feed only with the right key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_needs_the_key_too() {
    let mut config = keyed(Some("pk-1"), &[]);
    config.feeds.reconnect_grace = 20.0;
    let server = TestServer::start(config).await;
    let data = synth(100);
    let r = push(
        server.addr,
        data.clone(),
        with(Push::new("rc"), bearer("pk-1")),
    )
    .await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let before = media_text(&server, "rc").await;
    assert!(!has_endlist(&before));

    for p in [
        Push::new("rc"),
        with(Push::new("rc"), bearer("pk-2")),
        Push::path("/ingest/rc?key=pk-11"),
    ] {
        let r = push(server.addr, data.clone(), p).await;
        assert!(matches!(r.status, Some(401 | 403)), "{r:?}");
    }
    assert_eq!(
        media_text(&server, "rc").await,
        before,
        "refused publishes changed the feed"
    );
    let v: Value = serde_json::from_slice(&get(&server.url("/api/feeds/rc")).await.body).unwrap();
    assert_eq!(v["state"], "reconnecting");

    // The right key resumes it, with a discontinuity.
    let r = push(server.addr, data, Push::path("/ingest/rc?key=pk-1")).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let after = media_text(&server, "rc").await;
    assert!(after.contains("\n#EXT-X-DISCONTINUITY\n"), "{after}");
    server.stop().await;
}

/// A publisher with the right key takes over a rendition whose publisher has sent nothing
/// for 2 s (the old request ends); a live sender keeps it (409), and so does a silent one
/// against a newcomer without the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_of_a_silent_publisher() {
    let mut config = keyed(Some("pk-1"), &[]);
    config.feeds.idle_timeout = 30.0;
    let server = TestServer::start(config).await;
    let data = synth(250);
    let half = packet_boundary(&data, 0.5);

    // A live sender (10 s of media over 6 s) keeps its rendition.
    let sender = spawn_push(
        server.addr,
        data.clone(),
        with(Push::new("live").paced(&data, 6.0), bearer("pk-1")),
    );
    eventually(Duration::from_secs(10), "live publishing", || async {
        feed_exists(&server, "live").await.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = push(
        server.addr,
        data.clone(),
        with(Push::new("live"), bearer("pk-1")),
    )
    .await;
    assert_eq!(r.status, Some(409), "{r:?}");
    assert_eq!(sender.await.unwrap().status, Some(200));

    // A holder that went silent after half of the stream.
    let holder = spawn_push(
        server.addr,
        data.clone(),
        with(Push::new("tk"), bearer("pk-1"))
            .chunk(7 * TS)
            .stop_at(half)
            .end(End::Hold),
    );
    let media = eventually(Duration::from_secs(10), "the holder's segments", || async {
        let r = get(&server.media_url("tk")).await;
        (r.status == 200 && !parse_media(&r.text()).segments.is_empty()).then(|| r.text())
    })
    .await;
    assert!(!media.contains("#EXT-X-DISCONTINUITY\n"), "{media}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(!holder.is_finished());
    // Without the key: refused, not a takeover.
    let r = push(
        server.addr,
        data.clone(),
        with(Push::new("tk"), bearer("pk-2")),
    )
    .await;
    assert_eq!(r.status, Some(403), "{r:?}");
    // With it: the newcomer publishes, the old request ends, the feed goes on.
    let r = push(server.addr, data.clone(), Push::path("/ingest/tk?key=pk-1")).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    let old = tokio::time::timeout(Duration::from_secs(5), holder)
        .await
        .expect("the old request ends")
        .unwrap();
    assert_eq!(old.status, Some(409), "{old:?}");
    let after = media_text(&server, "tk").await;
    assert!(after.contains("\n#EXT-X-DISCONTINUITY\n"), "{after}");
    let first = parse_media(&media).segments[0].uri.clone();
    assert!(
        after.contains(&first),
        "the feed lost its first segment:\n{after}"
    );
    server.stop().await;
}

/// With open publishing nobody presents a credential: a silent holder keeps its rendition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_takeover_without_credentials() {
    let mut config = config();
    config.feeds.idle_timeout = 30.0;
    let server = TestServer::start(config).await;
    let data = synth(100);
    let holder = spawn_push(
        server.addr,
        data.clone(),
        Push::new("open")
            .stop_at(packet_boundary(&data, 0.5))
            .end(End::Hold),
    );
    eventually(Duration::from_secs(10), "holding", || async {
        feed_exists(&server, "open").await.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = push(server.addr, data, Push::new("open")).await;
    assert_eq!(r.status, Some(409), "{r:?}");
    assert!(!holder.is_finished());
    holder.abort();
    server.stop().await;
}
