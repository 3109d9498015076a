//! A hand-written HTTP/1.1 client for the benchmarks (included with `#[path]` by `blocking`
//! and `viewers`): one keep-alive connection, `GET`s answered with a Content-Length body.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status and Content-Length of an answer's head (the bytes before the blank line).
pub fn response_head(head: &[u8]) -> (u16, Option<usize>) {
    let text = String::from_utf8_lossy(head);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len = text.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .and_then(|v| v.trim().parse().ok())
    });
    (status, len)
}

/// One answer: its status, the bytes read (head included), and its body when kept.
pub struct Got {
    pub status: u16,
    #[allow(dead_code)] // counted by `viewers` only
    pub bytes: u64,
    pub body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection that reads Content-Length answers.
pub struct Conn {
    sock: TcpStream,
    host: String,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let sock = TcpStream::connect(addr).await?;
        sock.set_nodelay(true)?;
        Ok(Conn {
            sock,
            host: addr.to_string(),
        })
    }

    /// GETs `path`; the body is kept only with `keep` (segments need only be counted).
    pub async fn get(&mut self, path: &str, keep: bool) -> std::io::Result<Got> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.sock.write_all(req.as_bytes()).await?;
        // A scratch buffer per request, not per connection: 10 000 idle viewers hold none.
        let mut scratch = vec![0u8; 64 << 10];
        let mut head = Vec::with_capacity(1024);
        let (end, status, len) = loop {
            let n = self.sock.read(&mut scratch).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.extend_from_slice(&scratch[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let (status, len) = response_head(&head[..end]);
                let len = len.ok_or(std::io::ErrorKind::InvalidData)?;
                break (end + 4, status, len);
            }
            if head.len() > 64 << 10 {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
        };
        let mut body = if keep {
            head[end..].to_vec()
        } else {
            Vec::new()
        };
        let mut got = head.len() - end;
        while got < len {
            let want = (len - got).min(scratch.len());
            let n = self.sock.read(&mut scratch[..want]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if keep {
                body.extend_from_slice(&scratch[..n]);
            }
            got += n;
        }
        if got > len {
            // Nothing may follow an answer on a connection without pipelining.
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        Ok(Got {
            status,
            bytes: (end + len) as u64,
            body,
        })
    }
}
