//! A handler that panics (`/test/panic` and `/live/test/panic`, in unit-test builds only)
//! answers 500 with the request's id (and CORS on playback), the panic is logged, and the
//! connection serves its next request: hlsd on 127.0.0.1:0, one raw HTTP/1.1 keep-alive
//! connection.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads one answer with a Content-Length body: (head, body).
async fn answer(sock: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a content-length");
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return (head, body);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

// One thread: the thread-local subscriber sees the server's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_answers_500_and_the_connection_lives_on() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = crate::Config {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    config.demo.enabled = false;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::run(listener, config, async move {
        let _ = stopped.await;
    }));

    let mut sock = TcpStream::connect(addr).await.unwrap();
    for (path, cors) in [("/test/panic", false), ("/live/test/panic", true)] {
        let req = format!("GET {path} HTTP/1.1\r\nhost: h\r\nx-request-id: panic-1\r\n\r\n");
        sock.write_all(req.as_bytes()).await.unwrap();
        let (head, body) = answer(&mut sock).await;
        let lower = head.to_ascii_lowercase();
        assert!(head.starts_with("HTTP/1.1 500"), "{path}: {head}");
        assert!(lower.contains("x-request-id: panic-1"), "{path}: {head}");
        assert_eq!(
            lower.contains("access-control-allow-origin: *"),
            cors,
            "{path}: {head}"
        );
        assert_eq!(body, "internal error\n", "{path}");
        sock.write_all(b"GET /healthz HTTP/1.1\r\nhost: h\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = answer(&mut sock).await;
        assert!(head.starts_with("HTTP/1.1 200"), "after {path}: {head}");
        assert_eq!(body, "ok\n");
    }

    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    for msg in ["a handler panicked", "a playback handler panicked"] {
        assert!(
            text.lines().any(|l| l.contains("ERROR")
                && l.contains("request_id=panic-1")
                && l.contains(msg)),
            "{msg:?} is not logged in its request's span:\n{text}"
        );
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
