//! Finds the first coded slice of an access unit in Annex B bytes and tells whether it is
//! a random access point: H.264 IDR (nal_unit_type 5, ITU-T H.264 §7.4.1.2) or H.265 IRAP
//! (nal_unit_type 16–23, ITU-T H.265 §7.4.2.2). Bytes may arrive split anywhere.

use super::VideoCodec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Key,
    Delta,
}

/// Incremental start-code scanner over the elementary stream of one PES packet.
#[derive(Debug, Clone)]
pub struct SliceScanner {
    codec: VideoCodec,
    zeros: u8,
    header_next: bool,
}

impl SliceScanner {
    pub fn new(codec: VideoCodec) -> Self {
        SliceScanner {
            codec,
            zeros: 0,
            header_next: false,
        }
    }

    /// Scans more bytes; returns the kind of the frame once its first slice NAL is seen.
    pub fn push(&mut self, data: &[u8]) -> Option<FrameKind> {
        for &b in data {
            if self.header_next {
                self.header_next = false;
                if let Some(kind) = classify(self.codec, b) {
                    return Some(kind);
                }
            }
            if b == 0 {
                self.zeros = self.zeros.saturating_add(1);
            } else {
                self.header_next = b == 1 && self.zeros >= 2;
                self.zeros = 0;
            }
        }
        None
    }
}

/// Kind of the frame a NAL unit header byte belongs to, if it is a coded slice.
fn classify(codec: VideoCodec, header: u8) -> Option<FrameKind> {
    match codec {
        VideoCodec::H264 => match header & 0x1F {
            5 => Some(FrameKind::Key),
            1..=4 => Some(FrameKind::Delta),
            _ => None,
        },
        VideoCodec::H265 => match (header >> 1) & 0x3F {
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
}
