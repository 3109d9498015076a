//! Recording (`[record]`): every segment a feed serves is written to disk as served, in a
//! session that survives publisher changes within the grace, off the ingest path.

mod common;

use common::record::{record_config, token_of};
use common::*;
use hlsd::record::index::{self, Record, SegmentEntry};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The records of a session's index, once it holds an `End`.
async fn ended_index(dir: &Path) -> Vec<Record> {
    eventually(Duration::from_secs(10), "the session's End record", || {
        let path = dir.join(index::INDEX_FILE);
        async move {
            let bytes = std::fs::read(&path).ok()?;
            let records = index::read(&bytes).records;
            matches!(records.last(), Some(Record::End { .. })).then_some(records)
        }
    })
    .await
}

fn segments_of(records: &[Record]) -> Vec<SegmentEntry> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Segment(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Publish, leave, come back within the grace, finish: one session on disk whose files are
/// the bytes the live feed served, with the discontinuity where the publisher came back,
/// ended once the feed ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_session_is_recorded_as_served_across_a_reconnect() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = record_config(tmp.path());
    c.feeds.reconnect_grace = 3.0;
    let server = TestServer::start(c).await;
    let half = packet_boundary(&data, 0.5);
    // Paced (twice real time): an unpaced push outruns a queue of 8 fsynced segments.
    let first = data.slice(..half);
    let res = push(
        server.addr,
        first.clone(),
        Push::new("rec").paced(&first, 2.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let res = push(
        server.addr,
        data.clone(),
        Push::new("rec").paced(&data, 4.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "rec", Duration::from_secs(10)).await;
    let live_segments = fetch_segments(&live).await;
    let listed = live.segments();
    let token = token_of(&listed[0].1);

    let session = tmp.path().join("rec").join(&token);
    let records = ended_index(&session).await;
    assert!(
        matches!(&records[0], Record::Start { feed, .. } if feed == "rec"),
        "{records:?}"
    );
    let recorded = segments_of(&records);
    assert_eq!(
        recorded.iter().map(|s| s.msn).collect::<Vec<_>>(),
        listed.iter().map(|s| s.0).collect::<Vec<_>>(),
        "the recording lists what the live playlist listed"
    );
    let disc: Vec<bool> = live.pl.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(
        recorded.iter().map(|s| s.discontinuity).collect::<Vec<_>>(),
        disc
    );
    assert_eq!(disc.iter().filter(|d| **d).count(), 1, "{}", live.raw);
    for ((seg, live_bytes), (_, _, extinf)) in recorded.iter().zip(&live_segments).zip(&listed) {
        assert!(!seg.gap);
        let file = session
            .join("main")
            .join(format!("seg-{token}-{}.ts", seg.msn));
        let on_disk = std::fs::read(&file).unwrap();
        assert_eq!(&on_disk[..], &live_bytes[..], "{} differs", file.display());
        assert_eq!(seg.bytes, on_disk.len() as u64);
        assert!((seg.secs() - extinf).abs() < 0.001, "{seg:?} vs {extinf}");
    }
    let m = scrape(&server).await;
    assert_eq!(
        metric(&m, "hlsd_record_segments_total", &[]),
        recorded.len() as f64
    );
    let bytes: usize = live_segments.iter().map(|b| b.len()).sum();
    assert_eq!(metric(&m, "hlsd_record_bytes_total", &[]), bytes as f64);
    assert_eq!(metric(&m, "hlsd_record_lost_segments_total", &[]), 0.0);

    // The session as VOD.
    let vod = check_vod(server.addr, "rec", &token, live_segments.len()).await;
    assert_eq!(
        vod.pl.segments.iter().filter(|s| s.discontinuity).count(),
        1
    );
    let disc_at = vod.pl.segments.iter().position(|s| s.discontinuity);
    assert_eq!(disc_at, disc.iter().position(|d| *d), "{}", vod.raw);
    for (i, b) in fetch_segments(&vod).await.iter().enumerate() {
        assert_eq!(&b[..], &live_segments[i][..], "VOD segment {i}");
    }
    // The whole session through ffmpeg: both pushes' media, durations equal the input's.
    let out = tmp.path().join("out.ts");
    let index_url = server.url(&format!("/vod/rec/{token}/index.m3u8"));
    let st = tool("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-y", "-i", &index_url, "-c", "copy", "-f", "mpegts",
        ])
        .arg(&out)
        .status()
        .await
        .unwrap();
    assert!(st.success());
    let got = probe_duration(&std::fs::read(&out).unwrap()).await;
    let want = probe_duration(&data.slice(..half)).await + probe_duration(&data).await;
    assert!((got - want).abs() < 0.25, "VOD {got} s, pushed {want} s");
    server.stop().await;
}

/// A recorded session as a player sees it: listed by the API, its multivariant and media
/// playlists parse, VOD with ENDLIST, a date on every segment; returns the media playlist.
async fn check_vod(addr: std::net::SocketAddr, feed: &str, token: &str, segments: usize) -> Media {
    let api = get(&format!("http://{addr}/api/feeds/{feed}/recordings")).await;
    assert_eq!(api.status, 200);
    let v: serde_json::Value = serde_json::from_str(&api.text()).unwrap();
    let rec = v["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session"] == token)
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert!(rec["end_ms"].as_i64().is_some(), "{rec}");
    assert_eq!(rec["renditions"], serde_json::json!(["main"]));
    assert_eq!(rec["url"], format!("/vod/{feed}/{token}/index.m3u8"));
    let index = get(&format!("http://{addr}/vod/{feed}/{token}/index.m3u8")).await;
    assert_eq!(index.status, 200);
    assert_eq!(index.header("access-control-allow-origin"), Some("*"));
    match m3u8_rs::parse_playlist_res(&index.body) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => {
            assert_eq!(m.variants.len(), 1);
            assert_eq!(m.variants[0].uri, "main/media.m3u8");
        }
        other => panic!("not a multivariant playlist: {other:?}"),
    }
    let url = format!("http://{addr}/vod/{feed}/{token}/main/media.m3u8");
    let r = get(&url).await;
    assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
    let m = fetch_media(&url).await;
    assert!(m.endlist(), "{}", m.raw);
    assert_eq!(
        m.pl.playlist_type,
        Some(m3u8_rs::MediaPlaylistType::Vod),
        "{}",
        m.raw
    );
    assert_eq!(m.pl.segments.len(), segments, "{}", m.raw);
    assert!(m.pl.segments.iter().all(|s| s.program_date_time.is_some()));
    assert!(rec["duration_s"].as_f64().unwrap() > 0.0);
    m
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(st.success());
}

/// A disk that stops answering: a segment file's path is a FIFO nobody reads, so the
/// recorder blocks opening it, as on a hung disk. With a queue of 2 segments, the live feed
/// goes on untouched (every packet served, ENDLIST in time) while the recording loses the
/// segments that found the queue full; once the disk answers again, what was queued is
/// written, and every lost segment is counted and listed as a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and mkfifo"]
async fn a_stuck_disk_loses_segments_from_the_recording_not_from_the_live_feed() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = record_config(tmp.path());
    if let Some(r) = c.record.as_mut() {
        r.queue_segments = 2;
    }
    let server = TestServer::start(c).await;
    // 2 s of wall time per 1 s segment: time to learn the token and lay the trap.
    let publisher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("stuck").paced(&data, 16.0),
    );
    let url = server.media_url("stuck");
    let first = wait_media(&url, Duration::from_secs(10), "a first segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;
    let token = token_of(&first.segments()[0].1);
    let rdir: PathBuf = tmp.path().join("stuck").join(&token).join("main");
    eventually(Duration::from_secs(5), "the rendition directory", || {
        let ok = rdir.is_dir();
        async move { ok.then_some(()) }
    })
    .await;
    let trap = rdir.join(format!("seg-{token}-3.ts"));
    assert!(
        first.last_msn() < Some(3),
        "segment 3 was frozen already:\n{}",
        first.raw
    );
    mkfifo(&trap);

    let res = publisher.await.unwrap();
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "stuck", Duration::from_secs(10)).await;
    check_media_rules(&live);
    let live_segments = fetch_segments(&live).await;
    assert_same_packets(
        &segment_packets(&live_segments),
        &expected_packets(&data),
        "live feed while its recording was stuck",
    );
    let m = scrape(&server).await;
    let full = metric(
        &m,
        "hlsd_record_lost_segments_total",
        &[("reason", "queue_full")],
    );
    assert!(full >= 1.0, "no segment found the queue full");
    // Still recording (segment 3 is stuck): an EVENT playlist, no ENDLIST, short max-age.
    let vod_url = server.url(&format!("/vod/stuck/{token}/main/media.m3u8"));
    let r = get(&vod_url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=1"));
    let event = parse_media(&r.text());
    assert_eq!(event.playlist_type, Some(m3u8_rs::MediaPlaylistType::Event));
    assert!(!has_endlist(&r.text()));
    assert_eq!(event.segments.len(), 2, "{}", r.text());

    // The disk answers again: the stuck write ends (a FIFO cannot be fsynced: that segment
    // is lost too, as a write error), the queued ones are written.
    let reader = tokio::task::spawn_blocking(move || std::fs::read(&trap).map(|b| b.len()));
    assert!(reader.await.unwrap().unwrap() > 0);
    let records = ended_index(&tmp.path().join("stuck").join(&token)).await;
    let recorded = segments_of(&records);
    assert_eq!(
        recorded.iter().map(|s| s.msn).collect::<Vec<_>>(),
        live.segments().iter().map(|s| s.0).collect::<Vec<_>>(),
        "every live segment is listed, lost ones as gaps"
    );
    let gaps: Vec<u64> = recorded.iter().filter(|s| s.gap).map(|s| s.msn).collect();
    let m = scrape(&server).await;
    let errors = metric(
        &m,
        "hlsd_record_lost_segments_total",
        &[("reason", "write_error")],
    );
    assert_eq!(errors, 1.0);
    assert_eq!(gaps.len() as f64, full + errors, "gaps {gaps:?}");
    assert_eq!(gaps[0], 3);
    // Segments 4 and 5 waited in the queue and were written.
    for s in recorded.iter().filter(|s| !s.gap) {
        let file = tmp
            .path()
            .join("stuck")
            .join(&token)
            .join("main")
            .join(format!("seg-{token}-{}.ts", s.msn));
        assert_eq!(std::fs::metadata(file).unwrap().len(), s.bytes);
    }
    assert!(
        recorded.iter().any(|s| s.msn == 4 && !s.gap),
        "{recorded:?}"
    );
    assert_eq!(
        metric(&m, "hlsd_record_segments_total", &[]),
        (recorded.len() - gaps.len()) as f64
    );
    server.stop().await;
}

/// `kill -9` mid-session, then a start on the same directory: the session is listed,
/// ended after its last indexed segment, and plays; the feed's numbering goes on after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_killed_server_keeps_what_it_indexed() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let rec_dir = tmp.path().join("rec");
    let mut text = config_toml(&config());
    text.push_str(&format!(
        "\n[record]\ndir = {:?}\n",
        rec_dir.display().to_string()
    ));
    let file = tmp.path().join("hlsd.toml");
    std::fs::write(&file, text).unwrap();

    let (mut child, addr) = spawn_binary(&file).await;
    let publisher = spawn_push(addr, data.clone(), Push::new("k").paced(&data, 8.0));
    let url = format!("http://{addr}/live/k/main/media.m3u8");
    let first = wait_media(&url, Duration::from_secs(10), "a segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;
    let token = token_of(&first.segments()[0].1);
    let index_path = rec_dir.join("k").join(&token).join(index::INDEX_FILE);
    eventually(Duration::from_secs(10), "3 indexed segments", || {
        let n = std::fs::read(&index_path)
            .map(|b| segments_of(&index::read(&b).records).len())
            .unwrap_or(0);
        async move { (n >= 3).then_some(()) }
    })
    .await;
    child.kill().await.unwrap();
    let _ = publisher.await;
    let indexed = segments_of(&index::read(&std::fs::read(&index_path).unwrap()).records);
    assert!(!indexed.is_empty());

    let (mut child, addr) = spawn_binary(&file).await;
    let m = check_vod(addr, "k", &token, indexed.len()).await;
    let played = ffmpeg_play(
        &format!("http://{addr}/vod/k/{token}/index.m3u8"),
        Duration::from_secs(30),
    )
    .await;
    assert!(played.success, "{played:?}");
    let last = m.last_msn().unwrap();
    assert_eq!(last, indexed.last().unwrap().msn);
    // A new session of the feed continues the numbering.
    let short = data.slice(..packet_boundary(&data, 0.4));
    let res = push(addr, short, Push::new("k")).await;
    assert_eq!(res.status, Some(200));
    let live = fetch_media(&url_of(addr)).await;
    assert_eq!(live.pl.media_sequence, last + 1, "{}", live.raw);
    child.kill().await.unwrap();
}

fn url_of(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}/live/k/main/media.m3u8")
}

/// With a playback secret, /vod needs a signed path like /live; DELETE needs the admin
/// token and removes the session from the list and the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn vod_is_signed_and_recordings_are_deleted_by_the_admin() {
    let data = fixture(Fixture::Short);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = record_config(tmp.path());
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some("s3cret".into()),
        ..Default::default()
    });
    c.admin.token = Some("adm".into());
    let signer = hlsd::http::signed::Signer::new("s3cret");
    let server = TestServer::start(c).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("sig").paced(&data, 1.5),
    )
    .await;
    assert_eq!(res.status, Some(200));
    let list_url = server.url("/api/feeds/sig/recordings");
    let session = eventually(Duration::from_secs(10), "an ended recording", || {
        let u = list_url.clone();
        async move {
            let v: serde_json::Value = serde_json::from_str(&get(&u).await.text()).ok()?;
            let r = v["recordings"].get(0)?;
            r["end_ms"].as_i64()?;
            Some(r["session"].as_str()?.to_string())
        }
    })
    .await;
    let path = format!("/vod/sig/{session}/index.m3u8");
    assert_eq!(get(&server.url(&path)).await.status, 401);
    let signed = signer.path("sig", 4_000_000_000).unwrap();
    let prefix = signed.split("/live/").next().unwrap();
    let r = get(&server.url(&format!("{prefix}{path}"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let media = get(&server.url(&format!("{prefix}/vod/sig/{session}/main/media.m3u8"))).await;
    let m = parse_media(&media.text());
    let seg = &m.segments[0].uri;
    let r = get(&server.url(&format!("{prefix}/vod/sig/{session}/main/{seg}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp2t"));
    // Not a listed file name: 404, whatever the path holds.
    let r = get(&server.url(&format!("{prefix}/vod/sig/{session}/main/..%2Findex"))).await;
    assert_eq!(r.status, 404);

    let del = server.url(&format!("/api/feeds/sig/recordings/{session}"));
    assert_eq!(request("DELETE", &del, &[]).await.status, 401);
    assert_eq!(
        request("DELETE", &del, &[("authorization", "Bearer no")])
            .await
            .status,
        403
    );
    assert_eq!(
        request("DELETE", &del, &[("authorization", "Bearer adm")])
            .await
            .status,
        204
    );
    assert!(!tmp.path().join("sig").join(&session).exists());
    let r = get(&server.url(&format!("{prefix}{path}"))).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        get(&server.url("/api/feeds/nope/recordings")).await.status,
        404
    );
    server.stop().await;
}
