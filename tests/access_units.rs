//! Access units out of a real encode (`SegmenterConfig::access_units`), against ffprobe's
//! packets of the same file: H.264 with B-frames and AAC made by ffmpeg (the shared
//! `Fixture::Main`). Needs ffmpeg and ffprobe (run with --include-ignored).

mod common;

use common::{Fixture, ProbePacket, fixture, fixture_path, probe_packets};
use hlsd::segmenter::{AccessUnit, Event, Segmenter, SegmenterConfig};

/// Every access unit the segmenter hands out with its parts, the TS fed in `chunk`s.
fn units(ts: &[u8], chunk: usize) -> Vec<AccessUnit> {
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = true;
    let mut s = Segmenter::new(cfg);
    let mut out = Vec::new();
    let mut drain = |s: &mut Segmenter| {
        while let Some(ev) = s.poll_event() {
            if let Event::Segment(seg) = ev {
                for p in &seg.parts {
                    out.extend(p.units.as_deref().expect("units").iter().cloned());
                }
            }
        }
    };
    for c in ts.chunks(chunk) {
        s.push(c, 0);
        drain(&mut s);
    }
    s.finish(0);
    drain(&mut s);
    out
}

#[test]
#[ignore = "needs ffmpeg and ffprobe"]
fn access_units_match_ffprobe_packets() {
    let ts = fixture(Fixture::Main);
    let packets = probe_packets(&fixture_path(Fixture::Main));
    let got = units(&ts, 7 * 188 + 5);
    assert_eq!(
        got.iter().map(|u| (u.dts, u.key)).collect::<Vec<_>>(),
        units(&ts, 65536)
            .iter()
            .map(|u| (u.dts, u.key))
            .collect::<Vec<_>>()
    );
    let video: Vec<String> = got
        .iter()
        .filter(|u| u.track == 0x100)
        .map(|u| format!("{},{},{},{}", u.pts.0, u.dts.0, u.data.len(), u.key))
        .collect();
    let want: Vec<String> = packets
        .iter()
        .filter(|p| p.stream == 0)
        .map(|p| format!("{},{},{},{}", p.pts, p.dts, p.size, p.key))
        .collect();
    assert!(
        video
            .iter()
            .any(|v| v.split(',').next() != v.split(',').nth(1)),
        "B-frames"
    );
    assert_eq!(video, want, "video: pts, dts, size, keyframe");
    // Audio: one unit per PES; its ADTS frames are ffprobe's packets.
    let audio: Vec<&AccessUnit> = got.iter().filter(|u| u.track == 0x101).collect();
    let frames: u32 = audio
        .iter()
        .map(|u| u.frames.expect("AAC frames").count)
        .sum();
    let bytes: usize = audio.iter().map(|u| u.data.len()).sum();
    let want_audio: Vec<&ProbePacket> = packets.iter().filter(|p| p.stream == 1).collect();
    let want_bytes: usize = want_audio.iter().map(|p| p.size).sum();
    assert_eq!((frames as usize, bytes), (want_audio.len(), want_bytes));
    assert_eq!(audio[0].pts.0, want_audio[0].pts);
}
