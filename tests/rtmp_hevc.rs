//! Enhanced RTMP H.265 over a real socket. Debian's ffmpeg 5.1 and GStreamer 1.22 cannot
//! send HEVC over RTMP, so the publisher is rml_rtmp's client in the test, sending the HEVC
//! fixture as an Enhanced RTMP encoder does: a SequenceStart with the hvcC (as ffmpeg's
//! MP4 muxer writes it), then each access unit's NAL units (parameter sets and delimiters
//! left to the hvcC) as CodedFrames with their composition offset, AAC beside them. With
//! `hls.container = "auto"` the feed is fMP4: every frame decodes, PTS/DTS equal the
//! input's within 1 ms, the sample entry is `hvc1`. Needs ffmpeg and ffprobe.

mod common;

use bytes::Bytes;
use common::rtmp::publish_session;
use common::ts::{Info, all_pes};
use common::*;
use std::path::Path;
use std::time::Duration;

/// One RTMP message to send: an FLV tag body and its millisecond timestamp.
struct Tag {
    video: bool,
    ms: u32,
    body: Bytes,
}

/// The hvcC box's payload that `ffmpeg -c:v copy -f mp4` writes for `input`.
fn hvcc_of(input: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("v.mp4");
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-an", "-c:v", "copy", "-f", "mp4"])
        .arg(&mp4)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&mp4).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == b"hvcC")
        .expect("an hvcC box");
    let size = u32::from_be_bytes(data[at - 4..at].try_into().unwrap()) as usize;
    data[at + 4..at - 4 + size].to_vec()
}

/// NAL units of an Annex B access unit (start codes removed, trailing zeros kept off).
fn nal_units(es: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= es.len() {
        if es[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let end = starts.get(k + 1).map_or(es.len(), |&n| n - 3);
            let nal = &es[s..end];
            let len = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            &nal[..len]
        })
        .collect()
}

/// The fixture as Enhanced RTMP tags in decode order (video and audio interleaved by
/// time), and the number of video frames.
fn enhanced_tags(input: &[u8], hvcc: &[u8]) -> (Vec<Tag>, usize) {
    let info = Info::parse(input);
    let video = info.video_pid().expect("video");
    let audio = info
        .streams
        .iter()
        .find(|(_, t)| **t == 0x0F)
        .map(|(p, _)| *p)
        .expect("AAC");
    let mut tags = Vec::new();
    let mut asc = None;
    let mut frames = 0;
    for pes in all_pes(input) {
        let pts = pes.pts.expect("PTS") as i64;
        if pes.pid == video {
            let dts = pes.dts.map_or(pts, |d| d as i64);
            let nals: Vec<&[u8]> = nal_units(&pes.data)
                .into_iter()
                // The delimiter and parameter sets stay out: the hvcC has the sets.
                .filter(|n| !n.is_empty() && !(32..=35).contains(&(n[0] >> 1 & 0x3F)))
                .collect();
            let key = nals.iter().any(|n| (16..=21).contains(&(n[0] >> 1 & 0x3F)));
            let cts = ((pts - dts) / 90) as i32;
            let mut body = vec![0x80 | if key { 0x10 } else { 0x20 } | 1];
            body.extend_from_slice(b"hvc1");
            body.extend_from_slice(&cts.to_be_bytes()[1..]);
            for n in nals {
                body.extend_from_slice(&(n.len() as u32).to_be_bytes());
                body.extend_from_slice(n);
            }
            tags.push((
                dts,
                Tag {
                    video: true,
                    ms: (dts / 90) as u32,
                    body: body.into(),
                },
            ));
            frames += 1;
        } else if pes.pid == audio {
            // ADTS frames, 1 024 samples each at 48 kHz.
            let mut at = 0;
            let mut n = 0i64;
            while at + 7 <= pes.data.len() {
                let h = &pes.data[at..];
                let len =
                    (usize::from(h[3] & 3) << 11) | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
                let header = if h[1] & 1 == 1 { 7 } else { 9 };
                if len < header || at + len > pes.data.len() {
                    break;
                }
                let asc_bytes = {
                    let (object, rate, ch) = (
                        (h[2] >> 6) + 1,
                        (h[2] >> 2) & 0x0F,
                        (h[2] & 1) << 2 | h[3] >> 6,
                    );
                    [object << 3 | rate >> 1, (rate & 1) << 7 | ch << 3]
                };
                if asc.is_none() {
                    asc = Some(asc_bytes);
                    tags.push((
                        pts - 1,
                        Tag {
                            video: false,
                            ms: (pts / 90) as u32,
                            body: Bytes::from(vec![0xAF, 0, asc_bytes[0], asc_bytes[1]]),
                        },
                    ));
                }
                let t = pts + n * 1024 * 90_000 / 48_000;
                let mut body = vec![0xAF, 1];
                body.extend_from_slice(&h[header..len]);
                tags.push((
                    t,
                    Tag {
                        video: false,
                        ms: (t / 90) as u32,
                        body: body.into(),
                    },
                ));
                at += len;
                n += 1;
            }
        }
    }
    tags.sort_by_key(|(t, _)| *t);
    let mut start = vec![0x80 | 0x10];
    start.extend_from_slice(b"hvc1");
    start.extend_from_slice(hvcc);
    let first = tags.first().map_or(0, |(_, t)| t.ms);
    let mut out = vec![Tag {
        video: true,
        ms: first,
        body: start.into(),
    }];
    out.extend(tags.into_iter().map(|(_, t)| t));
    (out, frames)
}

/// (PTS, DTS) in seconds of the video packets of a file or URL, and its video codec tag.
fn video_times(input: &str) -> (Vec<(f64, f64)>, String) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args([
            "packet=pts_time,dts_time:stream=codec_tag_string",
            "-of",
            "csv=p=0",
        ])
        .arg(input)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut times = Vec::new();
    let mut tag = String::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').filter(|f| !f.is_empty()).collect();
        match f.as_slice() {
            [p, d] => times.push((p.parse().unwrap(), d.parse().unwrap())),
            [t] => tag = t.to_string(),
            _ => panic!("{l}"),
        }
    }
    (times, tag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn an_enhanced_rtmp_hevc_publish_plays_as_fmp4_with_the_input_timestamps() {
    let input = fixture(Fixture::Hevc);
    let input_path = fixture_path(Fixture::Hevc);
    let (tags, frames) = enhanced_tags(&input, &hvcc_of(&input_path));
    let mut config = config();
    config.hls.part_duration = 0.25;
    config.feeds.reconnect_grace = 1.0;
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;
    let mut publisher = publish_session(rtmp, "live", "hevc")
        .await
        .expect("publishing");
    for t in tags {
        let sent = if t.video {
            publisher.video(t.ms, t.body).await
        } else {
            publisher.audio(t.ms, t.body).await
        };
        sent.expect("the server reads the publish");
    }
    publisher.finish().await;

    let media = wait_endlist(&server, "hevc", Duration::from_secs(20)).await;
    // `auto`: an HEVC feed is fMP4 at media.m3u8.
    let map = media
        .raw
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.split('"').next())
        .unwrap_or_else(|| panic!("fMP4 expected:\n{}", media.raw));
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    let index = get(&server.index_url("hevc")).await.text();
    assert!(index.contains("CODECS=\"hvc1."), "{index}");
    let fmp4 = server.url("/live/hevc/main/media.fmp4.m3u8");
    let errors = decode_errors(&fmp4);
    assert!(
        errors.is_empty(),
        "ffmpeg decoding the fMP4 playlist: {errors}"
    );

    // Init and segments back to back, probed, against the input.
    let mut body = get(&resolve(&media.url, map)).await.body.to_vec();
    for (_, seg, _) in media.segments() {
        let r = get(&seg).await;
        assert_eq!(r.status, 200);
        body.extend_from_slice(&r.body);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &body).unwrap();
    let (got, tag) = video_times(&out.to_string_lossy());
    assert_eq!(tag, "hvc1");
    let (want, _) = video_times(&input_path.to_string_lossy());
    assert_eq!(want.len(), frames);
    assert_eq!(got.len(), frames, "every frame");
    let offset = got[0].0 - want[0].0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g.0 - w.0 - offset).abs() <= 0.001 + 1e-6
                && (g.1 - w.1 - offset).abs() <= 0.001 + 1e-6,
            "frame {i}: got {g:?} - {offset}, want {w:?}"
        );
    }
    // Decoded, each frame once.
    let count = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&fmp4)
        .output()
        .expect("ffprobe");
    let counted = String::from_utf8_lossy(&count.stdout).into_owned();
    assert_eq!(
        counted.lines().find(|l| !l.trim().is_empty()),
        Some(frames.to_string().as_str()),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    server.stop().await;
}
