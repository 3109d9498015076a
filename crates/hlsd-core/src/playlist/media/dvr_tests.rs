//! DVR prefixes in fMP4: EXT-X-MAP before every segment's init wherever the lines start.

use super::*;
use crate::playlist::DvrPrefix;
use crate::playlist::window::Container;
use crate::segmenter::{Part, PartBytes, PartEvent, Segment, SegmentHead};

const PDT: i64 = 1_795_629_414_123;

/// The init a segment is packaged with in these tests: a new one every 7 segments.
fn init_of(msn: u64) -> u32 {
    (msn / 7) as u32
}

/// Pushes a 2 s segment of 4 parts packaged with `init`.
fn push_mp4(w: &mut Window, disc: bool, init: u32) {
    let parts: Vec<Part> = (0..4)
        .map(|i| Part {
            data: PartBytes::from(b"x".to_vec()),
            start: Ts(0),
            duration: Ts::from_secs(0.5),
            independent: i == 0,
            units: None,
            configs: None,
        })
        .collect();
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: disc,
        pdt_ms: PDT,
    };
    for (index, p) in parts.iter().enumerate() {
        w.push_part(
            &PartEvent {
                part: p.clone(),
                index,
                head,
                ends_segment: index + 1 == parts.len(),
            },
            0xab,
        );
        w.attach_mp4(crate::playlist::Mp4Part {
            data: bytes::Bytes::from_static(b"moofmdat"),
            init,
        });
    }
    w.push(
        Segment {
            parts,
            start: Ts(0),
            duration: Ts::from_secs(2.0),
            independent: true,
            discontinuity: disc,
            pdt_ms: PDT,
        },
        0xab,
        0,
    );
}

const INITS: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 7, 8];

fn fmp4() -> Rendering<'static> {
    Rendering {
        container: Container::Fmp4,
        file: "media.m3u8",
        inits: INITS,
        map_hint: None,
    }
}

/// Each segment's URI with the EXT-X-MAP in effect for it and its discontinuity, and the
/// number of EXT-X-MAP tags, read line by line (what a player does).
fn segments(text: &str) -> (Vec<(String, Option<String>, bool)>, usize) {
    let (mut out, mut map, mut disc, mut maps) = (Vec::new(), None, false, 0);
    for l in text.lines() {
        if let Some(m) = l.strip_prefix("#EXT-X-MAP:URI=") {
            map = Some(m.trim_matches('"').to_string());
            maps += 1;
        } else if l == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if !l.starts_with('#') && !l.is_empty() {
            out.push((l.to_string(), map.clone(), disc));
            disc = false;
        }
    }
    (out, maps)
}

/// The MSN of a `seg-ab-{msn}.m4s` URI.
fn msn_of(uri: &str) -> u64 {
    let n = uri
        .strip_prefix("seg-ab-")
        .and_then(|u| u.strip_suffix(".m4s"));
    n.and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{uri}"))
}

/// Every listed segment is under its own init's EXT-X-MAP, a MAP is written only where
/// the init changes (or first), and the discontinuity is where the window put it.
fn check(text: &str, first_msn: u64) {
    let (segs, maps) = segments(text);
    let mut changes = 0;
    let mut before = None;
    for (k, (uri, map, disc)) in segs.iter().enumerate() {
        let msn = msn_of(uri);
        if k == 0 {
            assert_eq!(msn, first_msn, "{text}");
        }
        let want = format!("init-ab-{}.mp4", init_of(msn));
        assert_eq!(map.as_deref(), Some(want.as_str()), "MSN {msn}\n{text}");
        assert_eq!(*disc, msn == 22, "MSN {msn}\n{text}");
        if before != Some(init_of(msn)) {
            changes += 1;
            before = Some(init_of(msn));
        }
    }
    assert_eq!(maps, changes, "one EXT-X-MAP per init change\n{text}");
}

#[test]
fn fmp4_prefix_segments_carry_their_init_map_as_the_head_moves() {
    let mut w = Window::new(3);
    w.track_left();
    let mut d = DvrPrefix::new(Container::Fmp4);
    let p = RenderParams {
        dvr_window: Some(Ts::from_secs(60.0)),
        window_segments: 3,
        target_duration: 2,
        part_target: Some(Ts::from_secs(0.5)),
        token: 0xab,
        feed_part_target: None,
    };
    let mut heads_inside = 0;
    let mut deltas = 0;
    for msn in 1..=45u64 {
        push_mp4(&mut w, msn == 22, init_of(msn));
        for s in w.take_left() {
            d.append(&s, false);
        }
        // 20 s back: 7 prefix segments before the window's 3.
        d.trim(Ts::from_secs(20.0), w.duration());
        let full = render_media_dvr(&w, Some(&d), &p, false, &[], &fmp4()).unwrap();
        let pl = m3u8_rs::parse_media_playlist_res(full.as_bytes())
            .unwrap_or_else(|e| panic!("{e:?}\n{full}"));
        assert_eq!(pl.version, Some(6));
        let first = d.first_msn().unwrap_or(msn.saturating_sub(2).max(1));
        assert_eq!(pl.media_sequence, first);
        check(&full, first);
        if d.first_msn() == Some(22) {
            // Its MAP is written after its discontinuity, as the window wrote them.
            assert!(
                full.contains(
                    "#EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-ab-3.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"
                ),
                "{full}"
            );
        }
        // The prefix's first segment shares its init with the one trimmed before it.
        if d.first_msn()
            .is_some_and(|f| f > 1 && init_of(f) == init_of(f - 1))
        {
            heads_inside += 1;
        }
        let delta = render_media_dvr(&w, Some(&d), &p, true, &[], &fmp4()).unwrap();
        if let Some(n) = delta
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        {
            deltas += 1;
            let skipped: u64 = n.parse().unwrap();
            let tail = delta
                .split_once(&format!("SKIPPED-SEGMENTS={n}\n"))
                .unwrap()
                .1;
            check(tail, pl.media_sequence + skipped);
        }
    }
    assert_eq!(d.len(), 7);
    assert!(heads_inside > 10, "{heads_inside}");
    assert!(deltas > 10, "{deltas}");
    // The TS rendering of the same window lists no fMP4 prefix.
    let ts = render_media_dvr(&w, Some(&d), &p, false, &[], &Rendering::TS).unwrap();
    assert_eq!(segments(&ts).0.len(), 3, "{ts}");
}

#[test]
fn an_init_change_between_prefix_and_window_is_mapped_once() {
    let mut w = Window::new(2);
    w.track_left();
    let mut d = DvrPrefix::new(Container::Fmp4);
    let p = RenderParams {
        dvr_window: Some(Ts::from_secs(60.0)),
        window_segments: 2,
        target_duration: 2,
        part_target: None,
        token: 0xab,
        feed_part_target: None,
    };
    for init in [4, 4, 5, 5] {
        push_mp4(&mut w, false, init);
        for s in w.take_left() {
            d.append(&s, s.msn == 2);
        }
    }
    let text = render_media_dvr(&w, Some(&d), &p, false, &[], &fmp4()).unwrap();
    let maps: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MAP"))
        .collect();
    assert_eq!(
        maps,
        [
            "#EXT-X-MAP:URI=\"init-ab-4.mp4\"",
            "#EXT-X-MAP:URI=\"init-ab-5.mp4\""
        ],
        "{text}"
    );
    assert!(
        text.contains("#EXT-X-GAP\n#EXTINF:2.000,\nseg-ab-2.m4s\n#EXT-X-MAP:URI=\"init-ab-5.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"),
        "{text}"
    );
    // Trimming the prefix's first segment keeps the second under init 4.
    d.trim_before(2);
    let text = render_media_dvr(&w, Some(&d), &p, false, &[], &fmp4()).unwrap();
    assert!(
        text.contains("#EXT-X-MAP:URI=\"init-ab-4.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"),
        "{text}"
    );
    let (segs, maps) = segments(&text);
    assert_eq!(segs.len(), 3);
    assert_eq!(maps, 2, "{text}");
}
