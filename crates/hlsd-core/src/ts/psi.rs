//! PAT and PMT sections of the publisher's stream: reassembly and parsing
//! (ISO/IEC 13818-1 §2.4.4.3–§2.4.4.9).

use super::crc::crc32_mpeg2;
use super::packet::{Packet, Pid};

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PsiError {
    #[error("PSI section is truncated")]
    Truncated,
    #[error("PSI section CRC mismatch")]
    BadCrc,
    #[error("unexpected table id {0:#04x}")]
    TableId(u8),
    #[error("PSI section spans more than 1024 bytes")]
    TooLong,
}

/// One program of the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    pub number: u16,
    pub pmt_pid: Pid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    pub transport_stream_id: u16,
    /// Programs in table order; program 0 (the network PID) is left out.
    pub programs: Vec<Program>,
}

/// One elementary stream of a PMT; descriptors are kept raw so they can be written back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsInfo {
    pub stream_type: u8,
    pub pid: Pid,
    pub descriptors: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub pcr_pid: Pid,
    pub program_info: Vec<u8>,
    pub streams: Vec<EsInfo>,
}

/// Gathers the bytes of one section carried on one PID across packets.
#[derive(Debug, Default)]
pub struct SectionAssembler {
    buf: Vec<u8>,
    active: bool,
}

impl SectionAssembler {
    /// Feeds a packet of the PID; returns a complete section (table_id .. CRC) when one ends
    /// in it. Only the first section starting in a packet is read, which is how PAT and PMT
    /// are carried in practice.
    pub fn push(&mut self, pkt: &Packet<'_>) -> Option<Result<Vec<u8>, PsiError>> {
        let payload = pkt.payload()?;
        if pkt.pusi() {
            let pointer = usize::from(*payload.first()?);
            let Some(start) = payload.get(1 + pointer..) else {
                self.active = false;
                return Some(Err(PsiError::Truncated));
            };
            self.buf.clear();
            self.buf.extend_from_slice(start);
            self.active = true;
        } else if self.active {
            self.buf.extend_from_slice(payload);
        } else {
            return None;
        }
        if self.buf.len() < 3 {
            return None;
        }
        let section_len = usize::from(u16::from_be_bytes([self.buf[1], self.buf[2]]) & 0x0FFF);
        if section_len > 1021 {
            self.active = false;
            return Some(Err(PsiError::TooLong));
        }
        let total = 3 + section_len;
        if self.buf.len() < total {
            return None;
        }
        self.active = false;
        self.buf.truncate(total);
        Some(Ok(std::mem::take(&mut self.buf)))
    }
}

/// Checks the CRC and long-form header of a section; returns (table_id_extension, body)
/// where body lies between the 8-byte header and the CRC.
fn long_section(section: &[u8], table_id: u8) -> Result<(u16, &[u8]), PsiError> {
    if section.len() < 12 {
        return Err(PsiError::Truncated);
    }
    if section[0] != table_id {
        return Err(PsiError::TableId(section[0]));
    }
    let (data, crc) = section.split_at(section.len() - 4);
    if crc32_mpeg2(data) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(PsiError::BadCrc);
    }
    Ok((u16::from_be_bytes([section[3], section[4]]), &data[8..]))
}

pub fn parse_pat(section: &[u8]) -> Result<Pat, PsiError> {
    let (tsid, body) = long_section(section, 0x00)?;
    let programs = body
        .chunks_exact(4)
        .map(|c| Program {
            number: u16::from_be_bytes([c[0], c[1]]),
            pmt_pid: Pid(u16::from_be_bytes([c[2], c[3]]) & 0x1FFF),
        })
        .filter(|p| p.number != 0)
        .collect();
    Ok(Pat {
        transport_stream_id: tsid,
        programs,
    })
}

pub fn parse_pmt(section: &[u8]) -> Result<Pmt, PsiError> {
    let (program_number, body) = long_section(section, 0x02)?;
    if body.len() < 4 {
        return Err(PsiError::Truncated);
    }
    let pcr_pid = Pid(u16::from_be_bytes([body[0], body[1]]) & 0x1FFF);
    let info_len = usize::from(u16::from_be_bytes([body[2], body[3]]) & 0x0FFF);
    let program_info = body
        .get(4..4 + info_len)
        .ok_or(PsiError::Truncated)?
        .to_vec();
    let mut rest = &body[4 + info_len..];
    let mut streams = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(PsiError::Truncated);
        }
        let es_len = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
        let descriptors = rest.get(5..5 + es_len).ok_or(PsiError::Truncated)?.to_vec();
        streams.push(EsInfo {
            stream_type: rest[0],
            pid: Pid(u16::from_be_bytes([rest[1], rest[2]]) & 0x1FFF),
            descriptors,
        });
        rest = &rest[5 + es_len..];
    }
    Ok(Pmt {
        program_number,
        pcr_pid,
        program_info,
        streams,
    })
}

/// A service of the SDT: its id (the program number) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: u16,
    pub name: Option<String>,
}

/// Parses an SDT section for the actual transport stream (table 0x42; ETSI EN 300 468 §5.2.3),
/// reading service names from service descriptors (tag 0x48, §6.2.33).
pub fn parse_sdt(section: &[u8]) -> Result<Vec<Service>, PsiError> {
    let (_, body) = long_section(section, 0x42)?;
    // original_network_id (16) and a reserved byte precede the service loop.
    let mut rest = body.get(3..).ok_or(PsiError::Truncated)?;
    let mut services = Vec::new();
    while rest.len() >= 5 {
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
        let mut desc = rest.get(5..5 + len).ok_or(PsiError::Truncated)?;
        rest = &rest[5 + len..];
        let mut name = None;
        while desc.len() >= 2 {
            let (tag, dlen) = (desc[0], usize::from(desc[1]));
            let d = desc.get(2..2 + dlen).ok_or(PsiError::Truncated)?;
            desc = &desc[2 + dlen..];
            if tag == 0x48 && d.len() >= 2 {
                let provider = usize::from(d[1]);
                let n = d.get(2 + provider).copied().map(usize::from);
                if let Some(text) = n.and_then(|n| d.get(3 + provider..3 + provider + n)) {
                    // Names use a DVB character table; plain ASCII is what matters for URLs.
                    let text: String = text
                        .iter()
                        .filter(|b| b.is_ascii_graphic() || **b == b' ')
                        .map(|&b| b as char)
                        .collect();
                    name = Some(text.trim().to_string()).filter(|s| !s.is_empty());
                }
            }
        }
        services.push(Service { id, name });
    }
    Ok(services)
}
