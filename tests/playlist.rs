//! Playlists: the multivariant and media playlists obey HLS-RULES.md for ordinary streams and
//! for the awkward ones (B-frames, long and irregular GOPs, audio only, PTS wrap, timestamp
//! jump), and the headers that players and caches rely on.

mod common;

use bytes::Bytes;
use common::*;
use std::time::{Duration, Instant};

const ORIGIN: (&str, &str) = ("Origin", "http://player.example");

/// Pushes `data` at full speed and returns the final (ENDLIST) playlist and its segments.
async fn push_and_end(server: &TestServer, feed: &str, data: Bytes) -> (Media, Vec<Bytes>) {
    let res = push(server.addr, data, Push::new(feed)).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let m = wait_endlist(server, feed, Duration::from_secs(15)).await;
    check_media_rules(&m);
    let segments = fetch_segments(&m).await;
    (m, segments)
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got:.3}, expected {want:.3} ± {tol}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn playlists_obey_the_rules_and_carry_the_right_headers() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "rules", data.clone()).await;

    // Multivariant playlist: one variant resolving to main/media.m3u8.
    let media_url = variant_url(&server, "rules").await;
    assert_eq!(media_url, m.url);
    let index = request("GET", &server.index_url("rules"), &[ORIGIN]).await;
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/vnd.apple.mpegurl")),
        "{:?}",
        index.headers
    );
    assert!(
        index.header("cache-control").is_some(),
        "index.m3u8 without Cache-Control: {:?}",
        index.headers
    );
    assert_eq!(index.header("access-control-allow-origin"), Some("*"));
    assert_eq!(index.text().matches("#EXT-X-STREAM-INF").count(), 1);
    let independent = |raw: &str| {
        raw.lines()
            .filter(|l| l.trim() == "#EXT-X-INDEPENDENT-SEGMENTS")
            .count()
    };
    assert!(
        independent(&index.text()) + independent(&m.raw) <= 1,
        "EXT-X-INDEPENDENT-SEGMENTS in both playlists or twice"
    );
    let expose = index.header("access-control-expose-headers").unwrap_or("");
    assert!(
        expose.to_ascii_lowercase().contains("age"),
        "Age not exposed to CORS: {:?}",
        index.headers
    );

    let media = request("GET", &media_url, &[ORIGIN]).await;
    assert!(
        media
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/vnd.apple.mpegurl")),
        "{:?}",
        media.headers
    );
    assert!(
        media.header("cache-control").is_some(),
        "media.m3u8 without Cache-Control: {:?}",
        media.headers
    );
    assert_eq!(media.header("access-control-allow-origin"), Some("*"));

    // Media playlist content.
    assert_eq!(m.pl.media_sequence, 1);
    assert_eq!(m.discontinuities(), 0, "{}", m.raw);
    let segs = m.segments();
    assert_eq!(segs.len(), 8, "8 one-second GOPs:\n{}", m.raw);
    for (msn, _, d) in &segs[..segs.len() - 1] {
        assert_close(*d, 1.0, 0.001, &format!("EXTINF of {msn}"));
    }
    let media_duration = probe_duration(&data).await;
    assert_close(
        m.total_duration(),
        media_duration,
        0.15,
        "EXTINF sum vs ffprobe duration",
    );
    assert_eq!(m.pl.target_duration, 1, "{}", m.raw);

    // Segment headers.
    let seg = request("GET", &segs[0].1, &[ORIGIN]).await;
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert!(
        seg.header("cache-control").is_some(),
        "segment without Cache-Control"
    );
    assert_eq!(seg.header("access-control-allow-origin"), Some("*"));
    assert_eq!(seg.body, segments[0]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_feed_is_404_with_cors() {
    let server = TestServer::start(config()).await;
    for path in [
        "/live/nobody/index.m3u8",
        "/live/nobody/main/media.m3u8",
        "/live/nobody/main/seg-1.ts",
        "/live/nobody/main/nothing.txt",
        "/live/a/b/c/d",
        "/live/",
        "/live",
    ] {
        let r = request("GET", &server.url(path), &[ORIGIN]).await;
        assert_eq!(r.status, 404, "GET {path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "GET {path}: {:?}",
            r.headers
        );
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("age"),
            "GET {path}"
        );
    }
    // A method playback does not answer: 405, still with CORS.
    let r = request("POST", &server.index_url("nobody"), &[ORIGIN]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    server.stop().await;
}

/// B-frames: DTS != PTS must not skew segment durations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn b_frames_keep_durations_exact() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "bframes", data.clone()).await;
    let segs = m.segments();
    for (msn, _, d) in &segs[..segs.len() - 1] {
        assert_close(*d, 1.0, 0.001, &format!("EXTINF of {msn}"));
    }
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
        let pes = ts::all_pes(s);
        assert!(
            pes.iter().any(|p| p.dts.is_some() && p.dts != p.pts),
            "segment {i} lost its B-frame timing"
        );
    }
    server.stop().await;
}

/// A GOP (4 s) longer than segment_duration (2 s): segments are whole GOPs and
/// TARGETDURATION covers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn gop_longer_than_segment_duration() {
    let data = fixture(Fixture::LongGop);
    let mut c = config();
    c.hls.segment_duration = 2.0;
    let server = TestServer::start(c).await;
    let (m, segments) = push_and_end(&server, "longgop", data.clone()).await;
    assert!(
        m.pl.target_duration >= 4,
        "TARGETDURATION {}:\n{}",
        m.pl.target_duration,
        m.raw
    );
    let segs = m.segments();
    assert_eq!(segs.len(), 3, "{}", m.raw);
    for (msn, _, d) in &segs[..2] {
        assert_close(*d, 4.0, 0.001, &format!("EXTINF of {msn}"));
    }
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "long GOP",
    );
    server.stop().await;
}

/// Keyframes at irregular times: each segment is cut at the first keyframe at or after
/// segment_duration; TD is the first segment rounded up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn irregular_gop() {
    let data = fixture(Fixture::IrregularGop);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "irregular", data.clone()).await;
    // Cuts at 2.92, 5.52, 8.0 (keyframes at 0, 0.6, 2.92, 3.32, 5.52, 5.92, 8.0).
    let segs = m.segments();
    assert_eq!(segs.len(), 4, "{}", m.raw);
    for ((msn, _, d), want) in segs.iter().zip([2.92, 2.6, 2.48]) {
        assert_close(*d, want, 0.001, &format!("EXTINF of {msn}"));
    }
    assert_eq!(m.pl.target_duration, 3, "{}", m.raw);
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "irregular GOP",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn audio_only() {
    let data = fixture(Fixture::AudioOnly);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "radio", data.clone()).await;
    let segs = m.segments();
    assert!(segs.len() >= 4, "{}", m.raw);
    for (msn, _, d) in &segs[..segs.len() - 1] {
        assert!((1.0..1.5).contains(d), "EXTINF of {msn} is {d}:\n{}", m.raw);
    }
    // The last PES's duration is known only from its ADTS frames: allow one PES of error.
    assert_close(
        m.total_duration(),
        probe_duration(&data).await,
        0.35,
        "EXTINF sum",
    );
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
        let (video, audio) = assert_decodes(s, &format!("segment {i}")).await;
        assert_eq!(video, 0);
        assert!(audio > 0);
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "audio only",
    );
    server.stop().await;
}

/// PTS crossing 2^33 is not a discontinuity and does not distort durations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn pts_wrap_is_not_a_discontinuity() {
    let data = fixture(Fixture::PtsWrap);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "wrap", data.clone()).await;
    assert_eq!(m.discontinuities(), 0, "{}", m.raw);
    let tags = m.raw.lines().filter(|l| l.trim() == "#EXT-X-DISCONTINUITY");
    assert_eq!(tags.count(), 0, "{}", m.raw);
    let segs = m.segments();
    assert_eq!(segs.len(), 8, "{}", m.raw);
    for (msn, _, d) in &segs[..segs.len() - 1] {
        assert_close(*d, 1.0, 0.001, &format!("EXTINF of {msn}"));
    }
    assert_eq!(m.pl.target_duration, 1);
    assert_close(
        m.total_duration(),
        probe_duration(&data).await,
        0.15,
        "EXTINF sum",
    );
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "PTS wrap",
    );
    server.stop().await;
}

/// A 27 s forward jump of the timestamps: exactly one EXT-X-DISCONTINUITY, at the first
/// segment after the jump, and no segment claims the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn timestamp_jump_is_one_discontinuity() {
    let data = fixture(Fixture::TimestampJump);
    let server = TestServer::start(config()).await;
    let (m, segments) = push_and_end(&server, "jump", data.clone()).await;
    assert_eq!(
        m.raw
            .lines()
            .filter(|l| l.trim() == "#EXT-X-DISCONTINUITY")
            .count(),
        1,
        "{}",
        m.raw
    );
    assert_eq!(m.discontinuities(), 1, "{}", m.raw);
    let segs = m.segments();
    assert_eq!(segs.len(), 8, "{}", m.raw);
    for (msn, _, d) in &segs {
        assert!(*d <= 1.2, "EXTINF of {msn} is {d}:\n{}", m.raw);
    }
    assert_close(m.total_duration(), 8.0, 0.3, "EXTINF sum");
    let disc = m.pl.segments.iter().position(|s| s.discontinuity).unwrap();
    assert_eq!(
        disc, 4,
        "discontinuity on the first segment of the second clip:\n{}",
        m.raw
    );
    // That segment's first video PTS is the second clip's (30 s later).
    let first_pts = |s: &Bytes| ts::all_pes(s).into_iter().find_map(|p| p.pts).unwrap();
    assert!(first_pts(&segments[disc]) > first_pts(&segments[disc - 1]) + 20 * 90_000);
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "timestamp jump",
    );
    server.stop().await;
}

/// A playlist request while the feed publishes but has no complete segment waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn playlist_request_waits_for_first_segment() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(config()).await;
    // About 0.2 s of media, then a 1.2 s pause, then the rest.
    let early = packet_boundary(&data, 0.2 / 8.0);
    let pause = Duration::from_millis(1200);
    let pushed_at = Instant::now();
    let publisher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("early").chunk(early).pause_at(early, pause),
    );
    // Until the server has registered the publish, the feed is unknown (404): retry then.
    let (index, waited) = eventually(
        Duration::from_secs(5),
        "index.m3u8 of a publishing feed",
        || async {
            let start = Instant::now();
            let r = get(&server.index_url("early")).await;
            (r.status != 404 || pushed_at.elapsed() > pause).then(|| (r, start.elapsed()))
        },
    )
    .await;
    assert_eq!(
        index.status,
        200,
        "index.m3u8 before the first segment: {}",
        index.text()
    );
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}, before the first segment could exist"
    );
    let m = fetch_media(&server.media_url("early")).await;
    assert!(!m.pl.segments.is_empty(), "{}", m.raw);
    check_media_rules(&m);
    assert_eq!(publisher.await.unwrap().status, Some(200));
    server.stop().await;
}

/// A CORS preflight for playback is granted; one for ingest is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_for_playback_only() {
    let server = TestServer::start(config()).await;
    let preflight = [ORIGIN, ("Access-Control-Request-Method", "GET")];
    let r = request("OPTIONS", &server.index_url("any"), &preflight).await;
    assert!(
        r.status == 200 || r.status == 204,
        "preflight status {}",
        r.status
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "{:?}",
        r.headers
    );
    let methods = r.header("access-control-allow-methods").unwrap_or("");
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(methods.split(',').any(|x| x.trim() == m), "{methods}");
    }
    // Any playback path, even one that does not exist.
    let r = request("OPTIONS", &server.url("/live/x/y/z"), &preflight).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let preflight = [ORIGIN, ("Access-Control-Request-Method", "POST")];
    let r = request("OPTIONS", &server.url("/ingest/any"), &preflight).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "ingest preflight: {:?}",
        r.headers
    );
    server.stop().await;
}
