//! An ABR ladder pushed by an encoder as three renditions of one feed (1280x720, 640x360,
//! audio only): the multivariant playlist lists the video renditions with their codecs and
//! resolutions, offers the audio-only one as an audio group, and ffmpeg plays it.

mod common;

use bytes::Bytes;
use common::ts;
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
    // One TARGETDURATION and SERVER-CONTROL for the feed; the video renditions (same frame
    // rate) share their PART-TARGET.
    let mut tags = Vec::new();
    for r in ["720p", "360p", "audio"] {
        let text = get(&server.url(&format!("/live/abr/{r}/media.m3u8")))
            .await
            .text();
        let tag = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        tags.push((
            tag("#EXT-X-TARGETDURATION"),
            tag("#EXT-X-SERVER-CONTROL"),
            tag("#EXT-X-PART-INF"),
        ));
    }
    assert!(
        tags.iter().all(|t| t.0 == tags[0].0 && t.1 == tags[0].1),
        "{tags:?}"
    );
    assert_eq!(tags[0].2, tags[1].2, "{tags:?}");
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

/// Byte offset of the packet starting the `n`-th keyframe (from 0) of a TS file.
fn keyframe_offset(data: &[u8], n: usize) -> usize {
    let info = ts::Info::parse(data);
    let video = info.video_pid().expect("video");
    let pk = ts::packets(data);
    let pes = ts::pes_list(&pk, &std::collections::BTreeSet::from([video]));
    let first = pes
        .iter()
        .filter(|p| ts::is_idr(&p.data))
        .nth(n)
        .expect("enough keyframes")
        .first_packet;
    first * 188
}

#[tokio::test]
#[ignore = "needs ffmpeg"]
async fn a_rendition_joining_later_takes_the_msns_of_its_siblings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = |size: &str| {
        format!(
            "-f lavfi -i testsrc2=size={size}:rate=25 -t 8 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
             -g 25 -sc_threshold 0 -an"
        )
    };
    let hi = make(dir.path(), "720p.ts", &video("1280x720"));
    let lo = make(dir.path(), "360p.ts", &video("640x360"));
    let mut cfg = config();
    cfg.hls.part_duration = 0.25;
    cfg.hls.window = 20;
    let server = TestServer::start(cfg).await;
    let first = spawn_push(
        server.addr,
        hi.clone(),
        Push::path("/ingest/join/720p").paced(&hi, 8.0),
    );
    let hi_url = server.url("/live/join/720p/media.m3u8");
    eventually(
        Duration::from_secs(10),
        "720p has five segments",
        || async { try_media(&hi_url).await.filter(|m| m.segments().len() >= 5) },
    )
    .await;
    // The 360p encoder joins at its keyframe of 5 s, which starts 720p's sixth segment: its
    // PAT and PMT first, then everything from that keyframe on, in real time.
    let at = keyframe_offset(&lo, 5);
    let info = ts::Info::parse(&lo);
    let pk = ts::packets(&lo);
    let pat = pk.iter().find(|p| ts::pid(p) == 0).expect("a PAT");
    let pmt = pk
        .iter()
        .find(|p| ts::pid(p) != 0 && info.is_psi(p))
        .expect("a PMT");
    let mut late = [*pat, *pmt].concat();
    late.extend_from_slice(&lo[at..]);
    let late = Bytes::from(late);
    let second = spawn_push(
        server.addr,
        late.clone(),
        Push::path("/ingest/join/360p").paced(&late, 3.0),
    );
    first.await.expect("push");
    second.await.expect("push");
    let lo_url = server.url("/live/join/360p/media.m3u8");
    let (hi_m, lo_m) = (
        wait_endlist_url(&hi_url).await,
        wait_endlist_url(&lo_url).await,
    );
    let hi_segs: Vec<(u64, String)> = hi_m
        .segments()
        .iter()
        .map(|(msn, _, d)| (*msn, format!("{d:.3}")))
        .collect();
    let lo_segs: Vec<(u64, String)> = lo_m
        .segments()
        .iter()
        .map(|(msn, _, d)| (*msn, format!("{d:.3}")))
        .collect();
    assert_eq!(
        lo_segs.first().map(|s| s.0),
        Some(6),
        "joined at 720p's sixth segment: {lo_segs:?} vs {hi_segs:?}"
    );
    for s in &lo_segs {
        assert!(
            hi_segs.contains(s),
            "360p segment {s:?} has no twin in 720p {hi_segs:?}"
        );
    }
    let pdt = |m: &Media| {
        m.pl.segments
            .iter()
            .map(|s| s.program_date_time.map(|d| d.to_rfc3339()))
            .collect::<Vec<_>>()
    };
    let (hi_pdt, lo_pdt) = (pdt(&hi_m), pdt(&lo_m));
    assert_eq!(
        &hi_pdt[5..5 + lo_pdt.len()],
        &lo_pdt[..],
        "same PROGRAM-DATE-TIME for the same MSN"
    );
    let api = get(&server.url("/api/feeds/join")).await.text();
    assert!(api.contains("\"aligned\":true"), "{api}");
    server.stop().await;
}

async fn wait_endlist_url(url: &str) -> Media {
    eventually(Duration::from_secs(20), "ENDLIST", || async {
        try_media(url).await.filter(Media::endlist)
    })
    .await
}

#[tokio::test]
#[ignore = "needs ffmpeg"]
async fn a_multi_program_push_becomes_one_rendition_per_program() {
    let dir = tempfile::tempdir().expect("temp dir");
    let multi = make(
        dir.path(),
        "multi.ts",
        "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i testsrc2=size=320x240:rate=25 \
         -f lavfi -i sine=frequency=440:sample_rate=48000 -t 6 -map 0:v -map 2:a -map 1:v -map 2:a \
         -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 25 -c:a aac \
         -program title=CamA:st=0:st=1 -program title=CamB:st=2:st=3",
    );
    let server = TestServer::start(config()).await;
    let pushed = push(
        server.addr,
        multi.clone(),
        Push::new("multi").chunk(7 * 188 + 3),
    )
    .await;
    assert_eq!(pushed.status, Some(200));
    let text = get(&server.index_url("multi")).await.text();
    let Ok((_, m3u8_rs::Playlist::MasterPlaylist(p))) = m3u8_rs::parse_playlist(text.as_bytes())
    else {
        panic!("not a multivariant playlist:\n{text}")
    };
    let mut uris: Vec<&str> = p.variants.iter().map(|v| v.uri.as_str()).collect();
    uris.sort_unstable();
    assert_eq!(
        uris,
        ["CamA/media.m3u8", "CamB/media.m3u8"],
        "named after the SDT's services"
    );
    // Each rendition carries its own program's streams only, behind hlsd's PAT and PMT.
    for (name, pids) in [("CamA", [0x100u16, 0x101]), ("CamB", [0x102, 0x103])] {
        let m = fetch_media(&server.url(&format!("/live/multi/{name}/media.m3u8"))).await;
        let segs = fetch_segments(&m).await;
        assert!(!segs.is_empty(), "{name} has segments");
        for seg in &segs {
            let seg_info = ts::Info::parse(seg);
            let media: std::collections::BTreeSet<u16> = ts::packets(seg)
                .iter()
                .filter(|p| !seg_info.is_psi(p))
                .map(|p| ts::pid(p))
                .collect();
            assert!(
                media.iter().all(|p| pids.contains(p)),
                "{name}: PIDs {media:?}"
            );
        }
        // Every packet of the program's streams is there, from the first keyframe on.
        let want: Vec<&[u8]> = ts::packets(&multi)
            .into_iter()
            .filter(|p| pids.contains(&ts::pid(p)))
            .collect();
        let got: Vec<&[u8]> = segs
            .iter()
            .flat_map(|s| ts::packets(s))
            .filter(|p| pids.contains(&ts::pid(p)))
            .collect();
        assert!(
            got.len() > want.len() * 8 / 10,
            "{name}: {} of {} packets",
            got.len(),
            want.len()
        );
        assert!(
            want.ends_with(&got),
            "{name}: packets served in order, untouched, up to the end"
        );
    }
    server.stop().await;
}
