//! Signed playback (`auth.playback_secret`, `/s/{expires}-{sig}/...`) as players see it: an
//! in-process hlsd on 127.0.0.1, synthetic TS pushed over a real socket, playlists followed
//! by their relative URIs under the prefix; missing, wrong, expired and tampered
//! signatures; `hlsd sign` run as a binary.

mod common;

use bytes::Bytes;
use common::*;
use hlsd::http::signed::{Signer, sign_command, unix_now};
use m3u8_rs::Playlist;
use reqwest::Url;
use std::time::Duration;

const SECRET: &str = "test-secret";
const ORIGIN: (&str, &str) = ("Origin", "http://player.example");

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

fn signed_config() -> Config {
    let mut c = config();
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some(SECRET.into()),
        ..Default::default()
    });
    c
}

/// A server with a secret and an ended 4 s feed `cam` (the push is over, the segments stay).
async fn signed_server_with_feed() -> TestServer {
    let data = synth(100);
    let server = TestServer::start(signed_config()).await;
    let pushed = push(server.addr, data, Push::new("cam")).await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    server
}

/// The `/s/{expires}-{sig}` prefix of a signed path.
fn prefix(path: &str) -> &str {
    &path[..path.find("/live/").expect("a /live/ path")]
}

fn assert_refusal(r: &Resp, status: u16, cors: bool, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(
        r.header("cache-control"),
        Some("private, no-store"),
        "{what}"
    );
    let origin = r.header("access-control-allow-origin");
    assert_eq!(origin, cors.then_some("*"), "{what}");
}

fn uris(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = raw
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for l in raw.lines().filter(|l| l.starts_with('#')) {
        let mut rest = l;
        while let Some(i) = rest.find("URI=\"") {
            rest = &rest[i + 5..];
            let end = rest.find('"').expect("closing quote");
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// Every URI a playlist names is relative (so it stays under the prefix).
fn assert_relative(raw: &str) {
    let all = uris(raw);
    assert!(!all.is_empty(), "no URIs:\n{raw}");
    for u in all {
        assert!(
            !u.starts_with('/') && !u.contains("://"),
            "URI {u} is not relative:\n{raw}"
        );
    }
}

/// A player's walk: multivariant → media playlist → first segment, all under the prefix,
/// with CORS. Returns the media playlist's body.
async fn play(server: &TestServer, path: &str) -> String {
    let prefix = prefix(path);
    let index = server.url(path);
    let r = request("GET", &index, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "GET {index}: {}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=1"));
    let raw = r.text();
    assert_relative(&raw);
    let master = match m3u8_rs::parse_playlist_res(raw.as_bytes()) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("not a multivariant playlist ({other:?}):\n{raw}"),
    };
    let media_url = resolve(&index, &master.variants[0].uri);
    assert_eq!(
        Url::parse(&media_url).unwrap().path(),
        format!("{prefix}/live/cam/main/media.m3u8")
    );
    let r = request("GET", &media_url, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "GET {media_url}: {}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let raw = r.text();
    assert_relative(&raw);
    let pl = parse_media(&raw);
    assert!(!pl.segments.is_empty(), "no segment:\n{raw}");
    for s in &pl.segments {
        let url = resolve(&media_url, &s.uri);
        assert!(
            Url::parse(&url).unwrap().path().starts_with(prefix),
            "{url} left the prefix"
        );
    }
    let seg = resolve(&media_url, &pl.segments[0].uri);
    let r = request("GET", &seg, &[ORIGIN]).await;
    assert_eq!(r.status, 200, "GET {seg}");
    assert_eq!(r.header("content-type"), Some("video/mp2t"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.body.first(), Some(&0x47), "not TS");
    raw
}

fn counted(metrics: &str, kind: &str, status: &str) -> f64 {
    let labels = format!("{{kind=\"{kind}\",status=\"{status}\"}}");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("hlsd_http_requests_total{labels} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_path_plays_and_unsigned_playback_is_refused() {
    let server = signed_server_with_feed().await;

    // Unsigned: 401 before anything else, with CORS for the playback trees.
    for path in [
        "/live/cam/index.m3u8",
        "/live/cam/main/media.m3u8",
        "/live/nosuchfeed/index.m3u8",
        "/vod/cam/index.m3u8",
    ] {
        let r = request("GET", &server.url(path), &[ORIGIN]).await;
        assert_refusal(&r, 401, true, path);
    }
    let r = get(&server.url("/watch/cam")).await;
    assert_refusal(&r, 401, false, "/watch/cam");
    // The feed list, the API and the assets stay open.
    for path in ["/", "/api/feeds", "/static/watch.js"] {
        assert_eq!(get(&server.url(path)).await.status, 200, "{path}");
    }

    // What `hlsd sign` prints plays, all the way to a segment.
    let path = sign_command(&signed_config(), "cam", 60).unwrap();
    assert!(path.starts_with("/s/") && path.ends_with("/live/cam/index.m3u8"));
    let first = play(&server, &path).await;
    // Another viewer, another token: the very same playlist bytes (rendered once).
    let other = Signer::new(SECRET).path("cam", unix_now() + 3600).unwrap();
    assert_ne!(prefix(&other), prefix(&path));
    assert_eq!(play(&server, &other).await, first);

    // HEAD and the CORS preflight under the prefix, as under /live.
    let url = server.url(&path);
    let head = request("HEAD", &url, &[ORIGIN]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    let pre = request(
        "OPTIONS",
        &url,
        &[ORIGIN, ("Access-Control-Request-Method", "GET")],
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));

    // A valid signature for a feed that does not exist: the lookup comes after, 404.
    let ghost = Signer::new(SECRET).path("ghost", unix_now() + 60).unwrap();
    let r = request("GET", &server.url(&ghost), &[ORIGIN]).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    // Refusals and signed answers are counted like /live answers.
    let m = get(&server.url("/metrics")).await.text();
    assert!(counted(&m, "playlist", "4xx") >= 4.0, "{m}");
    assert!(counted(&m, "playlist", "2xx") >= 4.0, "{m}");
    assert!(counted(&m, "media", "2xx") >= 2.0, "{m}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expired_tampered_and_malformed_signatures_are_refused() {
    let server = signed_server_with_feed().await;
    let signer = Signer::new(SECRET);
    let exp = unix_now() + 60;
    let good = signer.path("cam", exp).unwrap();
    assert_eq!(get(&server.url(&good)).await.status, 200);
    let sig = signer.sig("cam", exp);
    let flipped: String = {
        let mut b = sig.clone().into_bytes();
        b[17] = if b[17] == b'a' { b'b' } else { b'a' };
        String::from_utf8(b).unwrap()
    };
    let cases = [
        (
            "tampered sig",
            format!("/s/{exp}-{flipped}/live/cam/index.m3u8"),
        ),
        (
            "tampered expiry",
            format!("/s/{}-{sig}/live/cam/index.m3u8", exp + 1),
        ),
        ("expired", signer.path("cam", unix_now() - 5).unwrap()),
        (
            "another feed's signature",
            format!(
                "{}/live/cam/index.m3u8",
                prefix(&signer.path("other", exp).unwrap())
            ),
        ),
        (
            "another secret",
            Signer::new("not-the-secret").path("cam", exp).unwrap(),
        ),
        (
            "uppercase hex",
            format!("/s/{exp}-{}/live/cam/index.m3u8", sig.to_uppercase()),
        ),
        ("malformed", "/s/garbage/live/cam/index.m3u8".into()),
        ("empty token", "/s//live/cam/index.m3u8".into()),
        (
            "segment with a bad sig",
            format!("/s/{exp}-{flipped}/live/cam/main/seg-0-0.ts"),
        ),
        (
            "feed that does not exist, bad sig",
            format!("/s/{exp}-{sig}/live/ghost/index.m3u8"),
        ),
        (
            "watch page, bad sig",
            format!("/s/{exp}-{flipped}/watch/cam"),
        ),
    ];
    for (what, path) in &cases {
        let r = request("GET", &server.url(path), &[ORIGIN]).await;
        assert_refusal(&r, 403, true, what);
    }
    // No tree after the token: nothing to sign, 404 (still private and with CORS).
    for path in [
        format!("/s/{exp}-{sig}"),
        format!("/s/{exp}-{sig}/"),
        format!("/s/{exp}-{sig}/static/watch.js"),
        format!("/s/{exp}-{sig}/live"),
    ] {
        let r = request("GET", &server.url(&path), &[ORIGIN]).await;
        assert_refusal(&r, 404, true, &path);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_playback_is_open_and_s_is_not_found() {
    let server = TestServer::start(config()).await;
    let pushed = push(server.addr, synth(100), Push::new("cam")).await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    assert_eq!(get(&server.index_url("cam")).await.status, 200);
    assert_eq!(get(&server.url("/watch/cam")).await.status, 200);
    let path = Signer::new(SECRET).path("cam", unix_now() + 60).unwrap();
    let watch = path.replace("/live/cam/index.m3u8", "/watch/cam");
    for p in [
        path.as_str(),
        watch.as_str(),
        "/s/garbage/live/cam/index.m3u8",
    ] {
        assert_eq!(get(&server.url(p)).await.status, 404, "{p}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_page_is_served_under_the_prefix() {
    let server = TestServer::start(signed_config()).await;
    let path = Signer::new(SECRET).path("cam", unix_now() + 60).unwrap();
    let watch = path.replace("/live/cam/index.m3u8", "/watch/cam");
    let r = get(&server.url(&watch)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("/static/watch.js"));
    // The page is the unsigned one: no CORS, revalidated.
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    // Its script finds the playlist relative to the page: ../live/{feed}/index.m3u8.
    let js = get(&server.url("/static/watch.js")).await.text();
    assert!(js.contains("'../live/'"), "watch.js builds an absolute URL");
    let page = server.url(&watch);
    assert_eq!(resolve(&page, "../live/cam/index.m3u8"), server.url(&path));
    server.stop().await;
}

/// The config file `hlsd sign` reads: the shipped one with the test's values, plus `[auth]`.
fn config_file(dir: &std::path::Path, secret: Option<&str>) -> std::path::PathBuf {
    let mut toml = config_toml(&config());
    if let Some(s) = secret {
        toml.push_str(&format!("\n[auth]\nplayback_secret = {s:?}\n"));
    }
    let file = dir.join(if secret.is_some() {
        "signed.toml"
    } else {
        "open.toml"
    });
    std::fs::write(&file, toml).unwrap();
    file
}

async fn hlsd_sign(args: &[&str]) -> std::process::Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hlsd"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output();
    tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("hlsd sign did not exit within 20 s")
        .expect("run hlsd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hlsd_sign_prints_a_path_that_plays() {
    let dir = tempfile::tempdir().unwrap();
    let signed = config_file(dir.path(), Some(SECRET));
    let open = config_file(dir.path(), None);
    let signed_arg = signed.to_str().unwrap();

    let out = hlsd_sign(&["sign", "cam", "--ttl", "120", "--config", signed_arg]).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = stdout
        .strip_suffix('\n')
        .expect("one line ending in a newline");
    assert!(!path.contains('\n'), "{stdout:?}");
    let token = path
        .strip_prefix("/s/")
        .and_then(|p| p.strip_suffix("/live/cam/index.m3u8"))
        .unwrap_or_else(|| panic!("{path}"));
    let (exp, sig) = token.split_once('-').unwrap();
    let exp: u64 = exp.parse().unwrap();
    let now = unix_now();
    assert!(
        (now + 100..=now + 120).contains(&exp),
        "expires {exp}, now {now}"
    );
    assert_eq!(sig, Signer::new(SECRET).sig("cam", exp));

    // The path plays on a server with that secret.
    let server = signed_server_with_feed().await;
    play(&server, path).await;
    server.stop().await;

    // `--config` before the subcommand works too; no secret is an error, nothing printed.
    let out = hlsd_sign(&["--config", signed_arg, "sign", "cam", "--ttl", "5"]).await;
    assert!(out.status.success());
    for args in [
        vec![
            "sign",
            "cam",
            "--ttl",
            "60",
            "--config",
            open.to_str().unwrap(),
        ],
        vec!["sign", "cam", "--ttl", "60"],
        vec!["sign", "no/such", "--ttl", "60", "--config", signed_arg],
        vec!["sign", "cam", "--ttl", "0", "--config", signed_arg],
        vec!["sign", "cam", "--config", signed_arg],
    ] {
        let out = hlsd_sign(&args).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
}

/// With LL-HLS on, the media playlist names parts, a preload hint and rendition reports:
/// every one of them is relative and fetches under the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_uris_stay_under_the_prefix() {
    let mut c = signed_config();
    c.hls.part_duration = 0.2;
    let server = TestServer::start(c).await;
    let data = synth(100);
    for rendition in ["hi", "lo"] {
        let p = Push::path(&format!("/ingest/cam/{rendition}")).end(End::Hold);
        let _held = spawn_push(server.addr, data.clone(), p);
    }
    let path = Signer::new(SECRET).path("cam", unix_now() + 60).unwrap();
    let prefix = prefix(&path).to_string();
    let media_url = server.url(&format!("{prefix}/live/cam/hi/media.m3u8"));
    let raw = eventually(Duration::from_secs(10), "parts and reports", || {
        let url = media_url.clone();
        async move {
            let r = get(&url).await;
            let raw = r.text();
            (r.status == 200
                && raw.contains("#EXT-X-PART:")
                && raw.contains("#EXT-X-RENDITION-REPORT")
                && raw.contains("#EXT-X-PRELOAD-HINT"))
            .then_some(raw)
        }
    })
    .await;
    assert_relative(&raw);
    for uri in uris(&raw) {
        let url = resolve(&media_url, &uri);
        assert!(
            Url::parse(&url).unwrap().path().starts_with(&prefix),
            "{uri} resolves outside the prefix"
        );
        if raw.contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"{uri}\"")) {
            continue; // Not there yet: fetching it would wait.
        }
        let r = get(&url).await;
        assert_eq!(r.status, 200, "GET {url}: {}", r.text());
    }
    let index = get(&server.url(&path)).await;
    assert_eq!(index.status, 200);
    assert_relative(&index.text());
    server.stop().await;
}

/// ffmpeg, a player that knows nothing of signing, plays the signed URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffmpeg_plays_a_signed_url() {
    let data = fixture(Fixture::Short);
    let server = TestServer::start(signed_config()).await;
    let pushed = push(server.addr, data, Push::new("cam")).await;
    assert!(pushed.status.is_some_and(|s| s < 300), "push: {pushed:?}");
    let path = sign_command(&signed_config(), "cam", 60).unwrap();
    let played = ffmpeg_play(&server.url(&path), Duration::from_secs(30)).await;
    assert!(played.success, "ffmpeg: {}", played.stderr);
    assert!(
        played.frames >= 50,
        "{} frames: {}",
        played.frames,
        played.stderr
    );
    // The same player is refused without the prefix.
    let played = ffmpeg_play(&server.index_url("cam"), Duration::from_secs(30)).await;
    assert!(!played.success, "ffmpeg played an unsigned URL");
    server.stop().await;
}
