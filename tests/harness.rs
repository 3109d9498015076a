//! Checks of the test harness itself: the independent TS reader and the ffmpeg fixtures
//! (do they really contain B-frames, a PTS wrap, a timestamp jump, ...?).

mod common;

use common::ts::{self, PTS_WRAP};
use common::{Fixture, fixture};
use std::collections::BTreeSet;

#[test]
fn synthetic_stream_parses() {
    let data = ts::synthetic_ts(2, 3);
    let info = ts::Info::parse(&data);
    assert_eq!(info.pmt_pids, BTreeSet::from([0x1000]));
    assert_eq!(info.streams.get(&0x100), Some(&ts::STREAM_H264));
    assert_eq!(ts::strip_psi(&data).len(), 6);
}

#[test]
fn crc32_mpeg_check_value() {
    assert_eq!(ts::crc32_mpeg(b"123456789"), 0x0376_e6e7);
}

#[test]
fn nal_scanner_finds_idr() {
    let es = [
        0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88,
    ];
    assert_eq!(ts::h264_nal_types(&es), vec![9, 7, 8, 5]);
    assert!(ts::is_idr(&es));
    assert!(!ts::is_idr(&es[..18]));
}

fn video_pes(data: &[u8]) -> Vec<ts::Pes> {
    let info = ts::Info::parse(data);
    let v = info.video_pid().expect("video");
    ts::pes_list(&ts::packets(data), &BTreeSet::from([v]))
}

#[test]
#[ignore = "needs ffmpeg"]
fn main_fixture_has_b_frames_and_one_second_gops() {
    let data = fixture(Fixture::Main);
    let pes = video_pes(&data);
    assert!(
        pes.iter().any(|p| p.dts.is_some() && p.dts != p.pts),
        "no PES with DTS != PTS"
    );
    let kf = ts::keyframe_pts(&data);
    assert_eq!(kf.len(), 8, "keyframes {kf:?}");
    for w in kf.windows(2) {
        assert_eq!(w[1] - w[0], 90_000);
    }
    let info = ts::Info::parse(&data);
    assert_eq!(info.streams.len(), 2, "video + audio: {info:?}");
    let pk = ts::strip_psi(&data);
    assert!(ts::first_keyframe(&pk, &info).is_some());
}

#[test]
#[ignore = "needs ffmpeg"]
fn pts_wrap_fixture_really_wraps() {
    let data = fixture(Fixture::PtsWrap);
    let pts: Vec<u64> = video_pes(&data).iter().filter_map(|p| p.pts).collect();
    let first = pts[0];
    assert!(
        first > PTS_WRAP - 90_000 * 5,
        "first PTS {first} is not just below 2^33"
    );
    let last = *pts.last().unwrap();
    assert!(last < 90_000 * 8, "last PTS {last} did not wrap");
    // ffprobe agrees: it unwraps relative to the start, so its duration stays ~8 s.
    let d = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(common::probe_duration(&data));
    assert!((7.5..9.0).contains(&d), "ffprobe duration {d}");
}

#[test]
#[ignore = "needs ffmpeg"]
fn timestamp_jump_fixture_jumps_once() {
    let data = fixture(Fixture::TimestampJump);
    let kf = ts::keyframe_pts(&data);
    let jumps: Vec<_> = kf
        .windows(2)
        .filter(|w| w[1].abs_diff(w[0]) > 5 * 90_000)
        .collect();
    assert_eq!(jumps.len(), 1, "keyframes {kf:?}");
}

#[test]
#[ignore = "needs ffmpeg"]
fn irregular_and_long_gop_fixtures() {
    let data = fixture(Fixture::IrregularGop);
    let kf = ts::keyframe_pts(&data);
    let t: Vec<f64> = kf.iter().map(|p| (p - kf[0]) as f64 / 90_000.0).collect();
    assert_eq!(
        t.len(),
        common::IRREGULAR_KEYFRAMES.len(),
        "keyframes at {t:?}"
    );
    for (a, b) in t.iter().zip(common::IRREGULAR_KEYFRAMES) {
        assert!((a - b).abs() < 0.001, "keyframes at {t:?}");
    }
    let data = fixture(Fixture::LongGop);
    let kf = ts::keyframe_pts(&data);
    assert_eq!(kf.len(), 3, "keyframes {kf:?}");
    assert_eq!(kf[1] - kf[0], 4 * 90_000);
}

#[test]
#[ignore = "needs ffmpeg"]
fn audio_only_fixture_has_no_video() {
    let data = fixture(Fixture::AudioOnly);
    let info = ts::Info::parse(&data);
    assert_eq!(info.video_pid(), None);
    assert_eq!(
        info.streams.values().copied().collect::<Vec<_>>(),
        vec![ts::STREAM_AAC_ADTS]
    );
}

/// Reads one HTTP/1.1 request with a chunked or Content-Length body from `sock`, answers 200
/// and returns the body: a check of the raw publisher's framing.
async fn serve_one(sock: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut tmp).await.unwrap();
        assert!(n > 0, "eof in head");
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut rest = buf[head_end..].to_vec();
    let mut read_more = async |rest: &mut Vec<u8>| {
        let n = sock.read(&mut tmp).await.unwrap();
        assert!(n > 0, "eof in body");
        rest.extend_from_slice(&tmp[..n]);
    };
    let mut body = Vec::new();
    if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        let len: usize = len.trim().parse().unwrap();
        while rest.len() < len {
            read_more(&mut rest).await;
        }
        body = rest;
    } else {
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let mut pos = 0;
        loop {
            let line_end = loop {
                if let Some(p) = rest[pos..].windows(2).position(|w| w == b"\r\n") {
                    break pos + p;
                }
                read_more(&mut rest).await;
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[pos..line_end]).unwrap(), 16)
                    .unwrap();
            while rest.len() < line_end + 2 + size + 2 {
                read_more(&mut rest).await;
            }
            assert_eq!(&rest[line_end + 2 + size..line_end + 4 + size], b"\r\n");
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            pos = line_end + 4 + size;
            if size == 0 {
                break;
            }
        }
    }
    sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    body
}

#[tokio::test]
async fn raw_publisher_frames_bodies_correctly() {
    use common::{Push, push};
    let data = bytes::Bytes::from(
        (0..20_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    for p in [
        Push::new("a").chunk(1),
        Push::new("a").chunk(7),
        Push::new("a").chunk(188),
        Push::new("a").chunk(65536),
        Push::new("a").content_length().chunk(1000),
        Push::new("a")
            .chunk(500)
            .paced(&data, 0.2)
            .pause_at(3000, std::time::Duration::from_millis(50)),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            serve_one(&mut sock).await
        });
        let res = push(addr, data.clone(), p.clone()).await;
        assert_eq!(res.status, Some(200), "{p:?}");
        assert_eq!(server.await.unwrap(), &data[..], "{p:?}");
    }
}

/// The checks accept what a correct server makes: cut the fixture at every keyframe, open
/// each piece with the stream's PAT and PMT, and compare as the integration tests do.
#[test]
#[ignore = "needs ffmpeg"]
fn reference_segmentation_passes_the_checks() {
    for f in [
        Fixture::Main,
        Fixture::TimestampJump,
        Fixture::PtsWrap,
        Fixture::IrregularGop,
    ] {
        let data = fixture(f);
        let info = ts::Info::parse(&data);
        let all = ts::packets(&data);
        let pat = *all.iter().find(|p| ts::pid(p) == 0).unwrap();
        let pmt = *all
            .iter()
            .find(|p| info.pmt_pids.contains(&ts::pid(p)))
            .unwrap();
        let pk = ts::strip_psi(&data);
        let v = info.video_pid().unwrap();
        let cuts: Vec<usize> = ts::pes_list(&pk, &BTreeSet::from([v]))
            .into_iter()
            .filter(|p| ts::is_idr(&p.data))
            .map(|p| p.first_packet)
            .chain([pk.len()])
            .collect();
        let segments: Vec<bytes::Bytes> = cuts
            .windows(2)
            .map(|w| {
                let mut s = pat.to_vec();
                s.extend_from_slice(pmt);
                pk[w[0]..w[1]].iter().for_each(|p| s.extend_from_slice(p));
                bytes::Bytes::from(s)
            })
            .collect();
        for (i, s) in segments.iter().enumerate() {
            ts::assert_segment_start(s, &format!("{f:?} segment {i}"));
        }
        common::assert_same_packets(
            &common::segment_packets(&segments),
            &common::expected_packets(&data),
            &format!("{f:?}"),
        );
    }
}
