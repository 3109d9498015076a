//! The first-bytes checks of an ingest body (`looks_like_ts`, the 415 decision, and
//! `programs::scan`, which finds the programs of a push): never panic, and more bytes never
//! turn a "yes" into a "no".
#![no_main]

use hlsd::ts::framer::looks_like_ts;
use hlsd::ts::programs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else { return };
    let head = &body[..usize::from(cut).min(body.len())];
    let early = looks_like_ts(head);
    let late = looks_like_ts(body);
    if early == Some(true) {
        assert_eq!(late, Some(true), "a TS head stopped looking like TS with more bytes");
    }
    if early == Some(false) {
        assert_eq!(late, Some(false), "a rejected head was accepted with more bytes");
    }
    if let Some(found) = programs::scan(body, true) {
        for p in &found {
            let name = programs::rendition_name(p);
            assert!(!name.is_empty() && name.len() <= 64);
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
    }
    let _ = programs::scan(head, false);
});
