//! Segmenter behaviour on synthetic streams (see `crate::synth`).

use super::*;
use crate::synth::{self, Synth};
use crate::ts::PACKET_SIZE;

#[derive(Default)]
struct Run {
    segments: Vec<Segment>,
    warnings: Vec<Warning>,
    td: Option<u32>,
    pt: Option<Ts>,
    /// (index within its segment, part) in announcement order.
    parts: Vec<(usize, Part)>,
    /// Each `Event::NewConfiguration`: (segments, parts) announced before it.
    new_configurations: Vec<(usize, usize)>,
    /// `PartEvent::ends_segment` of each part in `parts`.
    ends: Vec<bool>,
    /// The last part announced ended its segment: the next event must be the segment.
    segment_due: bool,
}

fn run(input: &[u8], chunk: usize, seg: f64) -> Run {
    run_ll(input, chunk, seg, 0.0)
}

fn run_ll(input: &[u8], chunk: usize, seg: f64, part: f64) -> Run {
    run_cfg(
        input,
        chunk,
        SegmenterConfig::new(seg, None).with_parts(part, None),
    )
}

/// `input` pushed in chunks of `chunk` bytes into a segmenter with `cfg`.
fn run_cfg(input: &[u8], chunk: usize, cfg: SegmenterConfig) -> Run {
    let mut s = Segmenter::new(cfg);
    let mut out = Run::default();
    for (i, c) in input.chunks(chunk).enumerate() {
        s.push(c, 1_000_000 + i as i64);
        drain(&mut s, &mut out);
    }
    s.finish(2_000_000);
    drain(&mut s, &mut out);
    out
}

/// Moves the segmenter's pending events into `out`.
/// Every run checks that a part ending its segment is followed by that segment at once.
fn drain(s: &mut Segmenter, out: &mut Run) {
    while let Some(ev) = s.poll_event() {
        if out.segment_due {
            assert!(
                matches!(ev, Event::Segment(_)),
                "a segment's last part was followed by {ev:?}"
            );
            out.segment_due = false;
        }
        match ev {
            Event::Segment(seg) => out.segments.push(seg),
            Event::Warning(w) => out.warnings.push(w),
            Event::TargetDuration(td) => {
                assert!(out.td.is_none(), "target duration fixed twice");
                out.td = Some(td);
            }
            Event::Program(_) | Event::MediaInfo(_) => {}
            Event::Part(p) => {
                out.segment_due = p.ends_segment;
                out.ends.push(p.ends_segment);
                out.parts.push((p.index, p.part));
            }
            Event::NewConfiguration => out
                .new_configurations
                .push((out.segments.len(), out.parts.len())),
            Event::PartTarget(pt) => {
                assert!(out.pt.is_none(), "part target fixed twice");
                out.pt = Some(pt);
            }
        }
    }
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

/// Whether some segment was cut without a keyframe (a GOP overrun or a forced cut).
fn cut_without_keyframe(r: &Run) -> bool {
    r.warnings
        .iter()
        .any(|w| matches!(w, Warning::GopOverrun { .. } | Warning::ForcedCut { .. }))
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
fn keyframes_off_the_segment_grid_end_segments_before_the_target_is_outrun() {
    // Keyframes every 9 or 10 frames (0.36–0.4 s, as x264's `tune=zerolatency` makes them):
    // the first segment ends at 2.0 s (TD 2). Later a keyframe 1.92 s into a segment comes
    // just before the 2 s mark and the next one, 0.4 s on, would make it 2.32 s, past the
    // target: the segment ends at the earlier keyframe, so none is cut without one.
    let mut keyframes: Vec<usize> = (0..=50).step_by(10).collect();
    for step in [9, 10, 10, 10].iter().cycle().take(60) {
        let next = keyframes.last().copied().unwrap_or(0) + step;
        keyframes.push(next);
    }
    let frames = 500;
    let input = Synth {
        keyframes: Some(keyframes.into_iter().filter(|&k| k < frames).collect()),
        ..Synth::default()
    }
    .build(frames);
    let r = run(&input, 65536, 2.0);
    assert_eq!(r.td, Some(2));
    assert!(
        r.segments.iter().all(|s| s.independent),
        "{:?}",
        secs(&r.segments)
    );
    assert!(!cut_without_keyframe(&r), "{:?}", r.warnings);
    for s in &r.segments {
        assert!(s.duration.secs() <= 2.25, "{}", s.duration.secs());
    }
    let total: f64 = r.segments.iter().map(|s| s.duration.secs()).sum();
    assert!((total - frames as f64 / 25.0).abs() < 0.001, "{total}");
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

mod config_cut;
mod parts;
mod unit_mux;
mod units;
