//! LL-HLS helpers: media playlists parsed with the m3u8-parser crate (m3u8-rs drops trailing
//! parts and preload hints), an hls.js-like follower of blocking reloads, curl for HTTP/2,
//! and an hlsd with a TLS listener beside the plain one.

use super::{Config, Resp, TestServer, request, resolve, tool};
use m3u8_parser::m3u8::playlist::Playlist;
use m3u8_parser::m3u8::tags::Tag;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A config with LL-HLS on (0.25 s parts), one-second segments, the whole stream listed.
pub fn ll_config() -> Config {
    let mut c = super::config();
    c.hls.part_duration = 0.25;
    c
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlSegment {
    pub msn: u64,
    pub uri: String,
    pub duration: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlPart {
    pub msn: u64,
    pub index: u64,
    pub uri: String,
    pub duration: f64,
    pub independent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerControl {
    pub can_block_reload: bool,
    pub can_skip_until: Option<f64>,
    pub hold_back: Option<f64>,
    pub part_hold_back: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub uri: String,
    pub last_msn: Option<u64>,
    pub last_part: Option<u64>,
}

/// An LL-HLS media playlist as m3u8-parser reads it (and validates it), with MSNs and part
/// indices assigned by position.
#[derive(Debug, Clone)]
pub struct Ll {
    pub url: String,
    pub raw: String,
    pub version: Option<u8>,
    pub target_duration: u64,
    pub media_sequence: u64,
    pub skipped: Option<u64>,
    pub segments: Vec<LlSegment>,
    pub parts: Vec<LlPart>,
    pub part_target: Option<f64>,
    pub server_control: Option<ServerControl>,
    /// (TYPE, URI) of each EXT-X-PRELOAD-HINT.
    pub hints: Vec<(String, String)>,
    pub reports: Vec<Report>,
    pub endlist: bool,
}

/// `part-<token>-<msn>.<index>.ts` (or `.m4s`) → (token, msn, index).
pub fn parse_part_uri(uri: &str) -> Option<(String, u64, u64)> {
    let name = uri.rsplit('/').next()?;
    let rest = name.strip_prefix("part-")?;
    let rest = rest
        .strip_suffix(".ts")
        .or_else(|| rest.strip_suffix(".m4s"))?;
    let (token, rest) = rest.split_once('-')?;
    let (msn, index) = rest.split_once('.')?;
    Some((token.to_string(), msn.parse().ok()?, index.parse().ok()?))
}

impl Ll {
    /// Parses and validates with m3u8-parser; panics with the text on any complaint.
    pub fn parse(url: &str, raw: &str) -> Ll {
        let pl = Playlist::from_reader(raw.as_bytes())
            .unwrap_or_else(|e| panic!("m3u8-parser cannot parse {url}: {e}\n{raw}"));
        if let Err(errors) = pl.validate() {
            panic!("m3u8-parser rejects {url}: {errors:?}\n{raw}");
        }
        let mut ll = Ll {
            url: url.to_string(),
            raw: raw.to_string(),
            version: None,
            target_duration: 0,
            media_sequence: 0,
            skipped: None,
            segments: Vec::new(),
            parts: Vec::new(),
            part_target: None,
            server_control: None,
            hints: Vec::new(),
            reports: Vec::new(),
            endlist: false,
        };
        let mut msn = None::<u64>;
        let mut index = 0u64;
        for tag in &pl.tags {
            match tag {
                Tag::ExtXVersion(v) => ll.version = Some(*v),
                Tag::ExtXTargetDuration(t) => ll.target_duration = *t,
                Tag::ExtXMediaSequence(s) => ll.media_sequence = *s,
                Tag::ExtXSkip {
                    skipped_segments, ..
                } => ll.skipped = Some(u64::from(*skipped_segments)),
                Tag::ExtXPartInf {
                    part_target_duration,
                } => ll.part_target = Some(*part_target_duration),
                Tag::ExtXServerControl {
                    can_skip_until,
                    hold_back,
                    part_hold_back,
                    can_block_reload,
                    ..
                } => {
                    ll.server_control = Some(ServerControl {
                        can_block_reload: *can_block_reload == Some(true),
                        can_skip_until: *can_skip_until,
                        hold_back: *hold_back,
                        part_hold_back: *part_hold_back,
                    })
                }
                Tag::ExtXPart {
                    uri,
                    duration,
                    independent,
                    ..
                } => {
                    let m = *msn.get_or_insert(ll.media_sequence + ll.skipped.unwrap_or(0));
                    ll.parts.push(LlPart {
                        msn: m,
                        index,
                        uri: uri.clone(),
                        duration: *duration,
                        independent: *independent == Some(true),
                    });
                    index += 1;
                }
                Tag::ExtInf { uri, duration, .. } => {
                    let m = *msn.get_or_insert(ll.media_sequence + ll.skipped.unwrap_or(0));
                    ll.segments.push(LlSegment {
                        msn: m,
                        uri: uri.clone(),
                        duration: *duration,
                    });
                    msn = Some(m + 1);
                    index = 0;
                }
                Tag::ExtXPreloadHint { type_, uri, .. } => {
                    ll.hints.push((type_.clone(), uri.clone()))
                }
                Tag::ExtXRenditionReport {
                    uri,
                    last_msn,
                    last_part,
                } => ll.reports.push(Report {
                    uri: uri.clone(),
                    last_msn: *last_msn,
                    last_part: *last_part,
                }),
                Tag::ExtXEndList => ll.endlist = true,
                _ => {}
            }
        }
        for p in &ll.parts {
            let (_, msn, index) = parse_part_uri(&p.uri)
                .unwrap_or_else(|| panic!("part URI {} of an unknown shape:\n{raw}", p.uri));
            assert_eq!(
                (msn, index),
                (p.msn, p.index),
                "part URI {} names another position than where it is listed:\n{raw}",
                p.uri
            );
        }
        ll
    }

    /// The URI of the PART preload hint.
    pub fn hint(&self) -> Option<&str> {
        self.hints
            .iter()
            .find(|(t, _)| t == "PART")
            .map(|(_, u)| u.as_str())
    }

    /// (msn, index) that the hint names.
    pub fn hint_position(&self) -> Option<(u64, u64)> {
        self.hint()
            .map(|u| parse_part_uri(u).map(|(_, m, i)| (m, i)))
            .map(|p| p.unwrap_or_else(|| panic!("hint of an unknown shape:\n{}", self.raw)))
    }

    pub fn last_part(&self) -> Option<&LlPart> {
        self.parts.last()
    }

    pub fn part(&self, msn: u64, index: u64) -> Option<&LlPart> {
        self.parts.iter().find(|p| p.msn == msn && p.index == index)
    }

    pub fn parts_of(&self, msn: u64) -> Vec<&LlPart> {
        self.parts.iter().filter(|p| p.msn == msn).collect()
    }

    pub fn segment(&self, msn: u64) -> Option<&LlSegment> {
        self.segments.iter().find(|s| s.msn == msn)
    }

    pub fn last_segment_msn(&self) -> Option<u64> {
        self.segments.last().map(|s| s.msn)
    }

    /// MSN of the last segment in the playlist, the one being built once it has a part
    /// (§6.2.5.2 "the last Media Segment in the current Playlist").
    pub fn last_msn(&self) -> u64 {
        let seg = self.last_segment_msn().unwrap_or(0);
        self.last_part().map_or(seg, |p| p.msn.max(seg))
    }

    /// Parts of the segment being built (listed after the last EXTINF).
    pub fn building_parts(&self) -> Vec<&LlPart> {
        let seg = self.last_segment_msn();
        self.parts
            .iter()
            .filter(|p| seg.is_none_or(|s| p.msn > s))
            .collect()
    }

    /// What hls.js asks next: `_HLS_msn=<last part's MSN>&_HLS_part=<last index + 1>`, or
    /// `M+1, part 0` once the last segment is complete.
    pub fn next_request(&self) -> (u64, u64) {
        match self.building_parts().last() {
            Some(p) => (p.msn, p.index + 1),
            None => (self.last_segment_msn().unwrap_or(0) + 1, 0),
        }
    }

    /// Absolute URL of a URI of this playlist.
    pub fn abs(&self, uri: &str) -> String {
        resolve(&self.url, uri)
    }

    /// The session token the part URIs carry.
    pub fn token(&self) -> String {
        let uri = self
            .hint()
            .or(self.parts.first().map(|p| p.uri.as_str()))
            .unwrap_or_else(|| panic!("no part nor hint:\n{}", self.raw));
        parse_part_uri(uri).unwrap().0
    }
}

/// `media.m3u8?query` of a media playlist URL (without query).
pub fn with_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        url.to_string()
    } else {
        format!("{url}?{query}")
    }
}

pub fn blocking_query(msn: u64, part: Option<u64>) -> String {
    match part {
        Some(p) => format!("_HLS_msn={msn}&_HLS_part={p}"),
        None => format!("_HLS_msn={msn}"),
    }
}

/// A playlist response: the HTTP answer, how long it took, and the playlist when 200.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub resp: Resp,
    pub elapsed: Duration,
    pub ll: Option<Ll>,
}

impl Fetched {
    pub fn ll(&self) -> &Ll {
        self.ll
            .as_ref()
            .unwrap_or_else(|| panic!("{}: {}", self.resp.status, self.resp.text()))
    }

    pub fn cache_control(&self) -> &str {
        self.resp.header("cache-control").unwrap_or("")
    }
}

/// GETs `url?query` and parses the answer when it is 200.
pub async fn fetch_ll(url: &str, query: &str) -> Fetched {
    let full = with_query(url, query);
    let start = Instant::now();
    let resp = request("GET", &full, &[]).await;
    let elapsed = start.elapsed();
    let ll = (resp.status == 200).then(|| Ll::parse(url, &resp.text()));
    Fetched { resp, elapsed, ll }
}

/// `public, max-age=N` → N.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
}

/// `public, max-age=0, s-maxage=N` → N: how long shared caches keep an answer.
pub fn shared_max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("s-maxage="))
        .and_then(|v| v.parse().ok())
}

/// One answer to a blocking reload made by [`Follower`].
#[derive(Debug, Clone)]
pub struct Update {
    /// (msn, part) asked for; `None` for the first, plain GET.
    pub asked: Option<(u64, u64)>,
    pub fetched: Fetched,
}

impl Update {
    pub fn ll(&self) -> &Ll {
        self.fetched.ll()
    }
}

/// Follows a live media playlist the way hls.js does in low-latency mode: a plain GET, then
/// blocking reloads for the next part, until EXT-X-ENDLIST.
pub struct Follower {
    pub url: String,
    last: Option<Ll>,
    deadline: Instant,
}

impl Follower {
    pub fn new(url: &str, timeout: Duration) -> Follower {
        Follower {
            url: url.to_string(),
            last: None,
            deadline: Instant::now() + timeout,
        }
    }

    /// The next update, `None` once the previous one had EXT-X-ENDLIST. Panics on any answer
    /// but 200.
    pub async fn next(&mut self) -> Option<Update> {
        assert!(
            Instant::now() < self.deadline,
            "following {} took too long",
            self.url
        );
        let asked = match &self.last {
            None => None,
            Some(l) if l.endlist => return None,
            Some(l) => Some(l.next_request()),
        };
        let query = asked.map_or(String::new(), |(m, p)| blocking_query(m, Some(p)));
        let mut fetched = fetch_ll(&self.url, &query).await;
        // The first GET may come before the publisher has created the feed.
        while asked.is_none() && fetched.resp.status == 404 && Instant::now() < self.deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            fetched = fetch_ll(&self.url, &query).await;
        }
        assert_eq!(
            fetched.resp.status,
            200,
            "GET {}?{query} after {:?}: {}",
            self.url,
            fetched.elapsed,
            fetched.resp.text()
        );
        self.last = fetched.ll.clone();
        Some(Update { asked, fetched })
    }
}

// ---------------------------------------------------------------------------------------
// curl (HTTP/2)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Curled {
    pub status: u16,
    /// `%{http_version}`: "1.1" or "2".
    pub version: String,
    pub body: Vec<u8>,
    /// Response heads, lower-cased.
    pub head: String,
}

impl Curled {
    pub fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    }
}

/// Runs `curl -sS ARGS URL` and returns what it got.
pub async fn curl(args: &[&str], url: &str) -> Curled {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let head = dir.path().join("head");
    let out = tool("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&head)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("curl not found");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, version) = w.trim().split_once(' ').expect("curl -w output");
    Curled {
        status: code.parse().unwrap(),
        version: version.to_string(),
        body: std::fs::read(&body).unwrap_or_default(),
        head: std::fs::read_to_string(&head)
            .unwrap_or_default()
            .to_ascii_lowercase(),
    }
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

/// A self-signed certificate for 127.0.0.1 made with the `openssl` CLI: (cert PEM, key PEM).
pub fn self_signed_cert(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl not found");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
}

impl TestServer {
    /// hlsd with its plain listener and a TLS one (self-signed, made in `dir`); returns the
    /// server and the TLS address.
    pub async fn start_with_tls(config: Config, dir: &Path) -> (TestServer, SocketAddr) {
        let (cert_pem, key_pem) = self_signed_cert(dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tls_addr = tls.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let task = tokio::spawn(hlsd::run_with_tls(
            listener,
            Some(hlsd::TlsListener {
                listener: tls,
                cert_pem,
                key_pem,
            }),
            config,
            shutdown,
        ));
        (
            TestServer {
                addr,
                stop_tx: Some(stop_tx),
                task: Some(task),
            },
            tls_addr,
        )
    }
}

/// The first playlist of a feed whose publisher may not have connected yet (404 until then;
/// the GET itself waits for the first segment).
pub async fn first_ll(url: &str) -> Ll {
    super::eventually(Duration::from_secs(15), "the first playlist", || async {
        fetch_ll(url, "").await.ll
    })
    .await
}

static LONG: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();

/// 16 s like `Fixture::Main` (320x240 H.264 25 fps, GOP 1 s, AAC), for delta updates, which
/// need a playlist longer than 6 × TD; made once with ffmpeg and cached like the others.
pub fn long_fixture() -> bytes::Bytes {
    bytes::Bytes::from_static(LONG.get_or_init(|| {
        let args = super::video_args(16, 25);
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            args.hash(&mut h);
            h.finish()
        };
        let path = super::fixture_dir().join(format!("Long16-{key:016x}.ts"));
        if let Ok(data) = std::fs::read(&path)
            && !data.is_empty()
        {
            return Vec::leak(data);
        }
        let tmp =
            super::fixture_dir().join(format!("Long16-{key:016x}.{}.tmp", std::process::id()));
        super::run_ffmpeg(&args, &tmp);
        std::fs::rename(&tmp, &path).unwrap();
        Vec::leak(std::fs::read(&path).unwrap())
    }))
}
