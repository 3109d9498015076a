//! The playback lookup (feed name → feed → rendition) from several threads at once: the
//! registry as it is (`Registry::rendition`, two `arc-swap` loads and one `Arc` clone), and
//! the same two-level lookup over three map holders: `Mutex<HashMap>` (what the registry
//! was), std's `RwLock<Arc<HashMap>>` (the std-only alternative: readers take a read lock
//! and clone the `Arc`) and `CowMap` (`arc-swap`, what the registry is). Figures go to
//! BENCHMARKS.md (Serving, pinned). Beside them, one rendition's snapshot read from every
//! thread through its `watch` channel and through `Rendition::peek`'s `ArcSwap`, and what a counter shared by every request
//! costs (one `AtomicU64::fetch_add`, as the playback metrics and request ids did) against
//! the playback counters' shards and a thread-local counter.
//!
//! `cargo bench --bench lookup`: 200 feeds of one rendition, lookups spread over them, on 1
//! thread and on every available core (`HLSD_BENCH_THREADS` to set it), best of 5 rounds of
//! 2 000 000 lookups per thread; ns per lookup per thread and lookups/s in all. Under
//! `cargo test` it runs a short smoke version so it cannot rot.

use hlsd::feeds::cow::CowMap;
use hlsd::feeds::{Missing, Registry};
use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

const FEEDS: usize = 200;

/// A two-level map: feed → rendition → value, whose `Arc` is cloned (as playback takes
/// its rendition's).
trait Lookup: Sync {
    fn get(&self, feed: &str, rendition: &str) -> bool;
}

type Inner<T> = HashMap<String, T>;
/// A feed's renditions under each holder.
type MutexFeed = Arc<Mutex<Inner<Arc<u64>>>>;
type RwLockFeed = Arc<RwLock<Arc<Inner<Arc<u64>>>>>;
type CowFeed = Arc<CowMap<Inner<Arc<u64>>>>;

struct Mutexes(Mutex<Inner<MutexFeed>>);
impl Lookup for Mutexes {
    fn get(&self, feed: &str, rendition: &str) -> bool {
        let Some(f) = self.0.lock().ok().and_then(|m| m.get(feed).cloned()) else {
            return false;
        };
        let r = f.lock().ok().and_then(|m| m.get(rendition).cloned());
        black_box(r).is_some()
    }
}

struct RwLocks(RwLock<Arc<Inner<RwLockFeed>>>);
impl Lookup for RwLocks {
    fn get(&self, feed: &str, rendition: &str) -> bool {
        let Some(feeds) = self.0.read().ok().map(|m| m.clone()) else {
            return false;
        };
        let Some(renditions) = feeds
            .get(feed)
            .and_then(|f| f.read().ok().map(|m| m.clone()))
        else {
            return false;
        };
        black_box(renditions.get(rendition).cloned()).is_some()
    }
}

struct Cow(CowMap<Inner<CowFeed>>);
impl Lookup for Cow {
    fn get(&self, feed: &str, rendition: &str) -> bool {
        let feeds = self.0.load();
        let r = feeds
            .get(feed)
            .and_then(|f| f.load().get(rendition).cloned());
        black_box(r).is_some()
    }
}

struct Real(Arc<Registry>);
impl Lookup for Real {
    fn get(&self, feed: &str, rendition: &str) -> bool {
        let r = self.0.rendition(feed, rendition);
        !matches!(black_box(r), Err(Missing::Feed | Missing::Rendition))
    }
}

/// Reading one rendition's current snapshot from every thread: the `watch` channel's value
/// (a read lock and a reference count, what playback did)...
struct WatchSnapshot(tokio::sync::watch::Sender<Arc<u64>>);
impl Lookup for WatchSnapshot {
    fn get(&self, _: &str, _: &str) -> bool {
        let snap = self.0.borrow().clone();
        *black_box(snap) == 7
    }
}

/// ...against a peek at the same `Arc` in an `ArcSwap` (`Rendition::peek`).
struct PeekSnapshot(arc_swap::ArcSwap<u64>);
impl Lookup for PeekSnapshot {
    fn get(&self, _: &str, _: &str) -> bool {
        **black_box(self.0.load()) == 7
    }
}

/// What every playback request also does to counters shared by all threads (the metrics'
/// request and byte counters, the request-id counter): one `fetch_add` on one atomic...
struct SharedCounter(AtomicU64);
impl Lookup for SharedCounter {
    fn get(&self, _: &str, _: &str) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed) != u64::MAX
    }
}

/// ...against hlsd's playback counter (`metrics::ShardedCounter`, a shard per thread)...
struct PlaybackCounter(hlsd::metrics::ShardedCounter);
impl Lookup for PlaybackCounter {
    fn get(&self, _: &str, _: &str) -> bool {
        self.0.inc() != u64::MAX
    }
}

/// ...and a plain thread-local counter.
struct ThreadCounter;
thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}
impl Lookup for ThreadCounter {
    fn get(&self, _: &str, _: &str) -> bool {
        COUNT.with(|c| c.set(black_box(c.get()) + 1));
        true
    }
}

fn names() -> Vec<String> {
    (0..FEEDS).map(|i| format!("feed{i}")).collect()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (lookups, rounds) = if full { (2_000_000, 5) } else { (2_000, 1) };
    let cores = std::env::var("HLSD_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let names = names();
    let value = || Arc::new(7u64);
    let mutexes = Mutexes(Mutex::new(
        names
            .iter()
            .map(|n| {
                let inner = HashMap::from([("main".to_string(), value())]);
                (n.clone(), Arc::new(Mutex::new(inner)))
            })
            .collect(),
    ));
    let rwlocks = RwLocks(RwLock::new(Arc::new(
        names
            .iter()
            .map(|n| {
                let inner = Arc::new(HashMap::from([("main".to_string(), value())]));
                (n.clone(), Arc::new(RwLock::new(inner)))
            })
            .collect(),
    )));
    let cow = Cow(CowMap::default());
    for n in &names {
        let inner: CowMap<Inner<Arc<u64>>> = CowMap::default();
        inner.write().get_mut().insert("main".to_string(), value());
        cow.0.write().get_mut().insert(n.clone(), Arc::new(inner));
    }
    let mut config = hlsd::Config::default();
    config.demo.enabled = false;
    let registry = Registry::new(Arc::new(config), hlsd::clock::Clock::new());
    let addr = "127.0.0.1:9".parse().expect("address");
    let guards: Vec<_> = names
        .iter()
        .map(|n| registry.claim(n, "main", addr).expect("claim"))
        .collect();
    let real = Real(registry.clone());

    println!("{FEEDS} feeds, {lookups} lookups per thread, best of {rounds}");
    println!(
        "{:<34} {:>8} {:>14} {:>8} {:>14}",
        "",
        "1 thread",
        "",
        format!("{cores} thr"),
        ""
    );
    let watch_snapshot = WatchSnapshot(tokio::sync::watch::channel(value()).0);
    let peek_snapshot = PeekSnapshot(arc_swap::ArcSwap::new(value()));
    let playback_counter = PlaybackCounter(Default::default());
    let cases: [(&str, &dyn Lookup); 9] = [
        ("Mutex<HashMap> (before)", &mutexes),
        ("RwLock<Arc<HashMap>> (std)", &rwlocks),
        ("CowMap (arc-swap)", &cow),
        ("Registry::rendition", &real),
        ("one snapshot: watch borrow + clone", &watch_snapshot),
        ("one snapshot: ArcSwap peek", &peek_snapshot),
        (
            "shared AtomicU64 fetch_add",
            &SharedCounter(AtomicU64::new(0)),
        ),
        ("ShardedCounter inc", &playback_counter),
        ("thread-local counter", &ThreadCounter),
    ];
    for (name, map) in cases {
        let one = best(rounds, || run(map, &names, 1, lookups));
        let all = best(rounds, || run(map, &names, cores, lookups));
        println!(
            "{name:<34} {:>5.1} ns {:>10.1} M/s {:>5.1} ns {:>10.1} M/s",
            one.0,
            one.1 / 1e6,
            all.0,
            all.1 / 1e6
        );
    }
    drop(guards);
}

/// The best round: (ns per lookup per thread, lookups/s in all).
fn best(rounds: usize, f: impl Fn() -> (f64, f64)) -> (f64, f64) {
    (0..rounds)
        .map(|_| f())
        .fold((f64::MAX, 0.0), |a, b| if b.0 < a.0 { b } else { a })
}

fn run(map: &dyn Lookup, names: &[String], threads: usize, lookups: usize) -> (f64, f64) {
    let start = Instant::now();
    let per_thread: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let t0 = Instant::now();
                    let mut found = 0usize;
                    for i in 0..lookups {
                        let feed = &names[(i * 7 + t * 13) % names.len()];
                        found += usize::from(map.get(feed, "main"));
                    }
                    black_box(found);
                    t0.elapsed().as_nanos() as f64 / lookups as f64
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let ns = per_thread.iter().sum::<f64>() / per_thread.len() as f64;
    (ns, (threads * lookups) as f64 / wall)
}
