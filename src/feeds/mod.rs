//! The feed registry: feeds exist from their first publish, hold one [`Rendition`] per
//! pushed rendition, and go through the lifecycle of DESIGN.md (live → reconnecting →
//! ended → removed). Timers for grace and linger are tokio tasks that act only if nothing
//! happened in between (checked with the rendition's epoch).
//!
//! Lock order: registry feeds → feed renditions → rendition state. No lock is held across
//! an `.await`. Those are the writers' locks: the feed map and each feed's rendition map
//! are [`cow::CowMap`]s, read on every playback request without any lock.

pub mod admin;
pub mod cow;
pub mod dvr;
pub mod fmp4;
#[cfg(test)]
mod hint_tests;
pub mod numbering;
pub mod rendition;
pub mod siblings;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod view;
#[cfg(test)]
mod watch_tests;

use crate::clock::{Clock, new_token};
use crate::config::Config;
use crate::ingest::Protocol;
use crate::playlist::{Container, Variant, render_multivariant};
use cow::CowMap;
pub use rendition::{MediaFile, Playlists, Rendered, Rendition, RenditionInit, Snapshot};
use rendition::{Phase, Publisher};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Why a publish was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Its text names the holder's protocol, not its address: that is for the admin only
    /// ([`ClaimError::with_holder`]).
    #[error(
        "{feed}/{rendition} is already being published (over {}, for {secs} s); a feed takes one publisher at a time",
        protocol.as_str()
    )]
    Busy {
        feed: String,
        rendition: String,
        protocol: crate::ingest::Protocol,
        addr: SocketAddr,
        secs: i64,
        /// The holder's publisher id, and how long it has delivered nothing (ms).
        holder: u64,
        silent_ms: i64,
    },
    #[error("too many feeds: the limit (feeds.max_feeds) is {0}")]
    TooManyFeeds(usize),
    #[error("too many renditions in this feed: the limit (limits.max_renditions) is {0}")]
    TooManyRenditions(usize),
    #[error(
        "memory budget reached: feeds hold {used_mb} MiB of media, the budget (limits.max_memory_mb) is {budget_mb} MiB"
    )]
    MemoryBudget { used_mb: u64, budget_mb: u64 },
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl ClaimError {
    /// The refusal's text with the holder's address, for the log and the admin.
    pub fn with_holder(&self) -> String {
        match self {
            ClaimError::Busy {
                feed,
                rendition,
                protocol,
                addr,
                secs,
                ..
            } => format!(
                "{feed}/{rendition} is already being published by {addr} (over {}, for {secs} s); a feed takes one publisher at a time",
                protocol.as_str()
            ),
            e => e.to_string(),
        }
    }
}

/// Why a playback lookup found no rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Feed,
    Rendition,
}

pub struct Feed {
    pub name: String,
    renditions: CowMap<BTreeMap<String, Arc<Rendition>>>,
    siblings: siblings::SharedSiblings,
    multivariant: watch::Sender<Option<Arc<Multivariant>>>,
    /// Media sequence and discontinuity sequence of its renditions' first segments
    /// (`numbering`).
    first_numbers: (u64, u64),
    /// Where its frozen segments go to be recorded (`[record]`).
    tap: Option<crate::record::Tap>,
}

impl Feed {
    pub fn rendition(&self, name: &str) -> Option<Arc<Rendition>> {
        self.renditions.load().get(name).cloned()
    }

    pub fn rendition_list(&self) -> Vec<Arc<Rendition>> {
        self.renditions.load().values().cloned().collect()
    }

    /// The multivariant playlist; `None` until a rendition has a segment.
    pub fn subscribe_multivariant(&self) -> watch::Receiver<Option<Arc<Multivariant>>> {
        self.multivariant.subscribe()
    }

    /// Renders the multivariant playlist again from the renditions' snapshots.
    pub fn update_multivariant(&self) {
        let variants: Vec<Variant> = self
            .rendition_list()
            .iter()
            .filter_map(|r| {
                let s = r.snapshot();
                s.listable.then_some(())?;
                Some(Variant {
                    name: r.name.clone(),
                    bandwidth: s.bandwidth,
                    average_bandwidth: s.average_bandwidth,
                    codecs: s.media.codecs(),
                    resolution: s.media.resolution(),
                    frame_rate: s.media.frame_rate(),
                    audio_only: s.media.audio_only(),
                })
            })
            .collect();
        let text = (!variants.is_empty()).then(|| render_multivariant(&variants));
        self.multivariant.send_if_modified(|cur| {
            if cur.as_ref().map(|m| &m.rendered.text[..]) != text.as_ref().map(|t| t.as_bytes()) {
                *cur = text.map(|t| Arc::new(Multivariant::new(t)));
                true
            } else {
                false
            }
        });
    }
}

/// A feed's multivariant playlist (`index.m3u8`) and, made on first request and kept until
/// it changes, its copies whose variants point at a forced media playlist file
/// (`index.ts.m3u8`, `index.fmp4.m3u8`).
pub struct Multivariant {
    pub rendered: Rendered,
    forced: [OnceLock<Rendered>; 2],
}

impl Multivariant {
    fn new(text: String) -> Self {
        Multivariant {
            rendered: Rendered::new(text),
            forced: Default::default(),
        }
    }

    pub fn forced(&self, c: Container) -> &Rendered {
        let slot = match c {
            Container::Ts => &self.forced[0],
            Container::Fmp4 => &self.forced[1],
        };
        slot.get_or_init(|| {
            // Rendition names cannot hold `/`, so `/media.m3u8` occurs only in URIs.
            let text = std::str::from_utf8(&self.rendered.text).unwrap_or_default();
            let forced = format!("/{}", MediaFile::Forced(c).name());
            Rendered::new(text.replace("/media.m3u8", &forced))
        })
    }
}

pub struct Registry {
    config: Arc<Config>,
    clock: Clock,
    feeds: CowMap<HashMap<String, Arc<Feed>>>,
    next_publisher: AtomicU64,
    shutting_down: AtomicBool,
    store: Arc<store::Store>,
    recorder: Option<Arc<crate::record::Recorder>>,
}

/// A publisher's hold on a rendition. Dropping it (the request ended in any way) releases
/// the rendition and starts the reconnect grace.
pub struct PublishGuard {
    registry: Arc<Registry>,
    pub feed: Arc<Feed>,
    pub rendition: Arc<Rendition>,
    pub id: u64,
    /// The transport it publishes by, and its address.
    pub protocol: Protocol,
    pub addr: SocketAddr,
    /// The rendition's fixed target duration, if it has one already.
    pub target_duration: Option<u32>,
    /// Its fixed PART-TARGET, if it has one already.
    pub part_target: Option<crate::ts::Ts>,
    /// This publish continues the feed after a reconnect (a discontinuity).
    pub resumed: bool,
}

impl Drop for PublishGuard {
    fn drop(&mut self) {
        self.registry.release(&self.feed, &self.rendition, self.id);
    }
}

impl Registry {
    pub fn new(config: Arc<Config>, clock: Clock) -> Arc<Self> {
        Self::with_recorder(config, clock, None)
    }

    /// A registry whose feeds are recorded by `recorder`.
    pub fn with_recorder(
        config: Arc<Config>,
        clock: Clock,
        recorder: Option<Arc<crate::record::Recorder>>,
    ) -> Arc<Self> {
        let store = Arc::new(store::Store::from_limits(&config.limits));
        let registry = Arc::new(Registry {
            store,
            config,
            clock,
            feeds: CowMap::default(),
            next_publisher: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            recorder,
        });
        if let Some(rec) = registry
            .recorder
            .as_ref()
            .filter(|_| registry.config.hls.dvr_window > 0.0)
        {
            // Segments retention trims leave the DVR playlists at once.
            let weak = Arc::downgrade(&registry);
            rec.library()
                .on_head_moved(Arc::new(move |feed, rendition, token, head| {
                    if let Some(r) = weak
                        .upgrade()
                        .and_then(|g| g.rendition(feed, rendition).ok())
                    {
                        r.recording_trimmed(token, head);
                    }
                }));
        }
        registry
    }

    pub fn recorder(&self) -> Option<&Arc<crate::record::Recorder>> {
        self.recorder.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn feed(&self, name: &str) -> Option<Arc<Feed>> {
        self.feeds.load().get(name).cloned()
    }

    /// The playback lookup: a feed's rendition, taking no lock and no reference to the
    /// feed (only to the rendition returned).
    pub fn rendition(&self, feed: &str, name: &str) -> Result<Arc<Rendition>, Missing> {
        let feeds = self.feeds.load();
        let f = feeds.get(feed).ok_or(Missing::Feed)?;
        f.renditions
            .load()
            .get(name)
            .cloned()
            .ok_or(Missing::Rendition)
    }

    pub fn feed_count(&self) -> usize {
        self.feeds.load().len()
    }

    /// Media bytes held by all feeds, and the budget for them.
    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// `[limits]` on a new feed or rendition: `max_renditions` per feed, and the memory
    /// budget. What exists already (a resume within the grace, a new session of an ended
    /// rendition) is never refused; the demo feed is exempt.
    fn check_limits(&self, feed: Option<&Feed>, rendition: &str) -> Result<(), ClaimError> {
        // Called under the registry's writer lock, which every change of a feed's
        // renditions also takes: the count cannot move before the claim is done.
        let renditions = match feed.map(|f| f.renditions.load()) {
            Some(r) if r.contains_key(rendition) => return Ok(()),
            Some(r) => r.len(),
            None => 0,
        };
        let max = self.config.limits.max_renditions;
        if renditions >= max {
            return Err(ClaimError::TooManyRenditions(max));
        }
        if self.store.is_full() {
            return Err(ClaimError::MemoryBudget {
                used_mb: self.store.bytes() >> 20,
                budget_mb: self.store.budget() >> 20,
            });
        }
        Ok(())
    }

    pub fn is_demo(&self, feed: &str) -> bool {
        self.config.demo.enabled && self.config.demo.feed == feed
    }

    /// Takes the rendition for a new HTTP publisher (see [`Registry::claim_by`]).
    pub fn claim(
        self: &Arc<Self>,
        feed: &str,
        rendition: &str,
        addr: SocketAddr,
    ) -> Result<PublishGuard, ClaimError> {
        self.claim_by(feed, rendition, Protocol::Http, addr)
    }

    /// Takes the rendition for a new publisher coming by `protocol` from `addr`, creating
    /// the feed and rendition if needed.
    pub fn claim_by(
        self: &Arc<Self>,
        feed: &str,
        rendition: &str,
        protocol: Protocol,
        addr: SocketAddr,
    ) -> Result<PublishGuard, ClaimError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(ClaimError::ShuttingDown);
        }
        let now = self.clock.now_ms();
        let mut feeds = self.feeds.write();
        if !self.is_demo(feed) {
            self.check_limits(feeds.get(feed).map(|f| &**f), rendition)?;
        }
        let f = match feeds.get(feed) {
            Some(f) => f.clone(),
            None => {
                // The built-in demo feed is not counted in max_feeds.
                let demo = self
                    .config
                    .demo
                    .enabled
                    .then_some(self.config.demo.feed.as_str());
                let counted =
                    feeds.len() - usize::from(demo.is_some_and(|d| feeds.contains_key(d)));
                if Some(feed) != demo && counted >= self.config.feeds.max_feeds {
                    return Err(ClaimError::TooManyFeeds(self.config.feeds.max_feeds));
                }
                let (multivariant, _) = watch::channel(None);
                let mut first_numbers =
                    numbering::first_numbers(self.config.hls.clock_numbering, now);
                // Numbering continues after what the feed's recordings list.
                let recorded = self
                    .recorder
                    .as_ref()
                    .and_then(|r| r.library().last_msn(feed));
                if let Some(last) = recorded {
                    first_numbers.0 = first_numbers.0.max(last + 1);
                }
                let f = Arc::new(Feed {
                    name: feed.to_string(),
                    renditions: CowMap::default(),
                    siblings: siblings::SharedSiblings::default(),
                    multivariant,
                    first_numbers,
                    tap: self.recorder.as_ref().map(|r| r.tap(feed)),
                });
                feeds.get_mut().insert(feed.to_string(), f.clone());
                f
            }
        };
        // Published before the feed map (dropped first): a reader that finds a new feed
        // finds its rendition.
        let mut renditions = f.renditions.write();
        let r = match renditions.get(rendition) {
            Some(r) => r.clone(),
            None => {
                let h = &self.config.hls;
                let init = RenditionInit {
                    window: h.window,
                    window_segments: h.window,
                    // Renditions of a feed share its target duration (§6.2.4).
                    target_duration: h.target_duration.or(f.siblings.lock().target_duration()),
                    low_latency: h.part_duration > 0.0,
                    token: new_token(),
                    first_numbers: f.first_numbers,
                    siblings: f.siblings.clone(),
                    created_ms: now,
                    store: self.store.clone(),
                    tap: f.tap.clone(),
                    dvr: self
                        .recorder
                        .as_ref()
                        .filter(|_| h.dvr_window > 0.0)
                        .map(|r| (crate::ts::Ts::from_secs(h.dvr_window), r.library().clone())),
                };
                let r = Arc::new(Rendition::new(feed, rendition, init));
                renditions
                    .get_mut()
                    .insert(rendition.to_string(), r.clone());
                r
            }
        };
        drop(renditions);
        drop(feeds);

        let mut st = r.lock();
        if let Some(p) = st.publisher {
            return Err(ClaimError::Busy {
                feed: feed.to_string(),
                rendition: rendition.to_string(),
                protocol: p.protocol,
                addr: p.addr,
                secs: (now - p.since_ms) / 1000,
                holder: p.id,
                silent_ms: now - r.stats.last_data_ms(),
            });
        }
        let id = self.next_publisher.fetch_add(1, Ordering::Relaxed);
        let resumed = match st.phase {
            Phase::Reconnecting => {
                st.window.mark_discontinuity();
                true
            }
            Phase::Ended => {
                st.new_session(now);
                info!(
                    feed,
                    rendition,
                    token = format!("{:x}", st.token),
                    "new session of an ended feed"
                );
                false
            }
            Phase::Live => false,
        };
        st.publisher = Some(Publisher {
            id,
            protocol,
            addr,
            since_ms: now,
        });
        st.phase = Phase::Live;
        st.epoch += 1;
        r.stats.touch(now);
        r.publish(&st);
        let target_duration = st.target_duration;
        drop(st);
        // A rendition without a PART-TARGET of its own tries its feed's first (so renditions
        // at the same frame rate share it); one whose frames cannot fill it gets its own.
        let part_target = r
            .lock()
            .part_target
            .or_else(|| r.siblings().lock().first_part_target());
        Ok(PublishGuard {
            registry: self.clone(),
            feed: f,
            rendition: r,
            id,
            protocol,
            addr,
            target_duration,
            part_target,
            resumed,
        })
    }

    fn release(self: &Arc<Self>, feed: &Arc<Feed>, r: &Arc<Rendition>, id: u64) {
        let mut st = r.lock();
        if st.publisher.map(|p| p.id) != Some(id) {
            return;
        }
        st.publisher = None;
        st.epoch += 1;
        if st.segments_made == 0 {
            // Nothing was ever served: nothing to wait for.
            drop(st);
            self.remove(feed, r);
            return;
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            Self::end_locked(r, &mut st);
            return;
        }
        if r.stats.stop_requested(id) {
            // Stopped by an operator (DELETE /api/feeds/{feed}): no grace.
            self.end_now_locked(feed, r, &mut st);
            return;
        }
        st.phase = Phase::Reconnecting;
        r.publish(&st);
        let epoch = st.epoch;
        drop(st);
        let (reg, feed, r) = (self.clone(), feed.clone(), r.clone());
        tokio::spawn(async move { reg.after_release(feed, r, epoch).await });
    }

    async fn after_release(self: Arc<Self>, feed: Arc<Feed>, r: Arc<Rendition>, epoch: u64) {
        let cfg = &self.config.feeds;
        tokio::time::sleep(Duration::from_secs_f64(cfg.reconnect_grace)).await;
        let epoch = {
            let mut st = r.lock();
            if st.epoch != epoch {
                return;
            }
            info!(feed = %feed.name, rendition = %r.name, "no publisher after {} s: feed ended", cfg.reconnect_grace);
            Self::end_locked(&r, &mut st);
            st.epoch
        };
        tokio::time::sleep(Duration::from_secs_f64(cfg.linger)).await;
        if r.lock().epoch == epoch {
            info!(feed = %feed.name, rendition = %r.name, "ended {} s ago: removed", cfg.linger);
            self.remove(&feed, &r);
        }
    }

    fn end_locked(r: &Rendition, st: &mut rendition::State) {
        r.recording_ended(st);
        st.window.end();
        st.phase = Phase::Ended;
        st.epoch += 1;
        r.publish(st);
    }

    fn remove(&self, feed: &Arc<Feed>, r: &Arc<Rendition>) {
        let mut feeds = self.feeds.write();
        let mut renditions = feed.renditions.write();
        if renditions.get(&r.name).is_some_and(|x| Arc::ptr_eq(x, r)) {
            renditions.get_mut().remove(&r.name);
            r.leave_siblings();
        }
        let empty = renditions.is_empty();
        drop(renditions);
        if empty && feeds.get(&feed.name).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.get_mut().remove(&feed.name);
        }
        drop(feeds);
        feed.update_multivariant();
    }

    /// Shutdown: refuse new publishers and end every rendition without a publisher (those
    /// with one end as their ingest request closes).
    pub fn shut_down(self: &Arc<Self>) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let feeds: Vec<Arc<Feed>> = self.feeds.load().values().cloned().collect();
        for f in feeds {
            for r in f.rendition_list() {
                let mut st = r.lock();
                if st.publisher.is_none() && st.phase != Phase::Ended {
                    Self::end_locked(&r, &mut st);
                }
            }
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Records the PART-TARGET fixed by a rendition's first frames.
    /// A PART-TARGET other than the rendition's (a reconnected publisher whose frames cannot
    /// fill the old parts) starts a new session: new token, old segments retired.
    pub fn fix_part_target(&self, r: &Rendition, pt: crate::ts::Ts) {
        r.siblings().lock().set_part_target(&r.name, pt);
        let mut st = r.lock();
        match st.part_target {
            None => st.part_target = Some(pt),
            Some(old) if old != pt => {
                st.new_session(self.clock.now_ms());
                st.part_target = Some(pt);
                info!(feed = %r.feed, rendition = %r.name, old = old.secs(), new = pt.secs(), "part target changed: new session");
                r.publish(&st);
            }
            Some(_) => {}
        }
    }

    /// Records the target duration fixed by a rendition's first segment.
    pub fn fix_target_duration(&self, r: &Rendition, td: u32) {
        let feed_td = r.siblings().lock().agree_target_duration(td);
        if feed_td != td {
            warn!(feed = %r.feed, rendition = %r.name, own = td, feed = feed_td, "this rendition's GOP gives another target duration than its feed's; using the feed's");
        }
        let td = feed_td;
        let mut st = r.lock();
        match st.target_duration {
            None => st.set_target_duration(td),
            Some(old) if old != td => {
                warn!(feed = %r.feed, rendition = %r.name, old, new = td, "target duration cannot change; keeping the old one")
            }
            Some(_) => {}
        }
    }
}
