//! hlsd behind real caches: Varnish and nginx started on loopback from `deploy/`, with an
//! in-process origin whose own request counters (`hlsd_http_requests_total`) say how many
//! requests got through. Needs `varnishd`, `nginx` and njs (`scripts/test` installs them).

mod common;

use common::caches::Cache;
use common::ll::*;
use common::*;
use hlsd::http::signed::{Signer, unix_now};
use std::time::Duration;
use tokio::task::JoinSet;

/// Seconds of media in `Fixture::Main`.
const MAIN_SECS: f64 = 8.0;
/// Concurrent viewers asking for the same URL.
const VIEWERS: usize = 200;
const SECRET: &str = "cache-test-secret";

/// Playback requests the origin answered so far: (playlists, media).
async fn origin_requests(server: &TestServer) -> (f64, f64) {
    let r = get(&server.url("/metrics")).await;
    assert_eq!(r.status, 200);
    let text = r.text();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let count = |kind: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "hlsd_http_requests_total" && s.labels.get("kind") == Some(kind)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    (count("playlist"), count("media"))
}

/// `VIEWERS` concurrent GETs of `url`: every one must be a 200 with the same body.
async fn crowd(url: &str, what: &str) -> bytes::Bytes {
    let mut set = JoinSet::new();
    let client = http();
    for _ in 0..VIEWERS {
        let (client, url) = (client.clone(), url.to_string());
        set.spawn(async move {
            let r = client
                .get(&url)
                .send()
                .await
                .expect("GET through the cache");
            let status = r.status().as_u16();
            (status, r.bytes().await.expect("body"))
        });
    }
    let mut first: Option<bytes::Bytes> = None;
    while let Some(r) = set.join_next().await {
        let (status, body) = r.expect("viewer task");
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&body));
        match &first {
            None => first = Some(body),
            Some(f) => assert_eq!(*f, body, "{what}: viewers got different bytes"),
        }
    }
    first.expect("at least one viewer")
}

/// 200 viewers ask a cache for the next part's blocking playlist, then for the part it
/// hints: the origin sees about one request for each, and every viewer the same bytes.
async fn coalesces(cache: Cache, server: TestServer) {
    let data = fixture(Fixture::Main);
    let pusher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("cam").paced(&data, MAIN_SECS),
    );
    let media = server.url("/live/cam/main/media.m3u8");
    let first = first_ll(&media).await;
    let (msn, part) = first.next_request();
    // Two parts ahead, so the viewers arrive while the origin still holds the request.
    let (msn, part) = (msn, part + 1);
    let path = format!(
        "/live/cam/main/media.m3u8?{}&utm_source=x",
        blocking_query(msn, Some(part))
    );

    let before = origin_requests(&server).await;
    let body = crowd(
        &cache.url(&path),
        &format!("{} blocking playlist", cache.name),
    )
    .await;
    let after = origin_requests(&server).await;
    let ll = Ll::parse(&media, &String::from_utf8_lossy(&body));
    assert!(
        ll.part(msn, part).is_some() || ll.last_segment_msn() >= Some(msn),
        "{}: the answer lacks part {msn}.{part}:\n{}",
        cache.name,
        ll.raw
    );
    let playlists = after.0 - before.0;
    assert!(
        (1.0..=2.0).contains(&playlists),
        "{}: {VIEWERS} viewers of one blocking playlist cost the origin {playlists} requests",
        cache.name
    );

    // The part the answer hints at does not exist yet: the origin holds the request until
    // it does, and the cache holds every other viewer.
    let hint = ll.hint().expect("a preload hint").to_string();
    let part_path = format!("/live/cam/main/{hint}");
    let before = origin_requests(&server).await;
    let part_body = crowd(
        &cache.url(&part_path),
        &format!("{} hinted part", cache.name),
    )
    .await;
    let after = origin_requests(&server).await;
    let parts = after.1 - before.1;
    assert!(
        (1.0..=2.0).contains(&parts),
        "{}: {VIEWERS} viewers of one part cost the origin {parts} requests",
        cache.name
    );
    let direct = get(&server.url(&part_path)).await;
    assert_eq!(direct.status, 200);
    assert_eq!(
        direct.body, part_body,
        "{}: the cached part differs",
        cache.name
    );
    pusher.abort();
    drop(cache);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs varnishd (scripts/test installs it)"]
async fn varnish_coalesces_blocking_playlists_and_parts() {
    let server = TestServer::start(ll_config()).await;
    let cache = Cache::varnish(server.addr).await;
    coalesces(cache, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx (scripts/test installs it)"]
async fn nginx_coalesces_blocking_playlists_and_parts() {
    let server = TestServer::start(ll_config()).await;
    let cache = Cache::nginx(server.addr, "").await;
    coalesces(cache, server).await;
}

/// A feed published, ended and published again (a new session): through the cache the
/// playlist moves to the new session within its max-age, and every segment it lists is
/// the origin's bytes of the new session; query parameters other than the LL-HLS
/// directives share one cache entry.
async fn republished(cache: Cache, server: TestServer) {
    let data = fixture(Fixture::Main);
    let media_path = "/live/cam/main/media.m3u8";
    let mut tokens = Vec::new();
    for session in 0..2 {
        let pushed = push(server.addr, data.clone(), Push::new("cam")).await;
        assert_eq!(pushed.status, Some(200), "push {session}");
        let ended = wait_endlist(&server, "cam", Duration::from_secs(20)).await;
        let url = ended.segments()[0].1.clone();
        let file = url.rsplit('/').next().expect("a segment file name");
        let token = uri_parts(file)[1].clone();
        assert!(!tokens.contains(&token), "session {session} reused a token");
        tokens.push(token.clone());

        // Through the cache: the playlist may be the old session's for its max-age, then
        // must be this one's.
        let through = eventually(
            Duration::from_secs(10),
            "the new session through the cache",
            || async {
                let r = get(&cache.url(media_path)).await;
                (r.status == 200 && r.text().contains(&token)).then_some(r)
            },
        )
        .await;
        let m = parse_media(&through.text());
        assert!(!m.segments.is_empty());
        for s in &m.segments {
            let path = format!("/live/cam/main/{}", s.uri);
            let cached = get(&cache.url(&path)).await;
            let direct = get(&server.url(&path)).await;
            assert_eq!(cached.status, 200, "{}: {path}", cache.name);
            assert_eq!(
                cached.body, direct.body,
                "{}: {path} differs from the origin",
                cache.name
            );
        }
        // Wait for the feed to be ended and gone from the grace before the next session.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // A segment fetched through the cache above, asked again under other query strings:
    // the same cache entry, so no origin request.
    let m = parse_media(&get(&server.url(media_path)).await.text());
    let seg = format!("/live/cam/main/{}", m.segments[1].uri);
    let before = origin_requests(&server).await;
    for q in ["?a=1", "?b=2&c=3"] {
        let r = get(&cache.url(&format!("{seg}{q}"))).await;
        assert_eq!(r.status, 200, "{}: {seg}{q}", cache.name);
    }
    let after = origin_requests(&server).await;
    assert_eq!(
        after.1 - before.1,
        0.0,
        "{}: other query parameters must not split the cache key",
        cache.name
    );
    drop(cache);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs varnishd (scripts/test installs it)"]
async fn varnish_never_serves_an_old_session() {
    let server = TestServer::start(config()).await;
    let cache = Cache::varnish(server.addr).await;
    republished(cache, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx (scripts/test installs it)"]
async fn nginx_never_serves_an_old_session() {
    let server = TestServer::start(config()).await;
    let cache = Cache::nginx(server.addr, "").await;
    republished(cache, server).await;
}

/// nginx checks playback signatures itself (njs) and shares one cached answer between
/// every valid token; bad, expired and unsigned requests never reach a cached answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx with njs (scripts/test installs it)"]
async fn nginx_checks_signatures_and_shares_signed_answers() {
    let mut c = config();
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some(SECRET.into()),
        ..Default::default()
    });
    let server = TestServer::start(c).await;
    let cache = Cache::nginx(server.addr, SECRET).await;
    let data = fixture(Fixture::Main);
    let pushed = push(server.addr, data, Push::new("cam")).await;
    assert_eq!(pushed.status, Some(200));

    let signer = Signer::new(SECRET);
    let token = |expires: u64| {
        let path = signer.path("cam", expires).expect("sign");
        path.trim_end_matches("/live/cam/index.m3u8").to_string()
    };
    let a = token(unix_now() + 3600);
    let b = token(unix_now() + 7200);
    let media = eventually(
        Duration::from_secs(20),
        "the ended feed through nginx",
        || async {
            let r = get(&cache.url(&format!("{a}/live/cam/main/media.m3u8"))).await;
            (r.status == 200 && has_endlist(&r.text())).then_some(r)
        },
    )
    .await;
    let m = parse_media(&media.text());
    let seg = format!("/live/cam/main/{}", m.segments[0].uri);

    let before = origin_requests(&server).await;
    let first = get(&cache.url(&format!("{a}{seg}"))).await;
    let second = get(&cache.url(&format!("{b}{seg}"))).await;
    let after = origin_requests(&server).await;
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body);
    assert_eq!(
        after.1 - before.1,
        1.0,
        "two signers of one segment: one origin request"
    );

    // Refused by nginx itself: a tampered signature, an expired token, another feed's.
    let mut tampered = a.clone();
    let last = tampered.pop().expect("a token");
    tampered.push(if last == '0' { '1' } else { '0' });
    let expired = token(unix_now() - 10);
    let other = signer
        .path("other", unix_now() + 3600)
        .expect("sign")
        .trim_end_matches("/live/other/index.m3u8")
        .to_string();
    let before = origin_requests(&server).await;
    for (prefix, what) in [
        (&tampered, "tampered"),
        (&expired, "expired"),
        (&other, "another feed's"),
    ] {
        let r = get(&cache.url(&format!("{prefix}{seg}"))).await;
        assert_eq!(r.status, 403, "{what} token: {}", r.text());
        assert_eq!(
            r.header("cache-control"),
            Some("private, no-store"),
            "{what}"
        );
    }
    // Unsigned playback reaches the origin, which refuses it, and is never stored.
    for _ in 0..2 {
        let r = get(&cache.url(&seg)).await;
        assert_eq!(r.status, 401, "unsigned through nginx");
    }
    let after = origin_requests(&server).await;
    assert_eq!(
        after.1 - before.1,
        2.0,
        "only the unsigned requests reach the origin"
    );
    drop(cache);
    server.stop().await;
}

/// A publisher behind the nginx configuration: with nginx's address in
/// `limits.trusted_proxies` the origin sees the client `X-Forwarded-For` names (the
/// rightmost hop nginx did not add itself); without it, nginx's own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx (scripts/test installs it)"]
async fn nginx_forwards_the_publisher_address_to_a_trusting_origin() {
    for trusted in [true, false] {
        let mut c = config();
        c.admin.token = Some("admin-token".into());
        if trusted {
            c.limits.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
        }
        let server = TestServer::start(c).await;
        let cache = Cache::nginx(server.addr, "").await;
        let data = fixture(Fixture::Main);
        let pusher = spawn_push(
            cache.addr,
            data.clone(),
            Push::new("cam")
                .paced(&data, MAIN_SECS)
                .header("X-Forwarded-For", "198.51.100.7"),
        );
        let url = server.url("/api/feeds/cam");
        let text = eventually(
            Duration::from_secs(20),
            "the publisher in /api/feeds",
            || async {
                let r = request("GET", &url, &[("authorization", "Bearer admin-token")]).await;
                (r.status == 200 && r.text().contains("\"address\"")).then(|| r.text())
            },
        )
        .await;
        if trusted {
            assert!(text.contains("\"198.51.100.7:0\""), "{text}");
        } else {
            assert!(text.contains("\"127.0.0.1:"), "{text}");
            assert!(!text.contains("198.51.100.7"), "{text}");
        }
        pusher.abort();
        drop(cache);
        server.stop().await;
    }
}
