//! Access-unit input muxed into TS, against TS input, on the same stream in one run.
//!
//! `cargo bench --bench ts_mux`: takes the `segmenter` bench's clip (60 s of 1280x720
//! H.264/AAC at ~8 Mbit/s, made once with ffmpeg, cached in target/bench-data), gets its
//! access units once from a TS-input segmenter with access units on, then times, best of 5
//! on one core, LL-HLS on (0.25 s parts):
//! - TS input (`Segmenter::push`, 64 KB chunks), access units off, and on,
//! - access-unit input (`Segmenter::push_access_unit`: every unit muxed into PES and TS
//!   packets in the part being built),
//!
//! and prints MB/s of access-unit payload (the same bytes in all three) and the ratios.
//! Under `cargo test` it runs a smoke version on a synthetic stream, without ffmpeg.

use hlsd::segmenter::{AccessUnit, Event, Segmenter, SegmenterConfig, Track, TrackCodec};
use std::time::Instant;

#[path = "common/clip.rs"]
mod clip;

fn config(access_units: bool) -> SegmenterConfig {
    let mut cfg = SegmenterConfig::new(2.0, None).with_parts(0.25, None);
    cfg.access_units = access_units;
    cfg
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let data = if full {
        std::fs::read(clip::clip()).expect("read clip")
    } else {
        hlsd::synth::Synth::default().build(500)
    };
    let (tracks, units) = access_units(&data);
    let payload: usize = units.iter().map(|u| u.data.len()).sum();
    let mb = payload as f64 / 1e6;
    let rounds = if full { 5 } else { 1 };
    let best = |f: &dyn Fn() -> (f64, usize)| clip::best_with(f, rounds);
    let (ts, ts_segments) = best(&|| ts_input(&data, false));
    let (ts_units, _) = best(&|| ts_input(&data, true));
    let (mux, mux_segments) = best(&|| unit_input(&tracks, &units));
    assert_eq!(mux_segments, ts_segments, "cut alike");
    if !full {
        println!(
            "ts_mux smoke: {} units, {payload} payload bytes, {mux_segments} segments",
            units.len()
        );
        return;
    }
    println!(
        "input: {:.1} MB of TS, {} access units, {mb:.1} MB of payload, {ts_segments} segments",
        data.len() as f64 / 1e6,
        units.len()
    );
    let line = |what: &str, secs: f64| {
        println!(
            "{what}: {:.1} MB/s of payload ({:.1} ms)",
            mb / secs,
            secs * 1e3
        )
    };
    line("TS input, access units off ", ts);
    line("TS input, access units on  ", ts_units);
    line("access-unit input, TS muxed", mux);
    println!(
        "ratio access-unit input / TS input: {:.2} (access units off), {:.2} (on)",
        ts / mux,
        ts_units / mux
    );
}

/// The tracks and access units of a TS stream, in the order a publisher without TS would
/// send them: part by part, the frame that starts the part first.
fn access_units(data: &[u8]) -> (Vec<Track>, Vec<AccessUnit>) {
    let mut s = Segmenter::new(config(true));
    let mut parts = Vec::new();
    let mut tracks: Vec<Track> = Vec::new();
    let mut take = |s: &mut Segmenter| {
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Program(pmt) => tracks = Track::of_program(&pmt),
                Event::Part(p) => parts.push(p.part),
                _ => {}
            }
        }
    };
    for c in data.chunks(64 * 1024) {
        s.push(c, 0);
        take(&mut s);
    }
    s.finish(0);
    take(&mut s);
    let mut units = Vec::new();
    for p in &parts {
        let mut us = p.units.as_deref().expect("units").to_vec();
        // The timeline (video) unit that starts the part comes first.
        if let Some(v) = us
            .iter()
            .position(|u| matches!(u.codec, TrackCodec::Video(_)))
        {
            let u = us.remove(v);
            us.insert(0, u);
        }
        units.extend(us);
    }
    tracks.sort_by_key(|t| t.id);
    (tracks, units)
}

/// Seconds to segment TS `data` in 64 KB chunks, and the segments made.
fn ts_input(data: &[u8], access_units: bool) -> (f64, usize) {
    let start = Instant::now();
    let mut s = Segmenter::new(config(access_units));
    let mut segments = 0;
    for c in data.chunks(64 * 1024) {
        s.push(c, 0);
        segments += count(&mut s);
    }
    s.finish(0);
    segments += count(&mut s);
    (start.elapsed().as_secs_f64(), segments)
}

/// Seconds to segment the units as access-unit input (muxed into TS), and the segments.
fn unit_input(tracks: &[Track], units: &[AccessUnit]) -> (f64, usize) {
    // Cloning a unit is a reference count: done before the clock starts.
    let units = units.to_vec();
    let start = Instant::now();
    let mut s = Segmenter::new(config(false));
    s.set_tracks(tracks).expect("tracks");
    let mut segments = 0;
    for u in units {
        s.push_access_unit(u, 0).expect("a valid unit");
        segments += count(&mut s);
    }
    s.finish(0);
    segments += count(&mut s);
    (start.elapsed().as_secs_f64(), segments)
}

fn count(s: &mut Segmenter) -> usize {
    let mut n = 0;
    while let Some(ev) = s.poll_event() {
        n += usize::from(matches!(ev, Event::Segment(_)));
    }
    n
}
