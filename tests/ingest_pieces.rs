//! A stream published in pieces (`http::pieces`): successive requests, each on a connection
//! of its own, each body the next bytes of one stream, the way GStreamer's
//! `souphttpclientsink` publishes (a first `PUT` with `Connection: Keep-Alive`, then `PUT`s
//! with `Content-Range: bytes FIRST-LAST/*`). Over real sockets: pieces of any size and cut
//! anywhere make one publish with every packet; a piece sent again is taken once; a piece
//! past the end, from another address or with a bad range is refused and the stream goes on;
//! a stream no piece follows ends; and GStreamer itself publishes.

mod common;

use bytes::Bytes;
use common::*;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

/// How a piece is sent.
struct Piece<'a> {
    feed: &'a str,
    body: &'a [u8],
    /// Its `Content-Range` first byte; `None` for a first piece (keep-alive, no range).
    first: Option<u64>,
    from: IpAddr,
    range: Option<&'a str>,
}

impl<'a> Piece<'a> {
    fn first(feed: &'a str, body: &'a [u8]) -> Self {
        Piece {
            feed,
            body,
            first: None,
            from: [127, 0, 0, 1].into(),
            range: None,
        }
    }

    fn at(feed: &'a str, body: &'a [u8], first: u64) -> Self {
        Piece {
            first: Some(first),
            ..Piece::first(feed, body)
        }
    }
}

/// Sends one piece on a new connection, as libsoup does; returns the status and the body of
/// the answer.
async fn send(addr: SocketAddr, p: Piece<'_>) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(p.from, 0)).unwrap();
    let mut s: TcpStream = socket.connect(addr).await.unwrap();
    let range = match (p.range, p.first) {
        (Some(r), _) => format!("Content-Range: {r}\r\n"),
        (None, Some(first)) => format!(
            "Content-Range: bytes {first}-{}/*\r\n",
            first + p.body.len() as u64 - 1
        ),
        (None, None) => String::new(),
    };
    let head = format!(
        "PUT /ingest/{} HTTP/1.1\r\nContent-Length: {}\r\nAccept-Encoding: gzip, deflate\r\nUser-Agent: GStreamer souphttpclientsink libsoup/3.2.3\r\n{range}Connection: Keep-Alive\r\nHost: {addr}\r\n\r\n",
        p.feed,
        p.body.len()
    );
    exchange(&mut s, head.as_bytes(), p.body).await
}

/// Writes a request, reads its answer until the server closes: status and body.
async fn exchange(s: &mut TcpStream, head: &[u8], body: &[u8]) -> (u16, String) {
    s.write_all(head).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out))
        .await
        .expect("answered and closed within 15 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn pieces_config() -> Config {
    let mut c = config();
    // A stream waits 0.8 × idle_timeout for its next piece: 1.6 s.
    c.feeds.idle_timeout = 2.0;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_cut_anywhere_make_one_publish_with_every_packet() {
    let data = synth(25 * 6);
    let server = TestServer::start(pieces_config()).await;
    // As GStreamer starts: the tables alone (three packets), then what was queued since;
    // here pieces cut through packets, a 1-byte one, and large ones.
    let mut cuts = vec![564, 565, 565 + 47_000, 565 + 47_000 + 1_000];
    let mut at = *cuts.last().unwrap();
    for n in [1usize, 187, 60_001, 100_000] {
        at += n;
        cuts.push(at);
    }
    while at + 50_000 < data.len() {
        at += 50_000;
        cuts.push(at);
    }
    cuts.push(data.len());
    let mut start = 0;
    for (i, &end) in cuts.iter().enumerate() {
        if end <= start {
            continue;
        }
        let body = &data[start..end];
        let piece = if i == 0 {
            Piece::first("cut", body)
        } else {
            Piece::at("cut", body, start as u64)
        };
        let (status, text) = send(server.addr, piece).await;
        assert_eq!(status, 200, "piece {i} at {start}: {text}");
        assert!(
            text.starts_with(&format!("ok: {end} bytes so far;")),
            "piece {i}: {text}"
        );
        if i == 4 {
            // The same piece again (its answer lost, say): taken once.
            let (status, text) = send(server.addr, Piece::at("cut", body, start as u64)).await;
            assert_eq!(status, 200, "{text}");
            assert!(
                text.starts_with(&format!("ok: {end} bytes so far;")),
                "{text}"
            );
            // One that overlaps the stream's end: only its new bytes are taken.
            let back = start - 100;
            let more = &data[back..end + 500];
            let (status, text) = send(server.addr, Piece::at("cut", more, back as u64)).await;
            assert_eq!(status, 200, "{text}");
            assert!(
                text.starts_with(&format!("ok: {} bytes so far;", end + 500)),
                "{text}"
            );
            start = end + 500;
            continue;
        }
        start = end;
        if start >= data.len() {
            break;
        }
    }
    // No piece follows: the stream ends as a publish whose body ended.
    let m = wait_endlist(&server, "cut", Duration::from_secs(15)).await;
    check_media_rules(&m);
    assert_eq!(m.discontinuities(), 0, "one publish, not one per piece");
    let segments = fetch_segments(&m).await;
    assert!(segments.len() >= 5, "{} segments", segments.len());
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "segments against the pieces",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_out_of_place_are_refused_and_the_stream_goes_on() {
    let data = synth(25 * 4);
    let server = TestServer::start(pieces_config()).await;
    let half = data.len() / 2;
    let (status, text) = send(server.addr, Piece::first("out", &data[..half])).await;
    assert_eq!(status, 200, "{text}");
    // Past the stream's end: 416, and what to send instead.
    let late = half as u64 + 1000;
    let (status, text) = send(server.addr, Piece::at("out", &data[half + 1000..], late)).await;
    assert_eq!(status, 416, "{text}");
    assert!(text.contains(&format!("the stream has {half}")), "{text}");
    // The right offset from another address: not this stream's piece, and the rendition is
    // held by the stream waiting for it.
    let stranger = Piece {
        from: [127, 0, 0, 2].into(),
        ..Piece::at("out", &data[half..], half as u64)
    };
    let (status, text) = send(server.addr, stranger).await;
    assert_eq!(status, 409, "{text}");
    // A range that does not parse.
    let bad = Piece {
        range: Some("bytes 10-/*"),
        ..Piece::at("out", &data[half..], half as u64)
    };
    let (status, text) = send(server.addr, bad).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Content-Range"), "{text}");
    // The stream took none of them and goes on with the right piece.
    let (status, text) = send(server.addr, Piece::at("out", &data[half..], half as u64)).await;
    assert_eq!(status, 200, "{text}");
    let m = wait_endlist(&server, "out", Duration::from_secs(15)).await;
    assert_eq!(m.discontinuities(), 0);
    let segments = fetch_segments(&m).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "segments against the pieces",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_after_the_stream_ended_starts_a_new_one() {
    let data = synth(25 * 4);
    let server = TestServer::start(pieces_config()).await;
    let half = data.len() / 2;
    let (status, _) = send(server.addr, Piece::first("late", &data[..half])).await;
    assert_eq!(status, 200);
    let first = wait_endlist(&server, "late", Duration::from_secs(15)).await;
    let token = first.segments()[0].1.clone();
    // The next piece comes too late: a new publish whose stream starts at its offset.
    let (status, text) = send(server.addr, Piece::at("late", &data[half..], half as u64)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with(&format!("ok: {} bytes so far;", data.len())),
        "{text}"
    );
    let m = wait_media(
        &server.media_url("late"),
        Duration::from_secs(15),
        "the second publish's segments, ended",
        |m| m.endlist() && m.segments().iter().all(|s| s.1 != token),
    )
    .await;
    assert!(!m.segments().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_piece_again_starts_the_stream_again() {
    let data = synth(25 * 4);
    let server = TestServer::start(pieces_config()).await;
    let half = data.len() / 2;
    let (status, _) = send(server.addr, Piece::first("again", &data[..half])).await;
    assert_eq!(status, 200);
    // The publisher starts over (its pipeline restarted) while its stream waits: the old
    // stream ends, the new one goes on in the same feed after a discontinuity.
    let (status, text) = send(server.addr, Piece::first("again", &data)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with(&format!("ok: {} bytes so far;", data.len())),
        "{text}"
    );
    let m = wait_endlist(&server, "again", Duration::from_secs(15)).await;
    check_media_rules(&m);
    assert_eq!(m.discontinuities(), 1, "{}", m.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_one_request_is_not_in_pieces() {
    let data = synth(25 * 2);
    let server = TestServer::start(pieces_config()).await;
    // Chunked with keep-alive: the body is the whole stream, answered at its end with what
    // it made.
    let mut chunked = format!("{:x}\r\n", data.len()).into_bytes();
    chunked.extend_from_slice(&data);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = "POST /ingest/whole HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let (status, text) = exchange(&mut s, head.as_bytes(), &chunked).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(" segments in 1 rendition"), "{text}");
    // With a length and no keep-alive asked for: the same.
    let head = format!(
        "PUT /ingest/sized HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let (status, text) = exchange(&mut s, head.as_bytes(), &data).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(" segments in 1 rendition"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and GStreamer"]
async fn gstreamer_souphttpclientsink_publishes() {
    let data = fixture(Fixture::Main);
    let path = fixture_path(Fixture::Main);
    let server = TestServer::start(pieces_config()).await;
    let url = server.url("/ingest/gst");
    // In real time, as from a live source: a piece every few tens of milliseconds.
    let run = tool("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", path.display()))
        .args(["!", "tsparse", "set-timestamps=true", "!", "clocksync", "!"])
        .args(["souphttpclientsink", &format!("location={url}")])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("gst-launch-1.0 ends")
        .expect("gst-launch-1.0: install gstreamer1.0-tools (scripts/test does)");
    assert!(
        out.status.success(),
        "gst-launch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = wait_endlist(&server, "gst", Duration::from_secs(20)).await;
    check_media_rules(&m);
    assert_eq!(m.discontinuities(), 0, "one publish, not one per PUT");
    let segments = fetch_segments(&m).await;
    // At its end of stream the sink stops with buffers still queued (its session is aborted,
    // not flushed): the file's last ~0.1 s may never be sent. What came is the file's start,
    // packet for packet.
    let (got, want) = (segment_packets(&segments), expected_packets(&data));
    assert!(
        got.len() * 100 >= want.len() * 95,
        "{} of {} packets",
        got.len(),
        want.len()
    );
    assert_same_packets(
        &got,
        &want[..got.len()],
        "segments against the file GStreamer sent",
    );
    let played = ffmpeg_play(&server.media_url("gst"), Duration::from_secs(30)).await;
    assert!(played.success, "{}", played.stderr);
}
