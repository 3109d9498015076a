//! A map read without a lock: readers load the current `Arc` of it (arc-swap, no shared
//! counter written), writers take a mutex, change a copy and publish it. For maps read on
//! every request and changed only when a feed or rendition comes or goes.

use arc_swap::{ArcSwap, Guard};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct CowMap<M> {
    current: ArcSwap<M>,
    writer: Mutex<()>,
}

impl<M: Clone + Default> Default for CowMap<M> {
    fn default() -> Self {
        CowMap {
            current: ArcSwap::from_pointee(M::default()),
            writer: Mutex::new(()),
        }
    }
}

impl<M: Clone> CowMap<M> {
    /// The map as it is now, for a short look (a lookup): takes no lock. Not to be held
    /// across an `.await` or for long (it may pin an old copy).
    pub fn load(&self) -> Guard<Arc<M>> {
        self.current.load()
    }

    /// Exclusive access for a change: writers are serialised (the lock taken here), readers
    /// go on seeing the old map until the guard is dropped, which publishes the new one if
    /// it was changed.
    pub fn write(&self) -> CowWrite<'_, M> {
        // A panic while writing leaves the published map whole: still usable.
        let lock = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        CowWrite {
            map: self,
            base: self.current.load_full(),
            changed: None,
            _lock: lock,
        }
    }
}

/// A writer's hold on a [`CowMap`]: reads the map as the writer changed it so far.
pub struct CowWrite<'a, M: Clone> {
    map: &'a CowMap<M>,
    base: Arc<M>,
    changed: Option<M>,
    _lock: MutexGuard<'a, ()>,
}

impl<M: Clone> CowWrite<'_, M> {
    /// The map to change: a copy of the published one, made on first use.
    pub fn get_mut(&mut self) -> &mut M {
        self.changed.get_or_insert_with(|| (*self.base).clone())
    }
}

impl<M: Clone> Deref for CowWrite<'_, M> {
    type Target = M;

    fn deref(&self) -> &M {
        self.changed.as_ref().unwrap_or(&self.base)
    }
}

impl<M: Clone> Drop for CowWrite<'_, M> {
    fn drop(&mut self) {
        if let Some(m) = self.changed.take() {
            // Published before the writer lock is released (fields drop after this).
            self.map.current.store(Arc::new(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn readers_see_a_change_when_the_writer_is_done() {
        let m: CowMap<HashMap<&str, u32>> = CowMap::default();
        let before = m.load();
        {
            let mut w = m.write();
            w.get_mut().insert("a", 1);
            assert_eq!(w.get("a"), Some(&1));
            assert!(m.load().get("a").is_none());
        }
        assert_eq!(m.load().get("a"), Some(&1));
        assert!(before.get("a").is_none());
        // A writer that changes nothing publishes nothing.
        let old = m.load_full_for_test();
        drop(m.write());
        assert!(Arc::ptr_eq(&old, &m.load_full_for_test()));
        m.write().get_mut().remove("a");
        assert!(m.load().is_empty());
    }

    impl<M: Clone> CowMap<M> {
        fn load_full_for_test(&self) -> Arc<M> {
            self.current.load_full()
        }
    }
}
