//! Audio frames of a PES payload found and sized by their headers, as a packager splits
//! them into samples: ADTS (ISO/IEC 13818-7 §6.2), MPEG audio (ISO/IEC 11172-3 §2.4.2.3,
//! ISO/IEC 13818-3 §2.4.2.3) and AC-3 syncframes (ATSC A/52 §5.4, Table 5.18).

use std::ops::Range;

use super::AudioCodec;
use super::audio::{adts_len, adts_sync};
use super::info::{AudioFormat, AudioInfo};

/// One frame of an audio PES payload, as a packager stores it: `payload` is the frame
/// without its ADTS header (the raw AAC frame an MP4 sample holds, ISO/IEC 14496-3
/// §1.A.3), or the whole MPEG audio frame / AC-3 syncframe (stored as they are, ISO/IEC
/// 14496-3 has no header to strip for them; ETSI TS 102 366 Annex F).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub payload: Range<usize>,
    /// PCM samples per channel it decodes to.
    pub samples: u32,
}

/// The frames of an audio PES payload, each found by its header and sized by it. Bytes
/// that are no frame (junk before a header, a frame cut short at the end) are skipped: the
/// walk looks for the next sync word.
pub fn frames(codec: AudioCodec, es: &[u8]) -> impl Iterator<Item = AudioFrame> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at + 1 < es.len() {
            match frame_at(codec, &es[at..]) {
                Some((header, len, samples)) if at + len <= es.len() => {
                    let frame = AudioFrame {
                        payload: at + header..at + len,
                        samples,
                    };
                    at += len;
                    return Some(frame);
                }
                _ => at += 1,
            }
        }
        None
    })
}

/// The frames of an audio PES payload, as [`frames`] finds them.
pub fn split_frames(codec: AudioCodec, es: &[u8]) -> Vec<AudioFrame> {
    frames(codec, es).collect()
}

/// The frames of an audio PES payload: how many, and their samples (`None` when there are
/// none).
pub fn count_frames(codec: AudioCodec, es: &[u8]) -> Option<(u32, u32)> {
    let (n, samples) = frames(codec, es).fold((0u32, 0u32), |(n, s), f| (n + 1, s + f.samples));
    (n > 0).then_some((n, samples))
}

/// The frame that starts at `h[0]`, if a valid header is there: (header bytes to strip,
/// frame length with the header, samples).
fn frame_at(codec: AudioCodec, h: &[u8]) -> Option<(usize, usize, u32)> {
    match codec {
        AudioCodec::Aac => adts_frame(h),
        AudioCodec::Mpeg => mpeg_audio_frame(h).map(|(len, samples)| (0, len, samples)),
        AudioCodec::Ac3 => ac3_frame(h).map(|len| (0, len, AC3_SAMPLES)),
    }
}

/// An ADTS frame (ISO/IEC 13818-7 §6.2): header length (7, or 9 with the CRC when
/// protection_absent is 0), frame length and samples (1024 per raw data block).
fn adts_frame(h: &[u8]) -> Option<(usize, usize, u32)> {
    let h = h.get(..7)?;
    if !adts_sync(h) {
        return None;
    }
    let header = if h[1] & 1 == 0 { 9 } else { 7 };
    let len = adts_len(h);
    (len > header).then_some((header, len, 1024 * (u32::from(h[6] & 0x03) + 1)))
}

/// Bit rates in kbit/s by bitrate_index: MPEG-1 layers I, II, III (ISO/IEC 11172-3
/// §2.4.2.3), then MPEG-2 LSF / 2.5 layer I and layers II/III (ISO/IEC 13818-3 §2.4.2.3).
const MPEG_BITRATES: [[u16; 15]; 5] = [
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ],
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// An MPEG audio frame: its length and samples (layer I 384, layer II 1152, layer III 1152
/// in MPEG-1 and 576 in MPEG-2 LSF / 2.5). Free-format frames (bitrate_index 0) have no
/// length in their header and are not taken.
pub fn mpeg_audio_frame(h: &[u8]) -> Option<(usize, u32)> {
    let info = AudioInfo::from_mpeg_audio(h).ok()?;
    let AudioFormat::Mpeg { layer } = info.format else {
        return None;
    };
    let (b1, b2) = (h[1], h[2]);
    let mpeg1 = (b1 >> 3) & 3 == 3; // else MPEG-2 or 2.5
    let table = match (mpeg1, layer) {
        (true, l) => usize::from(l - 1),
        (false, 1) => 3,
        (false, _) => 4,
    };
    let kbps = u32::from(*MPEG_BITRATES[table].get(usize::from(b2 >> 4))?);
    let rate = info.sample_rate;
    if kbps == 0 {
        return None;
    }
    let pad = u32::from((b2 >> 1) & 1);
    let bps = kbps * 1000;
    let (len, samples) = match layer {
        1 => ((12 * bps / rate + pad) * 4, 384),
        2 => (144 * bps / rate + pad, 1152),
        _ if mpeg1 => (144 * bps / rate + pad, 1152),
        _ => (72 * bps / rate + pad, 576),
    };
    Some((len as usize, samples))
}

/// Samples in an AC-3 syncframe: six audio blocks of 256 (ATSC A/52 §5.4).
pub const AC3_SAMPLES: u32 = 1536;

/// AC-3 bit rates in kbit/s by frmsizecod / 2 (ATSC A/52 Table 5.18).
const AC3_BITRATES: [u32; 19] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
];

/// The length of the AC-3 syncframe that starts `h` (ATSC A/52 Table 5.18: words per
/// syncframe by fscod and frmsizecod; at 44.1 kHz odd codes add a word).
pub fn ac3_frame(h: &[u8]) -> Option<usize> {
    let h = h.get(..6)?;
    if h[..2] != [0x0B, 0x77] || h[5] >> 3 > 8 {
        return None;
    }
    let code = h[4] & 0x3F;
    let kbps = *AC3_BITRATES.get(usize::from(code / 2))?;
    let words = match h[4] >> 6 {
        0 => kbps * 2,
        1 => kbps * 320 / 147 + u32::from(code & 1),
        2 => kbps * 3,
        _ => return None,
    };
    Some(words as usize * 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::audio::{adts_frames, first_frame};

    #[test]
    fn frames_split_by_their_headers() {
        // ADTS: every frame of the fixture, header (7 bytes, no CRC) stripped.
        let adts = include_bytes!("fixtures/aac_lc_48000_mono.aac");
        let frames = split_frames(AudioCodec::Aac, adts);
        assert_eq!(
            Some((frames.len() as u32, frames.len() as u32 * 1024)),
            adts_frames(adts)
        );
        let mut at = 0;
        for f in &frames {
            assert_eq!(f.payload.start, at + 7);
            at = f.payload.end;
        }
        assert_eq!(at, adts.len());
        // With CRC (protection_absent 0): a 9-byte header.
        let crc = [
            0xFF, 0xF0, 0x4C, 0x80, 0x01, 0x9F, 0xFC, 0xAB, 0xCD, 1, 2, 3,
        ];
        let f = split_frames(AudioCodec::Aac, &crc);
        assert_eq!(
            f,
            [AudioFrame {
                payload: 9..12,
                samples: 1024
            }]
        );
        // Junk before, a frame cut short after: skipped.
        let mut junk = vec![0x12, 0xFF, 0x00];
        junk.extend_from_slice(&crc);
        junk.extend_from_slice(&crc[..8]);
        let f = split_frames(AudioCodec::Aac, &junk);
        assert_eq!(
            f,
            [AudioFrame {
                payload: 12..15,
                samples: 1024
            }]
        );
    }

    #[test]
    fn mpeg_audio_and_ac3_frames() {
        // ffprobe -show_packets on the fixtures: mp3 44.1 kHz 128 kbit/s frames of 417 or
        // 418 bytes, 1152 samples; 24 kHz (MPEG-2) frames of 576 samples; ac3 48 kHz.
        for (file, rate, samples) in [
            (
                &include_bytes!("fixtures/mp3_44100_stereo.mp3")[..],
                44100,
                1152,
            ),
            (include_bytes!("fixtures/mp3_24000_mono.mp3"), 24000, 576),
        ] {
            let (start, _) = first_frame(AudioCodec::Mpeg, file).unwrap();
            let frames = split_frames(AudioCodec::Mpeg, &file[start..]);
            assert!(frames.len() > 2, "{rate}");
            assert!(frames.iter().all(|f| f.samples == samples));
            // Frames follow each other: every header found where the previous frame ends.
            for w in frames.windows(2) {
                assert_eq!(w[0].payload.end, w[1].payload.start, "{rate}");
            }
        }
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes; padded: 418.
        assert_eq!(
            mpeg_audio_frame(&[0xFF, 0xFB, 0x90, 0x00]),
            Some((417, 1152))
        );
        assert_eq!(
            mpeg_audio_frame(&[0xFF, 0xFB, 0x92, 0x00]),
            Some((418, 1152))
        );
        // MPEG-2 layer III, 64 kbit/s, 24 kHz: 72 × 64000 / 24000 = 192 bytes.
        assert_eq!(
            mpeg_audio_frame(&[0xFF, 0xF3, 0x84, 0x00]),
            Some((192, 576))
        );
        // Free format and bad bit rates are not frames.
        assert_eq!(mpeg_audio_frame(&[0xFF, 0xFB, 0x00, 0x00]), None);
        assert_eq!(mpeg_audio_frame(&[0xFF, 0xFB, 0xF0, 0x00]), None);
        let ac3 = include_bytes!("fixtures/ac3_48000_stereo.ac3");
        let (start, _) = first_frame(AudioCodec::Ac3, ac3).unwrap();
        let frames = split_frames(AudioCodec::Ac3, &ac3[start..]);
        assert!(frames.len() > 1);
        for w in frames.windows(2) {
            assert_eq!(w[0].payload.end, w[1].payload.start);
        }
        // 48 kHz, 192 kbit/s (frmsizecod 20): 384 words; 44.1 kHz odd code: 418 + 1 words.
        assert_eq!(ac3_frame(&[0x0B, 0x77, 0, 0, 20, 0x40]), Some(768));
        assert_eq!(ac3_frame(&[0x0B, 0x77, 0, 0, 0x40 | 21, 0x40]), Some(836));
        assert_eq!(ac3_frame(&[0x0B, 0x77, 0, 0, 38, 0x40]), None);
    }
}
