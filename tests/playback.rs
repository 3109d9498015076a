//! Playback as real clients see it: ffmpeg plays a live feed pushed by ffmpeg, ffprobe
//! decodes every segment, HEAD and Range requests on segments, 404s.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

const ORIGIN: (&str, &str) = ("Origin", "http://player.example");

/// ffmpeg publishes in real time (`-re`, chunked POST); while it does, the media playlist is
/// reloaded: TARGETDURATION never changes, a listed MSN keeps its URI, MSNs only grow; and
/// `ffmpeg -i index.m3u8` plays the feed to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffmpeg_plays_a_live_feed() {
    let path = fixture_path(Fixture::Main);
    let server = TestServer::start(config()).await;
    let mut publisher = ffmpeg_publish(server.addr, "cam", &path);
    let url = server.media_url("cam");
    wait_media(&url, Duration::from_secs(10), "a first segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;

    let index = server.index_url("cam");
    let player = tokio::spawn(async move { ffmpeg_play(&index, Duration::from_secs(25)).await });

    let mut td = None;
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut first_msn = 0;
    let mut reloads = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let last = loop {
        let m = fetch_media(&url).await;
        reloads += 1;
        check_media_rules(&m);
        assert_eq!(
            *td.get_or_insert(m.pl.target_duration),
            m.pl.target_duration,
            "TARGETDURATION changed:\n{}",
            m.raw
        );
        assert!(
            m.pl.media_sequence >= first_msn,
            "media sequence went back:\n{}",
            m.raw
        );
        first_msn = m.pl.media_sequence;
        for (msn, uri, _) in m.segments() {
            let old = seen.entry(msn).or_insert_with(|| uri.clone());
            assert_eq!(*old, uri, "MSN {msn} changed its URI:\n{}", m.raw);
        }
        if m.endlist() {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ENDLIST 20 s into a live 8 s feed:\n{}",
            m.raw
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(reloads >= 5, "only {reloads} reloads while live");
    assert_eq!(last.pl.media_sequence, 1);
    assert!((7.0..9.0).contains(&last.total_duration()), "{}", last.raw);

    let status = tokio::time::timeout(Duration::from_secs(10), publisher.wait())
        .await
        .expect("ffmpeg publisher still running")
        .unwrap();
    let mut err = String::new();
    if let Some(mut e) = publisher.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert!(status.success(), "ffmpeg publisher: {status} {err}");
    let played = player.await.unwrap();
    assert!(
        played.success,
        "ffmpeg could not play the feed: {}",
        played.stderr
    );
    assert_eq!(
        played.frames, 200,
        "ffmpeg played {} of 200 frames: {}",
        played.frames, played.stderr
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffprobe_decodes_every_segment() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(config()).await;
    let res = push(server.addr, data, Push::new("probe").chunk(188 * 7)).await;
    assert_eq!(res.status, Some(200));
    let m = wait_endlist(&server, "probe", Duration::from_secs(10)).await;
    let segments = fetch_segments(&m).await;
    let n = segments.len();
    assert_eq!(n, 8);
    for (i, s) in segments.iter().enumerate() {
        let what = format!("segment {i}");
        ts::assert_segment_start(s, &what);
        let (video, audio) = assert_decodes(s, &what).await;
        assert_eq!(video, 25, "{what}: one second of 25 fps video");
        // AAC frames (21.3 ms) come in PES of several frames, cut at video keyframes.
        let min_audio = if i + 1 < n { 30 } else { 1 };
        assert!(audio >= min_audio, "{what}: {audio} AAC frames");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn head_and_range_on_segments_and_404s() {
    let data = fixture(Fixture::Short);
    let server = TestServer::start(config()).await;
    let res = push(server.addr, data, Push::new("range")).await;
    assert_eq!(res.status, Some(200));
    let m = wait_endlist(&server, "range", Duration::from_secs(10)).await;
    let url = m.segments()[0].1.clone();
    let full = get(&url).await;
    assert_eq!(full.status, 200);
    let len = full.body.len();
    assert!(len > 1000);

    let head = request("HEAD", &url, &[ORIGIN]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str()),
        "{:?}",
        head.headers
    );
    assert_eq!(head.header("content-type"), Some("video/mp2t"));
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));

    for (range, from, to) in [
        ("bytes=0-187", 0, 188),
        ("bytes=100-", 100, len),
        ("bytes=-188", len - 188, len),
    ] {
        let r = request("GET", &url, &[("Range", range), ORIGIN]).await;
        assert_eq!(r.status, 206, "Range {range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {from}-{}/{len}", to - 1).as_str()),
            "Range {range}"
        );
        assert_eq!(&r.body[..], &full.body[from..to], "Range {range}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    let r = request("GET", &url, &[("Range", &format!("bytes={}-", len + 10))]).await;
    assert_eq!(r.status, 416, "unsatisfiable range");

    // An unknown segment of a known feed, and the playlists of an unknown one.
    let missing = resolve(&m.url, "no-such-segment-999999.ts");
    let r = request("GET", &missing, &[ORIGIN]).await;
    assert_eq!(r.status, 404, "GET {missing}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let mut parts = url.rsplitn(2, '/');
    let (name, dir) = (parts.next().unwrap(), parts.next().unwrap());
    let r = get(&format!("{dir}/x{name}")).await;
    assert_eq!(r.status, 404, "GET {dir}/x{name}");
    assert_eq!(get(&server.index_url("nobody")).await.status, 404);
    server.stop().await;
}
