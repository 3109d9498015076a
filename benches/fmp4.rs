//! fMP4 packaging: its cost on the ingest path against TS alone and ffmpeg, and the two
//! mdat layouts compared (one copy per part vs referenced pieces of the access units).
//!
//! `cargo bench --bench fmp4`: on the segmenter bench's clip (60 s, 720p, ~8 Mbit/s, 64 KB
//! chunks, LL-HLS on with 0.25 s parts, best of 5, one core) times
//! - the segmenter alone, access units off (TS only) and on,
//! - the segmenter with every part packaged, one copy per part and pieces,
//! - packaging alone over the parts made once, both ways,
//! - serving: every part written 20 times to /dev/null, one `write` per part for the copy,
//!   `writev` of at most 16 buffers per call for the pieces (what hyper's vectored write
//!   queue does, `MAX_BUF_LIST_BUFFERS`),
//! - `ffmpeg -c copy -f hls -hls_segment_type fmp4` over the same file (best of 3),
//!
//! and prints MB/s, the pieces per part and the write calls. Under `cargo test` it runs a
//! smoke version on a synthetic stream, without ffmpeg.

#[path = "common/clip.rs"]
mod clip;

use clip::best;

use hlsd::fmp4::Packager;
use hlsd::segmenter::{Event, Part, Segmenter, SegmenterConfig, Track};
use std::io::{IoSlice, Write};
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// TS only (access units off).
    Ts,
    /// Access units on, no packaging.
    Units,
    /// Access units on, the parts kept (not timed).
    Keep,
    Copy,
    Pieces,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !full {
        let data = hlsd::synth::Synth::default().build(500);
        let (_, parts, tracks) = run(&data, Mode::Keep);
        let (a, b) = (
            package(&parts, &tracks, false),
            package(&parts, &tracks, true),
        );
        assert_eq!(a.1, b.1, "the same bytes both ways");
        println!("fmp4 smoke: {} parts, {} bytes", parts.len(), a.1);
        return;
    }
    let clip = clip::clip();
    let data = std::fs::read(&clip).expect("read clip");
    let mb = data.len() as f64 / 1e6;
    let (_, parts, tracks) = run(&data, Mode::Keep);
    println!(
        "input: {} ({mb:.1} MB, {} parts)",
        clip.display(),
        parts.len()
    );
    for (name, mode) in [
        ("TS only (access units off)", Mode::Ts),
        ("access units on", Mode::Units),
        ("fMP4, one copy per part", Mode::Copy),
        ("fMP4, pieces", Mode::Pieces),
    ] {
        let t = best(&|| run(&data, mode).0, 5);
        println!("segmenter, {name}: {:.1} MB/s ({:.1} ms)", mb / t, t * 1e3);
    }
    for (name, pieces) in [("one copy per part", false), ("pieces", true)] {
        let t = best(&|| package(&parts, &tracks, pieces).0, 5);
        println!(
            "packaging alone, {name}: {:.1} MB/s ({:.2} ms)",
            mb / t,
            t * 1e3
        );
    }
    // Serving: the fragments of every part, written 20 times.
    let mut p = Packager::new(&tracks, origin(&parts));
    let copies: Vec<bytes::Bytes> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| p.fragment(part, i as u32).expect("fragment").data)
        .collect();
    let mut p = Packager::new(&tracks, origin(&parts));
    let pieces: Vec<hlsd::segmenter::PartBytes> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| p.fragment_pieces(part, i as u32).expect("fragment").data)
        .collect();
    let n_pieces: usize = pieces.iter().map(|p| p.pieces().len()).sum();
    let bytes: usize = copies.iter().map(|c| c.len()).sum();
    println!(
        "fragments: {:.0} bytes a part; pieces: {:.1} a part ({} in all)",
        bytes as f64 / parts.len() as f64,
        n_pieces as f64 / parts.len() as f64,
        n_pieces
    );
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let serve_copy = best(
        &|| {
            let mut null = null.try_clone().unwrap();
            let start = Instant::now();
            for _ in 0..20 {
                for c in &copies {
                    null.write_all(c).unwrap();
                }
            }
            start.elapsed().as_secs_f64()
        },
        5,
    );
    let serve_pieces = best(
        &|| {
            let mut null = null.try_clone().unwrap();
            let start = Instant::now();
            for _ in 0..20 {
                for p in &pieces {
                    for group in p.pieces().chunks(16) {
                        let slices: Vec<IoSlice<'_>> =
                            group.iter().map(|b| IoSlice::new(b)).collect();
                        let _ = null.write_vectored(&slices).unwrap();
                    }
                }
            }
            start.elapsed().as_secs_f64()
        },
        5,
    );
    let calls: usize = pieces.iter().map(|p| p.pieces().len().div_ceil(16)).sum();
    println!(
        "serving 20× every part: one copy {:.2} ms ({} writes), pieces {:.2} ms ({} writev)",
        serve_copy * 1e3,
        20 * copies.len(),
        serve_pieces * 1e3,
        20 * calls
    );
    let _ = null.flush();
    let ff = best(
        &|| {
            clip::ffmpeg_hls(
                &clip,
                "fmp4",
                &["-bsf:a", "aac_adtstoasc", "-hls_segment_type", "fmp4"],
            )
        },
        3,
    );
    println!(
        "ffmpeg -c copy -f hls -hls_segment_type fmp4: {:.1} MB/s ({:.1} ms)",
        mb / ff,
        ff * 1e3
    );
}

fn origin(parts: &[Part]) -> hlsd::ts::Ts {
    parts
        .iter()
        .flat_map(|p| p.units.as_deref().unwrap_or_default())
        .map(|u| u.dts)
        .min()
        .expect("units")
}

/// Segments `data` (LL-HLS on) in `mode`: seconds taken, the parts, the tracks.
fn run(data: &[u8], mode: Mode) -> (f64, Vec<Part>, Vec<Track>) {
    let start = Instant::now();
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = mode != Mode::Ts;
    let mut s = Segmenter::new(cfg);
    let mut parts = Vec::new();
    let mut tracks = Vec::new();
    let mut packager: Option<Packager> = None;
    let mut seq = 0u32;
    let mut on_event = |ev: Event, parts: &mut Vec<Part>, tracks: &mut Vec<Track>| match ev {
        Event::Program(pmt) => *tracks = Track::of_program(&pmt),
        Event::Part(p) => {
            if matches!(mode, Mode::Copy | Mode::Pieces) {
                // The origin: 1 s before the first part (audio may start before it).
                let origin = hlsd::ts::Ts(p.part.start.0 - hlsd::ts::Ts::HZ);
                let pk = packager.get_or_insert_with(|| Packager::new(tracks, origin));
                seq += 1;
                let len = if mode == Mode::Copy {
                    pk.fragment(&p.part, seq).map(|f| f.data.len())
                } else {
                    pk.fragment_pieces(&p.part, seq).map(|f| f.data.len())
                };
                assert!(len.is_ok_and(|l| l > 0), "a fragment");
            }
            if mode == Mode::Keep {
                parts.push(p.part);
            }
        }
        _ => {}
    };
    for c in data.chunks(64 * 1024) {
        s.push(c, 0);
        while let Some(ev) = s.poll_event() {
            on_event(ev, &mut parts, &mut tracks);
        }
    }
    s.finish(0);
    while let Some(ev) = s.poll_event() {
        on_event(ev, &mut parts, &mut tracks);
    }
    (start.elapsed().as_secs_f64(), parts, tracks)
}

/// Seconds to package every part, and the bytes made.
fn package(parts: &[Part], tracks: &[Track], pieces: bool) -> (f64, usize) {
    let start = Instant::now();
    let mut p = Packager::new(tracks, origin(parts));
    let mut bytes = 0;
    for (i, part) in parts.iter().enumerate() {
        bytes += if pieces {
            p.fragment_pieces(part, i as u32)
                .expect("fragment")
                .data
                .len()
        } else {
            p.fragment(part, i as u32).expect("fragment").data.len()
        };
    }
    (start.elapsed().as_secs_f64(), bytes)
}
