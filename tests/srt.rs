//! SRT ingest with ffmpeg (libsrt) as the publisher and srt-tokio's caller where a test
//! needs exact payloads or the precise rejection code: every stream ID form, payloads of
//! 1316 and 1264 bytes, the HLS output plays and carries the packets the publisher sent;
//! `[srt] passphrase`; rejection codes decided at the handshake (1400, 1401, 1403, 1405,
//! 1409, 1503); a killed publisher gets the reconnect grace and a discontinuity when it
//! comes back; 2 % loss and 50 ms delay each way leave the feed clean; a crafted
//! handshake and an encrypting caller without `[srt] passphrase` are refused without
//! disturbing a held publish (tests/srt_fuzz.rs has thousands more). Needs ffmpeg and ffprobe (run with
//! --include-ignored).

mod common;

use common::srt::*;
use common::srt_fuzz;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;

const KEY: &str = "k3y";
const PASSPHRASE: &str = "correct-horse-battery";

/// Waits for the rendition's ENDLIST; its segments carry exactly `sent`'s packets from the
/// first keyframe on (hlsd's own PSI aside), and ffmpeg decodes the playlist silently.
async fn plays_what_was_sent(server: &TestServer, feed: &str, rendition: &str, sent: &[u8]) {
    let url = server.url(&format!("/live/{feed}/{rendition}/media.m3u8"));
    let media = wait_media(&url, Duration::from_secs(20), "ENDLIST", |m| m.endlist()).await;
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    let segments = fetch_segments(&media).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(sent),
        &format!("{feed}/{rendition}"),
    );
    let errors = tokio::task::spawn_blocking(move || decode_errors(&url))
        .await
        .unwrap();
    assert!(errors.is_empty(), "ffmpeg decoding {feed}: {errors}");
}

async fn publisher_done(child: tokio::process::Child, what: &str) {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: ffmpeg did not exit within 30 s"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    assert!(stderr.trim().is_empty(), "{what}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn ffmpeg_publishes_every_stream_id_form_and_payload_size() {
    let input = fixture_path(Fixture::Main);
    let sent = ffmpeg_remuxed(&input, &[]);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let publishers = [
        (
            "cam1",
            "main",
            "#!::r=cam1,m=publish",
            "pkt_size=1316&linger=2",
        ),
        ("cam2", "main", "cam2", "pkt_size=1264&linger=2"),
        ("cam3", "hd", "publish:cam3/hd", "linger=2"),
        (
            "cam4",
            "main",
            "#!::u=someone,m=publish,r=cam4/main,x=y",
            "linger=2",
        ),
    ];
    let children: Vec<_> = publishers
        .iter()
        .map(|(_, _, sid, opts)| ffmpeg_srt(&input, &srt_url(srt, sid, opts), &[]))
        .collect();
    assert_eq!(publisher_protocol(&server, "cam1").await, "srt");
    eventually(Duration::from_secs(10), "4 SRT publishers", || async {
        let text = get(&server.url("/metrics")).await.text();
        text.lines()
            .any(|l| l == "hlsd_publishers_connected{protocol=\"srt\"} 4")
            .then_some(())
    })
    .await;
    for (child, (feed, ..)) in children.into_iter().zip(&publishers) {
        publisher_done(child, feed).await;
    }
    for (feed, rendition, ..) in &publishers {
        plays_what_was_sent(&server, feed, rendition, &sent).await;
    }
    server.stop().await;
}

/// srt-tokio's caller sends the fixture's own bytes, in messages of 1316 and 1264 bytes
/// and in one-packet messages: the segments carry the very packets pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_payload_size_reaches_the_segments_unchanged() {
    let data = fixture(Fixture::Short);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let mut tasks = Vec::new();
    for (feed, size) in [("p1316", 1316), ("p1264", 1264), ("p188", 188)] {
        let socket = srt_call(srt, feed, None).await.expect("accepted");
        let data = data.clone();
        // Four times real time: well within the receive buffer, in order.
        let rate = data.len() * 4 / 3;
        tasks.push(tokio::spawn(async move {
            srt_send(socket, &data, size, rate).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for feed in ["p1316", "p1264", "p188"] {
        let media = wait_endlist(&server, feed, Duration::from_secs(20)).await;
        let segments = fetch_segments(&media).await;
        assert_same_packets(&segment_packets(&segments), &expected_packets(&data), feed);
    }
    server.stop().await;
}

fn keyed_config() -> Config {
    let mut c = config();
    c.auth = Some(hlsd::config::AuthConfig {
        publish_key: Some(KEY.into()),
        ..Default::default()
    });
    c.feeds.max_feeds = 2;
    c
}

async fn refused(srt: SocketAddr, sid: &str, passphrase: Option<&str>) -> i32 {
    match srt_call(srt, sid, passphrase).await {
        Ok(_) => panic!("{sid:?} was accepted"),
        Err(Ok(code)) => code,
        Err(Err(e)) => panic!("{sid:?}: not a rejection: {e}"),
    }
}

/// The codes of DESIGN.md, decided before the handshake completes: the caller never
/// connects, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_documented_rejection_codes() {
    let (server, srt) = TestServer::start_with_srt(keyed_config()).await;
    for (sid, want) in [
        ("", 1400),
        ("#!::m=publish", 1400),
        ("#!::r=bad name,s=k3y", 1400),
        ("publish:cam1/a/b:k3y", 1400),
        ("#!::r=cam1,m=request,s=k3y", 1405),
        ("#!::r=cam1,m=bidirectional,s=k3y", 1405),
        ("#!::r=cam1,m=publish", 1401),
        ("cam1", 1401),
        ("#!::r=cam1,s=wrong", 1403),
        ("publish:cam1:wrong", 1403),
    ] {
        let code = refused(srt, sid, None).await;
        assert_eq!(code, want, "{sid:?}: got {code} ({})", reason_name(code));
    }
    assert!(feed_json(&server, "cam1").await.is_none());

    // Held: a second publisher of the rendition gets 1409, whatever the form.
    let held = srt_call(srt, "#!::r=cam1,s=k3y,m=publish", None)
        .await
        .expect("the right key is accepted");
    assert_eq!(publisher_protocol(&server, "cam1").await, "srt");
    assert_eq!(refused(srt, "publish:cam1:k3y", None).await, 1409);
    assert_eq!(refused(srt, "#!::s=k3y,r=cam1/main", None).await, 1409);
    // Another rendition of the feed is free.
    let other = srt_call(srt, "publish:cam1/hd:k3y", None)
        .await
        .expect("another rendition");
    // feeds.max_feeds = 2: a second feed is taken, a third is full.
    let second = srt_call(srt, "publish:cam2:k3y", None)
        .await
        .expect("a second feed");
    assert_eq!(refused(srt, "publish:cam3:k3y", None).await, 1503);
    let text = get(&server.url("/metrics")).await.text();
    for reason in [
        "bad_name",
        "bad_mode",
        "missing_key",
        "wrong_key",
        "busy",
        "feeds",
    ] {
        assert!(
            text.lines().any(
                |l| l.starts_with(&format!("hlsd_ingest_refused_total{{reason=\"{reason}\"}}"))
            ),
            "{reason}: {text}"
        );
    }
    drop((held, other, second));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn a_passphrase_is_required_of_every_publisher() {
    let mut c = config();
    c.srt = Some(hlsd::config::SrtConfig {
        passphrase: PASSPHRASE.into(),
        ..Default::default()
    });
    let input = fixture_path(Fixture::Short);
    let sent = ffmpeg_remuxed(&input, &[]);
    let (server, srt) = TestServer::start_with_srt(c).await;

    // ffmpeg with the passphrase (AES-128, libsrt's default key length), then AES-256.
    for (feed, opts) in [
        ("enc", format!("passphrase={PASSPHRASE}&linger=2")),
        (
            "enc256",
            format!("passphrase={PASSPHRASE}&pbkeylen=32&linger=2"),
        ),
    ] {
        let child = ffmpeg_srt(&input, &srt_url(srt, feed, &opts), &[]);
        publisher_done(child, feed).await;
        plays_what_was_sent(&server, feed, "main", &sent).await;
    }
    // ffmpeg without it, or with another one: refused, nothing published.
    for (feed, opts) in [
        ("plain", String::new()),
        ("wrong", "passphrase=not-the-right-one".into()),
    ] {
        let child = ffmpeg_srt(&input, &srt_url(srt, feed, &opts), &[]);
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("ffmpeg did not exit within 30 s")
            .unwrap();
        assert!(!out.status.success(), "{feed} was accepted");
        assert!(feed_json(&server, feed).await.is_none(), "{feed}");
    }
    // srt-tokio's caller reads the codes: unencrypted → SRT_REJ_UNSECURE (11), wrong
    // passphrase → SRT_REJ_BADSECRET (10).
    assert_eq!(refused(srt, "plain", None).await, 11);
    assert_eq!(refused(srt, "wrong", Some("not-the-right-one")).await, 10);
    assert!(srt_call(srt, "right", Some(PASSPHRASE)).await.is_ok());
    server.stop().await;
}

/// Without `[srt] passphrase`, a caller that encrypts is refused (SRT_REJ_UNSECURE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypting_caller_is_refused_without_a_passphrase() {
    let (server, srt) = TestServer::start_with_srt(config()).await;
    assert_eq!(refused(srt, "cam1", Some(PASSPHRASE)).await, 11);
    assert!(srt_call(srt, "cam1", None).await.is_ok());
    server.stop().await;
}

/// `hlsd_srt_listener_restarts_total`.
async fn listener_restarts(server: &TestServer) -> u64 {
    let text = get(&server.url("/metrics")).await.text();
    text.lines()
        .find_map(|l| l.strip_prefix("hlsd_srt_listener_restarts_total "))
        .expect("hlsd_srt_listener_restarts_total")
        .parse()
        .unwrap()
}

/// ffmpeg encrypting with libsrt's default key length announces none in its handshake, so
/// hlsd lets the SRT stack decide with the keying material in hand: the stack refuses it
/// (SRT_REJ_UNSECURE), the listener goes on, and a publisher held meanwhile is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn an_ffmpeg_caller_encrypting_without_a_server_passphrase_is_refused() {
    let input = fixture_path(Fixture::Main);
    let sent = ffmpeg_remuxed(&input, &[]);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let held = ffmpeg_srt(&input, &srt_url(srt, "held", "pkt_size=1316&linger=2"), &[]);
    wait_media(
        &server.media_url("held"),
        Duration::from_secs(15),
        "a segment",
        |m| !m.pl.segments.is_empty(),
    )
    .await;

    let opts = format!("passphrase={PASSPHRASE}&connect_timeout=2000");
    let short = fixture_path(Fixture::Short);
    let child = ffmpeg_srt(&short, &srt_url(srt, "enc", &opts), &[]);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("ffmpeg did not exit within 30 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an encrypting caller was taken");
    // libsrt's words for SRT_REJ_UNSECURE.
    assert!(
        stderr.contains("Password required or unexpected"),
        "{stderr}"
    );
    assert!(feed_json(&server, "enc").await.is_none());
    assert_eq!(listener_restarts(&server).await, 0);

    publisher_done(held, "held").await;
    plays_what_was_sent(&server, "held", "main", &sent).await;
    assert_eq!(listener_restarts(&server).await, 0);
    server.stop().await;
}

fn grace_config() -> Config {
    let mut c = config();
    c.feeds.reconnect_grace = 3.0;
    c.feeds.idle_timeout = 1.0;
    c
}

/// Segments of `media` that follow a discontinuity.
fn discontinuity_at(media: &Media) -> Vec<usize> {
    (0..media.pl.segments.len())
        .filter(|&i| media.pl.segments[i].discontinuity)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn a_killed_publisher_comes_back_within_the_grace_with_a_discontinuity() {
    let input = fixture_path(Fixture::Main);
    let (server, srt) = TestServer::start_with_srt(grace_config()).await;
    let url = srt_url(srt, "#!::r=cam1,m=publish", "pkt_size=1316&linger=2");
    let mut first = ffmpeg_srt(&input, &url, &[]);
    let media_url = server.media_url("cam1");
    wait_media(&media_url, Duration::from_secs(15), "two segments", |m| {
        m.pl.segments.len() >= 2
    })
    .await;
    first.start_kill().unwrap();
    let _ = first.wait().await;
    // Silent for feeds.idle_timeout: the publish ends, the grace begins.
    eventually(Duration::from_secs(10), "the publisher gone", || async {
        let v = feed_json(&server, "cam1").await?;
        v["renditions"][0]["publisher"].is_null().then_some(())
    })
    .await;
    let m = fetch_media(&media_url).await;
    assert!(!m.endlist(), "ENDLIST within the grace: {}", m.raw);

    // An encoder back after a cut: its clock has moved on.
    let offset = ["-output_ts_offset", "30"];
    let second = ffmpeg_srt(&input, &url, &offset);
    publisher_done(second, "the publisher back").await;
    let media = wait_endlist(&server, "cam1", Duration::from_secs(20)).await;
    let at = discontinuity_at(&media);
    assert_eq!(at.len(), 1, "{}", media.raw);
    let segments = media.segments();
    for w in segments.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "{}", media.raw);
    }
    // From the discontinuity on, the packets of the publisher that came back. (Before it,
    // the killed publisher's last frame may be cut short: that is its own doing.)
    let after = fetch_segments(&media).await.split_off(at[0]);
    let sent = ffmpeg_remuxed(&input, &offset);
    assert_same_packets(
        &segment_packets(&after),
        &expected_packets(&sent),
        "after the return",
    );
    server.stop().await;
}

/// ffmpeg publishes through a relay that drops 2 % of the datagrams and delays the rest by
/// 50 ms, each way, with 500 ms of SRT latency: SRT recovers every loss, so the segments
/// carry exactly what ffmpeg sent and decode silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn two_percent_loss_each_way_leaves_the_feed_clean() {
    let input = fixture_path(Fixture::Main);
    let sent = ffmpeg_remuxed(&input, &[]);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let relay = lossy_relay(srt, 0.02, Duration::from_millis(50)).await;
    let url = srt_url(
        relay,
        "#!::r=lossy,m=publish",
        "pkt_size=1316&latency=500000&linger=3",
    );
    let child = ffmpeg_srt(&input, &url, &[]);
    publisher_done(child, "lossy").await;
    plays_what_was_sent(&server, "lossy", "main", &sent).await;
    server.stop().await;
}

/// A conclusion handshake with an extension srt-protocol 0.4.4 as published panicked on
/// (vendor/srt-protocol/PATCHES.md) while a publisher is held: the listener goes on (no
/// restart), the next caller connects at once, and the held publish carries every packet
/// with no discontinuity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_handshake_is_dropped_and_held_publishers_go_on() {
    let data = fixture(Fixture::Short);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let held = srt_call(srt, "held", None).await.expect("accepted");
    let publish = {
        let data = data.clone();
        // Real time (3 s): the datagrams below arrive in the middle of it.
        tokio::spawn(async move { srt_send(held, &data, 1316, data.len() / 3).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..10 {
        probe.send_to(&poison_handshake(), srt).await.unwrap();
    }
    // A conclusion without an HSREQ, for a feed of its own: refused (SRT_REJ_ROGUE) once
    // hlsd accepts it, so the feed is not left held by a caller that never connects.
    let rogue = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    rogue.send_to(&srt_fuzz::induction(), srt).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), rogue.recv(&mut buf))
        .await
        .expect("an answer to the induction")
        .unwrap();
    let cookie = srt_fuzz::cookie_of(&buf[..n]).expect("a handshake");
    let conclusion = srt_fuzz::without_hsreq(srt_fuzz::conclusion("rogue", None));
    rogue
        .send_to(&srt_fuzz::with_cookie(conclusion, cookie), srt)
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), rogue.recv(&mut buf))
        .await
        .expect("an answer to the conclusion")
        .unwrap();
    // Shake type SRT_REJ_ROGUE on the wire (1004).
    assert_eq!(&buf[36..40], &1004i32.to_be_bytes(), "{:?}", &buf[..n]);
    let again = srt_call(srt, "rogue", None)
        .await
        .expect("the feed is free");
    drop(again);
    let after = srt_call(srt, "after", None)
        .await
        .expect("the next caller connects");
    srt_send(after, &data, 1316, data.len()).await;
    publish.await.unwrap();
    let media = wait_endlist(&server, "held", Duration::from_secs(20)).await;
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    let segments = fetch_segments(&media).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&data),
        "held",
    );
    assert!(
        !wait_endlist(&server, "after", Duration::from_secs(20))
            .await
            .pl
            .segments
            .is_empty()
    );
    assert_eq!(listener_restarts(&server).await, 0);
    server.stop().await;
}

/// An SRT control packet: a version-5 conclusion handshake whose only extension is of type
/// 6 (congestion control), which srt-protocol 0.4.4 as published parsed and then refused
/// with a panic.
fn poison_handshake() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&0x8000_0000u32.to_be_bytes()); // control, type 0: handshake
    p.extend_from_slice(&0u32.to_be_bytes()); // additional info
    p.extend_from_slice(&0u32.to_be_bytes()); // timestamp
    p.extend_from_slice(&0u32.to_be_bytes()); // destination socket
    p.extend_from_slice(&5u32.to_be_bytes()); // version 5
    p.extend_from_slice(&0u16.to_be_bytes()); // no encryption
    p.extend_from_slice(&0x4u16.to_be_bytes()); // extension flags: CONFIG
    p.extend_from_slice(&1u32.to_be_bytes()); // initial sequence number
    p.extend_from_slice(&1500u32.to_be_bytes()); // MTU
    p.extend_from_slice(&8192u32.to_be_bytes()); // flow window
    p.extend_from_slice(&(-1i32).to_be_bytes()); // conclusion
    p.extend_from_slice(&7u32.to_be_bytes()); // socket id
    p.extend_from_slice(&0i32.to_be_bytes()); // cookie
    p.extend_from_slice(&[127, 0, 0, 1]);
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(&6u16.to_be_bytes()); // extension type 6
    p.extend_from_slice(&1u16.to_be_bytes()); // one word
    p.extend_from_slice(b"live");
    p
}
