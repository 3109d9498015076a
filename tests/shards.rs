//! Feeds sharded over three hlsd origins by nginx (`deploy/nginx/shard.conf`, only the
//! addresses rewritten): every feed is published and watched through nginx and lives on
//! exactly one origin; when that origin stops, its publisher's next publish lands on
//! another origin and the feed plays again through the same URL.

mod common;

use common::caches::Cache;
use common::*;

const FEEDS: usize = 10;

/// Which of `origins` has `feed` (by its own playlist, straight at each origin).
async fn owners(origins: &[TestServer], feed: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, o) in origins.iter().enumerate() {
        if get(&o.index_url(feed)).await.status == 200 {
            found.push(i);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx (scripts/test installs it)"]
async fn nginx_shards_feeds_over_origins_and_moves_them_when_one_stops() {
    let mut origins = Vec::new();
    for _ in 0..3 {
        origins.push(TestServer::start(config()).await);
    }
    let addrs: Vec<_> = origins.iter().map(|o| o.addr).collect();
    let router = Cache::nginx_shards(&addrs).await;
    let data = fixture(Fixture::Main);

    let mut owner = Vec::new();
    for f in 0..FEEDS {
        let feed = format!("feed{f}");
        let pushed = push(router.addr, data.clone(), Push::new(&feed)).await;
        assert_eq!(pushed.status, Some(200), "{feed} through nginx");
        let at = owners(&origins, &feed).await;
        assert_eq!(at.len(), 1, "{feed} on exactly one origin: {at:?}");
        owner.push(at[0]);
        // Viewers reach it through the same router.
        let m = fetch_media(&router.url(&format!("/live/{feed}/main/media.m3u8"))).await;
        assert!(!m.segments().is_empty(), "{feed} plays through nginx");
    }
    let mut used = owner.clone();
    used.sort();
    used.dedup();
    assert!(
        used.len() >= 2,
        "10 feeds spread over the origins: {owner:?}"
    );

    // The busiest origin stops; its feeds' publishers publish again through the router.
    let gone = *used
        .iter()
        .max_by_key(|o| owner.iter().filter(|x| x == o).count())
        .expect("an origin");
    let moved: Vec<usize> = (0..FEEDS).filter(|f| owner[*f] == gone).collect();
    let stopped = origins.remove(gone);
    stopped.stop().await;
    let index = |i: usize| if i < gone { i } else { i - 1 };
    for f in &moved {
        let feed = format!("feed{f}");
        let pushed = push(router.addr, data.clone(), Push::new(&feed)).await;
        assert_eq!(
            pushed.status,
            Some(200),
            "{feed} again after its origin stopped"
        );
        let at = owners(&origins, &feed).await;
        assert_eq!(
            at.len(),
            1,
            "{feed} on exactly one remaining origin: {at:?}"
        );
        let m = fetch_media(&router.url(&format!("/live/{feed}/main/media.m3u8"))).await;
        assert!(!m.segments().is_empty(), "{feed} plays through nginx again");
    }
    // The other feeds stayed where they were.
    for f in (0..FEEDS).filter(|f| owner[*f] != gone) {
        let feed = format!("feed{f}");
        assert_eq!(
            owners(&origins, &feed).await,
            vec![index(owner[f])],
            "{feed} stayed"
        );
    }
    drop(router);
    for o in origins {
        o.stop().await;
    }
}
