//! hlsd with an SRT listener; ffmpeg (libsrt) and srt-tokio's caller as SRT publishers; a
//! lossy UDP relay.

use super::*;
use futures_util::SinkExt;
use srt_protocol::packet::RejectReason;
use srt_protocol::protocol::pending_connection::ConnectionReject;
use srt_tokio::SrtSocket;

impl TestServer {
    /// hlsd with its plain listener and an SRT one (both on 127.0.0.1:0); returns the
    /// server and the SRT address.
    pub async fn start_with_srt(config: Config) -> (TestServer, SocketAddr) {
        let srt = hlsd::srt::bind("127.0.0.1:0").await.unwrap();
        let srt_addr = srt.local_addr().unwrap();
        let options = hlsd::RunOptions {
            srt: Some(srt),
            ..hlsd::RunOptions::default()
        };
        (Self::start_with_options(config, options).await, srt_addr)
    }

    /// hlsd with its plain listener, an RTMP and an SRT one (all on 127.0.0.1:0); returns
    /// the server, the RTMP address and the SRT address.
    pub async fn start_with_rtmp_and_srt(config: Config) -> (TestServer, SocketAddr, SocketAddr) {
        let rtmp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rtmp_addr = rtmp.local_addr().unwrap();
        let srt = hlsd::srt::bind("127.0.0.1:0").await.unwrap();
        let srt_addr = srt.local_addr().unwrap();
        let options = hlsd::RunOptions {
            rtmp: Some(rtmp),
            srt: Some(srt),
            ..hlsd::RunOptions::default()
        };
        (
            Self::start_with_options(config, options).await,
            rtmp_addr,
            srt_addr,
        )
    }
}

/// `srt://ADDR?streamid=SID&OPTIONS`, the stream ID as it is (ffmpeg 5.1 does not
/// percent-decode it).
pub fn srt_url(addr: SocketAddr, stream_id: &str, options: &str) -> String {
    let mut url = format!("srt://{addr}?streamid={stream_id}");
    if !options.is_empty() {
        url.push('&');
        url.push_str(options);
    }
    url
}

/// `ffmpeg -re -i INPUT -c copy [EXTRA] -f mpegts URL`, its stderr captured. In SRT's live
/// mode libsrt drops what it has not sent when the socket closes, unless the URL sets
/// `linger`; and a publisher faster than real time loses what does not fit its buffers.
pub fn ffmpeg_srt(input: &Path, url: &str, extra: &[&str]) -> tokio::process::Child {
    let mut cmd = tool("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-re"]);
    cmd.arg("-i")
        .arg(input)
        .args(["-c", "copy"])
        .args(extra)
        .args(["-f", "mpegts"])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("ffmpeg not found: install ffmpeg")
}

/// What ffmpeg's MPEG-TS muxer makes of `input` (`-c copy [EXTRA] -f mpegts`, to a file):
/// the bytes an ffmpeg SRT publisher of it sends.
pub fn ffmpeg_remuxed(input: &Path, extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("remuxed.ts");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-c", "copy"])
        .args(extra)
        .args(["-f", "mpegts"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    std::fs::read(&out).unwrap()
}

/// How an srt-tokio caller's connection attempt went: connected, or the rejection code a
/// libsrt caller reports (`srt_getrejectreason`: 1000 less than the wire value), or
/// another failure.
pub async fn srt_call(
    addr: SocketAddr,
    stream_id: &str,
    passphrase: Option<&str>,
) -> Result<SrtSocket, Result<i32, String>> {
    let mut b = SrtSocket::builder().latency(Duration::from_millis(120));
    if let Some(p) = passphrase {
        b = b.encryption(16, p);
    }
    let called = tokio::time::timeout(
        Duration::from_secs(10),
        b.call(addr.to_string().as_str(), Some(stream_id)),
    )
    .await
    .expect("no answer to the SRT call within 10 s");
    called.map_err(|e| {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ConnectionReject>())
        {
            Some(ConnectionReject::Rejected(r)) => Ok(i32::from(*r) - 1000),
            _ => Err(e.to_string()),
        }
    })
}

/// The code of a rejection as srt-tokio names it, for messages.
pub fn reason_name(code: i32) -> String {
    format!("{:?}", RejectReason::try_from(code + 1000))
}

/// Sends `data` as SRT messages of `size` bytes (the last one shorter), `per_second`
/// bytes a second (0: as fast as the socket takes them), then closes.
pub async fn srt_send(mut socket: SrtSocket, data: &[u8], size: usize, per_second: usize) {
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    for chunk in data.chunks(size) {
        if per_second > 0 {
            let due = start + Duration::from_secs_f64(sent as f64 / per_second as f64);
            tokio::time::sleep_until(due).await;
        }
        socket
            .send((Instant::now(), Bytes::copy_from_slice(chunk)))
            .await
            .expect("SRT send");
        sent += chunk.len();
    }
    socket.close().await.expect("SRT close");
}

/// A UDP relay between SRT callers and `upstream`: drops `loss` of the datagrams and
/// delays the others by `delay`, each way. Returns the address callers call.
pub async fn lossy_relay(upstream: SocketAddr, loss: f64, delay: Duration) -> SocketAddr {
    use std::sync::Arc;
    use tokio::net::UdpSocket;
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(upstream).await.unwrap();
    let caller: Arc<std::sync::Mutex<Option<SocketAddr>>> = Default::default();
    // A fixed-seed xorshift: the same drops in every run.
    let dropper = |seed: u64| {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1_000_000) as f64 / 1_000_000.0 < loss
        }
    };
    {
        let (front, back, caller) = (front.clone(), back.clone(), caller.clone());
        let mut drop_it = dropper(0x9e37_79b9_7f4a_7c15);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *caller.lock().unwrap() = Some(from);
                if drop_it() {
                    continue;
                }
                let (back, data) = (back.clone(), buf[..n].to_vec());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = back.send(&data).await;
                });
            }
        });
    }
    let mut drop_it = dropper(0x2545_f491_4f6c_dd1d);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = back.recv(&mut buf).await {
            let Some(to) = *caller.lock().unwrap() else {
                continue;
            };
            if drop_it() {
                continue;
            }
            let (front, data) = (front.clone(), buf[..n].to_vec());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = front.send_to(&data, to).await;
            });
        }
    });
    addr
}
