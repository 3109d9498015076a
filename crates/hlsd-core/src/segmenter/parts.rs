//! How LL-HLS parts are sized (RFC 8216bis §4.4.4.9): PART-TARGET derived from the frame
//! duration, and the plan that splits each GOP into whole parts.

use crate::ts::Ts;
use std::collections::VecDeque;

/// How parts are sized for a feed (§4.4.4.9): PART-TARGET, and the fewest and most
/// timeline frames (video frames, or audio PES packets) a part may hold so that it lasts
/// between 85 % and 100 % of PART-TARGET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSizes {
    pub target: Ts,
    pub min_frames: u32,
    pub max_frames: u32,
}

impl PartSizes {
    /// Sizes for a feed whose frames last `frame`: n whole frames close to `part_duration`.
    /// With n ≥ 6, parts may hold n or n + 1 frames (n / (n + 1) ≥ 85 %), so a GOP of most
    /// lengths splits into whole parts that end exactly at the next keyframe; PART-TARGET is
    /// then n + 1 frames. Otherwise parts hold n frames and PART-TARGET has 1/16 to spare for
    /// timestamp jitter and uneven audio PES.
    pub fn for_frames(part_duration: Ts, frame: Ts, video: bool) -> PartSizes {
        let f = frame.0.max(1);
        // The nearest whole number of frames; a tie goes to the shorter part.
        let n = ((part_duration.0 as f64 / f as f64 - 0.5).ceil() as i64).max(1);
        if video && n >= 6 {
            PartSizes {
                target: Ts((n + 1) * (f + 1)),
                min_frames: n as u32,
                max_frames: n as u32 + 1,
            }
        } else if video {
            PartSizes {
                target: Ts(n * f + (n * f + 15) / 16),
                min_frames: n as u32,
                max_frames: n as u32,
            }
        } else {
            // Audio PES are not all alike: muxers pack frames into PES by bytes (ffmpeg's
            // hold 8 or 9 AAC frames at 128 kbit/s, by the encoder's frame sizes), and a PES
            // cannot be split, so a part may hold a PES a quarter longer than the one this
            // target was measured on and still fit it (§4.4.4.9: a MUST).
            PartSizes {
                target: Ts(n * f + ((n * f + 15) / 16).max((f + 3) / 4)),
                min_frames: n as u32,
                max_frames: n as u32,
            }
        }
    }

    /// Sizes under a PART-TARGET fixed earlier (a reconnect); `None` when frames of this
    /// length cannot fill parts within 85–100 % of it.
    pub fn for_target(target: Ts, frame: Ts) -> Option<PartSizes> {
        let f = frame.0.max(1);
        let max = target.0 / f;
        let min = (target.0 * 85).div_euclid(100 * f)
            + i64::from((target.0 * 85).rem_euclid(100 * f) != 0);
        (max >= 1 && min <= max).then(|| PartSizes {
            target,
            min_frames: min.max(1) as u32,
            max_frames: max as u32,
        })
    }

    /// Part sizes (in frames) that split a GOP of `gop` frames exactly, largest first; empty
    /// when no mix of allowed sizes adds up to it.
    pub fn plan(&self, gop: u32) -> VecDeque<u32> {
        let (lo, hi) = (self.min_frames.max(1), self.max_frames.max(1));
        for big in (0..=gop / hi).rev() {
            let rest = gop - big * hi;
            for size in lo..=hi {
                if rest.is_multiple_of(size) {
                    let mut p: VecDeque<u32> = std::iter::repeat_n(hi, big as usize).collect();
                    p.extend(std::iter::repeat_n(size, (rest / size) as usize));
                    return p;
                }
            }
        }
        VecDeque::new()
    }
}
