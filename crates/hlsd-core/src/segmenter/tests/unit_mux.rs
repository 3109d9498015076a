//! Access-unit input muxed into TS (`unit_mux`): parts read back packet by packet with
//! hlsd's own packet view, PSI parser and PES header parser, and fed again as TS input.

use super::units::{Cuts, cuts, run_ts_units, run_units, streams, units};
use super::*;
use crate::codec::prefix::is_adts;
use crate::codec::{AudioCodec, CodecConfig, VideoCodec};
use crate::ts::pes::parse_header;
use crate::ts::psi::{SectionAssembler, parse_pat, parse_pmt};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// One PES read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadPes {
    pid: u16,
    pts: u64,
    dts: u64,
    random_access: bool,
    pcr: bool,
    data: Vec<u8>,
}

/// Reads muxed parts in order, checking what must hold of every packet on the way.
#[derive(Default)]
struct Reader {
    cc: HashMap<u16, u8>,
    /// PCR values in order, each with its packet's discontinuity_indicator.
    pcrs: Vec<(u64, bool)>,
    pmt: Option<crate::ts::psi::Pmt>,
}

impl Reader {
    /// The PES of one part; panics (fails the test) where the part is wrong.
    fn part(&mut self, data: &[u8], what: &str) -> Vec<ReadPes> {
        assert!(!data.is_empty(), "{what}: an empty part");
        assert_eq!(data.len() % PACKET_SIZE, 0, "{what}: whole packets");
        let packets: Vec<Packet<'_>> = data
            .chunks_exact(PACKET_SIZE)
            .map(|p| Packet::new(p.try_into().unwrap()))
            .collect();
        assert_eq!(packets[0].pid(), Pid::PAT, "{what}: PAT first");
        assert_eq!(packets[1].pid(), UNIT_PMT_PID, "{what}: PMT second");
        let pat = SectionAssembler::default()
            .push(&packets[0])
            .unwrap()
            .unwrap();
        assert_eq!(parse_pat(&pat).unwrap().programs[0].pmt_pid, UNIT_PMT_PID);
        let pmt = SectionAssembler::default()
            .push(&packets[1])
            .unwrap()
            .unwrap();
        let pmt = parse_pmt(&pmt).unwrap();
        if let Some(old) = &self.pmt {
            assert_eq!(old, &pmt, "{what}: the same program");
        }
        self.pmt = Some(pmt);
        let mut out: Vec<ReadPes> = Vec::new();
        let mut open: HashMap<u16, usize> = HashMap::new();
        for p in &packets {
            let pid = p.pid().0;
            let want = self
                .cc
                .get(&pid)
                .map_or(p.continuity_counter(), |c| (c + 1) & 15);
            assert_eq!(
                p.continuity_counter(),
                want,
                "{what}: continuity on {pid:#x}"
            );
            self.cc.insert(pid, p.continuity_counter());
            if let Some(pcr) = p.pcr() {
                self.pcrs.push((pcr, p.discontinuity()));
            }
            if pid == 0 || pid == UNIT_PMT_PID.0 {
                continue;
            }
            let payload = p.payload().expect("media packets carry payload");
            if p.pusi() {
                let h = parse_header(payload).unwrap();
                open.insert(pid, out.len());
                out.push(ReadPes {
                    pid,
                    pts: h.pts.unwrap(),
                    dts: h.decode_time().unwrap(),
                    random_access: p.random_access(),
                    pcr: p.pcr().is_some(),
                    data: payload[h.data_offset..].to_vec(),
                });
            } else {
                let at = open[&pid];
                out[at].data.extend_from_slice(payload);
            }
        }
        out
    }
}

/// The PID hlsd gives each of the synthetic stream's tracks (by place).
fn pid_of_track(s: &Synth, track: u16) -> u16 {
    let i = s.tracks().iter().position(|t| t.id == track).unwrap();
    UNIT_FIRST_PID + i as u16
}

fn wrap(t: Ts) -> u64 {
    t.0.rem_euclid(1 << 33) as u64
}

/// Reads every part of a run: each part's PES are its units, in order, with their times,
/// bytes and flags; PCRs are on the timeline's PID at most 100 ms apart (except at a
/// discontinuity, which is marked) and on every keyframe's first packet.
fn check_run(s: &Synth, r: &Run, what: &str) -> Reader {
    let mut reader = Reader::default();
    let timeline = s.tracks()[0].id;
    let video = s.frame_ticks.is_some();
    for (k, seg) in r.segments.iter().enumerate() {
        for (i, p) in seg.parts.iter().enumerate() {
            let what = format!("{what}: segment {k} part {i}");
            let pes = reader.part(&p.data.to_vec(), &what);
            let units = p.units.as_deref().unwrap();
            assert_eq!(pes.len(), units.len(), "{what}: one PES per unit");
            for (got, u) in pes.iter().zip(units) {
                assert_eq!(got.pid, pid_of_track(s, u.track), "{what}");
                assert_eq!((got.pts, got.dts), (wrap(u.pts), wrap(u.dts)), "{what}");
                assert_eq!(got.data, u.data[..], "{what}: payload is the unit");
                let on_timeline = u.track == timeline;
                assert_eq!(got.pcr, on_timeline, "{what}: PCR on the timeline's PES");
                assert_eq!(got.random_access, on_timeline && u.key, "{what}");
            }
            if video && (i == 0 && seg.independent || p.independent) {
                assert!(pes[0].random_access, "{what}: opens with a keyframe");
                assert!(units[0].key && units[0].track == timeline, "{what}");
            }
        }
    }
    let pmt = reader.pmt.as_ref().unwrap();
    assert_eq!(pmt.pcr_pid, Pid(UNIT_FIRST_PID), "{what}");
    assert_eq!(pmt.streams.len(), s.tracks().len(), "{what}");
    assert!(!reader.pcrs.is_empty());
    for w in reader.pcrs.windows(2) {
        // PCR wraps at 2^33 as the timestamps do.
        let step = (w[1].0 as i64 - w[0].0 as i64).rem_euclid(1 << 33);
        let step = if step >= 1 << 32 {
            step - (1 << 33)
        } else {
            step
        };
        assert!(
            w[1].1 || (0..=9_000).contains(&step),
            "{what}: PCR step {step} without a discontinuity"
        );
    }
    reader
}

/// The cutting rules' streams, and one whose times cross the 33-bit wrap.
fn mux_streams() -> Vec<(&'static str, Synth, usize)> {
    let mut v = streams();
    v.push((
        "across the wrap",
        Synth {
            start: (1 << 33) - 2 * 90_000,
            ..Synth::default()
        },
        150,
    ));
    v
}

#[test]
fn parts_of_access_unit_input_carry_the_units_in_ts() {
    for (what, s, n) in mux_streams() {
        for part in [0.0, 0.25] {
            let r = run_units(&s, n, 2.0, part);
            assert!(!r.segments.is_empty(), "{what}");
            check_run(&s, &r, &format!("{what}, parts {part}"));
        }
    }
}

#[test]
fn muxed_ts_fed_again_gives_the_same_units_and_cuts() {
    for (what, s, n) in mux_streams() {
        let r = run_units(&s, n, 2.0, 0.25);
        let ts: Vec<u8> = r.segments.iter().flat_map(Segment::to_vec).collect();
        let again = run_ts_units(&ts, 65536, 2.0, 0.25);
        let c: Cuts = cuts(&r);
        assert_eq!(cuts(&again), c, "{what}");
        // Per track (within a part, units of different tracks complete in another order
        // out of TS), as (DTS, PTS, keyframe, payload length and hash).
        let frame = |u: &AccessUnit| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            u.data.hash(&mut h);
            (u.dts, u.pts, u.key, u.data.len(), h.finish())
        };
        for track in s.tracks() {
            let pid = pid_of_track(&s, track.id);
            let want: Vec<_> = units(&r)
                .iter()
                .flatten()
                .filter(|u| u.track == track.id)
                .map(frame)
                .collect();
            let got: Vec<_> = units(&again)
                .iter()
                .flatten()
                .filter(|u| u.track == pid)
                .map(frame)
                .collect();
            assert!(!want.is_empty(), "{what}");
            assert_eq!(got, want, "{what}: track {pid:#x}");
        }
    }
}

#[test]
fn muxed_bytes_do_not_depend_on_how_the_units_came() {
    // Units out of TS pushed in any chunking are the same units, hence the same bytes.
    let s = Synth {
        sei_bytes: 400,
        ..Synth::default()
    };
    let input = s.build(200);
    let mux = |chunk: usize| {
        let from_ts = run_ts_units(&input, chunk, 2.0, 0.25);
        let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None));
        seg.set_tracks(&s.tracks()).unwrap();
        let mut out = Run::default();
        for u in units(&from_ts).into_iter().flatten() {
            seg.push_access_unit(u, 0).unwrap();
            // Events taken now and then only.
            if chunk == 1 {
                drain(&mut seg, &mut out);
            }
        }
        seg.finish(0);
        drain(&mut seg, &mut out);
        out.segments.iter().map(Segment::to_vec).collect::<Vec<_>>()
    };
    let want = mux(65536);
    assert!(!want.is_empty());
    for chunk in [1, 7, 188, 1000] {
        assert_eq!(mux(chunk), want, "chunks of {chunk}");
    }
}

/// Synthetic units as an RTMP publisher brings them: keyframes without parameter sets or
/// AUD, raw AAC frames, the configuration attached.
fn rtmp_like(s: &Synth, n: usize) -> Vec<AccessUnit> {
    let video = Arc::new(CodecConfig::Video {
        codec: VideoCodec::H264,
        vps: vec![],
        sps: vec![Bytes::from_static(synth::SPS_1280X720_HIGH)],
        pps: vec![Bytes::from_static(synth::PPS)],
    });
    let audio = Arc::new(CodecConfig::Audio {
        codec: AudioCodec::Aac,
        sample_rate: 48_000,
        channels: 2,
        specific: Bytes::from_static(&[0x11, 0x90]),
    });
    s.access_units(n)
        .into_iter()
        .map(|mut u| {
            if u.track == synth::VIDEO_PID.0 {
                // Drop AUD, SPS and PPS: keep from the slice (or SEI) on.
                let at = crate::codec::config::nal_units(&u.data)
                    .find(|n| matches!(n[0] & 0x1F, 1 | 5 | 6))
                    .map(|n| n.as_ptr() as usize - u.data.as_ptr() as usize - 3)
                    .unwrap();
                u.data = u.data.slice(at..);
                u.config = Some(video.clone());
            } else {
                u.data = u.data.slice(7..);
                u.config = Some(audio.clone());
            }
            u
        })
        .collect()
}

#[test]
fn frames_get_aud_and_parameter_sets_and_raw_aac_gets_adts() {
    let s = Synth::default();
    let n = 150;
    let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None));
    seg.set_tracks(&s.tracks()).unwrap();
    let mut r = Run::default();
    for u in rtmp_like(&s, n) {
        seg.push_access_unit(u, 0).unwrap();
    }
    seg.finish(0);
    drain(&mut seg, &mut r);
    // What the same stream's own units (with AUD, SPS, PPS and ADTS) are muxed into.
    let whole = run_units(&s, n, 2.0, 0.25);
    assert_eq!(cuts(&r), cuts(&whole));
    let mut reader = Reader::default();
    let mut want = Reader::default();
    let (mut keys, mut audio) = (0, 0);
    for (a, b) in r
        .segments
        .iter()
        .flat_map(|s| &s.parts)
        .zip(whole.segments.iter().flat_map(|s| &s.parts))
    {
        let got = reader.part(&a.data.to_vec(), "rtmp-like");
        let full = want.part(&b.data.to_vec(), "whole");
        assert_eq!(got.len(), full.len());
        for (g, f) in got.iter().zip(&full) {
            assert_eq!((g.pid, g.pts, g.dts), (f.pid, f.pts, f.dts));
            if g.pid == UNIT_FIRST_PID + 1 {
                // synth's ADTS header is the one its AudioSpecificConfig implies.
                assert!(is_adts(&g.data));
                assert_eq!(g.data, f.data, "ADTS written");
                audio += 1;
            } else {
                // AUD on every frame, SPS and PPS on keyframes: synth's frames as they were.
                assert_eq!(g.data, f.data, "AUD and parameter sets added");
                keys += usize::from(g.random_access);
            }
        }
    }
    assert!(keys >= 5 && audio > 100, "{keys} keyframes, {audio} audio");
    // The parts carry the units as given.
    let given = r.segments[0].parts[0].units.as_deref().unwrap();
    assert!(
        given
            .iter()
            .all(|u| !u.data.starts_with(&[0, 0, 0, 1, 9]) && !is_adts(&u.data))
    );
}

#[test]
fn bad_units_are_refused_and_change_nothing() {
    let s = Synth::default();
    let good = s.access_units(60);
    let mut seg = Segmenter::new(SegmenterConfig::new(1.0, None));
    seg.set_tracks(&s.tracks()).unwrap();
    let video = synth::VIDEO_PID.0;
    let audio = synth::AUDIO_PID.0;
    let mut r = Run::default();
    for (i, u) in good.iter().enumerate() {
        if i == 30 {
            let refused = |seg: &mut Segmenter, bad: AccessUnit| seg.push_access_unit(bad, 0);
            let mut empty = u.clone();
            empty.data = Bytes::new();
            assert_eq!(
                refused(&mut seg, empty),
                Err(AccessUnitError::Empty { track: u.track })
            );
            let last = good[..i].iter().rfind(|g| g.track == video).unwrap();
            let mut back = last.clone();
            back.dts = last.dts - Ts(1);
            back.pts = back.dts;
            assert_eq!(
                refused(&mut seg, back.clone()),
                Err(AccessUnitError::Backwards {
                    track: video,
                    last: last.dts,
                    dts: back.dts
                })
            );
            let mut early = last.clone();
            early.dts = last.dts + Ts(100);
            early.pts = last.dts;
            assert!(matches!(
                refused(&mut seg, early),
                Err(AccessUnitError::PtsBeforeDts { .. })
            ));
            let mut wrong = last.clone();
            wrong.codec = TrackCodec::Video(VideoCodec::H265);
            assert_eq!(
                refused(&mut seg, wrong),
                Err(AccessUnitError::CodecMismatch { track: video })
            );
            let a = good[..i].iter().rfind(|g| g.track == audio).unwrap();
            let mut raw = a.clone();
            raw.data = raw.data.slice(7..);
            raw.dts = raw.dts + Ts(1920);
            raw.pts = raw.dts;
            assert_eq!(
                refused(&mut seg, raw),
                Err(AccessUnitError::NoAdtsHeader { track: audio })
            );
            let mut far = last.clone();
            far.dts = Ts((1 << 60) + 1);
            far.pts = far.dts;
            assert!(matches!(
                refused(&mut seg, far),
                Err(AccessUnitError::TimestampOutOfRange { track, .. }) if track == video
            ));
            let mut far_back = last.clone();
            far_back.pts = Ts(-(1 << 60) - 1);
            far_back.dts = far_back.pts;
            assert!(matches!(
                refused(&mut seg, far_back),
                Err(AccessUnitError::TimestampOutOfRange { track, .. }) if track == video
            ));
            let mut long = a.clone();
            long.data = Bytes::from([&a.data[..7], &[0; 70_000][..]].concat());
            long.dts = long.dts + Ts(1920);
            long.pts = long.dts;
            assert!(matches!(
                refused(&mut seg, long),
                Err(AccessUnitError::TooLong { track, .. }) if track == audio
            ));
        }
        seg.push_access_unit(u.clone(), 0).unwrap();
        drain(&mut seg, &mut r);
    }
    seg.finish(0);
    drain(&mut seg, &mut r);
    let clean = run_units(&s, 60, 1.0, 0.0);
    let bytes = |r: &Run| r.segments.iter().map(Segment::to_vec).collect::<Vec<_>>();
    assert_eq!(bytes(&r), bytes(&clean));
    assert_eq!(r.warnings, clean.warnings);
}

#[test]
fn hlsd_program_for_each_codec() {
    let tracks = [
        Track {
            id: 7,
            codec: TrackCodec::Audio(AudioCodec::Ac3),
        },
        Track {
            id: 3,
            codec: TrackCodec::Video(VideoCodec::H265),
        },
        Track {
            id: 0,
            codec: TrackCodec::Audio(AudioCodec::Mpeg),
        },
    ];
    let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None));
    seg.set_tracks(&tracks).unwrap();
    let pmt = std::iter::from_fn(|| seg.poll_event())
        .find_map(|e| match e {
            Event::Program(p) => Some(p),
            _ => None,
        })
        .unwrap();
    let streams: Vec<_> = pmt
        .streams
        .iter()
        .map(|e| (e.stream_type, e.pid.0, e.descriptors.clone()))
        .collect();
    assert_eq!(
        streams,
        [
            (0x81, 0x100, b"\x05\x04AC-3".to_vec()),
            (0x24, 0x101, vec![]),
            (0x03, 0x102, vec![]),
        ]
    );
    // The timeline is the video track: the PCR is on its PID.
    assert_eq!(pmt.pcr_pid, Pid(0x101));
}

#[test]
fn more_than_64_tracks_are_refused() {
    let track = |id| Track {
        id,
        codec: TrackCodec::Audio(AudioCodec::Mpeg),
    };
    let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None));
    let many: Vec<Track> = (0..65).map(track).collect();
    assert_eq!(
        seg.set_tracks(&many),
        Err(AccessUnitError::TooManyTracks { count: 65 })
    );
    assert_eq!(seg.set_tracks(&many[..64]), Ok(()));
    // 64 are taken, all in the program.
    let pmt = std::iter::from_fn(|| seg.poll_event())
        .find_map(|e| match e {
            Event::Program(p) => Some(p),
            _ => None,
        })
        .unwrap();
    assert_eq!(pmt.streams.len(), 64);
}

#[test]
fn tracks_declared_again_rewrite_the_program_in_the_part() {
    let s = Synth::default();
    let units = s.access_units(100);
    let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None));
    seg.set_tracks(&s.tracks()).unwrap();
    let mut r = Run::default();
    let mut more = s.tracks();
    more.push(Track {
        id: 9,
        codec: TrackCodec::Audio(AudioCodec::Ac3),
    });
    for (i, u) in units.into_iter().enumerate() {
        if i == 60 {
            seg.set_tracks(&more).unwrap();
        }
        seg.push_access_unit(u, 0).unwrap();
        drain(&mut seg, &mut r);
    }
    seg.finish(0);
    drain(&mut seg, &mut r);
    // The tables in order: version 0 until the change, then version 1 with the AC-3 track,
    // also where the change came, in the middle of a part; counters run on throughout.
    let all: Vec<u8> = r.segments.iter().flat_map(Segment::to_vec).collect();
    let mut cc: HashMap<u16, u8> = HashMap::new();
    let mut versions = Vec::new();
    for p in all.chunks_exact(PACKET_SIZE) {
        let p = Packet::new(p.try_into().unwrap());
        let pid = p.pid().0;
        if let Some(c) = cc.insert(pid, p.continuity_counter()) {
            assert_eq!(p.continuity_counter(), (c + 1) & 15, "pid {pid:#x}");
        }
        if p.pid() == UNIT_PMT_PID {
            let section = SectionAssembler::default().push(&p).unwrap().unwrap();
            let pmt = parse_pmt(&section).unwrap();
            versions.push(((section[5] >> 1) & 0x1F, pmt.streams.len()));
        }
    }
    let change = versions.iter().position(|v| v.0 == 1).unwrap();
    assert!(change >= 1);
    assert!(versions[..change].iter().all(|v| *v == (0, 2)));
    assert!(versions[change..].iter().all(|v| *v == (1, 3)));
    let pmt_starts: usize = r.segments.iter().map(|s| s.parts.len()).sum();
    assert_eq!(
        versions.len(),
        pmt_starts + 1,
        "one more PMT, where the tracks changed"
    );
}
