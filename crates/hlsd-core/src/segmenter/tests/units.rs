//! Access units: access-unit input cut like TS input, and the access units out of TS input
//! (`SegmenterConfig::access_units`) equal to the frames the stream was built from.

use super::*;
use crate::codec::CodecConfig;
use crate::synth::SynthFrame;
use std::sync::Arc;

/// A run's cuts: per segment its start, duration, flags and parts (start, duration,
/// independent).
pub(super) type Cuts = Vec<(Ts, Ts, bool, bool, Vec<(Ts, Ts, bool)>)>;

pub(super) fn cuts(r: &Run) -> Cuts {
    r.segments
        .iter()
        .map(|s| {
            let parts = s
                .parts
                .iter()
                .map(|p| (p.start, p.duration, p.independent))
                .collect();
            (s.start, s.duration, s.independent, s.discontinuity, parts)
        })
        .collect()
}

pub(super) fn run_units(s: &Synth, n: usize, seg: f64, part: f64) -> Run {
    let mut seg_ = Segmenter::new(SegmenterConfig::new(seg, None).with_parts(part, None));
    seg_.set_tracks(&s.tracks()).unwrap();
    let mut out = Run::default();
    for (i, au) in s.access_units(n).into_iter().enumerate() {
        seg_.push_access_unit(au, 1_000_000 + i as i64).unwrap();
        drain(&mut seg_, &mut out);
    }
    seg_.finish(2_000_000);
    drain(&mut seg_, &mut out);
    out
}

pub(super) fn run_ts_units(input: &[u8], chunk: usize, seg: f64, part: f64) -> Run {
    let mut cfg = SegmenterConfig::new(seg, None).with_parts(part, None);
    cfg.access_units = true;
    run_cfg(input, chunk, cfg)
}

/// Every unit of a run's segments, part by part.
pub(super) fn units(r: &Run) -> Vec<Vec<AccessUnit>> {
    r.segments
        .iter()
        .flat_map(|s| &s.parts)
        .map(|p| p.units.as_deref().expect("parts carry units").to_vec())
        .collect()
}

/// What a unit says about its frame: track, DTS, PTS, keyframe, payload (its length and
/// hash, to keep failures readable).
type Frame = (u16, i64, i64, bool, usize, u64);

fn digest(b: &[u8]) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    (b.len(), h.finish())
}

fn frame_of(u: &AccessUnit) -> Frame {
    let (len, hash) = digest(&u.data);
    (u.track, u.dts.0, u.pts.0, u.key, len, hash)
}

fn source(f: &SynthFrame) -> Frame {
    let (len, hash) = digest(&f.data);
    (f.pid.0, f.dts, f.pts, f.key, len, hash)
}

/// Each part holds the video frames that start in it, a keyframe first when it is
/// independent; video units are in decode order with no gap.
fn check_video_placement(r: &Run, what: &str) {
    for p in r.segments.iter().flat_map(|s| &s.parts) {
        let video: Vec<&AccessUnit> = p
            .units
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|u| u.track == synth::VIDEO_PID.0)
            .collect();
        assert!(!video.is_empty(), "{what}: a part without video");
        for u in &video {
            assert!(
                u.dts >= p.start && u.dts < p.start + p.duration,
                "{what}: unit at {:?} outside its part {:?}+{:?}",
                u.dts,
                p.start,
                p.duration
            );
        }
        assert_eq!(video[0].dts, p.start, "{what}: part starts at a frame");
        if p.independent {
            assert!(
                video[0].key,
                "{what}: independent part opens with a keyframe"
            );
        }
    }
}

/// Streams that exercise each cutting rule.
pub(super) fn streams() -> Vec<(&'static str, Synth, usize)> {
    vec![
        ("plain", Synth::default(), 250),
        (
            "jump forwards",
            Synth {
                keyframes: Some(vec![0, 25, 50, 60, 85, 110, 135]),
                jumps: vec![(60, 30 * 90_000)],
                ..Synth::default()
            },
            150,
        ),
        (
            "jump backwards without keyframe",
            Synth {
                jumps: vec![(60, -10 * 90_000)],
                ..Synth::default()
            },
            150,
        ),
        (
            "long GOP later",
            Synth {
                keyframes: Some(vec![0, 25, 50, 200, 225, 250]),
                ..Synth::default()
            },
            300,
        ),
        (
            "23.976 fps, irregular",
            Synth {
                frame_ticks: Some(3753.75),
                keyframes: Some(vec![0, 30, 45, 70, 120, 130, 170]),
                sei_bytes: 400,
                ..Synth::default()
            },
            200,
        ),
        (
            "audio only",
            Synth {
                frame_ticks: None,
                ..Synth::default()
            },
            500,
        ),
    ]
}

#[test]
fn access_unit_input_cuts_segments_parts_and_discontinuities() {
    let s = Synth {
        keyframes: Some(vec![0, 25, 50, 60, 85, 110, 135]),
        jumps: vec![(60, 30 * 90_000)],
        ..Synth::default()
    };
    let r = run_units(&s, 150, 2.0, 0.25);
    // As for the same stream in TS (timestamp_jump_is_a_discontinuity).
    assert_eq!(secs(&r.segments), vec![2.0, 0.4, 2.0, 1.6]);
    let disc: Vec<bool> = r.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(disc, [false, false, true, false]);
    assert!(r.segments.iter().all(|s| s.independent));
    assert_eq!(r.td, Some(2));
    assert!(
        matches!(r.warnings[..], [Warning::TimestampJump { from, to }]
            if from == Ts(90_000 + 59 * 3600) && to == Ts(90_000 + 30 * 90_000 + 60 * 3600)),
        "{:?}",
        r.warnings
    );
    // 0.25 s parts of 6 or 7 frames (PART-TARGET 7 frames), with TS bytes (`unit_mux`).
    let pt = r.pt.expect("a part target");
    assert_eq!(pt, Ts(7 * 3601));
    for (k, seg) in r.segments.iter().enumerate() {
        let mut at = seg.start;
        for p in &seg.parts {
            assert_eq!(p.start, at, "segment {k}: parts are contiguous");
            assert!(p.duration <= pt, "segment {k}: part over PART-TARGET");
            assert!(!p.data.is_empty(), "access-unit input is muxed into TS");
            at = at + p.duration;
        }
        assert_eq!(at, seg.start + seg.duration);
    }
    check_video_placement(&r, "units");
    // Every unit once, in order, video and audio as given, from the first keyframe on.
    let all: Vec<_> = units(&r).iter().flatten().map(frame_of).collect();
    let frames = s.frames(150);
    let first_key = frames
        .iter()
        .position(|f| f.key && f.pid == synth::VIDEO_PID);
    let given: Vec<_> = frames[first_key.unwrap()..].iter().map(source).collect();
    assert_eq!(all, given);
    // Parts announced are the parts of the segments, in order.
    let announced: Vec<Ts> = r.parts.iter().map(|(_, p)| p.start).collect();
    let listed: Vec<Ts> = r
        .segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| p.start))
        .collect();
    assert_eq!(announced, listed);
}

#[test]
fn access_unit_input_drops_units_before_the_first_keyframe() {
    let s = Synth {
        keyframes: Some(vec![10, 35, 60]),
        ..Synth::default()
    };
    let r = run_units(&s, 80, 1.0, 0.0);
    let all: Vec<AccessUnit> = units(&r).into_iter().flatten().collect();
    let first_video = all.iter().find(|u| u.track == synth::VIDEO_PID.0).unwrap();
    assert!(first_video.key);
    assert_eq!(first_video.dts, Ts(90_000 + 10 * 3600));
    assert!(all.iter().all(|u| u.dts >= first_video.dts));
    assert_eq!(r.segments[0].start, first_video.dts);
}

#[test]
fn access_unit_input_errors() {
    let mut s = Segmenter::new(SegmenterConfig::new(2.0, None));
    let au = Synth::default().access_units(1).remove(0);
    assert_eq!(
        s.push_access_unit(au.clone(), 0),
        Err(AccessUnitError::NoTracks)
    );
    assert_eq!(s.set_tracks(&[]), Err(AccessUnitError::NoTracks));
    s.set_tracks(&Synth::default().tracks()[..1]).unwrap();
    let audio = Synth::default()
        .access_units(2)
        .into_iter()
        .find(|u| u.track == synth::AUDIO_PID.0)
        .unwrap();
    assert_eq!(
        s.push_access_unit(audio, 0),
        Err(AccessUnitError::UnknownTrack(synth::AUDIO_PID.0))
    );
    let mut ts = Segmenter::new(SegmenterConfig::new(2.0, None));
    ts.push(&Synth::default().build(2), 0);
    assert_eq!(
        ts.set_tracks(&Synth::default().tracks()),
        Err(AccessUnitError::TsInput)
    );
    assert_eq!(ts.push_access_unit(au, 0), Err(AccessUnitError::TsInput));
}

#[test]
fn ts_and_access_unit_input_cut_alike() {
    for (what, s, n) in streams() {
        for part in [0.0, 0.25] {
            let ts = run_ts_units(&s.build(n), 65536, 2.0, part);
            let au = run_units(&s, n, 2.0, part);
            assert!(!ts.segments.is_empty(), "{what}");
            assert_eq!(cuts(&ts), cuts(&au), "{what}, parts {part}");
            assert_eq!(ts.warnings, au.warnings, "{what}, parts {part}");
            assert_eq!((ts.td, ts.pt), (au.td, au.pt), "{what}, parts {part}");
            // With the flag on, TS output is still what it was.
            let plain = run_ll(&s.build(n), 65536, 2.0, part);
            assert_eq!(cuts(&plain), cuts(&ts), "{what}, parts {part}");
            let bytes = |r: &Run| r.segments.iter().map(Segment::to_vec).collect::<Vec<_>>();
            assert_eq!(bytes(&plain), bytes(&ts), "{what}, parts {part}");
            if s.frame_ticks.is_some() {
                check_video_placement(&ts, what);
            }
        }
    }
}

#[test]
fn access_units_out_of_ts_are_the_source_frames() {
    for (what, s, n) in streams() {
        let r = run_ts_units(&s.build(n), 65536, 2.0, 0.25);
        let got: Vec<AccessUnit> = units(&r).into_iter().flatten().collect();
        let frames = s.frames(n);
        for pid in [synth::VIDEO_PID.0, synth::AUDIO_PID.0] {
            let out: Vec<_> = got
                .iter()
                .filter(|u| u.track == pid)
                .map(frame_of)
                .collect();
            let src: Vec<_> = frames
                .iter()
                .filter(|f| f.pid.0 == pid)
                .map(source)
                .collect();
            // From the first keyframe on (audio: whatever was still being gathered then).
            assert!(!out.is_empty() || src.is_empty(), "{what}: track {pid}");
            let skip = src.len() - out.len();
            assert_eq!(out, src[skip..], "{what}: track {pid}");
            if pid == synth::VIDEO_PID.0 && !src.is_empty() {
                assert!(out[0].3, "{what}: video starts at a keyframe");
                let first_key = src.iter().position(|f| f.3).unwrap();
                assert_eq!(skip, first_key, "{what}");
            }
        }
    }
}

#[test]
fn access_units_carry_the_codec_configuration() {
    let s = Synth::default();
    let r = run_ts_units(&s.build(100), 65536, 2.0, 0.25);
    let all: Vec<AccessUnit> = units(&r).into_iter().flatten().collect();
    let video: Vec<&AccessUnit> = all
        .iter()
        .filter(|u| u.track == synth::VIDEO_PID.0)
        .collect();
    let want = CodecConfig::Video {
        codec: crate::codec::VideoCodec::H264,
        vps: vec![],
        sps: vec![bytes::Bytes::from_static(synth::SPS_1280X720_HIGH)],
        pps: vec![bytes::Bytes::from_static(synth::PPS)],
    };
    let first = video[0].config.clone().expect("video config");
    assert_eq!(*first, want);
    // The same Arc throughout: the configuration never changed.
    assert!(
        video
            .iter()
            .all(|u| u.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, &first)))
    );
    let audio: Vec<&AccessUnit> = all
        .iter()
        .filter(|u| u.track == synth::AUDIO_PID.0)
        .collect();
    let Some(CodecConfig::Audio {
        sample_rate,
        channels,
        specific,
        ..
    }) = audio[0].config.as_deref()
    else {
        panic!("audio config")
    };
    // synth's ADTS header: AAC LC, 48 kHz, 2 channels.
    assert_eq!(
        (*sample_rate, *channels, &specific[..]),
        (48_000, 2, &[0x11, 0x90][..])
    );
    for u in &audio {
        assert_eq!(
            u.frames,
            Some(AudioFrames {
                count: 1,
                samples: 1024
            })
        );
        assert_eq!(u.audio_duration(), Some(Ts(1920)));
    }
}

#[test]
fn a_changed_configuration_makes_a_new_one() {
    // Two publishes' worth of video with different SPS, as access units out of TS.
    let s = Synth {
        audio: false,
        ..Synth::default()
    };
    let mut input = s.build(50);
    let other = Synth {
        audio: false,
        start: 90_000 + 50 * 3600,
        ..Synth::default()
    }
    .build(50);
    // Level 3.1 → 4.0 in the second half's SPS (byte 3 of the NAL unit).
    let at = |b: &[u8]| {
        b.windows(SPS_LEN)
            .enumerate()
            .filter(|(_, w)| *w == synth::SPS_1280X720_HIGH)
            .map(|(i, _)| i + 3)
            .collect::<Vec<_>>()
    };
    const SPS_LEN: usize = synth::SPS_1280X720_HIGH.len();
    let mut other = other;
    for i in at(&other) {
        other[i] = 0x28;
    }
    input.extend_from_slice(&other);
    let r = run_ts_units(&input, 65536, 2.0, 0.0);
    let video: Vec<AccessUnit> = units(&r).into_iter().flatten().collect();
    let configs: Vec<Arc<CodecConfig>> = video.iter().filter_map(|u| u.config.clone()).collect();
    let changes = configs
        .windows(2)
        .filter(|w| !Arc::ptr_eq(&w[0], &w[1]))
        .count();
    assert_eq!(changes, 1);
    assert_ne!(configs[0], configs[configs.len() - 1]);
}

#[test]
fn access_units_do_not_depend_on_chunking() {
    for (what, s, n) in streams() {
        let input = s.build(n);
        let want = units(&run_ts_units(&input, 65536, 2.0, 0.25));
        for chunk in [1, 7, 188, 1000] {
            assert_eq!(
                units(&run_ts_units(&input, chunk, 2.0, 0.25)),
                want,
                "{what}, chunks of {chunk}"
            );
        }
    }
}

/// Access units switched on mid-publish (`start_access_units`): parts carry none until a
/// segment starts, then every part of every later segment carries the frames that
/// access units on from the start give it; the cuts and the TS bytes do not change.
#[test]
fn access_units_started_at_run_time_begin_at_a_segment() {
    for (what, s, n) in streams() {
        let input = s.build(n);
        let from_start = run_ts_units(&input, 65536, 2.0, 0.25);
        for switch_at in [input.len() / 4, input.len() / 2, input.len() / 2 + 1077] {
            let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None));
            let mut out = Run::default();
            for (i, c) in input.chunks(1000).enumerate() {
                if i * 1000 >= switch_at && !seg.access_units() {
                    seg.start_access_units();
                }
                seg.push(c, 1_000_000 + i as i64);
                drain(&mut seg, &mut out);
            }
            seg.finish(2_000_000);
            drain(&mut seg, &mut out);
            assert_eq!(cuts(&out), cuts(&from_start), "{what} at {switch_at}");
            let first = out
                .segments
                .iter()
                .position(|s| s.parts[0].units.is_some())
                .unwrap_or_else(|| panic!("{what} at {switch_at}: units never came"));
            assert!(first > 0, "{what} at {switch_at}: not from the start");
            for (k, (got, want)) in out.segments.iter().zip(&from_start.segments).enumerate() {
                for (p, q) in got.parts.iter().zip(&want.parts) {
                    if k < first {
                        assert!(p.units.is_none(), "{what} at {switch_at}: segment {k}");
                    } else {
                        // The frames; a configuration may be learnt later than from the
                        // start (a segment cut without a keyframe after a jump).
                        let frames = |p: &Part| {
                            p.units
                                .as_deref()
                                .map(|u| u.iter().map(frame_of).collect::<Vec<_>>())
                        };
                        assert!(frames(p) == frames(q), "{what} at {switch_at}: segment {k}");
                    }
                }
            }
        }
    }
}

/// `drop_segment_units`: part events carry the units, the segments' parts no longer hold
/// them (so they are freed with the event), and nothing else changes.
#[test]
fn segments_can_drop_units_their_part_events_carried() {
    let (_, s, n) = &streams()[0];
    let input = s.build(*n);
    let kept = run_ts_units(&input, 65536, 2.0, 0.25);
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = true;
    let mut seg = Segmenter::new(cfg);
    seg.drop_segment_units();
    let mut out = Run::default();
    for (i, c) in input.chunks(65536).enumerate() {
        seg.push(c, 1_000_000 + i as i64);
        drain(&mut seg, &mut out);
    }
    seg.finish(2_000_000);
    drain(&mut seg, &mut out);
    assert_eq!(cuts(&out), cuts(&kept));
    assert!(
        out.segments
            .iter()
            .flat_map(|s| &s.parts)
            .all(|p| p.units.is_none())
    );
    let frames = |parts: &mut dyn Iterator<Item = &Part>| -> Vec<Frame> {
        parts
            .flat_map(|p| p.units.as_deref().expect("units").iter().map(frame_of))
            .collect()
    };
    assert_eq!(
        frames(&mut out.parts.iter().map(|(_, p)| p)),
        frames(&mut kept.segments.iter().flat_map(|s| s.parts.iter()))
    );
}
