//! A session's index file: an append-only list of records, each framed as
//! `[length: u32 LE][crc32: u32 LE][payload: length bytes]`, the payload one JSON
//! [`Record`]. A record is appended and the file fsynced only after what it names is on
//! disk, so the index never lists a segment that is not there. A crash while appending
//! leaves a torn tail (a short header, a short payload, or a CRC that does not match):
//! [`read`] stops at the first such record and reports where the valid prefix ends.
//!
//! The CRC is crc32fast's (IEEE CRC-32), already in the build through flate2: it tells a
//! record cut short or a tail of stale bytes from a whole one; JSON alone could parse a
//! prefix that happens to be valid (`{"t":"end","end_ms":1}` cut to `...":1` is not, but a
//! number cut short is a different number).

use serde::{Deserialize, Serialize};

/// The index file's name in a session directory.
pub const INDEX_FILE: &str = "index";

/// A record longer than this is not one (a torn length field reads as garbage).
const MAX_RECORD: u32 = 1 << 20;
const HEADER: usize = 8;

/// One line of a session's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    /// The session's first record.
    Start {
        feed: String,
        /// Unix milliseconds.
        start_ms: i64,
    },
    /// A rendition joins the session, or what it carries changed; segments of it that
    /// follow are listed under this.
    Rendition(RenditionInfo),
    /// A segment on disk (`gap: false`) or lost to the recording (`gap: true`, no file).
    Segment(SegmentEntry),
    /// Retention moved a rendition's head: its segments before `msn` are no longer listed.
    /// Appended (and fsynced) before their files are removed, so a crash in between leaves
    /// only files the index no longer names, which the next start removes.
    Head { rendition: String, msn: u64 },
    /// The session is over (its playlists get EXT-X-ENDLIST).
    End {
        /// Unix milliseconds.
        end_ms: i64,
    },
}

/// What a rendition of a recorded session is, for its variant in the multivariant
/// playlist and its media playlist's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionInfo {
    pub name: String,
    /// The live token its segments were made under (part of their file names).
    pub token: u64,
    pub target_duration: u32,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: Option<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    pub audio_only: bool,
    /// Recorded as fMP4 (`.m4s` segments and their inits), as the feed served it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fmp4: bool,
}

/// A recorded segment, as its media playlist lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub rendition: String,
    pub msn: u64,
    /// 90 kHz ticks.
    pub duration: i64,
    /// Unix milliseconds (EXT-X-PROGRAM-DATE-TIME).
    pub pdt_ms: i64,
    /// A publisher change or a timestamp jump comes before it.
    pub discontinuity: bool,
    pub independent: bool,
    /// Bytes of its file (0 for a gap).
    pub bytes: u64,
    /// Lost to the recording: listed with EXT-X-GAP, no file.
    pub gap: bool,
    /// fMP4: the number of the init it needs (`init-{token}-{n}.mp4`, beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<u32>,
}

impl SegmentEntry {
    pub fn secs(&self) -> f64 {
        self.duration as f64 / 90_000.0
    }
}

/// `record` framed for appending.
pub fn encode(record: &Record) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    let payload = serde_json::to_vec(record).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// What an index file holds.
#[derive(Debug, Default)]
pub struct Read {
    pub records: Vec<Record>,
    /// Length of the valid prefix; less than the file's when its tail is torn.
    pub valid_len: u64,
}

/// Reads the records of an index file's bytes, up to the first torn or damaged one.
pub fn read(bytes: &[u8]) -> Read {
    let mut out = Read::default();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD {
            break;
        }
        let start = at + HEADER;
        let Some(payload) = bytes.get(start..start + len as usize) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice::<Record>(payload) else {
            break;
        };
        out.records.push(record);
        at = start + len as usize;
        out.valid_len = at as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(msn: u64) -> Record {
        Record::Segment(SegmentEntry {
            rendition: "main".into(),
            msn,
            duration: 180_000,
            pdt_ms: 1_764_921_600_000 + msn as i64 * 2000,
            discontinuity: msn == 3,
            independent: true,
            bytes: 1234,
            gap: false,
            init: None,
        })
    }

    fn file() -> (Vec<Record>, Vec<u8>) {
        let records = vec![
            Record::Start {
                feed: "cam".into(),
                start_ms: 1_764_921_600_000,
            },
            Record::Rendition(RenditionInfo {
                name: "main".into(),
                token: 0x1abc_def0_1234,
                target_duration: 2,
                bandwidth: 1_000_000,
                average_bandwidth: 900_000,
                codecs: Some("avc1.64001f,mp4a.40.2".into()),
                resolution: Some((1280, 720)),
                frame_rate: Some(25.0),
                audio_only: false,
                fmp4: false,
            }),
            segment(1),
            segment(2),
            segment(3),
            Record::End {
                end_ms: 1_764_921_608_000,
            },
        ];
        let bytes = records.iter().flat_map(encode).collect();
        (records, bytes)
    }

    #[test]
    fn records_read_back() {
        let (records, bytes) = file();
        let r = read(&bytes);
        assert_eq!(r.records, records);
        assert_eq!(r.valid_len, bytes.len() as u64);
    }

    /// Every cut of the file, at every byte: the records before the cut read back, the one
    /// cut short is ignored, and the valid length is where the last whole one ends.
    #[test]
    fn a_torn_tail_record_is_ignored() {
        let (records, bytes) = file();
        let ends: Vec<usize> = records
            .iter()
            .scan(0, |at, r| {
                *at += encode(r).len();
                Some(*at)
            })
            .collect();
        for cut in 0..bytes.len() {
            let r = read(&bytes[..cut]);
            let whole = ends.iter().take_while(|&&e| e <= cut).count();
            assert_eq!(r.records, records[..whole], "cut at {cut}");
            assert_eq!(
                r.valid_len,
                if whole == 0 { 0 } else { ends[whole - 1] } as u64
            );
        }
    }

    #[test]
    fn damaged_records_and_garbage_stop_the_read() {
        let (records, mut bytes) = file();
        let second = encode(&records[0]).len();
        // A flipped payload byte in the third record: its CRC no longer matches.
        let third = second + encode(&records[1]).len();
        bytes[third + HEADER + 3] ^= 0x20;
        let r = read(&bytes);
        assert_eq!(r.records, records[..2]);
        assert_eq!(r.valid_len, third as u64);
        // A huge length, zeros, random bytes.
        assert!(read(&[0xff; 64]).records.is_empty());
        assert!(read(&[0; 64]).records.is_empty());
        let noise: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(read(&noise).records.is_empty());
    }
}
