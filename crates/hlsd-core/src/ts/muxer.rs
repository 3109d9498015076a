//! Packetizing: one PES packet (header + access unit) into 188-byte TS packets, for input
//! that brings no TS (ISO/IEC 13818-1 §2.4.3.2–§2.4.3.5). Continuity counters are kept per
//! PID for the muxer's life, so they run on across parts and segments; the payload is taken
//! from its pieces as given and written once into the sink (no intermediate copy); the last
//! packet of a PES is filled with adaptation-field stuffing, never with bytes in the payload.
//!
//! Clock: PES on the PCR PID carry a PCR in the adaptation field of their first packet
//! (with the random_access_indicator on keyframes), and on later packets of the same PES
//! whenever the time interpolated across it (the unit's duration spread over its bytes)
//! moved [`PCR_REPEAT`] past the last PCR. PCRs are thus within 100 ms of each other unless
//! the PCR PID's units step further apart than their estimated durations cover (a gap in
//! the timeline, or a long unit that fits one packet).
//! PCR = DTS − [`PCR_DELAY`] (ffmpeg's default mux delay), never going back except at a
//! timestamp discontinuity, which sets the discontinuity_indicator.

use super::packet::{PACKET_SIZE, Pid, SYNC_BYTE};
use super::pes_writer;
use super::time::Ts;

/// How far the PCR runs behind the decode time of the unit being sent.
pub const PCR_DELAY: Ts = Ts(63_000);
/// A PCR is repeated within a PES once the interpolated time moved this far.
pub const PCR_REPEAT: Ts = Ts(7_200);

/// Where packets go: a part being built, or a buffer.
pub trait TsSink {
    fn put(&mut self, bytes: &[u8]);
}

impl TsSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The clock of a PES on the PCR PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// About how long the unit lasts (0 when not known), to spread PCRs over its packets.
    pub span: Ts,
    /// Its time base does not follow the previous one (a timestamp jump).
    pub discontinuity: bool,
}

/// One PES to write.
#[derive(Debug, Clone, Copy)]
pub struct PesOut<'a> {
    pub pid: Pid,
    pub stream_id: u8,
    pub pts: Ts,
    pub dts: Ts,
    /// A keyframe: the random_access_indicator is set on its first packet.
    pub random_access: bool,
    /// Set for the PES of the PCR PID.
    pub clock: Option<Clock>,
    /// The access unit, in pieces (a prefix the muxer adds, then the unit's own bytes).
    pub payload: &'a [&'a [u8]],
}

#[derive(Debug, Default, Clone)]
pub struct Muxer {
    /// Next continuity counter per PID (a handful of PIDs).
    cc: Vec<(Pid, u8)>,
    last_pcr: Option<Ts>,
}

impl Muxer {
    /// Writes one PES as TS packets into `out`; returns the number of packets.
    pub fn write(&mut self, pes: &PesOut<'_>, out: &mut impl TsSink) -> usize {
        let payload_len: usize = pes.payload.iter().map(|p| p.len()).sum();
        let (header, header_len) = pes_writer::header(pes.stream_id, pes.pts, pes.dts, payload_len);
        let total = header_len + payload_len;
        let mut pieces = Pieces {
            header: &header[..header_len],
            rest: pes.payload,
        };
        let base = pes.clock.map(|c| {
            let t = pes.dts - PCR_DELAY;
            match self.last_pcr {
                Some(last) if !c.discontinuity => t.max(last),
                _ => t,
            }
        });
        let span = pes.clock.map_or(Ts(0), |c| c.span.clamp(Ts(0), PCR_DELAY));
        let cc_at = match self.cc.iter().position(|(p, _)| *p == pes.pid) {
            Some(i) => i,
            None => {
                self.cc.push((pes.pid, 0));
                self.cc.len() - 1
            }
        };
        let mut written = 0;
        let mut packets = 0;
        let mut head = [0xFFu8; PACKET_SIZE];
        while written < total {
            let first = written == 0;
            let pcr = match base {
                Some(b) if first => Some(b),
                Some(b) => {
                    let at = b + Ts(span.0 * written as i64 / total as i64);
                    self.last_pcr.filter(|l| at - *l >= PCR_REPEAT).map(|_| at)
                }
                None => None,
            };
            let mut flags = 0u8;
            if first && pes.clock.is_some_and(|c| c.discontinuity) {
                flags |= 0x80;
            }
            if first && pes.random_access {
                flags |= 0x40;
            }
            if pcr.is_some() {
                flags |= 0x10;
            }
            // Adaptation field bytes, its length byte included.
            let mut af = match (flags, pcr) {
                (0, _) => 0,
                (_, Some(_)) => 8,
                (_, None) => 2,
            };
            let remaining = total - written;
            if remaining < PACKET_SIZE - 4 - af {
                af = PACKET_SIZE - 4 - remaining;
            }
            let cc = &mut self.cc[cc_at].1;
            head[0] = SYNC_BYTE;
            head[1] = (u8::from(first) << 6) | (pes.pid.0 >> 8) as u8 & 0x1F;
            head[2] = pes.pid.0 as u8;
            head[3] = if af > 0 { 0x30 } else { 0x10 } | *cc;
            *cc = (*cc + 1) & 0x0F;
            if af > 0 {
                head[4] = (af - 1) as u8;
                if af > 1 {
                    head[5] = flags;
                    let mut at = 6;
                    if let Some(p) = pcr {
                        head[6..12].copy_from_slice(&pcr_field(p));
                        self.last_pcr = Some(p);
                        at = 12;
                    }
                    head[at..4 + af].fill(0xFF);
                }
            }
            out.put(&head[..4 + af]);
            let n = PACKET_SIZE - 4 - af;
            pieces.write(n, out);
            written += n;
            packets += 1;
        }
        packets
    }
}

/// The PES bytes still to write: the rest of the header, then the payload pieces.
struct Pieces<'a> {
    header: &'a [u8],
    rest: &'a [&'a [u8]],
}

impl Pieces<'_> {
    fn write(&mut self, mut n: usize, out: &mut impl TsSink) {
        while n > 0 {
            if self.header.is_empty() {
                let Some((first, rest)) = self.rest.split_first() else {
                    return;
                };
                self.header = first;
                self.rest = rest;
                continue;
            }
            let take = n.min(self.header.len());
            let (now, later) = self.header.split_at(take);
            out.put(now);
            self.header = later;
            n -= take;
        }
    }
}

/// program_clock_reference: 33-bit base at 90 kHz, 6 reserved bits, 9-bit extension 0.
fn pcr_field(t: Ts) -> [u8; 6] {
    let b = pes_writer::wrap(t);
    [
        (b >> 25) as u8,
        (b >> 17) as u8,
        (b >> 9) as u8,
        (b >> 1) as u8,
        ((b & 1) as u8) << 7 | 0x7E,
        0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::Packet;
    use crate::ts::pes::parse_header;

    fn pcr_of(p: &[u8]) -> Option<u64> {
        Packet::new(p.try_into().unwrap()).pcr()
    }

    fn pes(pid: u16, dts: i64, key: bool, clock: Option<Clock>, payload: &[&[u8]]) -> Vec<u8> {
        let mut m = Muxer::default();
        let mut out = Vec::new();
        m.write(
            &PesOut {
                pid: Pid(pid),
                stream_id: 0xE0,
                pts: Ts(dts + 3600),
                dts: Ts(dts),
                random_access: key,
                clock,
                payload,
            },
            &mut out,
        );
        out
    }

    /// Payload bytes of the packets, concatenated.
    fn payloads(ts: &[u8]) -> Vec<u8> {
        ts.chunks_exact(PACKET_SIZE)
            .flat_map(|p| {
                Packet::new(p.try_into().unwrap())
                    .payload()
                    .unwrap()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn every_payload_length_packs_and_stuffs_the_last_packet() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        for len in (1..400).chain([1000]) {
            for clock in [
                None,
                Some(Clock {
                    span: Ts(3600),
                    discontinuity: false,
                }),
            ] {
                let (a, b) = data[..len].split_at(len / 3);
                let ts = pes(0x100, 90_000, true, clock, &[a, b]);
                assert_eq!(ts.len() % PACKET_SIZE, 0, "{len}");
                let all = payloads(&ts);
                let h = parse_header(&all).unwrap();
                assert_eq!(h.dts, Some(90_000), "{len}");
                assert_eq!(&all[h.data_offset..], &data[..len], "{len}: payload intact");
                // Only the last packet may be short of payload; it is stuffed in its
                // adaptation field, never with payload bytes.
                let packets: Vec<&[u8]> = ts.chunks_exact(PACKET_SIZE).collect();
                for (i, p) in packets.iter().enumerate() {
                    if i > 0 && i + 1 < packets.len() {
                        assert_eq!(p[3] & 0x20, 0, "{len}: a full packet in the middle");
                    }
                    assert_eq!(p[0], 0x47);
                    assert_eq!(p[1] & 0x40 != 0, i == 0, "PUSI on the first only");
                    assert_eq!(usize::from(p[3] & 0x0F), i, "continuity counter");
                    assert_eq!(p[3] & 0x10, 0x10, "payload in every packet");
                }
                assert_eq!(packets[0][5] & 0x40, 0x40, "random access");
                assert_eq!(
                    pcr_of(packets[0]),
                    clock.map(|_| 90_000 - PCR_DELAY.0 as u64)
                );
            }
        }
    }

    #[test]
    fn counters_run_on_per_pid_and_pcr_never_goes_back() {
        let mut m = Muxer::default();
        let mut out = Vec::new();
        let clock = Some(Clock {
            span: Ts(3600),
            discontinuity: false,
        });
        let data = [7u8; 500];
        for (i, pid) in [0x100, 0x101, 0x100, 0x100, 0x101].into_iter().enumerate() {
            m.write(
                &PesOut {
                    pid: Pid(pid),
                    stream_id: 0xE0,
                    pts: Ts(1000 - i as i64),
                    dts: Ts(1000 - i as i64),
                    random_access: false,
                    clock: (pid == 0x100).then_some(clock).flatten(),
                    payload: &[&data],
                },
                &mut out,
            );
        }
        let mut next = std::collections::HashMap::new();
        let mut pcrs = Vec::new();
        for p in out.chunks_exact(PACKET_SIZE) {
            let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
            let cc = next.entry(pid).or_insert(0u8);
            assert_eq!(p[3] & 0x0F, *cc, "pid {pid:#x}");
            *cc = (*cc + 1) & 0x0F;
            pcrs.extend(pcr_of(p));
        }
        assert_eq!(pcrs.len(), 3);
        assert!(pcrs.windows(2).all(|w| w[0] <= w[1]), "{pcrs:?}");
    }

    #[test]
    fn a_long_pes_repeats_its_pcr_and_a_jump_is_marked() {
        let mut m = Muxer::default();
        let mut out = Vec::new();
        let data = vec![1u8; 100 * 184];
        for (dts, discontinuity) in [(90_000, false), (90_000 + 27_000, false), (70_000, true)] {
            m.write(
                &PesOut {
                    pid: Pid(0x100),
                    stream_id: 0xE0,
                    pts: Ts(dts),
                    dts: Ts(dts),
                    random_access: true,
                    clock: Some(Clock {
                        span: Ts(27_000),
                        discontinuity,
                    }),
                    payload: &[&data],
                },
                &mut out,
            );
        }
        let packets: Vec<&[u8]> = out.chunks_exact(PACKET_SIZE).collect();
        let pcrs: Vec<(usize, u64)> = packets
            .iter()
            .enumerate()
            .filter_map(|(i, p)| pcr_of(p).map(|c| (i, c)))
            .collect();
        // 300 ms per PES: a PCR every 80 ms or so, the last one before a jump.
        let firsts = pcrs.iter().filter(|(i, _)| packets[*i][1] & 0x40 != 0);
        assert_eq!(firsts.count(), 3);
        for w in pcrs.windows(2) {
            let step = w[1].1 as i64 - w[0].1 as i64;
            if packets[w[1].0][5] & 0x80 != 0 {
                assert!(step < 0, "the discontinuity goes back");
            } else {
                assert!((0..=9_000).contains(&step), "{pcrs:?}");
            }
        }
        assert_eq!(
            packets
                .iter()
                .filter(|p| p[5] & 0x80 != 0 && p[3] & 0x20 != 0 && p[4] > 0)
                .count(),
            1,
            "one discontinuity_indicator"
        );
    }
}
