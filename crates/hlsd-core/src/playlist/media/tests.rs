use super::*;
use crate::playlist::window::Container;
use crate::segmenter::{Part, PartBytes, PartEvent, Segment, SegmentHead};

const PDT: i64 = 1_795_629_414_123;

fn part(secs: f64, independent: bool) -> Part {
    Part {
        data: PartBytes::from(b"x".to_vec()),
        start: Ts(0),
        duration: Ts::from_secs(secs),
        independent,
        units: None,
        configs: None,
    }
}

fn push_parts(w: &mut Window, parts: &[Part], disc: bool, independent: bool, token: u64) {
    let head = SegmentHead {
        start: Ts(0),
        independent,
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
            token,
        );
    }
}

fn push(w: &mut Window, secs: f64, nparts: usize, disc: bool, independent: bool, token: u64) {
    let parts: Vec<Part> = (0..nparts)
        .map(|i| part(secs / nparts as f64, i == 0 && independent))
        .collect();
    push_parts(w, &parts, disc, independent, token);
    let seg = Segment {
        parts,
        start: Ts(0),
        duration: Ts::from_secs(secs),
        independent,
        discontinuity: disc,
        pdt_ms: PDT,
    };
    w.push(seg, token, 0);
}

fn plain(td: u32) -> RenderParams {
    RenderParams {
        target_duration: td,
        part_target: None,
        token: 0xab,
        feed_part_target: None,
        window_segments: 1000,
        dvr_window: None,
    }
}

#[test]
fn renders_plain_hls_and_parses() {
    let mut w = Window::new(3);
    push(&mut w, 2.0, 1, false, true, 0xab);
    push(&mut w, 2.002, 1, false, true, 0xab);
    w.mark_discontinuity();
    push(&mut w, 1.5, 1, false, true, 0xab);
    w.end();
    let text = render_media(&w, &plain(2), false, &[]);
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:54.123Z\n#EXTINF:2.000,\nseg-ab-1.ts\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:56.123Z\n#EXTINF:2.002,\nseg-ab-2.ts\n\
         #EXT-X-DISCONTINUITY\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:58.125Z\n#EXTINF:1.500,\nseg-ab-3.ts\n\
         #EXT-X-ENDLIST\n"
    );
    let Ok((_, m3u8_rs::Playlist::MediaPlaylist(p))) = m3u8_rs::parse_playlist(text.as_bytes())
    else {
        panic!("not a media playlist")
    };
    assert_eq!(p.target_duration, 2);
    assert_eq!(p.media_sequence, 1);
    assert!(p.end_list);
    assert_eq!(p.segments.len(), 3);
    assert!(p.segments[2].discontinuity);
    assert!(p.segments.iter().all(|s| s.program_date_time.is_some()));
}

#[test]
fn no_independent_claim_while_a_segment_is_not() {
    let mut w = Window::new(2);
    push(&mut w, 2.0, 1, false, true, 1);
    push(&mut w, 2.0, 1, false, false, 1);
    assert!(!render_media(&w, &plain(2), false, &[]).contains("INDEPENDENT"));
    push(&mut w, 2.0, 1, false, true, 1);
    push(&mut w, 2.0, 1, false, true, 1);
    assert!(render_media(&w, &plain(2), false, &[]).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
}

/// LL-HLS with the default configuration's window (6 segments of TD).
fn ll(td: u32) -> RenderParams {
    RenderParams {
        target_duration: td,
        part_target: Some(Ts::from_secs(0.255)),
        token: 0xab,
        feed_part_target: None,
        window_segments: 6,
        dvr_window: None,
    }
}

#[test]
fn ll_hls_lists_recent_parts_building_parts_and_a_hint() {
    let mut w = Window::new(6);
    for _ in 0..4 {
        push(&mut w, 2.0, 8, false, true, 0xab);
    }
    push_parts(
        &mut w,
        &[part(0.24, true), part(0.24, false)],
        false,
        true,
        0xab,
    );
    let text = render_media(&w, &ll(2), false, &[]);
    assert!(
        text.contains(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.765,HOLD-BACK=6.0\n"
        ),
        "{text}"
    );
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.25500\n"));
    // 8.48 s listed; parts for segments ending after 2.48 s: segments 2, 3, 4 and the building one.
    assert!(!text.contains("part-ab-1."));
    assert!(text.contains("#EXT-X-PART:DURATION=0.25000,URI=\"part-ab-2.0.ts\",INDEPENDENT=YES\n"));
    assert!(text.contains("#EXT-X-PART:DURATION=0.25000,URI=\"part-ab-4.7.ts\"\n"));
    assert!(text.contains("#EXT-X-PART:DURATION=0.24000,URI=\"part-ab-5.1.ts\"\n"));
    assert!(
        text.ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-ab-5.2.ts\"\n"),
        "{text}"
    );
    let p = m3u8_parser::m3u8::playlist::Playlist::from_reader(text.as_bytes())
        .expect("m3u8-parser reads it");
    if let Err(e) = p.validate() {
        panic!("invalid LL-HLS playlist: {e:?}\n{text}");
    }
}

#[test]
fn hint_points_at_next_segment_between_segments_and_never_with_endlist() {
    let mut w = Window::new(6);
    push(&mut w, 2.0, 8, false, true, 0xab);
    let text = render_media(&w, &ll(2), false, &[]);
    assert!(
        text.ends_with("seg-ab-1.ts\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-ab-2.0.ts\"\n"),
        "{text}"
    );
    w.end();
    let text = render_media(&w, &ll(2), false, &[]);
    assert!(!text.contains("PRELOAD-HINT"));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
}

#[test]
fn delta_update_skips_old_segments() {
    let mut w = Window::new(10);
    for _ in 0..10 {
        push(&mut w, 2.0, 8, false, true, 0xab);
    }
    let p = RenderParams {
        window_segments: 10,
        dvr_window: None,
        ..ll(2)
    };
    assert_eq!(p.skip_until(), Some(Ts::from_secs(12.0)));
    let full = render_media(&w, &p, false, &[]);
    assert!(full.contains("CAN-SKIP-UNTIL=12.0"));
    assert!(full.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"));
    let delta = render_media(&w, &p, true, &[]);
    // 20 s listed, skip boundary 12 s from the end: the first 4 segments (8 s) are skipped.
    assert!(delta.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n"), "{delta}");
    assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"));
    assert!(!delta.contains("seg-ab-4.ts"));
    assert!(delta.contains("seg-ab-5.ts"));
    assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
    // A window configured for fewer than 7 segments advertises no skipping, however long
    // it is now, and a delta request gets the full playlist.
    let short = RenderParams {
        window_segments: 6,
        dvr_window: None,
        ..p
    };
    assert_eq!(short.skip_until(), None);
    assert!(!render_media(&w, &short, false, &[]).contains("CAN-SKIP-UNTIL"));
    assert_eq!(
        render_media(&w, &short, true, &[]),
        render_media(&w, &short, false, &[])
    );
    // A long configured window advertises it from the first segment on, while nothing can
    // be skipped yet: SERVER-CONTROL never changes during a feed's life.
    let mut young = Window::new(10);
    push(&mut young, 2.0, 8, false, true, 0xab);
    assert!(render_media(&young, &p, false, &[]).contains("CAN-SKIP-UNTIL=12.0"));
    assert!(!render_media(&young, &p, true, &[]).contains("EXT-X-SKIP"));
}

#[test]
fn rendition_reports_for_siblings() {
    let mut w = Window::new(6);
    push(&mut w, 2.0, 8, false, true, 0xab);
    assert_eq!(last_position(&w), Some((1, 7)));
    push_parts(&mut w, &[part(0.24, true)], false, true, 0xab);
    assert_eq!(last_position(&w), Some((2, 0)));
    let reports = [RenditionReport {
        name: "480p".into(),
        last_msn: 2,
        last_part: 3,
    }];
    let text = render_media(&w, &ll(2), false, &reports);
    assert!(
        text.ends_with(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-ab-2.1.ts\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"../480p/media.m3u8\",LAST-MSN=2,LAST-PART=3\n"
        ),
        "{text}"
    );
    let p = m3u8_parser::m3u8::playlist::Playlist::from_reader(text.as_bytes()).expect("parses");
    if let Err(e) = p.validate() {
        panic!("invalid: {e:?}");
    }
}

#[test]
fn delta_keeps_the_parts_of_recent_segments_and_is_ignored_after_the_end() {
    let mut w = Window::new(12);
    for _ in 0..12 {
        push(&mut w, 1.0, 4, false, true, 0xab);
    }
    let p = RenderParams {
        target_duration: 1,
        part_target: Some(Ts::from_secs(0.255)),
        token: 0xab,
        feed_part_target: None,
        window_segments: 12,
        dvr_window: None,
    };
    let full = render_media(&w, &p, false, &[]);
    let delta = render_media(&w, &p, true, &[]);
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n"),
        "{delta}"
    );
    let parts = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("#EXT-X-PART:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(parts(&delta), parts(&full));
    assert!(!parts(&full).is_empty());
    w.end();
    assert_eq!(
        render_media(&w, &p, true, &[]),
        render_media(&w, &p, false, &[])
    );
}

#[test]
fn decimals_from_ticks() {
    let d = |t: i64, places| {
        let mut s = String::new();
        write_decimal(&mut s, Ts(t), places);
        s
    };
    assert_eq!(d(180_180, 3), "2.002");
    assert_eq!(d(180_000, 3), "2.000");
    assert_eq!(d(22_522, 5), "0.25024");
    assert_eq!(d(25_207, 5), "0.28008");
    assert_eq!(d(1, 3), "0.000");
    assert_eq!(d(45, 3), "0.001", "half a millisecond rounds up");
    assert_eq!(d(900_000_000, 3), "10000.000");
}

/// PART-HOLD-BACK is never below three times the printed PART-TARGET: 0.26693 (8 frames at
/// 29.97 fps, 24024 ticks) gives 0.801, and 0.26676 would too, where three times the target
/// printed with three decimals could give 0.800.
#[test]
fn part_hold_back_is_at_least_three_printed_part_targets() {
    assert_eq!(part_hold_back_millis(Ts(24024)), (0, 801));
    assert_eq!(part_hold_back_millis(Ts::from_secs(0.255)), (0, 765));
    assert_eq!(part_hold_back_millis(Ts::from_secs(1.0)), (3, 0));
    // 0.22667 printed: 0.68001 needs 0.681.
    assert_eq!(part_hold_back_millis(Ts(20400)), (0, 681));
    for ticks in 900..200_000 {
        let pt = Ts(ticks);
        let printed: f64 = format!("{:.5}", pt.secs()).parse().unwrap();
        let (w, m) = part_hold_back_millis(pt);
        let phb: f64 = format!("{w}.{m:03}").parse().unwrap();
        assert!(
            phb >= 3.0 * printed - 1e-9,
            "{ticks}: {phb} < 3 × {printed}"
        );
        assert!(
            phb < 3.0 * printed + 0.001,
            "{ticks}: {phb} not the smallest"
        );
    }
}

/// With LL-HLS, EXT-X-INDEPENDENT-SEGMENTS is left out while a listed part does not start
/// with a keyframe (video.js would start on it), and kept when every listed part does
/// (audio-only feeds) or once the dependent parts have left the part-listing range.
#[test]
fn ll_playlists_listing_dependent_parts_do_not_claim_independent_segments() {
    let mut video = Window::new(6);
    for _ in 0..3 {
        push(&mut video, 2.0, 8, false, true, 0xab);
    }
    let text = render_media(&video, &ll(2), false, &[]);
    assert!(text.contains("INDEPENDENT=YES"), "{text}");
    assert!(!text.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{text}");
    // The same window without LL-HLS lists no parts and claims it.
    assert!(render_media(&video, &plain(2), false, &[]).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));

    let mut audio = Window::new(6);
    for _ in 0..3 {
        let parts: Vec<Part> = (0..8).map(|_| part(0.25, true)).collect();
        push_parts(&mut audio, &parts, false, true, 0xab);
        audio.push(
            Segment {
                parts,
                start: Ts(0),
                duration: Ts::from_secs(2.0),
                independent: true,
                discontinuity: false,
                pdt_ms: PDT,
            },
            0xab,
            0,
        );
    }
    // A building segment whose only part is independent keeps the claim; a dependent one
    // drops it.
    push_parts(&mut audio, &[part(0.25, true)], false, true, 0xab);
    assert!(render_media(&audio, &ll(2), false, &[]).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    push_parts(
        &mut audio,
        &[part(0.25, true), part(0.25, false)],
        false,
        true,
        0xab,
    );
    assert!(!render_media(&audio, &ll(2), false, &[]).contains("#EXT-X-INDEPENDENT-SEGMENTS"));
}

/// CAN-SKIP-UNTIL = 6 × TD exactly when the configured window holds 7 segments or more,
/// whatever the segment duration: `window = 12` with 1 s segments cut at a 2 s GOP (TD 2,
/// 24 s listed) offers delta updates, `window = 6` does not.
#[test]
fn skip_until_follows_the_window_length_in_segments() {
    for (window, td, want) in [
        (12, 2, Some(12.0)),
        (7, 2, Some(12.0)),
        (6, 2, None),
        (7, 4, Some(24.0)),
    ] {
        let p = RenderParams {
            window_segments: window,
            dvr_window: None,
            ..ll(td)
        };
        assert_eq!(
            p.skip_until().map(Ts::secs),
            want,
            "window {window} TD {td}"
        );
    }
    let plain = RenderParams {
        window_segments: 12,
        dvr_window: None,
        ..plain(2)
    };
    assert_eq!(plain.skip_until(), None, "no LL-HLS, no delta updates");
}

/// Pushes a segment whose parts are packaged with `init` (None: not packaged).
fn push_mp4(w: &mut Window, nparts: usize, disc: bool, init: Option<u32>, token: u64) {
    let parts: Vec<Part> = (0..nparts)
        .map(|i| part(0.5 / nparts as f64 * 4.0, i == 0))
        .collect();
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: disc,
        pdt_ms: PDT,
    };
    for (index, p) in parts.iter().enumerate() {
        let ev = PartEvent {
            part: p.clone(),
            index,
            head,
            ends_segment: index + 1 == nparts,
        };
        w.push_part(&ev, token);
        if let Some(n) = init {
            w.attach_mp4(crate::playlist::Mp4Part {
                data: bytes::Bytes::from_static(b"moofmdat"),
                init: n,
            });
        }
    }
    let seg = Segment {
        parts,
        start: Ts(0),
        duration: Ts::from_secs(2.0),
        independent: true,
        discontinuity: disc,
        pdt_ms: PDT,
    };
    w.push(seg, token, 0);
}

#[test]
fn fmp4_rendering_lists_the_packaged_tail_with_maps() {
    let mut w = Window::new(5);
    push_mp4(&mut w, 4, false, None, 0xab);
    push_mp4(&mut w, 4, true, None, 0xab);
    let before = w.bytes();
    push_mp4(&mut w, 4, false, Some(0), 0xab);
    assert_eq!(w.bytes() - before, 4 * (1 + 8), "fMP4 bytes are counted");
    push_mp4(&mut w, 4, false, Some(0), 0xab);
    push_mp4(&mut w, 4, false, Some(1), 0xab);
    let p = RenderParams {
        part_target: Some(Ts::from_secs(0.5)),
        ..plain(2)
    };
    let reports = [RenditionReport {
        name: "lo".into(),
        last_msn: 5,
        last_part: 3,
    }];
    let how = |inits| Rendering {
        container: Container::Fmp4,
        file: "media.fmp4.m3u8",
        inits,
        map_hint: None,
    };
    assert_eq!(render_media_as(&w, &p, false, &reports, &how(&[])), None);
    // Init 1 does not exist yet: segment 5 waits, and so the tail is empty.
    assert_eq!(render_media_as(&w, &p, false, &reports, &how(&[0])), None);
    let text = render_media_as(&w, &p, false, &reports, &how(&[0, 1])).unwrap();
    let ts = render_media(&w, &p, false, &reports);
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{text}");
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{text}"
    );
    let maps: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MAP"))
        .collect();
    assert_eq!(
        maps,
        [
            "#EXT-X-MAP:URI=\"init-ab-0.mp4\"",
            "#EXT-X-MAP:URI=\"init-ab-1.mp4\""
        ]
    );
    assert!(
        text.contains("\nseg-ab-3.m4s\n") && !text.contains(".ts"),
        "{text}"
    );
    assert!(text.contains("URI=\"part-ab-5.3.m4s\""), "{text}");
    assert!(
        text.contains("PRELOAD-HINT:TYPE=PART,URI=\"part-ab-6.0.m4s\""),
        "{text}"
    );
    assert!(
        text.contains("RENDITION-REPORT:URI=\"../lo/media.fmp4.m3u8\""),
        "{text}"
    );
    assert!(
        ts.contains("RENDITION-REPORT:URI=\"../lo/media.m3u8\""),
        "{ts}"
    );
    // The same segments as the TS rendering's tail: durations, PDTs, parts.
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .skip_while(|l| !l.starts_with("#EXT-X-PROGRAM-DATE-TIME"))
            .filter(|l| !l.starts_with("#EXT-X-MAP") && !l.starts_with("#EXT-X-RENDITION"))
            .map(|l| l.replace(".m4s", ".ts"))
            .collect()
    };
    let ts_lines = strip(&ts);
    let fmp4_lines = strip(&text);
    assert!(ts_lines.ends_with(&fmp4_lines), "{ts}\n{text}");
    let parsed = m3u8_parser::m3u8::playlist::Playlist::from_reader(text.as_bytes())
        .expect("m3u8-parser reads it");
    if let Err(e) = parsed.validate() {
        panic!("invalid LL-HLS playlist: {e:?}\n{text}");
    }
}

#[test]
fn a_new_init_for_the_hinted_part_is_hinted_as_a_map() {
    let mut w = Window::new(5);
    push_mp4(&mut w, 4, false, Some(0), 0xab);
    push_mp4(&mut w, 4, false, Some(0), 0xab);
    let p = RenderParams {
        part_target: Some(Ts::from_secs(0.5)),
        ..plain(2)
    };
    let how = |container, inits, map_hint| Rendering {
        container,
        file: "media.fmp4.m3u8",
        inits,
        map_hint,
    };
    let hints = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
            .map(String::from)
            .collect()
    };
    // The next segment's first part needs init 1, not made yet: both are hinted, and the
    // playlist is valid LL-HLS.
    let text = render_media_as(&w, &p, false, &[], &how(Container::Fmp4, &[0], Some(1))).unwrap();
    assert_eq!(
        hints(&text),
        [
            "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"init-ab-1.mp4\"",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-ab-3.0.m4s\""
        ],
        "{text}"
    );
    let parsed = m3u8_parser::m3u8::playlist::Playlist::from_reader(text.as_bytes())
        .expect("m3u8-parser reads it");
    if let Err(e) = parsed.validate() {
        panic!("invalid LL-HLS playlist: {e:?}\n{text}");
    }
    // Not in TS, nor once the init exists.
    let ts = render_media_as(&w, &p, false, &[], &how(Container::Ts, &[0], Some(1))).unwrap();
    assert_eq!(hints(&ts).len(), 1, "{ts}");
    let made =
        render_media_as(&w, &p, false, &[], &how(Container::Fmp4, &[0, 1], Some(1))).unwrap();
    assert_eq!(hints(&made).len(), 1, "{made}");
    // Nor when the hinted part is not a segment's first.
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: false,
        pdt_ms: PDT,
    };
    w.push_part(
        &PartEvent {
            part: part(0.5, true),
            index: 0,
            head,
            ends_segment: false,
        },
        0xab,
    );
    w.attach_mp4(crate::playlist::Mp4Part {
        data: bytes::Bytes::from_static(b"moofmdat"),
        init: 0,
    });
    let mid = render_media_as(&w, &p, false, &[], &how(Container::Fmp4, &[0], Some(1))).unwrap();
    assert_eq!(
        hints(&mid),
        ["#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-ab-3.1.m4s\""],
        "{mid}"
    );
    // With ENDLIST, no hint at all.
    w.end();
    let ended = render_media_as(&w, &p, false, &[], &how(Container::Fmp4, &[0], Some(1))).unwrap();
    assert!(hints(&ended).is_empty(), "{ended}");
}

/// A window of 3 with a DVR prefix of what left it, reaching 60 s back.
fn dvr_params() -> RenderParams {
    RenderParams {
        dvr_window: Some(Ts::from_secs(60.0)),
        window_segments: 3,
        ..ll(2)
    }
}

fn push_dvr(w: &mut Window, d: &mut crate::playlist::DvrPrefix, disc: bool, gap_msn: u64) {
    push(w, 2.0, 8, disc, true, 0xab);
    for s in w.take_left() {
        d.append(&s, s.msn == gap_msn);
    }
    d.trim(Ts::from_secs(60.0), w.duration());
}

#[test]
fn a_dvr_prefix_reaches_back_keeps_uris_and_skips_in_delta_updates() {
    let mut w = Window::new(3);
    w.track_left();
    let mut d = crate::playlist::DvrPrefix::new(Container::Ts);
    let p = dvr_params();
    let mut seen: std::collections::HashMap<u64, (String, bool)> = Default::default();
    for i in 1..=40u64 {
        push_dvr(&mut w, &mut d, i == 25, 28);
        let text = render_media_dvr(&w, Some(&d), &p, false, &[], &Rendering::TS).unwrap();
        let pl = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        // A listed MSN keeps its URI and its discontinuity across reloads.
        let mut disc_seq = pl.discontinuity_sequence;
        for (k, s) in pl.segments.iter().enumerate() {
            let msn = pl.media_sequence + k as u64;
            if s.discontinuity {
                disc_seq += 1;
            }
            let before = seen.insert(msn, (s.uri.clone(), s.discontinuity));
            if let Some(b) = before {
                assert_eq!(b, (s.uri.clone(), s.discontinuity), "MSN {msn}");
            }
            assert_eq!(msn == 25, s.discontinuity, "MSN {msn}");
            if msn >= 25 {
                assert_eq!(disc_seq, 1, "MSN {msn}");
            } else {
                assert_eq!(disc_seq, 0, "MSN {msn}");
            }
        }
        let total: f32 = pl.segments.iter().map(|s| s.duration).sum();
        assert!(total <= 60.001, "{total}");
    }
    // 60 s of 2 s segments: 27 before the window's 3.
    assert_eq!(d.len(), 27);
    let full = render_media_dvr(&w, Some(&d), &p, false, &[], &Rendering::TS).unwrap();
    assert!(full.contains("CAN-SKIP-UNTIL=12.0"), "{full}");
    assert!(
        full.contains("#EXT-X-GAP\n#EXTINF:2.000,\nseg-ab-28.ts\n"),
        "{full}"
    );
    let f = m3u8_rs::parse_media_playlist_res(full.as_bytes()).unwrap();
    assert_eq!(f.media_sequence, 11);
    assert_eq!(f.segments.len(), 30);
    let delta = render_media_dvr(&w, Some(&d), &p, true, &[], &Rendering::TS).unwrap();
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(delta.contains("#EXT-X-VERSION:9\n"));
    let tail = delta.split_once("#EXT-X-SKIP").unwrap().1;
    let remaining = tail.matches("#EXTINF").count();
    assert_eq!(skipped + remaining, f.segments.len());
    // The last 6 × TD (12 s) stay: the segments ending after the boundary.
    assert_eq!(remaining, 6);
    // Without LL-HLS a DVR playlist still offers delta updates.
    let plain_dvr = RenderParams {
        part_target: None,
        ..p
    };
    let t = render_media_dvr(&w, Some(&d), &plain_dvr, false, &[], &Rendering::TS).unwrap();
    assert!(
        t.contains("#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=12.0\n"),
        "{t}"
    );
    // A prefix that does not end right before the window is not listed.
    let mut stale = crate::playlist::DvrPrefix::new(Container::Ts);
    stale.append(&w.listed().next().unwrap().into(), false);
    let t = render_media_dvr(&w, Some(&stale), &p, false, &[], &Rendering::TS).unwrap();
    let pl = m3u8_rs::parse_media_playlist_res(t.as_bytes()).unwrap();
    assert_eq!(pl.segments.len(), 3);
}
