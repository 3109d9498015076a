//! A codec configuration change at a keyframe inside a segment starts a new segment there,
//! whichever input brings it (access units on).

use super::units::{run_ts_units, units};
use super::*;
use crate::codec::CodecConfig;
use crate::codec::config::video_config;
use std::sync::Arc;

/// 25 fps, a keyframe every second, segments of 4 s; keyframes from frame 150 (6 s) on carry
/// another SPS, so the segment that began at frame 100 ends at 150, short.
fn changing() -> Synth {
    Synth {
        sps_change: Some(150),
        ..Synth::default()
    }
}

const FRAMES: usize = 300;

/// The decode time of frame `i` of `changing()`.
fn at(i: i64) -> Ts {
    Ts(90_000 + i * 3600)
}

/// The units of `s` with their video configuration, a new `Arc` only on a change, as a
/// caller of `push_access_unit` gives them.
fn with_configs(s: &Synth, n: usize) -> Vec<AccessUnit> {
    let mut current: Option<Arc<CodecConfig>> = None;
    s.access_units(n)
        .into_iter()
        .map(|mut u| {
            if let TrackCodec::Video(c) = u.codec {
                if let Some(c) = video_config(c, &u.data)
                    && current.as_deref() != Some(&c)
                {
                    current = Some(Arc::new(c));
                }
                u.config = current.clone();
            }
            u
        })
        .collect()
}

fn run_units_with_configs(units: Vec<AccessUnit>, s: &Synth, part: f64) -> (Run, SegmenterStats) {
    let mut seg = Segmenter::new(SegmenterConfig::new(4.0, None).with_parts(part, None));
    seg.set_tracks(&s.tracks()).unwrap();
    let mut out = Run::default();
    for (i, au) in units.into_iter().enumerate() {
        seg.push_access_unit(au, 1_000_000 + i as i64).unwrap();
        drain(&mut seg, &mut out);
    }
    seg.finish(2_000_000);
    drain(&mut seg, &mut out);
    (out, seg.stats())
}

/// Every segment's video units share one configuration, and consecutive segments'
/// configurations are those of the source.
fn check_one_config_per_segment(r: &Run, what: &str) -> Vec<Arc<CodecConfig>> {
    let mut per_segment = Vec::new();
    for (i, s) in r.segments.iter().enumerate() {
        let configs: Vec<Arc<CodecConfig>> = s
            .parts
            .iter()
            .flat_map(|p| p.units.as_deref().expect("parts carry units").iter())
            .filter(|u| matches!(u.codec, TrackCodec::Video(_)))
            .map(|u| u.config.clone().expect("video config"))
            .collect();
        let first = configs[0].clone();
        assert!(
            configs.iter().all(|c| **c == *first),
            "{what}: segment {i} mixes configurations"
        );
        per_segment.push(first);
    }
    per_segment
}

fn sps_of(c: &CodecConfig) -> &[u8] {
    match c {
        CodecConfig::Video { sps, .. } => &sps[0],
        CodecConfig::Audio { .. } => panic!("video config"),
    }
}

fn check_cut(r: &Run, what: &str) {
    let starts: Vec<Ts> = r.segments.iter().map(|s| s.start).collect();
    assert_eq!(starts, vec![at(0), at(100), at(150), at(250)], "{what}");
    let s = &r.segments[2];
    assert!(s.independent && !s.discontinuity, "{what}");
    assert_eq!(r.segments[1].duration, at(150) - at(100), "{what}");
    assert!(!cut_without_keyframe(r), "{what}: {:?}", r.warnings);
    let configs = check_one_config_per_segment(r, what);
    let sps: Vec<&[u8]> = configs.iter().map(|c| sps_of(c)).collect();
    assert_eq!(
        sps,
        vec![
            synth::SPS_1280X720_HIGH,
            synth::SPS_1280X720_HIGH,
            synth::SPS_1280X720_HIGH_L40,
            synth::SPS_1280X720_HIGH_L40
        ],
        "{what}"
    );
    // Every unit once, in order, across the cut.
    let all: Vec<(u16, Ts)> = units(r)
        .into_iter()
        .flatten()
        .map(|u| (u.track, u.dts))
        .collect();
    let mut video: Vec<Ts> = all
        .iter()
        .filter(|(t, _)| *t == synth::VIDEO_PID.0)
        .map(|(_, d)| *d)
        .collect();
    let n = video.len();
    video.dedup();
    assert_eq!(video.len(), n, "{what}: a unit twice");
    assert_eq!(
        video,
        (0..FRAMES as i64).map(at).collect::<Vec<_>>(),
        "{what}"
    );
    // The part events announced exactly the segments' parts.
    let announced: Vec<Ts> = r.parts.iter().map(|(_, p)| p.start).collect();
    let listed: Vec<Ts> = r
        .segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| p.start))
        .collect();
    assert_eq!(announced, listed, "{what}");
    // The new configuration was announced before the segment it ends, after every part of
    // it but the last when parts are not LL-HLS ones (a segment's only part comes with it).
    let parts_before: usize = r.segments[..2].iter().map(|s| s.parts.len()).sum();
    let announced = parts_before - usize::from(r.pt.is_none());
    assert_eq!(r.new_configurations, vec![(1, announced)], "{what}");
    for s in &r.segments {
        assert_starts_with_psi_and_key(s);
    }
}

#[test]
fn access_unit_input_cuts_where_the_sps_changes() {
    let s = changing();
    for part in [0.0, 0.25] {
        let (r, stats) = run_units_with_configs(with_configs(&s, FRAMES), &s, part);
        check_cut(&r, &format!("units, part {part}"));
        assert_eq!(stats.config_cuts, 1);
    }
}

#[test]
fn ts_input_with_access_units_cuts_where_the_sps_changes() {
    let s = changing();
    let input = s.build(FRAMES);
    for part in [0.0, 0.25] {
        for chunk in [188, 1316, 65536] {
            let r = run_ts_units(&input, chunk, 4.0, part);
            check_cut(&r, &format!("TS, part {part}, chunk {chunk}"));
            assert_eq!(
                served_media(&r.segments),
                expected_media(&input),
                "part {part}, chunk {chunk}"
            );
        }
    }
}

#[test]
fn ts_input_without_access_units_is_not_cut_for_a_configuration() {
    let input = changing().build(FRAMES);
    let r = run(&input, 1316, 4.0);
    let starts: Vec<Ts> = r.segments.iter().map(|s| s.start).collect();
    assert_eq!(starts, vec![at(0), at(100), at(200)]);
}

#[test]
fn an_unchanged_configuration_in_a_new_arc_does_not_cut() {
    // A caller that makes a new Arc per keyframe with the same contents.
    let s = Synth::default();
    let units: Vec<AccessUnit> = s
        .access_units(FRAMES)
        .into_iter()
        .map(|mut u| {
            if let TrackCodec::Video(c) = u.codec {
                u.config = video_config(c, &u.data).map(Arc::new);
            }
            u
        })
        .collect();
    let (r, stats) = run_units_with_configs(units, &s, 0.25);
    let starts: Vec<Ts> = r.segments.iter().map(|s| s.start).collect();
    assert_eq!(starts, vec![at(0), at(100), at(200)]);
    assert_eq!(stats.config_cuts, 0);
    assert!(r.new_configurations.is_empty());
}

#[test]
fn an_audio_configuration_change_cuts_at_the_next_frame() {
    let s = Synth::default();
    let mut input = with_configs(&s, FRAMES);
    let audio_config = |rate: u32| {
        Arc::new(CodecConfig::Audio {
            codec: crate::codec::AudioCodec::Aac,
            sample_rate: rate,
            channels: 2,
            specific: bytes::Bytes::from_static(&[0x11, 0x90]),
        })
    };
    let (before, after) = (audio_config(48_000), audio_config(44_100));
    // The audio changes at 5.5 s: the next keyframe is frame 150 (6 s).
    for u in &mut input {
        if u.track == synth::AUDIO_PID.0 {
            u.config = Some(if u.dts < Ts(90_000 + 5 * 90_000 + 45_000) {
                before.clone()
            } else {
                after.clone()
            });
        }
    }
    let (r, stats) = run_units_with_configs(input, &s, 0.25);
    let starts: Vec<Ts> = r.segments.iter().map(|s| s.start).collect();
    // The frame after the first changed audio unit (5.5 s) is frame 138: a segment starts
    // there, not independent, and the next keyframe (150) starts one again, so no segment
    // outgrows the target.
    assert_eq!(starts, vec![at(0), at(100), at(138), at(150), at(250)]);
    let independent: Vec<bool> = r.segments.iter().map(|s| s.independent).collect();
    assert_eq!(independent, [true, true, false, true, true]);
    assert!(!cut_without_keyframe(&r), "{:?}", r.warnings);
    assert_eq!(stats.config_cuts, 1);
    // Each segment's audio has one configuration: none of the new one before the cut.
    let audio: Vec<Vec<Arc<CodecConfig>>> = r
        .segments
        .iter()
        .map(|s| {
            s.parts
                .iter()
                .flat_map(|p| p.units.as_deref().expect("units").iter())
                .filter(|u| u.track == synth::AUDIO_PID.0)
                .map(|u| u.config.clone().expect("a configuration"))
                .collect()
        })
        .collect();
    for (i, a) in audio.iter().enumerate() {
        let want = if i < 2 { &before } else { &after };
        assert!(!a.is_empty() && a.iter().all(|c| c == want), "segment {i}");
    }
    // Every audio unit once, in order, across the cut.
    let dts: Vec<Ts> = units(&r)
        .into_iter()
        .flatten()
        .filter(|u| u.track == synth::AUDIO_PID.0)
        .map(|u| u.dts)
        .collect();
    let want: Vec<Ts> = with_configs(&s, FRAMES)
        .into_iter()
        .filter(|u| u.track == synth::AUDIO_PID.0)
        .map(|u| u.dts)
        .collect();
    // (The one pushed before the first keyframe is dropped.)
    assert_eq!(dts.len() + 1, want.len());
    assert_eq!(dts[..], want[1..]);
    // Announced before the segment it ends, whose last part comes with it (the cut is at
    // a frame that starts no part of its own).
    let parts_before: usize = r.segments[..2].iter().map(|s| s.parts.len()).sum();
    assert_eq!(r.new_configurations, vec![(1, parts_before - 1)]);
}

#[test]
fn an_audio_timeline_is_cut_at_the_frame_that_changes_configuration() {
    // Audio only: every PES (1920 ticks) is a keyframe; segments of 4 s.
    let s = Synth {
        frame_ticks: None,
        ..Synth::default()
    };
    let config = |rate: u32| {
        Arc::new(CodecConfig::Audio {
            codec: crate::codec::AudioCodec::Aac,
            sample_rate: rate,
            channels: 2,
            specific: bytes::Bytes::from_static(&[0x11, 0x90]),
        })
    };
    let (before, after) = (config(48_000), config(44_100));
    let mut units = s.access_units(400);
    for (i, u) in units.iter_mut().enumerate() {
        u.config = Some(if i < 250 {
            before.clone()
        } else {
            after.clone()
        });
    }
    let (r, stats) = run_units_with_configs(units, &s, 0.0);
    let pes = |i: i64| Ts(90_000 + i * 1920);
    let starts: Vec<Ts> = r.segments.iter().map(|s| s.start).collect();
    // 4 s is 187.5 PES: the first cut at PES 187 (half a frame of tolerance), then at the
    // change (250).
    assert_eq!(starts, vec![pes(0), pes(187), pes(250)]);
    assert_eq!(stats.config_cuts, 1);
    assert_eq!(r.new_configurations, vec![(1, 1)]);
}
