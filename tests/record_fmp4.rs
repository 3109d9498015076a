//! Recording an fMP4 feed (`hls.container = "auto"` with HEVC): the recording holds the
//! files the feed served (`.m4s` segments and their init), its /vod playlist maps the init,
//! and ffmpeg plays it without a word, as long as the input. A rendition whose feed turns
//! fMP4 within the session keeps its earlier `.ts` segments under their names.

mod common;

use common::record::{ended_recording, record_config};
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_hevc_fmp4_feed_is_recorded_as_served() {
    let data = fixture(Fixture::Hevc);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = record_config(tmp.path());
    c.hls.part_duration = 0.25;
    let server = TestServer::start(c).await;
    let res = push(
        server.addr,
        data.clone(),
        Push::new("cam").paced(&data, 3.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let live = wait_endlist(&server, "cam", Duration::from_secs(10)).await;
    assert!(live.raw.contains("#EXT-X-MAP:URI=\"init-"), "{}", live.raw);
    let served = live.segments();
    let first = served[0].1.rsplit('/').next().unwrap().to_string();
    let token = first
        .strip_prefix("seg-")
        .and_then(|r| r.split('-').next())
        .unwrap()
        .to_string();

    ended_recording(&server, "cam").await;
    let url = server.url(&format!("/vod/cam/{token}/main/media.m3u8"));
    let vod = fetch_media(&url).await;
    assert!(vod.raw.contains("#EXT-X-VERSION:6\n"), "{}", vod.raw);
    let map = vod
        .raw
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .expect("EXT-X-MAP")
        .trim_end_matches('"')
        .to_string();
    assert!(!vod.raw.contains("#EXT-X-GAP"), "{}", vod.raw);
    // The segments served, under the names served, with the bytes served.
    let names = |m: &Media| -> Vec<(u64, String)> {
        m.segments()
            .into_iter()
            .map(|(msn, u, _)| (msn, u.rsplit('/').next().unwrap().to_string()))
            .collect()
    };
    assert_eq!(names(&vod), names(&live));
    assert!(names(&vod).iter().all(|(_, n)| n.ends_with(".m4s")));
    let dir = tmp.path().join("cam").join(&token).join("main");
    let live_init = get(&live.url.replace("media.m3u8", &map)).await;
    assert_eq!(live_init.status, 200);
    assert_eq!(
        &std::fs::read(dir.join(&map)).unwrap()[..],
        &live_init.body[..]
    );
    let vod_init = get(&url.replace("media.m3u8", &map)).await;
    assert_eq!(vod_init.status, 200);
    assert_eq!(vod_init.header("content-type"), Some("video/mp4"));
    for ((_, live_url, _), bytes) in served.iter().zip(fetch_segments(&vod).await) {
        let live_bytes = get(live_url).await;
        assert_eq!(&bytes[..], &live_bytes.body[..], "{live_url}");
    }

    let out = tool("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", &url, "-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.is_empty(), "{errors}");
    // Durations: the playlist's and the remuxed recording's equal the input's.
    let want = probe_duration(&data).await;
    let listed: f64 = vod.segments().iter().map(|s| s.2).sum();
    assert!(
        (listed - want).abs() < 0.25,
        "listed {listed} s, pushed {want} s"
    );
    let ts = tmp.path().join("out.ts");
    let st = tool("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-y", "-i", &url, "-c", "copy", "-f", "mpegts",
        ])
        .arg(&ts)
        .status()
        .await
        .unwrap();
    assert!(st.success());
    let got = probe_duration(&std::fs::read(&ts).unwrap()).await;
    assert!(
        (got - want).abs() < 0.25,
        "recorded {got} s, pushed {want} s"
    );
    server.stop().await;
}

/// An H.264 rendition recorded as TS turns fMP4 when an HEVC rendition joins its feed
/// (`auto`): its /vod playlist lists the `.ts` segments recorded before under their names
/// (the one the change fell in too), then the `.m4s` ones under EXT-X-MAP, with no gap, and
/// every one is served with the bytes on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_container_change_within_a_session_keeps_the_earlier_segments() {
    let main = fixture(Fixture::Main);
    let hevc = fixture(Fixture::Hevc);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = record_config(tmp.path());
    c.hls.part_duration = 0.25;
    let server = TestServer::start(c).await;
    let h264 = spawn_push(
        server.addr,
        main.clone(),
        Push::new("cam").paced(&main, 6.0),
    );
    wait_media(
        &server.media_url("cam"),
        Duration::from_secs(15),
        "two TS segments",
        |m| m.segments().len() >= 2,
    )
    .await;
    let res = push(
        server.addr,
        hevc.clone(),
        Push::new("cam/hevc").paced(&hevc, 3.0),
    )
    .await;
    assert_eq!(res.status, Some(200), "{res:?}");
    assert_eq!(h264.await.unwrap().status, Some(200));
    let rec = ended_recording(&server, "cam").await;
    let token = rec["session"].as_str().expect("session").to_string();
    let url = server.url(&format!("/vod/cam/{token}/main/media.m3u8"));
    let vod = fetch_media(&url).await;
    // The segment the change fell in is kept too, as TS.
    assert!(!vod.raw.contains("#EXT-X-GAP"), "{}", vod.raw);
    let uris: Vec<String> = vod.segments().into_iter().map(|s| s.1).collect();
    let ts = uris.iter().take_while(|u| u.ends_with(".ts")).count();
    assert!(ts >= 2, "{}", vod.raw);
    assert!(ts < uris.len(), "no fMP4 segment:\n{}", vod.raw);
    assert!(
        uris[ts..].iter().all(|u| u.ends_with(".m4s")),
        "{}",
        vod.raw
    );
    let map = vod.raw.find("#EXT-X-MAP:").expect("EXT-X-MAP");
    let first_m4s = vod.raw.find(".m4s").unwrap();
    assert!(
        map > vod.raw.find(".ts").unwrap() && map < first_m4s,
        "{}",
        vod.raw
    );
    let dir = tmp.path().join("cam").join(&token).join("main");
    for u in &uris {
        let r = get(u).await;
        assert_eq!(r.status, 200, "{u}");
        let name = u.rsplit('/').next().unwrap();
        let want = if name.ends_with(".ts") {
            "video/mp2t"
        } else {
            "video/mp4"
        };
        assert_eq!(r.header("content-type"), Some(want), "{u}");
        assert_eq!(
            &r.body[..],
            &std::fs::read(dir.join(name)).unwrap()[..],
            "{u}"
        );
    }
    server.stop().await;
}
