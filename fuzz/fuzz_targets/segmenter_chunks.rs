//! Chunking invariance (DESIGN.md invariant 2): the segmenter makes the same segments, byte
//! for byte, with the same durations and flags, whatever the chunk boundaries of the input.
//! The input is a valid synthetic stream with the fuzz bytes spliced in, cut two ways.
#![no_main]

use hlsd::segmenter::{Event, Segmenter, SegmenterConfig};
use hlsd::synth::Synth;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| Synth { gop: 10, ..Synth::default() }.build(40))
}

type Seg = (Vec<u8>, i64, bool, bool, Vec<(usize, i64, bool)>);

fn segments(input: &[u8], chunk: usize, parts: bool) -> Vec<Seg> {
    let cfg = SegmenterConfig::new(0.5, None).with_parts(if parts { 0.1 } else { 0.0 }, None);
    let mut s = Segmenter::new(cfg);
    let mut out = Vec::new();
    let drain = |s: &mut Segmenter, out: &mut Vec<Seg>| {
        while let Some(ev) = s.poll_event() {
            if let Event::Segment(seg) = ev {
                let bytes: Vec<u8> = seg.parts.iter().flat_map(|p| p.data.to_vec()).collect();
                let parts = seg
                    .parts
                    .iter()
                    .map(|p| (p.data.len(), p.duration.0, p.independent))
                    .collect();
                out.push((bytes, seg.duration.0, seg.independent, seg.discontinuity, parts));
            }
        }
    };
    for c in input.chunks(chunk.max(1)) {
        s.push(c, 0);
        drain(&mut s, &mut out);
    }
    s.finish(0);
    drain(&mut s, &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((&cut, rest)) = rest.split_first() else { return };
    let b = base();
    let at = (usize::from(mode) * 188) % b.len();
    let input = [&b[..at], rest, &b[at..]].concat();
    let parts = mode & 1 == 1;
    let whole = segments(&input, input.len(), parts);
    let cut = segments(&input, usize::from(cut) + 1, parts);
    assert_eq!(cut.len(), whole.len(), "segment count depends on chunk boundaries");
    assert!(cut == whole, "segments depend on chunk boundaries");
});
