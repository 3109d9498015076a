//! fMP4 served beside TS: real ffmpeg encodes pushed to an in-process hlsd, both
//! renderings read over HTTP and compared (same MSNs, durations, parts, discontinuities),
//! init + segments probed by ffprobe against the TS segments (same PTS/DTS up to one
//! offset), ffmpeg reading `media.fmp4.m3u8` without a word, `hls.container = "auto"` with
//! HEVC, audio-only parts, and decode times going on across a reconnect (tfdt and mfhd
//! read with mp4-atom). Needs ffmpeg and ffprobe (run with --include-ignored).

mod common;

use common::{
    End, Fixture, Push, TestServer, config, eventually, fixture, get, probe_packets, spawn_push,
};
use hlsd::config::ContainerChoice;
use mp4_atom::{Decode, Moof};
use std::time::Duration;

const FEED: &str = "cam";

fn url(s: &TestServer, file: &str) -> String {
    s.url(&format!("/live/{FEED}/main/{file}"))
}

/// Segments of a media playlist: (MSN, EXTINF as written, URI), and the discontinuity
/// flags, read with m3u8-rs.
fn segments(text: &str) -> Vec<(u64, String, String, bool)> {
    let Ok((_, m3u8_rs::Playlist::MediaPlaylist(p))) = m3u8_rs::parse_playlist(text.as_bytes())
    else {
        panic!("not a media playlist:\n{text}")
    };
    p.segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                p.media_sequence + i as u64,
                format!("{:.3}", s.duration),
                s.uri.clone(),
                s.discontinuity,
            )
        })
        .collect()
}

/// EXT-X-PART lines with the container's extension taken off.
fn parts(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .map(|l| l.replace(".m4s", ".ts"))
        .collect()
}

async fn ended(s: &TestServer, file: &str) -> String {
    eventually(Duration::from_secs(60), "ENDLIST", || async {
        let r = get(&url(s, file)).await;
        (r.status == 200 && r.text().contains("#EXT-X-ENDLIST")).then(|| r.text())
    })
    .await
}

/// The bytes of every segment listed (and the init, first, for fMP4).
async fn download(s: &TestServer, file: &str, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let base = url(s, file);
    for line in text.lines() {
        let uri = if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            rest.trim_end_matches('"')
        } else if !line.starts_with('#') && !line.is_empty() {
            line
        } else {
            continue;
        };
        let r = get(&common::resolve(&base, uri)).await;
        assert_eq!(r.status, 200, "{uri}");
        let want = if uri.ends_with(".ts") {
            "video/mp2t"
        } else {
            "video/mp4"
        };
        assert_eq!(r.header("content-type"), Some(want), "{uri}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{uri}"
        );
        out.extend_from_slice(&r.body);
    }
    out
}

fn write_temp(data: &[u8], name: &str) -> tempfile::TempPath {
    let f = tempfile::Builder::new().suffix(name).tempfile().unwrap();
    std::fs::write(f.path(), data).unwrap();
    f.into_temp_path()
}

/// `ffmpeg -v error -i URL -f null -` prints nothing.
fn decodes_silently(what: &str, input: &str) {
    let err = common::decode_errors(input);
    assert!(err.trim().is_empty(), "{what}: ffmpeg said: {err}");
}

/// Each video packet's (PTS, DTS, key) of a file, and its audio packets' times in seconds.
fn video_and_audio(path: &std::path::Path) -> (Vec<(i64, i64, bool)>, usize) {
    let packets = probe_packets(path);
    let video = packets
        .iter()
        .filter(|p| p.stream == 0)
        .map(|p| (p.pts, p.dts, p.key))
        .collect();
    let audio = packets.iter().filter(|p| p.stream == 1).count();
    (video, audio)
}

/// H.264 with B-frames + AAC, TS by default: fMP4 is packaged only once asked for, from the
/// next segment on; then both renderings list the same segments and parts, and ffprobe
/// finds the same video packets at the same times up to one offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn fmp4_beside_ts_lists_the_same_media() {
    let mut c = config();
    c.hls.part_duration = 0.25;
    let s = TestServer::start(c).await;
    let data = fixture(Fixture::Main);
    let push = spawn_push(s.addr, data.clone(), Push::new(FEED).paced(&data, 8.0));
    // TS only at first: no fragment exists.
    let ts_text = eventually(Duration::from_secs(20), "two TS segments", || async {
        let r = get(&url(&s, "media.ts.m3u8")).await;
        (r.status == 200 && segments(&r.text()).len() >= 2).then(|| r.text())
    })
    .await;
    let (msn, _, uri, _) = segments(&ts_text)[0].clone();
    let token = uri
        .trim_start_matches("seg-")
        .split('-')
        .next()
        .unwrap()
        .to_string();
    let early = get(&url(&s, &format!("part-{token}-{msn}.0.m4s"))).await;
    assert_eq!(early.status, 404, "nothing packaged before fMP4 was wanted");
    // The first fMP4 request waits for the first packaged segment.
    let first = get(&url(&s, "media.fmp4.m3u8")).await;
    assert_eq!(first.status, 200);
    let p = m3u8_parser::m3u8::playlist::Playlist::from_reader(first.body.as_ref())
        .expect("m3u8-parser reads it");
    if let Err(e) = p.validate() {
        panic!("invalid LL-HLS playlist: {e:?}\n{}", first.text());
    }
    assert!(
        first.text().contains("#EXT-X-VERSION:6\n"),
        "{}",
        first.text()
    );
    assert!(
        first
            .text()
            .contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-")
    );
    // The hinted part is waited for, then served as fMP4; ranges work as for TS.
    let hint = first
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .map(|u| u.trim_end_matches('"').to_string())
        .expect("a preload hint");
    assert!(hint.ends_with(".m4s"), "{hint}");
    let hinted = get(&url(&s, &hint)).await;
    assert_eq!(
        (hinted.status, hinted.header("content-type")),
        (200, Some("video/mp4"))
    );
    assert_eq!(&hinted.body[4..8], b"moof");
    let range = common::request("GET", &url(&s, &hint), &[("range", "bytes=4-7")]).await;
    assert_eq!((range.status, &range.body[..]), (206, &b"moof"[..]));
    let pushed = push.await.unwrap();
    assert_eq!(pushed.status, Some(200));
    let ts = ended(&s, "media.ts.m3u8").await;
    let fmp4 = ended(&s, "media.fmp4.m3u8").await;
    let (ts_segs, mp4_segs) = (segments(&ts), segments(&fmp4));
    assert!(
        mp4_segs.len() >= 3 && mp4_segs[0].0 > ts_segs[0].0,
        "fMP4 from a later segment on:\n{fmp4}"
    );
    // The same MSNs, durations and discontinuities from the first packaged segment on.
    let tail = &ts_segs[ts_segs.len() - mp4_segs.len()..];
    let key = |v: &[(u64, String, String, bool)]| -> Vec<(u64, String, String, bool)> {
        v.iter()
            .map(|(m, d, u, disc)| (*m, d.clone(), u.replace(".m4s", ".ts"), *disc))
            .collect()
    };
    assert_eq!(key(tail), key(&mp4_segs));
    // The parts still listed are the same parts.
    assert_eq!(parts(&ts), parts(&fmp4));
    assert!(!parts(&fmp4).is_empty());
    assert_eq!(fmp4.matches("#EXT-X-MAP:").count(), 1, "{fmp4}");
    // The media: the TS segments from the same MSN against init + fMP4 segments.
    let ts_from: String = {
        let first_msn = mp4_segs[0].0;
        let mut keep = false;
        ts.lines()
            .filter(|l| {
                keep |= l.contains(&format!("-{first_msn}.ts"));
                keep || l.starts_with("#EXTM3U")
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let ts_file = write_temp(&download(&s, "media.ts.m3u8", &ts_from).await, ".ts");
    let mp4_file = write_temp(&download(&s, "media.fmp4.m3u8", &fmp4).await, ".mp4");
    let (ts_video, ts_audio) = video_and_audio(&ts_file);
    let (mp4_video, mp4_audio) = video_and_audio(&mp4_file);
    assert_eq!(mp4_video.len(), ts_video.len(), "video packets");
    let offset = ts_video[0].1 - mp4_video[0].1;
    for (i, (t, m)) in ts_video.iter().zip(&mp4_video).enumerate() {
        assert_eq!(
            (t.0, t.1, t.2),
            (m.0 + offset, m.1 + offset, m.2),
            "video #{i}: (PTS, DTS, key), one offset {offset}"
        );
    }
    // Audio: a PES begun in the segment before is whole in fMP4, cut in TS.
    assert!(
        mp4_audio.abs_diff(ts_audio) <= 10 && mp4_audio > 100,
        "audio packets {mp4_audio} vs {ts_audio}"
    );
    decodes_silently("fMP4 playlist", &url(&s, "media.fmp4.m3u8"));
    s.stop().await;
}

/// `hls.container = "auto"` with an HEVC feed: `index.m3u8` and `media.m3u8` serve fMP4,
/// packaged from the first segment (the PMT says HEVC before the first keyframe); the TS
/// rendering stays at `media.ts.m3u8` with the same segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn hevc_auto_is_fmp4_at_index() {
    let mut c = config();
    c.hls.part_duration = 0.25;
    assert_eq!(c.hls.container, ContainerChoice::Auto);
    let s = TestServer::start(c).await;
    let data = fixture(Fixture::Hevc);
    let pushed = spawn_push(s.addr, data, Push::new(FEED)).await.unwrap();
    assert_eq!(pushed.status, Some(200));
    let media = ended(&s, "media.m3u8").await;
    let index = get(&s.index_url(FEED)).await.text();
    assert!(index.contains("main/media.m3u8"), "{index}");
    assert!(index.contains("CODECS=\"hvc1."), "{index}");
    let fmp4_index = get(&s.url(&format!("/live/{FEED}/index.fmp4.m3u8")))
        .await
        .text();
    assert_eq!(fmp4_index, index.replace("/media.m3u8", "/media.fmp4.m3u8"));
    let ts_index = get(&s.url(&format!("/live/{FEED}/index.ts.m3u8")))
        .await
        .text();
    assert!(ts_index.contains("main/media.ts.m3u8"), "{ts_index}");
    assert!(media.contains("#EXT-X-MAP:URI=\"init-"), "{media}");
    assert!(
        media.contains(".m4s") && !media.contains(".ts\""),
        "{media}"
    );
    let ts = ended(&s, "media.ts.m3u8").await;
    let key = |t: &str| -> Vec<(u64, String)> {
        segments(t).into_iter().map(|(m, d, ..)| (m, d)).collect()
    };
    assert_eq!(key(&media), key(&ts), "the same segments from the first on");
    assert_eq!(parts(&media), parts(&ts));
    decodes_silently("HEVC fMP4", &s.index_url(FEED));
    s.stop().await;
}

/// Audio-only renditions (AAC, MP3) have fMP4 parts too, each decodable with its init.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn audio_only_has_fmp4_parts() {
    for f in [Fixture::AudioOnly, Fixture::Mp3] {
        let mut c = config();
        c.hls.part_duration = 0.25;
        c.hls.container = ContainerChoice::Fmp4;
        let s = TestServer::start(c).await;
        let pushed = spawn_push(s.addr, fixture(f), Push::new(FEED))
            .await
            .unwrap();
        assert_eq!(pushed.status, Some(200), "{f:?}");
        let media = ended(&s, "media.m3u8").await;
        let part_lines = parts(&media);
        assert!(part_lines.len() > 4, "{f:?}: parts\n{media}");
        let init = media
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
            .expect("a map")
            .trim_end_matches('"');
        let init = get(&url(&s, init)).await;
        assert_eq!(init.status, 200);
        let part_uri = media
            .lines()
            .filter(|l| l.starts_with("#EXT-X-PART:"))
            .find_map(|l| l.split("URI=\"").nth(1))
            .and_then(|u| u.split('"').next())
            .expect("a part URI");
        assert!(part_uri.ends_with(".m4s"), "{part_uri}");
        let part = get(&url(&s, part_uri)).await;
        assert_eq!(
            (part.status, part.header("content-type")),
            (200, Some("video/mp4"))
        );
        let mut file = init.body.to_vec();
        file.extend_from_slice(&part.body);
        let path = write_temp(&file, ".mp4");
        decodes_silently(&format!("{f:?} part"), path.to_str().unwrap());
        decodes_silently(&format!("{f:?} playlist"), &url(&s, "media.m3u8"));
        s.stop().await;
    }
}

/// Every fragment of a segment: (mfhd sequence, video tfdt, video duration) of each.
fn fragments(data: &[u8]) -> Vec<(u32, u64, u64)> {
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let before = rest.len();
        let moof = Moof::decode(&mut rest).expect("a moof");
        let mdat = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(&rest[4..8], b"mdat");
        rest = &rest[mdat..];
        assert!(rest.len() < before);
        let video = moof
            .traf
            .iter()
            .find(|t| t.tfhd.track_id == 1)
            .expect("video");
        let tfdt = video.tfdt.as_ref().expect("tfdt").base_media_decode_time;
        let duration: u64 = video
            .trun
            .iter()
            .flat_map(|t| t.samples.iter())
            .map(|s| u64::from(s.duration.expect("duration")))
            .sum();
        out.push((moof.mfhd.sequence_number, tfdt, duration));
    }
    out
}

/// A reconnect within the grace, the publisher's timestamps starting over: the fMP4
/// decode times go on from the segment's PROGRAM-DATE-TIME (no step back), and mfhd
/// sequence numbers keep growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn tfdt_goes_on_across_a_reconnect() {
    let mut c = config();
    c.hls.part_duration = 0.25;
    c.hls.container = ContainerChoice::Fmp4;
    c.feeds.reconnect_grace = 10.0;
    let s = TestServer::start(c).await;
    let data = fixture(Fixture::Short);
    spawn_push(s.addr, data.clone(), Push::new(FEED).end(End::Drop))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "reconnecting", || async {
        let r = get(&s.url(&format!("/api/feeds/{FEED}"))).await;
        r.text().contains("reconnecting").then_some(())
    })
    .await;
    let second = spawn_push(s.addr, data, Push::new(FEED)).await.unwrap();
    assert_eq!(second.status, Some(200));
    let media = ended(&s, "media.fmp4.m3u8").await;
    let segs = segments(&media);
    assert!(segs.iter().any(|s| s.3), "a discontinuity:\n{media}");
    let mut all = Vec::new();
    for (msn, _, uri, disc) in &segs {
        let r = get(&url(&s, uri)).await;
        assert_eq!(r.status, 200, "{uri}");
        for f in fragments(&r.body) {
            all.push((*msn, *disc, f));
        }
    }
    for w in all.windows(2) {
        let ((_, _, (seq_a, t_a, d_a)), (msn_b, disc_b, (seq_b, t_b, _))) = (w[0], w[1]);
        assert!(seq_b > seq_a, "mfhd sequence grows: {seq_a} then {seq_b}");
        if disc_b && t_b != t_a + d_a {
            // The first fragment after the reconnect: never back.
            assert!(
                t_b >= t_a + d_a,
                "segment {msn_b}: tfdt {t_b} after {t_a} + {d_a}"
            );
        } else {
            assert_eq!(t_b, t_a + d_a, "segment {msn_b}: tfdt continuous");
        }
    }
    s.stop().await;
}

/// A resolution change mid-segment (a new SPS at a keyframe 3 s in, segments of 2 s): the
/// segment is cut at that keyframe, so each init is listed (EXT-X-MAP) before exactly the
/// segments whose parts need it: each init with its segments decodes without a word, at
/// one resolution. (ffmpeg 5.1 cannot play the playlist across the change: its HLS demuxer
/// feeds the second init to the same mov demuxer, which skips a second `moov`, and decodes
/// on with the first `avcC`; a file of both inits and their segments does the same.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn resolution_change_starts_a_segment_under_a_new_init() {
    let mut c = config();
    c.hls.segment_duration = 2.0;
    c.hls.part_duration = 0.25;
    c.hls.container = ContainerChoice::Fmp4;
    let s = TestServer::start(c).await;
    let data = fixture(Fixture::ResolutionChange);
    let pushed = spawn_push(s.addr, data, Push::new(FEED)).await.unwrap();
    assert_eq!(pushed.status, Some(200));
    let media = ended(&s, "media.fmp4.m3u8").await;
    let maps: Vec<&str> = media
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MAP:"))
        .collect();
    assert_eq!(maps.len(), 2, "an init per resolution:\n{media}");
    assert_ne!(maps[0], maps[1]);
    // The segment before the second init ends at the change, about 3 s in: short of 2 s.
    let before_second: Vec<(u64, String, String, bool)> = {
        let at = media.find(maps[1]).unwrap();
        segments(&format!("{}#EXT-X-ENDLIST\n", &media[..at]))
    };
    let (_, last, ..) = before_second.last().expect("segments under the first init");
    let last: f64 = last.parse().unwrap();
    assert!(
        (0.5..1.5).contains(&last),
        "cut at the keyframe with the new SPS:\n{media}"
    );
    // Each init with its segments holds one resolution.
    let mut file = Vec::new();
    let base = url(&s, "media.fmp4.m3u8");
    let mut heights = Vec::new();
    let mut uris = Vec::new();
    for line in media.lines() {
        let uri = if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            rest.trim_end_matches('"')
        } else if !line.starts_with('#') && !line.is_empty() {
            line
        } else {
            continue;
        };
        if uri.starts_with("init-") && !file.is_empty() {
            heights.push(height(&std::mem::take(&mut file)));
        }
        if uri.starts_with("init-") {
            uris.push(uri.to_string());
        }
        let r = get(&common::resolve(&base, uri)).await;
        assert_eq!(r.status, 200, "{uri}");
        file.extend_from_slice(&r.body);
    }
    heights.push(height(&file));
    assert_eq!(heights, vec![vec![240], vec![360]], "{uris:?}\n{media}");
    s.stop().await;
}

/// The heights of the decoded video frames of an init and its segments, deduplicated; they
/// decode without a word.
fn height(data: &[u8]) -> Vec<u32> {
    let path = write_temp(data, ".mp4");
    decodes_silently("an init and its segments", path.to_str().unwrap());
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let mut h: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    h.dedup();
    h
}

/// The same resolution change, the playlist reloaded every 20 ms: once the segment the new
/// SPS ends has ended, and until the next segment's first part is listed, the playlist
/// hints that part's new init with EXT-X-PRELOAD-HINT:TYPE=MAP; the hinted init, requested
/// at once, is answered when it exists and is the one EXT-X-MAP then lists. (A blocking
/// reload for the ended segment's next part is answered with the next segment's first
/// part, whose EXT-X-MAP it then reads.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn a_new_init_is_hinted_before_its_part() {
    let mut c = config();
    c.hls.segment_duration = 2.0;
    c.hls.part_duration = 0.25;
    c.hls.container = ContainerChoice::Fmp4;
    let s = TestServer::start(c).await;
    let data = fixture(Fixture::ResolutionChange);
    let push = spawn_push(s.addr, data.clone(), Push::new(FEED).paced(&data, 7.0));
    let playlist = url(&s, "media.fmp4.m3u8");
    let mut hinted: Vec<(String, String)> = Vec::new();
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !last.contains("#EXT-X-ENDLIST") {
        assert!(std::time::Instant::now() < deadline, "no ENDLIST:\n{last}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = get(&playlist).await;
        if r.status != 200 {
            continue;
        }
        let ll = common::ll::Ll::parse(&playlist, &r.text());
        for (kind, uri) in &ll.hints {
            if kind != "MAP" || hinted.iter().any(|(u, _)| u == uri) {
                continue;
            }
            // The hinted part opens a segment, and the hinted init is not listed yet.
            let part = ll.hint().expect("a PART hint beside the MAP hint");
            let (_, _, index) = common::ll::parse_part_uri(part).expect("a part URI");
            assert_eq!(index, 0, "{}", ll.raw);
            assert!(!ll.raw.contains(&format!("#EXT-X-MAP:URI=\"{uri}\"")));
            let r = get(&ll.abs(uri)).await;
            assert_eq!(
                (r.status, r.header("content-type")),
                (200, Some("video/mp4")),
                "{uri}"
            );
            assert_eq!(&r.body[4..8], b"ftyp", "{uri}");
            hinted.push((uri.clone(), part.to_string()));
        }
        last = ll.raw;
    }
    assert_eq!(push.await.unwrap().status, Some(200));
    let maps: Vec<String> = last
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|u| u.trim_end_matches('"').to_string())
        .collect();
    assert_eq!(maps.len(), 2, "{last}");
    assert_eq!(hinted.len(), 1, "one MAP hint: {hinted:?}\n{last}");
    assert_eq!(hinted[0].0, maps[1], "the hinted init is the one listed");
    // The segment after the second EXT-X-MAP begins with the part hinted with it.
    let after = &last[last
        .find(&format!("#EXT-X-MAP:URI=\"{}\"", maps[1]))
        .unwrap()..];
    let first_part = after
        .lines()
        .find(|l| l.starts_with("#EXT-X-PART:"))
        .expect("parts listed under the new init");
    assert!(
        first_part.contains(&hinted[0].1),
        "{first_part} vs {hinted:?}"
    );
    // An init neither listed nor hinted is not found.
    let token = maps[1]
        .trim_start_matches("init-")
        .split('-')
        .next()
        .unwrap();
    let r = get(&url(&s, &format!("init-{token}-7.mp4"))).await;
    assert_eq!(r.status, 404);
    s.stop().await;
}

/// A stream whose audio changes configuration between keyframes (AAC 48 kHz stereo, then
/// 44.1 kHz mono, 0.52 s after a keyframe): made with ffmpeg's concat demuxer from two AAC
/// clips, copied, beside an x264 encode with a keyframe every second.
fn audio_change_stream(dir: &std::path::Path) -> bytes::Bytes {
    let run = |args: &str| {
        let out = std::process::Command::new("ffmpeg")
            .current_dir(dir)
            .args(["-nostdin", "-v", "error", "-y"])
            .args(args.split_whitespace())
            .output()
            .expect("ffmpeg");
        assert!(out.status.success(), "ffmpeg {args}: {:?}", out.stderr);
    };
    run("-f lavfi -i sine=frequency=440:sample_rate=48000 -t 2.5 -ac 2 -c:a aac -b:a 64k a1.aac");
    run("-f lavfi -i sine=frequency=660:sample_rate=44100 -t 4.5 -ac 1 -c:a aac -b:a 64k a2.aac");
    std::fs::write(dir.join("list.txt"), "file 'a1.aac'\nfile 'a2.aac'\n").unwrap();
    run(
        "-f lavfi -i testsrc=size=320x240:rate=25 -f concat -safe 0 -i list.txt -t 7 \
         -map 0:v -map 1:a -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 25 -bf 2 \
         -sc_threshold 0 -c:a copy -f mpegts out.ts",
    );
    bytes::Bytes::from(std::fs::read(dir.join("out.ts")).unwrap())
}

/// The audio configuration changes between keyframes: a segment starts at the next video
/// frame with a new init, so every init with its segments decodes without a word and holds
/// one channel layout (2, then 1); the TS rendering lists the same segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_audio_change_between_keyframes_starts_a_segment_under_a_new_init() {
    let dir = tempfile::tempdir().unwrap();
    let data = audio_change_stream(dir.path());
    let mut c = config();
    c.hls.segment_duration = 2.0;
    c.hls.part_duration = 0.25;
    c.hls.container = ContainerChoice::Fmp4;
    let s = TestServer::start(c).await;
    let pushed = spawn_push(s.addr, data, Push::new(FEED)).await.unwrap();
    assert_eq!(pushed.status, Some(200));
    let media = ended(&s, "media.fmp4.m3u8").await;
    let ts = ended(&s, "media.ts.m3u8").await;
    let key = |t: &str| -> Vec<(u64, String)> {
        segments(t).into_iter().map(|(m, d, ..)| (m, d)).collect()
    };
    assert_eq!(key(&media), key(&ts), "the same segments");
    assert_eq!(parts(&media), parts(&ts));
    // A segment starts between keyframes: the playlist no longer says every one is
    // independent.
    assert!(!media.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{media}");
    let maps = media.matches("#EXT-X-MAP:").count();
    assert_eq!(maps, 2, "an init per audio configuration:\n{media}");
    let base = url(&s, "media.fmp4.m3u8");
    let mut groups: Vec<Vec<u8>> = Vec::new();
    for line in media.lines() {
        let uri = if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            groups.push(Vec::new());
            rest.trim_end_matches('"')
        } else if !line.starts_with('#') && !line.is_empty() {
            line
        } else {
            continue;
        };
        let r = get(&common::resolve(&base, uri)).await;
        assert_eq!(r.status, 200, "{uri}");
        groups
            .last_mut()
            .expect("a map first")
            .extend_from_slice(&r.body);
    }
    // The second init's first segment begins between keyframes: its video needs the frames
    // before (a player decodes on across the init); its audio decodes alone.
    let channels: Vec<Vec<u32>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| audio_channels(g, i == 0))
        .collect();
    assert_eq!(channels, vec![vec![2], vec![1]], "{media}");
    s.stop().await;
}

/// The channel counts of the decoded audio frames of an init and its segments,
/// deduplicated; they decode without a word (the audio alone unless `whole`).
fn audio_channels(data: &[u8], whole: bool) -> Vec<u32> {
    let path = write_temp(data, ".mp4");
    if whole {
        decodes_silently("an init and its segments", path.to_str().unwrap());
    } else {
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&path)
            .args(["-map", "0:a", "-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        // (ffmpeg probes the video too: its complaints about the missing references are
        // left out.)
        let stderr = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("[h264")).collect();
        assert!(out.status.success() && err.is_empty(), "audio: {stderr}");
    }
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0"])
        .args(["-show_entries", "frame=channels", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let mut c: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    c.dedup();
    c
}
