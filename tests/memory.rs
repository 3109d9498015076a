//! Memory bounds whatever publishers do (DESIGN invariant 7): a publisher faster than real
//! time, one whose clock is frozen, `limits.max_renditions`, `limits.max_memory_mb`. Real
//! sockets, synthetic TS (no ffmpeg).

mod common;

use bytes::Bytes;
use common::*;
use hlsd::synth::Synth;
use std::time::{Duration, Instant};

/// An unlabelled sample of `name` in a Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = get(&server.url("/metrics")).await.text();
    sample(&text, name).unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// 25 fps video with audio, GOP of one second, ~4 Mbit/s.
fn video(frames: usize) -> Bytes {
    Bytes::from(
        Synth {
            frame_bytes: 16_000,
            ..Synth::default()
        }
        .build(frames),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaced_publisher_holds_at_most_three_windows() {
    let mut config = config();
    config.hls.window = 4;
    let server = TestServer::start(config).await;
    // 160 s of media (~80 MB), pushed as fast as the socket takes it.
    let seconds = 160;
    let data = video(25 * seconds);
    let segment_bytes = data.len() / seconds;
    // Listed window, twice that retired, the segment being built, one segment of slack
    // (segments of a keyframe and 24 frames vary a little around the mean).
    let bound = (3 * 4 + 2) as f64 * segment_bytes as f64;
    let push = spawn_push(server.addr, data.clone(), Push::new("fast"));
    let mut samples = 0;
    let mut highest = 0.0f64;
    let started = Instant::now();
    while !push.is_finished() && started.elapsed() < Duration::from_secs(120) {
        let held = metric(&server, "hlsd_store_bytes").await;
        highest = highest.max(held);
        assert!(
            held <= bound,
            "{held} bytes held while pushing, bound {bound} ({segment_bytes} per segment)"
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pushed = push.await.unwrap();
    assert_eq!(pushed.status, Some(200));
    assert!(samples > 0);
    // Right after the push every retired segment is still within the spec's time rule:
    // only the cap keeps them out.
    let held = metric(&server, "hlsd_store_bytes").await;
    assert!(
        held <= bound,
        "{held} bytes held after the push, bound {bound}"
    );
    assert!(
        held >= 4.0 * segment_bytes as f64 * 0.8,
        "the listed window is kept: {held}"
    );
    let capped = metric(&server, "hlsd_retired_segments_capped_total").await;
    assert!(capped >= 100.0, "{capped} segments capped");
    // The listed segments are all there.
    let m = fetch_media(&server.media_url("fast")).await;
    assert_eq!(m.pl.segments.len(), 4);
    for (_, uri, _) in m.segments() {
        assert_eq!(get(&resolve(&m.url, &uri)).await.status, 200, "{uri}");
    }
    eprintln!("{samples} samples, highest {highest} bytes, bound {bound}, {capped} capped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_clock_is_bounded_reported_and_disconnected() {
    let server = TestServer::start(config()).await;
    // ~21 MB whose timestamps never move.
    let data = Bytes::from(
        Synth {
            frame_ticks: Some(0.0),
            audio: false,
            frame_bytes: 50_000,
            ..Synth::default()
        }
        .build(400),
    );
    assert!(data.len() > 20 << 20);
    let pushed = push(server.addr, data, Push::new("frozen")).await;
    assert_eq!(pushed.status, Some(422), "{}", pushed.head);
    let held = metric(&server, "hlsd_store_bytes").await;
    assert!(
        held <= f64::from(8 << 20) + 1e6,
        "{held} bytes held for a frozen clock"
    );
    assert_eq!(
        metric(&server, "hlsd_frozen_clock_disconnects_total").await,
        1.0
    );
    let feed = get(&server.url("/api/feeds/frozen")).await.text();
    assert!(feed.contains("frozen clock"), "{feed}");
    // What was kept is served with a duration, not EXTINF:0.
    let m = fetch_media(&server.media_url("frozen")).await;
    assert!(!m.pl.segments.is_empty());
    assert!(m.pl.segments.iter().all(|s| s.duration > 0.0), "{}", m.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_renditions_refuses_a_third_rendition_and_keeps_the_first_two() {
    let mut config = config();
    config.limits.max_renditions = 2;
    let server = TestServer::start(config).await;
    let data = video(25 * 6);
    let paced = |name: &str| {
        spawn_push(
            server.addr,
            data.clone(),
            Push::new(&format!("f/{name}")).paced(&data, 4.0),
        )
    };
    let (a, b) = (paced("a"), paced("b"));
    for r in ["a", "b"] {
        let url = server.url(&format!("/live/f/{r}/media.m3u8"));
        eventually(Duration::from_secs(10), "a live rendition", || async {
            try_media(&url).await
        })
        .await;
    }
    let third = push(server.addr, data.clone(), Push::new("f/c")).await;
    assert_eq!(third.status, Some(503), "{}", third.head);
    assert_eq!(get(&server.url("/live/f/c/media.m3u8")).await.status, 404);
    // The first two were not disturbed.
    assert_eq!(a.await.unwrap().status, Some(200));
    assert_eq!(b.await.unwrap().status, Some(200));
    for r in ["a", "b"] {
        let m = fetch_media(&server.url(&format!("/live/f/{r}/media.m3u8"))).await;
        assert!(m.pl.segments.len() >= 5, "{r}: {}", m.raw);
    }
    // A rendition that exists takes a new publisher again.
    let again = push(server.addr, video(50), Push::new("f/a")).await;
    assert_eq!(again.status, Some(200));
}

/// One TS packet carrying a PAT that lists `n` programs (ISO/IEC 13818-1 §2.4.4.3).
fn pat_packet(n: u16) -> Vec<u8> {
    let len = 5 + 4 * n + 4;
    let mut section = vec![0x00, 0xB0 | (len >> 8) as u8, len as u8, 0, 1, 0xC1, 0, 0];
    for i in 1..=n {
        let pmt = 0x1000 + i;
        section.extend_from_slice(&[(i >> 8) as u8, i as u8, 0xE0 | (pmt >> 8) as u8, pmt as u8]);
    }
    let crc = ts::crc32_mpeg(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    let mut packet = vec![0x47, 0x40, 0x00, 0x10, 0x00];
    packet.extend_from_slice(&section);
    packet.resize(188, 0xFF);
    packet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_more_programs_than_max_renditions_is_refused_whole() {
    let mut config = config();
    config.limits.max_renditions = 2;
    let server = TestServer::start(config).await;
    let mut data = pat_packet(3);
    data.extend_from_slice(&video(100));
    let pushed = push(server.addr, Bytes::from(data), Push::new("multi")).await;
    assert_eq!(pushed.status, Some(503), "{}", pushed.head);
    // No program was taken on, and the URL's rendition is gone too.
    assert_eq!(get(&server.url("/api/feeds/multi")).await.status, 404);
    let feeds = get(&server.url("/api/feeds")).await.text();
    assert!(!feeds.contains("program"), "{feeds}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_refuses_new_feeds_but_never_a_resume() {
    let mut config = config();
    config.limits.max_memory_mb = 1;
    config.feeds.reconnect_grace = 5.0;
    config.feeds.linger = 0.2;
    let server = TestServer::start(config).await;
    assert_eq!(metric(&server, "hlsd_store_budget_bytes").await, 1048576.0);
    assert_eq!(metric(&server, "hlsd_store_bytes").await, 0.0);
    // ~2.4 MB held: over the budget.
    let data = video(25 * 4);
    assert_eq!(
        push(server.addr, data.clone(), Push::new("big"))
            .await
            .status,
        Some(200)
    );
    let held = metric(&server, "hlsd_store_bytes").await;
    assert!(held > 1048576.0, "{held}");
    let feed = get(&server.url("/api/feeds/big")).await.text();
    assert!(feed.contains(&format!("\"memory_bytes\":{held}")), "{feed}");

    let refused = push(server.addr, video(50), Push::new("new")).await;
    assert_eq!(refused.status, Some(503), "{}", refused.head);
    let refused = push(server.addr, video(50), Push::new("big/other")).await;
    assert_eq!(refused.status, Some(503), "{}", refused.head);
    // The feed's publisher coming back within the grace is taken on.
    let resumed = push(server.addr, video(50), Push::new("big")).await;
    assert_eq!(resumed.status, Some(200));

    // Once the feed is gone, nothing is counted and new feeds are welcome again.
    eventually(Duration::from_secs(15), "the feed removed", || async {
        (get(&server.url("/api/feeds/big")).await.status == 404).then_some(())
    })
    .await;
    assert_eq!(metric(&server, "hlsd_store_bytes").await, 0.0);
    let welcome = push(server.addr, video(50), Push::new("new")).await;
    assert_eq!(welcome.status, Some(200));
}
