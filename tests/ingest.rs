//! Ingest: status codes of `/ingest/{feed}` and pass-through of the pushed packets whatever
//! the chunking (DESIGN.md invariants 1–3).

mod common;

use bytes::Bytes;
use common::*;
use std::time::Duration;

/// Pushes `data` with `p`, waits for ENDLIST and checks that the segments carry exactly the
/// pushed packets from the first keyframe on, each segment opening with PAT, PMT, keyframe.
async fn check_pass_through(data: Bytes, p: Push) {
    let server = TestServer::start(config()).await;
    let feed = p.path.rsplit('/').next().unwrap().to_string();
    let res = push(server.addr, data.clone(), p).await;
    assert_eq!(res.status, Some(200), "ingest response: {res:?}");
    let m = wait_endlist(&server, &feed, Duration::from_secs(10)).await;
    check_media_rules(&m);
    let segments = fetch_segments(&m).await;
    assert!(segments.len() >= 2, "{} segments", segments.len());
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "pass-through",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pass_through_1_byte_chunks() {
    check_pass_through(fixture(Fixture::Short), Push::new("one").chunk(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pass_through_7_byte_chunks() {
    check_pass_through(fixture(Fixture::Main), Push::new("seven").chunk(7)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pass_through_188_byte_chunks() {
    check_pass_through(fixture(Fixture::Main), Push::new("packet").chunk(188)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pass_through_64k_chunks() {
    check_pass_through(fixture(Fixture::Main), Push::new("big").chunk(65536)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pass_through_put_with_content_length() {
    check_pass_through(
        fixture(Fixture::Main),
        Push::new("put").method("PUT").content_length().chunk(5000),
    )
    .await;
}

/// Random bytes between packets and a truncated packet: the framer resynchronises and loses
/// none of the packets that follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn garbage_between_packets_loses_no_packet() {
    let clean = fixture(Fixture::Main);
    let pk = ts::packets(&clean);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut dirty = Vec::with_capacity(clean.len() + 10_000);
    let n = pk.len();
    for (i, p) in pk.iter().enumerate() {
        // Garbage (no sync byte in it) at a dozen places, after the first keyframe too.
        if i > 0 && i % (n / 12) == 0 {
            let len = 1 + (rand() % 400) as usize;
            dirty.extend((0..len).map(|_| match rand() as u8 {
                0x47 => 0x46,
                b => b,
            }));
        }
        // A truncated copy of a packet (starts with a sync byte) in the middle of the stream.
        if i == n / 2 || i == n / 3 {
            dirty.extend_from_slice(&p[..100]);
        }
        dirty.extend_from_slice(p);
    }
    let server = TestServer::start(config()).await;
    let res = push(
        server.addr,
        Bytes::from(dirty),
        Push::new("dirty").chunk(1000),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let m = wait_endlist(&server, "dirty", Duration::from_secs(10)).await;
    check_media_rules(&m);
    let segments = fetch_segments(&m).await;
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&clean),
        "after garbage",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_feed_names_get_400() {
    let server = TestServer::start(config()).await;
    let body = Bytes::from(ts::synthetic_ts(10, 20));
    let long = "a".repeat(65);
    for path in [
        "/ingest/bad.name",
        "/ingest/sp%20ace",
        "/ingest/caf%C3%A9",
        &format!("/ingest/{long}"),
    ] {
        let res = push(server.addr, body.clone(), Push::path(path)).await;
        assert_eq!(res.status, Some(400), "POST {path}: {res:?}");
        assert_eq!(
            res.header("access-control-allow-origin"),
            None,
            "CORS on ingest 400"
        );
    }
    // 64 characters is still a good name.
    let ok = format!("/ingest/{}", "b".repeat(64));
    let res = push(server.addr, body.clone(), Push::path(&ok)).await;
    assert_eq!(res.status, Some(200), "POST {ok}: {res:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ts_body_gets_415() {
    let server = TestServer::start(config()).await;
    let text: Vec<u8> = b"this is not an MPEG transport stream\n"
        .iter()
        .copied()
        .cycle()
        .take(100_000)
        .collect();
    let text = Bytes::from(text);
    let res = push(server.addr, text.clone(), Push::new("text").chunk(4096)).await;
    assert_eq!(res.status, Some(415), "chunked: {res:?}");
    assert_eq!(
        res.header("access-control-allow-origin"),
        None,
        "CORS on ingest 415"
    );
    let res = push(server.addr, text, Push::new("text2").content_length()).await;
    assert_eq!(res.status, Some(415), "content-length: {res:?}");
    // A short non-TS body that ends before 64 KB is refused as well.
    let res = push(
        server.addr,
        Bytes::from_static(b"hello"),
        Push::new("text3"),
    )
    .await;
    assert_eq!(res.status, Some(415), "short body: {res:?}");
    server.stop().await;
}

/// A second publisher of a live rendition gets 409; the first keeps going and all of its
/// packets arrive; ingest responses carry no CORS headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn second_publisher_gets_409_first_keeps_going() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(config()).await;
    let first = spawn_push(
        server.addr,
        data.clone(),
        Push::new("busy").paced(&data, 5.0).chunk(1316),
    );
    let url = server.media_url("busy");
    let before = wait_media(&url, Duration::from_secs(10), "a first segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;
    let msn = before.last_msn().unwrap();

    let second = push(server.addr, data.clone(), Push::new("busy")).await;
    assert_eq!(second.status, Some(409), "second publisher: {second:?}");
    assert_eq!(
        second.header("access-control-allow-origin"),
        None,
        "CORS on ingest 409: {}",
        second.head
    );

    wait_media(
        &url,
        Duration::from_secs(10),
        "segments after the 409",
        |m| m.last_msn() > Some(msn + 1),
    )
    .await;
    let first = first.await.unwrap();
    assert_eq!(first.status, Some(200), "first publisher: {first:?}");
    assert_eq!(
        first.header("access-control-allow-origin"),
        None,
        "CORS on ingest 200: {}",
        first.head
    );
    let m = wait_endlist(&server, "busy", Duration::from_secs(10)).await;
    check_media_rules(&m);
    let segments = fetch_segments(&m).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "first publisher's packets",
    );
    server.stop().await;
}

/// Over `max_feeds`, a publish of another feed gets 503; the live feed is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn over_max_feeds_gets_503() {
    let data = fixture(Fixture::Main);
    let mut c = config();
    c.feeds.max_feeds = 1;
    let server = TestServer::start(c).await;
    let first = spawn_push(
        server.addr,
        data.clone(),
        Push::new("only").paced(&data, 4.0),
    );
    let url = server.media_url("only");
    wait_media(&url, Duration::from_secs(10), "a first segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;
    let other = push(server.addr, data.clone(), Push::new("another")).await;
    assert_eq!(other.status, Some(503), "{other:?}");
    let first = first.await.unwrap();
    assert_eq!(first.status, Some(200), "{first:?}");
    let m = wait_endlist(&server, "only", Duration::from_secs(10)).await;
    let segments = fetch_segments(&m).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "the live feed",
    );
    assert_eq!(get(&server.index_url("another")).await.status, 404);
    server.stop().await;
}
