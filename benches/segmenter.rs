//! Segmenter throughput against ffmpeg's HLS segmenter on the same bytes, in one run.
//!
//! `cargo bench --bench segmenter`: makes (once, cached in target/bench-data) a 60 s
//! 1280x720 H.264/AAC clip at ~8 Mbit/s with ffmpeg, then times
//! - hlsd's `Segmenter` over it in 64 KB chunks, LL-HLS off and on, and LL-HLS on with
//!   access units on (`SegmenterConfig::access_units`: PES reassembly), best of 5, one core,
//! - `ffmpeg -c copy -f hls` over the same file into a temp dir (best of 3),
//!
//! and prints MB/s for each and the ratio. Under `cargo test` it runs a smoke version on a
//! synthetic stream, without ffmpeg.

#[path = "common/clip.rs"]
mod clip;

use clip::{best, clip, ffmpeg_hls};
use hlsd::segmenter::{Event, Segmenter, SegmenterConfig};
use std::time::Instant;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !full {
        let data = hlsd::synth::Synth::default().build(500);
        let (secs, segments) = segment(&data, 0.25);
        assert!(segments > 0);
        let (_, with_units) = segment_with(&data, 0.25, true);
        assert_eq!(with_units, segments);
        println!(
            "segmenter smoke: {} bytes in {:.3} ms, {segments} segments",
            data.len(),
            secs * 1e3
        );
        return;
    }
    let clip = clip();
    let data = std::fs::read(&clip).expect("read clip");
    let mb = data.len() as f64 / 1e6;
    let plain = best(&|| segment(&data, 0.0).0, 5);
    let ll = best(&|| segment(&data, 0.25).0, 5);
    let units = best(&|| segment_with(&data, 0.25, true).0, 5);
    let ff = best(&|| ffmpeg_hls(&clip, "ffmpeg", &[]), 3);
    println!(
        "input: {} ({mb:.1} MB, {} segments)",
        clip.display(),
        segment(&data, 0.25).1
    );
    println!(
        "hlsd segmenter, LL-HLS off: {:.1} MB/s ({:.1} ms)",
        mb / plain,
        plain * 1e3
    );
    println!(
        "hlsd segmenter, LL-HLS on:  {:.1} MB/s ({:.1} ms)",
        mb / ll,
        ll * 1e3
    );
    println!(
        "hlsd segmenter, LL-HLS on, access units on: {:.1} MB/s ({:.1} ms)",
        mb / units,
        units * 1e3
    );
    println!(
        "ffmpeg -c copy -f hls:      {:.1} MB/s ({:.1} ms)",
        mb / ff,
        ff * 1e3
    );
    println!("ratio hlsd (LL on) / ffmpeg: {:.1}x", ff / ll);
}

/// Seconds to segment `data`, and the number of segments made.
fn segment(data: &[u8], part: f64) -> (f64, usize) {
    segment_with(data, part, false)
}

/// The same, with access units on or off.
fn segment_with(data: &[u8], part: f64, access_units: bool) -> (f64, usize) {
    let start = Instant::now();
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(part, None);
    cfg.access_units = access_units;
    let mut s = Segmenter::new(cfg);
    let mut segments = 0;
    for c in data.chunks(64 * 1024) {
        s.push(c, 0);
        while let Some(ev) = s.poll_event() {
            segments += usize::from(matches!(ev, Event::Segment(_)));
        }
    }
    s.finish(0);
    while let Some(ev) = s.poll_event() {
        segments += usize::from(matches!(ev, Event::Segment(_)));
    }
    (start.elapsed().as_secs_f64(), segments)
}
