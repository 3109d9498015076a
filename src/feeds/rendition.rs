//! One rendition of a feed: its rolling window and lifecycle state, owned by the ingest
//! path, and the immutable [`Snapshot`] (`snapshot`) that readers take without waiting on
//! ingest.

use super::fmp4::{Fmp4State, Packaging};
use super::siblings::SharedSiblings;
pub use super::snapshot::{MediaFile, Playlists, Rendered, Snapshot};
use super::snapshot::{RENDERED, WANT_DELTA, WANT_FMP4_FILE, WANT_TS_FILE, snapshot_of};
use crate::codec::MediaInfo;
use crate::playlist::{BitrateTracker, Container, RenditionReport, Window, last_position};
use crate::segmenter::{PartEvent, Segment};
use crate::ts::Ts;
use arc_swap::{ArcSwap, Guard};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Where a rendition is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A publisher is connected.
    Live,
    /// The publisher left; waiting `feeds.reconnect_grace` for it to return.
    Reconnecting,
    /// EXT-X-ENDLIST is out; readable for `feeds.linger`, then removed.
    Ended,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Live => "live",
            Phase::Reconnecting => "reconnecting",
            Phase::Ended => "ended",
        }
    }
}

/// Playlists are rendered with every change only while a rendition is watched: a playlist
/// request in the last this many seconds, or a reader waiting for a change. An unwatched
/// rendition publishes snapshots without playlist text, and the next request renders it.
pub(super) const WATCH_LINGER_SECS: u64 = 30;

#[derive(Debug, Clone, Copy)]
pub struct Publisher {
    pub id: u64,
    /// The transport it publishes by.
    pub protocol: crate::ingest::Protocol,
    pub addr: SocketAddr,
    pub since_ms: i64,
}

#[derive(Debug)]
pub struct State {
    pub window: Window,
    pub token: u64,
    /// Fixed once, for the rendition's whole life (RFC 8216bis §4.4.3.1).
    pub target_duration: Option<u32>,
    /// Fixed once too, when LL-HLS is on (§4.4.3.7).
    pub part_target: Option<Ts>,
    pub low_latency: bool,
    /// `hls.window` (see [`RenderParams::window_segments`]).
    pub window_segments: usize,
    pub publisher: Option<Publisher>,
    pub phase: Phase,
    /// Bumped on every publisher change and end, so stale timers do nothing.
    pub epoch: u64,
    pub bitrate: BitrateTracker,
    pub segments_made: u64,
    /// Codecs, resolution, frame rate, as the segmenter last saw them.
    pub media: MediaInfo,
    /// Whether this rendition's segments have the same MSNs as its siblings' segments that
    /// start at the same time; `None` until that could be compared.
    pub aligned: Option<bool>,
    /// What `media.m3u8` serves (`hls.container`, decided per feed by the ingest lane).
    pub default_container: Container,
    /// Inits and numbering of the fMP4 output.
    pub fmp4: Fmp4State,
    /// The DVR prefix (`hls.dvr_window` with `[record]`).
    pub dvr: Option<super::dvr::Dvr>,
}

impl State {
    /// A new session (after the end, or a new PART-TARGET): a new token, the listed
    /// segments retired, numbering continued, the DVR prefix emptied.
    pub fn new_session(&mut self, now_ms: i64) {
        self.token = crate::clock::new_token();
        self.window.restart(now_ms);
        if let Some(d) = self.dvr.as_mut() {
            d.restart(&mut self.window);
        }
    }

    pub fn set_target_duration(&mut self, td: u32) {
        self.target_duration = Some(td);
        if self.low_latency {
            // Parts dropped from the playlist stay fetchable 3 × TD more (§6.2.2).
            self.window.set_min_retention(3_000 * i64::from(td));
        }
    }
}

pub struct Rendition {
    pub feed: String,
    pub name: String,
    siblings: SharedSiblings,
    state: Mutex<State>,
    /// The snapshot for waiters (woken on change)...
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// ...and the same for readers that do not wait: loaded without the channel's lock.
    current: ArcSwap<Snapshot>,
    /// Counters for the API and metrics, updated by ingest without the state lock.
    pub stats: super::stats::RenditionStats,
    /// The store-wide byte count, and this rendition's share of it (its window's bytes at
    /// its last snapshot); nothing more is counted once it is removed.
    store: Arc<super::store::Store>,
    accounted: AtomicU64,
    removed: AtomicBool,
    /// `WANT_*` bits: forced playlist files and delta updates requested.
    wanted: AtomicU8,
    /// Seconds after `born` of the last playlist request, plus one (0: none yet).
    watched: AtomicU64,
    born: tokio::time::Instant,
    /// Where frozen segments go to be recorded (`[record]`).
    tap: Option<crate::record::Tap>,
}

/// What adding a segment did.
#[derive(Debug, Clone, Copy)]
pub struct Pushed {
    pub msn: u64,
    /// The advertised bandwidth changed (the multivariant playlist must be rendered again).
    pub variants_changed: bool,
    /// Retired segments dropped before their time by the retention cap, and their bytes.
    pub capped: (u64, u64),
}

/// How a new rendition starts.
pub struct RenditionInit {
    pub window: usize,
    /// `window` × `hls.segment_duration`.
    pub window_segments: usize,
    pub target_duration: Option<u32>,
    pub low_latency: bool,
    pub token: u64,
    /// Media sequence and discontinuity sequence of the first segment (`numbering`).
    pub first_numbers: (u64, u64),
    pub siblings: SharedSiblings,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub store: Arc<super::store::Store>,
    pub tap: Option<crate::record::Tap>,
    /// `hls.dvr_window` and the recordings it reads: the DVR, when on.
    pub dvr: Option<(Ts, Arc<crate::record::library::Library>)>,
}

impl Rendition {
    pub fn new(feed: &str, name: &str, init: RenditionInit) -> Self {
        let mut state = State {
            window: Window::numbered_from(init.window, init.first_numbers.0, init.first_numbers.1),
            token: init.token,
            target_duration: None,
            part_target: None,
            low_latency: init.low_latency,
            window_segments: init.window_segments,
            publisher: None,
            phase: Phase::Live,
            epoch: 0,
            bitrate: BitrateTracker::default(),
            segments_made: 0,
            media: MediaInfo::default(),
            aligned: None,
            default_container: Container::Ts,
            fmp4: Fmp4State::default(),
            dvr: None,
        };
        if let Some((span, library)) = init.dvr {
            state.dvr = Some(super::dvr::Dvr::new(span, library, &mut state.window));
        }
        if let Some(td) = init.target_duration {
            state.set_target_duration(td);
        }
        let first = Arc::new(snapshot_of(&state, &[], None, 0, false));
        let current = ArcSwap::new(first.clone());
        let (snapshot, _) = watch::channel(first);
        Rendition {
            feed: feed.to_string(),
            name: name.to_string(),
            siblings: init.siblings,
            state: Mutex::new(state),
            snapshot,
            current,
            stats: super::stats::RenditionStats::new(init.created_ms),
            store: init.store,
            accounted: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            wanted: AtomicU8::new(0),
            watched: AtomicU64::new(0),
            born: tokio::time::Instant::now(),
            tap: init.tap,
        }
    }

    /// Locks the ingest-side state. Held only for short, non-async work.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a whole
        // assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current snapshot for a short look, taking no lock and no reference to it (a
    /// playback answer that does not wait). Not to be held across an `.await`.
    pub fn peek(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.subscribe()
    }

    /// Publishes a new snapshot of `state`, waking every waiting reader; its playlists are
    /// rendered when the rendition is watched.
    pub fn publish(&self, state: &State) {
        self.account((state.window.bytes() + state.fmp4.bytes()) as u64);
        let (reports, feed_part_target) = self.siblings_view(state);
        let wanted = self.wanted.load(Ordering::Relaxed);
        let render = self.is_watched();
        let snap = Arc::new(snapshot_of(
            state,
            &reports,
            feed_part_target,
            wanted,
            render,
        ));
        // Stored before waiters wake, so that what they are woken for can be peeked too.
        self.current.store(snap.clone());
        self.snapshot.send_replace(snap);
    }

    fn secs_since_born(&self) -> u64 {
        self.born.elapsed().as_secs()
    }

    /// A playlist request in the last `WATCH_LINGER_SECS`, or a reader waiting.
    fn is_watched(&self) -> bool {
        let last = self.watched.load(Ordering::Relaxed);
        (last != 0 && self.secs_since_born() + 1 - last <= WATCH_LINGER_SECS)
            || self.snapshot.receiver_count() > 0
    }

    /// A request for `file` (a delta update of it when `skip`): the rendition is watched,
    /// and from now on its playlists are rendered with every change, forced files and delta
    /// updates included once asked for. When the current snapshot lacks what is asked (the
    /// rendition was not watched, or this is the first such request), it is rendered now,
    /// so the snapshot a reader looks at next holds it. An fMP4 file also turns packaging on
    /// for the feed.
    pub fn want(&self, file: MediaFile, skip: bool) {
        let now = self.secs_since_born() + 1;
        // Loads first: every request reads these, and they change at most once a second.
        if self.watched.load(Ordering::Relaxed) != now {
            self.watched.store(now, Ordering::Relaxed);
        }
        let mut bits = match file {
            MediaFile::Default => 0,
            MediaFile::Forced(Container::Ts) => WANT_TS_FILE,
            MediaFile::Forced(Container::Fmp4) => WANT_FMP4_FILE,
        };
        if skip {
            bits |= WANT_DELTA;
        }
        if self.wanted.load(Ordering::Relaxed) & bits != bits {
            let before = self.wanted.fetch_or(bits, Ordering::Relaxed);
            if bits & WANT_FMP4_FILE != 0 && before & WANT_FMP4_FILE == 0 {
                self.siblings.want_fmp4();
            }
        }
        let need = RENDERED | bits;
        if self.current.load().holds(need) {
            return;
        }
        let st = self.lock();
        // Another request may have rendered it while this one waited for the lock.
        if !self.current.load().holds(need) {
            self.publish(&st);
        }
    }

    /// `snap`, or the current snapshot rendered for `file` when `snap` was published while
    /// nobody watched (a reader that waited longer than `WATCH_LINGER_SECS` between two
    /// subscriptions).
    pub fn rendered(&self, snap: Arc<Snapshot>, file: MediaFile, skip: bool) -> Arc<Snapshot> {
        if snap.holds(RENDERED) {
            return snap;
        }
        self.want(file, skip);
        self.snapshot()
    }

    /// Sets what `media.m3u8` serves.
    pub fn set_default_container(&self, c: Container) {
        let mut st = self.lock();
        if st.default_container != c {
            st.default_container = c;
            self.publish(&st);
        }
    }

    /// Records this rendition's position and reads its siblings': their reports, and the
    /// feed's longest PART-TARGET.
    fn siblings_view(&self, state: &State) -> (Vec<RenditionReport>, Option<Ts>) {
        if !state.low_latency {
            return (Vec::new(), None);
        }
        let mut all = self.siblings.lock();
        all.set_position(&self.name, last_position(&state.window));
        let reports = all
            .others(&self.name)
            .map(|(name, last_msn, last_part)| RenditionReport {
                name: name.to_string(),
                last_msn,
                last_part,
            })
            .collect();
        (reports, all.longest_part_target())
    }

    pub fn siblings(&self) -> &SharedSiblings {
        &self.siblings
    }

    /// Forgets this rendition among its siblings and in the store's byte count (it is
    /// being removed).
    pub fn leave_siblings(&self) {
        self.siblings.lock().leave(&self.name);
        // Under the state lock, so that no snapshot being published counts bytes again.
        let _st = self.lock();
        self.removed.store(true, Ordering::SeqCst);
        self.account(0);
    }

    /// Records that this rendition holds `bytes` in the store's count. Called under the
    /// state lock, so updates of one rendition do not interleave.
    fn account(&self, bytes: u64) {
        let bytes = if self.removed.load(Ordering::SeqCst) {
            0
        } else {
            bytes
        };
        let old = self.accounted.swap(bytes, Ordering::Relaxed);
        self.store.update(old, bytes);
    }

    /// Records what the streams are; returns true when it changed.
    pub fn set_media_info(&self, info: MediaInfo) -> bool {
        let mut st = self.lock();
        if st.media == info {
            return false;
        }
        st.media = info;
        self.publish(&st);
        true
    }

    /// Adds a finished part, packaged as fMP4 too when `packaging` is given and access units
    /// are on; with LL-HLS it is listed at once, unless it ends its segment: then it is
    /// listed with the segment (`push_segment`, next), since a playlist listing it alone
    /// would hint a part of its segment that never comes. Returns why it could not be
    /// packaged.
    pub fn push_part(
        &self,
        ev: &PartEvent,
        packaging: Option<&mut Packaging>,
    ) -> Option<crate::fmp4::Fmp4Error> {
        let mut st = self.lock();
        let opens = st.window.building().is_none();
        if opens && st.window.listed().len() == 0 {
            // The first segment of a rendition (or session): take the MSN the feed's other
            // renditions gave the segment starting at the same time.
            if let Some((msn, pdt_ms)) = self.siblings.lock().msn_at(&self.name, ev.head.start) {
                st.window.align_next(msn, pdt_ms);
            }
        }
        let token = st.token;
        st.window.push_part(ev, token);
        let failed = packaging.and_then(|p| {
            let st = &mut *st;
            p.package(ev, token, &mut st.window, &mut st.fmp4, &self.siblings)
                .err()
        });
        if let Some(b) = st.window.building().filter(|_| opens) {
            let (msn, pdt_ms) = (b.msn, b.pdt_ms);
            let aligned = self
                .siblings
                .lock()
                .record_start(&self.name, ev.head.start, msn, pdt_ms);
            self.note_alignment(&mut st, aligned, msn);
        }
        if st.low_latency && !ev.ends_segment {
            self.publish(&st);
        }
        failed
    }

    /// Records whether a segment this rendition opened has the MSN its siblings gave the
    /// segment starting at the same time; says so in the log the first time it has not.
    fn note_alignment(&self, st: &mut State, aligned: Option<bool>, msn: u64) {
        if aligned == Some(false) && st.aligned != Some(false) {
            tracing::warn!(
                feed = %self.feed,
                rendition = %self.name,
                msn,
                "renditions are not aligned: another rendition numbers the segment starting at the same time differently, so players cannot switch between them cleanly"
            );
        }
        if aligned.is_some() {
            st.aligned = aligned;
        }
    }

    /// The segment being built opens with a new codec configuration: with fMP4 packaged,
    /// its first part's init is hinted (TYPE=MAP) until that part comes.
    pub fn hint_new_init(&self, packaging: Option<&Packaging>) {
        let Some(n) = packaging.and_then(Packaging::next_init) else {
            return;
        };
        let mut st = self.lock();
        if st.fmp4.map_hint != Some(n) {
            st.fmp4.map_hint = Some(n);
            if st.low_latency {
                self.publish(&st);
            }
        }
    }

    /// Adds a finished segment.
    pub fn push_segment(&self, seg: Segment, segment_duration_ticks: i64, now_ms: i64) -> Pushed {
        let mut st = self.lock();
        // The first segment of a session: the multivariant playlist leaves out renditions
        // without one (and may have been rendered empty while this one had none), so it must
        // be rendered again, whether or not earlier sessions made segments.
        let first = st.window.listed().len() == 0;
        let raised = st
            .bitrate
            .add(seg.len(), seg.duration.0, segment_duration_ticks / 2);
        let token = st.token;
        let before = st.window.capped();
        let msn = st.window.push(seg, token, now_ms);
        if let Some((tap, seg)) = self.tap.as_ref().zip(st.window.listed().last()) {
            tap.segment(&self.name, seg, &st);
        }
        {
            // The segments that left the window join the DVR prefix.
            let st = &mut *st;
            if let Some(d) = st.dvr.as_mut() {
                d.follow(&self.feed, &self.name, &mut st.window, st.default_container);
            }
        }
        let after = st.window.capped();
        st.segments_made += 1;
        self.publish(&st);
        Pushed {
            msn,
            variants_changed: raised || first,
            capped: (after.0 - before.0, after.1 - before.1),
        }
    }
}

impl Rendition {
    /// Retention trimmed this rendition's recording (segments of `token`) before `head`:
    /// the DVR prefix drops them now rather than at the next segment.
    pub fn recording_trimmed(&self, token: u64, head: u64) {
        let mut st = self.lock();
        if st.dvr.as_mut().is_some_and(|d| d.trimmed(token, head)) {
            self.publish(&st);
        }
    }

    /// The session ends (before its window does): its recording is told.
    pub(super) fn recording_ended(&self, st: &State) {
        if let Some(tap) = &self.tap
            && !st.window.is_ended()
        {
            let end_ms = st
                .window
                .listed()
                .last()
                .map_or(0, |s| s.pdt_ms + s.duration.0 / 90);
            tap.end(&self.name, st.token, end_ms);
        }
    }
}
