//! Connection accounting: the open-connection limit and the cap on connections that have not
//! sent a complete request head yet ("head-less"), oldest closed first.
//!
//! Costs: one atomic add and one short lock per accept, one lock when a connection's first
//! request head arrives and one when it closes; nothing per later request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// File descriptors kept free of connections for the listeners, logs and config reloads.
pub const RESERVED_FDS: u64 = 64;

/// The open connections of one server (all its listeners).
pub struct Connections {
    limit: usize,
    headless_cap: usize,
    open: AtomicUsize,
    next_id: AtomicU64,
    /// Head-less connections by admission order (ids only grow): the first is the oldest.
    headless: Mutex<BTreeMap<u64, Arc<Slot>>>,
    /// Woken when the last connection closes.
    all_closed: Notify,
    /// Origin of the millisecond clock in [`Slot::idle_since`].
    base: Instant,
}

/// The effective connection limit: `max_connections`, but at most the open-file limit less
/// [`RESERVED_FDS`] (and at least 1).
pub fn effective_limit(max_connections: usize, open_files: u64) -> usize {
    let by_fds = open_files.saturating_sub(RESERVED_FDS);
    let by_fds = usize::try_from(by_fds).unwrap_or(usize::MAX);
    max_connections.min(by_fds).max(1)
}

/// The soft open-file limit of this process, if it can be read.
pub fn open_file_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}

impl Connections {
    pub fn new(limit: usize) -> Arc<Connections> {
        let limit = limit.max(1);
        Arc::new(Connections {
            limit,
            headless_cap: (limit / 4).max(1),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            headless: Mutex::new(BTreeMap::new()),
            all_closed: Notify::new(),
            base: Instant::now(),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many head-less connections may be open at once (a quarter of the limit).
    pub fn headless_cap(&self) -> usize {
        self.headless_cap
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Admits a new connection, or `None` when the limit is reached (the caller closes the
    /// socket). A new connection is head-less; when that makes more than
    /// [`headless_cap`](Self::headless_cap), the oldest head-less one is told to close.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.release();
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            conns: self.clone(),
            id,
            headless: AtomicBool::new(true),
            evict: Notify::new(),
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
        });
        let evicted = {
            let mut headless = self.lock();
            headless.insert(id, slot.clone());
            if headless.len() > self.headless_cap {
                headless.pop_first().map(|(_, s)| s)
            } else {
                None
            }
        };
        if let Some(old) = evicted {
            old.headless.store(false, Ordering::Release);
            old.evict.notify_one();
        }
        Some(Admitted { slot })
    }

    /// Waits until no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Milliseconds since this server started, on tokio's clock.
    pub fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// The instant `ms` milliseconds after this server started.
    pub fn instant_at(&self, ms: u64) -> Instant {
        self.base + std::time::Duration::from_millis(ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        // The map stays consistent whatever a panicking holder did: no poisoning to honour.
        self.headless.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self) {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_closed.notify_waiters();
        }
    }
}

/// One connection's state, shared by its task, its service and its response bodies.
pub struct Slot {
    conns: Arc<Connections>,
    id: u64,
    /// No complete request head yet.
    headless: AtomicBool,
    /// Told to close: too many head-less connections, and this is the oldest.
    evict: Notify,
    /// Requests whose answer is not fully sent yet (HTTP/2: open streams).
    active: AtomicUsize,
    /// When `active` last fell to zero, in [`Connections::now_ms`].
    idle_since: AtomicU64,
}

impl Slot {
    pub fn is_headless(&self) -> bool {
        self.headless.load(Ordering::Acquire)
    }

    /// A request head arrived: from now on the connection is no longer head-less. One atomic
    /// load per request; the lock only on the first.
    pub fn head_arrived(&self) {
        if self.headless.load(Ordering::Relaxed) && self.headless.swap(false, Ordering::AcqRel) {
            self.conns.lock().remove(&self.id);
        }
    }

    /// Resolves when this connection was chosen to make room for newer head-less ones.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }

    /// A request starts; it counts until the returned guard drops (its answer sent).
    pub fn request(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    /// `Some(ms)` (in [`Connections::now_ms`]) since which no request has been active, or
    /// `None` while one is.
    pub fn idle_since(&self) -> Option<u64> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.idle_since.load(Ordering::Acquire))
    }

    pub fn connections(&self) -> &Connections {
        &self.conns
    }
}

/// A request being answered (see [`Slot::request`]).
pub struct Active(Arc<Slot>);

impl Drop for Active {
    fn drop(&mut self) {
        let slot = &self.0;
        if slot.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            slot.idle_since
                .store(slot.conns.now_ms(), Ordering::Release);
        }
    }
}

/// An admitted connection: counts against the limit until dropped.
pub struct Admitted {
    slot: Arc<Slot>,
}

impl Admitted {
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let slot = &self.slot;
        if slot.headless.swap(false, Ordering::AcqRel) {
            slot.conns.lock().remove(&slot.id);
        }
        slot.conns.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_limit_leaves_fds_free() {
        assert_eq!(effective_limit(20_000, 1024), 960);
        assert_eq!(effective_limit(100, 1024), 100);
        assert_eq!(effective_limit(100, 10), 1);
        assert_eq!(effective_limit(100, u64::MAX), 100);
    }

    #[tokio::test]
    async fn limit_and_oldest_headless_first() {
        let conns = Connections::new(8);
        assert_eq!(conns.headless_cap(), 2);
        let a = conns.admit().unwrap();
        let b = conns.admit().unwrap();
        b.slot().head_arrived();
        let c = conns.admit().unwrap();
        // a and c are head-less: at the cap. The next one evicts a, the oldest.
        let d = conns.admit().unwrap();
        assert!(!a.slot().is_headless());
        tokio::time::timeout(std::time::Duration::from_secs(1), a.slot().evicted())
            .await
            .unwrap();
        assert!(c.slot().is_headless() && d.slot().is_headless());
        let mut rest: Vec<Admitted> = (0..4).map(|_| conns.admit().unwrap()).collect();
        assert_eq!(conns.open(), 8);
        assert!(conns.admit().is_none());
        assert_eq!(conns.open(), 8);
        rest.pop();
        assert!(conns.admit().is_some());
        drop((a, b, c, d, rest));
        assert_eq!(conns.open(), 0);
        assert!(conns.lock().is_empty());
        conns.all_closed().await;
    }

    #[tokio::test]
    async fn idle_since_follows_requests() {
        let conns = Connections::new(4);
        let a = conns.admit().unwrap();
        assert!(a.slot().idle_since().is_some());
        let r1 = a.slot().request();
        let r2 = a.slot().request();
        assert_eq!(a.slot().idle_since(), None);
        drop(r1);
        assert_eq!(a.slot().idle_since(), None);
        drop(r2);
        assert!(a.slot().idle_since().is_some());
    }
}
