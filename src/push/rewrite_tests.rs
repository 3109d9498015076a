//! Tests of [`LoopRewriter`]: after several passes, timestamps strictly continue and
//! continuity counters continue, across the 33-bit wrap too.

use super::*;
use crate::synth::Synth;
use crate::ts::Unroller;

const DEMO: &[u8] = include_bytes!("../../web/demo.ts");
const PCR_PID: u16 = 0x1FF;

/// A synthetic stream with its PCR on a PID of its own (adaptation-only packets, whose CC
/// never moves), one OPCR among them, leading the video DTS by 0.1 s.
fn with_pcr(ts: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first_pcr = true;
    for raw in ts.chunks_exact(PACKET_SIZE) {
        let Ok(raw) = <&[u8; PACKET_SIZE]>::try_from(raw) else {
            continue;
        };
        let p = Packet::new(raw);
        if p.pid() == crate::synth::VIDEO_PID
            && p.pusi()
            && let Some(dts) = p
                .payload()
                .and_then(|x| parse_header(x).ok()?.decode_time())
        {
            let mut pcr = [0xFFu8; PACKET_SIZE];
            pcr[..6].copy_from_slice(&[0x47, (PCR_PID >> 8) as u8, PCR_PID as u8, 0x20, 183, 0x10]);
            let opcr = std::mem::take(&mut first_pcr);
            if opcr {
                pcr[5] |= 0x08;
            }
            let base = (dts as i64 - 9000).rem_euclid(WRAP) as u64;
            pcr[6..12].fill(0x7E);
            pcr[12..18].fill(0x7E);
            write_clock(&mut pcr, ClockField::Pcr, base);
            if opcr {
                write_clock(&mut pcr, ClockField::Opcr, base);
            }
            out.extend_from_slice(&pcr);
        }
        out.extend_from_slice(raw);
    }
    out
}

/// The steps of every clock of a stream: per PID, its PCR (kind 0), PTS (1) and DTS (2),
/// unrolled. Checks on the way that continuity counters continue.
fn steps(ts: &[u8]) -> HashMap<(u16, u8), Vec<i64>> {
    let mut cc: HashMap<u16, u8> = HashMap::new();
    let mut clocks: HashMap<(u16, u8), (Unroller, Option<i64>)> = HashMap::new();
    let mut steps: HashMap<(u16, u8), Vec<i64>> = HashMap::new();
    let mut step = |pid: u16, kind: u8, raw: u64| {
        let (u, last) = clocks.entry((pid, kind)).or_default();
        let t = u.unroll(raw).0;
        if let Some(l) = last.replace(t) {
            steps.entry((pid, kind)).or_default().push(t - l);
        }
    };
    for (i, raw) in ts.chunks_exact(PACKET_SIZE).enumerate() {
        let raw: &[u8; PACKET_SIZE] = raw.try_into().unwrap();
        let p = Packet::new(raw);
        let pid = p.pid().0;
        let c = p.continuity_counter();
        if let Some(prev) = cc.insert(pid, c) {
            let want = (prev + u8::from(p.payload().is_some())) & 0x0F;
            assert_eq!(c, want, "pid {pid:#x} CC at packet {i}");
        }
        if let Some(pcr) = read_clock(raw, ClockField::Pcr) {
            step(pid, 0, pcr);
        }
        if p.pusi()
            && let Some(h) = p.payload().and_then(|x| parse_header(x).ok())
        {
            if let Some(pts) = h.pts {
                step(pid, 1, pts);
            }
            if let Some(dts) = h.dts {
                step(pid, 2, dts);
            }
        }
    }
    steps
}

/// Checks that `passes` (consecutive passes of `file`) is one continuous stream: CCs
/// continue, and every clock strictly grows, never by more than its largest step inside
/// the file, so the loop point looks like any other point.
fn check_continuous(file: &[u8], passes: &[u8]) {
    let inside = steps(file);
    for (key, got) in steps(passes) {
        let max = inside[&key].iter().copied().max().unwrap();
        for (i, s) in got.iter().enumerate() {
            assert!(
                *s > 0 && *s <= max,
                "pid {:#x} clock {}: step {s} at {i}, max {max}",
                key.0,
                key.1
            );
        }
    }
}

fn passes(file: &[u8], n: usize) -> (LoopRewriter, Vec<u8>) {
    let mut r = LoopRewriter::new(file).unwrap();
    let mut all = Vec::new();
    for _ in 0..n {
        all.extend_from_slice(&r.next_pass());
    }
    (r, all)
}

#[test]
fn first_pass_is_the_file() {
    let file = with_pcr(&Synth::default().build(50));
    let mut r = LoopRewriter::new(&file).unwrap();
    assert_eq!(&r.next_pass()[..], &file[..]);
    assert_eq!(r.passes(), 1);
}

#[test]
fn duration_is_the_longest_span_plus_a_frame() {
    let r = LoopRewriter::new(&Synth::default().build(50)).unwrap();
    assert_eq!(r.duration(), Ts(50 * 3600));
}

/// Synth's audio stops at the last video frame, short of the video's end, so it would not
/// tile a loop; audio continuity is checked on the demo clip, made by ffmpeg.
fn video_only() -> Synth {
    Synth {
        audio: false,
        ..Synth::default()
    }
}

#[test]
fn three_passes_continue_with_pcr() {
    let file = with_pcr(&video_only().build(50));
    let (r, all) = passes(&file, 3);
    assert_eq!(all.len(), 3 * file.len());
    assert_eq!(r.duration(), Ts(50 * 3600));
    // Audio PES every 1920 ticks; video and PCR every 3600; never more than a frame.
    check_continuous(&file, &all);
}

#[test]
fn three_passes_continue_across_the_wrap() {
    let synth = Synth {
        start: (1 << 33) - 200_000,
        ..video_only()
    };
    let file = with_pcr(&synth.build(50));
    let (_, all) = passes(&file, 3);
    check_continuous(&file, &all);
}

#[test]
fn opcr_moves_with_the_pcr() {
    let file = with_pcr(&Synth::default().build(10));
    let mut r = LoopRewriter::new(&file).unwrap();
    let _ = r.next_pass();
    let second = r.next_pass();
    let first_pcr = |ts: &[u8]| -> [u8; PACKET_SIZE] {
        let at = ts
            .chunks_exact(PACKET_SIZE)
            .position(|p| Packet::new(p.try_into().unwrap()).pid() == Pid(PCR_PID))
            .unwrap();
        ts[at * PACKET_SIZE..][..PACKET_SIZE].try_into().unwrap()
    };
    let moved = first_pcr(&second);
    let pcr = read_clock(&moved, ClockField::Pcr).unwrap();
    assert_eq!(read_clock(&moved, ClockField::Opcr), Some(pcr));
    let orig = read_clock(&first_pcr(&file), ClockField::Pcr).unwrap();
    assert_eq!(pcr, orig + 36_000);
}

#[test]
fn schedule_follows_pcr_or_video_dts() {
    let plain = Synth::default().build(50);
    let r = LoopRewriter::new(&plain).unwrap();
    let s = r.schedule();
    assert_eq!(s.len(), 50, "one checkpoint per video frame without PCR");
    assert_eq!(s[0].at, Ts(0));
    assert_eq!(s[49].at, Ts(49 * 3600));
    let r = LoopRewriter::new(&with_pcr(&plain)).unwrap();
    let s = r.schedule();
    assert_eq!(s.len(), 50, "one checkpoint per PCR");
    assert!(
        s.windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].end < w[1].end)
    );
    assert_eq!(s[49].at, Ts(49 * 3600));
}

#[test]
fn garbage_is_refused() {
    assert_eq!(
        LoopRewriter::new(b"not a transport stream").err(),
        Some(RewriteError::NoPackets)
    );
    let mut only_pat = [0xFFu8; PACKET_SIZE];
    only_pat[..4].copy_from_slice(&[0x47, 0x40, 0, 0x10]);
    assert_eq!(
        LoopRewriter::new(&only_pat.repeat(3)).err(),
        Some(RewriteError::NoTimestamps)
    );
}

#[test]
fn demo_clip_loops_seamlessly() {
    let (r, all) = passes(DEMO, 3);
    // 200 frames at 25 fps; 375 AAC frames of 1024 samples at 48 kHz.
    assert_eq!(r.duration(), Ts::from_secs(8.0));
    assert!(!r.schedule().is_empty());
    check_continuous(DEMO, &all);
}

/// ffprobe reads three passes of the demo clip as one stream: per stream, every packet's
/// DTS is the previous one plus its duration, over 24 s.
#[test]
#[ignore = "needs ffprobe"]
fn ffprobe_sees_one_continuous_stream() {
    let (_, all) = passes(DEMO, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.ts");
    std::fs::write(&path, &all).unwrap();
    for (sel, frames) in [("v", 600), ("a", 1125)] {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", sel])
            .args(["-show_entries", "packet=dts,duration", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<(i64, i64)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(',').map(|x| x.trim().parse::<i64>());
                Some((f.next()?.ok()?, f.next()?.ok()?))
            })
            .collect();
        assert_eq!(rows.len(), frames, "stream {sel}");
        for w in rows.windows(2) {
            assert_eq!(w[1].0, w[0].0 + w[0].1, "stream {sel}: {w:?}");
        }
    }
}

/// What hlsd itself makes of the looped clip: 2 s segments all along, none marked as a
/// discontinuity, whatever the chunking.
#[test]
fn hlsd_segments_the_loop_evenly() {
    use crate::segmenter::{Event, Segmenter, SegmenterConfig};
    let (_, all) = passes(DEMO, 3);
    for size in [7, 1316, 16384] {
        let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None));
        for c in all.chunks(size) {
            seg.push(c, 0);
        }
        seg.finish(0);
        let mut segments = Vec::new();
        while let Some(e) = seg.poll_event() {
            match e {
                Event::Segment(s) => segments.push((s.duration, s.discontinuity)),
                Event::Warning(w) => panic!("{w:?}"),
                _ => {}
            }
        }
        assert_eq!(segments, vec![(Ts(180_000), false); 12], "chunks of {size}");
    }
}

/// A file made by ffmpeg whose streams do not have the same length (here the AAC starts
/// 58 ms after the video and runs 29 ms longer): the loop is as long as the longest stream,
/// so no stream's timestamps ever step back at the join (the shorter one gets a gap of the
/// difference), and ffmpeg reads the passes without a "non monotonically increasing dts"
/// warning.
#[test]
#[ignore = "needs ffmpeg"]
fn streams_of_unequal_length_never_step_back() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.ts");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
        ])
        .args(["-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "mpegts"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let file = std::fs::read(&clip).unwrap();
    let (r, all) = passes(&file, 3);
    let looped = dir.path().join("loop.ts");
    std::fs::write(&looped, &all).unwrap();
    let mut spans = Vec::new();
    for sel in ["v", "a"] {
        let once = probe_packets(&clip, sel);
        let rows = probe_packets(&looped, sel);
        assert_eq!(rows.len(), 3 * once.len(), "stream {sel}");
        let (first, last) = (once[0], once[once.len() - 1]);
        spans.push(last.0 + last.1 - first.0);
        for w in rows.windows(2) {
            let gap = w[1].0 - (w[0].0 + w[0].1);
            assert!(gap >= 0, "stream {sel} steps back {gap} ticks: {w:?}");
            assert!(gap < 9000, "stream {sel} gap {gap} ticks: {w:?}");
        }
    }
    assert_ne!(
        spans[0], spans[1],
        "the clip's streams should differ in length"
    );
    assert_eq!(r.duration(), Ts(*spans.iter().max().unwrap()));
    let warned = std::process::Command::new("ffmpeg")
        .args(["-v", "warning", "-i"])
        .arg(&looped)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(!stderr.contains("monoton"), "{stderr}");
}

/// (DTS, duration) of every packet of one stream (`v` or `a`), as ffprobe reads them.
fn probe_packets(path: &std::path::Path, sel: &str) -> Vec<(i64, i64)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", sel])
        .args(["-show_entries", "packet=dts,duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',').map(|x| x.trim().parse::<i64>());
            Some((f.next()?.ok()?, f.next()?.ok()?))
        })
        .collect()
}
