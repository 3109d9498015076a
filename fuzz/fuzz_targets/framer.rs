//! The framer on arbitrary bytes cut at arbitrary places: never panics, hands out only
//! whole packets starting with a sync byte, and gives the same packets whatever the cuts.
#![no_main]

use hlsd::ts::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else { return };
    let frame = |chunk: usize| {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            f.push(c, |p| out.extend_from_slice(p.bytes()));
        }
        f.finish(|p| out.extend_from_slice(p.bytes()));
        out
    };
    let whole = frame(body.len().max(1));
    assert_eq!(whole.len() % 188, 0);
    assert!(whole.chunks(188).all(|p| p[0] == 0x47));
    assert_eq!(frame(usize::from(cut) + 1), whole);
});
