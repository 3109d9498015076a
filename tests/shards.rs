//! Feeds sharded over three hlsd origins by nginx (`deploy/nginx/shard.conf`, only the
//! addresses rewritten): every feed is published and watched through nginx and lives on
//! exactly one origin; when that origin stops, its publisher's next publish lands on
//! another origin and the feed plays again through the same URL.

mod common;

use common::caches::Cache;
use common::*;
use std::process::Stdio;

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

/// What ffmpeg, playing a feed through nginx, did across the loss of the feed's origin.
#[derive(Debug)]
struct FfmpegAcross {
    /// ffmpeg was still running when stopped, 15 s after the kill.
    still_running: bool,
    /// Seconds of output media time ffmpeg had written when the origin was killed, and at
    /// the end.
    out_at_kill: f64,
    out_at_end: f64,
    /// The longest wall-clock time after the kill during which ffmpeg's output did not
    /// advance (from `-progress`, every 0.1 s).
    stall: f64,
    /// Seconds from the kill until nginx served a playlist of the new session.
    new_session_after: f64,
    /// The largest step between consecutive video timestamps in the output, less one frame:
    /// the media lost across the failover.
    lost: f64,
    /// Seconds of video after that step.
    after_gap: f64,
    stderr: String,
}

/// Three origin processes (`clock_numbering` as given) behind nginx, a publisher through it
/// (`hlsd push --loop --reconnect`), and `ffmpeg -i http://NGINX/live/cam/index.m3u8 -c copy
/// -f mpegts OUT` playing it; the feed's origin is killed (SIGKILL) and ffmpeg goes on 15 s.
async fn ffmpeg_across_failover(clock_numbering: bool) -> FfmpegAcross {
    use common::origins::*;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncBufReadExt;

    let mut c = config();
    c.hls.clock_numbering = clock_numbering;
    c.hls.window = 6;
    c.hls.part_duration = 0.25;
    let mut shards = Shards::start(&c).await;
    let router = shards.router.addr;
    let clip = fixture_path(Fixture::Main);
    let _publisher = push_reconnecting(router, "cam", &clip);
    let media = shards.router.url("/live/cam/main/media.m3u8");
    wait_media(&media, Duration::from_secs(30), "cam through nginx", |m| {
        m.segments().len() >= 3
    })
    .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.ts");
    let mut ffmpeg = tool("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-v", "info", "-i"])
        .arg(shards.router.url("/live/cam/index.m3u8"))
        .args(["-c", "copy", "-f", "mpegts", "-progress", "pipe:1"])
        .args(["-stats_period", "0.1"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    // (wall time, output media time in seconds) from -progress.
    let progress = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, f64)>::new()));
    let lines = tokio::io::BufReader::new(ffmpeg.stdout.take().unwrap()).lines();
    let p = progress.clone();
    tokio::spawn(async move {
        let mut lines = lines;
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(us) = l.strip_prefix("out_time_us=")
                && let Ok(us) = us.trim().parse::<i64>()
            {
                p.lock().unwrap().push((Instant::now(), us as f64 / 1e6));
            }
        }
    });
    let mut stderr = ffmpeg.stderr.take().unwrap();
    let stderr_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let out_now =
        |p: &std::sync::Mutex<Vec<(Instant, f64)>>| p.lock().unwrap().last().map_or(0.0, |x| x.1);
    eventually(Duration::from_secs(30), "ffmpeg playing 4 s", || async {
        (out_now(&progress) >= 4.0).then_some(())
    })
    .await;

    let old = session_token(&media).await.expect("a session");
    let killed_at = Instant::now();
    let out_at_kill = out_now(&progress);
    shards.kill_owner("cam").await;
    let (_, new_session_after) = wait_new_session(&media, &old, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(killed_at.elapsed())).await;
    let still_running = ffmpeg.try_wait().expect("ffmpeg status").is_none();
    if let Some(pid) = ffmpeg.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), ffmpeg.wait()).await;
    let _ = ffmpeg.start_kill();
    let stderr = stderr_task.await.unwrap_or_default();
    let out_at_end = out_now(&progress);
    let errors = shards.router.nginx_errors();
    let nginx_errors: Vec<&str> = errors
        .lines()
        .filter_map(|l| l.split("] ").nth(1))
        .map(|l| l.split(", client").next().unwrap_or(l))
        .collect();
    eprintln!("nginx's errors: {nginx_errors:#?}");

    let samples = progress.lock().unwrap().clone();
    let mut stall = 0.0f64;
    let mut since = killed_at;
    let mut last = out_at_kill;
    for (at, t) in samples.iter().filter(|(at, _)| *at > killed_at) {
        if *t > last + 1e-3 {
            stall = stall.max(at.duration_since(since).as_secs_f64());
            since = *at;
            last = *t;
        }
    }
    if out_at_end <= out_at_kill + 1e-3 {
        stall = killed_at.elapsed().as_secs_f64();
    }

    // Video timestamps of the output, in decoding order.
    let probe = tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=dts_time", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .await
        .expect("ffprobe");
    let dts: Vec<f64> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    let frame = 0.04;
    let (mut lost, mut gap_at) = (0.0f64, 0usize);
    for (i, w) in dts.windows(2).enumerate() {
        if w[1] - w[0] - frame > lost {
            lost = w[1] - w[0] - frame;
            gap_at = i + 1;
        }
    }
    let after_gap = match (dts.get(gap_at), dts.last()) {
        (Some(a), Some(b)) if lost > 0.0 => b - a,
        _ => 0.0,
    };
    FfmpegAcross {
        still_running,
        out_at_kill,
        out_at_end,
        stall,
        new_session_after: new_session_after.as_secs_f64(),
        lost,
        after_gap,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx and ffmpeg (scripts/test installs them)"]
async fn ffmpeg_plays_on_across_an_origin_failover_with_clock_numbering() {
    let r = ffmpeg_across_failover(true).await;
    eprintln!(
        "ffmpeg across failover, clock_numbering on: output {:.2} s at the kill, {:.2} s at the end; \
         longest stall after the kill {:.2} s; new session through nginx after {:.2} s; \
         media lost {:.2} s, {:.2} s after it",
        r.out_at_kill, r.out_at_end, r.stall, r.new_session_after, r.lost, r.after_gap
    );
    assert!(r.still_running, "ffmpeg ended:\n{}", r.stderr);
    assert!(
        r.out_at_end > r.out_at_kill + 4.0,
        "ffmpeg's output went on after the failover ({:.2} s at the kill, {:.2} s at the end):\n{}",
        r.out_at_kill,
        r.out_at_end,
        r.stderr
    );
    assert!(
        r.after_gap > 4.0,
        "the output holds media of the new session: {r:?}"
    );
}

/// Default numbering: the new origin starts again at MSN 1, below what ffmpeg asked for
/// last, and ffmpeg waits until the new origin's numbers reach the old ones (the feed is
/// young here, so that comes within the 15 s). Prints what ffmpeg does (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx and ffmpeg (scripts/test installs them)"]
async fn ffmpeg_across_an_origin_failover_with_default_numbering() {
    let r = ffmpeg_across_failover(false).await;
    eprintln!(
        "ffmpeg across failover, clock_numbering off: still running {}; output {:.2} s at the kill, \
         {:.2} s at the end; longest stall after the kill {:.2} s; new session through nginx after \
         {:.2} s; media lost {:.2} s, {:.2} s after it\n{}",
        r.still_running,
        r.out_at_kill,
        r.out_at_end,
        r.stall,
        r.new_session_after,
        r.lost,
        r.after_gap,
        r.stderr
    );
    // shard.conf's stale playlist keeps ffmpeg from ending while no origin has the feed.
    assert!(r.still_running, "ffmpeg ended:\n{}", r.stderr);
    assert!(
        r.stderr.contains("Media sequence changed unexpectedly"),
        "ffmpeg saw the numbering go back:\n{}",
        r.stderr
    );
}
