//! Audio frame headers → sample rate and channels: AAC ADTS (ISO/IEC 13818-7 §6.2, read with
//! adts-reader), MPEG audio (ISO/IEC 11172-3 §2.4.1.3, ISO/IEC 13818-3 §2.4.2.3) and AC-3
//! syncinfo/bsi (ATSC A/52 §5.3.1–5.3.2).

use adts_reader::AdtsHeader;

use super::AudioCodec;
pub use super::audio_frames::{
    AC3_SAMPLES, AudioFrame, ac3_frame, count_frames, mpeg_audio_frame, split_frames,
};
use super::info::{AudioFormat, AudioInfo, InfoError};

/// How far into an elementary stream a frame header is looked for.
pub const SYNC_SEARCH: usize = 4096;

/// ADTS sampling frequencies by index (ISO/IEC 14496-3 §1.6.3.4).
const ADTS_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The media time, in 90 kHz ticks, of the whole ADTS frames that `es` starts with: each
/// frame's length leads to the next header, and the walk stops at the first byte that is not
/// one (or at a frame cut short). `None` when `es` does not start with an ADTS header.
pub fn adts_ticks(es: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut ticks = 0i64;
    while let Some(h) = es.get(at..at + 7) {
        if !adts_sync(h) {
            break;
        }
        let rate = *ADTS_RATES.get(usize::from((h[2] >> 2) & 0x0F))?;
        let len = adts_len(h);
        if len < 7 || at + len > es.len() {
            break;
        }
        let samples = 1024 * (i64::from(h[6] & 0x03) + 1);
        ticks += samples * 90_000 / i64::from(rate);
        at += len;
    }
    (at > 0).then_some(ticks)
}

/// Where lfeon sits in an AC-3 bsi, in bits from the top of byte 6 (ATSC A/52 §5.3.2):
/// after the 3 bits of acmod come cmixlev (2 bits) when a centre is present with fronts,
/// surmixlev (2 bits) when a surround is present, dsurmod (2 bits) in 2/0 mode.
pub(crate) fn ac3_lfe_bit(acmod: u8) -> u32 {
    let mixes = [(acmod & 1 == 1 && acmod != 1), acmod & 4 != 0, acmod == 2]
        .iter()
        .filter(|&&present| present)
        .count() as u32;
    3 + 2 * mixes
}

/// An ADTS header starts here: syncword and layer 0 (ISO/IEC 13818-7 §6.2).
pub(crate) fn adts_sync(b: &[u8]) -> bool {
    b[0] == 0xFF && b[1] & 0xF6 == 0xF0
}

/// The 13-bit aac_frame_length of the ADTS header `h` (at least 6 bytes), header included.
pub(crate) fn adts_len(h: &[u8]) -> usize {
    usize::from(h[3] & 0x03) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5)
}

impl AudioInfo {
    /// Reads the ADTS header at the start of `buf` (7 bytes, 9 with CRC).
    pub fn from_adts(buf: &[u8]) -> Result<AudioInfo, InfoError> {
        const WHAT: &str = "ADTS header";
        let need = if buf.get(1).is_some_and(|b| b & 1 == 0) {
            9
        } else {
            7
        };
        if buf.len() < need {
            return Err(InfoError::Truncated {
                what: WHAT,
                need,
                have: buf.len(),
            });
        }
        let header = AdtsHeader::from_bytes(buf).map_err(|e| adts_error(buf, &e))?;
        let index = header.sampling_frequency();
        let sample_rate = index.freq().ok_or(InfoError::Invalid {
            what: WHAT,
            field: "sampling_frequency_index",
            value: u32::from(u8::from(index)),
        })?;
        let channels = match u8::from(header.channel_configuration()) {
            7 => 8,
            n => n,
        };
        Ok(AudioInfo {
            format: AudioFormat::Aac {
                object_type: u8::from(header.audio_object_type()),
            },
            sample_rate,
            channels,
        })
    }

    /// Reads the MPEG audio frame header at the start of `buf` (4 bytes).
    pub fn from_mpeg_audio(buf: &[u8]) -> Result<AudioInfo, InfoError> {
        const WHAT: &str = "MPEG audio header";
        let invalid = |field, value| InfoError::Invalid {
            what: WHAT,
            field,
            value,
        };
        let &[b0, b1, b2, b3, ..] = buf else {
            return Err(InfoError::Truncated {
                what: WHAT,
                need: 4,
                have: buf.len(),
            });
        };
        if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
            return Err(invalid("syncword", u32::from(b0) << 3 | u32::from(b1 >> 5)));
        }
        // ID bits: 11 MPEG-1, 10 MPEG-2 LSF, 00 MPEG-2.5; 01 is reserved.
        let version = (b1 >> 3) & 3;
        let layer = match (b1 >> 1) & 3 {
            0 => return Err(invalid("layer", 0)),
            bits => 4 - bits,
        };
        let rate_index = usize::from((b2 >> 2) & 3);
        let base = [44100, 48000, 32000, 0][rate_index];
        let sample_rate = match version {
            3 => base,
            2 => base / 2,
            0 => base / 4,
            _ => return Err(invalid("version", 1)),
        };
        if sample_rate == 0 {
            return Err(invalid("sampling_frequency", 3));
        }
        let channels = if b3 >> 6 == 3 { 1 } else { 2 };
        Ok(AudioInfo {
            format: AudioFormat::Mpeg { layer },
            sample_rate,
            channels,
        })
    }

    /// Reads the AC-3 syncinfo and the start of the bsi at the start of `buf` (up to 8 bytes).
    pub fn from_ac3(buf: &[u8]) -> Result<AudioInfo, InfoError> {
        const WHAT: &str = "AC-3 syncframe";
        let invalid = |field, value| InfoError::Invalid {
            what: WHAT,
            field,
            value,
        };
        if buf.len() < 8 {
            return Err(InfoError::Truncated {
                what: WHAT,
                need: 8,
                have: buf.len(),
            });
        }
        if buf[..2] != [0x0B, 0x77] {
            return Err(invalid(
                "syncword",
                u32::from(u16::from_be_bytes([buf[0], buf[1]])),
            ));
        }
        let fscod = buf[4] >> 6;
        let sample_rate = match fscod {
            0 => 48000,
            1 => 44100,
            2 => 32000,
            _ => return Err(invalid("fscod", 3)),
        };
        let bsid = buf[5] >> 3;
        if bsid > 8 {
            // 9–10 are lower-rate AC-3 variants, 11–16 E-AC-3: another syntax.
            return Err(invalid("bsid", u32::from(bsid)));
        }
        let acmod = buf[6] >> 5;
        let lfe_bit = ac3_lfe_bit(acmod);
        let bits = u16::from_be_bytes([buf[6], buf[7]]);
        let lfeon = (bits >> (15 - lfe_bit)) & 1;
        let fronts_and_surrounds = [2, 1, 2, 3, 3, 4, 4, 5][usize::from(acmod)];
        Ok(AudioInfo {
            format: AudioFormat::Ac3,
            sample_rate,
            channels: fronts_and_surrounds + lfeon as u8,
        })
    }

    /// Finds the first frame header of `codec` in `es` (at most [`SYNC_SEARCH`] bytes in) and
    /// reads it. Audio PES packets normally start with a frame, but nothing forces them to.
    pub fn from_es(codec: AudioCodec, es: &[u8]) -> Result<AudioInfo, InfoError> {
        first_frame(codec, es).map(|(_, info)| info)
    }
}

/// Where the first readable frame header of `codec` sits in `es` (at most [`SYNC_SEARCH`]
/// bytes in), and what it says.
pub fn first_frame(codec: AudioCodec, es: &[u8]) -> Result<(usize, AudioInfo), InfoError> {
    type Parse = fn(&[u8]) -> Result<AudioInfo, InfoError>;
    let (parse, is_sync): (Parse, fn(&[u8]) -> bool) = match codec {
        AudioCodec::Aac => (AudioInfo::from_adts, adts_sync),
        AudioCodec::Mpeg => (AudioInfo::from_mpeg_audio, |b| {
            b[0] == 0xFF && b[1] & 0xE0 == 0xE0
        }),
        AudioCodec::Ac3 => (AudioInfo::from_ac3, |b| b == [0x0B, 0x77]),
    };
    let window = &es[..es.len().min(SYNC_SEARCH)];
    let mut first_error = None;
    for at in (0..window.len().saturating_sub(1)).filter(|&i| is_sync(&window[i..i + 2])) {
        match parse(&es[at..]) {
            Ok(info) => return Ok((at, info)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(InfoError::NoSync {
        what: codec_name(codec),
        searched: window.len(),
    }))
}

/// The whole ADTS frames `es` starts with: how many, and their samples (1024 per raw data
/// block). `None` when `es` does not start with an ADTS header.
pub fn adts_frames(es: &[u8]) -> Option<(u32, u32)> {
    let (mut at, mut frames, mut samples) = (0, 0u32, 0u32);
    while let Some(h) = es.get(at..at + 7) {
        if !adts_sync(h) {
            break;
        }
        let len = adts_len(h);
        if len < 7 || at + len > es.len() {
            break;
        }
        frames += 1;
        samples += 1024 * (u32::from(h[6] & 0x03) + 1);
        at += len;
    }
    (frames > 0).then_some((frames, samples))
}

fn codec_name(codec: AudioCodec) -> &'static str {
    match codec {
        AudioCodec::Aac => "ADTS",
        AudioCodec::Mpeg => "MPEG audio",
        AudioCodec::Ac3 => "AC-3",
    }
}

fn adts_error(buf: &[u8], e: &adts_reader::AdtsHeaderError) -> InfoError {
    use adts_reader::AdtsHeaderError as E;
    let (field, value) = match e {
        E::BadSyncWord(word) => ("syncword", u32::from(*word)),
        E::NotEnoughData { actual, .. } => ("length", *actual as u32),
        E::BadFrameLength { actual, .. } => ("frame_length", *actual as u32),
        E::BadSamplingFrequency(_) => ("sampling_frequency_index", u32::from((buf[2] >> 2) & 0xF)),
    };
    InfoError::Invalid {
        what: "ADTS header",
        field,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Summarises what the parser read as `codecs rate channels`.
    fn check(codec: AudioCodec, es: &[u8], expect: &str) {
        let got = AudioInfo::from_es(codec, es)
            .map(|i| format!("{} {} {}", i.codecs(), i.sample_rate, i.channels))
            .unwrap_or_else(|e| format!("error: {e}"));
        assert_eq!(got, expect);
    }

    // Expected values: ffprobe's profile, sample_rate and channels for each fixture
    // (fixtures/README), and the CODECS that ffmpeg's HLS muxer writes for it.

    #[test]
    fn aac_lc() {
        // ffprobe: aac LC 44100 Hz stereo; aac LC 48000 Hz mono.
        check(
            AudioCodec::Aac,
            include_bytes!("fixtures/aac_lc_44100_stereo.aac"),
            "mp4a.40.2 44100 2",
        );
        check(
            AudioCodec::Aac,
            include_bytes!("fixtures/aac_lc_48000_mono.aac"),
            "mp4a.40.2 48000 1",
        );
    }

    #[test]
    fn mp3() {
        // ffprobe: mp3 44100 Hz stereo; mp3 24000 Hz (MPEG-2 LSF) mono.
        check(
            AudioCodec::Mpeg,
            include_bytes!("fixtures/mp3_44100_stereo.mp3"),
            "mp4a.40.34 44100 2",
        );
        check(
            AudioCodec::Mpeg,
            include_bytes!("fixtures/mp3_24000_mono.mp3"),
            "mp4a.40.34 24000 1",
        );
    }

    #[test]
    fn ac3() {
        // ffprobe: ac3 48000 Hz stereo.
        check(
            AudioCodec::Ac3,
            include_bytes!("fixtures/ac3_48000_stereo.ac3"),
            "ac-3 48000 2",
        );
        // 3/2 with LFE (acmod 7, cmixlev, surmixlev, lfeon 1): 5.1.
        check(
            AudioCodec::Ac3,
            &[0x0B, 0x77, 0, 0, 0x14, 0x40, 0xE0 | 0b0_0001, 0x00],
            "ac-3 48000 6",
        );
        // 2/0 (acmod 2, dsurmod, lfeon 0).
        check(
            AudioCodec::Ac3,
            &[0x0B, 0x77, 0, 0, 0x54, 0x40, 0x40, 0x00],
            "ac-3 44100 2",
        );
    }

    #[test]
    fn adts_ticks_counts_whole_frames() {
        let adts = include_bytes!("fixtures/aac_lc_48000_mono.aac");
        let frames = {
            let mut n = 0;
            let mut at = 0;
            while at + 7 <= adts.len() {
                n += 1;
                at += usize::from(adts[at + 3] & 3) << 11
                    | usize::from(adts[at + 4]) << 3
                    | usize::from(adts[at + 5] >> 5);
            }
            n
        };
        // 1024 samples at 48 kHz are 1920 ticks; a cut frame and a foreign byte end the walk.
        assert_eq!(adts_ticks(adts), Some(1920 * frames));
        assert_eq!(
            adts_ticks(&adts[..adts.len() - 1]),
            Some(1920 * (frames - 1))
        );
        assert_eq!(adts_ticks(&adts[1..]), None);
    }

    #[test]
    fn header_found_after_junk_and_errors() {
        let adts = include_bytes!("fixtures/aac_lc_48000_mono.aac");
        let mut shifted = vec![0x12, 0xFF, 0x00];
        shifted.extend_from_slice(adts);
        check(AudioCodec::Aac, &shifted, "mp4a.40.2 48000 1");
        check(
            AudioCodec::Aac,
            &[0; 100],
            "error: ADTS: no sync word in the first 100 bytes",
        );
        check(
            AudioCodec::Aac,
            &adts[..5],
            "error: ADTS header: need 7 bytes, have 5",
        );
        // Sampling frequency index 15 (escape value, not allowed in ADTS).
        check(
            AudioCodec::Aac,
            &[0xFF, 0xF1, 0x7C, 0x80, 0x2E, 0x7F, 0xFC],
            "error: ADTS header: invalid sampling_frequency_index 15",
        );
        check(
            AudioCodec::Mpeg,
            &[0xFF, 0xE9, 0x90, 0x00],
            "error: MPEG audio header: invalid layer 0",
        );
        check(
            AudioCodec::Ac3,
            &[0x0B, 0x77, 0, 0, 0xC0, 0x40, 0, 0],
            "error: AC-3 syncframe: invalid fscod 3",
        );
    }
}
