//! An independent, deliberately simple MPEG-TS reader for checking hlsd's output
//! (ISO/IEC 13818-1 §2.4.3 packets, §2.4.4 PAT/PMT, §2.4.3.6 PES headers).
//!
//! It shares no code with `src/`: it is the check, not the thing checked. It favours
//! clarity over speed and panics on malformed input, which in a test is a failure.

use std::collections::{BTreeMap, BTreeSet};

pub const PACKET: usize = 188;
pub const PTS_WRAP: u64 = 1 << 33;

/// Stream types (ISO/IEC 13818-1 Table 2-34) that the checks care about.
pub const STREAM_H264: u8 = 0x1b;
pub const STREAM_H265: u8 = 0x24;
pub const STREAM_AAC_ADTS: u8 = 0x0f;

pub fn is_video(stream_type: u8) -> bool {
    matches!(stream_type, STREAM_H264 | STREAM_H265 | 0x01 | 0x02 | 0x10)
}

/// Splits a buffer made only of whole, synchronised packets.
pub fn packets(data: &[u8]) -> Vec<&[u8]> {
    assert_eq!(
        data.len() % PACKET,
        0,
        "TS length {} is not a multiple of 188",
        data.len()
    );
    data.chunks_exact(PACKET)
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p[0], 0x47, "packet {i} has no sync byte");
            p
        })
        .collect()
}

pub fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])
}

/// payload_unit_start_indicator.
pub fn pusi(p: &[u8]) -> bool {
    p[1] & 0x40 != 0
}

pub fn continuity_counter(p: &[u8]) -> u8 {
    p[3] & 0x0f
}

/// The payload of a packet (after the adaptation field), empty when it has none.
pub fn payload(p: &[u8]) -> &[u8] {
    let afc = (p[3] >> 4) & 0x3;
    match afc {
        0b01 => &p[4..],
        0b11 => {
            let len = usize::from(p[4]);
            if 5 + len >= PACKET {
                &[]
            } else {
                &p[5 + len..]
            }
        }
        _ => &[],
    }
}

/// The first complete PSI section that starts in this packet (pointer field honoured).
/// Sections that span packets are not needed here: PAT and PMT of one program fit in one.
pub fn section(p: &[u8]) -> Option<&[u8]> {
    if !pusi(p) {
        return None;
    }
    let pl = payload(p);
    let pointer = usize::from(*pl.first()?);
    let s = pl.get(1 + pointer..)?;
    if s.len() < 3 || s[0] == 0xff {
        return None;
    }
    let len = (usize::from(s[1] & 0x0f) << 8) | usize::from(s[2]);
    s.get(..3 + len)
}

/// CRC-32/MPEG-2 of a section (over everything but the CRC it checks it against).
pub fn crc32_mpeg(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn check_crc(section: &[u8]) {
    let n = section.len();
    let stored = u32::from_be_bytes(section[n - 4..].try_into().unwrap());
    assert_eq!(
        crc32_mpeg(&section[..n - 4]),
        stored,
        "PSI section CRC mismatch"
    );
}

/// PMT PIDs from a PAT section (program 0 is the NIT and is skipped).
pub fn parse_pat(section: &[u8]) -> Vec<u16> {
    assert_eq!(section[0], 0x00, "not a PAT (table_id {:#x})", section[0]);
    check_crc(section);
    let body = &section[8..section.len() - 4];
    body.chunks_exact(4)
        .filter(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
        .map(|e| (u16::from(e[2] & 0x1f) << 8) | u16::from(e[3]))
        .collect()
}

/// (elementary PID, stream type) pairs from a PMT section.
pub fn parse_pmt(section: &[u8]) -> Vec<(u16, u8)> {
    assert_eq!(section[0], 0x02, "not a PMT (table_id {:#x})", section[0]);
    check_crc(section);
    let program_info_len = (usize::from(section[10] & 0x0f) << 8) | usize::from(section[11]);
    let mut rest = &section[12 + program_info_len..section.len() - 4];
    let mut out = Vec::new();
    while rest.len() >= 5 {
        let stream_type = rest[0];
        let epid = (u16::from(rest[1] & 0x1f) << 8) | u16::from(rest[2]);
        let es_info_len = (usize::from(rest[3] & 0x0f) << 8) | usize::from(rest[4]);
        out.push((epid, stream_type));
        rest = &rest[(5 + es_info_len).min(rest.len())..];
    }
    out
}

/// What a TS buffer declares: its PMT PIDs and its elementary streams.
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub pmt_pids: BTreeSet<u16>,
    /// elementary PID → stream type
    pub streams: BTreeMap<u16, u8>,
}

impl Info {
    pub fn parse(data: &[u8]) -> Info {
        let pk = packets(data);
        let mut info = Info::default();
        for p in &pk {
            if pid(p) == 0
                && let Some(s) = section(p)
            {
                info.pmt_pids.extend(parse_pat(s));
            }
        }
        for p in &pk {
            if info.pmt_pids.contains(&pid(p))
                && let Some(s) = section(p)
            {
                info.streams.extend(parse_pmt(s));
            }
        }
        info
    }

    pub fn video_pid(&self) -> Option<u16> {
        self.streams
            .iter()
            .find(|(_, t)| is_video(**t))
            .map(|(p, _)| *p)
    }

    pub fn is_psi(&self, p: &[u8]) -> bool {
        let id = pid(p);
        id == 0 || self.pmt_pids.contains(&id)
    }
}

/// Packets that are not PAT or PMT, in order.
pub fn strip_psi(data: &[u8]) -> Vec<&[u8]> {
    let info = Info::parse(data);
    packets(data)
        .into_iter()
        .filter(|p| !info.is_psi(p))
        .collect()
}

/// A PES parsed from a list of packets: where it starts and its header fields.
#[derive(Debug, Clone)]
pub struct Pes {
    pub pid: u16,
    /// Index of the packet carrying its start in the list it was read from.
    pub first_packet: usize,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// The elementary stream bytes (PES header removed).
    pub data: Vec<u8>,
}

fn read_ts(b: &[u8]) -> u64 {
    (u64::from(b[0] & 0x0e) << 29)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] & 0xfe) << 14)
        | (u64::from(b[3]) << 7)
        | (u64::from(b[4]) >> 1)
}

/// Reassembles the PES of every PID in `pids` (a PES runs from one PUSI to the next).
pub fn pes_list(pk: &[&[u8]], pids: &BTreeSet<u16>) -> Vec<Pes> {
    let mut open: BTreeMap<u16, (usize, Vec<u8>)> = BTreeMap::new();
    let mut done: Vec<(u16, usize, Vec<u8>)> = Vec::new();
    for (i, p) in pk.iter().enumerate() {
        let id = pid(p);
        if !pids.contains(&id) {
            continue;
        }
        if pusi(p) {
            if let Some((start, buf)) = open.remove(&id) {
                done.push((id, start, buf));
            }
            open.insert(id, (i, payload(p).to_vec()));
        } else if let Some((_, buf)) = open.get_mut(&id) {
            buf.extend_from_slice(payload(p));
        }
    }
    done.extend(open.into_iter().map(|(id, (s, b))| (id, s, b)));
    done.sort_by_key(|(_, s, _)| *s);
    done.into_iter()
        .filter_map(|(pid, first_packet, buf)| {
            if buf.len() < 9 || buf[..3] != [0, 0, 1] {
                return None;
            }
            let flags = buf[7] >> 6;
            let header_len = usize::from(buf[8]);
            let pts = (flags & 0b10 != 0 && buf.len() >= 14).then(|| read_ts(&buf[9..14]));
            let dts = (flags == 0b11 && buf.len() >= 19).then(|| read_ts(&buf[14..19]));
            let data = buf.get(9 + header_len..).unwrap_or(&[]).to_vec();
            Some(Pes {
                pid,
                first_packet,
                pts,
                dts,
                data,
            })
        })
        .collect()
}

/// NAL unit types of an Annex B H.264 byte stream (start codes 00 00 01 / 00 00 00 01).
pub fn h264_nal_types(es: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 < es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            out.push(es[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether an H.264 access unit holds an IDR slice (NAL type 5).
pub fn is_idr(es: &[u8]) -> bool {
    h264_nal_types(es).contains(&5)
}

/// Index in `pk` of the packet that starts the first keyframe: the first video PES holding
/// an IDR, or for audio-only streams the first PES start of any elementary stream.
pub fn first_keyframe(pk: &[&[u8]], info: &Info) -> Option<usize> {
    match info.video_pid() {
        Some(v) => {
            let pids = BTreeSet::from([v]);
            pes_list(pk, &pids)
                .into_iter()
                .find(|p| is_idr(&p.data))
                .map(|p| p.first_packet)
        }
        None => {
            let pids: BTreeSet<u16> = info.streams.keys().copied().collect();
            pes_list(pk, &pids).first().map(|p| p.first_packet)
        }
    }
}

/// Presentation times (90 kHz, as coded) of the keyframes of the video PID, in order.
pub fn keyframe_pts(data: &[u8]) -> Vec<u64> {
    let info = Info::parse(data);
    let v = info.video_pid().expect("a video stream");
    let pk = packets(data);
    pes_list(&pk, &BTreeSet::from([v]))
        .into_iter()
        .filter(|p| is_idr(&p.data))
        .filter_map(|p| p.pts)
        .collect()
}

/// All PES of all elementary streams of a buffer.
pub fn all_pes(data: &[u8]) -> Vec<Pes> {
    let info = Info::parse(data);
    let pids: BTreeSet<u16> = info.streams.keys().copied().collect();
    pes_list(&packets(data), &pids)
}

/// Checks hlsd's segment layout: PAT, then the PMT it announces, then (for streams with
/// video) the start of a video PES holding an IDR, or (audio-only) the start of a PES.
/// Returns the parsed PSI of the segment.
pub fn assert_segment_start(seg: &[u8], what: &str) -> Info {
    let pk = packets(seg);
    assert!(pk.len() >= 3, "{what}: only {} packets", pk.len());
    assert_eq!(pid(pk[0]), 0, "{what}: first packet is not the PAT");
    let pat = section(pk[0]).unwrap_or_else(|| panic!("{what}: first packet has no PAT section"));
    let pmt_pids = parse_pat(pat);
    assert_eq!(pmt_pids.len(), 1, "{what}: PAT lists {pmt_pids:?}");
    assert_eq!(
        pid(pk[1]),
        pmt_pids[0],
        "{what}: second packet is not the PMT"
    );
    let pmt = section(pk[1]).unwrap_or_else(|| panic!("{what}: second packet has no PMT section"));
    let streams = parse_pmt(pmt);
    assert!(!streams.is_empty(), "{what}: PMT lists no stream");
    let info = Info {
        pmt_pids: pmt_pids.into_iter().collect(),
        streams: streams.into_iter().collect(),
    };
    let third = pk[2];
    assert!(pusi(third), "{what}: third packet does not start a PES");
    match info.video_pid() {
        Some(v) => {
            assert_eq!(pid(third), v, "{what}: third packet is not video");
            let pes = pes_list(&pk[2..], &BTreeSet::from([v]));
            let first = pes
                .first()
                .unwrap_or_else(|| panic!("{what}: no video PES"));
            assert_eq!(first.first_packet, 0);
            assert!(
                is_idr(&first.data),
                "{what}: first video PES is not an IDR (NALs {:?})",
                h264_nal_types(&first.data)
            );
        }
        None => assert!(
            info.streams.contains_key(&pid(third)),
            "{what}: third packet is not an elementary stream"
        ),
    }
    info
}

/// A valid but empty MPEG-TS stream for tests that need no media: a PAT, a PMT declaring an
/// H.264 stream on PID 0x100, then `nulls` null packets, repeated `repeat` times.
pub fn synthetic_ts(repeat: usize, nulls: usize) -> Vec<u8> {
    fn psi_packet(pid: u16, cc: u8, section: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            0x40 | (pid >> 8) as u8,
            pid as u8,
            0x10 | (cc & 0x0f),
            0x00,
        ];
        p.extend_from_slice(section);
        p.resize(PACKET, 0xff);
        p
    }
    fn with_crc(mut s: Vec<u8>) -> Vec<u8> {
        let crc = crc32_mpeg(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }
    // table_id, section_length (filled below), ts_id, version/current, section numbers.
    let mut pat = vec![
        0x00, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00,
    ];
    pat[2] = (pat.len() - 3 + 4) as u8;
    let pat = with_crc(pat);
    let mut pmt = vec![
        0x02, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00,
    ];
    pmt.extend_from_slice(&[STREAM_H264, 0xe1, 0x00, 0xf0, 0x00]);
    pmt[2] = (pmt.len() - 3 + 4) as u8;
    let pmt = with_crc(pmt);
    let mut out = Vec::new();
    for i in 0..repeat {
        out.extend(psi_packet(0, i as u8, &pat));
        out.extend(psi_packet(0x1000, i as u8, &pmt));
        for _ in 0..nulls {
            let mut p = vec![0x47, 0x1f, 0xff, 0x10];
            p.resize(PACKET, 0xff);
            out.extend(p);
        }
    }
    out
}
