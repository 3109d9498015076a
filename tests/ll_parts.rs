//! Every LL-HLS part lasts at most PART-TARGET (RFC 8216bis §4.4.4.9, a MUST), and
//! PART-TARGET never changes, whatever the codec and frame size: streams made by ffmpeg
//! (video at 23.976 to 60 fps with AAC, AAC-only at 48 and 44.1 kHz, MP3-only, AC-3-only)
//! are cut by the segmenter as a publish would be, and every part and its target are read
//! back as the playlist prints them.

use hlsd::segmenter::{Event, Segmenter, SegmenterConfig};
use hlsd::ts::Ts;
use std::process::Command;

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
