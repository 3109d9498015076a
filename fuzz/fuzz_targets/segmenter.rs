//! The segmenter on arbitrary input, optionally spliced into a valid synthetic stream:
//! never panics, and every segment it makes opens with a PAT.
#![no_main]

use hlsd::segmenter::{Event, Segmenter, SegmenterConfig};
use hlsd::synth::Synth;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| Synth { gop: 10, ..Synth::default() }.build(40))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // Mode bit 0: splice the fuzz bytes into a valid stream at a packet boundary.
    let input: Vec<u8> = if mode & 1 == 1 {
        let b = base();
        let at = (usize::from(mode) * 188) % b.len();
        [&b[..at], rest, &b[at..]].concat()
    } else {
        rest.to_vec()
    };
    let cfg = SegmenterConfig::new(0.5, None).with_parts(if mode & 2 == 2 { 0.1 } else { 0.0 }, None);
    let mut s = Segmenter::new(cfg);
    for c in input.chunks(usize::from(mode >> 2) + 1) {
        s.push(c, 0);
    }
    s.finish(0);
    while let Some(ev) = s.poll_event() {
        if let Event::Segment(seg) = ev {
            let first = seg.parts[0].data.to_vec();
            assert!(first.len() >= 376 && first[0] == 0x47 && first[1] & 0x1F == 0 && first[2] == 0);
        }
    }
});
