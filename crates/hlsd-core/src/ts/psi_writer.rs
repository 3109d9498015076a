//! hlsd's own PAT and PMT, written at the start of every segment with hlsd's continuity
//! counters (ISO/IEC 13818-1 §2.4.4). The publisher's tables are parsed, never forwarded.
//!
//! Written by hand rather than with mpeg2ts: its `StreamType` rejects stream types it does
//! not list, and hlsd must carry unknown streams through (their PMT entries included).
//! Tests read these tables back with mpeg2ts.

use super::crc::crc32_mpeg2;
use super::packet::{PACKET_SIZE, Pid, SYNC_BYTE};
use super::psi::Pmt;

/// Pre-rendered PAT and PMT packets; only the continuity counters change per use.
#[derive(Debug, Clone)]
pub struct PsiWriter {
    pat: Vec<u8>,
    pmt: Vec<u8>,
    pat_cc: u8,
    pmt_cc: u8,
    version: u8,
}

impl PsiWriter {
    pub fn new(pmt: &Pmt, pmt_pid: Pid) -> Self {
        let mut w = PsiWriter {
            pat: Vec::new(),
            pmt: Vec::new(),
            pat_cc: 0,
            pmt_cc: 0,
            version: 0,
        };
        w.render(pmt, pmt_pid);
        w
    }

    /// The program changed: re-renders both tables under a new version number.
    pub fn update(&mut self, pmt: &Pmt, pmt_pid: Pid) {
        self.version = (self.version + 1) % 32;
        self.render(pmt, pmt_pid);
    }

    fn render(&mut self, pmt: &Pmt, pmt_pid: Pid) {
        let mut pat = Vec::with_capacity(16);
        pat.extend_from_slice(&pmt.program_number.to_be_bytes());
        pat.extend_from_slice(&(0xE000 | pmt_pid.0).to_be_bytes());
        self.pat = packetize(Pid::PAT, &section(0x00, 1, self.version, &pat));

        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&(0xE000 | pmt.pcr_pid.0).to_be_bytes());
        body.extend_from_slice(&(0xF000 | pmt.program_info.len() as u16).to_be_bytes());
        body.extend_from_slice(&pmt.program_info);
        for es in &pmt.streams {
            body.push(es.stream_type);
            body.extend_from_slice(&(0xE000 | es.pid.0).to_be_bytes());
            body.extend_from_slice(&(0xF000 | es.descriptors.len() as u16).to_be_bytes());
            body.extend_from_slice(&es.descriptors);
        }
        self.pmt = packetize(
            pmt_pid,
            &section(0x02, pmt.program_number, self.version, &body),
        );
    }

    /// Bytes of PAT then PMT packets this writer appends per use.
    pub fn len(&self) -> usize {
        self.pat.len() + self.pmt.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends PAT then PMT with the next continuity counters.
    pub fn write_into(&mut self, out: &mut Vec<u8>) {
        append(out, &self.pat, &mut self.pat_cc);
        append(out, &self.pmt, &mut self.pmt_cc);
    }
}

fn append(out: &mut Vec<u8>, packets: &[u8], cc: &mut u8) {
    for p in packets.chunks_exact(PACKET_SIZE) {
        let start = out.len();
        out.extend_from_slice(p);
        out[start + 3] = (out[start + 3] & 0xF0) | *cc;
        *cc = (*cc + 1) & 0x0F;
    }
}

/// A long-form section: header, body, CRC (§2.4.4.10).
fn section(table_id: u8, extension: u16, version: u8, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + len);
    s.push(table_id);
    s.extend_from_slice(&(0xB000 | (len as u16 & 0x0FFF)).to_be_bytes());
    s.extend_from_slice(&extension.to_be_bytes());
    s.push(0xC1 | (version & 0x1F) << 1);
    s.push(0); // section_number
    s.push(0); // last_section_number
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// Splits a section into packets: pointer_field 0 in the first, 0xFF stuffing after the end.
fn packetize(pid: Pid, section: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PACKET_SIZE * 2);
    let mut rest = section;
    let mut first = true;
    while first || !rest.is_empty() {
        let mut p = [0xFFu8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        p[1] = (u8::from(first) << 6) | (pid.0 >> 8) as u8 & 0x1F;
        p[2] = pid.0 as u8;
        p[3] = 0x10;
        let mut at = 4;
        if first {
            p[4] = 0;
            at = 5;
        }
        let n = rest.len().min(PACKET_SIZE - at);
        p[at..at + n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        out.extend_from_slice(&p);
        first = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::packet::Packet;
    use crate::ts::psi::{EsInfo, SectionAssembler, parse_pat, parse_pmt};
    use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

    fn pmt() -> Pmt {
        Pmt {
            program_number: 1,
            pcr_pid: Pid(0x100),
            program_info: vec![],
            streams: vec![
                EsInfo {
                    stream_type: 0x1B,
                    pid: Pid(0x100),
                    descriptors: vec![],
                },
                EsInfo {
                    stream_type: 0x0F,
                    pid: Pid(0x101),
                    descriptors: vec![0x0A, 4, b'e', b'n', b'g', 0],
                },
            ],
        }
    }

    #[test]
    fn mpeg2ts_reads_our_tables() {
        let mut w = PsiWriter::new(&pmt(), Pid(0x1000));
        let mut out = Vec::new();
        w.write_into(&mut out);
        w.write_into(&mut out);
        let mut r = TsPacketReader::new(&out[..]);
        // mpeg2ts needs to learn the PMT PID from the PAT, as a player would.
        let mut kinds = Vec::new();
        while let Ok(Some(p)) = r.read_ts_packet() {
            kinds.push((
                p.header.continuity_counter.as_u8(),
                match p.payload {
                    Some(TsPayload::Pat(pat)) => {
                        format!("pat {}", pat.table[0].program_map_pid.as_u16())
                    }
                    Some(TsPayload::Pmt(pmt)) => format!("pmt {}", pmt.es_info.len()),
                    other => format!("{other:?}"),
                },
            ));
        }
        assert_eq!(
            kinds,
            vec![
                (0, "pat 4096".to_string()),
                (0, "pmt 2".to_string()),
                (1, "pat 4096".to_string()),
                (1, "pmt 2".to_string()),
            ]
        );
    }

    #[test]
    fn round_trip_through_our_parser() {
        let mut w = PsiWriter::new(&pmt(), Pid(0x1000));
        let mut out = Vec::new();
        w.write_into(&mut out);
        let mut pat = SectionAssembler::default();
        let mut pm = SectionAssembler::default();
        let p0 = Packet::new(out[..188].try_into().unwrap());
        let p1 = Packet::new(out[188..376].try_into().unwrap());
        let pat = parse_pat(&pat.push(&p0).unwrap().unwrap()).unwrap();
        assert_eq!(pat.programs[0].pmt_pid, Pid(0x1000));
        assert_eq!(parse_pmt(&pm.push(&p1).unwrap().unwrap()).unwrap(), pmt());
    }

    #[test]
    fn large_pmt_spans_packets() {
        let mut big = pmt();
        big.streams[1].descriptors = vec![0x05; 300];
        let mut w = PsiWriter::new(&big, Pid(0x1000));
        let mut out = Vec::new();
        w.write_into(&mut out);
        assert_eq!(out.len(), 3 * 188);
        let mut asm = SectionAssembler::default();
        let a = asm.push(&Packet::new(out[188..376].try_into().unwrap()));
        assert!(a.is_none());
        let b = asm
            .push(&Packet::new(out[376..564].try_into().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(parse_pmt(&b).unwrap(), big);
    }
}
