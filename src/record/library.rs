//! What is recorded, in memory: per feed, its sessions, each with its renditions and their
//! segments as the session's index lists them. Built at start from the index files
//! ([`super::recover`]) and kept up to date by the recorder tasks after each record is on
//! disk, so it never lists what a crash could lose. Read by the VOD routes and the
//! recordings API; never touched by ingest.

use super::index::{Record, RenditionInfo, SegmentEntry};
use super::writer::SessionWriter;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A session's id in URLs and directory names: its token in lowercase hex.
pub fn session_name(id: u64) -> String {
    format!("{id:x}")
}

/// Parses [`session_name`]'s form (lowercase hex only, so one session has one URL).
pub fn parse_session(name: &str) -> Option<u64> {
    if name.is_empty()
        || name.len() > 16
        || !name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(name, 16).ok()
}

/// A recorded rendition of a session.
#[derive(Debug, Clone)]
pub struct RecordedRendition {
    pub info: RenditionInfo,
    pub segments: Vec<SegmentEntry>,
    /// First MSN retention kept (0: nothing trimmed): segments before it are gone.
    pub head: u64,
    /// EXT-X-DISCONTINUITY tags before the first listed segment (trimmed with the
    /// segments before it, or before its own first segment).
    pub discontinuity_sequence: u64,
    /// Everything was trimmed: the next segment's discontinuity, if any, is counted in
    /// `discontinuity_sequence` (it would have been a tag after the trimmed ones).
    count_next_first: bool,
}

impl RecordedRendition {
    /// The file name of one of its segments, as the live playlist named it: `.m4s` for a
    /// segment recorded as fMP4 (it names its init), else `.ts`. Per segment, not per
    /// rendition: a feed whose container changes within a session (`hls.container = "auto"`
    /// and an HEVC rendition joining) keeps its earlier segments' names.
    pub fn segment_file(&self, s: &SegmentEntry) -> String {
        let fmp4 = s.init.is_some() || (s.gap && self.info.fmp4);
        let ext = if fmp4 { "m4s" } else { "ts" };
        format!("seg-{:x}-{}.{ext}", self.info.token, s.msn)
    }

    /// The listed segment `msn`.
    pub fn segment(&self, msn: u64) -> Option<&SegmentEntry> {
        let i = self.segments.binary_search_by_key(&msn, |e| e.msn).ok()?;
        self.segments.get(i)
    }

    /// The file name of one of its fMP4 inits, as the live playlist named it.
    pub fn init_name(&self, number: u32) -> String {
        crate::playlist::init_uri(self.info.token, number)
    }

    /// Inits its listed segments need.
    pub fn inits(&self) -> std::collections::BTreeSet<u32> {
        self.segments.iter().filter_map(|s| s.init).collect()
    }

    pub fn duration_secs(&self) -> f64 {
        self.segments.iter().map(SegmentEntry::secs).sum()
    }

    fn push(&mut self, s: &SegmentEntry) {
        if self.segments.is_empty() && self.count_next_first {
            self.count_next_first = false;
            if s.discontinuity {
                self.discontinuity_sequence += 1;
            }
        }
        self.segments.push(s.clone());
    }

    /// Drops the segments before `msn`; returns the bytes of their files.
    fn trim_before(&mut self, msn: u64) -> u64 {
        self.head = self.head.max(msn);
        let n = self.segments.partition_point(|s| s.msn < msn);
        if n == 0 {
            return 0;
        }
        // The first listed segment's tag is not written (nothing precedes it): it was
        // counted when it became first, unless it opened the recording (then it is none).
        let mut bytes = 0;
        for (i, s) in self.segments.drain(..n).enumerate() {
            bytes += s.bytes;
            if s.discontinuity && i > 0 {
                self.discontinuity_sequence += 1;
            }
        }
        match self.segments.first() {
            Some(f) => {
                if f.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
            None => self.count_next_first = true,
        }
        bytes
    }
}

/// What a session holds, as its index says.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub start_ms: i64,
    /// `None` while recording.
    pub end_ms: Option<i64>,
    pub renditions: BTreeMap<String, RecordedRendition>,
    /// Bytes of its segment files.
    pub bytes: u64,
    /// Bytes of its index file and of its fMP4 init files: with `bytes`, what `record.max_gb`
    /// counts ([`SessionState::disk_bytes`]).
    pub index_bytes: u64,
    pub init_bytes: u64,
    /// Bumped by every record applied (what a rendered playlist was made from).
    pub version: u64,
}

impl SessionState {
    /// Applies one index record.
    pub fn apply(&mut self, record: &Record) {
        self.version += 1;
        match record {
            Record::Start { start_ms, .. } => self.start_ms = *start_ms,
            Record::Rendition(info) => {
                self.renditions
                    .entry(info.name.clone())
                    .and_modify(|r| r.info = info.clone())
                    .or_insert_with(|| RecordedRendition {
                        info: info.clone(),
                        segments: Vec::new(),
                        head: 0,
                        discontinuity_sequence: 0,
                        count_next_first: false,
                    });
            }
            Record::Segment(s) => {
                if let Some(r) = self.renditions.get_mut(&s.rendition) {
                    self.bytes += s.bytes;
                    r.push(s);
                }
            }
            Record::Head { rendition, msn } => {
                if let Some(r) = self.renditions.get_mut(rendition) {
                    self.bytes -= r.trim_before(*msn).min(self.bytes);
                }
            }
            Record::End { end_ms } => self.end_ms = Some(*end_ms),
        }
    }

    /// Bytes it takes on disk: segments, inits and index.
    pub fn disk_bytes(&self) -> u64 {
        self.bytes + self.index_bytes + self.init_bytes
    }

    /// The last MSN listed, over every rendition.
    pub fn last_msn(&self) -> Option<u64> {
        self.renditions
            .values()
            .filter_map(|r| {
                r.segments
                    .last()
                    .map(|s| s.msn)
                    .or_else(|| r.head.checked_sub(1))
            })
            .max()
    }

    /// End of the last segment on the PROGRAM-DATE-TIME timeline, or the start.
    pub fn last_time_ms(&self) -> i64 {
        self.renditions
            .values()
            .filter_map(|r| r.segments.last())
            .map(|s| s.pdt_ms + s.duration / 90)
            .max()
            .unwrap_or(self.start_ms)
    }

    /// No rendition lists a segment (retention trimmed them all, or none came yet).
    pub fn is_empty(&self) -> bool {
        self.renditions.values().all(|r| r.segments.is_empty())
    }

    /// The longest rendition's duration, gaps included.
    pub fn duration_secs(&self) -> f64 {
        self.renditions
            .values()
            .map(RecordedRendition::duration_secs)
            .fold(0.0, f64::max)
    }
}

/// One recorded session.
#[derive(Debug)]
pub struct Session {
    pub feed: String,
    pub id: u64,
    pub dir: PathBuf,
    state: Mutex<SessionState>,
    /// Its index, open for appending: the recorder's while it records the session,
    /// reopened by retention for an ended one. Lock order: this, then `state`.
    writer: Mutex<Option<SessionWriter>>,
}

impl Session {
    pub fn new(feed: &str, id: u64, dir: PathBuf, state: SessionState) -> Self {
        Session {
            feed: feed.to_string(),
            id,
            dir,
            state: Mutex::new(state),
            writer: Mutex::new(None),
        }
    }

    /// The session's index writer (`None` unless something appends to it).
    pub fn writer(&self) -> MutexGuard<'_, Option<SessionWriter>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record to the index (reopening it if no writer is open) and applies it
    /// once it is on disk.
    pub fn append(&self, r: &Record) -> std::io::Result<()> {
        let mut w = self.writer();
        if w.is_none() {
            let len = std::fs::metadata(self.dir.join(super::index::INDEX_FILE))?.len();
            *w = Some(SessionWriter::reopen(self.dir.clone(), len)?);
        }
        let mut index_bytes = None;
        if let Some(w) = w.as_mut() {
            w.append(r)?;
            index_bytes = Some(w.index_len());
        }
        let mut st = self.lock();
        st.apply(r);
        if let Some(n) = index_bytes {
            st.index_bytes = n;
        }
        Ok(())
    }

    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        // Every update is a whole `apply`: a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn name(&self) -> String {
        session_name(self.id)
    }
}

/// Every recorded session, by feed, then by id.
#[derive(Debug)]
pub struct Library {
    root: PathBuf,
    feeds: Mutex<HashMap<String, BTreeMap<u64, Arc<Session>>>>,
    head_listener: HeadListenerSlot,
}

/// Told `(feed, rendition, token, head)` when retention moved a recorded rendition's head
/// (its index no longer lists the segments before `head`), before their files go: a live
/// DVR playlist drops them at once. Called with no library or session lock held.
pub type HeadListener = Arc<dyn Fn(&str, &str, u64, u64) + Send + Sync>;

#[derive(Default)]
struct HeadListenerSlot(Mutex<Option<HeadListener>>);

impl std::fmt::Debug for HeadListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadListener")
    }
}

impl Library {
    pub fn new(root: PathBuf) -> Self {
        Library {
            root,
            feeds: Mutex::new(HashMap::new()),
            head_listener: HeadListenerSlot::default(),
        }
    }

    /// Sets who is told when retention moves a rendition's head (see [`HeadListener`]).
    pub fn on_head_moved(&self, listener: HeadListener) {
        *self
            .head_listener
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    /// Tells the listener, if any, that `rendition`'s head (segments of `token`) is `head`.
    pub(super) fn head_moved(&self, feed: &str, rendition: &str, token: u64, head: u64) {
        let listener = self
            .head_listener
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(l) = listener {
            l(feed, rendition, token, head);
        }
    }

    fn feeds(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<u64, Arc<Session>>>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A session's directory: `{dir}/{feed}/{session}`.
    pub fn session_dir(&self, feed: &str, id: u64) -> PathBuf {
        self.root.join(feed).join(session_name(id))
    }

    pub fn insert(&self, session: Arc<Session>) {
        self.feeds()
            .entry(session.feed.clone())
            .or_default()
            .insert(session.id, session);
    }

    pub fn get(&self, feed: &str, id: u64) -> Option<Arc<Session>> {
        self.feeds().get(feed)?.get(&id).cloned()
    }

    /// A feed's sessions, oldest first.
    pub fn sessions(&self, feed: &str) -> Vec<Arc<Session>> {
        let mut all: Vec<(i64, u64, Arc<Session>)> = self
            .feeds()
            .get(feed)
            .map(|m| {
                m.values()
                    .map(|s| (s.lock().start_ms, s.id, s.clone()))
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by_key(|(start, id, _)| (*start, *id));
        all.into_iter().map(|(_, _, s)| s).collect()
    }

    /// Takes a session out of the library (its files are the caller's to remove).
    pub fn remove(&self, feed: &str, id: u64) -> Option<Arc<Session>> {
        let mut feeds = self.feeds();
        let sessions = feeds.get_mut(feed)?;
        let s = sessions.remove(&id);
        if sessions.is_empty() {
            feeds.remove(feed);
        }
        s
    }

    /// Every session of every feed.
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.feeds()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// Sessions over every feed.
    pub fn count(&self) -> usize {
        self.feeds().values().map(BTreeMap::len).sum()
    }

    /// The last MSN any recording of the feed lists: a new feed's numbering continues
    /// after it.
    pub fn last_msn(&self, feed: &str) -> Option<u64> {
        self.feeds()
            .get(feed)?
            .values()
            .filter_map(|s| s.lock().last_msn())
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_lowercase_hex() {
        assert_eq!(session_name(0x1abc_0000_00ff), "1abc000000ff");
        assert_eq!(parse_session("1abc000000ff"), Some(0x1abc_0000_00ff));
        for bad in ["", "1ABC", "12g", "-1", "+1", "11111111111111111", "1 2"] {
            assert_eq!(parse_session(bad), None, "{bad}");
        }
    }
}
