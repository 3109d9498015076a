//! Feed lifecycle: idle publishers, reconnects within the grace, ENDLIST after it, linger,
//! new sessions, and SIGTERM on the real binary (DESIGN.md "Feed lifecycle").

mod common;

use common::*;
use std::time::{Duration, Instant};

fn uris(segs: &[(u64, String, f64)]) -> Vec<String> {
    segs.iter().map(|s| s.1.clone()).collect()
}

/// A publisher that goes silent without closing is disconnected after idle_timeout; a new
/// publisher is then accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn idle_publisher_is_disconnected() {
    let data = fixture(Fixture::Main);
    let mut c = config();
    c.feeds.idle_timeout = 1.0;
    c.feeds.reconnect_grace = 3.0;
    let server = TestServer::start(c).await;
    let part = packet_boundary(&data, 0.4);
    let silent = push(
        server.addr,
        data.clone(),
        Push::new("idle").stop_at(part).end(End::Hold),
    )
    .await;
    assert!(
        silent.after_send >= Duration::from_millis(800)
            && silent.after_send <= Duration::from_secs(4),
        "silent publisher ended {:?} after its last byte (idle_timeout 1 s): {silent:?}",
        silent.after_send
    );
    let m = fetch_media(&server.media_url("idle")).await;
    assert!(!m.pl.segments.is_empty());
    let again = push(server.addr, data.clone(), Push::new("idle")).await;
    assert_eq!(
        again.status,
        Some(200),
        "publisher after the idle one: {again:?}"
    );
    server.stop().await;
}

/// A publisher back within the grace continues the feed: same token, media sequence numbers
/// continuing, one EXT-X-DISCONTINUITY where it came back; every packet of both pushes kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn reconnect_within_grace_continues_the_feed() {
    let data = fixture(Fixture::Main);
    let mut c = config();
    c.feeds.reconnect_grace = 3.0;
    let server = TestServer::start(c).await;
    let half = packet_boundary(&data, 0.5);
    let first = data.slice(..half);
    let res = push(server.addr, first.clone(), Push::new("back")).await;
    assert_eq!(res.status, Some(200), "{res:?}");
    let url = server.media_url("back");
    let before = fetch_media(&url).await;
    assert!(
        !before.endlist(),
        "ENDLIST within the grace:\n{}",
        before.raw
    );
    let before_segs = before.segments();
    assert!(before_segs.len() >= 2, "{}", before.raw);

    let res = push(server.addr, data.clone(), Push::new("back")).await;
    assert_eq!(res.status, Some(200), "reconnecting publisher: {res:?}");
    let m = wait_endlist(&server, "back", Duration::from_secs(10)).await;
    check_media_rules(&m);
    assert_eq!(m.pl.media_sequence, 1);
    let segs = m.segments();
    for s in &before_segs {
        assert!(
            segs.contains(s),
            "segment {s:?} changed or vanished after the reconnect:\n{}",
            m.raw
        );
    }
    assert_eq!(m.discontinuities(), 1, "{}", m.raw);
    let disc = m.pl.segments.iter().position(|s| s.discontinuity).unwrap();
    assert!(
        disc >= before_segs.len(),
        "discontinuity at {disc}:\n{}",
        m.raw
    );
    assert!(segs.len() - disc >= 2, "{}", m.raw);
    let changes = token_changes(&uris(&segs[..disc]), &uris(&segs[disc..]));
    assert!(
        changes.is_empty(),
        "URI token changed on a reconnect within the grace: {changes:?}"
    );

    let segments = fetch_segments(&m).await;
    for (i, s) in segments.iter().enumerate() {
        ts::assert_segment_start(s, &format!("segment {i}"));
    }
    assert_same_packets(
        &segment_packets(&segments[..disc]),
        &expected_packets(&first),
        "first push",
    );
    assert_same_packets(
        &segment_packets(&segments[disc..]),
        &expected_packets(&data),
        "second push",
    );
    server.stop().await;
}

/// A publisher that drops its socket: no ENDLIST during the grace, ENDLIST after it, 404 for
/// playlists and segments once the linger is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn endlist_after_grace_then_gone_after_linger() {
    let data = fixture(Fixture::Main);
    let mut c = config();
    c.feeds.reconnect_grace = 1.5;
    c.feeds.linger = 2.0;
    let server = TestServer::start(c).await;
    let res = push(server.addr, data.clone(), Push::new("gone").end(End::Drop)).await;
    let dropped_at = Instant::now();
    assert_eq!(res.sent, data.len());
    let url = server.media_url("gone");
    let live = wait_media(&url, Duration::from_secs(5), "segments", |m| {
        m.segments().len() >= 7
    })
    .await;
    if dropped_at.elapsed() < Duration::from_millis(1000) {
        assert!(
            !live.endlist(),
            "ENDLIST {:?} after the drop, before the grace (1.5 s):\n{}",
            dropped_at.elapsed(),
            live.raw
        );
    }
    let ended = wait_endlist(&server, "gone", Duration::from_secs(10)).await;
    let ended_after = dropped_at.elapsed();
    assert!(
        ended_after >= Duration::from_millis(1200),
        "ENDLIST {ended_after:?} after the drop, grace is 1.5 s"
    );
    check_media_rules(&ended);
    let seg_url = ended.segments()[0].1.clone();
    assert_eq!(get(&seg_url).await.status, 200);

    eventually(Duration::from_secs(10), "404 after the linger", || async {
        (get(&server.index_url("gone")).await.status == 404).then_some(())
    })
    .await;
    let gone_after = dropped_at.elapsed() - ended_after;
    assert!(
        gone_after >= Duration::from_millis(1500),
        "gone {gone_after:?} after ENDLIST, linger is 2 s"
    );
    assert_eq!(get(&url).await.status, 404);
    let seg = get(&seg_url).await;
    assert_eq!(seg.status, 404, "segment of a removed feed");
    assert_eq!(seg.header("access-control-allow-origin"), Some("*"));
    server.stop().await;
}

/// A publish to an ended feed starts a new session: new token, MSNs continuing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn new_session_after_endlist() {
    let data = fixture(Fixture::Short);
    let server = TestServer::start(config()).await;
    let res = push(server.addr, data.clone(), Push::new("again")).await;
    assert_eq!(res.status, Some(200));
    let old = wait_endlist(&server, "again", Duration::from_secs(10)).await;
    let old_segs = old.segments();
    assert!(old_segs.len() >= 2, "{}", old.raw);
    let last_old = old.last_msn().unwrap();

    let res = push(server.addr, data.clone(), Push::new("again")).await;
    assert_eq!(res.status, Some(200), "publish to an ended feed: {res:?}");
    let new = wait_media(
        &server.media_url("again"),
        Duration::from_secs(10),
        "the new session ended",
        |m| m.endlist() && m.last_msn() > Some(last_old + 1),
    )
    .await;
    check_media_rules(&new);
    let fresh: Vec<_> = new
        .segments()
        .into_iter()
        .filter(|s| !old_segs.iter().any(|o| o.1 == s.1))
        .collect();
    assert!(fresh.len() >= 2, "{}", new.raw);
    assert_eq!(
        fresh[0].0,
        last_old + 1,
        "media sequence continues after the last session:\n{}",
        new.raw
    );
    let changes = token_changes(&uris(&old_segs), &uris(&fresh));
    assert!(
        !changes.is_empty(),
        "no per-session token changed between {:?} and {:?}",
        old_segs,
        fresh
    );
    let segments = fetch_segments(&new).await;
    let n_old = new.segments().len() - fresh.len();
    assert_same_packets(
        &segment_packets(&segments[n_old..]),
        &expected_packets(&data),
        "new session",
    );
    server.stop().await;
}

/// With LL-HLS on, a feed published again after its ENDLIST is reachable where players
/// enter, through its multivariant playlist, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn republished_feed_is_listed_in_its_multivariant_playlist() {
    let data = fixture(Fixture::Short);
    let server = TestServer::start(common::ll::ll_config()).await;
    let res = push(server.addr, data.clone(), Push::new("again")).await;
    assert_eq!(res.status, Some(200));
    let old = wait_endlist(&server, "again", Duration::from_secs(10)).await;
    let last_old = old.last_msn().unwrap();

    let res = push(server.addr, data.clone(), Push::new("again")).await;
    assert_eq!(res.status, Some(200), "publish to an ended feed: {res:?}");
    wait_media(
        &server.media_url("again"),
        Duration::from_secs(10),
        "the new session has no segment",
        |m| m.last_msn() > Some(last_old),
    )
    .await;
    // Before the fix this waited the first-segment wait and answered 503.
    let index = get(&server.index_url("again")).await;
    assert_eq!(index.status, 200, "{}", index.text());
    assert!(
        index.text().contains("#EXT-X-STREAM-INF"),
        "{}",
        index.text()
    );
    server.stop().await;
}

/// SIGTERM: the binary ends its feeds, closes the ingest request and exits 0 within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn sigterm_ends_feeds_and_exits() {
    let data = fixture(Fixture::Main);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hlsd.toml");
    let mut c = config();
    c.feeds.reconnect_grace = 10.0;
    c.feeds.idle_timeout = 30.0;
    std::fs::write(&file, config_toml(&c)).unwrap();
    let (mut child, addr, log) = spawn_binary_logged(&file).await;

    let publisher = spawn_push(addr, data.clone(), Push::new("term").paced(&data, 16.0));
    let url = format!("http://{addr}/live/term/main/media.m3u8");
    wait_media(&url, Duration::from_secs(10), "a first segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;

    let pid = child.id().expect("hlsd pid").to_string();
    // The shell's builtin kill: no procps needed.
    let kill = std::process::Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let sent_at = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("hlsd still running 5 s after SIGTERM")
        .unwrap();
    assert!(status.success(), "hlsd exited with {status}");
    let pushed = tokio::time::timeout(
        Duration::from_secs(5).saturating_sub(sent_at.elapsed()) + Duration::from_secs(1),
        publisher,
    )
    .await
    .expect("the ingest connection stayed open after hlsd exited")
    .unwrap();
    assert!(
        pushed.sent < data.len(),
        "the push was not cut short: {pushed:?}"
    );
    // An orderly shutdown is not an error: nothing at ERROR for the publisher it closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = log.lines();
    assert!(
        lines.iter().any(|l| l.contains("server shutting down")),
        "{lines:#?}"
    );
    let errors: Vec<_> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
