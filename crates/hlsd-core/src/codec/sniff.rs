//! Incremental codec-information sniffers for elementary stream bytes that arrive in pieces:
//! the SPS NAL unit in an Annex B byte stream (ITU-T H.264 §B.1.1, H.265 §B.2.1; SPS is
//! nal_unit_type 7 in H.264, 33 in H.265) and the first audio frame header.

use super::info::{AudioInfo, InfoError, VideoInfo};
use super::nal::StartCodes;
use super::{AudioCodec, VideoCodec, audio, avc, hevc};

/// The longest SPS NAL unit copied; real ones are 20–100 bytes (scaling lists make the
/// longest), so a longer one is damage, not an SPS.
pub const MAX_SPS: usize = 1024;

/// Finds SPS NAL units in the video elementary stream and reads them.
///
/// Feed it every byte of the stream, in order, in pieces of any size (PES payloads as they
/// come out of TS packets). Only the SPS itself is copied, at most [`MAX_SPS`] bytes; the rest
/// is searched for start codes with `memchr` (0x01 bytes are rare in coded video), and only
/// the SPS is read byte by byte.
#[derive(Debug, Clone)]
pub struct VideoInfoSniffer {
    codec: VideoCodec,
    codes: StartCodes,
    /// Inside an SPS NAL unit, being copied into `sps`.
    in_sps: bool,
    sps: Vec<u8>,
    /// The SPS last reported (raw bytes), so that a repeated SPS is not parsed again.
    last: Vec<u8>,
}

impl VideoInfoSniffer {
    pub fn new(codec: VideoCodec) -> Self {
        VideoInfoSniffer {
            codec,
            codes: StartCodes::default(),
            in_sps: false,
            sps: Vec::new(),
            last: Vec::new(),
        }
    }

    /// Scans more elementary stream bytes. Returns the stream's information when an SPS ends
    /// in these bytes and differs from the last one reported (so, in a steady stream, once),
    /// or why an SPS could not be read (reported again each time it comes back).
    ///
    /// An SPS ends at the next start code, so it is reported with the bytes that carry the
    /// start of the following NAL unit (the PPS, in the same access unit). When several SPS
    /// end in one piece, the last readable one is reported (it is the stream's current state),
    /// and an error only if none was readable.
    #[must_use]
    pub fn push(&mut self, es: &[u8]) -> Option<Result<VideoInfo, InfoError>> {
        let mut found: Option<Result<VideoInfo, InfoError>> = None;
        let mut keep = |r: Result<VideoInfo, InfoError>| {
            if r.is_ok() || !matches!(found, Some(Ok(_))) {
                found = Some(r);
            }
        };
        let mut i = 0;
        while i < es.len() {
            if !self.in_sps && !self.codes.header_next {
                // Outside an SPS only start codes matter.
                i = self.codes.skip(es, i);
                continue;
            }
            let b = es[i];
            i += 1;
            if self.codes.header_next {
                self.codes.header_next = false;
                if self.is_sps(b) {
                    self.in_sps = true;
                    self.sps.clear();
                }
            }
            if self.in_sps {
                if self.codes.after_two_zeros() && b <= 2 {
                    // 0x000000, 0x000001 or 0x000002 cannot occur inside a NAL unit.
                    self.in_sps = false;
                    if let Some(r) = self.finish() {
                        keep(r);
                    }
                } else if self.sps.len() == MAX_SPS {
                    self.in_sps = false;
                    keep(Err(InfoError::SpsTooLong { max: MAX_SPS }));
                } else {
                    self.sps.push(b);
                }
            }
            self.codes.step(b);
        }
        found
    }

    /// Forgets a partly scanned NAL unit (after lost packets or a new session); the last SPS
    /// reported is forgotten too, so the next one is reported whatever it says.
    pub fn reset(&mut self) {
        *self = VideoInfoSniffer::new(self.codec);
    }

    fn is_sps(&self, header: u8) -> bool {
        match self.codec {
            VideoCodec::H264 => header & 0x1F == 7,
            VideoCodec::H265 => (header >> 1) & 0x3F == 33,
        }
    }

    /// Reads the SPS just copied, unless it is the one reported last.
    fn finish(&mut self) -> Option<Result<VideoInfo, InfoError>> {
        // The zeros that ended the NAL unit belong to the next start code.
        let end = self.sps.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let nal = &self.sps[..end];
        if self.codec == VideoCodec::H265 && nal.len() >= 2 && (nal[0] & 1 != 0 || nal[1] >> 3 != 0)
        {
            // nuh_layer_id > 0: the SPS of an enhancement layer, not the base stream.
            return None;
        }
        if nal == self.last {
            return None;
        }
        let result = match self.codec {
            VideoCodec::H264 => avc::parse_sps(nal),
            VideoCodec::H265 => hevc::parse_sps(nal),
        };
        if result.is_ok() {
            self.last.clear();
            self.last.extend_from_slice(nal);
        }
        Some(result)
    }
}

/// Reads the first audio frame header of an audio elementary stream that arrives in pieces.
///
/// Looks at the first [`audio::SYNC_SEARCH`] bytes pushed since it was made or reset, copying
/// them until a header is read; it answers once (the information, or that no header was in
/// those bytes), then `push` returns `None` without looking until [`reset`](Self::reset).
#[derive(Debug, Clone)]
pub struct AudioInfoSniffer {
    codec: AudioCodec,
    buf: Vec<u8>,
    done: bool,
}

impl AudioInfoSniffer {
    pub fn new(codec: AudioCodec) -> Self {
        AudioInfoSniffer {
            codec,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Scans more elementary stream bytes; see the type's documentation for when it answers.
    #[must_use]
    pub fn push(&mut self, es: &[u8]) -> Option<Result<AudioInfo, InfoError>> {
        if self.done || es.is_empty() {
            return None;
        }
        let room = audio::SYNC_SEARCH - self.buf.len();
        self.buf.extend_from_slice(&es[..es.len().min(room)]);
        let full = self.buf.len() == audio::SYNC_SEARCH;
        // A header cut short by the end of the bytes so far is an error here: wait for more.
        let result = AudioInfo::from_es(self.codec, &self.buf);
        if result.is_err() && !full {
            return None;
        }
        self.done = true;
        self.buf = Vec::new();
        Some(result)
    }

    pub fn reset(&mut self) {
        *self = AudioInfoSniffer::new(self.codec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H264_HIGH: &[u8] = include_bytes!("fixtures/h264_high_l31_1280x720_30.h264");
    const H264_MAIN: &[u8] = include_bytes!("fixtures/h264_main_l40_1918x1078_29.97.h264");
    const HEVC_MAIN: &[u8] = include_bytes!("fixtures/hevc_main_1280x720_25.h265");

    /// Pushes `es` cut into pieces of `piece` bytes; returns what was reported, as
    /// `codecs WxH` or `error: ...`, in order.
    fn sniff(codec: VideoCodec, es: &[u8], piece: usize) -> Vec<String> {
        let mut s = VideoInfoSniffer::new(codec);
        es.chunks(piece)
            .filter_map(|c| s.push(c))
            .map(describe)
            .collect()
    }

    fn describe(r: Result<VideoInfo, InfoError>) -> String {
        match r {
            Ok(i) => format!("{} {}x{}", i.codecs(), i.width, i.height),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Pieces of TS payload size at most, so that no two SPS end in one piece.
    fn check(codec: VideoCodec, es: &[u8], expect: &[&str]) {
        for piece in [1, 2, 3, 7, 184] {
            assert_eq!(sniff(codec, es, piece), expect, "pieces of {piece}");
        }
    }

    #[test]
    fn finds_sps_in_pieces_of_any_size() {
        check(VideoCodec::H264, H264_HIGH, &["avc1.64001f 1280x720"]);
        check(VideoCodec::H264, H264_MAIN, &["avc1.4d4028 1918x1078"]);
        check(VideoCodec::H265, HEVC_MAIN, &["hvc1.1.6.L93.90 1280x720"]);
    }

    #[test]
    fn finds_sps_split_at_every_position() {
        for (codec, es) in [(VideoCodec::H264, H264_HIGH), (VideoCodec::H265, HEVC_MAIN)] {
            let whole = sniff(codec, es, es.len());
            for split in 0..=es.len() {
                let mut s = VideoInfoSniffer::new(codec);
                let got: Vec<_> = [&es[..split], &es[split..]]
                    .into_iter()
                    .filter_map(|piece| s.push(piece))
                    .map(describe)
                    .collect();
                assert_eq!(got, whole, "split at {split}");
            }
        }
    }

    #[test]
    fn repeated_sps_reported_once_changed_sps_again() {
        let twice = [H264_HIGH, H264_HIGH].concat();
        check(VideoCodec::H264, &twice, &["avc1.64001f 1280x720"]);
        let changed = [H264_HIGH, H264_MAIN, H264_MAIN, H264_HIGH].concat();
        check(
            VideoCodec::H264,
            &changed,
            &[
                "avc1.64001f 1280x720",
                "avc1.4d4028 1918x1078",
                "avc1.64001f 1280x720",
            ],
        );
    }

    #[test]
    fn bad_and_overlong_sps() {
        // An SPS cut short (profile, constraints, level, then nothing), then a good one.
        let cut = [&[0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1F][..], H264_HIGH].concat();
        let got = sniff(VideoCodec::H264, &cut, 5);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("error: H.264 SPS"), "{got:?}");
        assert_eq!(got[1], "avc1.64001f 1280x720");
        // An "SPS" that never ends within MAX_SPS bytes; the sniffer recovers afterwards.
        let long = [&[0, 0, 1, 0x67][..], &[0x55; 2000], H264_HIGH].concat();
        check(
            VideoCodec::H264,
            &long,
            &[
                "error: SPS NAL unit longer than 1024 bytes",
                "avc1.64001f 1280x720",
            ],
        );
    }

    #[test]
    fn ignores_enhancement_layer_sps_and_other_nal_units() {
        // H.265 SPS with nuh_layer_id 1 (header 0x42 0x09): not the base layer.
        let layer1 = [0, 0, 1, 0x42, 0x09, 0x01, 0x23, 0, 0, 1, 0x44, 0x01];
        check(VideoCodec::H265, &layer1, &[]);
        // No SPS at all: PPS, SEI, slice.
        check(
            VideoCodec::H264,
            &[0, 0, 1, 0x68, 0xEB, 0, 0, 1, 0x06, 5, 0, 0, 1, 0x65, 0x88],
            &[],
        );
    }

    #[test]
    fn reset_reports_the_same_sps_again() {
        let mut s = VideoInfoSniffer::new(VideoCodec::H264);
        assert!(s.push(H264_HIGH).is_some());
        assert!(s.push(H264_HIGH).is_none());
        s.reset();
        assert!(s.push(H264_HIGH).is_some());
    }

    fn sniff_audio(codec: AudioCodec, es: &[u8], piece: usize) -> Vec<String> {
        let mut s = AudioInfoSniffer::new(codec);
        es.chunks(piece)
            .filter_map(|c| s.push(c))
            .map(|r| match r {
                Ok(i) => format!("{} {} {}", i.codecs(), i.sample_rate, i.channels),
                Err(e) => format!("error: {e}"),
            })
            .collect()
    }

    #[test]
    fn audio_header_in_pieces() {
        let cases: [(AudioCodec, &[u8], &str); 3] = [
            (
                AudioCodec::Aac,
                include_bytes!("fixtures/aac_lc_44100_stereo.aac"),
                "mp4a.40.2 44100 2",
            ),
            (
                AudioCodec::Mpeg,
                include_bytes!("fixtures/mp3_24000_mono.mp3"),
                "mp4a.40.34 24000 1",
            ),
            (
                AudioCodec::Ac3,
                include_bytes!("fixtures/ac3_48000_stereo.ac3"),
                "ac-3 48000 2",
            ),
        ];
        for (codec, es, expect) in cases {
            for piece in [1, 2, 3, 5, 188, es.len()] {
                assert_eq!(
                    sniff_audio(codec, es, piece),
                    [expect],
                    "{codec:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn audio_without_header_answers_once_after_the_search_window() {
        let junk = vec![0x42; audio::SYNC_SEARCH + 500];
        for piece in [1, 1000, junk.len()] {
            assert_eq!(
                sniff_audio(AudioCodec::Aac, &junk, piece),
                ["error: ADTS: no sync word in the first 4096 bytes"],
                "pieces of {piece}"
            );
        }
    }
}
