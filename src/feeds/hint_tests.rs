//! Every snapshot a rendition publishes hints the part that is published next: a segment's
//! last part is published with its segment, never alone (a playlist listing it alone
//! hinted one more part of that segment, and the next part was the next segment's first).
//! A synthetic publish, one frame per chunk, its events handed on as `ingest::lane` does,
//! each published snapshot looked at before the next event.

use super::Registry;
use crate::segmenter::{Event, Segmenter, SegmenterConfig};
use crate::synth::{Synth, frame_chunks};
use std::sync::Arc;

/// The URI of a `#EXT-X-PART` or `#EXT-X-PRELOAD-HINT` line.
fn uri(line: &str) -> &str {
    let from = line.find("URI=\"").map_or(line.len(), |i| i + 5);
    let rest = &line[from..];
    &rest[..rest.find('"').unwrap_or(rest.len())]
}

/// The parts a playlist lists, in order, and its preload hint.
fn parts_and_hint(text: &str) -> (Vec<String>, Option<String>) {
    let parts = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .map(|l| uri(l).to_string())
        .collect();
    let hint = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:TYPE=PART"))
        .map(|l| uri(l).to_string());
    (parts, hint)
}

#[tokio::test]
async fn every_published_hint_names_the_part_published_next() {
    let config = Arc::new(crate::Config::default());
    let registry = Registry::new(config, crate::clock::Clock::new());
    let addr = "127.0.0.1:9".parse().unwrap();
    let guard = registry.claim("hints", "main", addr).unwrap();
    let r = guard.rendition.clone();
    // A reader waiting for changes: every snapshot's playlist is rendered.
    let _waiting = r.subscribe();
    let mut seg = Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None));
    let input = Synth::default().build(25 * 9);
    // Hints published (with the last part listed beside them) whose next part is not
    // published yet: a player may have fetched any of them.
    let mut hinted: Vec<(String, String)> = Vec::new();
    let (mut checked, mut segments) = (0, 0);
    for (i, chunk) in frame_chunks(&input).into_iter().enumerate() {
        let now_ms = 1_000_000 + 40 * i as i64;
        seg.push(chunk, now_ms);
        while let Some(ev) = seg.poll_event() {
            match ev {
                Event::Part(p) => {
                    assert!(r.push_part(&p, None).is_none());
                }
                Event::Segment(s) => {
                    r.push_segment(s, 2 * 90_000, now_ms);
                    segments += 1;
                }
                Event::TargetDuration(td) => registry.fix_target_duration(&r, td),
                Event::PartTarget(pt) => registry.fix_part_target(&r, pt),
                _ => {}
            }
            let snap = r.peek();
            let Some(playlist) = &snap.playlist else {
                continue;
            };
            let text = std::str::from_utf8(&playlist.text).unwrap();
            let (parts, hint) = parts_and_hint(text);
            hinted.retain(|(hint, last)| {
                let at = parts.iter().position(|p| p == last).map_or(0, |i| i + 1);
                let Some(next) = parts.get(at) else {
                    return true;
                };
                assert_eq!(next, hint, "the hinted part did not come next:\n{text}");
                checked += 1;
                false
            });
            if let (Some(h), Some(last)) = (hint, parts.last()) {
                hinted.push((h, last.clone()));
            }
        }
    }
    assert!(
        segments >= 3 && checked >= 20,
        "{segments} segments, {checked} hints"
    );
}
