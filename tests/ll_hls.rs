//! LL-HLS with a real TS push paced in real time, so that parts appear live: every playlist
//! update followed the way hls.js follows it (blocking reloads for the next part) obeys
//! HLS-RULES.md; blocking reloads answer once the part exists, and reject or time out as
//! §6.2.5.2 says; the preload-hinted part is served when it completes; parts concatenate to
//! their segment. Delta updates, gzip, HTTP/2, other players and rendition reports are in
//! ll_hls_delivery.rs.

mod common;

use common::ll::*;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Seconds of media in `Fixture::Main`, pushed in real time.
const MAIN_SECS: f64 = 8.0;

/// Starts a real-time push of `Fixture::Main` to `/ingest/{feed}`.
fn live_push(server: &TestServer, feed: &str) -> tokio::task::JoinHandle<Pushed> {
    let data = fixture(Fixture::Main);
    spawn_push(
        server.addr,
        data.clone(),
        Push::new(feed).paced(&data, MAIN_SECS),
    )
}

/// Everything seen across the updates of one playlist.
#[derive(Default)]
struct Tracker {
    updates: usize,
    part_target: Option<f64>,
    server_control: Option<ServerControl>,
    target_duration: Option<u64>,
    media_sequence: u64,
    first_msn: Option<u64>,
    segments: BTreeMap<u64, (String, f64)>,
    parts: BTreeMap<(u64, u64), LlPart>,
    /// Parts of each complete segment.
    part_counts: BTreeMap<u64, u64>,
    last: Option<Ll>,
}

impl Tracker {
    fn check(&mut self, u: &Update) {
        let ll = u.ll();
        let raw = &ll.raw;
        self.updates += 1;
        // The m3u8-rs view obeys the rules of every media playlist.
        check_media_rules(&Media {
            url: ll.url.clone(),
            raw: raw.clone(),
            pl: parse_media(raw),
        });

        let td = ll.target_duration;
        assert_eq!(
            *self.target_duration.get_or_insert(td),
            td,
            "TD changed:\n{raw}"
        );
        let pt = ll
            .part_target
            .unwrap_or_else(|| panic!("no PART-INF:\n{raw}"));
        assert_eq!(
            *self.part_target.get_or_insert(pt),
            pt,
            "PART-TARGET changed:\n{raw}"
        );
        // n or n + 1 whole frames near part_duration (0.25 s): 0.28 s at 25 fps.
        assert!(pt > 0.15 && pt < 0.35, "PART-TARGET {pt}:\n{raw}");
        let sc = ll
            .server_control
            .as_ref()
            .unwrap_or_else(|| panic!("no SERVER-CONTROL:\n{raw}"));
        assert!(sc.can_block_reload, "CAN-BLOCK-RELOAD=YES:\n{raw}");
        assert_eq!(
            self.server_control.get_or_insert_with(|| sc.clone()),
            sc,
            "SERVER-CONTROL changed:\n{raw}"
        );
        let phb = sc.part_hold_back.expect("PART-HOLD-BACK");
        // §4.4.3.8 SHOULD: at least three printed PART-TARGETs (float slack only).
        assert!(phb >= 3.0 * pt - 1e-9, "PART-HOLD-BACK {phb} < 3 × {pt}");
        let hb = sc.hold_back.expect("HOLD-BACK");
        assert!(hb >= 3.0 * td as f64 - 0.001, "HOLD-BACK {hb} < 3 × {td}");
        if let Some(until) = sc.can_skip_until {
            assert!(until >= 6.0 * td as f64, "CAN-SKIP-UNTIL {until} < 6 × TD");
        }

        // Preload hint: exactly one while live, none with ENDLIST, naming the next part.
        if ll.endlist {
            assert!(ll.hints.is_empty(), "PRELOAD-HINT with ENDLIST:\n{raw}");
        } else {
            assert_eq!(ll.hints.len(), 1, "one PRELOAD-HINT:\n{raw}");
            let (m, i) = ll.hint_position().unwrap();
            assert_eq!(
                (m, i),
                ll.next_request(),
                "hint is not the next part:\n{raw}"
            );
            assert_eq!(parse_part_uri(ll.hint().unwrap()).unwrap().0, ll.token());
        }

        // Parts: present, within PART-TARGET, index 0 independent, whole for complete
        // segments, listed only for segments ending in the last 3 × TD.
        assert!(!ll.parts.is_empty(), "no EXT-X-PART:\n{raw}");
        for p in &ll.parts {
            assert!(
                p.duration > 0.0 && p.duration <= pt + 1e-9,
                "part {} DURATION {} vs PART-TARGET {pt}:\n{raw}",
                p.uri,
                p.duration
            );
            if p.index == 0 {
                assert!(p.independent, "part 0 of {} not INDEPENDENT:\n{raw}", p.msn);
            }
        }
        let building: f64 = ll.building_parts().iter().map(|p| p.duration).sum();
        let mut after = building; // media after the end of the segment at hand
        for s in ll.segments.iter().rev() {
            let parts = ll.parts_of(s.msn);
            if parts.is_empty() {
                assert!(
                    after >= 3.0 * td as f64 - 0.002,
                    "segment {} ends {after:.3} s from the end without its parts:\n{raw}",
                    s.msn
                );
            } else {
                assert!(
                    after < 3.0 * td as f64 + 0.002,
                    "segment {} ends {after:.3} s from the end with its parts:\n{raw}",
                    s.msn
                );
                let idx: Vec<u64> = parts.iter().map(|p| p.index).collect();
                assert_eq!(idx, (0..parts.len() as u64).collect::<Vec<_>>());
                let sum: f64 = parts.iter().map(|p| p.duration).sum();
                assert!(
                    (sum - s.duration).abs() <= 0.003,
                    "parts of {} sum to {sum:.5}, EXTINF {}:\n{raw}",
                    s.msn,
                    s.duration
                );
                let n = parts.len() as u64;
                assert_eq!(
                    *self.part_counts.entry(s.msn).or_insert(n),
                    n,
                    "parts of {} changed:\n{raw}",
                    s.msn
                );
            }
            after += s.duration;
        }

        // The blocking answer lists the part asked for (or part 0 of the next segment when
        // the index was past the end of a finished one), unless the stream ended.
        if let Some((m, n)) = u.asked {
            let listed = ll.part(m, n).is_some()
                || (ll.segment(m).is_some()
                    && ll.parts_of(m).len() as u64 <= n
                    && ll.part(m + 1, 0).is_some());
            assert!(
                listed || ll.endlist,
                "_HLS_msn={m}&_HLS_part={n} answered without it:\n{raw}"
            );
            let cc = u.fetched.cache_control();
            // 6 × TD in shared caches; browsers ask again.
            assert_eq!(
                (shared_max_age(cc), max_age(cc)),
                (Some(6 * td), Some(0)),
                "blocking answer Cache-Control {cc}"
            );
        } else {
            let cc = u.fetched.cache_control();
            assert!(
                max_age(cc).is_some_and(|a| a >= 1 && a <= td.max(1)),
                "plain playlist Cache-Control {cc}"
            );
        }

        // Stability: media sequence never decreases; a listed MSN keeps its URI and EXTINF,
        // a listed part its URI, duration and INDEPENDENT.
        assert!(
            ll.media_sequence >= self.media_sequence,
            "MEDIA-SEQUENCE went back"
        );
        self.media_sequence = ll.media_sequence;
        for s in &ll.segments {
            self.first_msn.get_or_insert(s.msn);
            let seen = self
                .segments
                .entry(s.msn)
                .or_insert((s.uri.clone(), s.duration));
            assert_eq!(
                *seen,
                (s.uri.clone(), s.duration),
                "segment {} changed",
                s.msn
            );
        }
        for p in &ll.parts {
            let seen = self.parts.entry((p.msn, p.index)).or_insert(p.clone());
            assert_eq!(seen, p, "part changed");
        }

        // The previous hint names the part that appeared next.
        if let Some(prev) = &self.last
            && let Some(hint) = prev.hint()
        {
            let before = prev.last_part().map(|p| (p.msn, p.index));
            let next = ll
                .parts
                .iter()
                .find(|p| before.is_none_or(|b| (p.msn, p.index) > b));
            if let Some(next) = next {
                assert_eq!(
                    next.uri, hint,
                    "the part after the hint's playlist is not the hinted one:\n{}\n---\n{raw}",
                    prev.raw
                );
            }
        }
        self.last = Some(ll.clone());
    }

    /// The 85 % rule over every part seen, now that each segment's last part is known.
    fn finish(&self) {
        let pt = self.part_target.unwrap();
        let first = self.first_msn.unwrap();
        let mut first_short = 0;
        for (msn, &count) in &self.part_counts {
            for i in 0..count {
                let p = &self.parts[&(*msn, i)];
                if p.independent || i + 1 == count || p.duration >= 0.85 * pt - 1e-9 {
                    continue;
                }
                // The first GOP of the publish may leave one short part.
                first_short += 1;
                assert!(
                    *msn == first && first_short == 1,
                    "part {} is {:.5} s, under 85 % of PART-TARGET {pt}",
                    p.uri,
                    p.duration
                );
            }
        }
        for msn in self.segments.keys() {
            assert!(
                self.part_counts.contains_key(msn),
                "segment {msn} never listed its parts"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn every_playlist_update_obeys_the_ll_hls_rules() {
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "rules");
    let mut follower = Follower::new(&server.media_url("rules"), Duration::from_secs(30));
    let mut t = Tracker::default();
    while let Some(u) = follower.next().await {
        t.check(&u);
    }
    t.finish();
    let last = t.last.as_ref().unwrap();
    assert!(last.endlist);
    assert_eq!(t.segments.len(), 8, "8 one-second GOPs:\n{}", last.raw);
    // About one update per part: 8 s of 0.2–0.25 s parts.
    assert!(t.updates >= 25, "only {} playlist updates", t.updates);
    assert_eq!(pusher.await.unwrap().status, Some(200));
    server.stop().await;
}

/// Asserts an answer came at once.
fn assert_prompt(f: &Fetched, what: &str) {
    assert!(
        f.elapsed < Duration::from_millis(500),
        "{what}: answered after {:?}",
        f.elapsed
    );
}

/// Asserts a 400 at once, cached as a failed blocking request (4 × TD) when `blocking`.
fn assert_bad_request(f: &Fetched, td: u64, blocking: bool, what: &str) {
    assert_eq!(f.resp.status, 400, "{what}: {}", f.resp.text());
    assert_prompt(f, what);
    if blocking {
        assert_eq!(
            max_age(f.cache_control()),
            Some(4 * td),
            "{what}: Cache-Control {}",
            f.cache_control()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn blocking_reload_answers_once_the_part_exists() {
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "block");
    let url = server.media_url("block");
    let ll = first_ll(&url).await;
    let td = ll.target_duration;

    // A part three ahead of the last one listed: the answer waits for it, lists it, and
    // comes as soon as it exists (at most one later part listed).
    let (m, n) = ll.next_request();
    let (m, n) = (m, n + 2);
    let f = fetch_ll(&url, &blocking_query(m, Some(n))).await;
    assert_eq!(f.resp.status, 200, "{}", f.resp.text());
    let got = f.ll();
    let pos = if got.part(m, n).is_some() {
        (m, n)
    } else {
        // Segment m ended with fewer parts: the request meant part 0 of m + 1.
        assert!(
            got.segment(m).is_some() && got.parts_of(m).len() as u64 <= n,
            "_HLS_msn={m}&_HLS_part={n} answered without it:\n{}",
            got.raw
        );
        (m + 1, 0)
    };
    let part = got
        .part(pos.0, pos.1)
        .unwrap_or_else(|| panic!("{pos:?} not listed:\n{}", got.raw));
    let later = got.parts.iter().filter(|p| (p.msn, p.index) > pos).count();
    assert!(
        later <= 1,
        "answered {later} parts after {pos:?} appeared:\n{}",
        got.raw
    );
    assert!(
        f.elapsed >= Duration::from_millis(350),
        "answered after {:?}, before a part three ahead could exist",
        f.elapsed
    );
    assert_eq!(shared_max_age(f.cache_control()), Some(6 * td));
    assert_eq!(max_age(f.cache_control()), Some(0));
    let r = get(&got.abs(&part.uri)).await;
    assert_eq!(r.status, 200, "the part the answer lists: {}", part.uri);

    // _HLS_msn alone: the answer lists that segment complete, and not the one after.
    let next = got.last_segment_msn().unwrap() + 1;
    let f = fetch_ll(&url, &blocking_query(next, None)).await;
    let got = f.ll();
    assert_eq!(
        got.last_segment_msn(),
        Some(next),
        "_HLS_msn={next}:\n{}",
        got.raw
    );
    assert!(got.building_parts().len() <= 1, "late answer:\n{}", got.raw);

    // Bad requests, at once (the coarse cases; the exact limits are tested while the
    // publisher is paused).
    let last = got.last_msn();
    let f = fetch_ll(&url, "_HLS_part=1").await;
    assert_bad_request(&f, td, false, "_HLS_part without _HLS_msn");
    let f = fetch_ll(&url, &blocking_query(last + 10, None)).await;
    assert_bad_request(&f, td, true, "_HLS_msn 10 ahead");
    // (On a finished segment any index past its end means part 0 of the next one.)
    let (hm, hi) = got.hint_position().unwrap();
    let f = fetch_ll(&url, &blocking_query(hm, Some(hi + 500))).await;
    assert_bad_request(&f, td, true, "_HLS_part 500 ahead");
    let f = fetch_ll(&url, "_HLS_msn=x").await;
    assert_bad_request(&f, td, false, "_HLS_msn=x");

    // N past the last part of a finished segment means part 0 of the next one: catch a
    // playlist whose last segment just completed.
    let mut follower = Follower::new(&url, Duration::from_secs(15));
    let done = loop {
        let u = follower
            .next()
            .await
            .expect("no playlist with a just completed segment before ENDLIST");
        let l = u.ll();
        if !l.endlist && l.building_parts().is_empty() && l.segments.len() >= 2 {
            break l.clone();
        }
    };
    let m = done.last_segment_msn().unwrap();
    let count = done.parts_of(m).len() as u64;
    assert!(count > 0, "{}", done.raw);
    let f = fetch_ll(&url, &blocking_query(m, Some(count))).await;
    let got = f.ll();
    assert!(
        got.part(m + 1, 0).is_some(),
        "_HLS_msn={m}&_HLS_part={count} ({count} parts in {m}) answered without part 0 of {}:\n{}",
        m + 1,
        got.raw
    );
    assert!(
        got.part(m + 1, 1).is_none(),
        "_HLS_msn={m}&_HLS_part={count} answered late:\n{}",
        got.raw
    );
    // The same for the segment before, whose successor already has parts: at once.
    let before = done.parts_of(m - 1).len() as u64;
    assert!(before > 0, "{}", done.raw);
    let f = fetch_ll(&url, &blocking_query(m - 1, Some(before))).await;
    assert_eq!(f.resp.status, 200);
    assert_prompt(&f, "_HLS_part past a segment whose successor has parts");

    // Once the feed has ENDLIST the directives are ignored: the playlist, at once.
    assert_eq!(pusher.await.unwrap().status, Some(200));
    let end = eventually(Duration::from_secs(10), "ENDLIST", || async {
        fetch_ll(&url, "").await.ll.filter(|l| l.endlist)
    })
    .await;
    let last = end.last_msn();
    for (msn, part) in [
        (last + 1, None),
        (last + 1, Some(0)),
        (last, Some(500)),
        (last + 50, None),
    ] {
        let q = blocking_query(msn, part);
        let f = fetch_ll(&url, &q).await;
        assert_eq!(f.resp.status, 200, "{q} after ENDLIST: {}", f.resp.text());
        assert_prompt(&f, &format!("{q} after ENDLIST"));
        assert_eq!(f.ll().raw, end.raw, "{q} after ENDLIST");
    }
    server.stop().await;
}

/// The publisher pauses (connection open, grace and idle time-out long): a blocking
/// request within the limits gets 503 after 3 × TD, one beyond them 400 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn blocking_reload_times_out_and_checks_limits_while_the_publisher_pauses() {
    let data = fixture(Fixture::Main);
    let mut c = ll_config();
    c.feeds.idle_timeout = 30.0;
    c.feeds.reconnect_grace = 30.0;
    let server = TestServer::start(c).await;
    let stop = packet_boundary(&data, 0.45);
    let pusher = spawn_push(
        server.addr,
        data.clone(),
        Push::new("pause")
            .paced(&data, MAIN_SECS)
            .stop_at(stop)
            .end(End::Hold),
    );
    let url = server.media_url("pause");
    // Wait until the playlist stops changing.
    let ll = eventually(Duration::from_secs(15), "a stalled playlist", || async {
        let a = fetch_ll(&url, "").await.ll?;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let b = fetch_ll(&url, "").await.ll?;
        (a.raw == b.raw && a.segments.len() >= 2).then_some(b)
    })
    .await;
    assert!(!ll.endlist, "{}", ll.raw);
    let td = ll.target_duration;
    let pt = ll.part_target.unwrap();
    let limit = if pt < 1.0 {
        (3.0 / pt).floor() as u64
    } else {
        3
    };
    let last = ll.last_msn();
    // The hint is the next part: (segment being built, parts it has).
    let (m, n) = ll.hint_position().unwrap();

    let within = [
        blocking_query(m, Some(n)),
        blocking_query(m, Some(n + limit - 1)),
        blocking_query(last + 2, None),
        blocking_query(last + 2, Some(0)),
    ];
    let beyond = [
        blocking_query(last + 3, None),
        blocking_query(last + 3, Some(0)),
        blocking_query(m, Some(n + limit)),
    ];
    let waits = within.iter().map(|q| fetch_ll(&url, q));
    let rejects = beyond.iter().map(|q| fetch_ll(&url, q));
    let (waits, rejects) = tokio::join!(
        futures_util::future::join_all(waits),
        futures_util::future::join_all(rejects)
    );
    for (q, f) in beyond.iter().zip(&rejects) {
        assert_bad_request(
            f,
            td,
            true,
            &format!("{q} (last MSN {last}, limit {limit})"),
        );
    }
    let block = Duration::from_secs(3 * td);
    for (q, f) in within.iter().zip(&waits) {
        assert_eq!(
            f.resp.status,
            503,
            "{q} while stalled (last MSN {last}, limit {limit}): {}",
            f.resp.text()
        );
        assert!(
            f.elapsed >= block - Duration::from_millis(100)
                && f.elapsed <= block + Duration::from_millis(1500),
            "{q}: 503 after {:?}, expected 3 × TD",
            f.elapsed
        );
        assert_eq!(
            max_age(f.cache_control()),
            Some(4 * td),
            "{q}: Cache-Control {}",
            f.cache_control()
        );
    }
    // Still live, unchanged.
    let after = fetch_ll(&url, "").await;
    assert_eq!(after.ll().raw, ll.raw);
    server.stop().await;
    pusher.abort();
}

/// The part the preload hint names is served once complete (the request waits), with the
/// bytes its URI gives later; unknown parts that are not the hint are 404 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn preload_hint_is_served_when_complete() {
    fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "hint");
    let url = server.media_url("hint");
    let mut ll = first_ll(&url).await;
    let token = ll.token();
    let other = format!("{:x}", u64::from_str_radix(&token, 16).unwrap() ^ 1);
    let td = ll.target_duration;
    let (mut checked, mut first_of_segment) = (0, 0);
    while checked < 6 || first_of_segment == 0 {
        assert!(!ll.endlist, "ENDLIST after {checked} hints");
        let hint = ll.hint().unwrap().to_string();
        let (hm, hi) = ll.hint_position().unwrap();
        assert!(ll.part(hm, hi).is_none(), "hinted part listed:\n{}", ll.raw);

        // Neither listed nor hinted: 404 at once, cached for TD.
        let base = ll.abs("x");
        let base = base.trim_end_matches('x');
        for name in [
            format!("part-{token}-{hm}.{}.ts", hi + 2),
            format!("part-{token}-{}.5.ts", hm + 1),
            format!("part-{token}-{}.40.ts", hm - 1),
            format!("part-{other}-{hm}.{hi}.ts"),
        ] {
            let start = Instant::now();
            let r = get(&format!("{base}{name}")).await;
            assert_eq!(r.status, 404, "GET {name} (hint {hint})");
            assert!(start.elapsed() < Duration::from_millis(500), "GET {name}");
            assert_eq!(max_age(r.header("cache-control").unwrap_or("")), Some(td));
        }

        let start = Instant::now();
        let r = get(&ll.abs(&hint)).await;
        let waited = start.elapsed();
        assert_eq!(r.status, 200, "GET hinted {hint}: {}", r.text());
        assert!(
            waited < Duration::from_millis(1500),
            "hinted part after {waited:?}"
        );
        assert_eq!(r.header("content-type"), Some("video/mp2t"));
        assert!(
            r.header("cache-control")
                .is_some_and(|c| c.contains("immutable")),
            "{:?}",
            r.headers
        );
        assert!(!r.body.is_empty() && r.body.len() % ts::PACKET == 0);

        let f = fetch_ll(&url, &blocking_query(hm, Some(hi))).await;
        let next = f.ll().clone();
        let listed = next
            .part(hm, hi)
            .unwrap_or_else(|| panic!("hinted part ({hm}, {hi}) never listed:\n{}", next.raw));
        assert_eq!(listed.uri, hint);
        let again = get(&next.abs(&listed.uri)).await;
        assert_eq!(again.status, 200);
        assert!(
            again.body == r.body,
            "{hint}: {} bytes when hinted, {} when listed",
            r.body.len(),
            again.body.len()
        );
        checked += 1;
        if hi == 0 {
            first_of_segment += 1;
        }
        ll = next;
    }
    assert_eq!(pusher.await.unwrap().status, Some(200));
    server.stop().await;
}

/// PAT then the PMT it names open every part.
fn assert_psi_first(part: &[u8], what: &str) {
    let pk = ts::packets(part);
    assert!(pk.len() >= 3, "{what}: {} packets", pk.len());
    assert_eq!(ts::pid(pk[0]), 0, "{what}: first packet is not the PAT");
    let pat = ts::section(pk[0]).unwrap_or_else(|| panic!("{what}: no PAT section"));
    let pmt = ts::parse_pat(pat);
    assert_eq!(pmt.len(), 1, "{what}: PAT lists {pmt:?}");
    assert_eq!(
        ts::pid(pk[1]),
        pmt[0],
        "{what}: second packet is not the PMT"
    );
    assert!(
        ts::section(pk[1]).is_some_and(|s| !ts::parse_pmt(s).is_empty()),
        "{what}: no PMT section"
    );
}

/// Whether the first video PES of a part holds an IDR, and whether any does.
fn idr_at_start_and_anywhere(part: &[u8]) -> (bool, bool) {
    let info = ts::Info::parse(part);
    let v = info.video_pid().expect("video");
    let pes = ts::pes_list(&ts::packets(part), &std::collections::BTreeSet::from([v]));
    (
        pes.first().is_some_and(|p| ts::is_idr(&p.data)),
        pes.iter().any(|p| ts::is_idr(&p.data)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg"]
async fn parts_concatenate_to_their_segment() {
    let data = fixture(Fixture::Main);
    let server = TestServer::start(ll_config()).await;
    let pusher = live_push(&server, "concat");
    let mut follower = Follower::new(&server.media_url("concat"), Duration::from_secs(30));
    let mut segments: BTreeMap<u64, bytes::Bytes> = BTreeMap::new();
    while let Some(u) = follower.next().await {
        let ll = u.ll();
        for s in &ll.segments {
            let parts = ll.parts_of(s.msn);
            if parts.is_empty() || segments.contains_key(&s.msn) {
                continue;
            }
            let mut joined = Vec::new();
            for p in &parts {
                let r = get(&ll.abs(&p.uri)).await;
                assert_eq!(r.status, 200, "GET {}", p.uri);
                assert_psi_first(&r.body, &p.uri);
                let (start, any) = idr_at_start_and_anywhere(&r.body);
                if p.independent {
                    assert!(start, "{} is INDEPENDENT without an IDR first", p.uri);
                } else {
                    assert!(!any, "{} holds an IDR but is not INDEPENDENT", p.uri);
                }
                joined.extend_from_slice(&r.body);
            }
            let seg = get(&ll.abs(&s.uri)).await;
            assert_eq!(seg.status, 200, "GET {}", s.uri);
            ts::assert_segment_start(&seg.body, &s.uri);
            assert!(
                seg.body[..] == joined[..],
                "segment {} ({} bytes) is not its {} parts ({} bytes)",
                s.msn,
                seg.body.len(),
                parts.len(),
                joined.len()
            );
            segments.insert(s.msn, seg.body);
        }
    }
    assert_eq!(
        segments.keys().copied().collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>(),
        "every segment checked once complete"
    );
    let all: Vec<bytes::Bytes> = segments.into_values().collect();
    assert_same_packets(
        &segment_packets(&all),
        &expected_packets(&data),
        "parts' media vs pushed",
    );
    assert_eq!(pusher.await.unwrap().status, Some(200));
    server.stop().await;
}
