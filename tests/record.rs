//! Recording (`[record]`): every segment a feed serves is written to disk as served, in a
//! session that survives publisher changes within the grace, off the ingest path.

mod common;

use common::*;
use hlsd::record::index::{self, Record, SegmentEntry};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn record_config(dir: &Path) -> Config {
    let mut c = config();
    c.record = Some(hlsd::config::RecordConfig {
        dir: dir.to_path_buf(),
        ..Default::default()
    });
    c
}

/// The token of a live segment URI (`.../seg-{token}-{msn}.ts`).
fn token_of(uri: &str) -> String {
    let name = uri.rsplit('/').next().unwrap();
    name.strip_prefix("seg-")
        .and_then(|r| r.split('-').next())
        .unwrap_or_else(|| panic!("not a segment URI: {uri}"))
        .to_string()
}

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

async fn scrape(server: &TestServer) -> prometheus_parse::Scrape {
    let text = get(&server.url("/metrics")).await.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => *v,
            _ => f64::NAN,
        })
        .sum()
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
    server.stop().await;
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
