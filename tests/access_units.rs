//! Access units out of a real encode (`SegmenterConfig::access_units`), against ffprobe's
//! packets of the same file: H.264 with B-frames and AAC made by ffmpeg. Needs ffmpeg and
//! ffprobe (run with --include-ignored).

use hlsd::segmenter::{AccessUnit, Event, Segmenter, SegmenterConfig};
use std::process::Command;

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
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.ts");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
        ])
        .args(["-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts"])
        .arg(&clip)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok, "ffmpeg failed");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=stream_index,pts,dts,flags,size", "-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    assert!(probe.status.success());
    // stream_index, pts, dts, size, flags
    let packets: Vec<Vec<String>> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let ts = std::fs::read(&clip).unwrap();
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
        .filter(|p| p[0] == "0")
        .map(|p| format!("{},{},{},{}", p[1], p[2], p[3], p[4].contains('K')))
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
    let want_audio: Vec<&Vec<String>> = packets.iter().filter(|p| p[0] == "1").collect();
    let want_bytes: usize = want_audio
        .iter()
        .map(|p| p[3].parse::<usize>().unwrap())
        .sum();
    assert_eq!((frames as usize, bytes), (want_audio.len(), want_bytes));
    assert_eq!(audio[0].pts.0.to_string(), want_audio[0][1]);
}
