//! DVR (`hls.dvr_window`) of an fMP4 feed (`hls.container = "fmp4"`): the live media playlist
//! reaches back beyond its window with `.m4s` segments under the EXT-X-MAP of their inits, the
//! segments and inits that left memory served from the recording under their live URIs.

mod common;

use bytes::Bytes;
use common::record::dvr_config;
use common::*;
use std::process::Stdio;
use std::time::Duration;

/// Publishes (each a new packager, so a new init) of `CLIP_SECS` each.
const CLIPS: usize = 10;
const CLIP_SECS: u32 = 6;

/// `CLIPS` clips of 320x240 H.264 at 25 fps (GOP 1 s, B-frames) with AAC, whose timestamps
/// follow on after 0.2 s each (a publisher reconnecting); made once and cached.
fn clips() -> Vec<Bytes> {
    static CLIPS_MADE: std::sync::OnceLock<Vec<Bytes>> = std::sync::OnceLock::new();
    CLIPS_MADE
        .get_or_init(|| {
            (0..CLIPS)
                .map(|k| {
                    offset_clip(
                        CLIP_SECS,
                        &format!("{:.1}", k as f64 * (f64::from(CLIP_SECS) + 0.2)),
                    )
                })
                .collect()
        })
        .clone()
}

/// Each listed segment's (URI, EXT-X-MAP URI in effect, discontinuity), line by line.
fn mapped_segments(raw: &str) -> Vec<(String, Option<String>, bool)> {
    let (mut out, mut map, mut disc) = (Vec::new(), None, false);
    for l in raw.lines() {
        if let Some(m) = l.strip_prefix("#EXT-X-MAP:URI=") {
            map = Some(m.trim_matches('"').to_string());
        } else if l == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if !l.starts_with('#') && !l.is_empty() {
            out.push((l.to_string(), map.clone(), disc));
            disc = false;
        }
    }
    out
}

/// Every segment of `m` and every init it maps answers 200 (the recorder has written what
/// left memory).
async fn all_fetchable(m: &Media) -> bool {
    let mut urls: Vec<String> = m.segments().into_iter().map(|s| s.1).collect();
    for (_, map, _) in mapped_segments(&m.raw) {
        if let Some(u) = map.map(|u| resolve(&m.url, &u))
            && !urls.contains(&u)
        {
            urls.push(u);
        }
    }
    for url in urls {
        if get(&url).await.status != 200 {
            return false;
        }
    }
    true
}

/// 60 s pushed unpaced in ten publishes (reconnects within the grace, each with its own
/// init), through signed playback: the fMP4 playlist lists the whole minute under the right
/// EXT-X-MAPs, most of it from disk, the first inits too (a rendition keeps 8 in memory);
/// bytes from disk are the live ones, with the live route's headers; a delta update maps
/// its first segment; ffmpeg copies the whole DVR playlist without a message, as long as
/// listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_fmp4_dvr_playlist_reaches_back_with_its_inits_from_the_recording() {
    let clips = clips();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = dvr_config(tmp.path());
    c.hls.container = hlsd::config::ContainerChoice::Fmp4;
    c.auth = Some(hlsd::config::AuthConfig {
        playback_secret: Some("dvr-secret".into()),
        ..Default::default()
    });
    let server = TestServer::start(c).await;
    let signed = hlsd::http::signed::Signer::new("dvr-secret")
        .path_for("dvr", 600)
        .unwrap();
    let base = signed.strip_suffix("index.m3u8").unwrap();
    let url = server.url(&format!("{base}main/media.m3u8"));

    let res = push(server.addr, clips[0].clone(), Push::new("dvr")).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    // The last segment listed and its init, fetched while memory holds them.
    let first = fetch_media(&url).await;
    let (kept_msn, kept_url, _) = first.segments().last().unwrap().clone();
    assert!(kept_url.ends_with(".m4s"), "{}", first.raw);
    let kept_map = mapped_segments(&first.raw)
        .last()
        .unwrap()
        .1
        .clone()
        .unwrap();
    let kept_map_url = resolve(&url, &kept_map);
    let live = get(&kept_url).await;
    assert_eq!(live.status, 200);
    let live_init = get(&kept_map_url).await;
    assert_eq!(live_init.status, 200);

    for clip in &clips[1..] {
        let res = push(server.addr, clip.clone(), Push::new("dvr")).await;
        assert_eq!(res.status, Some(200), "{res:?}");
    }
    let m = eventually(
        Duration::from_secs(30),
        "every DVR segment and init on disk",
        || async {
            let m = fetch_media(&url).await;
            all_fetchable(&m).await.then_some(m)
        },
    )
    .await;
    assert!(!m.endlist(), "still live (reconnecting): {}", m.raw);
    check_media_rules(&m);
    assert!(m.raw.contains("#EXT-X-VERSION:6\n"), "{}", m.raw);
    let segments = m.segments();
    let listed = segments.len();
    let total = m.total_duration();
    assert!((55.0..=60.001).contains(&total), "{total} s:\n{}", m.raw);
    assert!(listed > 50, "{}", m.raw);
    assert!(!m.raw.contains("#EXT-X-GAP"), "{}", m.raw);
    assert!(segments.iter().all(|s| s.1.ends_with(".m4s")));
    assert_eq!(m.discontinuities(), CLIPS - 1, "the reconnects:\n{}", m.raw);

    // Every segment is under an EXT-X-MAP; the init changes exactly at each publisher's
    // first segment (a discontinuity), each init named once.
    let mapped = mapped_segments(&m.raw);
    assert_eq!(mapped.len(), listed);
    let mut inits: Vec<String> = Vec::new();
    for (k, (uri, map, disc)) in mapped.iter().enumerate() {
        let map = map
            .clone()
            .unwrap_or_else(|| panic!("{uri}: no EXT-X-MAP\n{}", m.raw));
        let changed = inits.last() != Some(&map);
        assert_eq!(changed, k == 0 || *disc, "{uri} under {map}:\n{}", m.raw);
        if changed {
            assert!(!inits.contains(&map), "{map} again:\n{}", m.raw);
            inits.push(map);
        }
    }
    assert_eq!(
        m.raw.matches("#EXT-X-MAP:").count(),
        inits.len(),
        "{}",
        m.raw
    );
    // More inits than a rendition keeps in memory (8): the oldest come from the recording.
    assert_eq!(inits.len(), CLIPS, "{}", m.raw);
    let token = kept_url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('-').nth(1))
        .unwrap()
        .to_string();
    let dir = tmp.path().join("dvr").join(&token).join("main");
    // The newest segments are served from memory and may not be recorded yet.
    eventually(Duration::from_secs(10), "every init recorded", || async {
        inits.iter().all(|i| dir.join(i).exists()).then_some(())
    })
    .await;
    for init in &inits {
        let r = get(&resolve(&url, init)).await;
        assert_eq!(r.status, 200, "{init}");
        assert_eq!(r.header("content-type"), Some("video/mp4"), "{init}");
        assert_eq!(&r.body[..], &std::fs::read(dir.join(init)).unwrap()[..]);
    }
    let disk_init = get(&kept_map_url).await;
    assert_eq!(disk_init.body, live_init.body, "{kept_map}");
    assert_eq!(
        disk_init.header("cache-control"),
        live_init.header("cache-control")
    );
    // An unsigned request for a disk-backed init is refused like any other.
    let unsigned = kept_map_url.replacen(&base[..base.find("/live/").unwrap()], "", 1);
    assert_eq!(get(&unsigned).await.status, 401, "{unsigned}");

    // The kept segment left the window (and memory): from disk, same URI, bytes, headers.
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
    for h in [
        "content-type",
        "cache-control",
        "access-control-allow-origin",
    ] {
        assert_eq!(disk.header(h), live.header(h), "{h}");
    }
    assert_eq!(disk.header("content-type"), Some("video/mp4"));
    assert_eq!(
        disk.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let (_, oldest_url, _) = segments[0].clone();
    let name = oldest_url.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        &get(&oldest_url).await.body[..],
        &std::fs::read(dir.join(&name)).unwrap()[..]
    );

    // Delta update: skipped + listed = the full playlist, and the first segment after the
    // skip is under its init's EXT-X-MAP.
    let delta = get(&format!("{url}?_HLS_skip=YES")).await;
    assert_eq!(delta.status, 200);
    let raw = delta.text();
    let n: usize = raw
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .unwrap_or_else(|| panic!("no EXT-X-SKIP:\n{raw}"))
        .parse()
        .unwrap();
    let tail = raw
        .split_once(&format!("SKIPPED-SEGMENTS={n}\n"))
        .unwrap()
        .1;
    let rest = mapped_segments(tail);
    assert_eq!(n + rest.len(), listed, "{raw}");
    for (got, want) in rest.iter().zip(&mapped[n..]) {
        assert_eq!(got.0, want.0);
        assert_eq!(
            got.1, want.1,
            "{}: EXT-X-MAP in the delta update\n{raw}",
            got.0
        );
    }

    // ffmpeg copies the live DVR playlist's video from its oldest segment, silently; the
    // copy lasts as long as the playlist lists. Video only: at each reconnect the audio of a
    // publisher's last segment overhangs the next one's first by part of an AAC frame (fMP4
    // decode times go on from the PDT, which follows the video), which ffmpeg's muxer reports
    // as non-monotonic DTS; the window's segments are the same bytes, so that is the live
    // numbering's, not the DVR's.
    let out_ts = tmp.path().join("copy.ts");
    let out = tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error"])
        .args(["-live_start_index", "0", "-i", &url])
        .args(["-map", "0:v", "-c", "copy", "-f", "null", "-"])
        .args(["-map", "0:v", "-c", "copy", "-f", "mpegts"])
        .arg(&out_ts)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "", "ffmpeg printed something");
    let copied = probe_duration(&std::fs::read(&out_ts).unwrap()).await;
    eprintln!("DVR playlist {total:.3} s, ffmpeg copied {copied:.3} s");
    assert!(
        (copied - total).abs() < 0.5,
        "copied {copied} s of {total} s"
    );
    server.stop().await;
}

/// `hls.container = "auto"` with HEVC: the feed is served and recorded as fMP4, so its DVR
/// is; once ended, the live playlist still lists everything from the recording under one
/// EXT-X-MAP, ffmpeg copies all of it silently, and the forced TS file, whose recording
/// does not exist, lists the window only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_hevc_feed_has_an_fmp4_dvr() {
    let data = fixture(Fixture::Hevc);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config();
    c.hls.window = 3;
    c.hls.part_duration = 0.25;
    c.hls.dvr_window = 60.0;
    c.record = Some(hlsd::config::RecordConfig {
        dir: tmp.path().to_path_buf(),
        ..Default::default()
    });
    let server = TestServer::start(c).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("cam").paced(&data, 3.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let url = server.media_url("cam");
    let m = eventually(
        Duration::from_secs(15),
        "the ended DVR playlist, all fetchable",
        || async {
            let m = try_media(&url).await?;
            (m.endlist() && all_fetchable(&m).await).then_some(m)
        },
    )
    .await;
    check_media_rules(&m);
    let listed = m.segments();
    assert!(listed.len() > 3, "a DVR prefix:\n{}", m.raw);
    assert_eq!(listed[0].0, 1, "{}", m.raw);
    assert!(listed.iter().all(|s| s.1.ends_with(".m4s")), "{}", m.raw);
    let mapped = mapped_segments(&m.raw);
    assert!(mapped.iter().all(|s| s.1.is_some()), "{}", m.raw);
    assert_eq!(m.raw.matches("#EXT-X-MAP:").count(), 1, "{}", m.raw);
    let want = probe_duration(&data).await;
    assert!(
        (m.total_duration() - want).abs() < 0.25,
        "listed {} s, pushed {want} s",
        m.total_duration()
    );
    let ts = fetch_media(&url.replace("media.m3u8", "media.ts.m3u8")).await;
    assert_eq!(ts.segments().len(), 3, "{}", ts.raw);

    let out_ts = tmp.path().join("copy.ts");
    let out = tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i", &url])
        .args(["-c", "copy", "-f", "null", "-"])
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&out_ts)
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "", "ffmpeg printed something");
    let copied = probe_duration(&std::fs::read(&out_ts).unwrap()).await;
    assert!(
        (copied - want).abs() < 0.25,
        "copied {copied} s, pushed {want} s"
    );
    server.stop().await;
}
