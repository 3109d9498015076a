//! The packager on access units built in code, its output read back with mp4-atom.

mod codecs;

use super::*;
use crate::codec::config::{audio_config, nal_units, video_config};
use crate::codec::{AudioCodec, CodecConfig, VideoCodec};
use crate::segmenter::{
    AccessUnit, AudioFrames, Event, Part, PartBytes, Segment, Segmenter, SegmenterConfig, Track,
    TrackCodec,
};
use crate::synth::{self, Synth};
use crate::ts::Ts;
use bytes::Bytes;
use mp4_atom::{Any, Codec, Decode, Moof, Moov};
use std::collections::HashMap;
use std::sync::Arc;

/// The segments of a synthetic stream cut with access units on (0.25 s parts, 2 s segments).
fn segments(s: &Synth, n: usize) -> Vec<Segment> {
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = true;
    let mut seg = Segmenter::new(cfg);
    let mut out = Vec::new();
    let mut drain = |seg: &mut Segmenter| {
        while let Some(ev) = seg.poll_event() {
            if let Event::Segment(s) = ev {
                out.push(s);
            }
        }
    };
    seg.push(&s.build(n), 0);
    drain(&mut seg);
    seg.finish(0);
    drain(&mut seg);
    out
}

fn all_units(segments: &[Segment]) -> Vec<AccessUnit> {
    segments
        .iter()
        .flat_map(|s| &s.parts)
        .flat_map(|p| p.units.as_deref().unwrap().to_vec())
        .collect()
}

fn origin_of(segments: &[Segment]) -> Ts {
    all_units(segments).iter().map(|u| u.dts).min().unwrap()
}

/// One sample read back: track, decode time, duration, composition offset, flags, bytes.
#[derive(Debug, Clone)]
struct Read {
    track: u32,
    decode_time: u64,
    duration: u32,
    cts: i64,
    flags: u32,
    data: Vec<u8>,
}

/// A fragment's moof and its samples, resolved against tfhd defaults; checks the layout
/// (moof, then an mdat whose header is right, every sample inside it).
fn read_fragment(data: &[u8]) -> (Moof, Vec<Read>) {
    let mut rest = data;
    let moof = Moof::decode(&mut rest).expect("a moof");
    let moof_len = data.len() - rest.len();
    let mdat_len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
    assert_eq!(&rest[4..8], b"mdat");
    assert_eq!(mdat_len, rest.len(), "mdat is the rest of the fragment");
    let mut out = Vec::new();
    for traf in &moof.traf {
        let dflags = traf.tfhd.default_sample_flags.unwrap_or(0);
        assert!(traf.tfhd.default_base_is_moof);
        let mut t = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time;
        for trun in &traf.trun {
            let mut at = trun.data_offset.expect("data offset") as usize;
            assert!(at >= moof_len + 8);
            for e in trun.samples.iter() {
                let size = e.size.expect("size") as usize;
                let duration = e.duration.expect("duration");
                out.push(Read {
                    track: traf.tfhd.track_id,
                    decode_time: t,
                    duration,
                    cts: e.cts.unwrap_or(0),
                    flags: e.flags.unwrap_or(dflags),
                    data: data[at..at + size].to_vec(),
                });
                at += size;
                t += u64::from(duration);
            }
        }
    }
    (moof, out)
}

fn read_init(data: &[u8]) -> Moov {
    let mut rest = data;
    let Any::Ftyp(ftyp) = Any::decode(&mut rest).unwrap() else {
        panic!("no ftyp first")
    };
    assert_eq!(ftyp.major_brand, b"iso5".into());
    let moov = Moov::decode(&mut rest).expect("moov");
    assert!(rest.is_empty());
    moov
}

/// Length-prefixed NAL units of a sample.
fn nals(mut sample: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !sample.is_empty() {
        let len = u32::from_be_bytes(sample[..4].try_into().unwrap()) as usize;
        out.push(sample[4..4 + len].to_vec());
        sample = &sample[4 + len..];
    }
    out
}

/// Every part of the segments packaged in order.
fn package(segments: &[Segment], tracks: &[Track]) -> (Packager, Vec<Fragment>) {
    let mut p = Packager::new(tracks, origin_of(segments));
    let frags = segments
        .iter()
        .flat_map(|s| &s.parts)
        .enumerate()
        .map(|(i, part)| p.fragment(part, i as u32 + 1).expect("a fragment"))
        .collect();
    (p, frags)
}

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

#[test]
fn init_of_h264_and_aac() {
    let s = Synth::default();
    let segs = segments(&s, 60);
    let (p, frags) = package(&segs, &s.tracks());
    let init = p.init().expect("an init");
    assert_eq!(init.number, 0);
    assert!(frags[0].new_init && !frags[1].new_init);
    let moov = read_init(&init.data);
    assert_eq!(moov.trak.len(), 2);
    assert_eq!(moov.mvex.as_ref().unwrap().trex.len(), 2);
    let v = &moov.trak[0];
    assert_eq!(v.tkhd.track_id, VIDEO);
    assert!(v.edts.is_none(), "no edit list");
    assert_eq!(v.mdia.mdhd.timescale, 90_000);
    assert_eq!(v.mdia.minf.dinf.dref.entries.len(), 1);
    let Codec::Avc1(avc1) = &v.mdia.minf.stbl.stsd.codecs[0] else {
        panic!("not avc1")
    };
    assert_eq!(avc1.visual.data_reference_index, 1);
    assert_eq!((avc1.visual.width, avc1.visual.height), (1280, 720));
    assert_eq!(avc1.avcc.avc_profile_indication, 100);
    assert_eq!(avc1.avcc.avc_level_indication, 31);
    assert_eq!(
        avc1.avcc.sequence_parameter_sets,
        [synth::SPS_1280X720_HIGH]
    );
    assert_eq!(avc1.avcc.picture_parameter_sets, [synth::PPS]);
    let ext = avc1.avcc.ext.as_ref().expect("High profile fields");
    assert_eq!(
        (ext.chroma_format, ext.bit_depth_luma, ext.bit_depth_chroma),
        (1, 8, 8)
    );
    let a = &moov.trak[1];
    assert_eq!(a.tkhd.track_id, AUDIO);
    assert!(a.edts.is_none());
    assert_eq!(a.mdia.mdhd.timescale, 48_000);
    let Codec::Mp4a(mp4a) = &a.mdia.minf.stbl.stsd.codecs[0] else {
        panic!("not mp4a")
    };
    assert_eq!(mp4a.audio.data_reference_index, 1);
    assert_eq!(mp4a.audio.channel_count, 2);
    let dc = &mp4a.esds.es_desc.dec_config;
    assert_eq!(dc.object_type_indication, 0x40);
    // The synthetic ADTS header: AAC LC, 48 kHz (index 3), 2 channels.
    assert_eq!(dc.dec_specific.as_ref().unwrap().raw, [0x11, 0x90]);
}

/// Per track: the samples of every fragment, and the source units in the parts.
#[test]
fn fragments_follow_the_source_part_by_part() {
    let s = Synth {
        sei_bytes: 40,
        ..Synth::default()
    };
    let segs = segments(&s, 150);
    let origin = origin_of(&segs);
    let (_, frags) = package(&segs, &s.tracks());
    let parts: Vec<&Part> = segs.iter().flat_map(|x| &x.parts).collect();
    assert!(parts.len() > 20);
    let mut next: HashMap<u32, u64> = HashMap::new();
    let mut seg_video = vec![0u64; segs.len()];
    let mut part_of_seg = Vec::new();
    for (k, seg) in segs.iter().enumerate() {
        part_of_seg.extend(std::iter::repeat_n(k, seg.parts.len()));
    }
    for (i, (part, frag)) in parts.iter().zip(&frags).enumerate() {
        let (moof, samples) = read_fragment(&frag.data);
        assert_eq!(moof.mfhd.sequence_number, i as u32 + 1);
        // tfdt continuity: each traf starts where the track's previous one ended.
        for traf in &moof.traf {
            let t = traf.tfdt.as_ref().unwrap().base_media_decode_time;
            if let Some(&n) = next.get(&traf.tfhd.track_id) {
                assert_eq!(t, n, "part {i}: track {} tfdt", traf.tfhd.track_id);
            }
            let dur: u64 = traf.trun[0]
                .samples
                .iter()
                .map(|e| u64::from(e.duration.unwrap()))
                .sum();
            next.insert(traf.tfhd.track_id, t + dur);
        }
        let units = part.units.as_deref().unwrap();
        let video: Vec<&AccessUnit> = units.iter().filter(|u| u.track == 0x100).collect();
        let vs: Vec<&Read> = samples.iter().filter(|r| r.track == VIDEO).collect();
        assert_eq!(vs.len(), video.len(), "part {i}: one sample per frame");
        // Video durations add up to the part's; it starts at the part's start.
        let total: u64 = vs.iter().map(|r| u64::from(r.duration)).sum();
        assert_eq!(total, part.duration.0 as u64, "part {i}: durations");
        assert_eq!(vs[0].decode_time, (part.start - origin).0 as u64);
        seg_video[part_of_seg[i]] += total;
        for (r, u) in vs.iter().zip(&video) {
            assert_eq!(r.decode_time, (u.dts - origin).0 as u64, "part {i}: DTS");
            assert_eq!(r.cts, (u.pts - u.dts).0, "part {i}: PTS − DTS");
            assert_eq!(r.flags == SYNC_SAMPLE, u.key, "part {i}: sync flag");
            assert_eq!(r.flags == NON_SYNC_SAMPLE, !u.key);
            // The NAL units of the frame, less the AUD, SPS and PPS.
            let want: Vec<Vec<u8>> = nal_units(&u.data)
                .filter(|n| !matches!(n[0] & 0x1F, 7..=9))
                .map(<[u8]>::to_vec)
                .collect();
            assert_eq!(want.len(), 2, "SEI and slice");
            assert_eq!(nals(&r.data), want, "part {i}: NAL units");
        }
        assert_eq!(vs[0].flags == SYNC_SAMPLE, part.independent);
        // Audio: one sample per ADTS frame, its raw frame, 1024 samples each.
        let audio: Vec<&AccessUnit> = units.iter().filter(|u| u.track == 0x101).collect();
        let aus: Vec<&Read> = samples.iter().filter(|r| r.track == AUDIO).collect();
        assert_eq!(aus.len(), audio.len());
        for (r, u) in aus.iter().zip(&audio) {
            assert_eq!(r.data, u.data[7..]);
            assert_eq!(r.duration, 1024);
            assert_eq!(r.flags, SYNC_SAMPLE);
            // At 48 kHz, 1024 samples are exactly 1920 ticks: the decode time is the DTS.
            assert_eq!(r.decode_time, ((u.dts - origin).0 * 48_000 / 90_000) as u64);
        }
    }
    // Segment to segment: video durations add up to each segment's.
    for (k, seg) in segs.iter().enumerate() {
        assert_eq!(seg_video[k], seg.duration.0 as u64, "segment {k}");
    }
}

#[test]
fn pieces_are_the_same_bytes() {
    let s = Synth::default();
    let segs = segments(&s, 60);
    let origin = origin_of(&segs);
    let (mut a, mut b) = (
        Packager::new(&s.tracks(), origin),
        Packager::new(&s.tracks(), origin),
    );
    for (i, part) in segs.iter().flat_map(|x| &x.parts).enumerate() {
        let one = a.fragment(part, i as u32).unwrap();
        let pieces = b.fragment_pieces(part, i as u32).unwrap();
        assert_eq!(pieces.data.to_vec(), one.data.to_vec());
        assert!(pieces.data.pieces().len() > 2);
        assert_eq!(
            (pieces.init_number, pieces.new_init),
            (one.init_number, one.new_init)
        );
    }
}

#[test]
fn a_timestamp_jump_restarts_decode_times() {
    let s = Synth {
        keyframes: Some(vec![0, 25, 50, 60, 85, 110, 135]),
        jumps: vec![(60, 30 * 90_000)],
        ..Synth::default()
    };
    let segs = segments(&s, 150);
    assert!(segs.iter().any(|x| x.discontinuity));
    let origin = origin_of(&segs);
    let (_, frags) = package(&segs, &s.tracks());
    let parts: Vec<&Part> = segs.iter().flat_map(|x| &x.parts).collect();
    let mut jumps = 0;
    let mut next: Option<u64> = None;
    for (part, frag) in parts.iter().zip(&frags) {
        let (_, samples) = read_fragment(&frag.data);
        let v: Vec<&Read> = samples.iter().filter(|r| r.track == VIDEO).collect();
        // Every video sample at its own DTS, across the jump too.
        let units: Vec<&AccessUnit> = part
            .units
            .as_deref()
            .unwrap()
            .iter()
            .filter(|u| u.track == 0x100)
            .collect();
        for (r, u) in v.iter().zip(&units) {
            assert_eq!(r.decode_time, (u.dts - origin).0 as u64);
        }
        if next.is_some_and(|n| n != v[0].decode_time) {
            jumps += 1;
        }
        next = v.last().map(|r| r.decode_time + u64::from(r.duration));
    }
    assert_eq!(jumps, 1);
}

/// A part made by hand from units.
fn part(start: i64, duration: i64, units: Vec<AccessUnit>) -> Part {
    Part {
        data: PartBytes::from(Vec::new()),
        start: Ts(start),
        duration: Ts(duration),
        independent: true,
        units: Some(Arc::from(units)),
        configs: None,
    }
}

fn with_config(mut u: AccessUnit, c: &Arc<CodecConfig>) -> AccessUnit {
    u.config = Some(c.clone());
    u
}

#[test]
fn a_configuration_change_makes_a_new_init() {
    let s = Synth {
        audio: false,
        gop: 2,
        ..Synth::default()
    };
    let tracks = s.tracks();
    let units = s.access_units(6);
    let config = Arc::new(video_config(VideoCodec::H264, &units[0].data).unwrap());
    let same = Arc::new((*config).clone());
    let mut other = (*config).clone();
    if let CodecConfig::Video { pps, .. } = &mut other {
        pps[0] = Bytes::from_static(&[0x68, 0xEE, 0x3C, 0x80]);
    }
    let other = Arc::new(other);
    let mut p = Packager::new(&tracks, Ts(90_000));
    let part_at = |i: usize, c: &Arc<CodecConfig>| {
        let u = vec![
            with_config(units[i].clone(), c),
            with_config(units[i + 1].clone(), c),
        ];
        part(units[i].dts.0, 7200, u)
    };
    let f0 = p.fragment(&part_at(0, &config), 1).unwrap();
    let init0 = p.init().unwrap().clone();
    // Equal contents in a new Arc: the same init.
    let f1 = p.fragment(&part_at(2, &same), 2).unwrap();
    assert_eq!(p.init(), Some(&init0));
    let f2 = p.fragment(&part_at(4, &other), 3).unwrap();
    let init1 = p.init().unwrap().clone();
    let got: Vec<(u32, bool)> = [&f0, &f1, &f2]
        .iter()
        .map(|f| (f.init_number, f.new_init))
        .collect();
    assert_eq!(got, [(0, true), (0, false), (1, true)]);
    assert_eq!(init1.number, 1);
    let Codec::Avc1(avc1) = &read_init(&init1.data).trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("avc1")
    };
    assert_eq!(avc1.avcc.picture_parameter_sets, [[0x68, 0xEE, 0x3C, 0x80]]);
    // The decode times go on across the new init.
    let (_, s2) = read_fragment(&f2.data);
    assert_eq!(s2[0].decode_time, 4 * 3600);
}

#[test]
fn errors_not_panics() {
    let s = Synth::default();
    let tracks = s.tracks();
    let units = s.access_units(3);
    let mut p = Packager::new(&tracks, Ts(0));
    let no_units = Part {
        units: None,
        ..part(0, 3600, vec![])
    };
    assert!(matches!(p.fragment(&no_units, 1), Err(Fmp4Error::NoUnits)));
    // Synth units carry no configuration.
    assert!(matches!(
        p.fragment(&part(0, 3600, units.clone()), 1),
        Err(Fmp4Error::NoConfig)
    ));
    // A bad SPS: an error, and no init.
    let bad = Arc::new(CodecConfig::Video {
        codec: VideoCodec::H264,
        vps: vec![],
        sps: vec![Bytes::from_static(&[0x67, 0x64, 0x00])],
        pps: vec![],
    });
    let u = with_config(units[1].clone(), &bad);
    assert!(matches!(
        p.fragment(&part(0, 3600, vec![u.clone()]), 1),
        Err(Fmp4Error::Sps { .. })
    ));
    assert!(p.init().is_none());
    // Before the origin: the first sample decodes at 0, the origin stays.
    let good = Arc::new(video_config(VideoCodec::H264, &units[1].data).unwrap());
    let mut p = Packager::new(&tracks, Ts(10_000_000));
    let u = with_config(units[1].clone(), &good);
    let f = p
        .fragment(&part(u.dts.0, 3600, vec![u.clone()]), 1)
        .unwrap();
    assert_eq!(read_fragment(&f.data).1[0].decode_time, 0);
    assert_eq!(p.origin(), Ts(10_000_000));
}

/// Timestamps that jump back past the session's start: the tracks go on where they were,
/// video and audio keeping their distance.
#[test]
fn a_jump_back_before_the_origin_goes_on() {
    let s = Synth {
        keyframes: Some(vec![0, 25, 50, 75]),
        jumps: vec![(50, -10 * 90_000)],
        start: 5 * 90_000,
        ..Synth::default()
    };
    let segs = segments(&s, 100);
    let first: Vec<AccessUnit> = segs[0].parts[0].units.as_deref().unwrap().to_vec();
    let origin = first.iter().map(|u| u.dts).min().unwrap();
    let mut p = Packager::new(&s.tracks(), origin);
    let mut next: HashMap<u32, u64> = HashMap::new();
    let mut gap_at_jump = None;
    for (i, part) in segs.iter().flat_map(|x| &x.parts).enumerate() {
        let f = p.fragment(part, i as u32).expect("no part fails");
        let (moof, samples) = read_fragment(&f.data);
        for traf in &moof.traf {
            let t = traf.tfdt.as_ref().unwrap().base_media_decode_time;
            if let Some(&n) = next.get(&traf.tfhd.track_id) {
                assert!(t >= n, "part {i}: track {} goes back", traf.tfhd.track_id);
                if traf.tfhd.track_id == VIDEO && t != n {
                    gap_at_jump = Some(t - n);
                }
            }
        }
        for r in &samples {
            next.insert(r.track, r.decode_time + u64::from(r.duration));
        }
    }
    // Video goes on right where it ended.
    assert_eq!(gap_at_jump, None);
}

#[test]
fn the_first_init_waits_for_every_track() {
    let s = Synth::default();
    let tracks = s.tracks();
    let units = s.access_units(100);
    let (video, audio): (Vec<AccessUnit>, Vec<AccessUnit>) =
        units.into_iter().partition(|u| u.track == 0x100);
    let vc = Arc::new(video_config(VideoCodec::H264, &video[0].data).unwrap());
    let ac = Arc::new(audio_config(AudioCodec::Aac, &audio[0].data).unwrap());
    let video: Vec<AccessUnit> = video.into_iter().map(|u| with_config(u, &vc)).collect();
    let audio: Vec<AccessUnit> = audio.into_iter().map(|u| with_config(u, &ac)).collect();
    let origin = video[0].dts;
    // 0.2 s parts of video (5 frames); audio only from the second part on.
    let part_of = |i: usize, with_audio: bool| {
        let mut u = video[5 * i..5 * i + 5].to_vec();
        if with_audio {
            u.extend(audio[10 * i..10 * i + 10].iter().cloned());
        }
        part(video[5 * i].dts.0, 5 * 3600, u)
    };
    let mut p = Packager::new(&tracks, origin);
    let f0 = p.fragment(&part_of(0, false), 1).unwrap();
    assert_eq!((f0.init_number, f0.new_init), (0, true));
    assert!(
        p.init().is_none(),
        "the audio track's configuration is awaited"
    );
    let f1 = p.fragment(&part_of(1, true), 2).unwrap();
    assert_eq!((f1.init_number, f1.new_init), (0, false));
    let init = p.init().expect("every track known");
    assert_eq!(init.number, 0);
    assert_eq!(read_init(&init.data).trak.len(), 2);
    // The first fragment's video is track 1 of that init.
    let (moof, _) = read_fragment(&f0.data);
    assert_eq!(moof.traf.len(), 1);
    assert_eq!(moof.traf[0].tfhd.track_id, VIDEO);
    // A declared track that never comes: the init goes without it after FIRST_INIT_WAIT.
    let mut p = Packager::new(&tracks, origin);
    for i in 0..12 {
        p.fragment(&part_of(i, false), i as u32).unwrap();
        let waited = Ts(5 * 3600 * (i as i64 + 1));
        assert_eq!(p.init().is_some(), waited >= FIRST_INIT_WAIT, "part {i}");
    }
    assert_eq!(read_init(&p.init().unwrap().data).trak.len(), 1);
    // When it comes after all, a new init holds it.
    let f = p.fragment(&part_of(12, true), 13).unwrap();
    assert_eq!((f.init_number, f.new_init), (1, true));
    assert_eq!(read_init(&p.init().unwrap().data).trak.len(), 2);
}

/// Audio that stops for a while inside a part: a second run (traf) of the track at the
/// DTS it resumes at; jitter under half a frame keeps one run.
#[test]
fn an_audio_gap_inside_a_part_starts_another_run() {
    let s = Synth {
        frame_ticks: None,
        ..Synth::default()
    };
    let tracks = s.tracks();
    let mut units = s.access_units(12);
    let c = Arc::new(audio_config(AudioCodec::Aac, &units[0].data).unwrap());
    for (i, u) in units.iter_mut().enumerate() {
        u.config = Some(c.clone());
        // 10 frames lost after the 6th; the 3rd is 100 ticks late (jitter).
        u.dts.0 += if i >= 6 { 10 * 1920 } else { 0 } + if i == 2 { 100 } else { 0 };
    }
    let origin = units[0].dts;
    let mut p = Packager::new(&tracks, origin);
    let f = p.fragment(&part(origin.0, 30_000, units), 1).unwrap();
    let (moof, samples) = read_fragment(&f.data);
    let tfdts: Vec<u64> = moof
        .traf
        .iter()
        .map(|t| t.tfdt.as_ref().unwrap().base_media_decode_time)
        .collect();
    assert_eq!(tfdts, [0, 16 * 1024]);
    assert_eq!(samples.len(), 12);
    assert_eq!(samples[6].decode_time, 16 * 1024);
}

/// Garbage payloads and wild timestamps from a publisher: errors or fragments, never a
/// panic, and what comes out still reads back.
#[test]
fn garbage_never_panics() {
    let s = Synth::default();
    let tracks = s.tracks();
    let good = s.access_units(4);
    let vc = Arc::new(video_config(VideoCodec::H264, &good[1].data).unwrap());
    let ac = Arc::new(audio_config(AudioCodec::Aac, &good[0].data).unwrap());
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut p = Packager::new(&tracks, Ts(0));
    for i in 0..300u32 {
        let mut units = Vec::new();
        for _ in 0..rand() % 8 {
            let video = rand() % 2 == 0;
            let len = (rand() % 600) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
            // Sprinkle start codes and sync words so the parsers go deep.
            for _ in 0..rand() % 6 {
                if len > 8 {
                    let at = (rand() as usize) % (len - 4);
                    let pat: &[u8] = match rand() % 4 {
                        0 => &[0, 0, 1],
                        1 => &[0xFF, 0xF1],
                        2 => &[0, 0, 0, 1],
                        _ => &[0xFF, 0xF9, 0x4C],
                    };
                    data[at..at + pat.len()].copy_from_slice(pat);
                }
            }
            let dts = (rand() % (1 << 40)) as i64 - (1 << 39);
            units.push(AccessUnit {
                track: if video { 0x100 } else { 0x101 },
                codec: if video {
                    TrackCodec::Video(VideoCodec::H264)
                } else {
                    TrackCodec::Audio(AudioCodec::Aac)
                },
                dts: Ts(dts),
                pts: Ts(dts + (rand() % (1 << 34)) as i64 - (1 << 33)),
                key: rand() % 3 == 0,
                data: Bytes::from(data),
                frames: None,
                config: Some(if video { vc.clone() } else { ac.clone() }),
            });
        }
        let start = (rand() % (1 << 40)) as i64 - (1 << 39);
        let duration = (rand() % 200_000) as i64 - 1000;
        if let Ok(f) = p.fragment(&part(start, duration, units), i) {
            let mut rest = &f.data[..];
            Moof::decode(&mut rest).expect("a moof that reads back");
        }
    }
}
