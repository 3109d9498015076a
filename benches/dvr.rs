//! Rendering a DVR media playlist at every part: the window of 6 LL-HLS segments with a DVR
//! prefix of N segments copied from its append-only text (`render_media_dvr`), against the
//! same N + 6 segments formatted at every rendering (a window of N + 6, `render_media_as`),
//! the baseline of the same command. Figures go to BENCHMARKS.md.
//!
//! `cargo bench --bench dvr`: N = 0, 30 (one minute of 2 s segments) and 1800 (one hour), in
//! TS and in fMP4 (a new init every 100 segments, so the prefix carries EXT-X-MAPs), best of
//! 5 × 200 renderings each, alternated. Under `cargo test` it runs a few renderings.

use hlsd::playlist::{
    Container, DvrPrefix, Mp4Part, RenderParams, Rendering, Window, render_media_as,
    render_media_dvr,
};
use hlsd::segmenter::{Part, PartBytes, PartEvent, Segment, SegmentHead};
use hlsd::ts::Ts;
use std::time::Instant;

/// The fMP4 init of segment `i`: a new one every 100 segments.
fn init_of(i: u64) -> u32 {
    (i / 100) as u32
}

fn push(w: &mut Window, i: u64) {
    let head = SegmentHead {
        start: Ts(0),
        independent: true,
        discontinuity: false,
        pdt_ms: 1_795_629_414_000 + 2000 * i as i64,
    };
    let parts: Vec<Part> = (0..8)
        .map(|k| Part {
            data: PartBytes::from(vec![0x47u8; 188]),
            start: Ts(0),
            duration: Ts::from_secs(0.25),
            independent: k == 0,
            units: None,
            configs: None,
        })
        .collect();
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
        w.attach_mp4(Mp4Part {
            data: bytes::Bytes::from_static(&[0; 188]),
            init: init_of(i),
        });
    }
    let seg = Segment {
        parts,
        start: Ts(0),
        duration: Ts::from_secs(2.0),
        independent: true,
        discontinuity: false,
        pdt_ms: head.pdt_ms,
    };
    w.push(seg, 0xab, 0);
}

fn params(dvr: bool) -> RenderParams {
    RenderParams {
        target_duration: 2,
        part_target: Some(Ts::from_secs(0.25)),
        token: 0xab,
        feed_part_target: None,
        window_segments: 6,
        dvr_window: dvr.then(|| Ts::from_secs(1e7)),
    }
}

/// Best ns per rendering of `f` over `rounds` × `n`.
fn best(rounds: usize, n: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..n {
            sink += f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    std::hint::black_box(sink);
    best
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, n) = if full { (5, 200) } else { (1, 2) };
    for (container, prefix_len) in [Container::Ts, Container::Fmp4]
        .into_iter()
        .flat_map(|c| [0u64, 30, 1800].map(|n| (c, n)))
    {
        // The DVR: a window of 6, what left it in the prefix.
        let mut w = Window::new(6);
        w.track_left();
        let mut d = DvrPrefix::new(container);
        for i in 0..prefix_len + 6 {
            push(&mut w, i);
            for s in w.take_left() {
                d.append(&s, false);
            }
        }
        // The baseline: every segment in a window, formatted at each rendering.
        let mut long = Window::new(prefix_len as usize + 6);
        for i in 0..prefix_len + 6 {
            push(&mut long, i);
        }
        let inits: Vec<u32> = (0..=init_of(prefix_len + 6)).collect();
        let how = Rendering {
            container,
            file: "media.m3u8",
            inits: &inits,
            map_hint: None,
        };
        let a = render_media_dvr(&w, Some(&d), &params(true), false, &[], &how).unwrap();
        let b = render_media_as(&long, &params(true), false, &[], &how).unwrap();
        assert_eq!(a.matches("#EXTINF").count(), b.matches("#EXTINF").count());
        assert_eq!(
            a.matches("#EXT-X-MAP").count(),
            b.matches("#EXT-X-MAP").count()
        );
        let mut dvr_ns = f64::MAX;
        let mut full_ns = f64::MAX;
        for _ in 0..3 {
            dvr_ns = dvr_ns.min(best(rounds, n, || {
                render_media_dvr(&w, Some(&d), &params(true), false, &[], &how)
                    .map_or(0, |s| s.len())
            }));
            full_ns = full_ns.min(best(rounds, n, || {
                render_media_as(&long, &params(true), false, &[], &how).map_or(0, |s| s.len())
            }));
        }
        println!(
            "{container:?} prefix {prefix_len:>5} segments ({} bytes): DVR prefix copied {:>9.0} ns, all formatted {:>9.0} ns, ratio {:.3}",
            a.len(),
            dvr_ns,
            full_ns,
            dvr_ns / full_ns
        );
    }
}
