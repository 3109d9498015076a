//! Connection timers and limits against real sockets: slowloris and silent sockets, stalled
//! TLS handshakes, idle keep-alive (HTTP/1.1, plain and TLS) and h2c connections closed
//! after `limits.header_timeout`; ingest
//! bodies and HTTP/2 requests that last longer are never cut; `limits.max_connections` and
//! the cap on connections without a request head; an fd-exhaustion attempt against the
//! real binary under a low open-file limit.
//!
//! Wall-clock bounds are generous (closed within 3 × the timeout, not before half of it):
//! the timers run against real sockets, which virtual time cannot drive.

mod common;

use bytes::Bytes;
use common::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(1);

fn config_with(header_timeout: Duration, max_connections: usize) -> Config {
    let mut c = config();
    c.limits.header_timeout = header_timeout.as_secs_f64();
    c.limits.max_connections = max_connections;
    c
}

fn synth(frames: usize) -> Bytes {
    Bytes::from(hlsd::synth::Synth::default().build(frames))
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// Reads (and discards) until the peer closes; returns when that happened, or `None` if the
/// socket is still open after `limit`.
async fn closed_within<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Option<Instant> {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// Asserts that the server closes `s` between `timeout / 2` and `3 × timeout` after `from`.
async fn assert_closed_after_timeout<S: AsyncRead + Unpin>(
    s: &mut S,
    from: Instant,
    timeout: Duration,
    what: &str,
) {
    let at = closed_within(s, timeout * 3)
        .await
        .unwrap_or_else(|| panic!("{what}: still open {:?} after", timeout * 3));
    let took = at - from;
    assert!(
        took >= timeout / 2,
        "{what}: closed after {took:?}, before half the header timeout"
    );
}

/// Sends `GET path` keeping the connection alive and reads the answer (status, body).
async fn get_keep_alive<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    path: &str,
) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: hlsd\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write request");
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .expect("status");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().expect("content-length"))
                    .expect("a content-length");
                while buf.len() < end + 4 + len {
                    let n = s.read(&mut tmp).await.expect("read body");
                    assert!(n > 0, "closed within the body");
                    buf.extend_from_slice(&tmp[..n]);
                }
                return (status, buf[end + 4..end + 4 + len].to_vec());
            }
            let n = s.read(&mut tmp).await.expect("read head");
            assert!(n > 0, "closed before answering GET {path}");
            buf.extend_from_slice(&tmp[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no answer to GET {path} within 10 s"))
}

/// Writes `bytes` one every 300 ms until the server closes `s` (or 3 × [`TIMEOUT`] pass);
/// returns when, and what the server sent.
async fn drip_until_closed(s: &mut TcpStream, bytes: &[u8]) -> (Instant, Vec<u8>) {
    let (mut rd, mut wr) = s.split();
    let drip = async {
        for b in bytes {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let closed = async {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(TIMEOUT * 3, rd.read_to_end(&mut buf)).await;
        (Instant::now(), buf)
    };
    tokio::pin!(closed);
    tokio::select! {
        r = &mut closed => r,
        _ = drip => closed.await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_closed_after_the_header_timeout() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let mut s = connect(server.addr).await;
    let start = Instant::now();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: hlsd\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (at, buf) = drip_until_closed(&mut s, head).await;
    let took = at - start;
    assert!(
        took >= TIMEOUT / 2 && took < TIMEOUT * 3,
        "slowloris closed after {took:?}"
    );
    // hyper answers 408 before closing when it can; nothing else may come.
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_socket_is_closed_after_the_header_timeout() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let mut s = connect(server.addr).await;
    assert_closed_after_timeout(&mut s, Instant::now(), TIMEOUT, "silent socket").await;
    // A partial HTTP/2 preface stalls protocol detection: timed out all the same.
    let mut s = connect(server.addr).await;
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert_closed_after_timeout(&mut s, Instant::now(), TIMEOUT, "partial preface").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let mut s = connect(server.addr).await;
    // Requests spaced by less than the timeout keep the connection: it is idle, not old.
    for _ in 0..3 {
        assert_eq!(
            get_keep_alive(&mut s, "/healthz").await,
            (200, b"ok\n".to_vec())
        );
        tokio::time::sleep(TIMEOUT / 2).await;
    }
    let answered = Instant::now();
    assert_eq!(get_keep_alive(&mut s, "/healthz").await.0, 200);
    assert_closed_after_timeout(&mut s, answered, TIMEOUT, "idle keep-alive").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2c_connection_is_closed_after_the_header_timeout() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let (mut send, closed) = h2c(server.addr).await;
    for _ in 0..3 {
        assert_eq!(h2_get(&mut send, &server.url("/healthz")).await.0, 200);
        tokio::time::sleep(TIMEOUT / 2).await;
    }
    assert!(!closed.is_finished(), "closed while in use");
    let answered = Instant::now();
    assert_eq!(h2_get(&mut send, &server.url("/healthz")).await.0, 200);
    let at = tokio::time::timeout(TIMEOUT * 3, closed)
        .await
        .expect("idle h2c connection still open after 3 × the header timeout")
        .unwrap();
    assert!(
        at - answered >= TIMEOUT / 2,
        "closed after {:?}",
        at - answered
    );
    server.stop().await;
}

/// The server's first HTTP/2 SETTINGS frame announces the stream and header-list limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_settings_announce_the_limits() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let mut s = connect(server.addr).await;
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .expect("no SETTINGS within 5 s")
        .unwrap();
    assert_eq!(head[3], 0x4, "the first frame is not SETTINGS: {head:?}");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    let settings: std::collections::HashMap<u16, u32> = payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    // SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_HEADER_LIST_SIZE
    assert_eq!(settings.get(&0x3), Some(&256), "{settings:?}");
    assert_eq!(settings.get(&0x6), Some(&16384), "{settings:?}");
    server.stop().await;
}

/// A request that takes longer than the header timeout keeps its HTTP/2 connection: the
/// playlist request waits for the feed's first segment, which comes 2.5 timeouts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_request_waiting_longer_than_the_timeout_is_answered() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let data = synth(100);
    // The publisher connects first (a feed that does not exist is 404 at once) and sends
    // nothing for a while: the playlist request waits for its first segment.
    let push = spawn_push(
        server.addr,
        data.clone(),
        Push::new("late")
            .chunk(7 * 188)
            .pause_at(188 * 7, TIMEOUT * 5 / 2),
    );
    let (mut send, closed) = h2c(server.addr).await;
    let asked = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (status, body) = loop {
        let r = h2_get(&mut send, &server.media_url("late")).await;
        if r.0 != 404 {
            break r;
        }
        assert!(Instant::now() < deadline, "the feed never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        asked.elapsed() > TIMEOUT,
        "answered after {:?}: the request did not wait",
        asked.elapsed()
    );
    // The connection was not shut down meanwhile (a GOAWAY would refuse this stream).
    assert_eq!(h2_get(&mut send, &server.url("/healthz")).await.0, 200);
    assert!(!closed.is_finished());
    assert_eq!(push.await.unwrap().status, Some(200));
    server.stop().await;
}

/// A chunked ingest body sent in real time over 5 header timeouts, with a pause of 2.5
/// timeouts inside it, is read to its end: bodies are never timed by the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_longer_than_the_header_timeout_is_not_cut() {
    let mut config = config_with(TIMEOUT, 100);
    config.feeds.idle_timeout = 10.0;
    let server = TestServer::start(config).await;
    let data = synth(125);
    let start = Instant::now();
    let pushed = push(
        server.addr,
        data.clone(),
        Push::new("long")
            .paced(&data, 5.0 * TIMEOUT.as_secs_f64())
            .pause_at(packet_boundary(&data, 0.2), TIMEOUT * 5 / 2),
    )
    .await;
    assert_eq!(pushed.status, Some(200), "{pushed:?}");
    assert_eq!(pushed.sent, data.len());
    assert!(!pushed.write_failed);
    assert!(start.elapsed() >= TIMEOUT * 4);
    let media = wait_endlist(&server, "long", Duration::from_secs(10)).await;
    assert!(media.total_duration() > 4.5, "{}", media.total_duration());
    server.stop().await;
}

/// A publisher whose request head arrived while the server's only thread was busy for twice
/// the header timeout is read, not timed out: the connection is polled before its timers.
#[tokio::test(flavor = "current_thread")]
async fn head_that_arrived_while_the_server_was_busy_is_not_timed_out() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let addr = server.addr;
    let data = synth(50);
    let publisher = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // Sent while the server's thread is blocked (below).
        std::thread::sleep(TIMEOUT / 2);
        let head = format!(
            "POST /ingest/busy HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        for chunk in data.chunks(7 * 188) {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .unwrap();
            s.write_all(chunk).unwrap();
            s.write_all(b"\r\n").unwrap();
        }
        s.write_all(b"0\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    // Let the server accept the connection, then keep its thread busy.
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::thread::sleep(TIMEOUT * 2);
    let answer = tokio::task::spawn_blocking(move || publisher.join().unwrap())
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once() {
    const LIMIT: usize = 4;
    let server = TestServer::start(config_with(Duration::from_secs(20), LIMIT)).await;
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        let mut s = connect(server.addr).await;
        assert_eq!(get_keep_alive(&mut s, "/healthz").await.0, 200);
        held.push(s);
    }
    for _ in 0..3 {
        let mut s = connect(server.addr).await;
        // Closed without an answer, long before any timer.
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: hlsd\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
        assert!(r.is_ok(), "a connection over the limit was kept open");
        assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    }
    // Those admitted are still served.
    assert_eq!(get_keep_alive(&mut held[0], "/healthz").await.0, 200);
    // A freed place is taken again.
    drop(held.pop());
    eventually(
        Duration::from_secs(5),
        "a place under the limit",
        || async {
            let mut s = connect(server.addr).await;
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: hlsd\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
            buf.starts_with(b"HTTP/1.1 200").then_some(())
        },
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_starve_viewers() {
    const LIMIT: usize = 16;
    let server = TestServer::start(config_with(Duration::from_secs(20), LIMIT)).await;
    let pushed = push(server.addr, synth(75), Push::new("cam")).await;
    assert_eq!(pushed.status, Some(200));
    // Ten times the head-less share (a quarter of the limit), one after the other.
    let mut silent = Vec::new();
    for _ in 0..LIMIT * 10 / 4 {
        silent.push(connect(server.addr).await);
    }
    // The oldest were closed at once to make room, the newest are still open.
    let first = closed_within(&mut silent[0], Duration::from_secs(3)).await;
    assert!(first.is_some(), "the oldest silent socket is still open");
    let last = silent.last_mut().unwrap();
    assert!(
        closed_within(last, Duration::from_millis(300))
            .await
            .is_none(),
        "the newest silent socket was closed"
    );
    let mut viewer = connect(server.addr).await;
    assert_eq!(get_keep_alive(&mut viewer, "/healthz").await.0, 200);
    let (status, body) = get_keep_alive(&mut viewer, "/live/cam/main/media.m3u8").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("#EXTINF"));
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    server.stop().await;
}

/// A publish's head read by hlsd itself (`serve::publish`) is timed and capped like any
/// other: trickled, it is closed after the header timeout; silent after its request line, it
/// counts as head-less and the oldest make room for viewers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_heads_are_timed_and_capped_like_others() {
    let server = TestServer::start(config_with(TIMEOUT, 16)).await;
    let mut s = connect(server.addr).await;
    let start = Instant::now();
    // The request line at once (a publish is told by it), then a byte every 300 ms.
    s.write_all(b"POST /ingest/slow HTTP/1.1\r\nHost: hlsd\r\n")
        .await
        .unwrap();
    let (at, buf) =
        drip_until_closed(&mut s, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    let took = at - start;
    assert!(
        took >= TIMEOUT / 2 && took < TIMEOUT * 3,
        "trickled publish head closed after {took:?}"
    );
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));

    server.stop().await;

    // Ten times the head-less share of request lines with no head after them, on a server
    // whose header timeout is far: the oldest are closed to make room, not timed out.
    let server = TestServer::start(config_with(Duration::from_secs(20), 16)).await;
    let mut stalled = Vec::new();
    for i in 0..16 * 10 / 4 {
        let mut s = connect(server.addr).await;
        let line = format!("POST /ingest/stalled{i} HTTP/1.1\r\n");
        s.write_all(line.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    let first = closed_within(&mut stalled[0], Duration::from_secs(3)).await;
    assert!(first.is_some(), "the oldest stalled publish is still open");
    // Evicted connections leave the count on their own threads: let them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut viewer = connect(server.addr).await;
    assert_eq!(get_keep_alive(&mut viewer, "/healthz").await.0, 200);
    server.stop().await;
}

/// A TLS client that trusts exactly `cert_pem` (the test server's self-signed certificate,
/// which webpki would refuse as a CA used as end entity), offering http/1.1 only.
fn tls_connector(cert_pem: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_slice(cert_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Accepts the one pinned certificate, with the provider's signature checks.
#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let stream = connector
        .connect(name, connect(addr).await)
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_timed_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tls_addr) =
        TestServer::start_with_tls(config_with(TIMEOUT, 100), dir.path()).await;
    let connector = tls_connector(&std::fs::read(dir.path().join("cert.pem")).unwrap());
    let mut s = connect(tls_addr).await;
    assert_closed_after_timeout(&mut s, Instant::now(), TIMEOUT, "silent TLS socket").await;
    // A handshake begun and left: a TLS record header, then nothing.
    let mut s = connect(tls_addr).await;
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
    assert_closed_after_timeout(&mut s, Instant::now(), TIMEOUT, "stalled handshake").await;
    // A handshake completed, then nothing: no request head.
    let connected = Instant::now();
    let mut s = tls_connect(&connector, tls_addr).await;
    assert_closed_after_timeout(&mut s, connected, TIMEOUT, "silent after handshake").await;
    // HTTP/1.1 over TLS: served, then closed when idle for the timeout.
    let mut s = tls_connect(&connector, tls_addr).await;
    for _ in 0..3 {
        assert_eq!(get_keep_alive(&mut s, "/healthz").await.0, 200);
        tokio::time::sleep(TIMEOUT / 2).await;
    }
    let answered = Instant::now();
    assert_eq!(get_keep_alive(&mut s, "/healthz").await.0, 200);
    assert_closed_after_timeout(&mut s, answered, TIMEOUT, "idle TLS keep-alive").await;
    server.stop().await;
}

/// `text` without terminal colour sequences (ESC [ ... m).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The real binary under an open-file limit of 256: 600 silent sockets neither exhaust its
/// descriptors nor keep `/healthz` and a viewer from being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_exhaustion_attempt_leaves_healthz_and_viewers_answered() {
    const PRLIMIT: &str = "/usr/bin/prlimit";
    assert!(
        std::path::Path::new(PRLIMIT).exists(),
        "{PRLIMIT} (util-linux) is needed"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hlsd.toml");
    std::fs::write(&file, config_toml(&config())).unwrap();
    let mut child = tokio::process::Command::new(PRLIMIT)
        .arg("--nofile=256:256")
        .arg(env!("CARGO_BIN_EXE_hlsd"))
        .arg("--config")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn prlimit hlsd");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let stderr = child.stderr.take().unwrap();
    let lines = log.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut tx = Some(tx);
        let mut rd = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = rd.next_line().await {
            eprintln!("[hlsd] {line}");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let (Ok(a), Some(t)) = (addr.parse::<SocketAddr>(), tx.take()) {
                    let _ = t.send(a);
                }
            }
            lines.lock().unwrap().push(line);
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .expect("hlsd did not say where it listens within 20 s")
        .expect("hlsd exited before listening");
    let pushed = push(addr, synth(75), Push::new("cam")).await;
    assert_eq!(pushed.status, Some(200));

    let mut silent = Vec::new();
    for _ in 0..600 {
        silent.push(connect(addr).await);
    }
    let mut viewer = connect(addr).await;
    assert_eq!(get_keep_alive(&mut viewer, "/healthz").await.0, 200);
    let (status, body) = get_keep_alive(&mut viewer, "/live/cam/main/media.m3u8").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("#EXTINF"));
    assert_eq!(get(&format!("http://{addr}/healthz")).await.status, 200);

    let log = strip_ansi(&log.lock().unwrap().join("\n"));
    assert!(
        log.contains("limit=192"),
        "effective limit not 256 - 64:\n{log}"
    );
    assert!(!log.contains("Too many open files"), "{log}");
    drop(silent);
    child.kill().await.unwrap();
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// An HTTP/1.1 publish is served on an ingest runtime's thread (the session's task with it)
/// and answered as on the shared runtime; other requests are not moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_publishers_are_served_on_an_ingest_runtime() {
    let server = TestServer::start(config_with(TIMEOUT, 100)).await;
    let mut s = connect(server.addr).await;
    assert_eq!(get_keep_alive(&mut s, "/healthz").await.0, 200);
    let mut s = connect(server.addr).await;
    let head = format!(
        "POST /ingest/moved HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in synth(50).chunks(7 * 188) {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(chunk).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    // The ingest runtimes' threads are made for the first publisher's connection.
    let names = thread_names();
    assert!(
        names.iter().any(|n| n.starts_with("hlsd-ingest-")),
        "{names:?}"
    );
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}
