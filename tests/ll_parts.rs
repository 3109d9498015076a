//! Every LL-HLS part lasts at most PART-TARGET (RFC 8216bis §4.4.4.9, a MUST), and
//! PART-TARGET never changes, whatever the codec and frame size: streams made by ffmpeg
//! (video at 23.976 to 60 fps with AAC, AAC-only at 48 and 44.1 kHz, MP3-only, AC-3-only)
//! are cut by the segmenter as a publish would be, and every part and its target are read
//! back as the playlist prints them. Then as a player sees it: real pushes to hlsd (audio
//! only, AAC and MP3, and video + AAC), every playlist update followed with blocking reloads
//! in both containers, every EXT-X-PART and EXTINF checked against its target, and every
//! fMP4 part's samples read back.

mod common;

use common::ll::{Follower, Update};
use common::{Fixture, Push, TestServer, decode_errors, fixture, get, resolve, spawn_push};
use hlsd::config::ContainerChoice;
use hlsd::segmenter::{Event, Segmenter, SegmenterConfig};
use hlsd::ts::Ts;
use mp4_atom::{Any, Decode, Moof, Moov};
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

fn make(dir: &std::path::Path, name: &str, args: &str) -> Vec<u8> {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args.split_whitespace())
        .args(["-f", "mpegts"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg {args}");
    std::fs::read(&out).unwrap()
}

/// (PART-TARGET as printed, the longest part as printed, parts) for `data` cut with 2 s
/// segments and 0.25 s parts.
fn parts_of(data: &[u8]) -> (f64, f64, usize) {
    let cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    let mut s = Segmenter::new(cfg);
    let mut target: Option<Ts> = None;
    let mut durations = Vec::new();
    let mut drain = |s: &mut Segmenter| {
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::PartTarget(t) => {
                    if let Some(old) = target {
                        assert_eq!(old, t, "PART-TARGET changed");
                    }
                    target = Some(t);
                }
                Event::Part(p) => durations.push(p.part.duration),
                _ => {}
            }
        }
    };
    for chunk in data.chunks(64 * 1024) {
        s.push(chunk, 0);
        drain(&mut s);
    }
    s.finish(0);
    drain(&mut s);
    let printed = |t: Ts| -> f64 { format!("{:.5}", t.secs()).parse().unwrap() };
    let target = printed(target.expect("a PART-TARGET"));
    // The last part of the stream may be cut short, never long.
    let longest = durations.iter().copied().map(printed).fold(0.0, f64::max);
    (target, longest, durations.len())
}

#[test]
#[ignore = "needs ffmpeg"]
fn every_part_fits_its_part_target_for_every_kind_of_stream() {
    let dir = tempfile::tempdir().unwrap();
    let video = |rate: &str| {
        format!(
            "-f lavfi -i testsrc=size=320x180:rate={rate} -f lavfi -i sine=frequency=440:sample_rate=48000 \
             -t 12 -c:v libx264 -preset ultrafast -g 48 -c:a aac"
        )
    };
    let kinds = [
        ("video 23.976 fps + AAC", video("24000/1001")),
        ("video 25 fps + AAC", video("25")),
        ("video 29.97 fps + AAC", video("30000/1001")),
        ("video 50 fps + AAC", video("50")),
        ("video 60 fps + AAC", video("60")),
        (
            "AAC 48 kHz only",
            "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 12 -c:a aac -b:a 128k".into(),
        ),
        (
            "AAC 44.1 kHz only",
            "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 12 -c:a aac -b:a 96k".into(),
        ),
        (
            "MP3 44.1 kHz only",
            "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 12 -c:a libmp3lame -b:a 128k"
                .into(),
        ),
        (
            "AC-3 48 kHz only",
            "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 12 -c:a ac3 -b:a 192k".into(),
        ),
    ];
    let mut report = Vec::new();
    for (i, (what, args)) in kinds.iter().enumerate() {
        let data = make(dir.path(), &format!("{i}.ts"), args);
        let (target, longest, n) = parts_of(&data);
        report.push(format!(
            "{what}: PART-TARGET {target:.5}, longest part {longest:.5}, {n} parts"
        ));
        assert!(n > 20, "{what}: {n} parts");
        assert!(
            longest <= target,
            "{what}: a part of {longest} s is longer than PART-TARGET {target}\n{}",
            report.join("\n")
        );
    }
    eprintln!("{}", report.join("\n"));
}

/// What a player following one media playlist saw.
#[derive(Debug, Default)]
struct Seen {
    part_target: Option<f64>,
    target_duration: Option<u64>,
    /// Part URI → (DURATION, INDEPENDENT) as listed.
    parts: BTreeMap<String, (f64, bool)>,
    /// Segment URI → EXTINF as m3u8-rs reads it.
    segments: BTreeMap<String, f64>,
    /// fMP4 part URI → seconds of media per track (trun durations over the init's timescale).
    media: BTreeMap<String, Vec<f64>>,
    /// Init URI → track id → timescale.
    inits: HashMap<String, HashMap<u32, u32>>,
    updates: usize,
}

/// Track id → timescale of an init (`ftyp` + `moov`).
fn timescales(data: &[u8]) -> HashMap<u32, u32> {
    let mut rest = data;
    let Ok(Any::Ftyp(_)) = Any::decode(&mut rest) else {
        panic!("an init without ftyp first")
    };
    let moov = Moov::decode(&mut rest).expect("a moov");
    moov.trak
        .iter()
        .map(|t| (t.tkhd.track_id, t.mdia.mdhd.timescale))
        .collect()
}

/// Seconds of media per track of a part (`moof` + `mdat`, one or more).
fn media_seconds(data: &[u8], scales: &HashMap<u32, u32>) -> Vec<f64> {
    let mut rest = data;
    let mut ticks: BTreeMap<u32, u64> = BTreeMap::new();
    while !rest.is_empty() {
        let moof = Moof::decode(&mut rest).expect("a moof");
        let mdat = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(&rest[4..8], b"mdat");
        rest = &rest[mdat..];
        for traf in &moof.traf {
            let default = traf.tfhd.default_sample_duration;
            let sum: u64 = traf
                .trun
                .iter()
                .flat_map(|t| t.samples.iter())
                .map(|s| u64::from(s.duration.or(default).expect("a sample duration")))
                .sum();
            *ticks.entry(traf.tfhd.track_id).or_default() += sum;
        }
    }
    ticks
        .into_iter()
        .map(|(track, t)| t as f64 / f64::from(scales[&track]))
        .collect()
}

/// Every limit a player may rely on, in one playlist update: PART-TARGET as first seen,
/// every part within it, every EXTINF within TARGETDURATION (read with m3u8-rs).
async fn check_update(seen: &mut Seen, u: &Update, what: &str) {
    let ll = u.ll();
    let raw = &ll.raw;
    seen.updates += 1;
    let target = ll
        .part_target
        .unwrap_or_else(|| panic!("{what}: no PART-TARGET\n{raw}"));
    assert_eq!(
        *seen.part_target.get_or_insert(target),
        target,
        "{what}: PART-TARGET changed\n{raw}"
    );
    let Ok(m3u8_rs::Playlist::MediaPlaylist(pl)) = m3u8_rs::parse_playlist_res(raw.as_bytes())
    else {
        panic!("{what}: m3u8-rs cannot read\n{raw}")
    };
    assert_eq!(
        *seen.target_duration.get_or_insert(pl.target_duration),
        pl.target_duration,
        "{what}: TARGETDURATION changed\n{raw}"
    );
    for seg in &pl.segments {
        // EXTINF rounded to the nearest integer must not exceed TARGETDURATION (§4.4.3.1).
        assert!(
            f64::from(seg.duration).round() as u64 <= pl.target_duration,
            "{what}: EXTINF {} over TARGETDURATION {}\n{raw}",
            seg.duration,
            pl.target_duration
        );
        seen.segments
            .insert(seg.uri.clone(), f64::from(seg.duration));
    }
    for p in &ll.parts {
        assert!(
            p.duration <= target,
            "{what}: part {} of {} s over PART-TARGET {target}\n{raw}",
            p.uri,
            p.duration
        );
        seen.parts
            .insert(p.uri.clone(), (p.duration, p.independent));
    }
    // fMP4: every new part is fetched at once, under the init listed last.
    let Some(map) = raw
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|u| u.trim_end_matches('"').to_string())
    else {
        return;
    };
    if !seen.inits.contains_key(&map) {
        let r = get(&ll.abs(&map)).await;
        assert_eq!(r.status, 200, "{what}: {map}");
        seen.inits.insert(map.clone(), timescales(&r.body));
    }
    for p in &ll.parts {
        if seen.media.contains_key(&p.uri) {
            continue;
        }
        let r = get(&resolve(&ll.url, &p.uri)).await;
        assert_eq!(r.status, 200, "{what}: {}", p.uri);
        let media = media_seconds(&r.body, &seen.inits[&map]);
        seen.media.insert(p.uri.clone(), media);
    }
}

/// (MSN, index) of a part URI.
fn part_position(uri: &str) -> (u64, u64) {
    let (_, msn, index) = common::ll::parse_part_uri(uri).expect("a part URI");
    (msn, index)
}

/// Follows `file` of `feed` with blocking reloads until EXT-X-ENDLIST.
async fn follow(s: &TestServer, feed: &str, file: &str) -> Seen {
    let url = s.url(&format!("/live/{feed}/main/{file}"));
    let what = format!("{feed}/{file}");
    let mut f = Follower::new(&url, Duration::from_secs(60));
    let mut seen = Seen::default();
    while let Some(u) = f.next().await {
        check_update(&mut seen, &u, &what).await;
    }
    seen
}

/// Real pushes, paced, followed the way a low-latency player does in both containers:
/// PART-TARGET never changes, no EXT-X-PART lasts longer than it and no EXTINF longer than
/// TARGETDURATION; audio-only renditions publish parts, every one independent, and each
/// fMP4 part holds the audio its DURATION says (whole frames); both audio-only playlists
/// decode with no word from ffmpeg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn served_parts_fit_their_targets_in_both_containers() {
    let kinds = [
        ("aac", Fixture::AudioOnly, true, 6.0),
        ("mp3", Fixture::Mp3, true, 6.0),
        ("avc", Fixture::Main, false, 8.0),
    ];
    let data: Vec<_> = kinds.iter().map(|k| fixture(k.1)).collect();
    let mut c = common::ll::ll_config();
    c.hls.container = ContainerChoice::Fmp4;
    let s = TestServer::start(c).await;
    let mut pushes = Vec::new();
    for ((feed, _, _, secs), data) in kinds.iter().zip(&data) {
        let p = Push::new(feed).paced(data, *secs);
        pushes.push(spawn_push(s.addr, data.clone(), p));
    }
    let follows = kinds.iter().map(|(feed, ..)| async {
        let (ts, mp4) = tokio::join!(
            follow(&s, feed, "media.ts.m3u8"),
            follow(&s, feed, "media.fmp4.m3u8")
        );
        (ts, mp4)
    });
    let seen = futures_util::future::join_all(follows).await;
    for p in pushes {
        assert_eq!(p.await.unwrap().status, Some(200));
    }
    let mut report = Vec::new();
    for ((feed, _, audio_only, _), (ts, mp4)) in kinds.iter().zip(&seen) {
        let target = ts.part_target.expect("a PART-TARGET");
        assert_eq!(mp4.part_target, Some(target), "{feed}: one PART-TARGET");
        assert_eq!(mp4.target_duration, ts.target_duration, "{feed}");
        // The same parts in both containers.
        let key = |v: &Seen| -> Vec<(String, f64, bool)> {
            v.parts
                .iter()
                .map(|(u, (d, i))| (u.replace(".m4s", ".ts"), *d, *i))
                .collect()
        };
        assert_eq!(key(ts), key(mp4), "{feed}: parts");
        assert!(ts.parts.len() > 15, "{feed}: {} parts", ts.parts.len());
        let longest = ts.parts.values().map(|p| p.0).fold(0.0, f64::max);
        let extinf = ts.segments.values().copied().fold(0.0, f64::max);
        report.push(format!(
            "{feed}: PART-TARGET {target}, longest part {longest}, TARGETDURATION {:?}, \
             longest EXTINF {extinf:.3}, {} parts, {} + {} updates",
            ts.target_duration,
            ts.parts.len(),
            ts.updates,
            mp4.updates
        ));
        if *audio_only {
            assert!(
                ts.parts.values().all(|p| p.1),
                "{feed}: every audio part independent"
            );
            // The fMP4 part's audio is the part: its DURATION to within rounding, hence
            // within PART-TARGET. The stream's last part is listed one PES step long, which
            // its last PES may fall short of.
            let last = mp4.parts.keys().max_by_key(|u| part_position(u)).cloned();
            for (uri, media) in &mp4.media {
                let listed = mp4.parts[uri].0;
                assert_eq!(media.len(), 1, "{feed}: {uri} has one track");
                let fits = if Some(uri) == last.as_ref() {
                    media[0] <= listed + 1e-3
                } else {
                    (media[0] - listed).abs() < 1e-3
                };
                assert!(
                    fits,
                    "{feed}: {uri} holds {} s of audio, listed as {listed}",
                    media[0]
                );
            }
            for file in ["media.ts.m3u8", "media.fmp4.m3u8"] {
                let err = decode_errors(s.url(&format!("/live/{feed}/main/{file}")));
                assert!(err.trim().is_empty(), "{feed}/{file}: ffmpeg said {err}");
            }
        } else {
            // Video parts: the video track lasts exactly the listed duration.
            for (uri, media) in &mp4.media {
                let listed = mp4.parts[uri].0;
                assert!(
                    (media[0] - listed).abs() < 1e-3,
                    "{feed}: {uri} holds {} s of video, listed as {listed}",
                    media[0]
                );
            }
        }
        assert_eq!(
            mp4.media.len(),
            mp4.parts.len(),
            "{feed}: every part fetched"
        );
    }
    eprintln!("{}", report.join("\n"));
    s.stop().await;
}
