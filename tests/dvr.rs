//! DVR (`hls.dvr_window`): a live media playlist that reaches back beyond its window, the
//! segments that left it served from the recording under their live URIs.

mod common;

use bytes::Bytes;
use common::record::dvr_config;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// 60 s of 320x240 H.264 at 25 fps (GOP 1 s, B-frames) with AAC, as two clips of 40 s and
/// 20 s whose timestamps follow on after 0.2 s (a publisher reconnecting; without the
/// pause, the encoder's last and first frames of the two clips share a decode time at
/// ffmpeg's frame rate); made once and cached.
fn clips() -> (Bytes, Bytes) {
    static CLIPS: std::sync::OnceLock<(Bytes, Bytes)> = std::sync::OnceLock::new();
    CLIPS
        .get_or_init(|| (offset_clip(40, "0"), offset_clip(20, "40.2")))
        .clone()
}

/// Whether a playlist text has EXT-X-SKIP, and how many segments it skipped.
fn skipped(raw: &str) -> Option<usize> {
    raw.lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .map(|n| n.parse().expect("a count"))
}

/// Every segment of `m` answers 200 (the recorder has written what left memory).
async fn all_fetchable(m: &Media) -> bool {
    for (_, url, _) in m.segments() {
        if get(&url).await.status != 200 {
            return false;
        }
    }
    true
}

/// 60 s pushed unpaced in two publishes (a reconnect within the grace): the playlist lists
/// the whole minute, most of it from disk; a segment fetched while in the window has the
/// same bytes once it left; `_HLS_skip=YES` skips what CAN-SKIP-UNTIL allows; ffmpeg
/// decodes the whole DVR playlist from its oldest segment without a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_dvr_playlist_reaches_back_a_minute_served_from_the_recording() {
    let (a, b) = clips();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(dvr_config(tmp.path())).await;
    let url = server.media_url("dvr");
    let res = push(server.addr, a, Push::new("dvr")).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    // The last segment listed, fetched while the window holds it.
    let first = fetch_media(&url).await;
    assert!(!first.endlist());
    let (kept_msn, kept_url, _) = first.segments().last().unwrap().clone();
    let live = get(&kept_url).await;
    assert_eq!(live.status, 200);

    let res = push(server.addr, b, Push::new("dvr")).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let m = eventually(
        Duration::from_secs(20),
        "every DVR segment on disk",
        || async {
            let m = fetch_media(&url).await;
            all_fetchable(&m).await.then_some(m)
        },
    )
    .await;
    assert!(!m.endlist(), "still live (reconnecting): {}", m.raw);
    check_media_rules(&m);
    let segments = m.segments();
    let total = m.total_duration();
    assert!((55.0..=60.001).contains(&total), "{total} s:\n{}", m.raw);
    assert!(segments.len() > 50, "{}", m.raw);
    assert!(!m.raw.contains("#EXT-X-GAP"), "{}", m.raw);
    assert!(m.raw.contains("CAN-SKIP-UNTIL="), "{}", m.raw);
    assert_eq!(m.discontinuities(), 1, "the reconnect:\n{}", m.raw);
    let listed = m.pl.segments.len();
    assert!(m.pl.segments.iter().all(|s| s.program_date_time.is_some()));
    // Parts only near the live edge (the last 3 × TD), never in the DVR prefix.
    let first_part = m.raw.find("#EXT-X-PART:").expect("LL-HLS parts");
    assert!(first_part > m.raw.find(&m.pl.segments[listed - 5].uri).unwrap());
    // The kept segment left the window (and memory): it comes from disk, same URI, same
    // bytes, same headers.
    let (_, again_url, _) = segments
        .iter()
        .find(|s| s.0 == kept_msn)
        .expect("still listed")
        .clone();
    assert_eq!(again_url, kept_url);
    assert!(kept_msn < segments[listed - 3].0);
    let disk = get(&kept_url).await;
    assert_eq!(disk.status, 200);
    assert_eq!(
        disk.body, live.body,
        "bytes from disk differ from the live ones"
    );
    assert_eq!(disk.header("content-type"), Some("video/mp2t"));
    assert_eq!(
        disk.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(disk.header("access-control-allow-origin"), Some("*"));
    // The oldest one too, against the recording's file.
    let (oldest_msn, oldest_url, _) = segments[0].clone();
    let name = oldest_url.rsplit('/').next().unwrap().to_string();
    let token = name.split('-').nth(1).unwrap().to_string();
    let file = tmp.path().join("dvr").join(&token).join("main").join(&name);
    assert_eq!(
        &get(&oldest_url).await.body[..],
        &std::fs::read(&file).unwrap()[..]
    );
    // 60 s of media under a 60 s DVR window: the first second or so was trimmed.
    assert!(oldest_msn <= 3, "{oldest_msn}");

    // Delta update: the skipped segments and the ones listed make the full playlist.
    let delta = get(&format!("{url}?_HLS_skip=YES")).await;
    assert_eq!(delta.status, 200);
    let raw = delta.text();
    let n = skipped(&raw).unwrap_or_else(|| panic!("no EXT-X-SKIP:\n{raw}"));
    let tail = raw.split_once("#EXT-X-SKIP").unwrap().1;
    let rest: Vec<&str> = tail.lines().filter(|l| l.starts_with("seg-")).collect();
    assert_eq!(n + rest.len(), listed, "{raw}");
    let full: Vec<&str> = m.raw.lines().filter(|l| l.starts_with("seg-")).collect();
    assert_eq!(&full[n..], &rest[..]);
    assert!(raw.contains("#EXT-X-VERSION:9\n"));
    // The skip boundary is 6 × TD (6 s) from the end: the rest lasts about that long.
    let rest_secs: f64 = extinf_values(tail).iter().sum();
    assert!((5.0..=8.0).contains(&rest_secs), "{rest_secs}");

    // ffmpeg plays the live DVR playlist from its oldest segment, decoding all of it.
    let out = tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error"])
        .args(["-live_start_index", "0", "-i", &url])
        .args(["-progress", "pipe:1", "-f", "null", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "", "ffmpeg printed something");
    let progress = String::from_utf8_lossy(&out.stdout);
    let decoded_us: f64 = progress
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("out_time_us="))
        .find_map(|v| v.parse().ok())
        .expect("ffmpeg's progress");
    let decoded = decoded_us / 1e6;
    eprintln!("DVR playlist {total:.3} s, ffmpeg decoded {decoded:.3} s");
    assert!(decoded > total - 2.0, "decoded {decoded} s of {total} s");
    server.stop().await;
}

/// A disk-backed segment through signed playback: the same URI under the `/s/...` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn disk_backed_segments_are_served_through_signed_playback() {
    let data = fixture(Fixture::Main);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = dvr_config(tmp.path());
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some("dvr-secret".into()),
        ..Default::default()
    });
    let server = TestServer::start(c).await;
    let res = push(server.addr, data, Push::new("cam")).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let signed = hlsd::http::signed::Signer::new("dvr-secret")
        .path_for("cam", 600)
        .unwrap();
    let base = signed.strip_suffix("index.m3u8").unwrap();
    let url = server.url(&format!("{base}main/media.m3u8"));
    let m = eventually(Duration::from_secs(20), "DVR segments on disk", || async {
        let m = fetch_media(&url).await;
        (m.pl.segments.len() > 4 && all_fetchable(&m).await).then_some(m)
    })
    .await;
    let (_, first, _) = m.segments()[0].clone();
    assert!(first.contains("/s/"), "{first}");
    let r = get(&first).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let unsigned = first.replacen(&base[..base.find("/live/").unwrap()], "", 1);
    assert_eq!(get(&unsigned).await.status, 401, "{unsigned}");
    server.stop().await;
}

/// `hls.dvr_window` without `[record]` is refused at start, saying why.
#[tokio::test]
async fn dvr_window_without_record_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hlsd.toml");
    std::fs::write(&path, "[hls]\ndvr_window = 60\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hlsd"))
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hls.dvr_window needs [record]"), "{err}");
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn du(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p: PathBuf = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => n += du(&p),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

/// One hlsd process (the release-like binary) recording a feed pushed unpaced in `rounds`
/// publishes of the 60 s clip with DVR on or off; returns VmRSS (KiB) and recording bytes
/// after each round, once the recording has caught up.
async fn rss_run(dvr: bool, rounds: usize) -> Vec<(u64, u64)> {
    let (a, b) = clips();
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("rec");
    let cfg = tmp.path().join("hlsd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[hls]\nsegment_duration = 1.0\nwindow = 3\npart_duration = 0.25\ndvr_window = {}\n\
             [feeds]\nreconnect_grace = 30.0\n[demo]\nenabled = false\n[record]\ndir = \"{}\"\n",
            if dvr { 3600 } else { 0 },
            rec.display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hlsd"))
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start hlsd");
    let pid = child.id().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stderr.take().unwrap()));
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let addr: std::net::SocketAddr =
        eventually(Duration::from_secs(20), "hlsd listening", || async {
            let l = log.lock().unwrap();
            let at = l.find("listening on http://")? + "listening on http://".len();
            l[at..].split_whitespace().next()?.parse().ok()
        })
        .await;
    let mut out = Vec::new();
    let mut last = 0;
    for round in 0..rounds {
        // The same clip again: a publisher coming back within the grace, its timestamps
        // starting over (a discontinuity in the same session).
        // Paced at 6 × real time: the recorder's queue of 8 fsynced segments (not a file
        // key) keeps up, so the disk grows by every segment.
        for (clip, secs) in [(&a, 40.0), (&b, 20.0)] {
            let p = Push::new("cam").paced(clip, secs / 6.0);
            let res = push(addr, clip.clone(), p).await;
            assert_eq!(res.status, Some(200), "round {round}: {res:?}");
        }
        // Settled: the recording holds every round pushed so far.
        let want = 57.0 * (round + 1) as f64;
        let api = format!("http://{addr}/api/feeds/cam/recordings");
        eventually(
            Duration::from_secs(60),
            "the recording caught up",
            || async {
                let v: serde_json::Value = serde_json::from_slice(&get(&api).await.body).ok()?;
                let s = v["recordings"].as_array()?.last()?["duration_s"].as_f64()?;
                (s >= want).then_some(())
            },
        )
        .await;
        let bytes = du(&rec);
        assert!(bytes > last);
        last = bytes;
        out.push((rss_kib(pid), bytes));
    }
    let _ = child.kill().await;
    out
}

/// Memory stays bounded by the window while the recording (and the DVR playlist) grows:
/// VmRSS of the hlsd process after each minute pushed, DVR off and on; figures printed
/// (BENCHMARKS.md), only a generous bound asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg; starts the hlsd binary"]
async fn rss_stays_flat_while_the_recording_grows() {
    let _ = clips();
    for dvr in [false, true] {
        let runs = rss_run(dvr, 3).await;
        eprintln!(
            "dvr {}: (VmRSS KiB, recording bytes) after each 60 s push: {runs:?}",
            if dvr { "on" } else { "off" }
        );
        let (rss1, disk1) = runs[0];
        let (rss3, disk3) = runs[2];
        assert!(disk3 > 2 * disk1, "the recording grew: {runs:?}");
        assert!(
            rss3 < rss1 + 32 * 1024,
            "RSS grew by more than 32 MiB while the recording grew {disk1} -> {disk3}: {runs:?}"
        );
    }
}
