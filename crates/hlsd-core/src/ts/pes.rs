//! PES packet headers: stream id, PTS and DTS (ISO/IEC 13818-1 §2.4.3.6–§2.4.3.7).

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PesError {
    #[error("PES start code missing")]
    NoStartCode,
    #[error("PES header truncated")]
    Truncated,
    #[error("PES timestamp marker bits wrong")]
    BadTimestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    /// Raw 33-bit values.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the elementary stream data within the packet payload.
    pub data_offset: usize,
}

impl PesHeader {
    /// The decode timestamp: DTS, or PTS when they are equal and DTS was left out.
    pub fn decode_time(&self) -> Option<u64> {
        self.dts.or(self.pts)
    }
}

/// Parses the PES header at the start of a packet payload whose PUSI is set. The header
/// must lie within this one payload (true of every muxer seen; 19 bytes at most with PTS
/// and DTS).
pub fn parse_header(payload: &[u8]) -> Result<PesHeader, PesError> {
    if payload.len() < 6 {
        return Err(PesError::Truncated);
    }
    if payload[..3] != [0, 0, 1] {
        return Err(PesError::NoStartCode);
    }
    let stream_id = payload[3];
    // Streams without the optional header (§2.4.3.7, Table 2-21).
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) {
        return Ok(PesHeader {
            stream_id,
            pts: None,
            dts: None,
            data_offset: 6,
        });
    }
    if payload.len() < 9 {
        return Err(PesError::Truncated);
    }
    let flags = payload[7] >> 6;
    let header_len = usize::from(payload[8]);
    let data_offset = 9 + header_len;
    if payload.len() < data_offset {
        return Err(PesError::Truncated);
    }
    let (pts, dts) = match flags {
        0b10 => (Some(timestamp(payload.get(9..14))?), None),
        0b11 => (
            Some(timestamp(payload.get(9..14))?),
            Some(timestamp(payload.get(14..19))?),
        ),
        _ => (None, None),
    };
    Ok(PesHeader {
        stream_id,
        pts,
        dts,
        data_offset,
    })
}

fn timestamp(b: Option<&[u8]>) -> Result<u64, PesError> {
    let b = b.ok_or(PesError::Truncated)?;
    if b[0] & 1 != 1 || b[2] & 1 != 1 || b[4] & 1 != 1 {
        return Err(PesError::BadTimestamp);
    }
    Ok((u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | (u64::from(b[2]) >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4]) >> 1)
}

/// Encodes a 33-bit timestamp with the given 4-bit prefix (0b0010 PTS only, 0b0011 PTS of
/// a pair, 0b0001 DTS). Used to build test streams and by rewriting tools.
pub fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    [
        prefix << 4 | ((ts >> 29) as u8 & 0x0E) | 1,
        (ts >> 22) as u8,
        ((ts >> 14) as u8 & 0xFE) | 1,
        (ts >> 7) as u8,
        ((ts << 1) as u8 & 0xFE) | 1,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pts: u64, dts: Option<u64>) -> Vec<u8> {
        let mut h = vec![0, 0, 1, 0xE0, 0, 0, 0x80];
        match dts {
            None => {
                h.extend([0x80, 5]);
                h.extend(encode_timestamp(0b0010, pts));
            }
            Some(d) => {
                h.extend([0xC0, 10]);
                h.extend(encode_timestamp(0b0011, pts));
                h.extend(encode_timestamp(0b0001, d));
            }
        }
        h.extend([0, 0, 0, 1, 0x09]);
        h
    }

    #[test]
    fn pts_only() {
        let h = parse_header(&header(0x1_2345_6789, None)).unwrap();
        assert_eq!(
            (h.pts, h.dts, h.data_offset),
            (Some(0x1_2345_6789), None, 14)
        );
        assert_eq!(h.decode_time(), Some(0x1_2345_6789));
    }

    #[test]
    fn pts_and_dts() {
        let h = parse_header(&header((1 << 33) - 1, Some(12345))).unwrap();
        assert_eq!(
            (h.pts, h.dts, h.data_offset),
            (Some((1 << 33) - 1), Some(12345), 19)
        );
    }

    #[test]
    fn garbage() {
        assert_eq!(
            parse_header(&[0, 0, 2, 0xE0, 0, 0, 0, 0, 0]),
            Err(PesError::NoStartCode)
        );
        assert_eq!(
            parse_header(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 40]),
            Err(PesError::Truncated)
        );
    }
}
