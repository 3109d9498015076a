//! `limits.max_ingest_speed` and `limits.max_ingest_bitrate` with real sockets and
//! synthetic TS (no ffmpeg): an unpaced publisher is slowed down, never refused, and loses
//! nothing; a timestamp jump does not stall it; a rendition over the bitrate limit is ended
//! with 413, logged and counted. Wall-clock assertions are loose lower bounds on hlsd's
//! deliberate pauses, never on its speed.

mod common;

use bytes::Bytes;
use common::*;
use hlsd::synth::Synth;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// 5 fps video with a keyframe every second, ~1.5 KB a second: a few KB carry seconds of
/// media.
fn slow_video(seconds: usize, jumps: Vec<(usize, i64)>) -> Bytes {
    Bytes::from(
        Synth {
            frame_ticks: Some(18_000.0),
            gop: 5,
            frame_bytes: 100,
            audio: false,
            jumps,
            ..Synth::default()
        }
        .build(5 * seconds),
    )
}

/// 25 fps video with audio, ~4 Mbit/s.
fn heavy_video(seconds: usize) -> Bytes {
    Bytes::from(
        Synth {
            frame_bytes: 16_000,
            ..Synth::default()
        }
        .build(25 * seconds),
    )
}

fn paced_config(speed: f64) -> Config {
    let mut c = config();
    // A burst of 2 s of media (window x segment duration).
    c.hls.window = 2;
    c.hls.segment_duration = 1.0;
    c.feeds.idle_timeout = 1.0;
    c.limits.max_ingest_speed = speed;
    c
}

/// Downloads every segment of the media playlist at `url` as it is published, until the
/// playlist ends.
async fn collect_segments(url: String, within: Duration) -> Vec<Bytes> {
    let mut got: BTreeMap<u64, Bytes> = BTreeMap::new();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < within,
            "{url} did not end within {within:?}"
        );
        if let Some(m) = try_media(&url).await {
            let listed = m.segments();
            // Segments that left the playlist before a poll saw them are still served for a
            // while (retention): their URIs differ only by the MSN.
            if let Some((first, first_url, _)) = listed.first() {
                let suffix = format!("-{first}.ts");
                let stem = first_url
                    .strip_suffix(&suffix)
                    .expect("seg-{token}-{msn}.ts");
                for msn in 1..*first {
                    if let std::collections::btree_map::Entry::Vacant(e) = got.entry(msn) {
                        let r = get(&format!("{stem}-{msn}.ts")).await;
                        assert_eq!(r.status, 200, "retired segment {msn}");
                        e.insert(r.body);
                    }
                }
            }
            for (msn, seg_url, _) in listed {
                if let std::collections::btree_map::Entry::Vacant(e) = got.entry(msn) {
                    let r = get(&seg_url).await;
                    assert_eq!(r.status, 200, "segment {msn}");
                    e.insert(r.body);
                }
            }
            if m.endlist() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let msns: Vec<u64> = got.keys().copied().collect();
    assert_eq!(
        msns,
        (1..=msns.len() as u64).collect::<Vec<_>>(),
        "a segment was missed"
    );
    got.into_values().collect()
}

/// `hlsd_ingest_refused_total{reason="..."}` in a Prometheus text exposition.
fn refused(text: &str, reason: &str) -> Option<f64> {
    let name = format!("hlsd_ingest_refused_total{{reason=\"{reason}\"}}");
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaced_push_is_read_at_speed_after_one_window_and_loses_nothing() {
    let server = TestServer::start(paced_config(2.0)).await;
    let seconds = 12;
    let data = slow_video(seconds, Vec::new());
    // Chunks of ~3 s of media: each pause is longer than the 1 s idle timeout.
    let chunk = data.len() / seconds * 3;
    let collector = tokio::spawn(collect_segments(
        server.media_url("paced"),
        Duration::from_secs(60),
    ));
    let started = Instant::now();
    let pushed = push(server.addr, data.clone(), Push::new("paced").chunk(chunk)).await;
    let took = started.elapsed();
    // Not refused, not timed out as idle: everything read.
    assert_eq!(pushed.status, Some(200), "{}", pushed.head);
    assert_eq!(pushed.sent, data.len());
    // 12 s of media, 2 s of burst, the rest at 2 x real time: 5 s.
    let paced = (seconds as f64 - 2.0) / 2.0;
    assert!(
        took.as_secs_f64() >= 0.6 * paced,
        "an unpaced push of {seconds} s of media at max_ingest_speed = 2 took {took:?}"
    );
    let segments = collector.await.unwrap();
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "paced push",
    );
    let feed = get(&server.url("/api/feeds/paced")).await.text();
    let v: serde_json::Value = serde_json::from_str(&feed).unwrap();
    assert_eq!(
        v["renditions"][0]["bytes_in"].as_u64(),
        Some(data.len() as u64)
    );
    eprintln!("paced push of {seconds} s of media took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_jump_starts_a_new_reference_instead_of_a_stall() {
    let server = TestServer::start(paced_config(2.0)).await;
    // 4 s of media, then ten minutes forwards (at a keyframe), then 4 s more.
    let data = slow_video(8, vec![(20, 600 * 90_000)]);
    let started = Instant::now();
    let pushed = tokio::time::timeout(
        Duration::from_secs(60),
        push(server.addr, data.clone(), Push::new("jump")),
    )
    .await
    .expect("a forward jump of 600 s stalled the push (media time across it was counted)");
    let took = started.elapsed();
    assert_eq!(pushed.status, Some(200), "{}", pushed.head);
    // Still paced on either side of the jump: 8 s of media, 2 s of burst, at 2 x.
    assert!(
        took.as_secs_f64() >= 0.6 * 3.0,
        "8 s of media at max_ingest_speed = 2 took {took:?}"
    );
    let m = wait_endlist(&server, "jump", Duration::from_secs(10)).await;
    // One discontinuity, listed or already out of the two-segment window.
    assert_eq!(
        m.pl.discontinuity_sequence + m.discontinuities() as u64,
        1,
        "{}",
        m.raw
    );
    eprintln!("push with a 600 s jump took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendition_over_max_ingest_bitrate_is_ended_with_413() {
    let seconds = 30;
    let data = heavy_video(seconds);
    let bps = data.len() as f64 * 8.0 / seconds as f64;
    let mut c = config();
    c.limits.max_ingest_bitrate = (bps / 2.0) as u64;
    let server = TestServer::start(c).await;
    let text = get(&server.url("/metrics")).await.text();
    assert_eq!(refused(&text, "bitrate"), Some(0.0), "{text}");
    let pushed = push(server.addr, data, Push::new("heavy")).await;
    assert_eq!(pushed.status, Some(413), "{}", pushed.head);
    let text = get(&server.url("/metrics")).await.text();
    assert_eq!(refused(&text, "bitrate"), Some(1.0), "{text}");
    // The API says why; what came before the verdict (about 10 s of media) is served.
    let feed = get(&server.url("/api/feeds/heavy")).await.text();
    assert!(feed.contains("max_ingest_bitrate"), "{feed}");
    let v: serde_json::Value = serde_json::from_str(&feed).unwrap();
    let segments = v["renditions"][0]["segments"].as_u64().unwrap();
    assert!((9..=13).contains(&segments), "{segments} segments: {feed}");
    let m = fetch_media(&server.media_url("heavy")).await;
    assert!(m.total_duration() >= 9.0, "{}", m.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendition_under_max_ingest_bitrate_passes() {
    let seconds = 15;
    let data = heavy_video(seconds);
    let bps = data.len() as f64 * 8.0 / seconds as f64;
    let mut c = config();
    c.limits.max_ingest_bitrate = (bps * 1.2) as u64;
    let server = TestServer::start(c).await;
    let pushed = push(server.addr, data.clone(), Push::new("light")).await;
    assert_eq!(pushed.status, Some(200), "{}", pushed.head);
    assert_eq!(pushed.sent, data.len());
    let text = get(&server.url("/metrics")).await.text();
    assert_eq!(refused(&text, "bitrate"), Some(0.0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hlsd_push_fast_is_slowed_down_not_refused() {
    use hlsd::demo::CLIP;
    use hlsd::push::{LoopRewriter, Outcome, PushOptions, Target, push};
    let server = TestServer::start(paced_config(2.0)).await;
    let mut rw = LoopRewriter::new(CLIP).unwrap();
    let target = Target::parse(&server.url("/ingest/fast")).unwrap();
    let opts = PushOptions {
        looped: false,
        fast: true,
        chunk: 7 * 188,
        exact: false,
    };
    let started = Instant::now();
    let out = push(&mut rw, &target, &opts, std::future::pending())
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        out,
        Outcome::Done {
            status: 200,
            passes: 1,
            bytes: CLIP.len() as u64
        }
    );
    // The clip lasts 8 s: 2 s of burst, 6 s at 2 x real time.
    assert!(
        took.as_secs_f64() >= 0.6 * 3.0,
        "hlsd push --fast of the 8 s clip at max_ingest_speed = 2 took {took:?}"
    );
    eprintln!("hlsd push --fast of the 8 s clip took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_feed_is_exempt() {
    let mut c = paced_config(1.0);
    c.limits.max_ingest_bitrate = 1_000;
    c.demo.enabled = true;
    let server = TestServer::start(c).await;
    // The demo publishes in real time; any other publish would be ended after 10 s of media
    // at 1 kbit/s. 13 segments of 1 s = more than 10 s of media taken on.
    let url = server.url("/api/feeds/demo");
    let feed = eventually(Duration::from_secs(30), "13 demo segments", || async {
        let r = get(&url).await;
        let v: serde_json::Value = serde_json::from_str(&r.text()).ok()?;
        (v["renditions"][0]["segments"].as_u64()? >= 13).then_some(v)
    })
    .await;
    assert_eq!(feed["state"], "live", "{feed}");
    assert!(!feed.to_string().contains("max_ingest_bitrate"), "{feed}");
    let text = get(&server.url("/metrics")).await.text();
    assert_eq!(refused(&text, "bitrate"), Some(0.0), "{text}");
}
