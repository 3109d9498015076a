//! Shared harness of the integration tests: an in-process hlsd on 127.0.0.1:0, fixtures made
//! once with real ffmpeg, raw HTTP/1.1 publishers, GET helpers, playlist checks (m3u8-rs),
//! ffprobe/ffmpeg wrappers and an independent TS reader (`ts`).
//!
//! Every test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod ts;

use bytes::Bytes;
use m3u8_rs::{MediaPlaylist, Playlist};
use reqwest::Url;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use hlsd::Config;

/// Proxy variables that would send ffmpeg or reqwest traffic for 127.0.0.1 elsewhere.
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// The configuration tests start from: short segments, a window that keeps every segment
/// listed, LL-HLS off, short grace so that ENDLIST comes quickly, no demo feed.
pub fn config() -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    c.hls.segment_duration = 1.0;
    c.hls.window = 1000;
    c.hls.part_duration = 0.0;
    c.hls.target_duration = None;
    c.feeds.max_feeds = 16;
    c.feeds.reconnect_grace = 0.5;
    c.feeds.idle_timeout = 3.0;
    c.feeds.linger = 30.0;
    c.demo.enabled = false;
    c
}

/// hlsd running in this process, stopped through its shutdown future.
pub struct TestServer {
    pub addr: SocketAddr,
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        Self::start_with_options(config, hlsd::RunOptions::default()).await
    }

    /// hlsd on 127.0.0.1:0 with `options` (pre-bound RTMP/SRT listeners, TLS, auth updates).
    pub async fn start_with_options(config: Config, options: hlsd::RunOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let task = tokio::spawn(hlsd::run_with(listener, config, options, shutdown));
        TestServer {
            addr,
            stop_tx: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn index_url(&self, feed: &str) -> String {
        self.url(&format!("/live/{feed}/index.m3u8"))
    }

    pub fn media_url(&self, feed: &str) -> String {
        self.url(&format!("/live/{feed}/main/media.m3u8"))
    }

    /// Triggers shutdown and waits (bounded) for `run` to return Ok.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("hlsd::run did not return within 10 s of shutdown");
        res.expect("hlsd::run panicked")
            .expect("hlsd::run returned an error");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

/// `/metrics` parsed (answered 200 as Prometheus text).
pub async fn scrape(server: &TestServer) -> prometheus_parse::Scrape {
    let r = get(&server.url("/metrics")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = r.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text")
}

/// The value of a counter or gauge sample with these labels (0 when absent), or the count
/// of a histogram.
pub fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    s.samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            V::Counter(v) | V::Gauge(v) | V::Untyped(v) => *v,
            V::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            V::Summary(_) => f64::NAN,
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------

/// Polls `f` every 50 ms until it yields `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures (real ffmpeg, made once per test binary run, cached in CARGO_TARGET_TMPDIR)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// 8 s, 320x240 H.264 25 fps, GOP 25 (1 s), 2 B-frames, AAC 48 kHz.
    Main,
    /// 3 s of the same, for the 1-byte-chunk push.
    Short,
    /// 6 s of AAC only.
    AudioOnly,
    /// 12 s, GOP 100 (4 s).
    LongGop,
    /// 10 s, keyframes only at [`IRREGULAR_KEYFRAMES`].
    IrregularGop,
    /// 8 s whose PTS start near 2^33 and wrap about 2.3 s in.
    PtsWrap,
    /// Two 4 s clips concatenated byte-wise; the second starts 30 s later.
    TimestampJump,
    /// 6 s, 320x240 H.265 (libx265) 25 fps, GOP 25, 2 B-frames, AAC 48 kHz.
    Hevc,
    /// 6 s of MP3 only (libmp3lame, 44.1 kHz stereo).
    Mp3,
    /// 4 s, 320x240 H.264 25 fps, GOP 25, 2 B-frames, AC-3 48 kHz stereo.
    Ac3,
    /// Two clips concatenated byte-wise with continuous timestamps: 3 s of [`Fixture::Main`]
    /// (320x240), then 4 s at 640x360 (another SPS) from 3 s on.
    ResolutionChange,
}

/// Keyframe times of [`Fixture::IrregularGop`] (multiples of the 40 ms frame duration).
pub const IRREGULAR_KEYFRAMES: [f64; 7] = [0.0, 0.6, 2.92, 3.32, 5.52, 5.92, 8.0];

const ALL_FIXTURES: usize = 11;
static FIXTURES: [OnceLock<(PathBuf, &'static [u8])>; ALL_FIXTURES] =
    [const { OnceLock::new() }; ALL_FIXTURES];

fn video_args(seconds: u32, gop: u32) -> Vec<String> {
    let s = format!(
        "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t {seconds} \
         -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g {gop} -bf 2 -sc_threshold 0 -c:a aac -b:a 64k"
    );
    s.split_whitespace().map(String::from).collect()
}

fn run_ffmpeg(args: &[String], out: &Path) {
    let output = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y"])
        .args(args)
        .args(["-f", "mpegts"])
        .arg(out)
        .output()
        .expect("ffmpeg not found: install ffmpeg (scripts/test does)");
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hlsd-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn make_fixture(f: Fixture) -> Vec<u8> {
    // Each recipe is a list of ffmpeg invocations whose outputs are concatenated byte-wise.
    let recipes: Vec<Vec<String>> = match f {
        Fixture::Main => vec![video_args(8, 25)],
        Fixture::Short => vec![video_args(3, 25)],
        Fixture::LongGop => vec![video_args(12, 100)],
        Fixture::AudioOnly => vec![
            "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 6 -c:a aac -b:a 64k"
                .split_whitespace()
                .map(String::from)
                .collect(),
        ],
        Fixture::IrregularGop => {
            let mut a = video_args(10, 1000);
            let times: Vec<String> = IRREGULAR_KEYFRAMES.iter().map(|t| format!("{t}")).collect();
            a.extend([
                "-force_key_frames".into(),
                times.join(","),
                "-forced-idr".into(),
                "1".into(),
            ]);
            vec![a]
        }
        Fixture::PtsWrap => {
            let mut a = video_args(8, 25);
            a.extend(["-output_ts_offset".into(), "95440".into()]);
            vec![a]
        }
        Fixture::Hevc => {
            let mut a = video_args(6, 25);
            let at = a.iter().position(|x| x == "libx264").unwrap();
            a[at] = "libx265".into();
            a.extend(["-x265-params".into(), "log-level=error".into()]);
            vec![a]
        }
        Fixture::Mp3 => vec![
            "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 6 -ac 2 -c:a libmp3lame -b:a 128k"
                .split_whitespace()
                .map(String::from)
                .collect(),
        ],
        Fixture::Ac3 => {
            let mut a = video_args(4, 25);
            let aac = a.iter().position(|x| x == "aac").expect("an audio codec");
            a[aac] = "ac3".into();
            a[aac + 2] = "192k".into();
            vec![a]
        }
        Fixture::ResolutionChange => {
            let mut b: Vec<String> = video_args(4, 25)
                .into_iter()
                .map(|a| a.replace("size=320x240", "size=640x360"))
                .collect();
            b.extend(["-output_ts_offset".into(), "3".into()]);
            vec![video_args(3, 25), b]
        }
        Fixture::TimestampJump => {
            let mut b = video_args(4, 25);
            b.extend(["-output_ts_offset".into(), "30".into()]);
            vec![video_args(4, 25), b]
        }
    };
    // The cache key covers the recipe, so changing it regenerates the file.
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        recipes.hash(&mut h);
        h.finish()
    };
    let path = fixture_dir().join(format!("{f:?}-{key:016x}.ts"));
    if let Ok(data) = std::fs::read(&path)
        && !data.is_empty()
    {
        return data;
    }
    let mut data = Vec::new();
    for (i, args) in recipes.iter().enumerate() {
        let part = fixture_dir().join(format!(
            "{f:?}-{key:016x}.part{i}.{}.ts",
            std::process::id()
        ));
        run_ffmpeg(args, &part);
        data.extend(std::fs::read(&part).unwrap());
        let _ = std::fs::remove_file(&part);
    }
    let tmp = fixture_dir().join(format!("{f:?}-{key:016x}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &data).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    data
}

fn fixture_entry(f: Fixture) -> &'static (PathBuf, &'static [u8]) {
    FIXTURES[f as usize].get_or_init(|| {
        let data = make_fixture(f);
        let path = fixture_dir().join(format!("{f:?}.ts"));
        // A stable name beside the cached one, for ffmpeg publishers and for people.
        let tmp = fixture_dir().join(format!("{f:?}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &data).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        (path, Vec::leak(data))
    })
}

/// The bytes of a fixture. Call it before starting a server: the first call runs ffmpeg and
/// blocks the calling thread.
pub fn fixture(f: Fixture) -> Bytes {
    Bytes::from_static(fixture_entry(f).1)
}

pub fn fixture_path(f: Fixture) -> PathBuf {
    fixture_entry(f).0.clone()
}

/// The packets that hlsd must pass through for a push of `data`: everything but PAT/PMT,
/// from the first keyframe on.
pub fn expected_packets(data: &[u8]) -> Vec<&[u8]> {
    let info = ts::Info::parse(data);
    let pk = ts::strip_psi(data);
    let kf = ts::first_keyframe(&pk, &info).expect("the pushed stream has a keyframe");
    pk[kf..].to_vec()
}

/// Concatenates segments without their PSI (each segment's own PAT/PMT).
pub fn segment_packets(segments: &[Bytes]) -> Vec<&[u8]> {
    segments.iter().flat_map(|s| ts::strip_psi(s)).collect()
}

/// Compares packet lists without printing megabytes on failure.
pub fn assert_same_packets(got: &[&[u8]], want: &[&[u8]], what: &str) {
    if let Some(i) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
        panic!(
            "{what}: packet {i} differs (of {} got, {} expected): got pid {:#x} cc {}, expected pid {:#x} cc {}",
            got.len(),
            want.len(),
            ts::pid(got[i]),
            ts::continuity_counter(got[i]),
            ts::pid(want[i]),
            ts::continuity_counter(want[i])
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} packets in segments, {} pushed after the first keyframe",
        got.len(),
        want.len()
    );
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1 publisher
// ---------------------------------------------------------------------------------------

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
async fn read_head(rd: &mut tokio::net::tcp::OwnedReadHalf) -> (Option<u16>, String) {
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

// ---------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Playlists
// ---------------------------------------------------------------------------------------

pub fn resolve(base: &str, uri: &str) -> String {
    Url::parse(base).unwrap().join(uri).unwrap().to_string()
}

pub fn parse_media(raw: &str) -> MediaPlaylist {
    match m3u8_rs::parse_playlist_res(raw.as_bytes()) {
        Ok(Playlist::MediaPlaylist(pl)) => pl,
        Ok(Playlist::MasterPlaylist(_)) => {
            panic!("expected a media playlist, got a multivariant one:\n{raw}")
        }
        Err(e) => panic!("media playlist does not parse ({e:?}):\n{raw}"),
    }
}

pub fn has_endlist(raw: &str) -> bool {
    raw.lines().any(|l| l.trim() == "#EXT-X-ENDLIST")
}

/// GETs the multivariant playlist, checks it and returns the media playlist URL it names.
pub async fn variant_url(server: &TestServer, feed: &str) -> String {
    let index = server.index_url(feed);
    let r = get(&index).await;
    assert_eq!(r.status, 200, "GET {index}: {}", r.text());
    let raw = r.text();
    let master = match m3u8_rs::parse_playlist_res(raw.as_bytes()) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("{index} is not a multivariant playlist ({other:?}):\n{raw}"),
    };
    assert_eq!(
        master.variants.len(),
        1,
        "one EXT-X-STREAM-INF expected:\n{raw}"
    );
    let v = &master.variants[0];
    assert!(v.bandwidth > 0, "BANDWIDTH missing or 0:\n{raw}");
    let url = resolve(&index, &v.uri);
    assert_eq!(
        Url::parse(&url).unwrap().path(),
        format!("/live/{feed}/main/media.m3u8"),
        "variant URI {}",
        v.uri
    );
    url
}

/// A media playlist as fetched: parsed, raw, and with each segment's absolute URL and MSN.
#[derive(Debug, Clone)]
pub struct Media {
    pub url: String,
    pub raw: String,
    pub pl: MediaPlaylist,
}

impl Media {
    pub fn endlist(&self) -> bool {
        has_endlist(&self.raw)
    }

    /// (MSN, absolute URL, EXTINF) of every listed segment.
    pub fn segments(&self) -> Vec<(u64, String, f64)> {
        let durations = extinf_values(&self.raw);
        assert_eq!(
            durations.len(),
            self.pl.segments.len(),
            "EXTINF count vs segments:\n{}",
            self.raw
        );
        self.pl
            .segments
            .iter()
            .zip(durations)
            .enumerate()
            .map(|(i, (s, d))| {
                (
                    self.pl.media_sequence + i as u64,
                    resolve(&self.url, &s.uri),
                    d,
                )
            })
            .collect()
    }

    pub fn last_msn(&self) -> Option<u64> {
        self.segments().last().map(|s| s.0)
    }

    pub fn discontinuities(&self) -> usize {
        self.pl.segments.iter().filter(|s| s.discontinuity).count()
    }

    pub fn total_duration(&self) -> f64 {
        self.segments().iter().map(|s| s.2).sum()
    }
}

/// EXTINF durations as written (exactly, from the text), in order.
pub fn extinf_values(raw: &str) -> Vec<f64> {
    raw.lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| {
            v.split(',')
                .next()
                .unwrap()
                .trim()
                .parse::<f64>()
                .expect("EXTINF number")
        })
        .collect()
}

/// GETs a media playlist; `None` unless the answer is 200.
pub async fn try_media(url: &str) -> Option<Media> {
    let r = get(url).await;
    if r.status != 200 {
        return None;
    }
    let raw = r.text();
    let pl = parse_media(&raw);
    Some(Media {
        url: url.to_string(),
        raw,
        pl,
    })
}

pub async fn fetch_media(url: &str) -> Media {
    let r = get(url).await;
    assert_eq!(r.status, 200, "GET {url}: {}", r.text());
    let raw = r.text();
    let pl = parse_media(&raw);
    Media {
        url: url.to_string(),
        raw,
        pl,
    }
}

/// Polls a media playlist until `pred` holds.
pub async fn wait_media(
    url: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Media) -> bool,
) -> Media {
    eventually(timeout, what, || async {
        let m = try_media(url).await?;
        pred(&m).then_some(m)
    })
    .await
}

pub async fn wait_endlist(server: &TestServer, feed: &str, timeout: Duration) -> Media {
    wait_media(
        &server.media_url(feed),
        timeout,
        &format!("EXT-X-ENDLIST on {feed}"),
        |m| m.endlist(),
    )
    .await
}

pub async fn fetch_segments(m: &Media) -> Vec<Bytes> {
    let mut out = Vec::new();
    for (msn, url, _) in m.segments() {
        let r = get(&url).await;
        assert_eq!(r.status, 200, "GET segment {msn} {url}");
        out.push(r.body);
    }
    out
}

/// The rules every media playlist obeys, whatever the test (HLS-RULES.md).
pub fn check_media_rules(m: &Media) {
    let raw = &m.raw;
    let pl = &m.pl;
    assert!(raw.starts_with("#EXTM3U"), "no #EXTM3U:\n{raw}");
    assert!(
        pl.media_sequence >= 1,
        "EXT-X-MEDIA-SEQUENCE starts at 1:\n{raw}"
    );
    assert!(pl.target_duration >= 1, "EXT-X-TARGETDURATION >= 1:\n{raw}");
    assert!(
        pl.playlist_type.is_none(),
        "no EXT-X-PLAYLIST-TYPE on live playlists:\n{raw}"
    );
    let td_line = raw
        .lines()
        .find(|l| l.starts_with("#EXT-X-TARGETDURATION:"))
        .expect("TARGETDURATION");
    assert!(
        td_line["#EXT-X-TARGETDURATION:".len()..]
            .trim()
            .parse::<u64>()
            .is_ok(),
        "TARGETDURATION is an integer: {td_line}"
    );
    for l in raw.lines().filter(|l| l.starts_with("#EXTINF:")) {
        let v = l["#EXTINF:".len()..].split(',').next().unwrap();
        let decimals = v.split_once('.').map(|(_, d)| d.len());
        assert_eq!(decimals, Some(3), "EXTINF with 3 decimals: {l}");
    }
    for (i, d) in extinf_values(raw).iter().enumerate() {
        assert!(*d > 0.0, "segment {i} has EXTINF {d}");
        assert!(
            d.round() as u64 <= pl.target_duration,
            "EXTINF {d} rounds above TARGETDURATION {}:\n{raw}",
            pl.target_duration
        );
    }
    for (i, s) in pl.segments.iter().enumerate() {
        assert!(
            s.program_date_time.is_some(),
            "segment {i} has no EXT-X-PROGRAM-DATE-TIME:\n{raw}"
        );
    }
    let endlists = raw.lines().filter(|l| l.trim() == "#EXT-X-ENDLIST").count();
    assert!(endlists <= 1, "EXT-X-ENDLIST at most once");
    // PDT = first keyframe wall clock + media time: consecutive PDTs follow EXTINF.
    let durations = extinf_values(raw);
    for i in 1..pl.segments.len() {
        if pl.segments[i].discontinuity {
            continue;
        }
        let a = pl.segments[i - 1].program_date_time.unwrap();
        let b = pl.segments[i].program_date_time.unwrap();
        let gap = (b.timestamp_millis() - a.timestamp_millis()) as f64 / 1000.0;
        assert!(
            (gap - durations[i - 1]).abs() <= 0.011,
            "PDT of segment {i} is {gap:.3} s after the previous one whose EXTINF is {:.3}:\n{raw}",
            durations[i - 1]
        );
    }
}

/// Alphanumeric parts of a URI (the per-session token is one of them).
pub fn uri_parts(uri: &str) -> Vec<String> {
    uri.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Positions of URI parts that are the same in every URI of `uris` (all of one shape).
pub fn constant_parts(uris: &[String]) -> BTreeMap<usize, String> {
    let parts: Vec<Vec<String>> = uris.iter().map(|u| uri_parts(u)).collect();
    let n = parts[0].len();
    assert!(
        parts.iter().all(|p| p.len() == n),
        "segment URIs of different shapes: {uris:?}"
    );
    (0..n)
        .filter(|&i| parts.iter().all(|p| p[i] == parts[0][i]))
        .map(|i| (i, parts[0][i].clone()))
        .collect()
}

/// Positions constant within each group whose values differ between the groups: where a
/// session token lives. Each group needs at least two segments, so that MSNs vary.
pub fn token_changes(a: &[String], b: &[String]) -> Vec<(usize, String, String)> {
    assert!(
        a.len() >= 2 && b.len() >= 2,
        "need two segments per group: {a:?} {b:?}"
    );
    let ca = constant_parts(a);
    let cb = constant_parts(b);
    ca.iter()
        .filter_map(|(i, va)| {
            cb.get(i)
                .filter(|vb| *vb != va)
                .map(|vb| (*i, va.clone(), vb.clone()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// ffmpeg / ffprobe
// ---------------------------------------------------------------------------------------

pub fn tool(name: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(name);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

/// `ffmpeg -re -i FILE -c copy -f mpegts -method POST http://ADDR/ingest/FEED`.
pub fn ffmpeg_publish(addr: SocketAddr, feed: &str, file: &Path) -> tokio::process::Child {
    tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "mpegts", "-method", "POST"])
        .arg(format!("http://{addr}/ingest/{feed}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg")
}

/// What `ffmpeg -i URL -c copy -f null -` did.
#[derive(Debug, Clone)]
pub struct Played {
    pub success: bool,
    pub stderr: String,
    /// Video frames it passed through (from `-progress`).
    pub frames: u64,
}

/// Runs ffmpeg as a player on `url` (from the first listed segment) until it ends.
pub async fn ffmpeg_play(url: &str, timeout: Duration) -> Played {
    let child = tool("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-v",
            "error",
            "-live_start_index",
            "0",
            "-i",
            url,
        ])
        .args(["-c", "copy", "-f", "null", "-progress", "pipe:1", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("ffmpeg playing {url} did not end within {timeout:?}"))
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stdout);
    let frames = progress
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    Played {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        frames,
    }
}

/// ffprobe of bytes (written to a temp file): decodes every frame (`-count_frames`) and
/// returns (JSON, stderr).
pub async fn ffprobe(data: &[u8]) -> (serde_json::Value, String) {
    let mut f = tempfile::Builder::new().suffix(".ts").tempfile().unwrap();
    std::io::Write::write_all(&mut f, data).unwrap();
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(f.path())
        .output()
        .await
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    (v, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts that ffprobe decodes frames of each stream of a segment; returns (video frames,
/// audio frames).
pub async fn assert_decodes(data: &[u8], what: &str) -> (u64, u64) {
    let (v, stderr) = ffprobe(data).await;
    let streams = v["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: ffprobe found no streams"));
    let mut frames = (0, 0);
    for s in streams {
        let n: u64 = s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        match s["codec_type"].as_str() {
            Some("video") => frames.0 += n,
            Some("audio") => frames.1 += n,
            _ => {}
        }
    }
    assert!(
        frames.0 + frames.1 > 0,
        "{what}: ffprobe decoded no frame; stderr: {stderr}"
    );
    frames
}

/// One packet as `ffprobe -show_packets` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePacket {
    pub stream: u32,
    pub pts: i64,
    pub dts: i64,
    pub size: usize,
    pub key: bool,
}

/// What `ffmpeg -nostdin -v error -i INPUT -f null -` prints (a file or a URL); it must exit 0.
pub fn decode_errors(input: impl AsRef<std::ffi::OsStr>) -> String {
    let input = input.as_ref();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg on {}",
        input.to_string_lossy()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `decode_errors` on the blocking pool, so a server on the test's runtime keeps serving.
pub async fn decode_errors_async(input: &str) -> String {
    let input = input.to_string();
    tokio::task::spawn_blocking(move || decode_errors(input))
        .await
        .expect("ffmpeg task")
}

/// The packets of a file in demux order (`ffprobe -show_packets`), blocking.
pub fn probe_packets(path: &Path) -> Vec<ProbePacket> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=stream_index,pts,dts,size,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stream_index, pts, dts, size, flags (the order ffprobe writes them in).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap_or_else(|_| panic!("{l}"));
            ProbePacket {
                stream: n(0) as u32,
                pts: n(1),
                dts: n(2),
                size: n(3) as usize,
                key: f[4].contains('K'),
            }
        })
        .collect()
}

/// The duration ffprobe gives a buffer (format duration).
pub async fn probe_duration(data: &[u8]) -> f64 {
    let (v, _) = ffprobe(data).await;
    v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("format duration")
}

// ---------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------

/// A config file for the binary: the embedded `config.toml` with the keys the tests set
/// replaced, so that keys added later keep their defaults.
pub fn config_toml(c: &Config) -> String {
    let mut values = vec![
        ("", "listen", format!("{:?}", c.listen)),
        (
            "hls",
            "segment_duration",
            format!("{:?}", c.hls.segment_duration),
        ),
        ("hls", "window", c.hls.window.to_string()),
        ("hls", "part_duration", format!("{:?}", c.hls.part_duration)),
        ("hls", "clock_numbering", c.hls.clock_numbering.to_string()),
        ("feeds", "max_feeds", c.feeds.max_feeds.to_string()),
        (
            "feeds",
            "reconnect_grace",
            format!("{:?}", c.feeds.reconnect_grace),
        ),
        (
            "feeds",
            "idle_timeout",
            format!("{:?}", c.feeds.idle_timeout),
        ),
        ("feeds", "linger", format!("{:?}", c.feeds.linger)),
    ];
    if let Some(td) = c.hls.target_duration {
        values.push(("hls", "target_duration", td.to_string()));
    }
    let mut section = String::new();
    let mut out = String::new();
    let mut pending = values;
    let flush = |section: &str, out: &mut String, pending: &mut Vec<(&str, &str, String)>| {
        // Keys of this section that the file does not set (e.g. target_duration).
        for (_, k, v) in pending.iter().filter(|(s, _, _)| *s == section) {
            out.push_str(&format!("{k} = {v}\n"));
        }
        pending.retain(|(s, _, _)| *s != section);
    };
    for line in hlsd::config::DEFAULT_TOML.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            flush(&section, &mut out, &mut pending);
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some((k, _)) = t.split_once('=')
            && !t.starts_with('#')
            && let Some(i) = pending
                .iter()
                .position(|(s, key, _)| *s == section && *key == k.trim())
        {
            let (_, k, v) = pending.remove(i);
            out.push_str(&format!("{k} = {v}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    flush(&section, &mut out, &mut pending);
    assert!(pending.is_empty(), "config keys not placed: {pending:?}");
    let parsed =
        Config::from_toml(&out).unwrap_or_else(|e| panic!("generated config invalid: {e}\n{out}"));
    assert_eq!(parsed.feeds.reconnect_grace, c.feeds.reconnect_grace);
    out
}

/// Spawns the `hlsd` binary on 127.0.0.1:0 and waits for its `listening on http://ADDR` line.
/// Its stderr is forwarded to the test's stderr.
pub async fn spawn_binary(config_file: &Path) -> (tokio::process::Child, SocketAddr) {
    let (child, addr, _) = spawn_binary_logged(config_file).await;
    (child, addr)
}

/// What a spawned hlsd wrote to stderr so far, line by line.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// [`spawn_binary`], keeping its stderr lines.
pub async fn spawn_binary_logged(config_file: &Path) -> (tokio::process::Child, SocketAddr, Log) {
    spawn_binary_logged_env(config_file, &[]).await
}

/// [`spawn_binary_logged`] with these environment variables set (e.g. `RUST_LOG`).
pub async fn spawn_binary_logged_env(
    config_file: &Path,
    env: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr, Log) {
    use tokio::io::AsyncBufReadExt;
    let log = Log::default();
    let kept = log.clone();
    let mut child = tool(env!("CARGO_BIN_EXE_hlsd"))
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config_file)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hlsd");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[hlsd] {line}");
            kept.0.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let Ok(a) = addr.parse::<SocketAddr>()
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(a);
                }
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .expect("hlsd printed no `listening on http://ADDR` line within 20 s")
        .expect("hlsd exited before listening");
    (child, addr, log)
}

/// LL-HLS helpers (tests/ll_hls*.rs).
pub mod caches;
pub mod ll;
pub mod origins;
pub mod record;
pub mod rtmp;
pub mod srt;
pub mod srt_fuzz;
