//! `hls.clock_numbering`: a feed created later, on another origin or on the same one after
//! it was removed, starts its media and discontinuity sequences strictly above every number
//! the earlier one reached; off (the default), numbering starts at 1 each time.

mod common;

use common::*;

fn numbered(clock: bool) -> hlsd::config::Config {
    let mut c = config();
    c.hls.clock_numbering = clock;
    c.hls.part_duration = 0.25;
    c
}

/// Publishes the main fixture to `server` as `feed`, in about 2 s (so that the feed lives
/// longer than its segments in milliseconds), and returns its media playlist.
async fn publish(server: &TestServer, feed: &str) -> Media {
    let data = fixture(Fixture::Main);
    let pushed = push(server.addr, data.clone(), Push::new(feed).paced(&data, 2.0)).await;
    assert_eq!(pushed.status, Some(200), "push {feed}");
    let m = fetch_media(&server.media_url(feed)).await;
    assert!(m.segments().len() >= 4, "{feed} made segments:\n{}", m.raw);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_origin_numbers_above_the_first_with_clock_numbering() {
    let first = TestServer::start(numbered(true)).await;
    let second = TestServer::start(numbered(true)).await;
    let a = publish(&first, "cam").await;
    let b = publish(&second, "cam").await;
    let a_last = a.last_msn().expect("segments");
    let b_first = b.pl.media_sequence;
    assert!(
        a.pl.media_sequence > 1_000_000_000_000,
        "the first origin's numbers are Unix milliseconds: {}",
        a.pl.media_sequence
    );
    assert!(
        b_first > a_last,
        "second origin's first MSN {b_first} above the first origin's last {a_last}"
    );
    let a_disc = a.pl.discontinuity_sequence + a.discontinuities() as u64;
    assert!(
        b.pl.discontinuity_sequence > a_disc,
        "discontinuity sequence {} above {a_disc}",
        b.pl.discontinuity_sequence
    );
    check_media_rules(&a);
    check_media_rules(&b);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_created_again_on_the_same_origin_numbers_above_its_past() {
    let mut c = numbered(true);
    c.feeds.linger = 0.2;
    let server = TestServer::start(c).await;
    let a = publish(&server, "cam").await;
    let a_last = a.last_msn().expect("segments");
    // Ended after the grace, removed after the linger.
    eventually(
        std::time::Duration::from_secs(10),
        "the feed removed",
        || async { (get(&server.index_url("cam")).await.status == 404).then_some(()) },
    )
    .await;
    let b = publish(&server, "cam").await;
    assert!(
        b.pl.media_sequence > a_last,
        "{} above {a_last}",
        b.pl.media_sequence
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_numbering_starts_at_one_on_every_origin() {
    let first = TestServer::start(numbered(false)).await;
    let second = TestServer::start(numbered(false)).await;
    let a = publish(&first, "cam").await;
    let b = publish(&second, "cam").await;
    assert_eq!(a.pl.media_sequence, 1);
    assert_eq!(b.pl.media_sequence, 1);
    assert_eq!(b.pl.discontinuity_sequence, 0);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_share_the_clock_numbering_and_stay_aligned() {
    let server = TestServer::start(numbered(true)).await;
    let data = fixture(Fixture::Main);
    let (hi, lo) = tokio::join!(
        push(
            server.addr,
            data.clone(),
            Push::path("/ingest/cam/hi").paced(&data, 2.0)
        ),
        push(
            server.addr,
            data.clone(),
            Push::path("/ingest/cam/lo").paced(&data, 2.0)
        ),
    );
    assert_eq!((hi.status, lo.status), (Some(200), Some(200)));
    let hi = fetch_media(&server.url("/live/cam/hi/media.m3u8")).await;
    let lo = fetch_media(&server.url("/live/cam/lo/media.m3u8")).await;
    let msns = |m: &Media| m.segments().iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(msns(&hi), msns(&lo), "same MSNs for the same media");
    assert!(hi.pl.media_sequence > 1_000_000_000_000);
    server.stop().await;
}
