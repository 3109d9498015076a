//! HTTP/1.1 publishes read by hlsd itself (`serve::publish`): the request head and the
//! body's framing as clients send them (heads in pieces, chunk extensions, trailers,
//! `Expect: 100-continue`), broken framing, and the heads it leaves to hyper, over real
//! sockets.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `pieces` one write each, then reads until the server closes or `wait` passes;
/// returns what came back.
async fn exchange(addr: SocketAddr, pieces: &[Vec<u8>], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    for p in pieces {
        s.write_all(p).await.unwrap();
    }
    read_until_close(&mut s, wait).await
}

async fn read_until_close(s: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `data` as chunks of the given sizes in turn (the last repeated), each size line
/// decorated by `ext(i)`.
fn chunked(data: &[u8], sizes: &[usize], ext: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = 0;
    let mut i = 0;
    while off < data.len() {
        let n = sizes[i.min(sizes.len() - 1)].min(data.len() - off);
        out.extend_from_slice(format!("{n:x}{}\r\n", ext(i)).as_bytes());
        out.extend_from_slice(&data[off..off + n]);
        out.extend_from_slice(b"\r\n");
        off += n;
        i += 1;
    }
    out
}

fn ok_for(answer: &str, bytes: usize) {
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains(&format!("ok: {bytes} bytes")), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_in_every_form_carries_every_byte() {
    let server = TestServer::start(config()).await;
    let data = ts::synthetic_ts(60, 30);
    let head = format!(
        "POST /ingest/framing HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    let mut body = chunked(&data, &[1, 187, 188, 5000, 70_000, 4096], |i| match i % 3 {
        0 => String::new(),
        1 => ";name=value".into(),
        _ => " \t;a;b=\"c d\"".into(),
    });
    body.extend_from_slice(b"0;last\r\nX-Trailer: 1\r\nX-Other: two\r\n\r\n");
    // The request line at once (a publish is told by its first 13 bytes), the rest of the
    // head a byte at a time, the body in pieces that cut through the framing.
    let mut pieces = vec![head.as_bytes()[..20].to_vec()];
    pieces.extend(head.bytes().skip(20).map(|b| vec![b]));
    pieces.extend(body.chunks(4099).map(<[u8]>::to_vec));
    let answer = exchange(server.addr, &pieces, Duration::from_secs(10)).await;
    ok_for(&answer, data.len());
    // The publish's connection ends with its answer, and says so.
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close"), "{answer}");
    assert!(head.contains("\r\ndate: "), "{answer}");

    // A Content-Length body, sent in one write with its head.
    let mut req = format!(
        "PUT /ingest/length HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    req.extend_from_slice(&data);
    let answer = exchange(server.addr, &[req], Duration::from_secs(10)).await;
    ok_for(&answer, data.len());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_when_the_body_is_read() {
    let server = TestServer::start(config()).await;
    let data = ts::synthetic_ts(20, 10);
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /ingest/cont HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // Nothing of the body is sent before the interim answer.
    let mut interim = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut interim))
        .await
        .expect("100 Continue within 5 s")
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&data).await.unwrap();
    let answer = read_until_close(&mut s, Duration::from_secs(10)).await;
    ok_for(&answer, data.len());

    // A publish refused before its body is read gets its answer and no 100 Continue.
    let head = "POST /ingest/page HTTP/1.1\r\nHost: x\r\nOrigin: http://elsewhere.example\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    let answer = exchange(
        server.addr,
        &[head.as_bytes().to_vec()],
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_framing_ends_the_publish_with_400() {
    let server = TestServer::start(config()).await;
    let data = ts::synthetic_ts(20, 10);
    for (i, (bad, why)) in [
        (&b"zz\r\n"[..], "invalid chunk size line"),
        (
            b"10\r\n0123456789abcdefXX",
            "chunk data not followed by CRLF",
        ),
        (b"11111111111111111\r\n", "chunk size over 16 hex digits"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut req = format!(
            "POST /ingest/broken{i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        req.extend_from_slice(&chunked(&data, &[1316], |_| String::new()));
        req.extend_from_slice(bad);
        let answer = exchange(server.addr, &[req], Duration::from_secs(10)).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains(&format!("connection lost: {why}")),
            "{answer}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_heads_are_served_as_before() {
    let server = TestServer::start(config()).await;
    let data = ts::synthetic_ts(20, 10);
    // HTTP/1.0 with a length: hyper's, answered in HTTP/1.0.
    let mut req = format!(
        "POST /ingest/old HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    req.extend_from_slice(&data);
    let answer = exchange(server.addr, &[req], Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains(&format!("ok: {} bytes", data.len())),
        "{answer}"
    );

    // A head longer than hlsd reads itself (70 KB of fields) goes to hyper with the bytes
    // already read, and the publish goes through.
    let mut req = b"POST /ingest/long HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..70 {
        req.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)).as_bytes());
    }
    req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    req.extend_from_slice(&chunked(&data, &[1316], |_| String::new()));
    req.extend_from_slice(b"0\r\n\r\n");
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let (status, head) = {
        let (mut rd, _wr) = s.into_split();
        read_head(&mut rd).await
    };
    assert_eq!(status, Some(200), "{head}");
    // Served by hyper: the connection is kept alive, as for any other request.
    assert!(!head.contains("connection: close"), "{head}");

    // A malformed head is hyper's to refuse.
    let answer = exchange(
        server.addr,
        &[b"POST /ingest/x HTTP/1.1\r\nBad Header\r\n\r\n".to_vec()],
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    server.stop().await;
}
