//! fMP4 out of real encodes: each fixture cut by the segmenter (access units on, 0.25 s
//! parts), every part packaged, init + fragments written to one file, and that file read by
//! ffprobe against the source TS (the same packets at the same times up to one offset, the
//! same keyframes, raw audio frames of the right sizes) and decoded by ffmpeg without a
//! word. Needs ffmpeg and ffprobe (run with --include-ignored).

mod common;

use common::{Fixture, fixture, fixture_path};
use hlsd::fmp4::Packager;
use hlsd::segmenter::{Event, Part, Segmenter, SegmenterConfig, Track};
use std::path::Path;
use std::process::Command;

/// The fixture's parts as one fMP4 file (init first), and how many fragments it holds.
fn package(ts: &[u8]) -> (Vec<u8>, usize) {
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = true;
    let mut s = Segmenter::new(cfg);
    let mut tracks = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut drain = |s: &mut Segmenter| {
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Program(pmt) => tracks = Track::of_program(&pmt),
                Event::Segment(seg) => parts.extend(seg.parts),
                _ => {}
            }
        }
    };
    for c in ts.chunks(7 * 188 + 5) {
        s.push(c, 0);
        drain(&mut s);
    }
    s.finish(0);
    drain(&mut s);
    let origin = parts
        .iter()
        .flat_map(|p| p.units.as_deref().expect("units").iter())
        .map(|u| u.dts)
        .min()
        .expect("units");
    let mut p = Packager::new(&tracks, origin);
    let mut body = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let f = p.fragment(part, i as u32 + 1).expect("a fragment");
        // One init: every track's configuration is known from the first part on (the
        // first audio PES ends after the first 0.25 s part is cut: `Part::configs`).
        assert_eq!(f.init_number, 0, "part {i}: init");
        body.extend_from_slice(&f.data);
    }
    let mut file = p.init().expect("an init").data.to_vec();
    file.extend(body);
    (file, parts.len())
}

/// A packet as ffprobe shows it.
#[derive(Debug, Clone)]
struct Packet {
    pts: f64,
    dts: f64,
    size: usize,
    key: bool,
}

/// ffprobe's video and audio packets of a file.
fn probe(file: &Path) -> (Vec<Packet>, Vec<Packet>) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "packet=codec_type,pts_time,dts_time,size,flags",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for p in v["packets"].as_array().expect("packets") {
        let num = |k: &str| p[k].as_str().and_then(|s| s.parse::<f64>().ok());
        let packet = Packet {
            pts: num("pts_time").expect("pts"),
            dts: num("dts_time").or(num("pts_time")).expect("dts"),
            size: p["size"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("size"),
            key: p["flags"].as_str().is_some_and(|f| f.contains('K')),
        };
        match p["codec_type"].as_str() {
            Some("video") => video.push(packet),
            Some("audio") => audio.push(packet),
            _ => {}
        }
    }
    (video, audio)
}

/// Compares the fMP4's packets with the source's: same count from the first one packaged
/// on, same times up to `offset` (within `tolerance` seconds), keyframes, and sizes
/// (`header` bytes less in the fMP4: the ADTS header).
fn compare(what: &str, src: &[Packet], got: &[Packet], offset: f64, tolerance: f64, header: usize) {
    assert!(!got.is_empty(), "{what}: no packets");
    // Source packets before the first one packaged (before the first keyframe) are dropped.
    let first = src
        .iter()
        .position(|p| p.dts >= got[0].dts + offset - tolerance)
        .expect("source packets");
    let src = &src[first..];
    assert_eq!(got.len(), src.len(), "{what}: packet count");
    for (i, (g, s)) in got.iter().zip(src).enumerate() {
        assert!(
            (g.dts + offset - s.dts).abs() <= tolerance,
            "{what} #{i}: DTS {} + {offset} vs {}",
            g.dts,
            s.dts
        );
        assert!(
            (g.pts + offset - s.pts).abs() <= tolerance,
            "{what} #{i}: PTS {} + {offset} vs {}",
            g.pts,
            s.pts
        );
        assert_eq!(g.key, s.key, "{what} #{i}: keyframe flag");
        if header != usize::MAX {
            assert_eq!(g.size + header, s.size, "{what} #{i}: size");
        }
    }
}

/// ffmpeg decodes the whole file without printing anything.
fn decodes_silently(file: &Path) {
    assert_eq!(common::decode_errors(file), "", "ffmpeg's errors");
}

/// What a fixture holds and how its audio frames compare.
struct Case {
    fixture: Fixture,
    video: bool,
    /// Bytes the fMP4 audio frames lack (the ADTS header), or `usize::MAX` for no size check.
    audio_header: usize,
    /// Audio timescale's resolution, for the time tolerance.
    audio_rate: f64,
}

fn check(case: Case) {
    let what = format!("{:?}", case.fixture);
    let ts = fixture(case.fixture);
    let (mp4, fragments) = package(&ts);
    assert!(fragments > 8, "{what}: parts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let (src_v, src_a) = probe(&fixture_path(case.fixture));
    let (got_v, got_a) = probe(&file);
    // One offset for every track: the first video packet's (or audio's) DTS.
    let offset = if case.video {
        src_v[0].dts - got_v[0].dts
    } else {
        src_a[0].dts - got_a[0].dts
    };
    if case.video {
        assert!(
            got_v.iter().any(|p| p.pts != p.dts),
            "{what}: B-frames (PTS ≠ DTS)"
        );
        compare(
            &format!("{what} video"),
            &src_v,
            &got_v,
            offset,
            2e-6,
            usize::MAX,
        );
    }
    let tolerance = 1.0 / case.audio_rate + 1.0 / 90_000.0 + 2e-6;
    compare(
        &format!("{what} audio"),
        &src_a,
        &got_a,
        offset,
        tolerance,
        case.audio_header,
    );
    decodes_silently(&file);
}

#[test]
#[ignore = "needs ffmpeg"]
fn h264_with_b_frames_and_aac() {
    check(Case {
        fixture: Fixture::Main,
        video: true,
        audio_header: 7,
        audio_rate: 48_000.0,
    });
}

#[test]
#[ignore = "needs ffmpeg"]
fn hevc_and_aac() {
    check(Case {
        fixture: Fixture::Hevc,
        video: true,
        audio_header: 7,
        audio_rate: 48_000.0,
    });
}

#[test]
#[ignore = "needs ffmpeg"]
fn audio_only_aac() {
    check(Case {
        fixture: Fixture::AudioOnly,
        video: false,
        audio_header: 7,
        audio_rate: 48_000.0,
    });
}

#[test]
#[ignore = "needs ffmpeg"]
fn audio_only_mp3() {
    check(Case {
        fixture: Fixture::Mp3,
        video: false,
        audio_header: 0,
        audio_rate: 44_100.0,
    });
}

#[test]
#[ignore = "needs ffmpeg"]
fn h264_and_ac3() {
    check(Case {
        fixture: Fixture::Ac3,
        video: true,
        audio_header: 0,
        audio_rate: 48_000.0,
    });
}
