//! The JSON API (`/api/feeds`), `DELETE` with the admin token, and Prometheus `/metrics`,
//! checked against pushes to an in-process hlsd. The synthetic stream needs no ffmpeg.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use std::time::Duration;

const TS: usize = 188;

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

async fn feed_json(server: &TestServer, feed: &str) -> Option<Value> {
    let r = get(&server.url(&format!("/api/feeds/{feed}"))).await;
    if r.status == 404 {
        return None;
    }
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    Some(serde_json::from_slice(&r.body).expect("JSON"))
}

/// Waits until the feed's JSON satisfies `ok`, and returns it.
async fn wait_feed(
    server: &TestServer,
    feed: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    eventually(Duration::from_secs(10), what, || async {
        feed_json(server, feed).await.filter(|v| ok(v))
    })
    .await
}

fn main_rendition(feed: &Value) -> &Value {
    &feed["renditions"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_follows_a_push_from_live_to_ended() {
    let mut config = config();
    config.feeds.reconnect_grace = 2.0;
    // The publisher pauses for 3 s: well within the idle timeout, even on a loaded machine.
    config.feeds.idle_timeout = 10.0;
    let server = TestServer::start(config).await;
    let data = synth(250);
    let half = packet_boundary(&data, 0.5);
    let push = spawn_push(
        server.addr,
        data.clone(),
        Push::new("syn")
            .chunk(7 * TS)
            .pause_at(half, Duration::from_secs(3)),
    );

    // Live, with its publisher, while the publisher pauses.
    let live = wait_feed(&server, "syn", "a live feed with segments", |v| {
        main_rendition(v)["segments"].as_u64() > Some(0)
    })
    .await;
    assert_eq!(live["name"], "syn");
    assert_eq!(live["state"], "live");
    assert!(live["created_ms"].as_i64() > Some(1_600_000_000_000));
    assert!(live["uptime_s"].as_f64().is_some());
    let r = main_rendition(&live);
    assert_eq!(r["name"], "main");
    assert_eq!(r["state"], "live");
    // No admin token configured: publishers' addresses and session tokens stay hidden.
    assert_eq!(r["publisher"].get("address"), None, "{r}");
    assert!(r["publisher"]["connected_s"].as_f64().is_some());
    assert!(r["publisher"]["since_ms"].as_i64() >= live["created_ms"].as_i64());
    let bytes = r["bytes_in"].as_u64().unwrap();
    assert!(bytes > 0 && bytes <= data.len() as u64, "bytes_in {bytes}");
    assert_eq!(r["codecs"], "avc1.64001f,mp4a.40.2");
    assert_eq!(r["resolution"], "1280x720");
    assert_eq!(r["target_duration"], 1);
    assert_eq!(
        r["part_target"],
        Value::Null,
        "LL-HLS is off in the tests' config"
    );
    assert_eq!(r["window"]["first_msn"], 1);
    assert!(r["window"]["segments"].as_u64() >= Some(1));
    assert!(r["memory_bytes"].as_u64() > Some(0));
    assert!(r["bitrate"].as_u64() > Some(0));
    assert!(r["bandwidth"].as_u64() > Some(0));
    assert_eq!(r.get("token"), None, "{r}");
    assert_eq!(r["last_error"], Value::Null);

    // The publisher finished: every byte and packet is counted; reconnecting, then ended.
    let pushed = push.await.unwrap();
    assert_eq!(pushed.status, Some(200));
    let v = feed_json(&server, "syn").await.expect("feed still there");
    assert_eq!(v["state"], "reconnecting");
    let r = main_rendition(&v);
    assert_eq!(r["publisher"], Value::Null);
    assert_eq!(r["bytes_in"].as_u64(), Some(data.len() as u64));
    assert_eq!(r["packets_in"].as_u64(), Some((data.len() / TS) as u64));
    assert_eq!(r["ts_errors"]["sync_losses"], 0);
    let segments = r["segments"].as_u64().unwrap();
    assert_eq!(r["window"]["last_msn"].as_u64(), Some(segments));
    assert_eq!(
        r["parts"].as_u64(),
        Some(segments),
        "one part per segment without LL-HLS"
    );
    wait_feed(&server, "syn", "the feed to end", |v| v["state"] == "ended").await;

    // The list has the shape the web page reads.
    let list: Value = serde_json::from_slice(&get(&server.url("/api/feeds")).await.body).unwrap();
    let feeds = list["feeds"].as_array().expect("feeds array");
    assert_eq!(feeds.len(), 1);
    assert_eq!(feeds[0]["name"], "syn");
    assert_eq!(feeds[0]["renditions"][0]["resolution"], "1280x720");
    assert!(feeds[0]["uptime_s"].as_f64().is_some());
    assert_eq!(feed_json(&server, "nope").await, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_the_token_and_ends_the_feed_and_the_publish() {
    let mut config = config();
    config.admin.token = Some("s3cret".into());
    config.feeds.reconnect_grace = 30.0;
    config.feeds.idle_timeout = 30.0;
    let server = TestServer::start(config).await;
    let data = synth(100);
    let push = spawn_push(server.addr, data.clone(), Push::new("del").end(End::Hold));
    wait_feed(&server, "del", "every byte in", |v| {
        main_rendition(v)["bytes_in"].as_u64() == Some(data.len() as u64)
    })
    .await;

    let url = server.url("/api/feeds/del");
    let r = request("DELETE", &url, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request("DELETE", &url, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(get(&url).await.status, 200, "reading needs no token");
    assert_eq!(feed_json(&server, "del").await.unwrap()["state"], "live");

    // Addresses and tokens only with the admin token, in both views; never in /metrics.
    let bearer = [("authorization", "Bearer s3cret")];
    let json = |r: Resp| -> Value {
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    };
    for path in ["/api/feeds/del", "/api/feeds"] {
        for auth in [None, Some("Bearer wrong"), Some("Basic czNjcmV0")] {
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
            let v = json(request("GET", &server.url(path), &headers).await);
            let text = v.to_string();
            assert!(!text.contains("address"), "{path} with {auth:?}: {text}");
            assert!(!text.contains("\"token\""), "{path} with {auth:?}: {text}");
            assert!(text.contains("since_ms"), "{path} with {auth:?}: {text}");
        }
    }
    let v = json(request("GET", &url, &bearer).await);
    let r = main_rendition(&v);
    let address = r["publisher"]["address"].as_str().unwrap().to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let token = r["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 12, "48-bit token in hex");
    let v = json(request("GET", &server.url("/api/feeds"), &bearer).await);
    assert_eq!(v["feeds"][0]["renditions"][0]["token"], token.as_str());
    let metrics = get(&server.url("/metrics")).await.text();
    assert!(metrics.contains("del"), "{metrics}");
    assert!(!metrics.contains(&token), "{metrics}");
    assert!(!metrics.contains(&address), "{metrics}");

    let r = request("DELETE", &url, &bearer).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // Ended at once, not after the 30 s grace, and the publisher's request is over.
    let v = feed_json(&server, "del")
        .await
        .expect("an ended feed stays readable");
    assert_eq!(v["state"], "ended");
    assert_eq!(main_rendition(&v)["publisher"], Value::Null);
    let media = get(&server.media_url("del")).await;
    assert!(has_endlist(&media.text()), "{}", media.text());
    let pushed = tokio::time::timeout(Duration::from_secs(5), push)
        .await
        .expect("the publish ends when its feed is deleted")
        .unwrap();
    assert_eq!(pushed.status, Some(410), "{}", pushed.head);

    assert_eq!(
        request("DELETE", &server.url("/api/feeds/nope"), &bearer)
            .await
            .status,
        404
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_a_token_configured_is_open() {
    let server = TestServer::start(config()).await;
    let data = synth(60);
    let pushed = push(server.addr, data, Push::new("open")).await;
    assert_eq!(pushed.status, Some(200));
    // Reconnecting now; DELETE ends it without waiting for the grace.
    let r = request("DELETE", &server.url("/api/feeds/open"), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(feed_json(&server, "open").await.unwrap()["state"], "ended");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_grant_no_cors() {
    let server = TestServer::start(config()).await;
    let origin = [("origin", "https://example.com")];
    for path in ["/api/feeds", "/api/feeds/x", "/metrics"] {
        let r = request("GET", &server.url(path), &origin).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "GET {path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "GET {path}");
        let preflight = [
            ("origin", "https://example.com"),
            ("access-control-request-method", "DELETE"),
        ];
        let r = request("OPTIONS", &server.url(path), &preflight).await;
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "OPTIONS {path}"
        );
    }
    // Playback does grant it (the contrast the test relies on).
    let r = request("GET", &server.index_url("x"), &origin).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_a_feed_is_pushed() {
    let mut config = config();
    // The publisher pauses for 3 s: well within the idle timeout, even on a loaded machine.
    config.feeds.idle_timeout = 10.0;
    let server = TestServer::start(config).await;
    let before = scrape(&server).await;
    assert_eq!(metric(&before, "hlsd_feeds", &[("state", "live")]), 0.0);
    assert_eq!(metric(&before, "hlsd_segments_total", &[]), 0.0);
    assert_eq!(metric(&before, "hlsd_part_publish_delay_seconds", &[]), 0.0);

    let data = synth(150);
    let half = packet_boundary(&data, 0.5);
    let push = spawn_push(
        server.addr,
        data.clone(),
        Push::new("m").pause_at(half, Duration::from_secs(3)),
    );
    let during = eventually(
        Duration::from_secs(10),
        "a live feed in the metrics",
        || async {
            let s = scrape(&server).await;
            (metric(&s, "hlsd_segments_total", &[]) > 0.0).then_some(s)
        },
    )
    .await;
    assert_eq!(metric(&during, "hlsd_feeds", &[("state", "live")]), 1.0);
    assert_eq!(metric(&during, "hlsd_publishers_connected", &[]), 1.0);
    assert!(metric(&during, "hlsd_store_bytes", &[]) > 0.0);
    assert!(metric(&during, "hlsd_part_publish_delay_seconds", &[]) > 0.0);

    // Playback requests are counted by kind and status class.
    let index = get(&server.index_url("m")).await;
    assert_eq!(index.status, 200);
    let m = fetch_media(&server.media_url("m")).await;
    let (_, uri, _) = m.segments()[0].clone();
    let seg = get(&resolve(&m.url, &uri)).await;
    assert_eq!(seg.status, 200);
    let missing = get(&server.url("/live/m/main/seg-0-999.ts")).await;
    assert_eq!(missing.status, 404);

    assert_eq!(push.await.unwrap().status, Some(200));
    let after = scrape(&server).await;
    let feed = [("feed", "m")];
    assert_eq!(
        metric(&after, "hlsd_ingest_bytes_total", &feed),
        data.len() as f64
    );
    assert_eq!(
        metric(&after, "hlsd_ingest_packets_total", &feed),
        (data.len() / TS) as f64
    );
    assert_eq!(metric(&after, "hlsd_publishers_connected", &[]), 0.0);
    let segments = metric(&after, "hlsd_segments_total", &[]);
    assert!(segments >= 5.0, "segments {segments}");
    assert_eq!(metric(&after, "hlsd_parts_total", &[]), segments);
    assert_eq!(
        metric(&after, "hlsd_part_publish_delay_seconds", &[]),
        segments
    );
    let playlists_ok = [("kind", "playlist"), ("status", "2xx")];
    assert!(metric(&after, "hlsd_http_requests_total", &playlists_ok) >= 2.0);
    assert_eq!(
        metric(
            &after,
            "hlsd_http_requests_total",
            &[("kind", "media"), ("status", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "hlsd_http_requests_total",
            &[("kind", "media"), ("status", "4xx")]
        ),
        1.0
    );
    let media_bytes = metric(
        &after,
        "hlsd_http_response_bytes_total",
        &[("kind", "media")],
    );
    assert_eq!(media_bytes, (seg.body.len() + missing.body.len()) as f64);
    assert_eq!(metric(&after, "hlsd_blocking_requests_waiting", &[]), 0.0);
    assert_eq!(metric(&after, "hlsd_ts_sync_losses_total", &[]), 0.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_counted() {
    let server = TestServer::start(config()).await;
    let mut data = synth(100).to_vec();
    // A burst of garbage in the middle: sync is lost once and the bytes are skipped.
    let at = packet_boundary(&data, 0.5);
    data.splice(at..at, std::iter::repeat_n(0x55u8, 1000));
    assert_eq!(
        push(server.addr, Bytes::from(data), Push::new("g"))
            .await
            .status,
        Some(200)
    );
    let v = feed_json(&server, "g").await.unwrap();
    let errors = &main_rendition(&v)["ts_errors"];
    assert_eq!(errors["sync_losses"], 1, "{errors}");
    assert!(errors["skipped_bytes"].as_u64() >= Some(1000), "{errors}");
    let s = scrape(&server).await;
    assert!(metric(&s, "hlsd_ts_sync_losses_total", &[]) >= 1.0);
    assert!(metric(&s, "hlsd_ts_skipped_bytes_total", &[]) >= 1000.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn api_describes_an_ffmpeg_stream() {
    let server = TestServer::start(config()).await;
    let data = fixture(Fixture::Main);
    assert_eq!(
        push(server.addr, data.clone(), Push::new("ff"))
            .await
            .status,
        Some(200)
    );
    let v = feed_json(&server, "ff").await.expect("feed");
    let r = main_rendition(&v);
    assert_eq!(r["bytes_in"].as_u64(), Some(data.len() as u64));
    assert_eq!(r["packets_in"].as_u64(), Some((data.len() / TS) as u64));
    let codecs = r["codecs"].as_str().expect("codecs");
    assert!(
        codecs.starts_with("avc1.") && codecs.contains("mp4a.40.2"),
        "{codecs}"
    );
    assert_eq!(r["resolution"], "320x240");
    assert_eq!(r["frame_rate"].as_f64(), Some(25.0));
    assert_eq!(r["segments"].as_u64(), Some(8), "8 s in 1 s GOPs");
    assert_eq!(r["ts_errors"]["bad_pes"], 0);
    server.stop().await;
}

/// `publisher.protocol` is public; the address only with the admin token; `/metrics` counts
/// publishers per protocol (every protocol listed, none per address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_are_reported_by_protocol_never_by_address_in_metrics() {
    let mut config = config();
    config.admin.token = Some("s3cret".into());
    config.feeds.idle_timeout = 30.0;
    config.feeds.reconnect_grace = 0.5;
    let server = TestServer::start(config).await;
    let data = synth(100);
    let push = spawn_push(server.addr, data.clone(), Push::new("proto").end(End::Hold));
    let public = wait_feed(&server, "proto", "every byte in", |v| {
        main_rendition(v)["bytes_in"].as_u64() == Some(data.len() as u64)
    })
    .await;
    let p = &main_rendition(&public)["publisher"];
    assert_eq!(p["protocol"], "http", "{public}");
    assert_eq!(p.get("address"), None, "{public}");
    let bearer = [("authorization", "Bearer s3cret")];
    let admin: Value = serde_json::from_slice(
        &request("GET", &server.url("/api/feeds"), &bearer)
            .await
            .body,
    )
    .expect("JSON");
    let p = &admin["feeds"][0]["renditions"][0]["publisher"];
    assert_eq!(p["protocol"], "http", "{admin}");
    let address = p["address"].as_str().expect("address for the admin");
    assert!(address.starts_with("127.0.0.1:"), "{address}");

    let s = scrape(&server).await;
    assert_eq!(
        metric(&s, "hlsd_publishers_connected", &[("protocol", "http")]),
        1.0
    );
    let series: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "hlsd_publishers_connected")
        .collect();
    assert!(!series.is_empty());
    for x in &series {
        let keys: Vec<&str> = x.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["protocol"], "{x:?}");
    }
    let text = get(&server.url("/metrics")).await.text();
    assert!(!text.contains(address), "{text}");

    // The publisher goes: the series stays, at zero.
    push.abort();
    let after = eventually(Duration::from_secs(10), "no publisher", || async {
        let s = scrape(&server).await;
        (metric(&s, "hlsd_publishers_connected", &[]) == 0.0).then_some(s)
    })
    .await;
    assert_eq!(
        after
            .samples
            .iter()
            .filter(|x| x.metric == "hlsd_publishers_connected"
                && x.labels.get("protocol") == Some("http"))
            .count(),
        1
    );
    server.stop().await;
}
