//! Recording retention (`record.max_gb`, `record.retention_hours`) and the free-space guard,
//! over real sockets: what is trimmed is gone from disk and from the /vod playlists, what is
//! kept still plays; a full disk pauses the recording, never the live feed.

mod common;

use common::record::{record_config, token_of};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn retention_config(dir: &Path, max_gb: f64, retention_hours: f64) -> Config {
    let mut c = record_config(dir);
    if let Some(r) = c.record.as_mut() {
        r.max_gb = max_gb;
        r.retention_hours = retention_hours;
    }
    c
}

/// Segment files under `dir`, at any depth.
fn ts_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(ts_files(&p));
        } else if p.extension().is_some_and(|x| x == "ts") {
            out.push(p);
        }
    }
    out
}

/// The recordings API's entry for `session`, if listed.
async fn listed(server: &TestServer, feed: &str, session: &str) -> Option<serde_json::Value> {
    let r = get(&server.url(&format!("/api/feeds/{feed}/recordings"))).await;
    let v: serde_json::Value = serde_json::from_str(&r.text()).ok()?;
    v["recordings"]
        .as_array()?
        .iter()
        .find(|r| r["session"] == session)
        .cloned()
}

/// A size limit of about three segments: the oldest are trimmed as the session records, its
/// files are gone, the /vod playlist starts at the first kept segment (MEDIA-SEQUENCE moved
/// on), the kept files are the live bytes, the counters add up, and ffmpeg plays what is
/// left without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn size_retention_trims_the_oldest_segments_first() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    // The fixture is 8 s of 1 s segments: 3/8 of it is about three segments.
    let limit = data.len() as u64 * 3 / 8;
    let server = TestServer::start(retention_config(tmp.path(), limit as f64 / 1e9, 168.0)).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("cap").paced(&data, 4.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "cap", Duration::from_secs(10)).await;
    let live_segments = fetch_segments(&live).await;
    let all = live.segments();
    let token = token_of(&all[0].1);
    let rdir = tmp.path().join("cap").join(&token).join("main");

    let rec = eventually(Duration::from_secs(10), "the ended recording", || {
        let server = &server;
        let token = token.clone();
        async move {
            listed(server, "cap", &token)
                .await
                .filter(|r| r["end_ms"].is_i64())
        }
    })
    .await;
    let kept_bytes = rec["bytes"].as_u64().unwrap();
    assert!(kept_bytes <= limit, "{rec} over {limit}");

    let url = server.url(&format!("/vod/cap/{token}/main/media.m3u8"));
    let vod = fetch_media(&url).await;
    let kept: Vec<u64> = vod.segments().iter().map(|s| s.0).collect();
    assert!(!kept.is_empty() && kept.len() < all.len(), "{}", vod.raw);
    // Oldest first: what is kept is the end of what was served.
    let suffix: Vec<u64> = all[all.len() - kept.len()..].iter().map(|s| s.0).collect();
    assert_eq!(kept, suffix, "{}", vod.raw);
    assert_eq!(vod.pl.media_sequence, kept[0], "{}", vod.raw);
    assert!(vod.pl.media_sequence > all[0].0);
    assert!(vod.endlist());
    let trimmed = all.len() - kept.len();
    for ((msn, _, _), bytes) in all.iter().zip(&live_segments) {
        let f = rdir.join(format!("seg-{token}-{msn}.ts"));
        if kept.contains(msn) {
            assert_eq!(&std::fs::read(&f).unwrap()[..], &bytes[..], "{msn}");
        } else {
            assert!(!f.exists(), "{} kept", f.display());
        }
    }
    assert_eq!(ts_files(tmp.path()).len(), kept.len());
    let trimmed_bytes: usize = live_segments[..trimmed].iter().map(|b| b.len()).sum();
    assert_eq!(
        metric(
            &scrape(&server).await,
            "hlsd_record_trimmed_segments_total",
            &[]
        ),
        trimmed as f64
    );
    assert_eq!(
        metric(
            &scrape(&server).await,
            "hlsd_record_trimmed_bytes_total",
            &[]
        ),
        trimmed_bytes as f64
    );
    let kept_live: usize = live_segments[trimmed..].iter().map(|b| b.len()).sum();
    assert_eq!(kept_bytes, kept_live as u64);
    let errors = decode_errors_async(&url).await;
    assert!(errors.is_empty(), "{errors}");
    server.stop().await;
}

/// A retention of 2.5 s: a session loses its old segments while it records; once it has
/// ended and nothing in it is young enough, it leaves the recordings list and the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn age_retention_trims_while_recording_and_removes_an_emptied_session() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(retention_config(tmp.path(), 0.0, 2.5 / 3600.0)).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("age").paced(&data, 8.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "age", Duration::from_secs(10)).await;
    let all = live.segments();
    let first = token_of(&all[0].1);
    eventually(Duration::from_secs(10), "the ended recording", || {
        let server = &server;
        let first = first.clone();
        async move {
            listed(server, "age", &first)
                .await
                .filter(|r| r["end_ms"].is_i64())
        }
    })
    .await;
    let url = server.url(&format!("/vod/age/{first}/main/media.m3u8"));
    let vod = fetch_media(&url).await;
    let kept = vod.segments();
    assert!(!kept.is_empty() && kept.len() < all.len(), "{}", vod.raw);
    assert!(kept.len() <= 5, "2.5 s of 1 s segments:\n{}", vod.raw);
    assert_eq!(vod.pl.media_sequence, kept[0].0);
    assert!(vod.pl.media_sequence > all[0].0);
    let errors = decode_errors_async(&url).await;
    assert!(errors.is_empty(), "{errors}");

    // A new session: its segments prompt retention, which empties and removes the first.
    let res = push(
        server.addr,
        data.clone(),
        Push::new("age").paced(&data, 8.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let dir = tmp.path().join("age").join(&first);
    eventually(Duration::from_secs(15), "the first session removed", || {
        let server = &server;
        let first = first.clone();
        let gone = !dir.exists();
        async move { (gone && listed(server, "age", &first).await.is_none()).then_some(()) }
    })
    .await;
    assert_eq!(get(&url).await.status, 404);
    assert!(
        metric(
            &scrape(&server).await,
            "hlsd_record_trimmed_segments_total",
            &[]
        ) >= all.len() as f64
    );
    server.stop().await;
}

/// A free-space threshold above the disk's free space (the real statvfs check): recording
/// pauses, no segment file is written, the live playlist goes on, the gauge is 1 and the
/// segments are counted lost as disk_full and listed as gaps; lowered again, recording
/// resumes with files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn too_little_free_space_pauses_the_recording_not_the_live_feed() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let c = retention_config(tmp.path(), 0.0, 168.0);
    let threshold = c.record.as_ref().unwrap().min_free.clone();
    threshold.set(u64::MAX);
    let server = TestServer::start(c).await;
    let publisher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("full").paced(&data, 10.0),
    );
    let url = server.media_url("full");
    let m = wait_media(&url, Duration::from_secs(10), "three live segments", |m| {
        m.pl.segments.len() >= 3
    })
    .await;
    let token = token_of(&m.segments()[0].1);
    assert_eq!(
        metric(&scrape(&server).await, "hlsd_record_paused", &[]),
        1.0
    );
    assert!(
        ts_files(tmp.path()).is_empty(),
        "{:?}",
        ts_files(tmp.path())
    );
    let lost = metric(
        &scrape(&server).await,
        "hlsd_record_lost_segments_total",
        &[("reason", "disk_full")],
    );
    assert!(lost >= 2.0, "{lost}");

    threshold.set(0);
    let res = publisher.await.unwrap();
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "full", Duration::from_secs(10)).await;
    let all = live.segments();
    eventually(Duration::from_secs(10), "the ended recording", || {
        let server = &server;
        let token = token.clone();
        async move {
            listed(server, "full", &token)
                .await
                .filter(|r| r["end_ms"].is_i64())
        }
    })
    .await;
    assert_eq!(
        metric(&scrape(&server).await, "hlsd_record_paused", &[]),
        0.0
    );
    let lost = metric(
        &scrape(&server).await,
        "hlsd_record_lost_segments_total",
        &[("reason", "disk_full")],
    );
    let vod = fetch_media(&server.url(&format!("/vod/full/{token}/main/media.m3u8"))).await;
    // Every segment listed: the paused ones as gaps, the rest with their files.
    assert_eq!(vod.segments().len(), all.len(), "{}", vod.raw);
    assert_eq!(
        vod.raw.matches("#EXT-X-GAP").count() as f64,
        lost,
        "{}",
        vod.raw
    );
    let files = ts_files(tmp.path()).len();
    assert!(files >= 1, "recording resumed");
    assert_eq!(files + lost as usize, all.len());
    server.stop().await;
}

/// A DVR playlist (60 s, longer than the media) over a recording that size retention trims:
/// its prefix follows the recording's head instead of listing the trimmed segments back to
/// the first, at once (also after the feed's last segment), and every segment it lists is
/// served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn the_dvr_prefix_follows_the_trimmed_recording() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    // 5 of the 8 one-second segments kept: 2 before the window of 3.
    let limit = data.len() as u64 * 5 / 8;
    let mut c = retention_config(tmp.path(), limit as f64 / 1e9, 168.0);
    c.hls.window = 3;
    c.hls.part_duration = 0.25;
    c.hls.dvr_window = 60.0;
    let server = TestServer::start(c).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("dvr").paced(&data, 4.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "dvr", Duration::from_secs(10)).await;
    let listed = live.segments();
    let token = token_of(&listed[0].1);
    let index_path = tmp.path().join("dvr").join(&token).join("index");
    let records = eventually(Duration::from_secs(10), "the ended index", || {
        let bytes = std::fs::read(&index_path).ok();
        async move {
            let records = hlsd::record::index::read(&bytes?).records;
            matches!(
                records.last(),
                Some(hlsd::record::index::Record::End { .. })
            )
            .then_some(records)
        }
    })
    .await;
    let first_recorded = records
        .iter()
        .find_map(|r| match r {
            hlsd::record::index::Record::Segment(s) => Some(s.msn),
            _ => None,
        })
        .unwrap();
    let vod = fetch_media(&server.url(&format!("/vod/dvr/{token}/main/media.m3u8"))).await;
    let vod_first = vod.pl.media_sequence;
    assert!(vod_first > first_recorded, "{}", vod.raw);
    // Without retention the 60 s prefix would start at the first segment recorded.
    assert!(
        listed[0].0 > first_recorded,
        "the DVR lists trimmed segments:\n{}",
        live.raw
    );
    assert!(listed.len() > 3, "a DVR prefix:\n{}", live.raw);
    for (msn, url, _) in listed.iter().filter(|s| s.0 >= vod_first) {
        assert_eq!(get(url).await.status, 200, "{msn} {url}");
    }
    // The last segments' retention runs came after the feed's last segment: what they
    // trimmed left the live playlist at once, not at a next segment (none comes).
    let url = server.media_url("dvr");
    let now = eventually(
        Duration::from_secs(5),
        "the DVR playlist at the recording's head",
        || async {
            let m = fetch_media(&url).await;
            (m.pl.media_sequence >= vod_first).then_some(m)
        },
    )
    .await;
    assert!(now.pl.segments.len() > 3, "a DVR prefix:\n{}", now.raw);
    for (msn, url, _) in now.segments() {
        assert_eq!(get(&url).await.status, 200, "{msn} {url}");
    }
    server.stop().await;
}
