//! `Range` header parsing: never panics, and a partial range always lies inside the body.
#![no_main]

use hlsd::http::range::{RangeRequest, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, header)) = data.split_at_checked(2) else { return };
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let Ok(header) = std::str::from_utf8(header) else { return };
    match parse_range(Some(header), len) {
        RangeRequest::Partial(r) => assert!(r.start < r.end && r.end <= len, "{header:?} {len} -> {r:?}"),
        RangeRequest::Full | RangeRequest::Unsatisfiable => {}
    }
});
