//! What the segmenter is told (its configuration) and what it tells (events, warnings,
//! statistics).

use super::building::{Part, Segment, SegmentHead};
use crate::codec::{InfoError, MediaInfo};
use crate::ts::pes::PesError;
use crate::ts::psi::{Pmt, PsiError};
use crate::ts::{FramerStats, Pid, Ts};

/// Default of [`SegmenterConfig::max_frozen_bytes`]: between two advances of the timeline
/// comes one video frame (or audio PES) and what is interleaved with it; 8 MiB is more than
/// any single frame of a live encode (a 4K intra frame is a few MB).
pub const FROZEN_CLOCK_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Media time after which a segment is cut at the next keyframe.
    pub segment_duration: Ts,
    /// EXT-X-TARGETDURATION when already fixed (by config, or by an earlier publish of the
    /// same feed); `None` fixes it when the first segment completes.
    pub target_duration: Option<u32>,
    /// A segment is cut, keyframe or not, when it reaches this many bytes.
    pub max_segment_bytes: usize,
    /// Bytes that may arrive while the timeline's media time does not advance; beyond
    /// them the clock is frozen ([`Warning::FrozenClock`]) and packets are dropped until
    /// it advances again.
    pub max_frozen_bytes: usize,
    /// Until the target duration is fixed, a segment is cut, keyframe or not, at this length;
    /// a stream with no keyframe at all starts being served after this long.
    pub first_segment_limit: Ts,
    /// LL-HLS part duration wanted; `None` cuts no parts (one part per segment).
    pub part_duration: Option<Ts>,
    /// PART-TARGET when already fixed by an earlier publish of the feed.
    pub part_target: Option<Ts>,
    /// In a multi-program stream, the program (by number) to serve, other programs' packets
    /// being dropped; `None` serves the first program and passes every other packet on.
    pub program: Option<u16>,
    /// TS input: reassemble PES packets into access units and hand them out with each part
    /// ([`Part::units`]). Off, the TS path does none of it (and copies media bytes once).
    pub access_units: bool,
    /// TS input: turn access units on (as [`Segmenter::start_access_units`](super::Segmenter::start_access_units)) as soon as the
    /// program shows an H.265 video stream, so the first segment carries them (a server
    /// whose HEVC feeds are served as fMP4).
    pub access_units_for_hevc: bool,
    /// Input timestamps are multiples of this (`flv::MS` for millisecond-timed input such as
    /// RTMP; one tick for TS). A frame duration measured from them may be up to one step
    /// less than a later frame's, so parts are sized for frames one step (less a tick)
    /// longer, and every part stays within PART-TARGET (29.97 fps in milliseconds: frames
    /// of 33 or 34 ms).
    pub timestamp_resolution: Ts,
}

impl SegmenterConfig {
    pub fn new(segment_duration: f64, target_duration: Option<u32>) -> Self {
        SegmenterConfig {
            segment_duration: Ts::from_secs(segment_duration),
            target_duration,
            max_segment_bytes: 64 << 20,
            max_frozen_bytes: FROZEN_CLOCK_BYTES,
            first_segment_limit: Ts::from_secs((segment_duration * 5.0).max(10.0)),
            part_duration: None,
            part_target: None,
            program: None,
            access_units: false,
            access_units_for_hevc: false,
            timestamp_resolution: Ts(1),
        }
    }

    /// Cuts LL-HLS parts of about `part_duration` seconds (0 turns them off), keeping
    /// `part_target` when the feed already has one.
    pub fn with_parts(mut self, part_duration: f64, part_target: Option<Ts>) -> Self {
        self.part_duration = (part_duration > 0.0).then(|| Ts::from_secs(part_duration));
        self.part_target = part_target;
        self
    }
}

/// A part is finished: it can be listed and served.
#[derive(Debug, Clone)]
pub struct PartEvent {
    pub part: Part,
    /// Its index within its segment (from 0).
    pub index: usize,
    pub head: SegmentHead,
    /// Its segment ends with it: the segment's [`Event::Segment`] is the next event. A
    /// consumer showing parts as they come (an LL-HLS playlist) shows this one with its
    /// segment, never alone: alone it would hint a next part of the same segment, and the
    /// next part is the next segment's first.
    pub ends_segment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    UnknownStream {
        pid: Pid,
        stream_type: u8,
    },
    BadPsi(PsiError),
    BadPes {
        pid: Pid,
        error: PesError,
    },
    /// No keyframe came for this long: serving starts on a non-key frame.
    NoKeyframe {
        waited: Ts,
    },
    /// The encoder's GOP outran the target duration: a segment was cut without a keyframe.
    GopOverrun {
        target_duration: u32,
    },
    /// A segment was cut at a size or time ceiling.
    ForcedCut {
        reason: &'static str,
        bytes: usize,
        duration: Ts,
    },
    TimestampJump {
        from: Ts,
        to: Ts,
    },
    /// An SPS or audio header could not be read.
    CodecInfo(InfoError),
    /// The timeline's media time has not advanced while `bytes` arrived: the stream's
    /// clock is frozen. Packets are dropped until it advances again (the segment being
    /// built keeps what came before); it is reported once per episode.
    FrozenClock {
        bytes: usize,
    },
    /// A reconnected publisher's frames cannot fill parts within 85–100 % of the feed's
    /// PART-TARGET.
    PartTargetMismatch {
        target: Ts,
        frame: Ts,
    },
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A part is complete (with LL-HLS off, each segment's single part comes just before it).
    Part(PartEvent),
    /// A segment is complete; its parts were announced by `Part` events first.
    Segment(Segment),
    /// PART-TARGET was fixed (once per feed).
    PartTarget(Ts),
    /// What the streams are (codecs, resolution, frame rate) is known or changed.
    MediaInfo(MediaInfo),
    /// EXT-X-TARGETDURATION was fixed (once per feed).
    TargetDuration(u32),
    /// The publisher's program: its stream table.
    Program(Pmt),
    /// The next segment's first part (which has not come yet) starts at a keyframe that
    /// brings a codec configuration other than the one before (`config_cut`), so in fMP4 it
    /// needs a new init (EXT-X-PRELOAD-HINT:TYPE=MAP). Comes before the `Segment` event of
    /// the segment the change ends, if any.
    NewConfiguration,
    Warning(Warning),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SegmenterStats {
    pub bytes: u64,
    pub framer: FramerStats,
    /// Packets dropped because they came before the program or the first keyframe.
    pub dropped_packets: u64,
    pub segments: u64,
    /// Segments started early, at a keyframe whose codec configuration changed (`config_cut`).
    pub config_cuts: u64,
    /// Packets whose continuity counter did not follow the previous one on their PID.
    pub continuity_errors: u64,
}
