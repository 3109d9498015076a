//! LL-HLS parts: PART-TARGET, part sizes and plans, independence (§4.4.4.9).

use super::*;

/// Checks the LL-HLS part rules (§4.4.4.9) on a run.
fn check_parts(r: &Run, what: &str) {
    check_parts_from(r, what, 0)
}

/// Like [`check_parts`], with the 85 % rule checked from segment `from` on.
fn check_parts_from(r: &Run, what: &str, from: usize) {
    let pt = r.pt.unwrap_or_else(|| panic!("{what}: no part target"));
    let mut announced = r.parts.iter().zip(&r.ends);
    for (k, seg) in r.segments.iter().enumerate() {
        let n = seg.parts.len();
        let mut at = seg.start;
        for (i, p) in seg.parts.iter().enumerate() {
            let ((index, ann), ends) = announced
                .next()
                .unwrap_or_else(|| panic!("{what}: part not announced"));
            assert_eq!(
                (*index, ann.start, *ends),
                (i, p.start, i == n - 1),
                "{what}: announcement order, the last part ending its segment"
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

/// A segment's last part is announced the moment the keyframe opening the next segment
/// starts, together with the segment (`PartEvent::ends_segment`, then `Event::Segment`,
/// which `drain` checks); no other part says it ends its segment. Fed one frame per chunk,
/// as a paced publisher sends, every part is announced in a push of its own.
#[test]
fn a_segments_last_part_comes_with_the_segment() {
    let input = Synth::default().build(25 * 6 + 3);
    for chunks in [synth::frame_chunks(&input), input.chunks(1316).collect()] {
        let mut s = Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None));
        let mut out = Run::default();
        for (i, c) in chunks.iter().enumerate() {
            s.push(c, 1_000_000 + i as i64);
            drain(&mut s, &mut out);
        }
        s.finish(2_000_000);
        drain(&mut s, &mut out);
        assert_eq!(out.segments.len(), 4);
        let ends = out.ends.iter().filter(|e| **e).count();
        assert_eq!(ends, out.segments.len());
        // The first GOP, of unknown length, may leave a short part.
        check_parts_from(&out, "one frame per chunk", 1);
    }
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
