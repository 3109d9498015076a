//! The benchmark clip (included with `#[path]` by `segmenter`, `ts_mux` and `fmp4`): 60 s
//! of 1280x720 H.264/AAC at ~8 Mbit/s made once with ffmpeg, cached in target/bench-data;
//! best-of-n timing and ffmpeg's HLS muxer over the clip, to compare with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The least of `n` timings by `f`, in seconds.
#[allow(dead_code)] // not every bench uses it
pub fn best(f: &dyn Fn() -> f64, n: usize) -> f64 {
    best_with(&|| (f(), ()), n).0
}

/// The least of `n` timings by `f`, in seconds, with what its last run counted.
pub fn best_with<T>(f: &dyn Fn() -> (f64, T), n: usize) -> (f64, T) {
    let (mut t, mut last) = f();
    for _ in 1..n {
        let (u, v) = f();
        (t, last) = (t.min(u), v);
    }
    (t, last)
}

/// Seconds for `ffmpeg -c copy -f hls -hls_time 2` (with `extra` output options) over
/// `clip`, into a temp dir named after `name`.
#[allow(dead_code)] // not every bench uses it
pub fn ffmpeg_hls(clip: &Path, name: &str, extra: &[&str]) -> f64 {
    let dir = std::env::temp_dir().join(format!("hlsd-bench-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let start = Instant::now();
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(clip)
        .args(["-c", "copy"])
        .args(extra)
        .args(["-f", "hls", "-hls_time", "2", "-hls_list_size", "0"])
        .arg(dir.join("out.m3u8"))
        .status()
        .is_ok_and(|s| s.success());
    let t = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "ffmpeg failed");
    t.max(Duration::from_micros(1)).as_secs_f64()
}

pub fn clip() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let path = dir.join("clip-720p-8M-60s.ts");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench-data dir");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args([
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "8M",
            "-g",
            "50",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "mpegts"])
        .arg(&path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg could not make the clip");
    path
}
