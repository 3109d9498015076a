//! An ABR ladder pushed by an encoder as three renditions of one feed (1280x720, 640x360,
//! audio only): the multivariant playlist lists the video renditions with their codecs and
//! resolutions, offers the audio-only one as an audio group, and ffmpeg plays it.

mod common;

use bytes::Bytes;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn make(dir: &Path, name: &str, args: &str) -> Bytes {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args.split_whitespace())
        .args(["-f", "mpegts"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make {name}");
    Bytes::from(std::fs::read(&path).expect("read fixture"))
}

#[tokio::test]
#[ignore = "needs ffmpeg"]
async fn three_renditions_make_a_ladder_with_an_audio_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = |size: &str, rate: &str| {
        format!(
            "-f lavfi -i testsrc2=size={size}:rate=25 -t 8 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
             -g 25 -b:v {rate} -an"
        )
    };
    let hi = make(dir.path(), "720p.ts", &video("1280x720", "1500k"));
    let lo = make(dir.path(), "360p.ts", &video("640x360", "400k"));
    let audio = make(
        dir.path(),
        "audio.ts",
        "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 8 -c:a aac -b:a 96k",
    );

    let mut cfg = config();
    cfg.hls.part_duration = 0.25;
    cfg.hls.window = 20;
    let server = TestServer::start(cfg).await;
    let pushes: Vec<_> = [("720p", &hi), ("360p", &lo), ("audio", &audio)]
        .into_iter()
        .map(|(r, data)| {
            let p = Push::path(&format!("/ingest/abr/{r}")).paced(data, 8.0);
            spawn_push(server.addr, data.clone(), p)
        })
        .collect();

    let index = server.index_url("abr");
    let text = eventually(
        Duration::from_secs(15),
        "three renditions listed",
        || async {
            let r = get(&index).await;
            let t = r.text();
            (r.status == 200
                && t.matches("#EXT-X-STREAM-INF").count() == 2
                && t.contains("#EXT-X-MEDIA:"))
            .then_some(t)
        },
    )
    .await;
    let Ok((_, m3u8_rs::Playlist::MasterPlaylist(p))) = m3u8_rs::parse_playlist(text.as_bytes())
    else {
        panic!("not a multivariant playlist:\n{text}")
    };
    assert_eq!(p.alternatives.len(), 1, "{text}");
    let a = &p.alternatives[0];
    assert_eq!(
        (a.group_id.as_str(), a.uri.as_deref()),
        ("audio", Some("audio/media.m3u8"))
    );
    let uris: Vec<&str> = p.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["720p/media.m3u8", "360p/media.m3u8"],
        "sorted by bandwidth"
    );
    let res: Vec<String> = p
        .variants
        .iter()
        .map(|v| {
            v.resolution
                .map(|r| format!("{}x{}", r.width, r.height))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(res, ["1280x720", "640x360"]);
    for v in &p.variants {
        let codecs = v.codecs.as_deref().unwrap_or_default();
        assert!(
            codecs.starts_with("avc1.") && codecs.ends_with(",mp4a.40.2"),
            "{codecs}"
        );
        assert_eq!(v.audio.as_deref(), Some("audio"));
    }
    assert!(p.variants[0].bandwidth > p.variants[1].bandwidth);
    // Each media playlist reports on the other renditions (LL-HLS).
    let media = get(&server.url("/live/abr/360p/media.m3u8")).await.text();
    assert!(
        media.contains("#EXT-X-RENDITION-REPORT:URI=\"../720p/media.m3u8\""),
        "{media}"
    );
    assert!(
        media.contains("#EXT-X-RENDITION-REPORT:URI=\"../audio/media.m3u8\""),
        "{media}"
    );

    for p in pushes {
        p.await.expect("push task");
    }
    let played = ffmpeg_play(&index, Duration::from_secs(30)).await;
    assert!(
        played.success,
        "ffmpeg could not play the ladder: {}",
        played.stderr
    );
    assert!(
        played.frames >= 100,
        "ffmpeg passed {} frames",
        played.frames
    );
    server.stop().await;
}
