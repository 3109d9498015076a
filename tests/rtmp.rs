//! RTMP ingest with ffmpeg as the publisher (`-c copy -f flv`, H.264 with B-frames + AAC):
//! the HLS output decodes without a message, its PTS/DTS equal the input's within 1 ms (up
//! to a constant offset), LL-HLS parts and blocking reload work; a second publisher and a
//! wrong key are refused; a killed publisher gets the reconnect grace and a discontinuity
//! when it comes back. Needs ffmpeg and ffprobe (run with --include-ignored).

mod common;

use common::ll::{Ll, fetch_ll};
use common::rtmp::{Attempt, ffmpeg_rtmp, finished, rtmp_publish};
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

fn rtmp_url(addr: SocketAddr, path: &str) -> String {
    format!("rtmp://{addr}/live/{path}")
}

fn ll_config() -> Config {
    let mut c = config();
    c.hls.part_duration = 0.25;
    c.feeds.reconnect_grace = 1.0;
    c
}

/// (PTS, DTS) per stream (0 video, 1 audio) in 90 kHz ticks, as ffprobe reads them.
fn times(path: &std::path::Path) -> [Vec<(i64, i64)>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for p in probe_packets(path) {
        if let Some(v) = out.get_mut(p.stream as usize) {
            v.push((p.pts, p.dts));
        }
    }
    out
}

/// Once the feed has ended: its HLS output decodes in ffmpeg without a message, and its
/// every video frame and the audio frames from its first on have the input's PTS and DTS
/// within 1 ms (90 ticks), up to one constant offset (DTS clamped to 0 by the publisher
/// aside).
async fn same_times_as_input(server: &TestServer, feed: &str, input: &std::path::Path) {
    let media = wait_endlist(server, feed, Duration::from_secs(15)).await;
    assert!(media.discontinuities() == 0, "{}", media.raw);
    let errors = decode_errors(&media.url);
    assert!(
        errors.is_empty(),
        "ffmpeg decoding the HLS output: {errors}"
    );

    // The segments back to back, probed, against the input.
    let mut ts = Vec::new();
    for (_, seg, _) in media.segments() {
        let r = get(&seg).await;
        assert_eq!(r.status, 200);
        ts.extend_from_slice(&r.body);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ts");
    std::fs::write(&out, &ts).unwrap();
    let [want_v, want_a] = times(input);
    let [got_v, got_a] = times(&out);
    assert_eq!(got_v.len(), want_v.len(), "every video frame");
    // The offset from the first PTS. FLV has no negative timestamps: a publisher whose
    // first DTS (B-frames from time 0) or audio would be before 0 clamps them to 0
    // (GStreamer's flvmux does), so those, and only those, are 0 in the output.
    let offset = got_v[0].0 - want_v[0].0;
    let near = |g: (i64, i64), w: (i64, i64)| {
        (g.0 - (w.0 + offset).max(0)).abs() <= 90 && (g.1 - (w.1 + offset).max(0)).abs() <= 90
    };
    for (i, (g, w)) in got_v.iter().zip(&want_v).enumerate() {
        assert!(
            near(*g, *w),
            "video packet {i}: got {g:?} - {offset}, want {w:?}"
        );
    }
    // Audio: the input's frames in order, each output frame one of them (those before the
    // first keyframe may be dropped).
    assert!(
        got_a.len() + 25 >= want_a.len(),
        "{} of {}",
        got_a.len(),
        want_a.len()
    );
    let mut j = 0;
    for (i, g) in got_a.iter().enumerate() {
        while j < want_a.len() && !near(*g, want_a[j]) {
            j += 1;
        }
        assert!(
            j < want_a.len(),
            "audio packet {i}: got {g:?} - {offset}, none of the input's"
        );
        j += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn an_ffmpeg_publish_plays_with_the_input_timestamps_and_ll_hls() {
    let input = fixture_path(Fixture::Main);
    let (server, rtmp) = TestServer::start_with_rtmp(ll_config()).await;
    let publisher = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam2"), true);
    assert_eq!(publisher_protocol(&server, "cam2").await, "rtmp");
    let text = get(&server.url("/metrics")).await.text();
    assert!(
        text.lines()
            .any(|l| l == "hlsd_publishers_connected{protocol=\"rtmp\"} 1"),
        "{text}"
    );

    // LL-HLS while it publishes: parts, PART-TARGET honoured, a blocking reload answered
    // when the next segment is there.
    let url = server.media_url("cam2");
    let ll: Ll = eventually(Duration::from_secs(15), "two segments", || async {
        fetch_ll(&url, "")
            .await
            .ll
            .filter(|l| l.segments.len() >= 2)
    })
    .await;
    let target = ll.part_target.expect("PART-TARGET");
    assert!(!ll.parts.is_empty(), "{}", ll.raw);
    for p in &ll.parts {
        assert!(
            p.duration <= target + 1e-9,
            "part over PART-TARGET:\n{}",
            ll.raw
        );
    }
    let next = ll.last_segment_msn().unwrap() + 1;
    let blocked = fetch_ll(&url, &format!("_HLS_msn={next}")).await;
    let got = blocked.ll.expect("a blocking reload answers 200");
    assert!(
        got.segment(next).is_some() || !got.parts_of(next).is_empty(),
        "_HLS_msn={next}:\n{}",
        got.raw
    );

    let (status, stderr) = finished(publisher).await;
    assert!(status.success(), "ffmpeg: {stderr}");
    // The multivariant playlist says what the sequence headers said, as it says for the
    // same media pushed over HTTP.
    assert_eq!(variant_url(&server, "cam2").await, url);
    let pushed = spawn_push(server.addr, fixture(Fixture::Main), Push::new("viahttp"));
    assert_eq!(pushed.await.unwrap().status, Some(200));
    let attributes = |index: String| -> Vec<String> {
        let inf = index
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-STREAM-INF:"))
            .unwrap_or_else(|| panic!("{index}"))
            .to_string();
        ["CODECS=", "RESOLUTION=", "FRAME-RATE="]
            .iter()
            .map(|a| {
                let at = inf.find(a).unwrap_or_else(|| panic!("{a} in {inf}"));
                inf[at..]
                    .split(",R")
                    .next()
                    .unwrap()
                    .split(",F")
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        attributes(get(&server.index_url("cam2")).await.text()),
        attributes(get(&server.index_url("viahttp")).await.text())
    );
    same_times_as_input(&server, "cam2", &input).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_second_publisher_and_a_wrong_key_are_refused() {
    let mut config = ll_config();
    config.auth = Some(hlsd::config::AuthConfig {
        publish_key: Some("k3y".into()),
        ..Default::default()
    });
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    let input = fixture_path(Fixture::Main);
    let first = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam2?key=k3y"), true);
    assert_eq!(publisher_protocol(&server, "cam2").await, "rtmp");

    let second = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam2?key=k3y"), true);
    let (status, stderr) = finished(second).await;
    assert!(!status.success());
    assert!(stderr.contains("already being published"), "{stderr}");
    let wrong = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam3?key=nope"), true);
    let (status, stderr) = finished(wrong).await;
    assert!(!status.success());
    assert!(stderr.contains("wrong publish key"), "{stderr}");
    let none = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam3"), true);
    let (status, stderr) = finished(none).await;
    assert!(!status.success());
    assert!(stderr.contains("publish key is required"), "{stderr}");
    let app = ffmpeg_rtmp(&input, &format!("rtmp://{rtmp}/other/cam3"), true);
    let (status, _) = finished(app).await;
    assert!(!status.success());

    let text = get(&server.url("/metrics")).await.text();
    for reason in ["busy", "wrong_key", "missing_key"] {
        let line = format!("hlsd_ingest_refused_total{{reason=\"{reason}\"}} 1");
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(
        feed_json(&server, "cam3").await.is_none(),
        "no feed for refusals"
    );
    // The first publisher went on undisturbed.
    let (status, stderr) = finished(first).await;
    assert!(status.success(), "{stderr}");
    let media = wait_endlist(&server, "cam2", Duration::from_secs(15)).await;
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_killed_publisher_gets_the_grace_and_a_discontinuity_on_return() {
    let mut config = ll_config();
    config.feeds.reconnect_grace = 8.0;
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    let input = fixture_path(Fixture::Main);
    let url = server.media_url("cam2");
    let mut first = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam2"), true);
    wait_media(&url, Duration::from_secs(15), "two segments", |m| {
        m.segments().len() >= 2
    })
    .await;
    first.kill().await.expect("kill ffmpeg");
    let v = wait_state(&server, "cam2", "reconnecting").await;
    assert_eq!(v["renditions"][0]["publisher"], Value::Null);
    assert!(!has_endlist(&get(&url).await.text()));

    let again = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam2"), false);
    let (status, stderr) = finished(again).await;
    assert!(status.success(), "ffmpeg: {stderr}");
    // Ended only after the grace; one discontinuity where it came back.
    let media = wait_endlist(&server, "cam2", Duration::from_secs(20)).await;
    assert_eq!(media.discontinuities(), 1, "{}", media.raw);
    let errors = decode_errors(&media.url);
    assert!(
        errors.is_empty(),
        "ffmpeg decoding the HLS output: {errors}"
    );
    server.stop().await;
}

fn refused(a: Attempt, code: &str, text: &str) {
    match a {
        Attempt::Publishing(_) => panic!("published; expected {code}"),
        Attempt::Closed(got) => {
            assert!(got.contains(code), "{code} expected in {got:?}");
            assert!(got.contains(text), "{text:?} expected in {got:?}");
        }
    }
}

/// The status codes themselves, read off the wire with rml_rtmp's client (ffmpeg prints
/// only the description). No media is needed: a publish claims its rendition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_the_documented_status_codes() {
    let (server, rtmp) = TestServer::start_with_rtmp(ll_config()).await;
    let held = match rtmp_publish(rtmp, "live", "cam2").await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    assert_eq!(publisher_protocol(&server, "cam2").await, "rtmp");
    refused(
        rtmp_publish(rtmp, "live/cam2", "main").await,
        "NetStream.Publish.BadName",
        "already being published",
    );
    // The holder's address is not told.
    match rtmp_publish(rtmp, "live", "cam2").await {
        Attempt::Closed(got) => assert!(!got.contains("127.0.0.1"), "{got}"),
        Attempt::Publishing(_) => panic!("published on a busy rendition"),
    }
    refused(
        rtmp_publish(rtmp, "live", "bad.name").await,
        "NetStream.Publish.BadName",
        "bad name",
    );
    refused(
        rtmp_publish(rtmp, "other", "cam4").await,
        "NetConnection.Connect.Rejected",
        "the app must be live",
    );
    drop(held);
    server.stop().await;

    let mut config = ll_config();
    config.feeds.max_feeds = 1;
    config.auth = Some(hlsd::config::AuthConfig {
        publish_key: Some("k3y".into()),
        ..Default::default()
    });
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    refused(
        rtmp_publish(rtmp, "live", "cam3?key=nope").await,
        "NetConnection.Connect.Rejected",
        "wrong publish key",
    );
    refused(
        rtmp_publish(rtmp, "live", "cam3").await,
        "NetConnection.Connect.Rejected",
        "a publish key is required",
    );
    let held = match rtmp_publish(rtmp, "live", "cam3?key=k3y").await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    refused(
        rtmp_publish(rtmp, "live/cam4?key=k3y", "main").await,
        "NetConnection.Connect.Rejected",
        "too many feeds",
    );
    drop(held);
    server.stop().await;
}

/// GStreamer as the publisher: `tsdemux ! h264parse / aacparse ! flvmux ! rtmp2sink`, in
/// real time (the sink syncs to the clock). Same checks as for ffmpeg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs GStreamer (gstreamer1.0-tools, -plugins-good, -plugins-bad), ffmpeg and ffprobe"]
async fn a_gstreamer_rtmp2sink_publish_plays_with_the_input_timestamps() {
    let input = fixture_path(Fixture::Main);
    let (server, rtmp) = TestServer::start_with_rtmp(ll_config()).await;
    let pipeline = format!(
        "filesrc location={} ! tsdemux name=d \
         d. ! queue ! h264parse ! queue ! mux. \
         d. ! queue ! aacparse ! queue ! mux. \
         flvmux name=mux streamable=true ! rtmp2sink location={}",
        input.display(),
        rtmp_url(rtmp, "gst")
    );
    let child = tokio::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("gst-launch-1.0 not found: install gstreamer1.0-tools");
    assert_eq!(publisher_protocol(&server, "gst").await, "rtmp");
    let url = server.media_url("gst");
    let ll: Ll = eventually(Duration::from_secs(15), "two segments", || async {
        fetch_ll(&url, "")
            .await
            .ll
            .filter(|l| l.segments.len() >= 2)
    })
    .await;
    let target = ll.part_target.expect("PART-TARGET");
    assert!(
        ll.parts.iter().all(|p| p.duration <= target + 1e-9),
        "{}",
        ll.raw
    );
    let (status, stderr) = finished(child).await;
    assert!(status.success(), "gst-launch-1.0: {stderr}");
    same_times_as_input(&server, "gst", &input).await;
    server.stop().await;
}

/// fMP4 from RTMP input: the packager takes the FLV access units directly. With
/// `hls.container = "fmp4"`, `media.m3u8` is fMP4 (an EXT-X-MAP, `.m4s` segments) and
/// ffmpeg decodes it without a word; the TS rendering stays available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_rtmp_publish_is_served_as_fmp4() {
    let mut config = ll_config();
    config.hls.container = hlsd::config::ContainerChoice::Fmp4;
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    let input = fixture_path(Fixture::Main);
    let publisher = ffmpeg_rtmp(&input, &rtmp_url(rtmp, "cam5"), false);
    let (status, stderr) = finished(publisher).await;
    assert!(status.success(), "ffmpeg: {stderr}");
    let media = wait_endlist(&server, "cam5", Duration::from_secs(15)).await;
    assert!(
        media.raw.contains("#EXT-X-MAP:URI=\"init-"),
        "{}",
        media.raw
    );
    let segments = media.segments();
    assert!(segments.len() >= 6, "{}", media.raw);
    assert!(
        segments.iter().all(|s| s.1.ends_with(".m4s")),
        "{}",
        media.raw
    );
    let r = get(&segments[0].1).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    let errors = decode_errors(&media.url);
    assert!(errors.is_empty(), "ffmpeg decoding fMP4: {errors}");
    let ts_url = server.url("/live/cam5/main/media.ts.m3u8");
    let errors = decode_errors(&ts_url);
    assert!(errors.is_empty(), "ffmpeg decoding TS: {errors}");
    server.stop().await;
}

/// Bytes read until the server closes (bounded); panics if it does not within 5 s.
async fn closed_by_server(mut sock: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 65536];
    let read_to_end = async {
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read_to_end)
        .await
        .expect("the server closes the connection");
}

/// Garbage instead of a handshake, a silent connection, and garbage after a publish: each
/// connection is closed, the rendition released, and the server publishes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_are_closed_and_leave_the_server_serving() {
    use tokio::io::AsyncWriteExt;
    let mut config = ll_config();
    config.limits.header_timeout = 1.0;
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    let mut s = tokio::net::TcpStream::connect(rtmp).await.unwrap();
    s.write_all(&junk).await.unwrap_or(());
    closed_by_server(s).await;
    // Nothing sent at all: closed after limits.header_timeout.
    closed_by_server(tokio::net::TcpStream::connect(rtmp).await.unwrap()).await;

    let mut held = match rtmp_publish(rtmp, "live", "cam6").await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    assert_eq!(publisher_protocol(&server, "cam6").await, "rtmp");
    held.write_all(&junk).await.unwrap_or(());
    closed_by_server(held).await;
    eventually(Duration::from_secs(5), "the rendition released", || async {
        feed_json(&server, "cam6")
            .await
            .is_none_or(|v| v["renditions"][0]["publisher"].is_null())
            .then_some(())
    })
    .await;

    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    match rtmp_publish(rtmp, "live", "cam6").await {
        Attempt::Publishing(_) => {}
        Attempt::Closed(got) => panic!("refused after the junk: {got}"),
    }
    server.stop().await;
}
