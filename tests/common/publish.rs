//! A raw HTTP/1.1 publisher: chunked or Content-Length pushes, paced, cut short, held.

use super::*;

/// What the publisher does once it has sent its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Ends the body (terminating chunk) and reads the response.
    Finish,
    /// Closes the socket without ending the body.
    Drop,
    /// Stays connected and silent until the server answers or closes.
    Hold,
}

/// A push of bytes to `/ingest/...` over a raw TCP connection.
#[derive(Debug, Clone)]
pub struct Push {
    pub path: String,
    pub method: &'static str,
    /// Bytes of media per HTTP chunk (or per write with Content-Length).
    pub chunk: usize,
    pub content_length: bool,
    /// Bytes per second; `None` sends as fast as possible.
    pub rate: Option<f64>,
    /// (body offset, pause): pause once that many body bytes were sent.
    pub pauses: Vec<(usize, Duration)>,
    /// Sends only this many body bytes.
    pub stop_at: Option<usize>,
    pub end: End,
    pub headers: Vec<(String, String)>,
}

impl Push {
    pub fn new(feed: &str) -> Push {
        Push::path(&format!("/ingest/{feed}"))
    }

    pub fn path(path: &str) -> Push {
        Push {
            path: path.to_string(),
            method: "POST",
            chunk: 65536,
            content_length: false,
            rate: None,
            pauses: Vec::new(),
            stop_at: None,
            end: End::Finish,
            headers: Vec::new(),
        }
    }

    pub fn chunk(mut self, n: usize) -> Push {
        self.chunk = n.max(1);
        self
    }

    pub fn content_length(mut self) -> Push {
        self.content_length = true;
        self
    }

    pub fn method(mut self, m: &'static str) -> Push {
        self.method = m;
        self
    }

    /// Paces the push so that `data` takes about `seconds` (roughly real time for a fixture).
    /// Chunks become at most 7 packets, as encoders send them (a later `chunk` overrides).
    pub fn paced(mut self, data: &[u8], seconds: f64) -> Push {
        self.rate = Some(data.len() as f64 / seconds);
        self.chunk = self.chunk.min(7 * ts::PACKET);
        self
    }

    pub fn pause_at(mut self, offset: usize, d: Duration) -> Push {
        self.pauses.push((offset, d));
        self.pauses.sort_by_key(|p| p.0);
        self
    }

    pub fn stop_at(mut self, offset: usize) -> Push {
        self.stop_at = Some(offset);
        self
    }

    pub fn end(mut self, e: End) -> Push {
        self.end = e;
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Push {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Pushed {
    /// The response status, if a response came.
    pub status: Option<u16>,
    /// The response head (status line and headers), lower-cased.
    pub head: String,
    /// Whether a write failed (the server closed or reset the connection).
    pub write_failed: bool,
    /// Body bytes sent.
    pub sent: usize,
    /// Time from the last byte sent to the end of the exchange (response or close).
    pub after_send: Duration,
}

impl Pushed {
    pub fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    }
}

/// Reads a response head; returns (status, head) or (None, partial) when the peer closed.
pub(crate) async fn read_head(rd: &mut tokio::net::tcp::OwnedReadHalf) -> (Option<u16>, String) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
            return (status, head);
        }
        match rd.read(&mut tmp).await {
            Ok(0) | Err(_) => return (None, String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// Pushes `data` as described by `p` and reports how the exchange ended.
pub async fn push(addr: SocketAddr, data: Bytes, p: Push) -> Pushed {
    let stream = TcpStream::connect(addr).await.expect("connect to hlsd");
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move { read_head(&mut rd).await });

    let end = p.stop_at.unwrap_or(data.len()).min(data.len());
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: video/mp2t\r\n",
        p.method, p.path, addr
    );
    if p.content_length {
        head.push_str(&format!("Content-Length: {}\r\n", data.len()));
    } else {
        head.push_str("Transfer-Encoding: chunked\r\n");
    }
    for (k, v) in &p.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");

    let start = Instant::now();
    let mut write_failed = wr.write_all(head.as_bytes()).await.is_err();
    // Flush at most every 64 KB, and every ~20 ms of media when paced.
    let flush_at = match p.rate {
        Some(r) => ((r * 0.02) as usize).clamp(188, 65536),
        None => 65536,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(70_000);
    let mut off = 0;
    let mut pause_idx = 0;
    while off < end && !write_failed {
        let n = p.chunk.min(end - off);
        if p.content_length {
            buf.extend_from_slice(&data[off..off + n]);
        } else {
            buf.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            buf.extend_from_slice(&data[off..off + n]);
            buf.extend_from_slice(b"\r\n");
        }
        off += n;
        let pause = p
            .pauses
            .get(pause_idx)
            .filter(|(o, _)| off >= *o)
            .map(|(_, d)| *d);
        if buf.len() >= flush_at || off == end || pause.is_some() {
            if wr.write_all(&buf).await.is_err() {
                write_failed = true;
            }
            buf.clear();
            if reader.is_finished() {
                break; // the server answered before the body ended
            }
            if let Some(d) = pause {
                pause_idx += 1;
                tokio::time::sleep(d).await;
            }
            if let Some(rate) = p.rate {
                tokio::time::sleep_until(
                    (start + Duration::from_secs_f64(off as f64 / rate)).into(),
                )
                .await;
            }
        }
    }
    let sent_at = Instant::now();
    if !write_failed && !reader.is_finished() {
        match p.end {
            End::Finish => {
                if !p.content_length && wr.write_all(b"0\r\n\r\n").await.is_err() {
                    write_failed = true;
                }
            }
            End::Drop => {
                reader.abort();
                drop(wr);
                return Pushed {
                    status: None,
                    head: String::new(),
                    write_failed,
                    sent: off,
                    after_send: Duration::ZERO,
                };
            }
            End::Hold => {}
        }
    }
    let (status, head) = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no response nor close within 30 s after pushing {} to {}",
                off, p.path
            )
        })
        .expect("reader task");
    drop(wr);
    Pushed {
        status,
        head,
        write_failed,
        sent: off,
        after_send: sent_at.elapsed(),
    }
}

/// Starts a push in the background.
pub fn spawn_push(addr: SocketAddr, data: Bytes, p: Push) -> JoinHandle<Pushed> {
    tokio::spawn(push(addr, data, p))
}

/// Cuts `data` at a packet boundary near `fraction` of its length.
pub fn packet_boundary(data: &[u8], fraction: f64) -> usize {
    ((data.len() as f64 * fraction) as usize / ts::PACKET) * ts::PACKET
}
