//! GStreamer reads hlsd's fMP4: the HEVC fixture (x265 + AAC) pushed with `hls.container =
//! "auto"` and LL-HLS on, then `gst-launch-1.0 playbin3` on `index.fmp4.m3u8` (hlsdemux2,
//! qtdemux, libav's HEVC and AAC decoders) decodes every frame to EOS without an error or
//! a warning. Needs ffmpeg and GStreamer (gstreamer1.0-tools, -plugins-good, -plugins-bad,
//! -libav); run with --include-ignored.

mod common;

use common::{Fixture, Push, TestServer, config, eventually, fixture, get, spawn_push};
use std::time::Duration;

const FEED: &str = "cam";

/// Errors of every element; warnings of the HLS demuxer, the MP4 demuxer, the parsers and
/// the decoders (others warn about the pipeline itself, e.g. unset colorimetry).
const GST_DEBUG: &str = "*:1,hlsdemux2:2,adaptivedemux2:2,qtdemux:2,h265parse:2,aacparse:2,libav:2,videodecoder:2,audiodecoder:2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and GStreamer"]
async fn gstreamer_decodes_hevc_from_fmp4() {
    let mut c = config();
    c.hls.part_duration = 0.25;
    let s = TestServer::start(c).await;
    let pushed = spawn_push(s.addr, fixture(Fixture::Hevc), Push::new(FEED))
        .await
        .unwrap();
    assert_eq!(pushed.status, Some(200));
    let media_url = s.url(&format!("/live/{FEED}/main/media.fmp4.m3u8"));
    let media = eventually(Duration::from_secs(30), "ENDLIST", || async {
        let r = get(&media_url).await;
        (r.status == 200 && r.text().contains("#EXT-X-ENDLIST")).then(|| r.text())
    })
    .await;
    assert!(media.contains("#EXT-X-MAP:"), "{media}");
    let frames = video_frames(&media_url).await;
    let url = s.url(&format!("/live/{FEED}/index.fmp4.m3u8"));
    let run = common::tool("gst-launch-1.0")
        .args(["-v", "playbin3"])
        .arg(format!("uri={url}"))
        .arg("video-sink=fakesink name=v sync=false silent=false")
        .arg("audio-sink=fakesink name=a sync=false")
        .env("GST_DEBUG", GST_DEBUG)
        .env("GST_DEBUG_NO_COLOR", "1")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("gst-launch-1.0 ends")
        .expect("gst-launch-1.0: install gstreamer1.0-tools (scripts/test does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |t: &str| t.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    assert!(
        out.status.success(),
        "gst-launch failed:\n{}\n{}",
        tail(&stdout),
        tail(&stderr)
    );
    // Every ERROR, and the WARNINGs of the elements that read hlsd's output.
    let complaints: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect();
    assert!(
        complaints.is_empty(),
        "GStreamer complained:\n{}",
        complaints.join("\n")
    );
    assert!(stdout.contains("Got EOS"), "{}", tail(&stdout));
    // The elements playbin3 chose, and one buffer per decoded video frame at the sink.
    assert!(stdout.contains("hlsdemux2"), "{}", tail(&stdout));
    assert!(stdout.contains("avdec_h265"), "{}", tail(&stdout));
    let decoded = stdout
        .lines()
        .filter(|l| l.contains("/GstFakeSink:v: last-message = chain"))
        .count();
    eprintln!("GStreamer decoded {decoded} video frames of {frames} listed");
    assert_eq!(decoded, frames, "every frame listed is decoded");
    s.stop().await;
}

/// Video frames ffprobe reads from a playlist.
async fn video_frames(url: &str) -> usize {
    let out = common::tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .await
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    // (Once for the program, once for the stream.)
    text.lines()
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe: {text}"))
}
