//! GET and other requests with reqwest, and their answers.

use super::*;

/// A fresh client (a reqwest client belongs to the runtime it was first used on).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = http().request(m, url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{method} {url} body: {e}"));
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str) -> Resp {
    request("GET", url, &[]).await
}

/// `/api/feeds/{feed}` as JSON, or `None` when the feed is unknown.
pub async fn feed_json(server: &TestServer, feed: &str) -> Option<serde_json::Value> {
    let r = get(&server.url(&format!("/api/feeds/{feed}"))).await;
    (r.status == 200).then(|| serde_json::from_slice(&r.body).expect("JSON"))
}

/// The first rendition's publisher protocol, once the feed has one.
pub async fn publisher_protocol(server: &TestServer, feed: &str) -> String {
    eventually(Duration::from_secs(15), "a publisher", || async {
        let v = feed_json(server, feed).await?;
        v["renditions"][0]["publisher"]["protocol"]
            .as_str()
            .map(String::from)
    })
    .await
}

/// Waits (10 s at most) until the feed's `state` is `state`, and returns its JSON.
pub async fn wait_state(server: &TestServer, feed: &str, state: &str) -> serde_json::Value {
    eventually(Duration::from_secs(10), state, || async {
        feed_json(server, feed)
            .await
            .filter(|v| v["state"] == state)
    })
    .await
}

/// An HTTP/2 client connection with prior knowledge; the connection task reports when the
/// server closed it.
pub async fn h2c(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Full<Bytes>>,
    tokio::task::JoinHandle<Instant>,
) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).unwrap();
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
    let done = tokio::spawn(async move {
        let _ = conn.await;
        Instant::now()
    });
    (send, done)
}

pub async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<Bytes>>,
    url: &str,
) -> (u16, Bytes) {
    use http_body_util::BodyExt;
    let req = hyper::Request::get(url)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let res = send.send_request(req).await.expect("h2 request");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("h2 body").to_bytes();
    (status, body)
}
