//! Sample entries and samples of each codec: MP3, AC-3 and H.265.

use super::*;

/// An audio-only packager of `units` of one codec, 1 s parts.
fn audio_only(codec: AudioCodec, es: &[u8], pes: usize) -> (Packager, Vec<Read>) {
    let (start, _) = crate::codec::audio::first_frame(codec, es).unwrap();
    let es = &es[start..];
    let config = Arc::new(audio_config(codec, es).unwrap());
    let frames = crate::codec::audio::split_frames(codec, es);
    let CodecConfig::Audio { sample_rate, .. } = *config else {
        panic!()
    };
    // PES payloads of `pes` whole frames each, at their times.
    let mut units = Vec::new();
    let mut t = 0i64;
    for chunk in frames.chunks(pes) {
        let range = chunk[0].payload.start..chunk[chunk.len() - 1].payload.end;
        let samples: u32 = chunk.iter().map(|f| f.samples).sum();
        units.push(AccessUnit {
            track: 7,
            codec: TrackCodec::Audio(codec),
            dts: Ts(1000 + t),
            pts: Ts(1000 + t),
            key: true,
            data: Bytes::copy_from_slice(&es[range]),
            frames: Some(AudioFrames {
                count: chunk.len() as u32,
                samples,
            }),
            config: Some(config.clone()),
        });
        t += i64::from(samples) * 90_000 / i64::from(sample_rate);
    }
    let tracks = [Track {
        id: 7,
        codec: TrackCodec::Audio(codec),
    }];
    let mut p = Packager::new(&tracks, Ts(1000));
    let mut read = Vec::new();
    for (i, u) in units.chunks(2).enumerate() {
        let f = p
            .fragment(&part(u[0].dts.0, 90_000, u.to_vec()), i as u32)
            .unwrap();
        read.extend(read_fragment(&f.data).1);
    }
    (p, read)
}

#[test]
fn mp3_frames_and_init() {
    let es = include_bytes!("../../codec/fixtures/mp3_44100_stereo.mp3");
    let (p, samples) = audio_only(AudioCodec::Mpeg, es, 2);
    assert!(samples.len() >= 4);
    let mut t = 0;
    for s in &samples {
        assert_eq!((s.duration, s.decode_time), (1152, t));
        assert!(
            s.data.len() == 417 || s.data.len() == 418,
            "{}",
            s.data.len()
        );
        assert_eq!(s.data[0], 0xFF);
        t += 1152;
    }
    let moov = read_init(&p.init().unwrap().data);
    assert_eq!(moov.trak[0].mdia.mdhd.timescale, 44_100);
    let Codec::Mp4a(mp4a) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("mp4a")
    };
    assert_eq!(mp4a.esds.es_desc.dec_config.object_type_indication, 0x6B);
    assert!(mp4a.esds.es_desc.dec_config.dec_specific.is_none());
    // MPEG-2 LSF: 576 samples a frame, objectTypeIndication 0x69.
    let es = include_bytes!("../../codec/fixtures/mp3_24000_mono.mp3");
    let (p, samples) = audio_only(AudioCodec::Mpeg, es, 3);
    assert!(samples.iter().all(|s| s.duration == 576));
    let moov = read_init(&p.init().unwrap().data);
    let Codec::Mp4a(mp4a) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("mp4a")
    };
    assert_eq!(mp4a.esds.es_desc.dec_config.object_type_indication, 0x69);
}

#[test]
fn ac3_frames_and_init() {
    let es = include_bytes!("../../codec/fixtures/ac3_48000_stereo.ac3");
    let (p, samples) = audio_only(AudioCodec::Ac3, es, 1);
    assert_eq!(samples.len(), 2);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!((s.duration, s.decode_time), (1536, 1536 * i as u64));
        assert_eq!(s.data[..2], [0x0B, 0x77]);
    }
    let moov = read_init(&p.init().unwrap().data);
    let Codec::Ac3(ac3) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("ac-3")
    };
    // ffprobe: ac3 48000 Hz stereo (acmod 2), 192 kbit/s (frmsizecod 20 → code 10).
    let d = &ac3.dac3;
    assert_eq!(
        (d.fscod, d.bsid, d.acmod, d.lfeon, d.bit_rate_code),
        (0, 8, 2, false, 10)
    );
}

#[test]
fn hevc_init_and_samples() {
    let es = include_bytes!("../../codec/fixtures/hevc_main_1280x720_25.h265");
    let config = Arc::new(video_config(VideoCodec::H265, es).unwrap());
    let tracks = [Track {
        id: 1,
        codec: TrackCodec::Video(VideoCodec::H265),
    }];
    let unit = AccessUnit {
        track: 1,
        codec: TrackCodec::Video(VideoCodec::H265),
        dts: Ts(0),
        pts: Ts(3600),
        key: true,
        data: Bytes::from_static(es),
        frames: None,
        config: Some(config),
    };
    let mut p = Packager::new(&tracks, Ts(0));
    let f = p.fragment(&part(0, 3600, vec![unit]), 1).unwrap();
    let moov = read_init(&p.init().unwrap().data);
    let Codec::Hvc1(hvc1) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("hvc1")
    };
    let h = &hvc1.hvcc;
    // ffprobe: Main, level 93 (codec/hevc.rs reads the same SPS: hvc1.1.6.L93.90).
    assert_eq!((hvc1.visual.width, hvc1.visual.height), (1280, 720));
    assert_eq!(
        (
            h.general_profile_space,
            h.general_tier_flag,
            h.general_profile_idc
        ),
        (0, false, 1)
    );
    assert_eq!(h.general_profile_compatibility_flags, [0x60, 0, 0, 0]);
    assert_eq!(h.general_constraint_indicator_flags, [0x90, 0, 0, 0, 0, 0]);
    assert_eq!(h.general_level_idc, 93);
    assert_eq!((h.chroma_format_idc, h.bit_depth_luma_minus8), (1, 0));
    assert_eq!(h.length_size_minus_one, 3);
    let types: Vec<(u8, bool, usize)> = h
        .arrays
        .iter()
        .map(|a| (a.nal_unit_type, a.completeness, a.nalus.len()))
        .collect();
    assert_eq!(types, [(32, true, 1), (33, true, 1), (34, true, 1)]);
    // The sample: every NAL unit but the parameter sets.
    let (_, samples) = read_fragment(&f.data);
    let want: Vec<Vec<u8>> = nal_units(es)
        .filter(|n| !matches!((n[0] >> 1) & 0x3F, 32..=35))
        .map(<[u8]>::to_vec)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(nals(&samples[0].data), want);
    assert_eq!((samples[0].cts, samples[0].flags), (3600, SYNC_SAMPLE));
}
