//! Blocking-reload query parsing and the decision function: never panic.
#![no_main]

use hlsd::playlist::blocking::{Position, decide, parse_directives};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    if let Ok(d) = parse_directives(Some(q)) {
        for (next_msn, parts) in [(0, 0), (1, 0), (10, 3), (u64::MAX, u64::MAX)] {
            let pos = Position { next_msn, building_parts: parts, ended: false, advance_part_limit: 12 };
            let _ = decide(&d, &pos, |m| m.checked_rem(7));
        }
    }
});
