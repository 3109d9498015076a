//! One rendition of a feed: its rolling window and lifecycle state, owned by the ingest
//! path, and the immutable [`Snapshot`] that readers take without waiting on ingest.

use crate::playlist::{BitrateTracker, StoredSegment, Window, render_media};
use crate::segmenter::Segment;
use bytes::Bytes;
use std::net::SocketAddr;
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

/// What readers see: replaced whole on every change, never mutated.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The rendered media playlist; `None` until the first segment is complete.
    pub playlist: Option<Bytes>,
    pub target_duration: u32,
    /// Segments that can be fetched (listed, and retired but not yet expired).
    pub segments: Arc<[StoredSegment]>,
    pub phase: Phase,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
}

impl Snapshot {
    pub fn segment(&self, token: u64, msn: u64) -> Option<&StoredSegment> {
        self.segments
            .iter()
            .find(|s| s.msn == msn && s.token == token)
    }

    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Publisher {
    pub id: u64,
    pub addr: SocketAddr,
    pub since_ms: i64,
}

#[derive(Debug)]
pub struct State {
    pub window: Window,
    pub token: u64,
    /// Fixed once, for the rendition's whole life (RFC 8216bis §4.4.3.1).
    pub target_duration: Option<u32>,
    pub publisher: Option<Publisher>,
    pub phase: Phase,
    /// Bumped on every publisher change and end, so stale timers do nothing.
    pub epoch: u64,
    pub bitrate: BitrateTracker,
    pub segments_made: u64,
}

pub struct Rendition {
    pub feed: String,
    pub name: String,
    state: Mutex<State>,
    snapshot: watch::Sender<Arc<Snapshot>>,
}

impl Rendition {
    pub fn new(
        feed: &str,
        name: &str,
        window: usize,
        target_duration: Option<u32>,
        token: u64,
    ) -> Self {
        let state = State {
            window: Window::new(window),
            token,
            target_duration,
            publisher: None,
            phase: Phase::Live,
            epoch: 0,
            bitrate: BitrateTracker::default(),
            segments_made: 0,
        };
        let (snapshot, _) = watch::channel(Arc::new(snapshot_of(&state)));
        Rendition {
            feed: feed.to_string(),
            name: name.to_string(),
            state: Mutex::new(state),
            snapshot,
        }
    }

    /// Locks the ingest-side state. Held only for short, non-async work.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a whole
        // assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.subscribe()
    }

    /// Renders and publishes a new snapshot of `state`.
    pub fn publish(&self, state: &State) {
        self.snapshot.send_replace(Arc::new(snapshot_of(state)));
    }

    /// Adds a finished segment; returns true when the advertised bandwidth changed (the
    /// multivariant playlist must be rendered again).
    pub fn push_segment(
        &self,
        seg: Segment,
        segment_duration_ticks: i64,
        now_ms: i64,
    ) -> (u64, bool) {
        let mut st = self.lock();
        let first = st.segments_made == 0;
        let raised = st
            .bitrate
            .add(seg.data.len(), seg.duration.0, segment_duration_ticks / 2);
        let token = st.token;
        let msn = st.window.push(seg, token, now_ms);
        st.segments_made += 1;
        self.publish(&st);
        (msn, raised || first)
    }
}

fn snapshot_of(st: &State) -> Snapshot {
    let playlist = match st.target_duration {
        Some(td) if st.window.listed().len() > 0 => Some(Bytes::from(render_media(&st.window, td))),
        _ => None,
    };
    Snapshot {
        playlist,
        target_duration: st.target_duration.unwrap_or(0),
        segments: st.window.fetchable().cloned().collect(),
        phase: st.phase,
        bandwidth: st.bitrate.bandwidth(),
        average_bandwidth: st.bitrate.average(),
    }
}
