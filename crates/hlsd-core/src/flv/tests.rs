use super::*;

/// SPS and PPS of a 320x240 High profile encode (x264).
const SPS: [u8; 4] = [0x67, 0x64, 0x00, 0x0D];
const PPS: [u8; 4] = [0x68, 0xEE, 0x3C, 0xB0];

fn avc_seq() -> Bytes {
    let mut b = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x0D, 0xFF, 0xE1, 0, 4];
    b.extend_from_slice(&SPS);
    b.extend_from_slice(&[1, 0, 4]);
    b.extend_from_slice(&PPS);
    Bytes::from(b)
}

fn nalu(key: bool, cts: i32, nals: &[&[u8]]) -> Bytes {
    let c = cts.to_be_bytes();
    let mut b = vec![if key { 0x17 } else { 0x27 }, 1, c[1], c[2], c[3]];
    for n in nals {
        b.extend_from_slice(&(n.len() as u32).to_be_bytes());
        b.extend_from_slice(n);
    }
    Bytes::from(b)
}

fn aac_seq() -> Bytes {
    // AAC LC, 48 kHz, stereo.
    Bytes::from_static(&[0xAF, 0, 0x11, 0x90])
}

#[test]
fn video_units_carry_annex_b_times_and_the_tracks_first() {
    let mut d = FlvDemux::new();
    assert!(d.video(0, &avc_seq()).unwrap().unit.is_none());
    assert!(d.audio(0, &aac_seq()).unwrap().unit.is_none());
    let out = d
        .video(1000, &nalu(true, 80, &[&[0x65, 1, 2], &[]]))
        .unwrap();
    let tracks = out.tracks.expect("tracks before the first unit");
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].id, UNIT_FIRST_PID);
    assert_eq!(tracks[1].codec, TrackCodec::Audio(AudioCodec::Aac));
    let u = out.unit.unwrap();
    assert_eq!(u.data.as_ref(), &[0, 0, 0, 1, 0x65, 1, 2]);
    assert_eq!((u.dts, u.pts, u.key), (Ts(90_000), Ts(97_200), true));
    match u.config.as_deref() {
        Some(CodecConfig::Video { sps, pps, .. }) => {
            assert_eq!((sps[0].as_ref(), pps[0].as_ref()), (&SPS[..], &PPS[..]))
        }
        c => panic!("{c:?}"),
    }
    // Negative composition offsets are sign-extended; tracks are said once.
    let out = d.video(1040, &nalu(false, -40, &[&[0x41, 9]])).unwrap();
    assert!(out.tracks.is_none());
    let u = out.unit.unwrap();
    assert_eq!((u.dts, u.pts, u.key), (Ts(1040 * 90), Ts(1000 * 90), false));
    let a = d
        .audio(1020, &Bytes::from_static(&[0xAF, 1, 0x21, 0x10]))
        .unwrap();
    let a = a.unit.unwrap();
    assert_eq!(
        (a.track, a.dts, a.data.as_ref()),
        (UNIT_FIRST_PID + 1, Ts(1020 * 90), &[0x21, 0x10][..])
    );
    match a.config.as_deref() {
        Some(CodecConfig::Audio {
            sample_rate,
            channels,
            ..
        }) => assert_eq!((*sample_rate, *channels), (48000, 2)),
        c => panic!("{c:?}"),
    }
}

#[test]
fn timestamps_unroll_across_the_32_bit_wrap() {
    let mut d = FlvDemux::new();
    d.video(0, &avc_seq()).unwrap();
    let t = |d: &mut FlvDemux, ts: u32| {
        d.video(ts, &nalu(true, 0, &[&[0x65]]))
            .unwrap()
            .unit
            .unwrap()
            .dts
    };
    let before = t(&mut d, u32::MAX - 20);
    let after = t(&mut d, 13);
    assert_eq!(after - before, Ts(34 * 90));
    // A step back (audio behind video) is not a wrap.
    let back = t(&mut d, 3);
    assert_eq!(after - back, Ts(10 * 90));
}

#[test]
fn hostile_tags_are_refused_without_panicking() {
    let mut d = FlvDemux::new();
    assert_eq!(
        d.video(0, &nalu(true, 0, &[&[0x65]])).unwrap_err(),
        FlvError::NoConfig("video")
    );
    assert!(d.video(0, &Bytes::new()).is_err());
    assert!(d.video(0, &Bytes::from_static(&[0x17, 0])).is_err());
    assert!(
        d.video(0, &Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]))
            .is_err()
    );
    assert!(matches!(
        d.video(0, &Bytes::from_static(&[0x90, b'h', b'v', b'c'])),
        Err(FlvError::Truncated(_))
    ));
    assert_eq!(
        d.video(0, &Bytes::from_static(&[0x12, 0])).unwrap_err(),
        FlvError::VideoCodec(2)
    );
    d.video(0, &avc_seq()).unwrap();
    // A length beyond the tag, a truncated length.
    let mut bad = nalu(true, 0, &[&[0x65, 1]]).to_vec();
    bad[8] = 200;
    assert!(matches!(
        d.video(0, &Bytes::from(bad)),
        Err(FlvError::BadNalLength { .. })
    ));
    assert!(
        d.video(0, &Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0]))
            .is_err()
    );
    assert!(d.audio(0, &Bytes::from_static(&[0x2F, 1, 0])).is_err());
    assert!(d.audio(0, &Bytes::from_static(&[0xAF, 0, 0xF8])).is_err());
    assert!(d.audio(0, &Bytes::from_static(&[0xAF, 1, 1])).is_err());
    // Every byte string of a few bytes: an error or a unit, never a panic.
    for len in 0..8usize {
        for seed in 0..2000u32 {
            let b: Vec<u8> = (0..len)
                .map(|i| (seed.wrapping_mul(2654435761).rotate_left(i as u32 * 5)) as u8)
                .collect();
            let b = Bytes::from(b);
            let _ = d.video(seed, &b);
            let _ = d.audio(seed, &b);
        }
    }
}

/// PART-TARGET and, per segment, its parts' durations, for 60 s of 29.97 fps video timed
/// in milliseconds (as ffmpeg rounds them into FLV), B-frames, a keyframe every second,
/// AAC beside it.
fn parts_at_29_97(resolution: Ts) -> (Ts, Vec<Vec<Ts>>) {
    use crate::segmenter::{Event, Segmenter, SegmenterConfig};
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.timestamp_resolution = resolution;
    let mut seg = Segmenter::new(cfg);
    let mut d = FlvDemux::new();
    let (mut target, mut parts) = (None, Vec::new());
    let mut feed = |seg: &mut Segmenter, out: Demuxed| {
        if let Some(t) = out.tracks {
            seg.set_tracks(&t).unwrap();
        }
        if let Some(u) = out.unit {
            seg.push_access_unit(u, 0).unwrap();
        }
        while let Some(ev) = seg.poll_event() {
            match ev {
                Event::PartTarget(t) => target = Some(t),
                Event::Segment(s) => parts.push(s.parts.iter().map(|p| p.duration).collect()),
                _ => {}
            }
        }
    };
    feed(&mut seg, d.video(0, &avc_seq()).unwrap());
    feed(&mut seg, d.audio(0, &aac_seq()).unwrap());
    let ms = |i: i64, num: i64, den: i64| ((i * num * 1000 + den / 2) / den) as u32;
    let mut audio = 0;
    for i in 0..1800i64 {
        let dts = ms(i, 1001, 30_000);
        while i64::from(ms(audio, 1024, 48_000)) <= i64::from(dts) {
            let t = ms(audio, 1024, 48_000);
            feed(
                &mut seg,
                d.audio(t, &Bytes::from_static(&[0xAF, 1, 0x21, 0x10]))
                    .unwrap(),
            );
            audio += 1;
        }
        // Two B-frames: composition offsets of 2, 0, ... frames as a muxer writes them.
        let cts = ms(i + 2, 1001, 30_000) as i32 - dts as i32;
        let unit = nalu(
            i % 30 == 0,
            cts,
            &[&[if i % 30 == 0 { 0x65 } else { 0x41 }, 0x88]],
        );
        feed(&mut seg, d.video(dts, &unit).unwrap());
    }
    (target.expect("a PART-TARGET"), parts)
}

#[test]
fn parts_of_millisecond_timed_29_97_fps_stay_within_part_target() {
    // Every part within PART-TARGET; all but a segment's last at least 85 % of it
    // (RFC 8216bis §4.4.4.9), once the GOP length is known (after the first GOP).
    let short = |target: Ts, segments: &[Vec<Ts>]| {
        segments[1..]
            .iter()
            .flat_map(|parts| &parts[..parts.len() - 1])
            .filter(|&&p| p.0 * 100 < target.0 * 85)
            .count()
    };
    let (target, segments) = parts_at_29_97(MS);
    assert!(segments.len() >= 25, "{}", segments.len());
    let longest = segments.iter().flatten().copied().max().unwrap();
    assert!(
        longest <= target,
        "part of {longest:?} over PART-TARGET {target:?}"
    );
    assert_eq!(short(target, &segments), 0, "{target:?} {segments:?}");
    // Sized on the first 33 ms step alone, the planned parts of n + 1 frames do not fit
    // (9 frames last 300 or 301 ms): each GOP ends in a stub.
    let (target, segments) = parts_at_29_97(Ts(1));
    assert!(short(target, &segments) > 0, "{target:?} {segments:?}");
}

/// VPS, SPS and PPS of a 1280x720 25 fps Main profile encode (x265).
fn hevc_sets() -> (Vec<Bytes>, Vec<Bytes>, Vec<Bytes>) {
    let es = include_bytes!("../codec/fixtures/hevc_main_1280x720_25.h265");
    match crate::codec::config::video_config(VideoCodec::H265, es) {
        Some(CodecConfig::Video { vps, sps, pps, .. }) => (vps, sps, pps),
        c => panic!("{c:?}"),
    }
}

/// An HEVCDecoderConfigurationRecord of these sets, 4-byte lengths, and an SEI array
/// (left out by the reader).
fn hvcc(vps: &[Bytes], sps: &[Bytes], pps: &[Bytes]) -> Vec<u8> {
    let mut r = vec![
        1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0,
        0x0F, 4,
    ];
    for (t, sets) in [
        (32u8, vps),
        (33, sps),
        (34, pps),
        (39, &[Bytes::from_static(&[0x4E, 1, 5])][..]),
    ] {
        r.push(0x80 | t);
        r.extend_from_slice(&(sets.len() as u16).to_be_bytes());
        for s in sets {
            r.extend_from_slice(&(s.len() as u16).to_be_bytes());
            r.extend_from_slice(s);
        }
    }
    r
}

/// An Enhanced RTMP video tag: frame type, packet type, FourCC, payload.
fn ex(frame_type: u8, packet_type: u8, fourcc: &[u8; 4], payload: &[u8]) -> Bytes {
    let mut b = vec![0x80 | frame_type << 4 | packet_type];
    b.extend_from_slice(fourcc);
    b.extend_from_slice(payload);
    Bytes::from(b)
}

/// Length-prefixed (4 bytes) NAL units, after an optional composition offset.
fn frames(cts: Option<i32>, nals: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some(c) = cts {
        b.extend_from_slice(&c.to_be_bytes()[1..]);
    }
    for n in nals {
        b.extend_from_slice(&(n.len() as u32).to_be_bytes());
        b.extend_from_slice(n);
    }
    b
}

#[test]
fn enhanced_rtmp_hevc_gives_h265_units_with_the_hvcc_parameter_sets() {
    let (vps, sps, pps) = hevc_sets();
    let mut d = FlvDemux::new();
    let start = ex(1, 0, b"hvc1", &hvcc(&vps, &sps, &pps));
    assert!(d.video(0, &start).unwrap().unit.is_none());
    let info = d.take_media_info().expect("media info from the hvcC");
    assert_eq!(info.resolution(), Some((1280, 720)));
    assert!(
        info.codecs().unwrap().starts_with("hvc1.1."),
        "{:?}",
        info.codecs()
    );
    d.audio(0, &aac_seq()).unwrap();
    assert!(d.take_media_info().is_some_and(|i| i.audio.is_some()));

    // CodedFrames: an IDR (type 19) with a composition offset of 80 ms.
    let idr: &[u8] = &[0x26, 0x01, 0xAF, 0x10];
    let out = d
        .video(1000, &ex(1, 1, b"hvc1", &frames(Some(80), &[idr])))
        .unwrap();
    let tracks = out.tracks.expect("tracks before the first unit");
    assert_eq!(tracks[0].codec, TrackCodec::Video(VideoCodec::H265));
    assert_eq!(tracks[1].codec, TrackCodec::Audio(AudioCodec::Aac));
    let u = out.unit.unwrap();
    assert_eq!(u.codec, TrackCodec::Video(VideoCodec::H265));
    assert_eq!((u.dts, u.pts, u.key), (Ts(90_000), Ts(97_200), true));
    assert_eq!(u.data.as_ref(), &[0, 0, 0, 1, 0x26, 0x01, 0xAF, 0x10]);
    match u.config.as_deref() {
        Some(CodecConfig::Video {
            codec,
            vps: v,
            sps: s,
            pps: p,
        }) => {
            assert_eq!(*codec, VideoCodec::H265);
            assert_eq!((v, s, p), (&vps, &sps, &pps));
        }
        c => panic!("{c:?}"),
    }
    // A negative offset is sign-extended; CodedFramesX has none.
    let trail: &[u8] = &[0x02, 0x01, 0xD0];
    let u = d
        .video(1040, &ex(2, 1, b"hvc1", &frames(Some(-40), &[trail])))
        .unwrap()
        .unit
        .unwrap();
    assert_eq!((u.dts, u.pts, u.key), (Ts(1040 * 90), Ts(1000 * 90), false));
    let u = d
        .video(1080, &ex(2, 3, b"hvc1", &frames(None, &[trail, trail])))
        .unwrap()
        .unit
        .unwrap();
    assert_eq!((u.dts, u.pts), (Ts(1080 * 90), Ts(1080 * 90)));
    assert_eq!(u.data.len(), 2 * (4 + trail.len()));

    // No picture: SequenceEnd, Metadata, MPEG2TSSequenceStart, a command frame.
    for tag in [
        ex(1, 2, b"hvc1", &[]),
        ex(1, 4, b"hvc1", &[2, 0, 9, b'c']),
        ex(1, 5, b"hvc1", &[0x1F]),
        ex(5, 1, b"hvc1", &[1]),
    ] {
        let out = d.video(1100, &tag).unwrap();
        assert!(out.unit.is_none() && out.tracks.is_none(), "{tag:02x?}");
    }
    // The same record again is no news; 2-byte lengths are followed.
    d.video(1100, &start).unwrap();
    assert!(d.take_media_info().is_none());
    let mut two = hvcc(&vps, &sps, &pps);
    two[21] = 0xF1;
    d.video(1100, &ex(1, 0, b"hvc1", &two)).unwrap();
    let u = d
        .video(1120, &ex(1, 3, b"hvc1", &[0, 4, 0x26, 0x01, 0xAF, 0x10]))
        .unwrap()
        .unit
        .unwrap();
    assert_eq!(u.data.as_ref(), &[0, 0, 0, 1, 0x26, 0x01, 0xAF, 0x10]);
}

#[test]
fn enhanced_rtmp_avc1_reads_like_legacy_h264() {
    let mut d = FlvDemux::new();
    d.video(0, &ex(1, 0, b"avc1", &avc_seq()[5..])).unwrap();
    let u = d
        .video(40, &ex(1, 1, b"avc1", &frames(Some(40), &[&[0x65, 7]])))
        .unwrap()
        .unit
        .unwrap();
    assert_eq!(u.codec, TrackCodec::Video(VideoCodec::H264));
    assert_eq!((u.dts, u.pts, u.key), (Ts(40 * 90), Ts(80 * 90), true));
    // Legacy frames go on the same track.
    assert!(
        d.video(80, &nalu(false, 0, &[&[0x41, 1]]))
            .unwrap()
            .unit
            .is_some()
    );
}

#[test]
fn hostile_enhanced_rtmp_tags_are_typed_errors() {
    let (vps, sps, pps) = hevc_sets();
    let good = hvcc(&vps, &sps, &pps);
    let mut d = FlvDemux::new();
    let err = |d: &mut FlvDemux, tag: Bytes| d.video(0, &tag).unwrap_err();
    assert_eq!(
        err(&mut d, ex(1, 1, b"hvc1", &frames(Some(0), &[&[0x26, 1]]))),
        FlvError::NoConfig("video")
    );
    assert_eq!(
        err(&mut d, ex(1, 0, b"av01", &good)),
        FlvError::FourCc("av01".into())
    );
    for t in [6, 7, 9, 15] {
        assert_eq!(
            err(&mut d, ex(1, t, b"hvc1", &good)),
            FlvError::ExPacketType(t)
        );
    }
    assert_eq!(
        err(&mut d, ex(1, 0, b"hvc1", &good[..22])),
        FlvError::BadHvcc("shorter than its header or not version 1")
    );
    let mut v0 = good.clone();
    v0[0] = 0;
    assert!(matches!(
        err(&mut d, ex(1, 0, b"hvc1", &v0)),
        FlvError::BadHvcc(_)
    ));
    let mut three = good.clone();
    three[21] = 0xF2;
    assert_eq!(
        err(&mut d, ex(1, 0, b"hvc1", &three)),
        FlvError::BadHvcc("NAL unit length size of 3")
    );
    for cut in [24, 27, good.len() - 1] {
        assert!(
            matches!(
                err(&mut d, ex(1, 0, b"hvc1", &good[..cut])),
                FlvError::BadHvcc(_)
            ),
            "{cut}"
        );
    }
    assert_eq!(
        err(&mut d, ex(1, 0, b"hvc1", &hvcc(&vps, &sps, &[]))),
        FlvError::BadHvcc("no VPS, SPS or PPS")
    );
    d.video(0, &ex(1, 0, b"hvc1", &good)).unwrap();
    assert_eq!(
        err(&mut d, ex(1, 1, b"hvc1", &[0, 0])),
        FlvError::Truncated("video")
    );
    let mut long = frames(Some(0), &[&[0x26, 1]]);
    long[6] = 9;
    assert!(matches!(
        err(&mut d, ex(1, 1, b"hvc1", &long)),
        FlvError::BadNalLength { .. }
    ));
    // The track stays H.265: H.264 frames or records are refused.
    assert_eq!(
        err(&mut d, nalu(true, 0, &[&[0x65]])),
        FlvError::CodecChanged
    );
    assert_eq!(err(&mut d, avc_seq()), FlvError::CodecChanged);
    // Enhanced headers over every short byte string, before and after a record: an error
    // or a unit, never a panic.
    for with_record in [false, true] {
        let mut d = FlvDemux::new();
        if with_record {
            d.video(0, &ex(1, 0, b"hvc1", &good)).unwrap();
        }
        for len in 0..12usize {
            for seed in 0..3000u32 {
                let mut b: Vec<u8> = (0..len)
                    .map(|i| (seed.wrapping_mul(2654435761).rotate_left(i as u32 * 7)) as u8)
                    .collect();
                if let Some(b0) = b.first_mut() {
                    *b0 |= 0x80;
                }
                if len >= 5 && seed % 2 == 0 {
                    b[1..5].copy_from_slice(b"hvc1");
                }
                let _ = d.video(seed, &Bytes::from(b));
            }
        }
        // Records cut anywhere, or with one byte changed.
        for cut in 0..good.len() {
            let _ = d.video(0, &ex(1, 0, b"hvc1", &good[..cut]));
            let mut bent = good.clone();
            bent[cut] ^= 0xA5;
            let _ = d.video(0, &ex(1, 0, b"hvc1", &bent));
        }
    }
}
