//! ffmpeg and ffprobe: publishing, playing, probing, decoding.

use super::*;

pub fn tool(name: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(name);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

/// `ffmpeg -re -i FILE -c copy -f mpegts -method POST http://ADDR/ingest/FEED`.
pub fn ffmpeg_publish(addr: SocketAddr, feed: &str, file: &Path) -> tokio::process::Child {
    tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "mpegts", "-method", "POST"])
        .arg(format!("http://{addr}/ingest/{feed}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

/// What `ffmpeg -i URL -c copy -f null -` did.
#[derive(Debug, Clone)]
pub struct Played {
    pub success: bool,
    pub stderr: String,
    /// Video frames it passed through (from `-progress`).
    pub frames: u64,
}

/// Runs ffmpeg as a player on `url` (from the first listed segment) until it ends.
pub async fn ffmpeg_play(url: &str, timeout: Duration) -> Played {
    let child = tool("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-v",
            "error",
            "-live_start_index",
            "0",
            "-i",
            url,
        ])
        .args(["-c", "copy", "-f", "null", "-progress", "pipe:1", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("ffmpeg playing {url} did not end within {timeout:?}"))
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stdout);
    let frames = progress
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    Played {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        frames,
    }
}

/// ffprobe of bytes (written to a temp file): decodes every frame (`-count_frames`) and
/// returns (JSON, stderr).
pub async fn ffprobe(data: &[u8]) -> (serde_json::Value, String) {
    let mut f = tempfile::Builder::new().suffix(".ts").tempfile().unwrap();
    std::io::Write::write_all(&mut f, data).unwrap();
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(f.path())
        .output()
        .await
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    (v, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts that ffprobe decodes frames of each stream of a segment; returns (video frames,
/// audio frames).
pub async fn assert_decodes(data: &[u8], what: &str) -> (u64, u64) {
    let (v, stderr) = ffprobe(data).await;
    let streams = v["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: ffprobe found no streams"));
    let mut frames = (0, 0);
    for s in streams {
        let n: u64 = s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        match s["codec_type"].as_str() {
            Some("video") => frames.0 += n,
            Some("audio") => frames.1 += n,
            _ => {}
        }
    }
    assert!(
        frames.0 + frames.1 > 0,
        "{what}: ffprobe decoded no frame; stderr: {stderr}"
    );
    frames
}

/// One packet as `ffprobe -show_packets` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePacket {
    pub stream: u32,
    pub pts: i64,
    pub dts: i64,
    pub size: usize,
    pub key: bool,
}

/// What `ffmpeg -nostdin -v error -i INPUT -f null -` prints (a file or a URL); it must exit 0.
pub fn decode_errors(input: impl AsRef<std::ffi::OsStr>) -> String {
    let input = input.as_ref();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg on {}",
        input.to_string_lossy()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `decode_errors` on the blocking pool, so a server on the test's runtime keeps serving.
pub async fn decode_errors_async(input: &str) -> String {
    let input = input.to_string();
    tokio::task::spawn_blocking(move || decode_errors(input))
        .await
        .expect("ffmpeg task")
}

/// The packets of a file in demux order (`ffprobe -show_packets`), blocking.
pub fn probe_packets(path: &Path) -> Vec<ProbePacket> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=stream_index,pts,dts,size,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stream_index, pts, dts, size, flags (the order ffprobe writes them in).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap_or_else(|_| panic!("{l}"));
            ProbePacket {
                stream: n(0) as u32,
                pts: n(1),
                dts: n(2),
                size: n(3) as usize,
                key: f[4].contains('K'),
            }
        })
        .collect()
}

/// The duration ffprobe gives a buffer (format duration).
pub async fn probe_duration(data: &[u8]) -> f64 {
    let (v, _) = ffprobe(data).await;
    v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("format duration")
}
