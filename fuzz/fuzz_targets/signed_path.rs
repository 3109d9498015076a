//! Signed playback paths (`/s/{expires}-{sig}/{tree}/{feed}/...`): `gate` never panics on
//! any path, only lets through what it can cut cleanly (the served path starts at a `/`
//! inside the request path, under a playback tree), and a path `hlsd sign` made for a feed
//! passes, while the same path with any byte of its token changed does not.
#![no_main]

use hlsd::http::signed::{Gate, Signer, gate};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let signer = Signer::new("fuzzing secret");
    if let Ok(path) = std::str::from_utf8(data) {
        match gate(Some(&signer), path, || NOW) {
            Gate::Signed { skip, .. } => {
                let served = path.get(skip..).expect("skip on a char boundary");
                assert!(served.starts_with('/'), "{path:?} -> {served:?}");
                assert!(path.starts_with("/s/"));
            }
            Gate::Open => assert!(!path.starts_with("/s/")),
            Gate::Unsigned(_) | Gate::Forbidden | Gate::NotFound => {}
        }
        assert!(matches!(gate(None, path, || NOW), Gate::Open));
    }
    // A path made by the signer passes; flipping one byte of its token refuses it.
    let feed: String = data
        .iter()
        .take(64)
        .map(|b| b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"[usize::from(b % 64)] as char)
        .collect();
    if feed.is_empty() {
        return;
    }
    let expires = NOW + u64::from(data[0]);
    let Ok(signed) = signer.path(&feed, expires) else { return };
    assert!(
        matches!(gate(Some(&signer), &signed, || NOW), Gate::Signed { .. }),
        "{signed}"
    );
    let token_end = signed[3..].find('/').map_or(3, |i| i + 3);
    let at = 3 + usize::from(data[data.len() - 1]) % (token_end - 3).max(1);
    let mut bytes = signed.clone().into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    if let Ok(tampered) = String::from_utf8(bytes)
        && tampered != signed
    {
        assert!(
            !matches!(gate(Some(&signer), &tampered, || NOW), Gate::Signed { .. }),
            "{tampered} passed"
        );
    }
});
