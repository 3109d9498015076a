//! LL-HLS delivery, with a real TS push paced in real time (or twice that): delta updates
//! (§6.2.5.1), gzip playlists, HTTP/2 over h2c and TLS (ALPN), players that do not speak
//! LL-HLS, and rendition reports between two renditions of a feed.

mod common;

use common::ll::*;
use common::*;
use std::io::Read;
use std::time::Duration;

/// Seconds of media in `Fixture::Main`.
const MAIN_SECS: f64 = 8.0;

fn live_push(server: &TestServer, path: &str) -> tokio::task::JoinHandle<Pushed> {
    let data = fixture(Fixture::Main);
    spawn_push(
        server.addr,
        data.clone(),
        Push::path(path).paced(&data, MAIN_SECS),
    )
}

/// Checks a delta update against the full playlist of the same moment; returns how many
/// segments it skipped, and the delta's text when it lacks EXT-X-PART tags of the full
/// playlist (§6.2.5.1: all tags that were not skipped MUST remain), reported by the caller
/// at the end so that the other checks run first.
fn check_delta(full: &Ll, delta: &Ll, until: f64, what: &str) -> (u64, Option<String>) {
    let ctx = format!("{what}\n--- full:\n{}\n--- delta:\n{}", full.raw, delta.raw);
    assert_eq!(delta.version, Some(9), "delta without VERSION 9: {ctx}");
    assert_eq!(full.version, Some(3), "full playlist VERSION: {ctx}");
    let n = delta
        .skipped
        .unwrap_or_else(|| panic!("no EXT-X-SKIP: {ctx}"));
    assert!(n >= 1, "SKIPPED-SEGMENTS=0: {ctx}");
    assert_eq!(delta.media_sequence, full.media_sequence, "{ctx}");
    assert_eq!(
        delta.segments[..],
        full.segments[n as usize..],
        "delta keeps the segments after the skipped ones: {ctx}"
    );
    assert_eq!(delta.hints, full.hints, "{ctx}");
    assert_eq!(delta.server_control, full.server_control, "{ctx}");
    assert_eq!(delta.part_target, full.part_target, "{ctx}");
    assert_eq!(delta.target_duration, full.target_duration, "{ctx}");
    assert_eq!(delta.reports, full.reports, "{ctx}");
    // Skipped: the segments further than the Skip Boundary from the end of the last
    // segment; all of them (a tie at exactly the boundary may go either way).
    let mut after = 0.0;
    for (i, s) in full.segments.iter().enumerate().rev() {
        if (i as u64) < n {
            assert!(
                after >= until - 0.0005,
                "segment {} skipped but ends {after:.3} s from the end: {ctx}",
                s.msn
            );
        } else if i as u64 == n {
            assert!(
                after < until + 0.0005,
                "segment {} kept but ends {after:.3} s from the end: {ctx}",
                s.msn
            );
        }
        after += s.duration;
    }
    let lost = (delta.parts != full.parts).then(|| ctx.clone());
    (n, lost)
}

/// Full and delta updates for the same position, retried until no part arrived between.
async fn full_and_delta(url: &str, skip: &str, at: (u64, u64)) -> (Ll, Ll) {
    let q = blocking_query(at.0, Some(at.1));
    for _ in 0..5 {
        let dq = format!("{q}&_HLS_skip={skip}");
        let (full, delta) = tokio::join!(fetch_ll(url, &q), fetch_ll(url, &dq));
        let (full, delta) = (full.ll().clone(), delta.ll().clone());
        if full.hints == delta.hints
            && full.last_segment_msn() == delta.last_segment_msn()
            && full.media_sequence == delta.media_sequence
        {
            return (full, delta);
        }
    }
    panic!("the playlist changed between every full and delta request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn delta_updates_skip_old_segments() {
    let data = long_fixture();
    let mut c = ll_config();
    c.hls.window = 12;
    c.hls.segment_duration = 1.0;
    let server = TestServer::start(c).await;
    // 16 s of media at twice real time.
    let pusher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("delta").paced(&data, 8.0),
    );
    let url = server.media_url("delta");
    let mut follower = Follower::new(&url, Duration::from_secs(30));
    let (mut early, mut deltas, mut max_skipped) = (0, 0, 0);
    let mut last = None;
    let mut lost_parts = Vec::new();
    while let Some(u) = follower.next().await {
        let ll = u.ll().clone();
        if ll.endlist {
            last = Some(ll);
            break;
        }
        let td = ll.target_duration as f64;
        // A 12 s window is longer than 6 × TD: CAN-SKIP-UNTIL is advertised from the first
        // playlist on, and never changes.
        let until = ll.server_control.as_ref().unwrap().can_skip_until;
        let until = until.unwrap_or_else(|| panic!("no CAN-SKIP-UNTIL:\n{}", ll.raw));
        assert!(until >= 6.0 * td, "CAN-SKIP-UNTIL {until} < 6 × TD");
        let at = ll.last_part().map(|p| (p.msn, p.index)).unwrap();
        for skip in ["YES", "v2"] {
            let (full, delta) = full_and_delta(&url, skip, at).await;
            let listed: f64 = full.segments.iter().map(|s| s.duration).sum();
            if listed <= until {
                // Nothing is old enough to skip yet: the full playlist comes.
                if early < 4 {
                    assert_eq!(delta.skipped, None, "{}", delta.raw);
                    assert_eq!(delta.raw, full.raw);
                    early += 1;
                }
                continue;
            }
            let (n, lost) = check_delta(&full, &delta, until, &format!("_HLS_skip={skip}"));
            lost_parts.extend(lost);
            max_skipped = max_skipped.max(n);
            deltas += 1;
        }
    }
    assert!(
        early >= 1,
        "no delta request checked while the window was short"
    );
    assert!(deltas >= 10, "only {deltas} delta updates checked");
    assert!(max_skipped >= 5, "at most {max_skipped} segments skipped");
    assert_eq!(pusher.await.unwrap().status, Some(200));

    // §6.2.5.1: a server MUST ignore _HLS_skip once the playlist has ENDLIST.
    let end = last.unwrap();
    let mut bugs = Vec::new();
    for skip in ["YES", "v2"] {
        let f = fetch_ll(&url, &format!("_HLS_skip={skip}")).await;
        let got = f.ll();
        if got.skipped.is_some() || got.raw != end.raw {
            bugs.push(format!(
                "_HLS_skip={skip} after ENDLIST gave a delta update:\n{}",
                got.raw
            ));
        }
    }
    if let Some(first) = lost_parts.first() {
        bugs.push(format!(
            "{} of {deltas} delta updates lack EXT-X-PART tags of the full playlist \
             (§6.2.5.1: all tags that were not skipped MUST remain); the first: {first}",
            lost_parts.len()
        ));
    }
    assert!(bugs.is_empty(), "{}", bugs.join("\n\n"));
    server.stop().await;
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("gzip body");
    out
}

/// A gzip request: Content-Encoding gzip, Vary: accept-encoding; returns the decoded text.
async fn fetch_gzip(url: &str) -> String {
    let r = request("GET", url, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200, "GET {url} (gzip)");
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "{url}: {:?}",
        r.headers
    );
    assert!(
        r.header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "{url}: {:?}",
        r.headers
    );
    gunzip(&r.body)
}

async fn fetch_plain(url: &str, headers: &[(&str, &str)]) -> String {
    let r = request("GET", url, headers).await;
    assert_eq!(r.status, 200, "GET {url}");
    assert_eq!(r.header("content-encoding"), None, "{url}: {:?}", r.headers);
    assert!(
        r.header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "{url} without Vary: {:?}",
        r.headers
    );
    r.text()
}

/// gzip decodes to the same text as the plain answer; a short window (4 s < 6 × TD) never
/// advertises CAN-SKIP-UNTIL and ignores _HLS_skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn gzip_playlists_decode_to_the_same_text() {
    fixture(Fixture::Main);
    let mut c = ll_config();
    c.hls.window = 4;
    let server = TestServer::start(c).await;
    let pusher = live_push(&server, "/ingest/gz");
    let url = server.media_url("gz");
    let index = server.index_url("gz");
    let mut ll = first_ll(&url).await;
    let mut same = 0;
    for _ in 0..8 {
        let (m, n) = ll.last_part().map(|p| (p.msn, p.index)).unwrap();
        let q = with_query(&url, &blocking_query(m, Some(n)));
        let (zipped, plain) = tokio::join!(fetch_gzip(&q), fetch_plain(&q, &[]));
        let parsed = Ll::parse(&url, &zipped);
        assert!(parsed.hint().is_some() || parsed.endlist, "{zipped}");
        assert!(
            parsed
                .server_control
                .as_ref()
                .unwrap()
                .can_skip_until
                .is_none(),
            "CAN-SKIP-UNTIL with a 4 s window:\n{zipped}"
        );
        if zipped == plain {
            same += 1;
        }
        let skip = fetch_ll(
            &url,
            &format!("{}&_HLS_skip=YES", blocking_query(m, Some(n))),
        )
        .await;
        assert_eq!(skip.ll().skipped, None, "{}", skip.ll().raw);
        assert_eq!(skip.ll().version, Some(3), "{}", skip.ll().raw);
        // The next part.
        let (m, n) = parsed.next_request();
        ll = fetch_ll(&url, &blocking_query(m, Some(n)))
            .await
            .ll()
            .clone();
        if ll.endlist {
            break;
        }
    }
    assert!(
        same >= 4,
        "gzip and plain answers differed {} times",
        8 - same
    );
    // q=0 refuses gzip.
    fetch_plain(&url, &[("Accept-Encoding", "gzip;q=0, identity")]).await;
    let mv = fetch_gzip(&index).await;
    assert!(mv.contains("#EXT-X-STREAM-INF"), "{mv}");

    assert_eq!(pusher.await.unwrap().status, Some(200));
    let end = eventually(Duration::from_secs(10), "ENDLIST", || async {
        fetch_ll(&url, "").await.ll.filter(|l| l.endlist)
    })
    .await;
    assert_eq!(fetch_gzip(&url).await, end.raw);
    assert_eq!(fetch_gzip(&index).await, fetch_plain(&index, &[]).await);
    server.stop().await;
}

/// HTTP/2: h2c with prior knowledge on the plain port, and TLS with ALPN h2 and http/1.1,
/// for blocking playlists, the preload-hinted part, parts and segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg, curl and openssl"]
async fn http2_over_h2c_and_tls() {
    fixture(Fixture::Main);
    let dir = tempfile::tempdir().unwrap();
    let (server, tls_addr) = TestServer::start_with_tls(ll_config(), dir.path()).await;
    let pusher = live_push(&server, "/ingest/h2");
    let url = server.media_url("h2");
    let tls_url = url.replace(
        &format!("http://{}", server.addr),
        &format!("https://{tls_addr}"),
    );
    let modes: [(&str, &[&str], &str); 3] = [
        ("h2c", &["--http2-prior-knowledge"], "2"),
        ("TLS h2", &["-k", "--http2"], "2"),
        ("TLS http/1.1", &["-k", "--http1.1"], "1.1"),
    ];
    let base = |tls: bool| if tls { tls_url.clone() } else { url.clone() };

    // Live: a blocking reload for the next part and the hinted part, in each mode.
    for (name, args, version) in modes {
        let ll = first_ll(&url).await;
        let (m, n) = ll.next_request();
        let u = with_query(&base(name != "h2c"), &blocking_query(m, Some(n)));
        let r = curl(args, &u).await;
        assert_eq!((r.status, r.version.as_str()), (200, version), "{name} {u}");
        let got = Ll::parse(&url, &String::from_utf8_lossy(&r.body));
        assert!(
            got.part(m, n).is_some() || got.part(m + 1, 0).is_some(),
            "{name}: _HLS_msn={m}&_HLS_part={n} without it:\n{}",
            got.raw
        );
        if let Some(hint) = got.hint() {
            let part_url = resolve(&base(name != "h2c"), hint);
            let r = curl(args, &part_url).await;
            assert_eq!(
                (r.status, r.version.as_str()),
                (200, version),
                "{name} {hint}"
            );
            let again = get(&resolve(&url, hint)).await;
            assert!(again.body[..] == r.body[..], "{name}: hinted part bytes");
        }
    }

    // Ended: every mode gives the same bytes as HTTP/1.1 on the plain port.
    assert_eq!(pusher.await.unwrap().status, Some(200));
    let end = eventually(Duration::from_secs(10), "ENDLIST", || async {
        fetch_ll(&url, "").await.ll.filter(|l| l.endlist)
    })
    .await;
    let part = end.parts.last().unwrap().uri.clone();
    let seg = end.segments.last().unwrap().uri.clone();
    for path in ["", part.as_str(), seg.as_str()] {
        let want = get(&resolve(&url, path)).await;
        assert_eq!(want.status, 200);
        for (name, args, version) in modes {
            let u = resolve(&base(name != "h2c"), path);
            let r = curl(args, &u).await;
            assert_eq!((r.status, r.version.as_str()), (200, version), "{name} {u}");
            assert!(r.body[..] == want.body[..], "{name} {u}: other bytes");
        }
    }
    server.stop().await;
}

/// Many streams at once on one h2c connection, whose answers are written together
/// (`serve::coalesce`, and small DATA frames copied into h2's write buffer, `vendor/h2`):
/// a blocking reload waiting among plain reloads answered meanwhile, then every part and
/// segment of the ended feed, its playlist and an unknown name, three times each at once,
/// through a flow-control window smaller than a segment; each with the status and bytes
/// HTTP/1.1 gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn many_streams_at_once_on_one_h2c_connection() {
    use http_body_util::Full;
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "/ingest/many");
    let url = server.media_url("many");
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(16 * 1024)
            .initial_connection_window_size(64 * 1024)
            .handshake::<_, Full<bytes::Bytes>>(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let fetch = |u: String| {
        let mut send = send.clone();
        tokio::spawn(async move {
            let (status, body) = h2_get(&mut send, &u).await;
            (u, status, body)
        })
    };

    // Live: the blocking reload is sent first and answered last.
    let ll = first_ll(&url).await;
    let (m, n) = ll.next_request();
    let blocking = fetch(with_query(&url, &blocking_query(m, Some(n))));
    let plain: Vec<_> = (0..40).map(|_| fetch(url.clone())).collect();
    for p in plain {
        let (u, status, body) = p.await.unwrap();
        assert_eq!(status, 200, "{u}");
        assert!(body.starts_with(b"#EXTM3U\n"), "{u}");
    }
    let (u, status, body) = blocking.await.unwrap();
    assert_eq!(status, 200, "{u}");
    let got = Ll::parse(&url, &String::from_utf8_lossy(&body));
    assert!(
        got.part(m, n).is_some() || got.part(m + 1, 0).is_some(),
        "{u} without the part it asked for:\n{}",
        got.raw
    );

    // Ended: everything at once, against HTTP/1.1.
    assert_eq!(pusher.await.unwrap().status, Some(200));
    let end = eventually(Duration::from_secs(10), "ENDLIST", || async {
        fetch_ll(&url, "").await.ll.filter(|l| l.endlist)
    })
    .await;
    let mut paths = vec![String::new(), "seg_nope.ts".to_string()];
    paths.extend(end.parts.iter().map(|p| p.uri.clone()));
    paths.extend(end.segments.iter().map(|s| s.uri.clone()));
    let mut want = std::collections::HashMap::new();
    for path in &paths {
        let u = resolve(&url, path);
        let r = get(&u).await;
        want.insert(u, (r.status, r.body));
    }
    // Larger than a stream's window: sent as the client opens it.
    assert!(
        end.segments
            .iter()
            .all(|s| want[&resolve(&url, &s.uri)].1.len() > 16 * 1024)
    );
    let all: Vec<_> = (0..3)
        .flat_map(|_| paths.iter().map(|p| fetch(resolve(&url, p))))
        .collect();
    let count = all.len();
    for t in all {
        let (u, status, body) = t.await.unwrap();
        let (s, b) = &want[&u];
        assert_eq!(status, *s, "{u}");
        assert!(body[..] == b[..], "{u}: other bytes over h2c");
    }
    assert!(count > 3 * 20, "{count} requests");
    server.stop().await;
}

/// ffmpeg, which ignores the LL-HLS tags, plays the same playlist URL to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn ffmpeg_plays_the_ll_hls_playlist() {
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "/ingest/play");
    first_ll(&server.media_url("play")).await;
    let played = ffmpeg_play(&server.index_url("play"), Duration::from_secs(25)).await;
    assert!(played.success, "ffmpeg could not play: {}", played.stderr);
    assert_eq!(
        played.frames, 200,
        "ffmpeg played {} of 200 frames: {}",
        played.frames, played.stderr
    );
    assert_eq!(pusher.await.unwrap().status, Some(200));
    server.stop().await;
}

/// Two renditions of one feed: each media playlist reports the other, where it stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn rendition_reports_follow_the_other_rendition() {
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let main = live_push(&server, "/ingest/f/main");
    let low = live_push(&server, "/ingest/f/low");
    let main_url = server.url("/live/f/main/media.m3u8");
    let low_url = server.url("/live/f/low/media.m3u8");
    first_ll(&main_url).await;
    first_ll(&low_url).await;
    let mut checked = 0;
    loop {
        let (a, b) = tokio::join!(fetch_ll(&main_url, ""), fetch_ll(&low_url, ""));
        let (a, b) = (a.ll().clone(), b.ll().clone());
        if a.reports.len() != 1 || b.reports.len() != 1 {
            // What the feed's API says, to tell a publisher that stopped from a report
            // that is missing.
            let api = get(&server.url("/api/feeds/f")).await;
            panic!(
                "one RENDITION-REPORT each expected:\n{}\n---\n{}\n---\n{}",
                a.raw,
                b.raw,
                String::from_utf8_lossy(&api.body)
            );
        }
        assert_eq!(a.server_control, b.server_control, "SERVER-CONTROL differs");
        assert_eq!(a.part_target, b.part_target, "PART-TARGET differs");
        for (me, other, other_url) in [(&a, &b, &low_url), (&b, &a, &main_url)] {
            assert_eq!(me.reports.len(), 1, "one RENDITION-REPORT:\n{}", me.raw);
            let r = &me.reports[0];
            assert_eq!(&me.abs(&r.uri), other_url, "report URI:\n{}", me.raw);
            let msn = r
                .last_msn
                .unwrap_or_else(|| panic!("no LAST-MSN:\n{}", me.raw));
            let part = r
                .last_part
                .unwrap_or_else(|| panic!("no LAST-PART:\n{}", me.raw));
            let theirs = other.last_part().map(|p| (p.msn, p.index)).unwrap();
            assert!(
                msn + 1 >= theirs.0 && msn <= theirs.0 + 1,
                "report LAST-MSN={msn} LAST-PART={part}, the rendition is at {theirs:?}:\n{}\n---\n{}",
                me.raw,
                other.raw
            );
            assert!(part < 8, "LAST-PART={part}:\n{}", me.raw);
        }
        checked += 1;
        if a.endlist && b.endlist {
            break;
        }
        assert!(checked < 200, "no ENDLIST");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(checked >= 10, "only {checked} checks");
    assert_eq!(main.await.unwrap().status, Some(200));
    assert_eq!(low.await.unwrap().status, Some(200));
    server.stop().await;
}
