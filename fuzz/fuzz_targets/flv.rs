//! FLV tags (legacy and Enhanced RTMP video, AAC audio) from arbitrary bytes into the
//! segmenter's access-unit input: never panics. The input is a run of tags, each a kind
//! byte (bit 0: video), a 16-bit length, a 32-bit timestamp step and the body.
#![no_main]

use bytes::Bytes;
use hlsd::flv::FlvDemux;
use hlsd::segmenter::{Segmenter, SegmenterConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut demux = FlvDemux::new();
    let mut cfg = SegmenterConfig::new(1.0, None).with_parts(0.25, None);
    cfg.timestamp_resolution = hlsd::flv::MS;
    let mut seg = Segmenter::new(cfg);
    let (mut rest, mut time) = (data, 0u32);
    while let [kind, l0, l1, t0, t1, t2, t3, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        time = time.wrapping_add(u32::from_be_bytes([*t0, *t1, *t2, *t3]));
        let body = Bytes::copy_from_slice(&tail[..len]);
        rest = &tail[len..];
        let out = if kind & 1 == 1 {
            demux.video(time, &body)
        } else {
            demux.audio(time, &body)
        };
        let Ok(out) = out else { continue };
        if let Some(tracks) = out.tracks {
            let _ = seg.set_tracks(&tracks);
        }
        if let Some(unit) = out.unit {
            let _ = seg.push_access_unit(unit, 0);
        }
        while seg.poll_event().is_some() {}
        let _ = demux.take_media_info();
    }
    seg.finish(0);
    while seg.poll_event().is_some() {}
});
