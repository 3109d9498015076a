//! Access-unit input muxed into TS, round trip through real tools: an ffmpeg clip (H.264
//! with B-frames + AAC; H.265 + AAC) is segmented with access units on, every part's units
//! are fed to a second segmenter as access-unit input, and its segments must hold the
//! source's packets (ffprobe: PTS, DTS, size, keyframe flag of every video and audio
//! packet), decode without a message from ffmpeg, and be cut exactly as the first
//! segmenter's. Needs ffmpeg and ffprobe (run with --include-ignored).

mod common;

use common::{Fixture, ProbePacket, fixture, fixture_path, probe_packets};
use hlsd::segmenter::{
    AccessUnit, Event, Segment, Segmenter, SegmenterConfig, Track, TrackCodec, UNIT_FIRST_PID,
};
use std::path::Path;
use std::process::Command;

fn config() -> SegmenterConfig {
    SegmenterConfig::new(2.0, None).with_parts(0.25, None)
}

/// Segments out of a segmenter, events taken after each input.
fn drain(s: &mut Segmenter, out: &mut Vec<Segment>) {
    while let Some(ev) = s.poll_event() {
        if let Event::Segment(seg) = ev {
            out.push(seg);
        }
    }
}

/// Per segment its start, duration, flags, and per part its start, duration, flag.
type Cuts = Vec<(i64, i64, bool, bool, Vec<(i64, i64, bool)>)>;

fn cuts(segments: &[Segment]) -> Cuts {
    segments
        .iter()
        .map(|s| {
            let parts = s
                .parts
                .iter()
                .map(|p| (p.start.0, p.duration.0, p.independent))
                .collect();
            (
                s.start.0,
                s.duration.0,
                s.independent,
                s.discontinuity,
                parts,
            )
        })
        .collect()
}

/// A unit as compared: track, DTS, PTS, keyframe, payload.
fn unit_key(u: &AccessUnit) -> (u16, i64, i64, bool, Vec<u8>) {
    (u.track, u.dts.0, u.pts.0, u.key, u.data.to_vec())
}

fn round_trip(f: Fixture, what: &str) {
    let ts = fixture(f);
    let src = fixture_path(f);
    // First: TS in, access units out.
    let mut cfg = config();
    cfg.access_units = true;
    let mut first = Segmenter::new(cfg);
    let mut a = Vec::new();
    for c in ts.chunks(7 * 188 + 5) {
        first.push(c, 0);
        drain(&mut first, &mut a);
    }
    first.finish(0);
    drain(&mut first, &mut a);
    assert!(a.len() >= 2, "{what}: segments");
    // The tracks, in PID order (video 0x100, audio 0x101: hlsd gives them the same PIDs).
    let mut tracks: Vec<Track> = Vec::new();
    for u in a
        .iter()
        .flat_map(|s| &s.parts)
        .flat_map(|p| p.units.as_deref().unwrap())
    {
        if !tracks.iter().any(|t| t.id == u.track) {
            tracks.push(Track {
                id: u.track,
                codec: u.codec,
            });
        }
    }
    tracks.sort_by_key(|t| t.id);
    assert!(matches!(tracks[0].codec, TrackCodec::Video(_)), "{what}");
    assert_eq!(tracks[0].id, UNIT_FIRST_PID, "{what}");
    // Second: the same units in, as a publisher without TS would send them: in each part
    // the frame that starts it first, then the rest in order.
    let mut second = Segmenter::new(config());
    second.set_tracks(&tracks).unwrap();
    let mut b = Vec::new();
    for p in a.iter().flat_map(|s| &s.parts) {
        let mut units = p.units.as_deref().unwrap().to_vec();
        if let Some(i) = units.iter().position(|u| u.track == tracks[0].id) {
            let v = units.remove(i);
            units.insert(0, v);
        }
        for u in units {
            second.push_access_unit(u, 0).unwrap();
            drain(&mut second, &mut b);
        }
    }
    second.finish(0);
    drain(&mut second, &mut b);
    // Cut alike, part for part, with the same units in each part.
    assert_eq!(cuts(&b), cuts(&a), "{what}: segments and parts");
    let per_part = |s: &[Segment]| -> Vec<Vec<_>> {
        s.iter()
            .flat_map(|s| &s.parts)
            .map(|p| {
                let mut u: Vec<_> = p.units.as_deref().unwrap().iter().map(unit_key).collect();
                u.sort_by_key(|k| (k.0, k.1));
                u
            })
            .collect()
    };
    assert!(per_part(&a) == per_part(&b), "{what}: units per part");
    // The segments, written to files: the source's packets, and nothing for ffmpeg to say.
    let dir = tempfile::tempdir().unwrap();
    let mut got: Vec<ProbePacket> = Vec::new();
    for (i, s) in b.iter().enumerate() {
        let path = dir.path().join(format!("seg{i}.ts"));
        std::fs::write(&path, s.to_vec()).unwrap();
        got.extend(probe_packets(&path));
        assert_eq!(
            decode_errors(&path),
            "",
            "{what}: segment {i} decodes cleanly"
        );
        // A part opening with a keyframe decodes alone too.
        for (k, p) in s.parts.iter().enumerate().filter(|(_, p)| p.independent) {
            let part = dir.path().join(format!("seg{i}.{k}.ts"));
            std::fs::write(&part, p.data.to_vec()).unwrap();
            assert_eq!(
                decode_errors(&part),
                "",
                "{what}: part {i}.{k} decodes alone"
            );
        }
    }
    // Sizes on the segments back to back: probed one by one, ffmpeg's HEVC parser moves a
    // byte of the last frame of a file into the first of the next (the PES are the same).
    let all = dir.path().join("all.ts");
    std::fs::write(&all, b.iter().flat_map(Segment::to_vec).collect::<Vec<_>>()).unwrap();
    let whole = probe_packets(&all);
    let want = probe_packets(&src);
    for stream in [0, 1] {
        let of = |p: &[ProbePacket], size: bool| -> Vec<String> {
            p.iter()
                .filter(|p| p.stream == stream)
                .map(|p| match size {
                    true => format!("{} {} {} {}", p.pts, p.dts, p.size, p.key),
                    false => format!("{} {} {}", p.pts, p.dts, p.key),
                })
                .collect()
        };
        let w = of(&want, true);
        assert!(w.len() > 100, "{what}: stream {stream} has packets");
        first_difference(&of(&whole, true), &w, &format!("{what}: stream {stream}"));
        first_difference(
            &of(&got, false),
            &of(&want, false),
            &format!("{what}: stream {stream}, segments one by one"),
        );
    }
    assert!(
        want.iter().any(|p| p.stream == 0 && p.pts != p.dts),
        "{what}: B-frames"
    );
}

/// Fails at the first packet that differs, showing it and the two after.
fn first_difference(got: &[String], want: &[String], what: &str) {
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        let around = |v: &[String]| v[i.min(v.len())..(i + 3).min(v.len())].to_vec();
        panic!(
            "{what}: packet {i} of {}/{}: got {:?}, want {:?} (pts dts [size] keyframe)",
            got.len(),
            want.len(),
            around(got),
            around(want)
        );
    }
}

/// What `ffmpeg -v error` says decoding a file.
fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "ffmpeg on {}", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
#[ignore = "needs ffmpeg"]
fn h264_aac_round_trip() {
    round_trip(Fixture::Main, "H.264 + AAC");
}

#[test]
#[ignore = "needs ffmpeg"]
fn hevc_aac_round_trip() {
    round_trip(Fixture::Hevc, "H.265 + AAC");
}
