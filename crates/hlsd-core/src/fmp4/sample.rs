//! Access units to MP4 samples, in runs of contiguous decode times.
//!
//! Video: an Annex B access unit becomes one sample of NAL units with 4-byte length
//! prefixes (ISO/IEC 14496-15 §5.3.2, §8.3.2); AUDs are dropped, and in-band parameter sets
//! too (they are in the init, and `hvc1` forbids them in samples). A sample lasts until the
//! next sample's DTS; the part's last sample lasts until the part's end (`part.start +
//! part.duration`, on the same 90 kHz timeline), which is where the next part's first
//! frame decodes, so the next fragment's decode time follows on exactly. Its composition
//! offset is PTS − decode time (signed, trun version 1: B-frames come before their
//! references' PTS).
//!
//! Audio: an access unit is a whole PES payload: it is split into frames by their headers
//! (`codec::audio::split_frames`: ADTS headers and CRC stripped, MPEG audio and AC-3 frames
//! as they are), each a sample lasting its sample count (1024 AAC, 1152 / 576 MP3, 1536
//! AC-3) in the track's timescale, its sample rate. Frame `i` of a PES decodes at the PES
//! DTS + `i` frames.
//!
//! Continuity: a track's next fragment starts where its previous one ended (the tfdt the
//! previous one implies) when its first sample's own DTS is within half a sample of it; a
//! larger difference is a jump (a discontinuity, lost audio) and the run restarts at the
//! sample's DTS. The same rule splits a fragment into several runs (several `traf`s of one
//! track) when the DTS jumps inside a part. A DTS before the origin (timestamps that jumped
//! back past the session's start) cannot be a decode time: such samples go on from where
//! their track stands, at their own spacing.

use std::ops::Range;

use bytes::Bytes;

use super::Fmp4Error;
use crate::codec::audio::split_frames;
use crate::codec::config::nal_ranges;
use crate::codec::nal::nal_type;
use crate::codec::{AudioCodec, VideoCodec};
use crate::segmenter::AccessUnit;
use crate::ts::Ts;

/// A video sample lasting longer than this (or not at all) is a DTS jump: the run ends
/// there (the segmenter calls 5 s forwards a discontinuity).
const MAX_VIDEO_SAMPLE: i64 = 5 * Ts::HZ;

/// A video sample's duration when nothing else says it (the first sample of a publish
/// followed by a jump): 1/30 s.
const DEFAULT_VIDEO_SAMPLE: i64 = 3000;

/// Where a track's previous fragment ended.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TrackState {
    /// The decode time the next fragment continues from, in the track's timescale.
    pub next: Option<u64>,
    /// How far a first sample's own decode time may be from `next` and still continue it.
    pub tolerance: u64,
    /// The last sample's duration (video: the fallback when a DTS jump leaves none).
    pub last_duration: u32,
}

/// One sample of a run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub duration: u32,
    pub size: u32,
    pub key: bool,
    /// Video: PTS − decode time, in the track's timescale.
    pub cts: Option<i64>,
}

/// Bytes of a sample in the mdat: a range of an access unit's payload, after a 4-byte
/// length prefix when `prefixed`.
#[derive(Debug, Clone)]
pub(super) struct Chunk<'a> {
    pub data: &'a Bytes,
    pub range: Range<usize>,
    pub prefixed: bool,
}

impl Chunk<'_> {
    pub fn len(&self) -> usize {
        self.range.len() + if self.prefixed { 4 } else { 0 }
    }
}

/// Samples with contiguous decode times: one `traf` (tfdt + trun).
#[derive(Debug, Default)]
pub(super) struct Run<'a> {
    pub decode_time: u64,
    pub samples: Vec<Sample>,
    pub chunks: Vec<Chunk<'a>>,
}

impl Run<'_> {
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }
}

/// `dts − origin` in `timescale` units: negative before the origin.
pub(super) fn decode_time(dts: Ts, origin: Ts, timescale: u32) -> i64 {
    let t = (i128::from(dts.0) - i128::from(origin.0)) * i128::from(timescale) / i128::from(Ts::HZ);
    i64::try_from(t).unwrap_or(if t < 0 { i64::MIN } else { i64::MAX })
}

/// Where a run whose first sample's own decode time is `own` starts, the track standing at
/// `at` (nothing yet: `None`): at `at` when `own` is within `tolerance` of it, or before the
/// origin (timestamps that jumped back past the session's start: decode times cannot be
/// negative, so the track goes on from where it stands); else at `own`.
fn place(own: i64, at: Option<u64>, tolerance: u64) -> u64 {
    match at {
        Some(at) if own < 0 || own.unsigned_abs().abs_diff(at) <= tolerance => at,
        None if own < 0 => 0,
        _ => own.unsigned_abs(),
    }
}

fn is_dropped(codec: VideoCodec, header: u8) -> bool {
    let t = nal_type(codec, header);
    match codec {
        // AUD, SPS, PPS.
        VideoCodec::H264 => matches!(t, 7..=9),
        // VPS, SPS, PPS, AUD.
        VideoCodec::H265 => matches!(t, 32..=35),
    }
}

/// The samples of one video track's units (in decode order) in a part ending at
/// `part_end`.
pub(super) fn video<'a>(
    units: &[&'a AccessUnit],
    codec: VideoCodec,
    origin: Ts,
    part_end: Ts,
    state: &mut TrackState,
) -> Result<Vec<Run<'a>>, Fmp4Error> {
    // Each unit's NAL units that go into its sample, as a range of `chunks`; units left
    // with none are no sample.
    let mut chunks: Vec<Chunk<'a>> = Vec::new();
    let mut kept: Vec<(&AccessUnit, Range<usize>)> = Vec::with_capacity(units.len());
    for &u in units {
        let from = chunks.len();
        chunks.extend(
            nal_ranges(&u.data)
                .filter(|r| !r.is_empty() && !is_dropped(codec, u.data[r.start]))
                .map(|range| Chunk {
                    data: &u.data,
                    range,
                    prefixed: true,
                }),
        );
        if chunks.len() > from {
            kept.push((u, from..chunks.len()));
        }
    }
    let time = |t: Ts| decode_time(t, origin, super::VIDEO_TIMESCALE);
    let times: Vec<i64> = kept.iter().map(|(u, _)| time(u.dts)).collect();
    let Some(&first) = times.first() else {
        return Ok(Vec::new());
    };
    let end = time(part_end);
    let mut fallback = match state.last_duration {
        0 => DEFAULT_VIDEO_SAMPLE,
        d => i64::from(d),
    };
    let mut runs = Vec::new();
    let mut run = Run {
        decode_time: place(first, state.next, state.tolerance),
        ..Run::default()
    };
    let mut at = run.decode_time;
    // What the run adds to its samples' own decode times.
    let mut offset = signed(at).saturating_sub(first);
    for (i, (u, own)) in kept.into_iter().enumerate() {
        let own = &chunks[own];
        let next = times.get(i + 1).copied();
        let d = next
            .unwrap_or(end)
            .saturating_add(offset)
            .saturating_sub(signed(at));
        // A sample that would last nothing or too long is a jump: it gets the previous
        // duration, and (unless it is the last) the next sample starts a new run.
        let jump = d <= 0 || d > MAX_VIDEO_SAMPLE;
        let duration = if jump { fallback } else { d };
        fallback = duration;
        let size = own.iter().map(Chunk::len).sum::<usize>();
        run.samples.push(Sample {
            duration: duration as u32,
            size: u32::try_from(size).map_err(|_| Fmp4Error::TooLarge(size))?,
            key: u.key,
            // trun v1 holds 32 bits: a PTS further off (bad input) is clamped, not refused.
            cts: Some(
                (time(u.pts)
                    .saturating_add(offset)
                    .saturating_sub(signed(at)))
                .clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
            ),
        });
        run.chunks.extend_from_slice(own);
        at = at.saturating_add(duration as u64);
        if let Some(next) = next.filter(|_| jump) {
            let start = place(next, Some(at), 0);
            offset = signed(start).saturating_sub(next);
            if start != at {
                runs.push(std::mem::take(&mut run));
                run.decode_time = start;
                at = start;
            }
        }
    }
    runs.push(run);
    state.next = Some(at);
    state.last_duration = fallback as u32;
    state.tolerance = fallback as u64 / 2;
    Ok(runs)
}

fn signed(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The samples of one audio track's units (PES payloads, in decode order), at `rate` Hz.
pub(super) fn audio<'a>(
    units: &[&'a AccessUnit],
    codec: AudioCodec,
    rate: u32,
    origin: Ts,
    state: &mut TrackState,
) -> Result<Vec<Run<'a>>, Fmp4Error> {
    let mut runs: Vec<Run<'a>> = Vec::new();
    let (mut at, mut offset) = (0u64, 0i64);
    for &u in units {
        let frames = split_frames(codec, &u.data);
        let Some(first) = frames.first() else {
            continue;
        };
        let own = decode_time(u.dts, origin, rate);
        let start = if runs.is_empty() {
            place(own, state.next, state.tolerance)
        } else {
            let tolerance = u64::from(first.samples / 2);
            match own.saturating_add(offset) {
                t if t >= 0 && t.unsigned_abs().abs_diff(at) <= tolerance => at,
                _ => place(own, Some(at), 0),
            }
        };
        offset = signed(start).saturating_sub(own);
        if runs.is_empty() || start != at {
            runs.push(Run {
                decode_time: start,
                ..Run::default()
            });
            at = start;
        }
        let Some(run) = runs.last_mut() else {
            continue;
        };
        for f in frames {
            run.samples.push(Sample {
                duration: f.samples,
                size: f.payload.len() as u32,
                key: true,
                cts: None,
            });
            run.chunks.push(Chunk {
                data: &u.data,
                range: f.payload,
                prefixed: false,
            });
            at = at.saturating_add(u64::from(f.samples));
            state.last_duration = f.samples;
        }
    }
    if !runs.is_empty() {
        state.next = Some(at);
        state.tolerance = u64::from(state.last_duration / 2);
    }
    Ok(runs)
}
