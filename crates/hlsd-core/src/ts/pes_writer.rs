//! PES headers as hlsd writes them for access-unit input (ISO/IEC 13818-1 §2.4.3.6–§2.4.3.7):
//! data_alignment_indicator set (each PES starts with an access unit), PTS and DTS when they
//! differ, PTS alone otherwise, timestamps modulo 2^33.

use super::pes::encode_timestamp;
use super::time::Ts;

/// Stream ids: video, MPEG audio (AAC, MP3), private stream 1 (AC-3).
pub const STREAM_ID_VIDEO: u8 = 0xE0;
pub const STREAM_ID_AUDIO: u8 = 0xC0;
pub const STREAM_ID_PRIVATE_1: u8 = 0xBD;

/// The longest PES header written: 9 fixed bytes, PTS and DTS.
pub const MAX_HEADER: usize = 19;

/// The largest payload a PES with a length can carry (`PES_packet_length` counts the 3
/// bytes after it, the timestamps and the payload).
pub fn max_sized_payload(with_dts: bool) -> usize {
    usize::from(u16::MAX) - 3 - if with_dts { 10 } else { 5 }
}

/// A PES header for `payload_len` bytes of one access unit. `PES_packet_length` is written
/// when it fits and 0 (unbounded, allowed for video only, §2.4.3.7) otherwise; the caller
/// keeps audio PES within [`max_sized_payload`]. Returns the header and its length.
pub fn header(stream_id: u8, pts: Ts, dts: Ts, payload_len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[2] = 1;
    h[3] = stream_id;
    let both = pts != dts;
    let fields = if both { 10 } else { 5 };
    let len = 3 + fields + payload_len;
    let len = u16::try_from(len).unwrap_or(0);
    h[4..6].copy_from_slice(&len.to_be_bytes());
    // '10', not scrambled, no priority, data_alignment_indicator, no copyright, copy.
    h[6] = 0x84;
    h[8] = fields as u8;
    if both {
        h[7] = 0xC0;
        h[9..14].copy_from_slice(&encode_timestamp(0b0011, wrap(pts)));
        h[14..19].copy_from_slice(&encode_timestamp(0b0001, wrap(dts)));
    } else {
        h[7] = 0x80;
        h[9..14].copy_from_slice(&encode_timestamp(0b0010, wrap(pts)));
    }
    (h, 9 + fields)
}

/// A 90 kHz time as a 33-bit field value.
pub fn wrap(t: Ts) -> u64 {
    t.0.rem_euclid(1 << 33) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::pes::parse_header;

    #[test]
    fn pts_only_when_equal_and_both_otherwise() {
        let (h, n) = header(STREAM_ID_AUDIO, Ts(1234), Ts(1234), 100);
        let p = parse_header(&h[..n]).unwrap();
        assert_eq!((p.pts, p.dts, p.data_offset, n), (Some(1234), None, 14, 14));
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 3 + 5 + 100);
        assert_eq!(h[6] & 0x04, 0x04, "data_alignment_indicator");
        let (h, n) = header(STREAM_ID_VIDEO, Ts(7200), Ts(3600), 10);
        let p = parse_header(&h[..n]).unwrap();
        assert_eq!((p.pts, p.dts, p.data_offset), (Some(7200), Some(3600), 19));
        assert_eq!(p.stream_id, 0xE0);
    }

    #[test]
    fn timestamps_wrap_and_long_video_is_unbounded() {
        let t = Ts((1 << 33) + 5);
        let (h, n) = header(STREAM_ID_VIDEO, t, Ts(-1), 70_000);
        let p = parse_header(&h[..n]).unwrap();
        assert_eq!((p.pts, p.dts), (Some(5), Some((1 << 33) - 1)));
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 0);
        let max = max_sized_payload(true);
        let (h, _) = header(STREAM_ID_VIDEO, t, Ts(0), max);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), u16::MAX);
        let (h, _) = header(STREAM_ID_VIDEO, t, Ts(0), max + 1);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 0);
    }
}
