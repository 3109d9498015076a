//! The benchmark clip (included with `#[path]` by `segmenter`, `ts_mux` and `fmp4`): 60 s
//! of 1280x720 H.264/AAC at ~8 Mbit/s made once with ffmpeg, cached in target/bench-data.

use std::path::PathBuf;
use std::process::Command;

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
