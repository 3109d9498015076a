//! The HTTP stack alone, for bench/serving.sh: what tokio and hyper cost per answer with no
//! hlsd in between. It serves connections as hlsd does (tokio's multi-threaded runtime, one
//! worker per CPU it may run on, `hlsd::serve::builder`: hyper-util's `auto` connection with
//! hlsd's timers, HTTP/2 limits and executor) and answers every request with one fixed
//! answer: the body of BODY_FILE and the header lines of HEADERS_FILE (`Name: value`, as
//! `curl -D` writes them; the status line, `date`, `content-length` and `transfer-encoding`
//! are skipped, hyper writes its own), so its answers are hlsd's, byte for byte but for the
//! date and any per-request header's value.
//!
//!     cargo run --release --example http_floor -- 127.0.0.1:8099 BODY_FILE [HEADERS_FILE]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(body_file)) = (args.next(), args.next()) else {
        eprintln!("usage: http_floor ADDR BODY_FILE [HEADERS_FILE]");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&body_file)?);
    let headers = match args.next() {
        Some(f) => header_lines(&std::fs::read_to_string(f)?),
        None => HeaderMap::new(),
    };
    let answer = Arc::new((body, headers));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("http_floor listening on {}", listener.local_addr()?);
    let builder = Arc::new(hlsd::serve::builder(Duration::from_secs(10)));
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (builder, answer) = (builder.clone(), answer.clone());
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let (body, headers) = &*answer;
                let mut res = Response::new(Full::new(body.clone()));
                *res.headers_mut() = headers.clone();
                async move { Ok::<_, Infallible>(res) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The header lines of `text` that describe the answer, not its framing or its time.
fn header_lines(text: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "date" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.trim()),
        ) {
            map.append(n, v);
        }
    }
    map
}
