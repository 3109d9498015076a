//! Segmenter behaviour on synthetic streams (see `crate::synth`).

use super::*;
use crate::synth::{self, Synth};
use crate::ts::PACKET_SIZE;

struct Run {
    segments: Vec<Segment>,
    warnings: Vec<Warning>,
    td: Option<u32>,
    pt: Option<Ts>,
    /// (index within its segment, part) in announcement order.
    parts: Vec<(usize, Part)>,
}

fn run(input: &[u8], chunk: usize, seg: f64) -> Run {
    run_ll(input, chunk, seg, 0.0)
}

fn run_ll(input: &[u8], chunk: usize, seg: f64, part: f64) -> Run {
    let mut s = Segmenter::new(SegmenterConfig::new(seg, None).with_parts(part, None));
    let mut out = Run {
        segments: vec![],
        warnings: vec![],
        td: None,
        pt: None,
        parts: vec![],
    };
    let drain = |s: &mut Segmenter, out: &mut Run| {
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Segment(seg) => out.segments.push(seg),
                Event::Warning(w) => out.warnings.push(w),
                Event::TargetDuration(td) => {
                    assert!(out.td.is_none(), "target duration fixed twice");
                    out.td = Some(td);
                }
                Event::Program(_) | Event::MediaInfo(_) => {}
                Event::Part(p) => out.parts.push((p.index, p.part)),
                Event::PartTarget(pt) => {
                    assert!(out.pt.is_none(), "part target fixed twice");
                    out.pt = Some(pt);
                }
            }
        }
    };
    for (i, c) in input.chunks(chunk).enumerate() {
        s.push(c, 1_000_000 + i as i64);
        drain(&mut s, &mut out);
    }
    s.finish(2_000_000);
    drain(&mut s, &mut out);
    out
}

fn secs(segments: &[Segment]) -> Vec<f64> {
    segments
        .iter()
        .map(|s| (s.duration.secs() * 1000.0).round() / 1000.0)
        .collect()
}

fn packets(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.chunks_exact(PACKET_SIZE)
}

fn pid_of(p: &[u8]) -> u16 {
    u16::from(p[1] & 0x1F) << 8 | u16::from(p[2])
}

/// Packets of the input without PSI, from the first video keyframe's first packet on.
fn expected_media(input: &[u8]) -> Vec<u8> {
    let all: Vec<&[u8]> = packets(input).collect();
    let first_key = all
        .iter()
        .position(|p| pid_of(p) == synth::VIDEO_PID.0 && p[1] & 0x40 != 0 && p[5] & 0x40 != 0)
        .expect("a keyframe");
    all[first_key..]
        .iter()
        .filter(|p| ![0, synth::PMT_PID.0].contains(&pid_of(p)))
        .flat_map(|p| p.iter().copied())
        .collect()
}

fn served_media(segments: &[Segment]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in segments {
        let data = s.to_vec();
        for p in packets(&data).filter(|p| ![0, synth::PMT_PID.0].contains(&pid_of(p))) {
            out.extend_from_slice(p);
        }
    }
    out
}

fn assert_starts_with_psi_and_key(seg: &Segment) {
    let data = seg.to_vec();
    let ps: Vec<&[u8]> = packets(&data).take(3).collect();
    assert_eq!(pid_of(ps[0]), 0, "PAT first");
    assert_eq!(pid_of(ps[1]), synth::PMT_PID.0, "PMT second");
    assert_eq!(pid_of(ps[2]), synth::VIDEO_PID.0, "video third");
    assert!(ps[2][1] & 0x40 != 0, "a PES start");
}

#[test]
fn cuts_at_keyframes_after_segment_duration() {
    let input = Synth {
        gop: 25,
        ..Synth::default()
    }
    .build(250);
    let r = run(&input, 65536, 2.0);
    assert_eq!(secs(&r.segments), vec![2.0; 5]);
    assert_eq!(r.td, Some(2));
    for s in &r.segments {
        assert!(s.independent && !s.discontinuity);
        assert_starts_with_psi_and_key(s);
    }
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn same_segments_whatever_the_chunking() {
    let input = Synth {
        gop: 12,
        ..Synth::default()
    }
    .build(120);
    let reference: Vec<Vec<u8>> = run(&input, 65536, 1.0)
        .segments
        .into_iter()
        .map(|s| s.to_vec())
        .collect();
    assert!(reference.len() >= 4);
    for chunk in [1, 7, 188, 189, 1000] {
        let got: Vec<Vec<u8>> = run(&input, chunk, 1.0)
            .segments
            .into_iter()
            .map(|s| s.to_vec())
            .collect();
        assert_eq!(got, reference, "chunk {chunk}");
    }
}

#[test]
fn every_packet_once_in_order() {
    let input = Synth {
        gop: 10,
        ..Synth::default()
    }
    .build(103);
    let r = run(&input, 7, 1.0);
    assert_eq!(served_media(&r.segments), expected_media(&input));
}

#[test]
fn psi_continuity_counters_are_ours_and_continuous() {
    let input = Synth {
        gop: 25,
        ..Synth::default()
    }
    .build(200);
    let r = run(&input, 4096, 1.0);
    let ccs: Vec<u8> = r
        .segments
        .iter()
        .map(|s| s.parts[0].data.to_vec()[3] & 0x0F)
        .collect();
    let expect: Vec<u8> = (0..ccs.len() as u8).map(|i| i & 0x0F).collect();
    assert_eq!(ccs, expect);
}

#[test]
fn gop_longer_than_segment_duration() {
    let input = Synth {
        gop: 100,
        ..Synth::default()
    }
    .build(400);
    let r = run(&input, 65536, 2.0);
    assert_eq!(r.td, Some(4));
    assert_eq!(secs(&r.segments), vec![4.0; 4]);
    assert!(r.segments.iter().all(|s| s.independent));
}

#[test]
fn later_long_gop_is_cut_within_target_duration() {
    let keyframes = vec![0, 25, 50, 200, 225, 250];
    let input = Synth {
        keyframes: Some(keyframes),
        ..Synth::default()
    }
    .build(300);
    let r = run(&input, 65536, 2.0);
    assert_eq!(r.td, Some(2));
    for s in &r.segments {
        assert!(s.duration.secs() <= 2.25, "{}", s.duration.secs());
    }
    let independent: Vec<bool> = r.segments.iter().map(|s| s.independent).collect();
    assert!(independent[0]);
    assert!(independent.contains(&false));
    assert!(
        r.warnings
            .iter()
            .any(|w| matches!(w, Warning::GopOverrun { target_duration: 2 }))
    );
    // Durations still add up to the media timeline.
    let total: f64 = r.segments.iter().map(|s| s.duration.secs()).sum();
    assert!((total - 300.0 / 25.0).abs() < 0.001, "{total}");
    assert_eq!(served_media(&r.segments), expected_media(&input));
}

#[test]
fn irregular_gop() {
    let keyframes = vec![0, 30, 45, 70, 120, 130, 170];
    let input = Synth {
        keyframes: Some(keyframes),
        ..Synth::default()
    }
    .build(200);
    let r = run(&input, 188, 1.0);
    // The first segment (keyframe at 30: 1.2 s) fixes TD = 2; 45 is too early, 70 cuts.
    assert_eq!(r.td, Some(2));
    assert_eq!(secs(&r.segments), vec![1.2, 1.6, 2.0, 2.0, 1.2]);
    assert!(r.segments.iter().all(|s| s.independent));
}

#[test]
fn audio_only_cuts_on_time_at_pes_boundaries() {
    let input = Synth {
        frame_ticks: None,
        ..Synth::default()
    }
    .build(500);
    let r = run(&input, 1000, 2.0);
    // 1920-tick PES: the first start at or after 2 s is at 94 × 1920 ticks.
    assert_eq!(r.segments.len(), 6);
    for s in &r.segments[..r.segments.len() - 1] {
        assert!(
            (s.duration.secs() - 2.005).abs() < 0.03,
            "{}",
            s.duration.secs()
        );
        assert!(s.independent);
    }
    let total: f64 = r.segments.iter().map(|s| s.duration.secs()).sum();
    assert!((total - 500.0 * 1920.0 / 90000.0).abs() < 0.001, "{total}");
}

#[test]
fn pts_wrap_is_not_a_discontinuity() {
    let input = Synth {
        start: (1 << 33) - 3 * 90_000,
        ..Synth::default()
    }
    .build(200);
    let r = run(&input, 65536, 2.0);
    assert_eq!(secs(&r.segments), vec![2.0; 4]);
    assert!(r.segments.iter().all(|s| !s.discontinuity));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn timestamp_jump_is_a_discontinuity() {
    for jump in [30 * 90_000, -10 * 90_000] {
        // An encoder restart: the jump comes with a keyframe.
        let keyframes = Some(vec![0, 25, 50, 60, 85, 110, 135]);
        let input = Synth {
            keyframes,
            jumps: vec![(60, jump)],
            ..Synth::default()
        }
        .build(150);
        let r = run(&input, 65536, 2.0);
        let disc: Vec<usize> = r
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.discontinuity)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(disc, vec![2], "jump {jump}");
        assert_eq!(secs(&r.segments), vec![2.0, 0.4, 2.0, 1.6], "jump {jump}");
        assert!(
            r.warnings
                .iter()
                .all(|w| matches!(w, Warning::TimestampJump { .. })),
            "{:?}",
            r.warnings
        );
        assert!(r.segments.iter().all(|s| s.independent));
        // PDT follows media time served, not the jumped timestamps.
        assert_eq!(r.segments[2].pdt_ms - r.segments[0].pdt_ms, 2400);
    }
}

#[test]
fn small_steps_are_not_jumps() {
    let input = Synth {
        jumps: vec![(60, 4 * 90_000)],
        ..Synth::default()
    }
    .build(150);
    let r = run(&input, 65536, 2.0);
    assert!(r.segments.iter().all(|s| !s.discontinuity));
}

#[test]
fn slice_found_beyond_the_first_packet() {
    let plain = run(&Synth::default().build(100), 65536, 2.0);
    let input = Synth {
        sei_bytes: 500,
        ..Synth::default()
    }
    .build(100);
    let r = run(&input, 188, 2.0);
    assert_eq!(secs(&r.segments), secs(&plain.segments));
    assert_eq!(served_media(&r.segments), expected_media(&input));
}

#[test]
fn stream_without_keyframes_is_bounded() {
    let input = Synth {
        keyframes: Some(vec![]),
        ..Synth::default()
    }
    .build(25 * 40);
    let r = run(&input, 65536, 2.0);
    let waits: Vec<f64> = r
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::NoKeyframe { waited } => Some(waited.secs()),
            _ => None,
        })
        .collect();
    // The first after the first-segment wait (10 s), then one per segment, growing.
    assert!(waits.len() >= 5, "{waits:?}");
    assert!(
        waits[0] >= 10.0 && waits.windows(2).all(|w| w[1] > w[0]),
        "{waits:?}"
    );
    assert!(
        !r.warnings
            .iter()
            .any(|w| matches!(w, Warning::GopOverrun { .. })),
        "a stream without keyframes is not a long GOP"
    );
    // TD is fixed from the configuration (2 s), not from a 10 s first segment, and the
    // segments after the wait are cut at it: 30 s of media make about 13 segments, not 3.
    assert_eq!(r.td, Some(2));
    assert!(r.segments.len() >= 12, "{}", r.segments.len());
    for s in &r.segments {
        assert!(s.duration.secs() <= 2.25, "{}", s.duration.secs());
        assert!(!s.independent);
    }
}

#[test]
fn last_segment_ends_one_frame_after_its_last_frame() {
    let input = Synth::default().build(110);
    let r = run(&input, 65536, 2.0);
    assert_eq!(secs(&r.segments), vec![2.0, 2.0, 0.4]);
}

#[test]
fn garbage_between_packets_loses_nothing_after_it() {
    let clean = Synth {
        gop: 10,
        ..Synth::default()
    }
    .build(60);
    let mut dirty = Vec::new();
    for (i, p) in packets(&clean).enumerate() {
        dirty.extend_from_slice(p);
        if i % 37 == 5 {
            dirty.extend_from_slice(&[0x47, 0x12, 0x00, 0x47, 0xFF][..1 + i % 5]);
        }
    }
    let r = run(&dirty, 13, 1.0);
    assert_eq!(served_media(&r.segments), expected_media(&clean));
}

#[test]
fn target_duration_policy() {
    let td = |seg: f64, first: f64| target_duration_for(Ts::from_secs(seg), Ts::from_secs(first));
    assert_eq!(td(2.0, 2.0), 2);
    assert_eq!(td(2.0, 2.04), 2);
    assert_eq!(td(2.0, 2.5), 3);
    assert_eq!(td(2.0, 4.0), 4);
    assert_eq!(td(1.5, 1.0), 2);
    assert_eq!(td(0.5, 0.5), 1);
}

/// Checks the LL-HLS part rules (§4.4.4.9) on a run.
fn check_parts(r: &Run, what: &str) {
    check_parts_from(r, what, 0)
}

/// Like [`check_parts`], with the 85 % rule checked from segment `from` on.
fn check_parts_from(r: &Run, what: &str, from: usize) {
    let pt = r.pt.unwrap_or_else(|| panic!("{what}: no part target"));
    let mut announced = r.parts.iter();
    for (k, seg) in r.segments.iter().enumerate() {
        let n = seg.parts.len();
        let mut at = seg.start;
        for (i, p) in seg.parts.iter().enumerate() {
            let (index, ann) = announced
                .next()
                .unwrap_or_else(|| panic!("{what}: part not announced"));
            assert_eq!(
                (*index, ann.start),
                (i, p.start),
                "{what}: announcement order"
            );
            assert_eq!(p.start, at, "{what}: parts are contiguous");
            at = at + p.duration;
            assert!(
                p.duration <= pt,
                "{what}: part {} > PART-TARGET {}",
                p.duration.secs(),
                pt.secs()
            );
            let exempt = p.independent || i == n - 1 || k < from;
            assert!(
                exempt || p.duration.0 * 100 >= pt.0 * 85,
                "{what}: part {} < 85% of {}",
                p.duration.secs(),
                pt.secs()
            );
            let data = p.data.to_vec();
            let ps: Vec<&[u8]> = packets(&data).take(2).collect();
            assert_eq!(
                (pid_of(ps[0]), pid_of(ps[1])),
                (0, synth::PMT_PID.0),
                "{what}: part opens with PAT, PMT"
            );
        }
        assert_eq!(
            at,
            seg.start + seg.duration,
            "{what}: parts add up to the segment"
        );
        assert_eq!(seg.parts[0].independent, seg.independent);
    }
    assert!(announced.next().is_none());
}

#[test]
fn parts_meet_the_85_percent_rule_at_common_frame_rates() {
    for (fps, ticks) in [
        ("23.976", 3753.75_f64),
        ("25", 3600.0),
        ("29.97", 3003.0),
        ("30", 3000.0),
        ("50", 1800.0),
        ("60", 1500.0),
    ] {
        let gop = (180_000.0_f64 / ticks).round() as usize;
        let input = Synth {
            frame_ticks: Some(ticks),
            gop,
            frame_bytes: 300,
            ..Synth::default()
        }
        .build(gop * 4 + 7);
        let r = run_ll(&input, 4096, 2.0, 0.25);
        let pt = r.pt.expect("part target");
        assert!(
            (0.2..=0.3).contains(&pt.secs()),
            "{fps}: PART-TARGET {}",
            pt.secs()
        );
        assert_eq!(r.segments.len(), 5, "{fps}");
        check_parts(&r, fps);
        // Whole segments are made of whole parts, not of one part.
        assert!(
            r.segments[0].parts.len() >= 7,
            "{fps}: {} parts",
            r.segments[0].parts.len()
        );
        assert_eq!(served_media(&r.segments), expected_media(&input), "{fps}");
    }
}

#[test]
fn audio_only_parts_follow_pes_boundaries() {
    // ffmpeg packs about 0.3 s of AAC into one PES.
    let input = Synth {
        frame_ticks: None,
        audio_ticks: 14 * 1920,
        ..Synth::default()
    }
    .build(60);
    let r = run_ll(&input, 1000, 2.0, 0.25);
    check_parts(&r, "audio-only");
    assert!(r.segments.len() >= 5);
}

#[test]
fn keyframe_mid_segment_starts_an_independent_part() {
    let keyframes = Some(vec![0, 50, 63, 100, 150]);
    let input = Synth {
        keyframes,
        ..Synth::default()
    }
    .build(160);
    let r = run_ll(&input, 4096, 2.0, 0.25);
    let seg = &r.segments[1];
    let starts: Vec<(i64, bool)> = seg
        .parts
        .iter()
        .map(|p| ((p.start - seg.start).0 / 3600, p.independent))
        .collect();
    assert!(starts.contains(&(13, true)), "{starts:?}");
    assert_eq!(starts.iter().filter(|(_, i)| *i).count(), 2);
}

#[test]
fn ll_off_means_one_part_per_segment() {
    let r = run(&Synth::default().build(100), 4096, 2.0);
    assert!(r.pt.is_none());
    assert!(r.segments.iter().all(|s| s.parts.len() == 1));
    assert_eq!(r.parts.len(), r.segments.len());
}

#[test]
fn part_size_policy() {
    let sizes = |frame: f64, video| {
        PartSizes::for_frames(
            Ts::from_secs(0.25),
            Ts((frame * 90_000.0).round() as i64),
            video,
        )
    };
    let s25 = sizes(1.0 / 25.0, true);
    assert_eq!(
        (s25.min_frames, s25.max_frames, s25.target),
        (6, 7, Ts(7 * 3601))
    );
    let s30 = sizes(1.0 / 30.0, true);
    assert_eq!((s30.min_frames, s30.max_frames), (7, 8));
    let s10 = sizes(0.1, true);
    assert_eq!(
        (s10.min_frames, s10.max_frames, s10.target.0),
        (2, 2, 18_000 + 1125)
    );
    // Audio keeps a quarter of a PES to spare: PES lengths vary.
    let audio = sizes(0.3, false);
    assert_eq!(
        (audio.min_frames, audio.max_frames, audio.target.0),
        (1, 1, 27_000 + 6750)
    );
    let short_pes = sizes(0.02, false);
    assert_eq!(
        (short_pes.min_frames, short_pes.target.0),
        (12, 12 * 1800 + 1350)
    );
    // A GOP of 25 frames: 7 + 6 + 6 + 6; of 29: no exact split.
    assert_eq!(s25.plan(25), [7, 6, 6, 6]);
    assert!(s25.plan(29).is_empty());
    let p50 = s25.plan(50);
    assert_eq!(p50.iter().sum::<u32>(), 50);
    assert!(p50.iter().all(|n| (6..=7).contains(n)));
    // Under a target fixed earlier.
    let fixed = PartSizes::for_target(s25.target, Ts(3600)).expect("same stream fits");
    assert_eq!((fixed.min_frames, fixed.max_frames), (6, 7));
    assert_eq!(
        PartSizes::for_target(s25.target, Ts(9000)),
        None,
        "10 fps cannot fill 0.25 s parts"
    );
}

#[test]
fn short_gops_end_on_part_boundaries() {
    // One keyframe a second at 25 fps, two-second segments: once the GOP length is known, no
    // part is cut short before the mid-segment keyframe.
    let input = Synth {
        gop: 25,
        frame_bytes: 300,
        ..Synth::default()
    }
    .build(25 * 8 + 3);
    let r = run_ll(&input, 4096, 2.0, 0.25);
    // Within the first GOP its length is not known yet: one part may be short.
    check_parts_from(&r, "gop 25", 1);
    for seg in &r.segments[1..r.segments.len() - 1] {
        let sizes: Vec<i64> = seg.parts.iter().map(|p| p.duration.0 / 3600).collect();
        assert_eq!(sizes, vec![7, 6, 6, 6, 7, 6, 6, 6]);
    }
}

#[test]
fn media_info_comes_with_the_first_keyframe() {
    let input = Synth::default().build(60);
    let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
    s.push(&input, 0);
    let mut infos = Vec::new();
    let mut first_segment_at = None;
    while let Some(ev) = s.poll_event() {
        match ev {
            Event::MediaInfo(i) => infos.push(i),
            Event::Segment(_) if first_segment_at.is_none() => first_segment_at = Some(infos.len()),
            _ => {}
        }
    }
    let last = infos.last().expect("media info");
    assert_eq!(last.codecs().as_deref(), Some("avc1.64001f,mp4a.40.2"));
    assert_eq!(last.resolution(), Some((1280, 720)));
    assert!(
        first_segment_at.is_some_and(|n| n >= 1),
        "known before the first segment"
    );
    assert!(
        infos.len() <= 2,
        "reported when it changes, not per keyframe: {}",
        infos.len()
    );
}

#[test]
fn reconnect_that_cannot_fill_the_parts_gets_a_new_part_target() {
    let first = PartSizes::for_frames(Ts::from_secs(0.25), Ts(3600), true).target;
    let run_with = |frame_ticks: f64| {
        let input = Synth {
            frame_ticks: Some(frame_ticks),
            ..Synth::default()
        }
        .build(60);
        let cfg = SegmenterConfig::new(2.0, Some(2)).with_parts(0.25, Some(first));
        let mut s = Segmenter::new(cfg);
        s.push(&input, 0);
        let mut events = Vec::new();
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::PartTarget(pt) => events.push(format!("target {}", pt.0)),
                Event::Warning(Warning::PartTargetMismatch { .. }) => {
                    events.push("mismatch".into())
                }
                _ => {}
            }
        }
        events
    };
    // The same 25 fps stream keeps the feed's PART-TARGET.
    assert_eq!(run_with(3600.0), vec![format!("target {}", first.0)]);
    // 10 fps cannot fill 0.28 s parts within 85 %: a new target.
    assert_eq!(
        run_with(9000.0),
        vec!["mismatch".to_string(), "target 19125".to_string()]
    );
}

#[test]
fn continuity_errors_are_counted() {
    let clean = Synth::default().build(50);
    let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
    s.push(&clean, 0);
    assert_eq!(s.stats().continuity_errors, 0);
    // Drop every 50th packet: each loss breaks its PID's counter once.
    let lossy: Vec<u8> = packets(&clean)
        .enumerate()
        .filter(|(i, _)| i % 50 != 49)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let lost = packets(&clean).count() / 50;
    let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
    s.push(&lossy, 0);
    assert_eq!(s.stats().continuity_errors as usize, lost);
}

#[test]
fn frame_chunks_start_at_video_frames() {
    let input = Synth::default().build(30);
    let chunks = crate::synth::frame_chunks(&input);
    assert_eq!(chunks.concat(), input);
    // The PSI and audio before the first frame, then one chunk per frame.
    assert_eq!(chunks.len(), 31);
    assert!(
        chunks[1..]
            .iter()
            .all(|c| pid_of(c) == synth::VIDEO_PID.0 && c[1] & 0x40 != 0)
    );
}

#[test]
fn a_frozen_clock_is_reported_once_and_its_bytes_dropped() {
    // Every frame has the same timestamps: media time never advances.
    let frozen = Synth {
        frame_ticks: Some(0.0),
        audio: false,
        frame_bytes: 10_000,
        ..Synth::default()
    }
    .build(200);
    let mut cfg = SegmenterConfig::new(2.0, None);
    cfg.max_frozen_bytes = 100_000;
    let mut s = Segmenter::new(cfg);
    for c in frozen.chunks(65536) {
        s.push(c, 1_000_000);
    }
    s.finish(1_000_000);
    let mut warnings = 0;
    let mut held = 0;
    let mut segments = Vec::new();
    while let Some(ev) = s.poll_event() {
        match ev {
            Event::Warning(Warning::FrozenClock { bytes }) => {
                warnings += 1;
                assert!(bytes <= 100_000, "{bytes}");
            }
            Event::Segment(seg) => {
                held += seg.len();
                segments.push(seg);
            }
            _ => {}
        }
    }
    assert_eq!(warnings, 1);
    // The input is ~2.5 MB; what was kept is the frozen allowance and one packet's worth
    // of tables per part.
    assert!(frozen.len() > 2_000_000);
    assert!(held <= 100_000 + 2 * 188 + 188 * 64, "{held} bytes held");
    assert!(s.stats().dropped_packets > 10_000);
    // Its one segment still has a duration (one frame), never EXTINF:0.
    assert_eq!(segments.len(), 1);
    assert!(segments[0].duration > Ts(0));
}

#[test]
fn a_clock_that_moves_again_is_followed_again() {
    let mut cfg = SegmenterConfig::new(2.0, None);
    cfg.max_frozen_bytes = 100_000;
    let frozen = Synth {
        frame_ticks: Some(0.0),
        audio: false,
        frame_bytes: 10_000,
        ..Synth::default()
    }
    .build(50);
    // Then a normal stream, far later in time (a jump: a discontinuity).
    let moving = Synth {
        start: 900_000,
        ..Synth::default()
    }
    .build(25 * 10);
    let mut s = Segmenter::new(cfg);
    s.push(&frozen, 1_000_000);
    s.push(&moving, 1_000_000);
    s.finish(1_000_000);
    let mut frozen_warnings = 0;
    let mut durations = Vec::new();
    while let Some(ev) = s.poll_event() {
        match ev {
            Event::Warning(Warning::FrozenClock { .. }) => frozen_warnings += 1,
            Event::Segment(seg) => durations.push(seg.duration.secs()),
            _ => {}
        }
    }
    assert_eq!(frozen_warnings, 1);
    // 10 s of moving media came through after the frozen part.
    let total: f64 = durations.iter().sum();
    assert!(total >= 9.9, "{durations:?}");
}

#[test]
fn media_time_follows_the_timeline_across_jumps() {
    for jump in [30 * 90_000, -10 * 90_000] {
        let input = Synth {
            keyframes: Some(vec![0, 25, 50, 60, 85]),
            jumps: vec![(60, jump)],
            ..Synth::default()
        }
        .build(100);
        let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
        let mut readings = vec![s.media_time()];
        for c in input.chunks(188) {
            s.push(c, 0);
            while s.poll_event().is_some() {}
            readings.push(s.media_time());
        }
        assert_eq!(readings[0], Ts(0));
        assert!(readings.windows(2).all(|w| w[1] >= w[0]), "jump {jump}");
        // 100 frames: 99 steps of 3600, less the step of the jump.
        assert_eq!(s.media_time(), Ts(98 * 3600), "jump {jump}");
    }
}

#[test]
fn media_time_does_not_count_steps_back_twice() {
    let input = Synth {
        jumps: vec![(50, -90_000 / 2)],
        ..Synth::default()
    }
    .build(100);
    let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
    s.push(&input, 0);
    // Half a second back at frame 50 (not a jump): the 0.5 s are not counted again.
    assert_eq!(s.media_time(), Ts(99 * 3600 - 45_000));
}
