//! Synthetic MPEG-TS streams built in code, for tests, fuzz seeds and benchmarks: a real
//! packet structure (PAT, PMT, PES with PTS/DTS, H.264 access units with AUD, SEI and
//! IDR or non-IDR slices, ADTS-framed audio), with fake slice payloads. The publisher's
//! PAT/PMT are written with mpeg2ts, independently of hlsd's own PSI writer.

use crate::codec::{AudioCodec, VideoCodec};
use crate::segmenter::{AccessUnit, AudioFrames, Track, TrackCodec};
use crate::ts::pes::encode_timestamp;
use crate::ts::{PACKET_SIZE, Pid, Ts};
use bytes::Bytes;
use mpeg2ts::es::StreamType;
use mpeg2ts::ts::payload::{Pat, Pmt};
use mpeg2ts::ts::{
    ContinuityCounter, EsInfo, ProgramAssociation, TsHeader, TsPacket, TsPacketWriter, TsPayload,
    VersionNumber, WriteTsPacket,
};
use std::collections::HashMap;

pub const VIDEO_PID: Pid = Pid(0x100);
pub const AUDIO_PID: Pid = Pid(0x101);
pub const PMT_PID: Pid = Pid(0x1000);

/// A real SPS (High profile, level 3.1, 1280x720, 30 fps), taken from an x264 encode.
pub const SPS_1280X720_HIGH: &[u8] = &[
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];

/// [`SPS_1280X720_HIGH`] at level 4.0: another configuration, as an encoder that changed
/// settings mid-stream sends.
pub const SPS_1280X720_HIGH_L40: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];

/// The PPS written after [`SPS_1280X720_HIGH`] in each keyframe.
pub const PPS: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0];

/// Describes a stream to synthesise.
#[derive(Debug, Clone)]
pub struct Synth {
    /// Video frame duration in 90 kHz ticks (3600 = 25 fps, 3753.75 = 23.976 fps); `None`
    /// makes an audio-only stream.
    pub frame_ticks: Option<f64>,
    /// Frames between keyframes.
    pub gop: usize,
    /// When set, exactly these frame indices are keyframes (`gop` is then ignored).
    pub keyframes: Option<Vec<usize>>,
    /// Slice bytes per frame (keyframes get four times as many).
    pub frame_bytes: usize,
    /// SEI bytes before each slice, to push the slice header into a later packet.
    pub sei_bytes: usize,
    pub audio: bool,
    /// Audio PES duration in ticks (1920 = 1024 samples at 48 kHz).
    pub audio_ticks: i64,
    /// First timestamp; written modulo 2^33 so it can sit just below the wrap.
    pub start: i64,
    /// (frame index, ticks added to every timestamp from that frame on).
    pub jumps: Vec<(usize, i64)>,
    /// Keyframes from this frame index on carry [`SPS_1280X720_HIGH_L40`].
    pub sps_change: Option<usize>,
}

impl Default for Synth {
    fn default() -> Self {
        Synth {
            frame_ticks: Some(3600.0),
            gop: 25,
            keyframes: None,
            frame_bytes: 1500,
            sei_bytes: 0,
            audio: true,
            audio_ticks: 1920,
            start: 90_000,
            jumps: Vec::new(),
            sps_change: None,
        }
    }
}

struct Writer {
    out: Vec<u8>,
    cc: HashMap<u16, ContinuityCounter>,
}

impl Writer {
    fn cc(&mut self, pid: Pid) -> ContinuityCounter {
        let c = self.cc.entry(pid.0).or_default();
        let now = *c;
        c.increment();
        now
    }

    fn psi(&mut self, audio_only: bool, audio: bool) {
        let mut es = Vec::new();
        if !audio_only {
            es.push(EsInfo {
                stream_type: StreamType::H264,
                elementary_pid: pid(VIDEO_PID),
                descriptors: vec![],
            });
        }
        if audio {
            es.push(EsInfo {
                stream_type: StreamType::AdtsAac,
                elementary_pid: pid(AUDIO_PID),
                descriptors: vec![],
            });
        }
        let pcr = if audio_only { AUDIO_PID } else { VIDEO_PID };
        let pat = TsPayload::Pat(Pat {
            transport_stream_id: 1,
            version_number: VersionNumber::default(),
            table: vec![ProgramAssociation {
                program_num: 1,
                program_map_pid: pid(PMT_PID),
            }],
        });
        let pmt = TsPayload::Pmt(Pmt {
            program_num: 1,
            pcr_pid: Some(pid(pcr)),
            version_number: VersionNumber::default(),
            program_info: vec![],
            es_info: es,
        });
        for (p, payload) in [(Pid::PAT, pat), (PMT_PID, pmt)] {
            let packet = TsPacket {
                header: TsHeader {
                    transport_error_indicator: false,
                    transport_priority: false,
                    pid: pid(p),
                    transport_scrambling_control:
                        mpeg2ts::ts::TransportScramblingControl::NotScrambled,
                    continuity_counter: self.cc(p),
                },
                adaptation_field: None,
                payload: Some(payload),
            };
            let mut w = TsPacketWriter::new(&mut self.out);
            // Writing a small table into a Vec cannot fail.
            let _ = w.write_ts_packet(&packet);
        }
    }

    /// Writes one PES packet split into TS packets, stuffing the last with an adaptation field.
    fn pes(
        &mut self,
        p: Pid,
        stream_id: u8,
        pts: i64,
        dts: Option<i64>,
        data: &[u8],
        random_access: bool,
    ) {
        let mut pes = vec![0, 0, 1, stream_id, 0, 0, 0x80];
        match dts {
            Some(d) if d != pts => {
                pes.extend([0xC0, 10]);
                pes.extend(encode_timestamp(0b0011, wrap(pts)));
                pes.extend(encode_timestamp(0b0001, wrap(d)));
            }
            _ => {
                pes.extend([0x80, 5]);
                pes.extend(encode_timestamp(0b0010, wrap(pts)));
            }
        }
        pes.extend_from_slice(data);
        let mut rest = &pes[..];
        let mut first = true;
        while !rest.is_empty() {
            let mut pkt = [0xFFu8; PACKET_SIZE];
            pkt[0] = 0x47;
            pkt[1] = (u8::from(first) << 6) | (p.0 >> 8) as u8;
            pkt[2] = p.0 as u8;
            let cc = self.cc(p).as_u8();
            let flags = if first && random_access { 0x40 } else { 0 };
            let room = PACKET_SIZE - 4;
            let mut at = 4;
            if rest.len() < room || flags != 0 {
                // Adaptation field: length byte, flags, stuffing.
                let payload = rest.len().min(room - 2);
                let af_len = room - payload - 1;
                pkt[3] = 0x30 | cc;
                pkt[4] = af_len as u8;
                if af_len > 0 {
                    pkt[5] = flags;
                }
                at = 5 + af_len;
            } else {
                pkt[3] = 0x10 | cc;
            }
            let n = PACKET_SIZE - at;
            pkt[at..].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            self.out.extend_from_slice(&pkt);
            first = false;
        }
    }
}

fn pid(p: Pid) -> mpeg2ts::ts::Pid {
    // Only the constant PIDs above are used, all valid.
    mpeg2ts::ts::Pid::new(p.0).unwrap_or_else(|_| unreachable!())
}

fn wrap(t: i64) -> u64 {
    t.rem_euclid(1 << 33) as u64
}

impl Synth {
    fn is_key(&self, i: usize) -> bool {
        match &self.keyframes {
            Some(k) => k.contains(&i),
            None => i.is_multiple_of(self.gop.max(1)),
        }
    }

    fn offset(&self, i: usize) -> i64 {
        self.jumps
            .iter()
            .filter(|(at, _)| *at <= i)
            .map(|(_, o)| o)
            .sum()
    }

    /// The frames of a stream of `n` video frames (or, audio-only, `n` audio PES packets),
    /// in the order [`Synth::build`] writes them: audio interleaved in decode order, each
    /// marked when PAT and PMT come before it (before each keyframe).
    pub fn frames(&self, n: usize) -> Vec<SynthFrame> {
        let mut out = Vec::new();
        let Some(ft) = self.frame_ticks else {
            for i in 0..n {
                let t = self.start + self.offset(i) + i as i64 * self.audio_ticks;
                out.push(SynthFrame::audio(t, adts(i, 300), i % 50 == 0));
            }
            return out;
        };
        let mut audio_i = 0usize;
        for i in 0..n {
            let off = self.offset(i);
            let dts = self.start + off + (i as f64 * ft).round() as i64;
            // One B-frame style reordering: PTS = DTS + 2 frames.
            let pts = dts + (2.0 * ft).round() as i64;
            let key = self.is_key(i);
            while self.audio && self.start + off + (audio_i as i64) * self.audio_ticks <= dts {
                let t = self.start + off + audio_i as i64 * self.audio_ticks;
                out.push(SynthFrame::audio(t, adts(audio_i, 300), false));
                audio_i += 1;
            }
            let mut au = vec![0, 0, 0, 1, 0x09, 0xF0];
            if key {
                au.extend([0, 0, 0, 1]);
                let changed = self.sps_change.is_some_and(|at| i >= at);
                au.extend_from_slice(if changed {
                    SPS_1280X720_HIGH_L40
                } else {
                    SPS_1280X720_HIGH
                });
                au.extend([0, 0, 0, 1]);
                au.extend_from_slice(PPS);
            }
            if self.sei_bytes > 0 {
                au.extend([0, 0, 1, 0x06, 0x05]);
                au.extend(std::iter::repeat_n(0x5A, self.sei_bytes));
            }
            au.extend([0, 0, 1, if key { 0x65 } else { 0x41 }, 0x88]);
            let len = if key {
                4 * self.frame_bytes
            } else {
                self.frame_bytes
            };
            au.extend((0..len).map(|j| (j as u8) | 0x80));
            out.push(SynthFrame {
                pid: VIDEO_PID,
                dts,
                pts,
                key,
                data: au,
                psi_before: key || i.is_multiple_of(self.gop.max(1)),
            });
        }
        out
    }

    /// `n` video frames (or, audio-only, `n` audio PES packets), with PAT and PMT before each
    /// keyframe, audio interleaved in decode order.
    pub fn build(&self, n: usize) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::new(),
            cc: HashMap::new(),
        };
        let audio_only = self.frame_ticks.is_none();
        for f in self.frames(n) {
            if f.psi_before {
                w.psi(audio_only, self.audio || audio_only);
            }
            if f.pid == VIDEO_PID {
                w.pes(VIDEO_PID, 0xE0, f.pts, Some(f.dts), &f.data, f.key);
            } else {
                w.pes(AUDIO_PID, 0xC0, f.pts, None, &f.data, false);
            }
        }
        w.out
    }

    /// The tracks of [`Synth::access_units`]: the PIDs of the TS [`Synth::build`] writes.
    pub fn tracks(&self) -> Vec<Track> {
        let mut t = Vec::new();
        if self.frame_ticks.is_some() {
            t.push(Track {
                id: VIDEO_PID.0,
                codec: TrackCodec::Video(VideoCodec::H264),
            });
        }
        if self.audio || self.frame_ticks.is_none() {
            t.push(Track {
                id: AUDIO_PID.0,
                codec: TrackCodec::Audio(AudioCodec::Aac),
            });
        }
        t
    }

    /// The same stream as [`Synth::build`] as access units built in code, with no TS: the
    /// same frames, times (on the timeline the segmenter unrolls TS times onto, for streams
    /// that do not wrap) and payloads. No codec configuration is attached.
    pub fn access_units(&self, n: usize) -> Vec<AccessUnit> {
        self.frames(n)
            .into_iter()
            .map(SynthFrame::into_unit)
            .collect()
    }
}

/// One frame [`Synth`] writes: a video access unit or an audio PES payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthFrame {
    pub pid: Pid,
    pub dts: i64,
    pub pts: i64,
    pub key: bool,
    /// The PES payload: an Annex B access unit, or one ADTS frame.
    pub data: Vec<u8>,
    /// PAT and PMT are written before it.
    pub psi_before: bool,
}

impl SynthFrame {
    fn audio(t: i64, data: Vec<u8>, psi_before: bool) -> Self {
        SynthFrame {
            pid: AUDIO_PID,
            dts: t,
            pts: t,
            key: true,
            data,
            psi_before,
        }
    }

    pub fn into_unit(self) -> AccessUnit {
        let video = self.pid == VIDEO_PID;
        AccessUnit {
            track: self.pid.0,
            codec: if video {
                TrackCodec::Video(VideoCodec::H264)
            } else {
                TrackCodec::Audio(AudioCodec::Aac)
            },
            dts: Ts(self.dts),
            pts: Ts(self.pts),
            key: self.key,
            frames: (!video).then_some(AudioFrames {
                count: 1,
                samples: 1024,
            }),
            data: Bytes::from(self.data),
            config: None,
        }
    }
}

fn adts(i: usize, len: usize) -> Vec<u8> {
    let total = len + 7;
    let mut f = vec![
        0xFF,
        0xF1,
        0x4C,
        0x80 | ((total >> 11) as u8 & 3),
        (total >> 3) as u8,
        ((total as u8 & 7) << 5) | 0x1F,
        0xFC,
    ];
    f.extend((0..len).map(|j| (j + i) as u8 | 0x01));
    f
}

/// Splits a stream into chunks that each start with a video frame's first packet, as an
/// encoder writing one frame at a time would send it (the first packet of a frame is what
/// completes the part before it).
pub fn frame_chunks(ts: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, p) in ts.chunks_exact(PACKET_SIZE).enumerate() {
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        if pid == VIDEO_PID.0 && p[1] & 0x40 != 0 && i * PACKET_SIZE > start {
            out.push(&ts[start..i * PACKET_SIZE]);
            start = i * PACKET_SIZE;
        }
    }
    out.push(&ts[start..]);
    out
}
