//! What a retention trim costs: a batch of N recorded segments trimmed by
//! `record::retention::Retention::run` (the scan of the library, the `Head` record appended
//! and fsynced, the N files removed, the directory fsynced), against the baseline of the
//! same command: removing N files of the same size and fsyncing their directory, nothing
//! else. Figures go to BENCHMARKS.md.
//!
//! `cargo bench --bench retention`: N = 1 (a trim per recorded segment, the steady state of
//! `record.max_gb`), 30 and 300 segments of 256 KiB (1 s at 2 Mbit/s) in a temp dir under
//! target/ (the disk recordings would be on), best of 5 alternated runs each. Under
//! `cargo test` it runs once with small N.

use bytes::Bytes;
use hlsd::clock::Clock;
use hlsd::playlist::StoredPart;
use hlsd::record::Counters;
use hlsd::record::index::{RenditionInfo, SegmentEntry};
use hlsd::record::library::Library;
use hlsd::record::retention::{Limits, Retention};
use hlsd::record::task::{FeedRecorder, Job};
use hlsd::segmenter::PartBytes;
use hlsd::ts::Ts;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEG: usize = 256 * 1024;
const BASE_MS: i64 = 1_764_921_600_000;

fn info(token: u64) -> RenditionInfo {
    RenditionInfo {
        name: "main".into(),
        token,
        target_duration: 1,
        bandwidth: 2_000_000,
        average_bandwidth: 2_000_000,
        codecs: Some("avc1.64001f,mp4a.40.2".into()),
        resolution: Some((1280, 720)),
        frame_rate: Some(25.0),
        audio_only: false,
        fmp4: false,
    }
}

/// A recorded session of `n` segments (then `keep` more the trim leaves), its library.
fn record(root: &Path, n: u64, keep: u64) -> Arc<Library> {
    let library = Arc::new(Library::new(root.to_path_buf()));
    let mut rec = FeedRecorder::new("cam", library.clone(), Counters::default(), Clock::new());
    let data = Bytes::from(vec![0x47u8; SEG]);
    for msn in 1..=n + keep {
        rec.handle(Job::Segment {
            info: info(0x1000_0000_0001),
            entry: SegmentEntry {
                rendition: "main".into(),
                msn,
                duration: 90_000,
                pdt_ms: BASE_MS + 1000 * msn as i64,
                discontinuity: false,
                independent: true,
                bytes: 0,
                gap: false,
                init: None,
            },
            parts: Arc::from(vec![StoredPart {
                data: PartBytes::from_pieces(vec![data.clone()]),
                duration: Ts(90_000),
                independent: true,
                mp4: None,
            }]),
            init: None,
        });
    }
    std::mem::forget(rec);
    library
}

fn trim(root: &Path, n: u64) -> Duration {
    let keep = 4;
    let library = record(root, n, keep);
    let r = Retention::new(
        Limits {
            max_age_ms: i64::MAX / 4,
            // `keep` segments, and half a segment for the index (max_gb counts it too).
            max_bytes: Some(keep * SEG as u64 + SEG as u64 / 2),
        },
        Default::default(),
    );
    let t = Instant::now();
    let done = r.run(&library, BASE_MS);
    let d = t.elapsed();
    assert_eq!(done.segments, n);
    d
}

fn baseline(root: &Path, n: u64) -> Duration {
    let dir = root.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let data = vec![0x47u8; SEG];
    let files: Vec<_> = (0..n).map(|i| dir.join(format!("seg-{i}.ts"))).collect();
    for f in &files {
        std::fs::write(f, &data).unwrap();
        std::fs::File::open(f).unwrap().sync_all().unwrap();
    }
    std::fs::File::open(&dir).unwrap().sync_all().unwrap();
    let t = Instant::now();
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::File::open(&dir).unwrap().sync_all().unwrap();
    t.elapsed()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (sizes, runs): (&[u64], usize) = if bench {
        (&[1, 30, 300], 5)
    } else {
        (&[1, 3], 1)
    };
    let parent = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&parent).unwrap();
    println!(
        "{:>6} {:>14} {:>14} {:>8}",
        "N", "trim µs", "rm+sync µs", "ratio"
    );
    for &n in sizes {
        let (mut best_trim, mut best_base) = (Duration::MAX, Duration::MAX);
        for _ in 0..runs {
            let tmp = tempfile::tempdir_in(&parent).unwrap();
            best_trim = best_trim.min(trim(&tmp.path().join("t"), n));
            best_base = best_base.min(baseline(tmp.path(), n));
        }
        println!(
            "{n:>6} {:>14} {:>14} {:>8.2}",
            best_trim.as_micros(),
            best_base.as_micros(),
            best_trim.as_secs_f64() / best_base.as_secs_f64()
        );
    }
}
