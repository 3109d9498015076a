//! What an operator can do to feeds (DELETE /api/feeds/{feed}) and the summaries the API
//! and the metrics read: a feed's state from its renditions' phases, bytes held.

use super::rendition::{Phase, State};
use super::{Feed, Registry, Rendition, Snapshot};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::info;

impl Feed {
    /// Live if any rendition is live, else reconnecting if any is, else ended.
    pub fn phase(&self) -> Phase {
        let phases: Vec<Phase> = self
            .rendition_list()
            .iter()
            .map(|r| r.snapshot().phase)
            .collect();
        if phases.contains(&Phase::Live) {
            Phase::Live
        } else if phases.contains(&Phase::Reconnecting) {
            Phase::Reconnecting
        } else {
            Phase::Ended
        }
    }

    /// When the feed's oldest rendition was created (Unix milliseconds).
    pub fn created_ms(&self) -> Option<i64> {
        self.rendition_list()
            .iter()
            .map(|r| r.stats.created_ms)
            .min()
    }
}

/// Bytes of media a snapshot keeps reachable: fetchable segments and the building one.
pub fn memory_bytes(s: &Snapshot) -> u64 {
    let segments: usize = s.segments.iter().map(|seg| seg.len()).sum();
    let building: usize = s
        .building
        .iter()
        .flat_map(|b| &b.parts)
        .map(|p| p.data.len())
        .sum();
    (segments + building) as u64
}

impl Registry {
    /// Every feed, in no particular order.
    pub fn feed_list(&self) -> Vec<Arc<Feed>> {
        self.feeds.load().values().cloned().collect()
    }

    /// Stops a feed at once: asks each rendition's publisher to stop (its ingest request
    /// ends, and the rendition ends without grace when it does) and ends the renditions
    /// that have none. Returns the snapshots to watch for the end, or `None` for an
    /// unknown feed.
    pub fn stop_feed(self: &Arc<Self>, name: &str) -> Option<Vec<watch::Receiver<Arc<Snapshot>>>> {
        let feed = self.feed(name)?;
        let mut ending = Vec::new();
        for r in feed.rendition_list() {
            let mut st = r.lock();
            match st.publisher {
                Some(p) => r.stats.request_stop(p.id),
                None => self.end_now_locked(&feed, &r, &mut st),
            }
            ending.push(r.subscribe());
        }
        info!(feed = name, "feed stopped by an operator");
        Some(ending)
    }

    /// Ends a rendition now (EXT-X-ENDLIST) unless it has ended already; it is removed
    /// after `feeds.linger`.
    pub(super) fn end_now_locked(
        self: &Arc<Self>,
        feed: &Arc<Feed>,
        r: &Arc<Rendition>,
        st: &mut State,
    ) {
        if st.phase == Phase::Ended {
            return;
        }
        Self::end_locked(r, st);
        let epoch = st.epoch;
        let linger = Duration::from_secs_f64(self.config.feeds.linger);
        let (reg, feed, r) = (self.clone(), feed.clone(), r.clone());
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            if r.lock().epoch == epoch {
                reg.remove(&feed, &r);
            }
        });
    }
}
