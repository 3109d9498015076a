//! The push client: publishes the passes of a [`LoopRewriter`] like an encoder would, as one
//! HTTP/1.1 chunked `POST` (RFC 9112 §7.1) on a plain TCP connection, paced in real time by
//! the file's clock unless told to go fast. The server's answer is read while sending, so a
//! refusal (409, 415, 503...) ends the push at once.

use super::rewrite::{Checkpoint, LoopRewriter};
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the answer once the body has ended (plus, unpaced, the media
/// duration sent).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 4 * 1024;

/// Where to push: parsed from `http://HOST[:PORT]/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to.
    pub connect: String,
    /// The Host header.
    pub host: String,
    pub path: String,
    /// Sent as `Authorization: Bearer KEY`.
    pub key: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, PushError> {
        let bad = || PushError::BadUrl(crate::http::redact::redact_query(url).into_owned());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
            return Err(bad());
        }
        // A port is present when the text after the last ':' is digits and not inside an
        // IPv6 literal's brackets.
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && !p.contains(']') && p.parse::<u16>().is_ok());
        let connect = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            connect,
            host: authority.to_string(),
            path: path.to_string(),
            key: None,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Play the file again and again, seamlessly.
    pub looped: bool,
    /// Send as fast as the connection takes, without pacing.
    pub fast: bool,
    /// Largest HTTP chunk, in bytes.
    pub chunk: usize,
    /// Every chunk exactly `chunk` bytes (the body's last may be shorter): bytes that are
    /// due wait until a chunk is full, as from an encoder writing a fixed-size buffer.
    pub exact: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            looped: false,
            fast: false,
            chunk: 64 * 1024,
            exact: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("bad URL {0:?}: expected http://HOST[:PORT]/PATH")]
    BadUrl(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server refused the push: {status} {body}")]
    Refused { status: u16, body: String },
    #[error("the server sent no valid HTTP answer")]
    BadAnswer,
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The whole body was sent and the server accepted it.
    Done {
        status: u16,
        passes: u64,
        bytes: u64,
    },
    /// `stop` fired: the body was ended early.
    Stopped { passes: u64, bytes: u64 },
}

/// Pushes passes of `rw` to `target` until the file ends (or forever with `looped`), the
/// server answers, or `stop` completes.
pub async fn push(
    rw: &mut LoopRewriter,
    target: &Target,
    opts: &PushOptions,
    stop: impl Future<Output = ()>,
) -> Result<Outcome, PushError> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&target.connect)).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => return Err(connect_error(target, source)),
        Err(_) => {
            let source = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
            return Err(connect_error(target, source));
        }
    };
    // An encoder wants each chunk on the wire now, not after Nagle's delay.
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let auth = target
        .key
        .as_ref()
        .map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hlsd-push/{}\r\n{auth}\
         Content-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    );
    writer.write_all(head.as_bytes()).await?;
    let mut sent = Sent::default();
    let mut chunker = Chunker::new(opts);
    let answer = read_answer(&mut reader);
    tokio::pin!(answer, stop);
    // A 2xx answer before the body ends accepts the stream as it comes (ffmpeg's `-listen`
    // server answers at once): keep sending. Any other answer ends the push.
    let mut early = None;
    let step = {
        let body = send_passes(rw, &mut writer, opts, &mut chunker, &mut sent);
        tokio::pin!(body);
        loop {
            tokio::select! {
                r = &mut body => break Step::BodyDone(r),
                a = &mut answer, if early.is_none() => match a {
                    Ok(a) if accepted(a.0) => {
                        info!(status = a.0, "the server accepted the stream before its end; sending on");
                        early = Some(a);
                    }
                    a => break Step::Answered(a),
                },
                () = &mut stop => break Step::Stopped,
            }
        }
    };
    match step {
        // The server had accepted the stream, then the connection broke.
        Step::BodyDone(Err(e)) if early.is_some() => return Err(e.into()),
        Step::BodyDone(Err(e)) => {
            // A server that refuses a publish answers and closes at once, so sending may
            // fail first: its answer, when there is one, says more than the broken pipe.
            // A 2xx means it had accepted the stream: then the connection was lost.
            return match timeout(Duration::from_secs(2), answer).await {
                Ok(Ok(a)) if !accepted(a.0) => answered(a, &sent),
                _ => Err(e.into()),
            };
        }
        Step::BodyDone(Ok(())) => {}
        Step::Answered(a) => return answered(a?, &sent),
        Step::Stopped => {
            // The server sees a clean end of the body and flushes the last segment.
            chunker.flush(&mut writer).await?;
            writer.write_all(b"0\r\n\r\n").await?;
            let _ = writer.shutdown().await;
            return Ok(Outcome::Stopped {
                passes: sent.passes,
                bytes: sent.bytes,
            });
        }
    }
    writer.write_all(b"0\r\n\r\n").await?;
    if let Some(a) = early {
        let _ = writer.shutdown().await;
        return answered(a, &sent);
    }
    // Unpaced, the body may sit in socket buffers while a server that paces its ingest
    // (hlsd's `limits.max_ingest_speed`, at least real time) reads it: at most the media
    // sent, on top of the usual wait.
    let wait = if opts.fast {
        let media = rw.duration().secs().max(0.0) * sent.passes as f64;
        ANSWER_TIMEOUT + Duration::from_secs_f64(media.min(86_400.0))
    } else {
        ANSWER_TIMEOUT
    };
    match timeout(wait, answer).await {
        Ok(a) => answered(a?, &sent),
        Err(_) => Err(PushError::BadAnswer),
    }
}

/// A 2xx answer: the server takes the stream.
fn accepted(status: u16) -> bool {
    (200..300).contains(&status)
}

fn connect_error(target: &Target, source: std::io::Error) -> PushError {
    PushError::Connect {
        addr: target.connect.clone(),
        source,
    }
}

fn answered((status, body): (u16, String), sent: &Sent) -> Result<Outcome, PushError> {
    if accepted(status) {
        Ok(Outcome::Done {
            status,
            passes: sent.passes,
            bytes: sent.bytes,
        })
    } else {
        Err(PushError::Refused { status, body })
    }
}

enum Step {
    BodyDone(std::io::Result<()>),
    Answered(Result<(u16, String), PushError>),
    Stopped,
}

#[derive(Default)]
struct Sent {
    passes: u64,
    bytes: u64,
}

async fn send_passes(
    rw: &mut LoopRewriter,
    writer: &mut OwnedWriteHalf,
    opts: &PushOptions,
    chunker: &mut Chunker,
    sent: &mut Sent,
) -> std::io::Result<()> {
    let schedule: Vec<Checkpoint> = rw.schedule().to_vec();
    let pass_len = Duration::from_secs_f64(rw.duration().secs().max(0.0));
    let start = Instant::now();
    // The first pass is the file itself (no copy), so the body starts with the request.
    let mut data = rw.next_pass();
    for n in 0u32.. {
        let pass_start = start + pass_len * n;
        let mut from = 0;
        for cp in &schedule {
            if !opts.fast {
                sleep_until(pass_start + Duration::from_secs_f64(cp.at.secs())).await;
            }
            let end = cp.end.min(data.len());
            chunker.write(writer, &data[from.min(end)..end]).await?;
            from = from.max(end);
        }
        chunker.write(writer, &data[from.min(data.len())..]).await?;
        sent.passes += 1;
        sent.bytes += data.len() as u64;
        debug!(pass = sent.passes, bytes = sent.bytes, "pass sent");
        if sent.passes == 1 || sent.passes.is_power_of_two() {
            info!(passes = sent.passes, bytes = sent.bytes, "pushing");
        }
        if !opts.looped {
            break;
        }
        // The next pass is made while this one's time runs out.
        data = rw.next_pass();
        if !opts.fast {
            // The next pass starts when this one's time is up.
            sleep_until(pass_start + pass_len).await;
        }
    }
    chunker.flush(writer).await
}

/// Cuts the body into HTTP chunks of at most (with `exact`, exactly) `max` bytes, each sent
/// with one write.
struct Chunker {
    max: usize,
    exact: bool,
    /// With `exact`: due bytes waiting for a full chunk.
    carry: Vec<u8>,
    buf: Vec<u8>,
}

impl Chunker {
    fn new(opts: &PushOptions) -> Chunker {
        let max = opts.chunk.max(1);
        Chunker {
            max,
            exact: opts.exact,
            carry: Vec::with_capacity(if opts.exact { max } else { 0 }),
            buf: Vec::with_capacity(max + 16),
        }
    }

    async fn write(&mut self, writer: &mut OwnedWriteHalf, mut data: &[u8]) -> std::io::Result<()> {
        if !self.exact {
            return self.chunks(writer, data).await;
        }
        if !self.carry.is_empty() {
            let take = (self.max - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() < self.max {
                return Ok(());
            }
            let carry = std::mem::take(&mut self.carry);
            self.chunks(writer, &carry).await?;
            self.carry = carry;
            self.carry.clear();
        }
        let full = data.len() / self.max * self.max;
        self.chunks(writer, &data[..full]).await?;
        self.carry.extend_from_slice(&data[full..]);
        Ok(())
    }

    /// Sends what waits for a full chunk (the body's end).
    async fn flush(&mut self, writer: &mut OwnedWriteHalf) -> std::io::Result<()> {
        let carry = std::mem::take(&mut self.carry);
        self.chunks(writer, &carry).await
    }

    async fn chunks(&mut self, writer: &mut OwnedWriteHalf, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        // Chunks smaller than a TS packet go several to a write (up to 64 KiB): a write per
        // chunk would bound the pusher, not the server.
        let per_write = if self.max < 188 {
            64 * 1024 / (self.max + 8)
        } else {
            1
        };
        for group in data.chunks(self.max * per_write) {
            self.buf.clear();
            for piece in group.chunks(self.max) {
                write!(self.buf, "{:x}\r\n", piece.len())?;
                self.buf.extend_from_slice(piece);
                self.buf.extend_from_slice(b"\r\n");
            }
            writer.write_all(&self.buf).await?;
        }
        Ok(())
    }
}

/// Reads the server's answer: status code and (the start of) the body text.
async fn read_answer(reader: &mut OwnedReadHalf) -> Result<(u16, String), PushError> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(PushError::BadAnswer);
        }
        let mut tmp = [0u8; 4096];
        let n = reader.read(&mut tmp).await?;
        if n == 0 {
            return Err(PushError::BadAnswer);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(PushError::BadAnswer)?;
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = buf[head_end + 4..].to_vec();
    let want = length.unwrap_or(MAX_BODY).min(MAX_BODY);
    // The body is only for messages: read what comes within a moment.
    let _ = timeout(Duration::from_secs(2), async {
        while body.len() < want {
            let mut tmp = [0u8; 1024];
            match reader.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&tmp[..n]),
            }
        }
    })
    .await;
    body.truncate(want);
    Ok((status, String::from_utf8_lossy(&body).trim().to_string()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/ingest/demo").unwrap();
        assert_eq!(
            (t.connect.as_str(), t.host.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "127.0.0.1:8080", "/ingest/demo")
        );
        let t = Target::parse("http://example.org/ingest/x").unwrap();
        assert_eq!(t.connect, "example.org:80");
        let t = Target::parse("http://[::1]:9000/ingest/x").unwrap();
        assert_eq!(t.connect, "[::1]:9000");
        let t = Target::parse("http://[::1]/ingest/x").unwrap();
        assert_eq!(t.connect, "[::1]:80");
        for bad in [
            "https://a/b",
            "a/b",
            "http:///x",
            "http://u@h/x",
            "http://h/a b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
