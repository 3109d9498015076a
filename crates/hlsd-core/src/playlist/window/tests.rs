use super::*;
use crate::segmenter::{Part, PartBytes, SegmentHead};

fn part(secs: f64, independent: bool) -> Part {
    Part {
        data: PartBytes::from(vec![0u8; 100]),
        start: Ts(0),
        duration: Ts::from_secs(secs),
        independent,
        units: None,
        configs: None,
    }
}

/// Pushes a segment of `n` parts the way the segmenter announces it.
fn push(w: &mut Window, secs: f64, n: usize, disc: bool, pdt_ms: i64, token: u64, now: i64) -> u64 {
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: disc,
        pdt_ms,
    };
    let parts: Vec<Part> = (0..n).map(|i| part(secs / n as f64, i == 0)).collect();
    for (index, p) in parts.iter().enumerate() {
        w.push_part(
            &PartEvent {
                part: p.clone(),
                index,
                head,
                ends_segment: index + 1 == n,
            },
            token,
        );
    }
    let seg = Segment {
        parts,
        start: Ts(0),
        duration: Ts::from_secs(secs),
        independent: true,
        discontinuity: disc,
        pdt_ms,
    };
    w.push(seg, token, now)
}

#[test]
fn window_rolls_and_retains() {
    let mut w = Window::new(3);
    for i in 0..5 {
        push(&mut w, 2.0, 1, i == 1, 0, 7, i * 2000);
    }
    let listed: Vec<u64> = w.listed().map(|s| s.msn).collect();
    assert_eq!(listed, vec![3, 4, 5]);
    assert_eq!(w.media_sequence(), 3);
    // Segment 2 carried the discontinuity and has left.
    assert_eq!(w.discontinuity_sequence(), 1);
    // Segment 2 left at t=8000, when the playlist (counting the segment that pushed it
    // out) held 8 s: fetchable until 8000 + 2000 + 8000.
    assert!(w.find(7, 2).is_some());
    w.prune(17_999);
    assert!(w.find(7, 2).is_some());
    w.prune(18_000);
    assert!(w.find(7, 2).is_none());
    assert!(w.find(8, 3).is_none(), "another session's token");
}

#[test]
fn minimum_retention_for_parts() {
    let mut w = Window::new(3);
    w.set_min_retention(60_000);
    for i in 0..4 {
        push(&mut w, 1.0, 4, false, 0, 7, i * 1000);
    }
    w.prune(59_000);
    assert!(w.find(7, 1).is_some());
    w.prune(63_000);
    assert!(w.find(7, 1).is_none());
}

#[test]
fn parts_build_up_then_become_a_segment() {
    let mut w = Window::new(3);
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: false,
        pdt_ms: 5,
    };
    w.push_part(
        &PartEvent {
            part: part(0.25, true),
            index: 0,
            head,
            ends_segment: false,
        },
        9,
    );
    w.push_part(
        &PartEvent {
            part: part(0.25, false),
            index: 1,
            head,
            ends_segment: false,
        },
        9,
    );
    let b = w.building().expect("building");
    assert_eq!((b.msn, b.parts.len()), (1, 2));
    assert_eq!(w.next_msn(), 1);
    let seg = Segment {
        parts: vec![part(0.25, true), part(0.25, false)],
        start: Ts(0),
        duration: Ts::from_secs(0.5),
        independent: true,
        discontinuity: false,
        pdt_ms: 5,
    };
    assert_eq!(w.push(seg, 9, 0), 1);
    assert!(w.building().is_none());
    assert_eq!(w.next_msn(), 2);
    assert_eq!(w.find(9, 1).map(|s| s.parts.len()), Some(2));
}

#[test]
fn pdt_never_goes_back() {
    let mut w = Window::new(5);
    push(&mut w, 2.0, 1, false, 10_000, 1, 0);
    push(&mut w, 2.0, 1, false, 11_000, 1, 0);
    let pdts: Vec<i64> = w.listed().map(|s| s.pdt_ms).collect();
    assert_eq!(pdts, vec![10_000, 12_000]);
}

#[test]
fn restart_continues_numbering() {
    let mut w = Window::new(3);
    push(&mut w, 2.0, 1, false, 0, 1, 0);
    push(&mut w, 2.0, 1, false, 0, 1, 0);
    w.end();
    w.restart(5000);
    assert!(!w.is_ended());
    assert_eq!(w.media_sequence(), 3);
    assert_eq!(push(&mut w, 2.0, 1, false, 0, 2, 5000), 3);
    assert!(
        w.find(1, 2).is_some(),
        "old session still fetchable for a while"
    );
}

#[test]
fn uris_round_trip() {
    assert_eq!(
        parse_media_uri(&segment_uri(0xabc123, 42)),
        Some(MediaUri::Segment {
            token: 0xabc123,
            msn: 42,
            container: Container::Ts,
        })
    );
    assert_eq!(
        parse_media_uri(&part_uri(0xabc, 42, 3)),
        Some(MediaUri::Part {
            token: 0xabc,
            msn: 42,
            index: 3,
            container: Container::Ts,
        })
    );
    assert_eq!(
        parse_media_uri(&part_uri_in(Container::Fmp4, 0xabc, 42, 3)),
        Some(MediaUri::Part {
            token: 0xabc,
            msn: 42,
            index: 3,
            container: Container::Fmp4,
        })
    );
    assert_eq!(
        parse_media_uri("seg-abc-7.m4s"),
        Some(MediaUri::Segment {
            token: 0xabc,
            msn: 7,
            container: Container::Fmp4,
        })
    );
    assert_eq!(
        parse_media_uri(&init_uri(0xabc, 2)),
        Some(MediaUri::Init {
            token: 0xabc,
            number: 2
        })
    );
    assert_eq!(parse_media_uri("init-abc-x.mp4"), None);
    assert_eq!(parse_media_uri("seg-1-2.mp4"), None);
    assert_eq!(parse_media_uri("seg-zz-1.ts"), None);
    assert_eq!(parse_media_uri("seg-1-.ts"), None);
    assert_eq!(parse_media_uri("part-1-2.ts"), None);
}

#[test]
fn a_joining_rendition_takes_its_siblings_msn_and_pdt() {
    let mut w = Window::new(5);
    w.align_next(7, 50_000);
    push(&mut w, 1.0, 2, false, 49_980, 1, 0);
    push(&mut w, 1.0, 2, false, 50_980, 1, 0);
    let got: Vec<(u64, i64)> = w.listed().map(|s| (s.msn, s.pdt_ms)).collect();
    assert_eq!(
        got,
        vec![(7, 50_000), (8, 51_000)],
        "PDT follows the sibling's clock"
    );
    // Never backwards, never once segments are listed.
    w.align_next(20, 0);
    assert_eq!(push(&mut w, 1.0, 2, false, 51_980, 1, 0), 9);
    let mut fresh = Window::new(5);
    push(&mut fresh, 1.0, 1, false, 0, 1, 0);
    fresh.end();
    fresh.restart(0);
    fresh.align_next(1, 0);
    assert_eq!(
        push(&mut fresh, 1.0, 1, false, 0, 2, 0),
        2,
        "MSNs only grow"
    );
}

/// The bytes counted as segments come and go are the bytes held.
fn counted_bytes_match(w: &Window) {
    let building: usize = w
        .building()
        .iter()
        .flat_map(|b| &b.parts)
        .map(|p| p.data.len())
        .sum();
    let held: usize = w.fetchable().map(StoredSegment::len).sum::<usize>() + building;
    assert_eq!(w.bytes(), held);
    assert_eq!(
        w.listed_bytes(),
        w.listed().map(StoredSegment::len).sum::<usize>()
    );
}

#[test]
fn a_publisher_faster_than_real_time_keeps_at_most_twice_the_window_retired() {
    let mut w = Window::new(4);
    // 2 s segments of 100 bytes, all pushed within the same second: the time rule alone
    // would keep every one.
    for i in 0..40 {
        push(&mut w, 2.0, 1, false, 0, 7, 1000 + i);
        counted_bytes_match(&w);
        assert!(w.bytes() <= 3 * w.listed_bytes(), "{} bytes", w.bytes());
    }
    assert_eq!(w.listed_bytes(), 400);
    assert_eq!(w.bytes(), 1200);
    // 40 segments: 4 listed, 8 retired, the 28 oldest dropped by the cap.
    assert_eq!(w.capped(), (28, 2800));
    let oldest = w.fetchable().next().map(|s| s.msn);
    assert_eq!(oldest, Some(29));
    // The listed ones are all there.
    assert!((37..=40).all(|msn| w.find(7, msn).is_some()));
}

#[test]
fn a_publisher_in_real_time_is_never_capped() {
    for window in [3, 6] {
        let mut w = Window::new(window);
        w.set_min_retention(3 * 2000);
        for i in 0..100 {
            push(&mut w, 2.0, 3, i % 7 == 3, 0, 7, i * 2000);
            counted_bytes_match(&w);
        }
        assert_eq!(w.capped(), (0, 0), "window {window}");
    }
}

#[test]
fn a_new_session_keeps_the_old_segments_by_their_time() {
    let mut w = Window::new(3);
    for i in 0..5 {
        push(&mut w, 2.0, 1, false, 0, 7, i * 2000);
    }
    w.end();
    w.restart(10_000);
    counted_bytes_match(&w);
    push(&mut w, 2.0, 1, false, 0, 8, 12_000);
    counted_bytes_match(&w);
    // Old segments 3–5 and retired 2 (until 18 s) are still fetchable.
    assert!((2..=5).all(|msn| w.find(7, msn).is_some()));
    assert_eq!(w.capped(), (0, 0));
}

#[test]
fn numbering_from_a_given_start_grows_from_there() {
    let first = 1_764_921_600_000;
    let mut w = Window::numbered_from(3, first, first);
    assert_eq!(w.media_sequence(), first);
    assert_eq!(w.discontinuity_sequence(), first);
    for i in 0..5 {
        let msn = push(&mut w, 2.0, 1, i == 1, 0, 7, i * 2000);
        assert_eq!(msn, first + i as u64);
    }
    assert_eq!(w.media_sequence(), first + 2);
    // Segment first + 1 carried a discontinuity and has left the playlist.
    assert_eq!(w.discontinuity_sequence(), first + 1);
    assert!(w.find(7, first + 1).is_some());
    // A new session keeps numbering.
    w.end();
    w.restart(10_000);
    assert_eq!(push(&mut w, 2.0, 1, false, 0, 8, 12_000), first + 5);
}

#[test]
fn numbering_never_starts_at_zero() {
    let mut w = Window::numbered_from(3, 0, 0);
    assert_eq!(push(&mut w, 2.0, 1, false, 0, 7, 0), 1);
}
