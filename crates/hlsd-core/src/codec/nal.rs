//! Finds the first coded slice of an access unit in Annex B bytes and tells whether it is
//! a random access point: H.264 IDR (nal_unit_type 5, ITU-T H.264 §7.4.1.2) or H.265 IRAP
//! (nal_unit_type 16–23, ITU-T H.265 §7.4.2.2). Bytes may arrive split anywhere.

use super::VideoCodec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Key,
    Delta,
}

/// Where an Annex B byte stream is between start codes (`00 00 01`), fed in pieces split
/// anywhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartCodes {
    /// Zero bytes just seen, up to 3.
    zeros: u8,
    /// The previous bytes were a start code: the next one is a NAL unit header.
    pub header_next: bool,
}

impl StartCodes {
    /// Takes in one byte (after the caller has looked at `header_next`).
    pub fn step(&mut self, b: u8) {
        if b == 0 {
            self.zeros = (self.zeros + 1).min(3);
        } else {
            self.header_next = b == 1 && self.zeros >= 2;
            self.zeros = 0;
        }
    }

    /// The last bytes were at least two zeros: a 0x00, 0x01 or 0x02 now cannot be inside a
    /// NAL unit (emulation prevention), so it ends one.
    pub fn after_two_zeros(&self) -> bool {
        self.zeros >= 2
    }

    /// Takes in `es[from..]` up to and including the next 0x01, as many `step`s would, but
    /// found with `memchr` (0x01 bytes are rare in coded video); returns where to go on.
    pub fn skip(&mut self, es: &[u8], from: usize) -> usize {
        let rest = &es[from..];
        let (upto, found) = match memchr::memchr(1, rest) {
            Some(j) => (j, true),
            None => (rest.len(), false),
        };
        let before = &rest[..upto];
        let trailing = before.iter().rev().take(3).take_while(|&&b| b == 0).count();
        self.zeros = if trailing == before.len() {
            (usize::from(self.zeros) + trailing).min(3) as u8
        } else {
            trailing as u8
        };
        if found {
            self.step(1);
            from + upto + 1
        } else {
            es.len()
        }
    }
}

/// Incremental start-code scanner over the elementary stream of one PES packet.
#[derive(Debug, Clone)]
pub struct SliceScanner {
    codec: VideoCodec,
    codes: StartCodes,
}

impl SliceScanner {
    pub fn new(codec: VideoCodec) -> Self {
        SliceScanner {
            codec,
            codes: StartCodes::default(),
        }
    }

    /// Scans more bytes; returns the kind of the frame once its first slice NAL is seen.
    pub fn push(&mut self, data: &[u8]) -> Option<FrameKind> {
        let mut i = 0;
        while i < data.len() {
            if !self.codes.header_next {
                i = self.codes.skip(data, i);
                continue;
            }
            let b = data[i];
            i += 1;
            self.codes.header_next = false;
            if let Some(kind) = classify(self.codec, b) {
                return Some(kind);
            }
            self.codes.step(b);
        }
        None
    }
}

/// The nal_unit_type of a NAL unit's first header byte (ITU-T H.264 §7.3.1, H.265 §7.3.1.2).
pub(crate) fn nal_type(codec: VideoCodec, header: u8) -> u8 {
    match codec {
        VideoCodec::H264 => header & 0x1F,
        VideoCodec::H265 => (header >> 1) & 0x3F,
    }
}

/// Kind of the frame a NAL unit header byte belongs to, if it is a coded slice.
pub(crate) fn classify(codec: VideoCodec, header: u8) -> Option<FrameKind> {
    match codec {
        VideoCodec::H264 => match nal_type(codec, header) {
            5 => Some(FrameKind::Key),
            1..=4 => Some(FrameKind::Delta),
            _ => None,
        },
        VideoCodec::H265 => match nal_type(codec, header) {
            16..=23 => Some(FrameKind::Key),
            0..=15 | 24..=31 => Some(FrameKind::Delta),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(codec: VideoCodec, data: &[u8], expect: Option<FrameKind>) {
        for split in 0..=data.len() {
            let mut s = SliceScanner::new(codec);
            let got = s.push(&data[..split]).or_else(|| s.push(&data[split..]));
            assert_eq!(got, expect, "split at {split}");
        }
    }

    #[test]
    fn h264_idr_after_aud_sps_pps_sei() {
        let au = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x64, 0, 0x1F, 0, 0, 1, 0x68, 0xEB, 0, 0, 1,
            0x06, 5, 1, 0, 0, 1, 0x65, 0x88,
        ];
        check(VideoCodec::H264, &au, Some(FrameKind::Key));
    }

    #[test]
    fn h264_non_idr() {
        check(
            VideoCodec::H264,
            &[0, 0, 0, 1, 0x09, 0x30, 0, 0, 1, 0x41, 0x9A],
            Some(FrameKind::Delta),
        );
    }

    #[test]
    fn h265_cra_and_trail() {
        // AUD (35), VPS (32), CRA (21).
        check(
            VideoCodec::H265,
            &[
                0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x40, 0x01, 0, 0, 1, 0x2A, 0x01,
            ],
            Some(FrameKind::Key),
        );
        // TRAIL_R (1).
        check(
            VideoCodec::H265,
            &[0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x02, 0x01],
            Some(FrameKind::Delta),
        );
    }

    #[test]
    fn no_slice_yet() {
        check(
            VideoCodec::H264,
            &[0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67],
            None,
        );
    }

    /// The positions where `header_next` becomes true, fed byte by byte with `step`.
    fn headers_by_step(es: &[u8]) -> Vec<usize> {
        let mut c = StartCodes::default();
        let mut out = Vec::new();
        for (i, &b) in es.iter().enumerate() {
            c.header_next = false;
            c.step(b);
            if c.header_next {
                out.push(i + 1);
            }
        }
        out
    }

    /// The same with `skip`, the bytes cut into pieces of `piece`.
    fn headers_by_skip(es: &[u8], piece: usize) -> Vec<usize> {
        let mut c = StartCodes::default();
        let mut out = Vec::new();
        for (n, chunk) in es.chunks(piece).enumerate() {
            let mut i = 0;
            while i < chunk.len() {
                c.header_next = false;
                i = c.skip(chunk, i);
                if c.header_next {
                    out.push(n * piece + i);
                }
            }
        }
        out
    }

    #[test]
    fn skip_finds_the_start_codes_step_finds() {
        // Runs of zeros of every length before 0x01, 0x02 and other bytes, pseudo-random.
        let mut x: u32 = 12345;
        let es: Vec<u8> = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                match (x >> 16) % 8 {
                    0..=3 => 0,
                    4 | 5 => 1,
                    6 => 2,
                    _ => (x >> 8) as u8,
                }
            })
            .collect();
        let want = headers_by_step(&es);
        assert!(want.len() > 1000);
        for piece in [1, 2, 3, 5, 184, es.len()] {
            assert_eq!(headers_by_skip(&es, piece), want, "pieces of {piece}");
        }
    }
}
