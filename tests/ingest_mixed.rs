//! Publishing over HTTP, RTMP and SRT into the same feeds: a rendition held over one protocol
//! refuses a publisher over the other (HTTP 409, RTMP `NetStream.Publish.BadName`), whose
//! answer names the holder's protocol but its address only for the admin; a publisher that
//! comes back over the other protocol within the grace continues the feed (same session,
//! numbering and PDT continuing, one discontinuity); an HTTP publisher comes back over SRT
//! the same way, and a rendition held over HTTP rejects an SRT caller with 1409; an RTMP
//! publisher comes back over SRT (a rendition held over RTMP rejects an SRT caller with 1409).

mod common;

use common::rtmp::{Attempt, ffmpeg_rtmp, finished, rtmp_publish};
use common::srt::{ffmpeg_srt, srt_call, srt_url};
use common::*;
use hlsd::synth::Synth;
use std::time::Duration;

const ADMIN: &str = "adm1n";
const KEY: &str = "k3y";

fn mixed_config() -> Config {
    let mut c = config();
    c.admin.token = Some(ADMIN.into());
    c.auth = Some(hlsd::config::AuthConfig {
        publish_key: Some(KEY.into()),
        ..Default::default()
    });
    c
}

/// No media is needed: a publish claims its rendition before its first bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendition_held_over_one_protocol_refuses_the_other_and_hides_the_holder() {
    let (server, rtmp) = TestServer::start_with_rtmp(mixed_config()).await;
    let held = match rtmp_publish(rtmp, "live", &format!("cam1?key={KEY}")).await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    assert_eq!(publisher_protocol(&server, "cam1").await, "rtmp");

    let url = server.url("/ingest/cam1");
    let bearer_key = format!("Bearer {KEY}");
    let with_key = server.url(&format!("/ingest/cam1?key={KEY}"));
    let bearer_admin = format!("Bearer {ADMIN}");
    for (url, headers) in [
        (&url, vec![("authorization", bearer_key.as_str())]),
        (&with_key, vec![]),
    ] {
        let r = request("POST", url, &headers).await;
        assert_eq!(r.status, 409, "{}", r.text());
        let text = r.text();
        assert!(
            text.contains("already being published (over rtmp"),
            "{text}"
        );
        assert!(!text.contains("127.0.0.1"), "holder's address told: {text}");
    }
    // A bearer other than the admin token is the publish key, and wrong.
    let r = request(
        "POST",
        &with_key,
        &[("authorization", "Bearer not-the-admin")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains("127.0.0.1"), "{}", r.text());
    // The admin token as bearer (the publish key then in the query): the address is told.
    let r = request("POST", &with_key, &[("authorization", &bearer_admin)]).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("published by 127.0.0.1:"), "{}", r.text());
    // The admin token is no publish key.
    let r = request("POST", &url, &[("authorization", &bearer_admin)]).await;
    assert_eq!(r.status, 403, "{}", r.text());

    // Held over HTTP: an RTMP publisher is refused, told the protocol, not the address.
    let data = Synth::default().build(50);
    let push = spawn_push(
        server.addr,
        data.into(),
        Push::new("cam2")
            .header("authorization", &bearer_key)
            .end(End::Hold),
    );
    assert_eq!(publisher_protocol(&server, "cam2").await, "http");
    match rtmp_publish(rtmp, "live", &format!("cam2?key={KEY}")).await {
        Attempt::Publishing(_) => panic!("published on a rendition held over HTTP"),
        Attempt::Closed(got) => {
            assert!(got.contains("NetStream.Publish.BadName"), "{got:?}");
            assert!(
                got.contains("already being published (over http"),
                "{got:?}"
            );
            assert!(!got.contains("127.0.0.1"), "{got:?}");
        }
    }
    let text = get(&server.url("/metrics")).await.text();
    assert!(
        text.lines()
            .any(|l| l == "hlsd_ingest_refused_total{reason=\"busy\"} 4"),
        "{text}"
    );
    drop(held);
    push.abort();
    server.stop().await;
}

/// Media sequence numbers one by one, one discontinuity, the session's token unchanged,
/// and PROGRAM-DATE-TIME going forward across the return; decodes without a message.
fn continues_with_one_discontinuity(media: &Media) {
    assert_eq!(media.discontinuities(), 1, "{}", media.raw);
    let segments = media.segments();
    assert!(segments.len() >= 6, "{}", media.raw);
    for w in segments.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "{}", media.raw);
    }
    let tokens: std::collections::BTreeSet<String> = media
        .pl
        .segments
        .iter()
        .map(|s| s.uri.split('-').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(tokens.len(), 1, "one session: {}", media.raw);
    let dates: Vec<_> = media
        .pl
        .segments
        .iter()
        .map(|s| s.program_date_time.expect("PROGRAM-DATE-TIME"))
        .collect();
    for (i, w) in dates.windows(2).enumerate() {
        let step = (w[1] - w[0]).num_milliseconds() as f64 / 1000.0;
        assert!(
            step >= segments[i].2 - 0.002,
            "PDT of segment {} is {step} s after the previous one, which lasts {}:\n{}",
            i + 1,
            segments[i].2,
            media.raw
        );
    }
    let errors = decode_errors(&media.url);
    assert!(
        errors.is_empty(),
        "ffmpeg decoding the HLS output: {errors}"
    );
}

/// Where a push is killed: between two frames, before the keyframe nearest the middle (a
/// frame cut in two by the kill would not decode, whatever the way back).
fn keyframe_near_middle(data: &[u8]) -> usize {
    let pk = common::ts::packets(data);
    let info = common::ts::Info::parse(data);
    let video = std::collections::BTreeSet::from([info.video_pid().expect("video")]);
    let keys: Vec<usize> = common::ts::pes_list(&pk, &video)
        .into_iter()
        .filter(|p| common::ts::is_idr(&p.data))
        .map(|p| p.first_packet * 188)
        .collect();
    *keys.get(keys.len() / 2).expect("keyframes")
}

fn grace_config() -> Config {
    let mut c = config();
    c.feeds.reconnect_grace = 8.0;
    c.hls.part_duration = 0.25;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_http_publisher_killed_comes_back_over_rtmp_within_the_grace() {
    let data = fixture(Fixture::Main);
    let input = fixture_path(Fixture::Main);
    let (server, rtmp) = TestServer::start_with_rtmp(grace_config()).await;
    let url = server.media_url("cam3");
    let half = keyframe_near_middle(&data);
    let push = spawn_push(
        server.addr,
        data.clone(),
        Push::new("cam3")
            .paced(&data, 4.0)
            .stop_at(half)
            .end(End::Drop),
    );
    wait_media(&url, Duration::from_secs(15), "two segments", |m| {
        m.segments().len() >= 2
    })
    .await;
    push.await.unwrap();
    wait_state(&server, "cam3", "reconnecting").await;

    let again = ffmpeg_rtmp(&input, &format!("rtmp://{rtmp}/live/cam3"), false);
    let (status, stderr) = finished(again).await;
    assert!(status.success(), "ffmpeg: {stderr}");
    let media = wait_endlist(&server, "cam3", Duration::from_secs(20)).await;
    continues_with_one_discontinuity(&media);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_rtmp_publisher_killed_comes_back_over_http_within_the_grace() {
    let data = fixture(Fixture::Main);
    let input = fixture_path(Fixture::Main);
    let (server, rtmp) = TestServer::start_with_rtmp(grace_config()).await;
    let url = server.media_url("cam4");
    let mut first = ffmpeg_rtmp(&input, &format!("rtmp://{rtmp}/live/cam4"), true);
    wait_media(&url, Duration::from_secs(15), "two segments", |m| {
        m.segments().len() >= 2
    })
    .await;
    first.kill().await.expect("kill ffmpeg");
    wait_state(&server, "cam4", "reconnecting").await;

    let again = push(server.addr, data.clone(), Push::new("cam4")).await;
    assert_eq!(again.status, Some(200), "{again:?}");
    let media = wait_endlist(&server, "cam4", Duration::from_secs(20)).await;
    continues_with_one_discontinuity(&media);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_http_publisher_killed_comes_back_over_srt_within_the_grace() {
    let data = fixture(Fixture::Main);
    let input = fixture_path(Fixture::Main);
    let (server, srt) = TestServer::start_with_srt(grace_config()).await;
    let url = server.media_url("cam5");
    let push = spawn_push(
        server.addr,
        data.clone(),
        Push::new("cam5")
            .paced(&data, 4.0)
            .stop_at(keyframe_near_middle(&data))
            .end(End::Drop),
    );
    wait_media(&url, Duration::from_secs(15), "two segments", |m| {
        m.segments().len() >= 2
    })
    .await;
    // Held over HTTP: an SRT caller for the rendition gets 1409.
    match srt_call(srt, "#!::r=cam5,m=publish", None).await {
        Err(Ok(code)) => assert_eq!(code, 1409),
        Ok(_) => panic!("a second publisher over SRT was accepted"),
        Err(Err(e)) => panic!("not a rejection: {e}"),
    }
    push.await.unwrap();
    wait_state(&server, "cam5", "reconnecting").await;

    let again = ffmpeg_srt(
        &input,
        &srt_url(srt, "#!::r=cam5,m=publish", "linger=2"),
        &[],
    );
    assert_eq!(publisher_protocol(&server, "cam5").await, "srt");
    let out = tokio::time::timeout(Duration::from_secs(30), again.wait_with_output())
        .await
        .expect("ffmpeg did not exit within 30 s")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let media = wait_endlist(&server, "cam5", Duration::from_secs(20)).await;
    continues_with_one_discontinuity(&media);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn an_rtmp_publisher_killed_comes_back_over_srt_within_the_grace() {
    let input = fixture_path(Fixture::Main);
    let (server, rtmp, srt) = TestServer::start_with_rtmp_and_srt(grace_config()).await;
    let url = server.media_url("cam6");
    let mut first = ffmpeg_rtmp(&input, &format!("rtmp://{rtmp}/live/cam6"), true);
    wait_media(&url, Duration::from_secs(15), "two segments", |m| {
        m.segments().len() >= 2
    })
    .await;
    // Held over RTMP: an SRT caller for the rendition gets 1409.
    match srt_call(srt, "#!::r=cam6,m=publish", None).await {
        Err(Ok(code)) => assert_eq!(code, 1409),
        Ok(_) => panic!("a second publisher over SRT was accepted"),
        Err(Err(e)) => panic!("not a rejection: {e}"),
    }
    first.kill().await.expect("kill ffmpeg");
    wait_state(&server, "cam6", "reconnecting").await;

    let again = ffmpeg_srt(
        &input,
        &srt_url(srt, "#!::r=cam6,m=publish", "linger=2"),
        &[],
    );
    assert_eq!(publisher_protocol(&server, "cam6").await, "srt");
    let (status, stderr) = finished(again).await;
    assert!(status.success(), "ffmpeg: {stderr}");
    let media = wait_endlist(&server, "cam6", Duration::from_secs(20)).await;
    continues_with_one_discontinuity(&media);
    server.stop().await;
}
