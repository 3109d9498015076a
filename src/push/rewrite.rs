//! Seamless looping of a TS file (ISO/IEC 13818-1 §2.4.3.3 continuity counters, §2.4.3.5
//! PCR/OPCR, §2.4.3.7 PTS/DTS): pass `k` of the file is the file with every timestamp moved
//! `k` × its duration forwards (modulo 2^33) and every continuity counter carried on from the
//! previous pass, so that a reader sees one continuous stream: no timestamp jump, no
//! continuity error, and so no EXT-X-DISCONTINUITY at the loop point.
//!
//! Sans-I/O: the bytes come in once, passes come out as `Bytes`, with a pacing schedule
//! (when each byte is due, from PCR, or from the first video stream's DTS without PCR) that
//! the push client follows in real time.

use crate::codec::audio::adts_ticks;
use crate::codec::{AudioCodec, StreamKind};
use crate::ts::pes::{encode_timestamp, parse_header};
use crate::ts::psi::{SectionAssembler, parse_pat, parse_pmt};
use crate::ts::{Framer, PACKET_SIZE, Packet, Pid, Ts, Unroller};
use bytes::Bytes;
use std::collections::HashMap;

const WRAP: i64 = 1 << 33;

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum RewriteError {
    #[error("no MPEG-TS packets in the file")]
    NoPackets,
    #[error("no PCR and no PES timestamps in the file: cannot pace or loop it")]
    NoTimestamps,
}

/// The bytes of a pass up to `end` are due `at` after the pass starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub end: usize,
    pub at: Ts,
}

/// What a pass knows about one PID of the file.
#[derive(Debug, Clone, Copy)]
struct PidInfo {
    first_cc: u8,
    first_has_payload: bool,
    last_cc: u8,
    /// Added to the file's CC in the current pass (mod 16).
    offset: u8,
}

/// Decode times of one PES stream, unrolled.
#[derive(Debug, Clone, Copy)]
struct Span {
    first: i64,
    prev: i64,
    last: i64,
    /// Media time of the last PES, when it can be counted (AAC: its ADTS frames).
    last_duration: Option<i64>,
}

impl Span {
    /// Where the stream's media ends: its last decode time plus the last PES's duration,
    /// or, when that cannot be counted, the step before it (one frame for video, whose PES
    /// hold one frame each).
    fn reach(&self) -> i64 {
        self.last + self.last_duration.unwrap_or(self.last - self.prev)
    }
}

pub struct LoopRewriter {
    packets: Bytes,
    duration: Ts,
    schedule: Vec<Checkpoint>,
    pids: HashMap<u16, PidInfo>,
    pass: u64,
}

impl LoopRewriter {
    /// Reads the file: its packets (garbage between them is dropped by the framer), its
    /// duration and its pacing schedule.
    pub fn new(file: &[u8]) -> Result<Self, RewriteError> {
        let mut packets = Vec::with_capacity(file.len());
        let mut framer = Framer::new();
        framer.push(file, |p| packets.extend_from_slice(p.bytes()));
        framer.finish(|p| packets.extend_from_slice(p.bytes()));
        if packets.is_empty() {
            return Err(RewriteError::NoPackets);
        }
        let scan = Scan::run(&packets);
        // The loop is as long as the longest stream: its first decode time to its last plus
        // that PES's duration. No stream's timestamps then step back at the join, and only
        // streams shorter than the longest get a gap there, of the difference. (Measuring
        // from the earliest start of any stream to the furthest end instead would put a gap
        // into every stream of a clip whose audio is offset from its video, as ffmpeg's
        // often is by a frame or two.)
        let duration = scan
            .spans
            .values()
            .map(|s| s.reach() - s.first)
            .max()
            .ok_or(RewriteError::NoTimestamps)?;
        Ok(LoopRewriter {
            packets: Bytes::from(packets),
            duration: Ts(duration),
            schedule: scan.schedule,
            pids: scan.pids,
            pass: 0,
        })
    }

    /// How far one pass moves the timestamps: the longest stream's span, from its first
    /// decode time to its last plus that PES's duration.
    pub fn duration(&self) -> Ts {
        self.duration
    }

    /// When each part of a pass is due, relative to the pass's start; in byte order, with
    /// non-decreasing times. Bytes after the last checkpoint are due at once.
    pub fn schedule(&self) -> &[Checkpoint] {
        &self.schedule
    }

    /// Passes produced so far.
    pub fn passes(&self) -> u64 {
        self.pass
    }

    /// The next pass of the file: the file itself first, then shifted copies.
    pub fn next_pass(&mut self) -> Bytes {
        let shift = (self.pass as i64)
            .wrapping_mul(self.duration.0)
            .rem_euclid(WRAP);
        let unchanged = shift == 0 && self.pids.values().all(|info| info.offset == 0);
        let out = if unchanged {
            // The first pass is the file itself: shared, not copied.
            self.packets.clone()
        } else {
            let mut out = self.packets.to_vec();
            for pkt in out.chunks_exact_mut(PACKET_SIZE) {
                let pid = Pid(u16::from(pkt[1] & 0x1F) << 8 | u16::from(pkt[2]));
                if let Some(info) = self.pids.get(&pid.0) {
                    pkt[3] = (pkt[3] & 0xF0) | ((pkt[3] & 0x0F).wrapping_add(info.offset) & 0x0F);
                }
                if shift != 0 {
                    shift_packet(pkt, shift);
                }
            }
            Bytes::from(out)
        };
        // Carry each counter on: the next pass's first packet of a PID follows this pass's
        // last one (+1 when it carries payload, §2.4.3.3).
        for info in self.pids.values_mut() {
            let last_out = info.last_cc.wrapping_add(info.offset) & 0x0F;
            let expected = last_out.wrapping_add(u8::from(info.first_has_payload)) & 0x0F;
            info.offset = expected.wrapping_sub(info.first_cc) & 0x0F;
        }
        self.pass += 1;
        out
    }
}

/// One walk over the file's packets.
#[derive(Default)]
struct Scan {
    pids: HashMap<u16, PidInfo>,
    spans: HashMap<u16, Span>,
    schedule: Vec<Checkpoint>,
    /// Video PIDs of the PMTs.
    video: Vec<u16>,
    /// AAC PIDs of the PMTs, with the elementary stream bytes of their latest PES (an
    /// audio PES may hold several frames: ffmpeg packs up to ~0.3 s, and the file's last
    /// one is often shorter, so its duration is counted, not guessed from the step before).
    aac: HashMap<u16, Vec<u8>>,
}

impl Scan {
    fn run(packets: &[u8]) -> Scan {
        let mut scan = Scan::default();
        let mut pat = SectionAssembler::default();
        let mut pmt_pids: HashMap<u16, SectionAssembler> = HashMap::new();
        let mut pcr_pid: Option<u16> = None;
        let mut pcr_clock = Unroller::default();
        let mut dts_clocks: HashMap<u16, Unroller> = HashMap::new();
        // Checkpoints from PCR and from PES decode times; PCR wins when there is any.
        let mut by_pcr = Vec::new();
        let mut by_dts: Vec<(u16, Checkpoint)> = Vec::new();
        for (i, raw) in packets.chunks_exact(PACKET_SIZE).enumerate() {
            let Ok(raw) = <&[u8; PACKET_SIZE]>::try_from(raw) else {
                continue;
            };
            let pkt = Packet::new(raw);
            let pid = pkt.pid();
            let end = (i + 1) * PACKET_SIZE;
            if pid == Pid::NULL {
                continue;
            }
            let cc = pkt.continuity_counter();
            scan.pids
                .entry(pid.0)
                .and_modify(|p| p.last_cc = cc)
                .or_insert(PidInfo {
                    first_cc: cc,
                    first_has_payload: pkt.payload().is_some(),
                    last_cc: cc,
                    offset: 0,
                });
            if pid == Pid::PAT {
                if let Some(Ok(s)) = pat.push(&pkt)
                    && let Ok(p) = parse_pat(&s)
                {
                    for prog in p.programs {
                        pmt_pids.entry(prog.pmt_pid.0).or_default();
                    }
                }
                continue;
            }
            if let Some(asm) = pmt_pids.get_mut(&pid.0) {
                if let Some(Ok(s)) = asm.push(&pkt)
                    && let Ok(pmt) = parse_pmt(&s)
                {
                    for e in pmt.streams {
                        let kind = StreamKind::from_stream_type(e.stream_type);
                        if matches!(kind, StreamKind::Video(_)) && !scan.video.contains(&e.pid.0) {
                            scan.video.push(e.pid.0);
                        }
                        if kind == StreamKind::Audio(AudioCodec::Aac) {
                            scan.aac.entry(e.pid.0).or_default();
                        }
                    }
                }
                continue;
            }
            if let Some(pcr) = read_clock(raw, ClockField::Pcr)
                && *pcr_pid.get_or_insert(pid.0) == pid.0
            {
                by_pcr.push(Checkpoint {
                    end,
                    at: pcr_clock.unroll(pcr),
                });
            }
            if let Some(es) = scan.aac.get_mut(&pid.0)
                && let Some(payload) = pkt.payload()
            {
                if pkt.pusi() {
                    es.clear();
                    let start = parse_header(payload).map_or(payload.len(), |h| h.data_offset);
                    es.extend_from_slice(&payload[start.min(payload.len())..]);
                } else {
                    es.extend_from_slice(payload);
                }
            }
            if pkt.pusi()
                && let Some(h) = pkt.payload().and_then(|p| parse_header(p).ok())
                && let Some(dts) = h.decode_time()
            {
                // A stream's clock starts next to the first stream's, so that streams on
                // either side of a wrap agree.
                let near = scan.spans.values().next().map(|s| Ts(s.first));
                let t = dts_clocks
                    .entry(pid.0)
                    .or_insert_with(|| Unroller::near(near))
                    .unroll(dts)
                    .0;
                scan.spans
                    .entry(pid.0)
                    .and_modify(|s| {
                        s.prev = s.last;
                        s.last = t;
                    })
                    .or_insert(Span {
                        first: t,
                        prev: t,
                        last: t,
                        last_duration: None,
                    });
                by_dts.push((
                    pid.0,
                    Checkpoint {
                        end: i * PACKET_SIZE,
                        at: Ts(t),
                    },
                ));
            }
        }
        let clock = if by_pcr.is_empty() {
            // Pace by the first video stream, or by the first stream with timestamps.
            let pace = (scan.video.iter())
                .find(|v| by_dts.iter().any(|(p, _)| p == *v))
                .copied()
                .or(by_dts.first().map(|(p, _)| *p));
            by_dts
                .into_iter()
                .filter(|(p, _)| Some(*p) == pace)
                .map(|(_, c)| c)
                .collect()
        } else {
            by_pcr
        };
        scan.schedule = relative(clock);
        for (pid, es) in &scan.aac {
            if let Some(span) = scan.spans.get_mut(pid) {
                span.last_duration = adts_ticks(es);
            }
        }
        scan
    }
}

/// Makes times relative to the first checkpoint and never decreasing.
fn relative(mut clock: Vec<Checkpoint>) -> Vec<Checkpoint> {
    let Some(first) = clock.first().map(|c| c.at) else {
        return clock;
    };
    let mut max = Ts(0);
    for c in &mut clock {
        max = max.max(c.at - first);
        c.at = max;
    }
    clock
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClockField {
    Pcr,
    Opcr,
}

/// Where the PCR or OPCR sits in a packet (§2.4.3.4, Table 2-6), if present.
fn clock_pos(pkt: &[u8; PACKET_SIZE], field: ClockField) -> Option<usize> {
    if pkt[3] & 0x20 == 0 || pkt[4] == 0 {
        return None;
    }
    let af_len = usize::from(pkt[4]);
    let flags = pkt[5];
    let has_pcr = flags & 0x10 != 0;
    let pos = match field {
        ClockField::Pcr if has_pcr => 6,
        ClockField::Opcr if flags & 0x08 != 0 => 6 + if has_pcr { 6 } else { 0 },
        _ => return None,
    };
    // The field must lie within the adaptation field (which starts at byte 5).
    (pos + 6 <= 5 + af_len && pos + 6 <= PACKET_SIZE).then_some(pos)
}

/// The 33-bit base of the PCR or OPCR, in 90 kHz ticks.
fn read_clock(pkt: &[u8; PACKET_SIZE], field: ClockField) -> Option<u64> {
    let p = clock_pos(pkt, field)?;
    let b = &pkt[p..p + 6];
    Some(
        u64::from(b[0]) << 25
            | u64::from(b[1]) << 17
            | u64::from(b[2]) << 9
            | u64::from(b[3]) << 1
            | u64::from(b[4]) >> 7,
    )
}

/// Writes a new 33-bit base, keeping the reserved bits and the 27 MHz extension.
fn write_clock(pkt: &mut [u8; PACKET_SIZE], field: ClockField, base: u64) {
    let Some(p) = clock_pos(pkt, field) else {
        return;
    };
    pkt[p] = (base >> 25) as u8;
    pkt[p + 1] = (base >> 17) as u8;
    pkt[p + 2] = (base >> 9) as u8;
    pkt[p + 3] = (base >> 1) as u8;
    pkt[p + 4] = ((base as u8 & 1) << 7) | (pkt[p + 4] & 0x7F);
}

/// Moves the PCR, OPCR, PTS and DTS of one packet `shift` ticks forwards (mod 2^33).
fn shift_packet(pkt: &mut [u8], shift: i64) {
    let Ok(pkt) = <&mut [u8; PACKET_SIZE]>::try_from(pkt) else {
        return;
    };
    let add = |t: u64| (t as i64 + shift).rem_euclid(WRAP) as u64;
    for field in [ClockField::Pcr, ClockField::Opcr] {
        if let Some(base) = read_clock(pkt, field) {
            write_clock(pkt, field, add(base));
        }
    }
    let view = Packet::new(pkt);
    if !view.pusi() {
        return;
    }
    let Some(payload) = view.payload() else {
        return;
    };
    let start = PACKET_SIZE - payload.len();
    let Ok(h) = parse_header(payload) else {
        return;
    };
    match (h.pts, h.dts) {
        (Some(pts), None) => {
            pkt[start + 9..start + 14].copy_from_slice(&encode_timestamp(0b0010, add(pts)));
        }
        (Some(pts), Some(dts)) => {
            pkt[start + 9..start + 14].copy_from_slice(&encode_timestamp(0b0011, add(pts)));
            pkt[start + 14..start + 19].copy_from_slice(&encode_timestamp(0b0001, add(dts)));
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
