//! The cross-cutting layers as clients see them, over real sockets: CORS on playback only
//! (`/live`, signed `/s/...`), none on ingest, the API and metrics; preflights; the
//! `x-request-id` echoed (an incoming valid one kept, one made otherwise); and, against the
//! built binary logging at DEBUG, publish keys and `Authorization` values in no log line.

mod common;

use bytes::Bytes;
use common::*;
use hlsd::http::signed::{Signer, unix_now};

const ORIGIN: (&str, &str) = ("Origin", "https://player.example");
const SECRET: &str = "layers-secret";

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

async fn server_with_feed(config: Config) -> TestServer {
    let server = TestServer::start(config).await;
    let pushed = push(server.addr, synth(100), Push::new("cam")).await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    server
}

fn assert_cors(r: &Resp, what: &str) {
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{what}");
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("age"),
        "{what}"
    );
}

fn assert_no_cors(r: &Resp, what: &str) {
    let cors: Vec<_> = r
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: {cors:?}");
}

/// The first segment's URL of the media playlist at `url` (fetched with `Origin`).
async fn first_segment(url: &str) -> String {
    let r = request("GET", url, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    assert_cors(&r, url);
    let uri = r
        .text()
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("a segment")
        .to_string();
    resolve(url, &uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_on_playback_only() {
    let server = server_with_feed(config()).await;
    for path in ["/live/cam/index.m3u8", "/live/ghost/index.m3u8"] {
        let r = request("GET", &server.url(path), &[ORIGIN]).await;
        assert_cors(&r, path);
    }
    let segment = first_segment(&server.media_url("cam")).await;
    let r = request("GET", &segment, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "{segment}");
    assert_cors(&r, &segment);

    for (method, path) in [
        ("GET", "/api/feeds"),
        ("GET", "/api/feeds/cam"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("GET", "/ingest/cam"),
        ("POST", "/ingest/other"),
        ("GET", "/nowhere"),
    ] {
        let r = request(method, &server.url(path), &[ORIGIN]).await;
        assert_no_cors(&r, &format!("{method} {path} ({})", r.status));
    }
    // What DESIGN.md promises: 200 for the API and metrics, 403 for a browser's publish.
    assert_eq!(get(&server.url("/api/feeds")).await.status, 200);
    assert_eq!(get(&server.url("/metrics")).await.status, 200);
    let r = request("POST", &server.url("/ingest/other"), &[ORIGIN]).await;
    assert_eq!(r.status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_are_answered_on_playback_only() {
    let server = server_with_feed(config()).await;
    let preflight = [
        ORIGIN,
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "range"),
    ];
    for path in [
        "/live/cam/index.m3u8",
        "/live/cam/main/media.m3u8",
        "/live/x",
    ] {
        let r = request("OPTIONS", &server.url(path), &preflight).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET,HEAD,OPTIONS"),
            "{path}"
        );
        assert!(r.body.is_empty(), "{path}");
    }
    for path in ["/api/feeds", "/ingest/cam", "/metrics"] {
        let r = request("OPTIONS", &server.url(path), &preflight).await;
        assert_eq!(r.status, 405, "{path}");
        assert_no_cors(&r, path);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_on_signed_paths() {
    let mut c = config();
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some(SECRET.into()),
        ..Default::default()
    });
    let server = server_with_feed(c).await;
    let index = Signer::new(SECRET)
        .path("cam", unix_now() + 3600)
        .expect("a valid name");
    let r = request("GET", &server.url(&index), &[ORIGIN]).await;
    assert_eq!(r.status, 200, "{index}: {}", r.text());
    assert_cors(&r, &index);
    let media = server.url(&index.replace("index.m3u8", "main/media.m3u8"));
    let segment = first_segment(&media).await;
    assert!(segment.contains("/s/"), "{segment}");
    let r = request("GET", &segment, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "{segment}");
    assert_cors(&r, &segment);
    let r = request("OPTIONS", &media, &[ORIGIN]).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Refusals of playback paths carry CORS (a player can read the status); the API none.
    let r = request("GET", &server.media_url("cam"), &[ORIGIN]).await;
    assert_eq!(r.status, 401);
    assert_cors(&r, "unsigned /live");
    let r = request("GET", &server.url("/api/feeds"), &[ORIGIN]).await;
    assert_no_cors(&r, "/api/feeds with a secret");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed() {
    let server = server_with_feed(config()).await;
    let paths = [
        "/live/cam/main/media.m3u8",
        "/live/ghost/index.m3u8",
        "/api/feeds",
        "/metrics",
        "/healthz",
        "/nowhere",
    ];
    for path in paths {
        let url = server.url(path);
        let kept = request("GET", &url, &[("x-request-id", "client-id_1.2:3")]).await;
        assert_eq!(
            kept.header("x-request-id"),
            Some("client-id_1.2:3"),
            "{path}"
        );

        let a = get(&url).await;
        let b = get(&url).await;
        let (a, b) = (a.header("x-request-id"), b.header("x-request-id"));
        let a = a.unwrap_or_else(|| panic!("{path}: no id made"));
        assert_eq!(a.len(), 25, "{path}: {a}");
        assert!(
            a.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'),
            "{path}: {a}"
        );
        assert_ne!(Some(a), b, "{path}: two requests, one id");

        // Not a plausible id (a space, too long): replaced by a made one.
        let long = "x".repeat(129);
        for bad in ["two words", long.as_str()] {
            let r = request("GET", &url, &[("x-request-id", bad)]).await;
            let id = r.header("x-request-id").expect("an id");
            assert_ne!(id, bad, "{path}");
            assert_eq!(id.len(), 25, "{path}: {id}");
        }
    }
    // Ingest answers carry the id too (a refusal here: no key is needed, but a browser's
    // publish is refused).
    let r = request(
        "POST",
        &server.url("/ingest/x"),
        &[ORIGIN, ("x-request-id", "enc-7")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-request-id"), Some("enc-7"));
    server.stop().await;
}

/// The built binary at `RUST_LOG=debug`: a publish with a Bearer key, one with `?key=`, an
/// API read with the admin token and a playlist read with an `Authorization` header. Every
/// request is logged with its id, and no secret is in any line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    const PUBLISH_KEY: &str = "PUB-SECRET-7f3a";
    const ADMIN_TOKEN: &str = "ADMIN-SECRET-9c1e";
    const VIEWER_TOKEN: &str = "VIEWER-SECRET-22d0";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hlsd.toml");
    let toml = config_toml(&config())
        .replace(
            "# token = \"change-me\"",
            &format!("token = \"{ADMIN_TOKEN}\""),
        )
        .replace(
            "\n# [auth]\n",
            &format!("\n[auth]\npublish_key = \"{PUBLISH_KEY}\"\n"),
        );
    assert!(
        toml.contains(ADMIN_TOKEN) && toml.contains(PUBLISH_KEY),
        "{toml}"
    );
    std::fs::write(&file, toml).unwrap();
    let (_child, addr, log) =
        spawn_binary_logged_env(&file, &[("RUST_LOG", "debug"), ("NO_COLOR", "1")]).await;

    let bearer = format!("Bearer {PUBLISH_KEY}");
    let pushed = push(
        addr,
        synth(50),
        Push::new("cam")
            .header("Authorization", &bearer)
            .header("x-request-id", "publish-1"),
    )
    .await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    let pushed = push(
        addr,
        synth(50),
        Push::path(&format!("/ingest/cam2?key={PUBLISH_KEY}")).header("x-request-id", "publish-2"),
    )
    .await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    let wrong = push(
        addr,
        Bytes::new(),
        Push::path(&format!("/ingest/cam3?key={PUBLISH_KEY}x")).header("x-request-id", "publish-3"),
    )
    .await;
    assert_eq!(wrong.status, Some(403), "{wrong:?}");

    let admin = format!("Bearer {ADMIN_TOKEN}");
    let r = request(
        "GET",
        &format!("http://{addr}/api/feeds"),
        &[("Authorization", &admin), ("x-request-id", "api-1")],
    )
    .await;
    assert_eq!(r.status, 200);
    let viewer = format!("Bearer {VIEWER_TOKEN}");
    let r = request(
        "GET",
        &format!("http://{addr}/live/cam/main/media.m3u8"),
        &[("Authorization", &viewer), ("x-request-id", "play-1")],
    )
    .await;
    assert_eq!(r.status, 200);

    let lines = eventually(
        std::time::Duration::from_secs(10),
        "every request logged",
        || {
            let lines = log.lines();
            let logged = |id: &str| {
                lines
                    .iter()
                    .any(|l| l.contains(&format!("request_id={id}")))
            };
            let all = ["publish-1", "publish-2", "publish-3", "api-1", "play-1"]
                .iter()
                .all(|id| logged(id));
            std::future::ready(all.then_some(lines))
        },
    )
    .await;
    for secret in [PUBLISH_KEY, ADMIN_TOKEN, VIEWER_TOKEN] {
        let leaks: Vec<_> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} in the log: {leaks:#?}");
    }
    // The headers are logged, with the sensitive ones marked.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("request_id=api-1") && l.contains("\"authorization\": Sensitive")),
        "no header list with a marked Authorization"
    );
    assert!(
        lines.iter().any(|l| l.contains("key=REDACTED")),
        "no redacted ?key="
    );
}
